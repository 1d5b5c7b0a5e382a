vdpa_regs_pkg.sv
vdpa_mutants_pkg.sv
vdpa_fifo.sv
vdpa_iotlb.sv
vdpa_vq_engine.sv
vdpa_cmd_proc.sv
vdpa_axil_regs.sv
vdpa_nic_top.sv
