vdpa_axi_pkg.sv
vdpa_mutants_pkg.sv
vdpa_dma_mover.sv
