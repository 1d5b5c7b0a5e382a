tb_nic_host.sv
tb_engine_occupancy.sv
tb_vdpa_nic_top.sv
