vdpa_axi_arb.sv
