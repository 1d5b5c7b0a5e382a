vdpa_mutants_pkg.sv
vdpa_rx_buffer.sv
