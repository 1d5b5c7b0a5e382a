tb_nic_host.sv
tb_vdpa_nic_pair.sv
