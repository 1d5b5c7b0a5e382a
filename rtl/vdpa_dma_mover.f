vdpa_dma_mover.sv
