vdpa_mutants_pkg.sv
vdpa_notifier.sv
