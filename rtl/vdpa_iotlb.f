vdpa_regs_pkg.sv
vdpa_iotlb.sv
