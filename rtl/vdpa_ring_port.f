vdpa_mutants_pkg.sv
vdpa_axi_pkg.sv
vdpa_xlate_cache.sv
vdpa_ring_port.sv
