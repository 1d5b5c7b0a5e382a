vdpa_rx_buffer.sv
