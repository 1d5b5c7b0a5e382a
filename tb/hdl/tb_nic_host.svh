// SPDX-License-Identifier: MIT
// What every fast-path testbench top of a vdpa_nic_top-style device writes alike, once:
//  - NIC_PARAMETERS / NIC_PARAMETER_MAP: vdpa_nic_top's parameters (same names and defaults),
//    declared by the top and passed on to the device;
//  - HOST_PARAMETERS: the host's own (tb_nic_host's memory latency), declared by the top and
//    passed on by NIC_HOST;
//  - TB_CLOCK(PERIOD): the clock, an HDL process (Verilator --timing), so no Python wakes on
//    its edges;
//  - NIC_WIRES(P): the nets of one device's ports with prefix P (empty for a single device,
//    d0_ / d1_ for vdpa_nic_pair), named as the ports so the Python testbench finds them;
//  - NIC_HOST(P, INDEX, IDLE): tb_nic_host on those nets, host library device INDEX, IDLE being
//    the device's own quiescence signal. Expects clk and P``rst.

`ifndef TB_NIC_HOST_SVH
`define TB_NIC_HOST_SVH

`define NIC_PARAMETERS \
    parameter int NVQ = 8, \
    parameter int MAX_QSIZE = 256, \
    parameter int IOTLB_ENTRIES = 64, \
    parameter int MTT_DEPTH = 32768, \
    parameter int PAGE_SHIFT = 12, \
    parameter int NAS = 2, \
    parameter logic [255:0] IDENTITY_MASK = 256'd1, \
    parameter int NGROUPS = 3, \
    parameter int DATA_W = 64, \
    parameter int ADDR_W = 64, \
    parameter int ID_W = 4, \
    parameter int AXIL_ADDR_W = 16, \
    parameter int MAX_SEGS = 32, \
    parameter int MAX_FRAME = 2048, \
    parameter int RX_SLOTS = 4, \
    parameter int PIPELINE = 1, \
    parameter int COMPLETION_BATCH = 4, \
    parameter int MOVER_READ_AHEAD = 0, \
    parameter int CMD_SLOTS = 8, \
    parameter int MTT_WRITERS = 4, \
    parameter int IOTLB_TABLES = 32, \
    parameter int FW_LAT_VQ_CREATE = 0, \
    parameter int FW_LAT_VQ_DESTROY = 0, \
    parameter int FW_LAT_VQ_MODIFY = 0, \
    parameter int FW_LAT_MAP = 0, \
    parameter int FW_LAT_UNMAP = 0, \
    parameter int FW_LAT_RESET = 0, \
    parameter int FW_LAT_OTHER = 0, \
    parameter logic [63:0] DEV_FEATURES = 64'h0000_0003_3043_8028, \
    parameter int MUTANT = 0

// MEM_RD_LATENCY / MEM_WR_LATENCY: tb_nic_host RD_LATENCY / WR_LATENCY
`define HOST_PARAMETERS \
    parameter int MEM_RD_LATENCY = 0, \
    parameter int MEM_WR_LATENCY = 0

`define NIC_PARAMETER_MAP \
    .NVQ(NVQ), .MAX_QSIZE(MAX_QSIZE), .IOTLB_ENTRIES(IOTLB_ENTRIES), .MTT_DEPTH(MTT_DEPTH), \
    .PAGE_SHIFT(PAGE_SHIFT), .NAS(NAS), .IDENTITY_MASK(IDENTITY_MASK), .NGROUPS(NGROUPS), \
    .DATA_W(DATA_W), .ADDR_W(ADDR_W), .ID_W(ID_W), .AXIL_ADDR_W(AXIL_ADDR_W), \
    .MAX_SEGS(MAX_SEGS), .MAX_FRAME(MAX_FRAME), .RX_SLOTS(RX_SLOTS), .PIPELINE(PIPELINE), \
    .COMPLETION_BATCH(COMPLETION_BATCH), .MOVER_READ_AHEAD(MOVER_READ_AHEAD), .CMD_SLOTS(CMD_SLOTS), \
    .MTT_WRITERS(MTT_WRITERS), .IOTLB_TABLES(IOTLB_TABLES), .FW_LAT_VQ_CREATE(FW_LAT_VQ_CREATE), \
    .FW_LAT_VQ_DESTROY(FW_LAT_VQ_DESTROY), .FW_LAT_VQ_MODIFY(FW_LAT_VQ_MODIFY), \
    .FW_LAT_MAP(FW_LAT_MAP), .FW_LAT_UNMAP(FW_LAT_UNMAP), .FW_LAT_RESET(FW_LAT_RESET), \
    .FW_LAT_OTHER(FW_LAT_OTHER), .DEV_FEATURES(DEV_FEATURES), .MUTANT(MUTANT)

`define TB_CLOCK(PERIOD) \
logic clk; \
initial begin \
    clk = 1'b0; \
    forever #(PERIOD / 2) clk = !clk; \
end

`define NIC_WIRES(P) \
wire logic [AXIL_ADDR_W-1:0] P``s_axil_awaddr, P``s_axil_araddr; \
wire logic [2:0] P``s_axil_awprot, P``s_axil_arprot; \
wire logic [31:0] P``s_axil_wdata, P``s_axil_rdata; \
wire logic [3:0] P``s_axil_wstrb; \
wire logic [1:0] P``s_axil_bresp, P``s_axil_rresp; \
wire logic P``s_axil_awvalid, P``s_axil_awready, P``s_axil_wvalid, P``s_axil_wready; \
wire logic P``s_axil_bvalid, P``s_axil_bready, P``s_axil_arvalid, P``s_axil_arready; \
wire logic P``s_axil_rvalid, P``s_axil_rready; \
wire logic [ID_W-1:0] P``m_axi_awid, P``m_axi_bid, P``m_axi_arid, P``m_axi_rid; \
wire logic [ADDR_W-1:0] P``m_axi_awaddr, P``m_axi_araddr; \
wire logic [7:0] P``m_axi_awlen, P``m_axi_arlen; \
wire logic [2:0] P``m_axi_awsize, P``m_axi_awprot, P``m_axi_arsize, P``m_axi_arprot; \
wire logic [1:0] P``m_axi_awburst, P``m_axi_arburst, P``m_axi_bresp, P``m_axi_rresp; \
wire logic [23:0] P``m_axi_awuser, P``m_axi_aruser; \
wire logic [DATA_W-1:0] P``m_axi_wdata, P``m_axi_rdata; \
wire logic [DATA_W/8-1:0] P``m_axi_wstrb; \
wire logic P``m_axi_awvalid, P``m_axi_awready, P``m_axi_wlast, P``m_axi_wvalid; \
wire logic P``m_axi_wready, P``m_axi_bvalid, P``m_axi_bready, P``m_axi_arvalid; \
wire logic P``m_axi_arready, P``m_axi_rlast, P``m_axi_rvalid, P``m_axi_rready; \
wire logic [DATA_W-1:0] P``m_axis_tx_tdata, P``s_axis_rx_tdata; \
wire logic [DATA_W/8-1:0] P``m_axis_tx_tkeep, P``s_axis_rx_tkeep; \
wire logic [7:0] P``m_axis_tx_tdest, P``s_axis_rx_tdest, P``irq_vq; \
wire logic P``m_axis_tx_tvalid, P``m_axis_tx_tready, P``m_axis_tx_tlast, P``m_axis_tx_tuser; \
wire logic P``s_axis_rx_tvalid, P``s_axis_rx_tready, P``s_axis_rx_tlast; \
wire logic P``irq_vq_valid, P``irq_config, P``irq_cpl, P``irq_fault; \
wire logic P``rx_evict; \
wire logic [7:0] P``rx_evict_vq; \
wire logic [15:0] P``rx_evict_seq; \
wire logic P``axil_done, P``settled;

`define NIC_HOST(P, INDEX, IDLE) \
tb_nic_host #( \
    .DEV(INDEX), .DATA_W(DATA_W), .ADDR_W(ADDR_W), .ID_W(ID_W), .AXIL_ADDR_W(AXIL_ADDR_W), \
    .RD_LATENCY(MEM_RD_LATENCY), .WR_LATENCY(MEM_WR_LATENCY) \
) P``host ( \
    .clk(clk), .rst(P``rst), \
    .s_axil_awaddr(P``s_axil_awaddr), .s_axil_awprot(P``s_axil_awprot), \
    .s_axil_awvalid(P``s_axil_awvalid), .s_axil_awready(P``s_axil_awready), \
    .s_axil_wdata(P``s_axil_wdata), .s_axil_wstrb(P``s_axil_wstrb), \
    .s_axil_wvalid(P``s_axil_wvalid), .s_axil_wready(P``s_axil_wready), \
    .s_axil_bresp(P``s_axil_bresp), .s_axil_bvalid(P``s_axil_bvalid), \
    .s_axil_bready(P``s_axil_bready), .s_axil_araddr(P``s_axil_araddr), \
    .s_axil_arprot(P``s_axil_arprot), .s_axil_arvalid(P``s_axil_arvalid), \
    .s_axil_arready(P``s_axil_arready), .s_axil_rdata(P``s_axil_rdata), \
    .s_axil_rresp(P``s_axil_rresp), .s_axil_rvalid(P``s_axil_rvalid), \
    .s_axil_rready(P``s_axil_rready), \
    .m_axi_awid(P``m_axi_awid), .m_axi_awaddr(P``m_axi_awaddr), .m_axi_awlen(P``m_axi_awlen), \
    .m_axi_awsize(P``m_axi_awsize), .m_axi_awburst(P``m_axi_awburst), \
    .m_axi_awprot(P``m_axi_awprot), .m_axi_awuser(P``m_axi_awuser), \
    .m_axi_awvalid(P``m_axi_awvalid), .m_axi_awready(P``m_axi_awready), \
    .m_axi_wdata(P``m_axi_wdata), .m_axi_wstrb(P``m_axi_wstrb), .m_axi_wlast(P``m_axi_wlast), \
    .m_axi_wvalid(P``m_axi_wvalid), .m_axi_wready(P``m_axi_wready), \
    .m_axi_bid(P``m_axi_bid), .m_axi_bresp(P``m_axi_bresp), .m_axi_bvalid(P``m_axi_bvalid), \
    .m_axi_bready(P``m_axi_bready), \
    .m_axi_arid(P``m_axi_arid), .m_axi_araddr(P``m_axi_araddr), .m_axi_arlen(P``m_axi_arlen), \
    .m_axi_arsize(P``m_axi_arsize), .m_axi_arburst(P``m_axi_arburst), \
    .m_axi_arprot(P``m_axi_arprot), .m_axi_aruser(P``m_axi_aruser), \
    .m_axi_arvalid(P``m_axi_arvalid), .m_axi_arready(P``m_axi_arready), \
    .m_axi_rid(P``m_axi_rid), .m_axi_rdata(P``m_axi_rdata), .m_axi_rresp(P``m_axi_rresp), \
    .m_axi_rlast(P``m_axi_rlast), .m_axi_rvalid(P``m_axi_rvalid), \
    .m_axi_rready(P``m_axi_rready), \
    .m_axis_tx_tdata(P``m_axis_tx_tdata), .m_axis_tx_tkeep(P``m_axis_tx_tkeep), \
    .m_axis_tx_tvalid(P``m_axis_tx_tvalid), .m_axis_tx_tready(P``m_axis_tx_tready), \
    .m_axis_tx_tlast(P``m_axis_tx_tlast), .m_axis_tx_tuser(P``m_axis_tx_tuser), \
    .m_axis_tx_tdest(P``m_axis_tx_tdest), \
    .s_axis_rx_tdata(P``s_axis_rx_tdata), .s_axis_rx_tkeep(P``s_axis_rx_tkeep), \
    .s_axis_rx_tvalid(P``s_axis_rx_tvalid), .s_axis_rx_tready(P``s_axis_rx_tready), \
    .s_axis_rx_tlast(P``s_axis_rx_tlast), .s_axis_rx_tdest(P``s_axis_rx_tdest), \
    .irq_vq_valid(P``irq_vq_valid), .irq_vq(P``irq_vq), .irq_fault(P``irq_fault), \
    .rx_evict(P``rx_evict), .rx_evict_vq(P``rx_evict_vq), .rx_evict_seq(P``rx_evict_seq), \
    .dp_idle(IDLE), .axil_done(P``axil_done), .settled(P``settled) \
);

`endif
