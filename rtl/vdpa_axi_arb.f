vdpa_mutants_pkg.sv
vdpa_axi_pkg.sv
vdpa_axi_arb.sv
