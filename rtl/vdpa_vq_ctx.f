vdpa_regs_pkg.sv
vdpa_mutants_pkg.sv
vdpa_vq_ctx.sv
