vdpa_notifier.sv
