// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/* vDPA virtio-net NIC: register/command BAR, command processor, IOTLB and virtqueue engine */
module vdpa_nic_top
    import vdpa_regs_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // Hardware data VQs (even = receiveq, odd = transmitq); the control VQ is emulated by the
    // parent driver in software, as mlx5 does
    parameter int NVQ = 8,
    // Largest queue size (power of two, up to 32768)
    parameter int MAX_QSIZE = 256,
    // IOTLB range entries: a migrating guest's RAM sections, shadow rings and control buffers,
    // twice over while a table is built beside the one in force
    parameter int IOTLB_ENTRIES = 64,
    // IOTLB translation pages (MTT words): a 32 MiB guest's RAM twice over (128 MiB mapped)
    parameter int MTT_DEPTH = 32768,
    // log2 of the IOTLB page size
    parameter int PAGE_SHIFT = 12,
    // Address spaces
    parameter int NAS = 2,
    // ASIDs in identity mode at start and after RESET_MAP / clean reset (bit per ASID)
    parameter logic [255:0] IDENTITY_MASK = 256'd1,
    // VQ groups (mlx5 layout: 0 data buffers, 1 control VQ, 2 data rings)
    parameter int NGROUPS = 3,
    // DMA (AXI4) data width: 32, 64, 128, 256 or 512
    parameter int DATA_W = 64,
    // DMA address width
    parameter int ADDR_W = 64,
    // DMA ID width
    parameter int ID_W = 4,
    // AXI-Lite address width
    parameter int AXIL_ADDR_W = 16,
    // Translated segments per chain
    parameter int MAX_SEGS = 32,
    // Largest received frame (bytes)
    parameter int MAX_FRAME = 2048,
    // Received frames held at once (power of two >= 1): one streams in while another is
    // written out, and a frame whose queue has no buffer does not hold up the other queues
    parameter int RX_SLOTS = 4,
    // Chains in flight: 1 walks a chain while the one before moves and the one before that
    // completes; 0 serves one chain at a time (for comparison)
    parameter int PIPELINE = 1,
    // Chains of one receive queue completed under one used.idx write at most (1..4; 1: each
    // chain on its own)
    parameter int COMPLETION_BATCH = 4,
    // Bytes of the next TX chain the DMA mover reads ahead into its landing buffer while the
    // chain before it ends (a multiple of DATA_W/8; 0: none, the default: see
    // docs/rtl-interface.md "Engine throughput against the bus limit" for why)
    parameter int MOVER_READ_AHEAD = 0,
    // Command execution slots: commands the device runs at once (1..64; mlx5's firmware
    // command throttle, calibration C10)
    parameter int CMD_SLOTS = 8,
    // MTT write ports: pages a MAP writes per cycle at most (1..16; parallel_mkey)
    parameter int MTT_WRITERS = 4,
    // Translation tables: one in force per ASID plus those under construction or retired (a
    // migration's deferred frees hold one per replaced table until the collector runs)
    parameter int IOTLB_TABLES = 32,
    // Firmware latency per command class, in cycles, added between dispatch and the hardware
    // work (vendor-set; 0 = pure hardware). Classes: rtl/regmap/vdpa_regmap.toml, fw_class.
    parameter int FW_LAT_VQ_CREATE = 0,
    parameter int FW_LAT_VQ_DESTROY = 0,
    parameter int FW_LAT_VQ_MODIFY = 0,
    parameter int FW_LAT_MAP = 0,
    parameter int FW_LAT_UNMAP = 0,
    parameter int FW_LAT_RESET = 0,
    parameter int FW_LAT_OTHER = 0,
    // Device features: VERSION_1 | ACCESS_PLATFORM | EVENT_IDX | INDIRECT_DESC | MQ | CTRL_VQ |
    // STATUS | MRG_RXBUF | MAC | MTU. The config space and the control VQ are served by the
    // parent driver in software, as mlx5_vnet.c does.
    parameter logic [63:0] DEV_FEATURES = 64'h0000_0003_3043_8028,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: the device
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic                    clk,
    input  wire logic                    rst,

    /* AXI-Lite slave: registers, commands, doorbells */
    input  wire logic [AXIL_ADDR_W-1:0]  s_axil_awaddr,
    input  wire logic [2:0]              s_axil_awprot,
    input  wire logic                    s_axil_awvalid,
    output wire logic                    s_axil_awready,
    input  wire logic [31:0]             s_axil_wdata,
    input  wire logic [3:0]              s_axil_wstrb,
    input  wire logic                    s_axil_wvalid,
    output wire logic                    s_axil_wready,
    output wire logic [1:0]              s_axil_bresp,
    output wire logic                    s_axil_bvalid,
    input  wire logic                    s_axil_bready,
    input  wire logic [AXIL_ADDR_W-1:0]  s_axil_araddr,
    input  wire logic [2:0]              s_axil_arprot,
    input  wire logic                    s_axil_arvalid,
    output wire logic                    s_axil_arready,
    output wire logic [31:0]             s_axil_rdata,
    output wire logic [1:0]              s_axil_rresp,
    output wire logic                    s_axil_rvalid,
    input  wire logic                    s_axil_rready,

    /* AXI4 master: DMA to host memory */
    output wire logic [ID_W-1:0]         m_axi_awid,
    output wire logic [ADDR_W-1:0]       m_axi_awaddr,
    output wire logic [7:0]              m_axi_awlen,
    output wire logic [2:0]              m_axi_awsize,
    output wire logic [1:0]              m_axi_awburst,
    output wire logic [2:0]              m_axi_awprot,
    output wire logic [23:0]             m_axi_awuser,    // {kind, asid, vq} of the access
    output wire logic                    m_axi_awvalid,
    input  wire logic                    m_axi_awready,
    output wire logic [DATA_W-1:0]       m_axi_wdata,
    output wire logic [DATA_W/8-1:0]     m_axi_wstrb,
    output wire logic                    m_axi_wlast,
    output wire logic                    m_axi_wvalid,
    input  wire logic                    m_axi_wready,
    input  wire logic [ID_W-1:0]         m_axi_bid,
    input  wire logic [1:0]              m_axi_bresp,
    input  wire logic                    m_axi_bvalid,
    output wire logic                    m_axi_bready,
    output wire logic [ID_W-1:0]         m_axi_arid,
    output wire logic [ADDR_W-1:0]       m_axi_araddr,
    output wire logic [7:0]              m_axi_arlen,
    output wire logic [2:0]              m_axi_arsize,
    output wire logic [1:0]              m_axi_arburst,
    output wire logic [2:0]              m_axi_arprot,
    output wire logic [23:0]             m_axi_aruser,    // {kind, asid, vq} of the access
    output wire logic                    m_axi_arvalid,
    input  wire logic                    m_axi_arready,
    input  wire logic [ID_W-1:0]         m_axi_rid,
    input  wire logic [DATA_W-1:0]       m_axi_rdata,
    input  wire logic [1:0]              m_axi_rresp,
    input  wire logic                    m_axi_rlast,
    input  wire logic                    m_axi_rvalid,
    output wire logic                    m_axi_rready,

    /* AXI-Stream out: transmitted frames, header then frame (tdest = VQ; tuser on the last beat
       = frame aborted by a bus error, drop it) */
    output wire logic [DATA_W-1:0]       m_axis_tx_tdata,
    output wire logic [DATA_W/8-1:0]     m_axis_tx_tkeep,
    output wire logic                    m_axis_tx_tvalid,
    input  wire logic                    m_axis_tx_tready,
    output wire logic                    m_axis_tx_tlast,
    output wire logic                    m_axis_tx_tuser,
    output wire logic [7:0]              m_axis_tx_tdest,

    /* AXI-Stream in: received frames (tdest = receive VQ) */
    input  wire logic [DATA_W-1:0]       s_axis_rx_tdata,
    input  wire logic [DATA_W/8-1:0]     s_axis_rx_tkeep,
    input  wire logic                    s_axis_rx_tvalid,
    output wire logic                    s_axis_rx_tready,
    input  wire logic                    s_axis_rx_tlast,
    input  wire logic [7:0]              s_axis_rx_tdest,

    /* Interrupts / notifications */
    output wire logic                    irq_vq_valid,    // used-buffer notification pulse
    output wire logic [7:0]              irq_vq,          // ... for this VQ
    output wire logic                    irq_config,      // config change (NEEDS_RESET), pulse
    output wire logic                    irq_cpl,         // a command completion is waiting (level)
    output wire logic                    irq_fault,       // a fault record is waiting (level)

    /* Received frames the device dropped to make room (a testbench's view, not a host's): a
     * frame parked for a queue with no buffer, dropped when another waited at the wire */
    output wire logic                    rx_evict,        // pulse
    output wire logic [7:0]              rx_evict_vq,     // ... the frame's receive VQ (tdest)
    output wire logic [15:0]             rx_evict_seq     // ... its arrival number mod 2^16
);

localparam int NARGS = 12;
// the command FIFO holds at least as many commands as the device runs at once
localparam int CMD_DEPTH = CMD_SLOTS > 8 ? (1 << $clog2(CMD_SLOTS)) : 8;

wire logic                 cmd_valid, cmd_ready;
wire logic [NARGS*32+15:0] cmd_data;
wire logic                 cpl_valid, cpl_ready;
wire logic [183:0]         cpl_data;
wire logic                 fault_valid;
wire logic [127:0]         fault_data;
wire logic [7:0]           dev_status;
wire logic [63:0]          drv_features;
wire logic [31:0]          rx_drops;
wire logic                 needs_reset;
wire logic                 dp_idle;
wire logic                 eng_busy, eng_hold;
wire logic                 db_valid;
wire logic [15:0]          db_vq;

wire logic                 iotlb_cmd_valid, iotlb_done_valid, vq_cmd_valid, vq_done_valid;
wire logic [7:0]           iotlb_cmd_op, vq_cmd_op, iotlb_done_status, vq_done_status;
wire logic [NARGS*32-1:0]  iotlb_cmd_args, vq_cmd_args;
wire logic [127:0]         iotlb_done_data, vq_done_data;
// the units report busy through their completions; the command processor tracks it itself
/* verilator lint_off UNUSEDSIGNAL */
wire logic                 iotlb_busy, vq_busy;
/* verilator lint_on UNUSEDSIGNAL */

wire logic                 tr_req_valid, tr_req_ready, tr_req_write, tr_resp_valid, tr_resp_ok;
wire logic [7:0]           tr_req_group, tr_resp_asid;
wire logic                 tr_flush;
wire logic [63:0]          tr_req_iova, tr_resp_pa;
wire logic [31:0]          tr_req_len, tr_resp_len;

logic needs_reset_d;
always_ff @(posedge clk) begin
    needs_reset_d <= rst ? 1'b0 : needs_reset;
end
// the device raises a config interrupt when it sets NEEDS_RESET (virtio 1.2 §2.1.2)
assign irq_config = needs_reset && !needs_reset_d;

vdpa_axil_regs #(
    .AXIL_ADDR_W(AXIL_ADDR_W), .NVQ(NVQ), .NGROUPS(NGROUPS), .NAS(NAS),
    .PAGE_SHIFT(PAGE_SHIFT), .MAX_QSIZE(MAX_QSIZE), .IOTLB_ENTRIES(IOTLB_ENTRIES),
    .MTT_DEPTH(MTT_DEPTH), .IDENTITY_MASK(IDENTITY_MASK), .DEV_FEATURES(DEV_FEATURES),
    .CMD_SLOTS(CMD_SLOTS), .MTT_WRITERS(MTT_WRITERS), .IOTLB_TABLES(IOTLB_TABLES),
    .NARGS(NARGS), .CMD_DEPTH(CMD_DEPTH)
) regs_inst (
    .clk(clk), .rst(rst),
    .s_axil_awaddr(s_axil_awaddr), .s_axil_awprot(s_axil_awprot), .s_axil_awvalid(s_axil_awvalid),
    .s_axil_awready(s_axil_awready), .s_axil_wdata(s_axil_wdata), .s_axil_wstrb(s_axil_wstrb),
    .s_axil_wvalid(s_axil_wvalid), .s_axil_wready(s_axil_wready), .s_axil_bresp(s_axil_bresp),
    .s_axil_bvalid(s_axil_bvalid), .s_axil_bready(s_axil_bready), .s_axil_araddr(s_axil_araddr),
    .s_axil_arprot(s_axil_arprot), .s_axil_arvalid(s_axil_arvalid), .s_axil_arready(s_axil_arready),
    .s_axil_rdata(s_axil_rdata), .s_axil_rresp(s_axil_rresp), .s_axil_rvalid(s_axil_rvalid),
    .s_axil_rready(s_axil_rready),
    .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_data(cmd_data),
    .cpl_in_valid(cpl_valid), .cpl_in_ready(cpl_ready), .cpl_in_data(cpl_data),
    .fault_in_valid(fault_valid), .fault_in_data(fault_data),
    .dev_status(dev_status), .rx_drops(rx_drops), .dp_idle(dp_idle),
    .db_valid(db_valid), .db_vq(db_vq),
    .irq_in_valid(irq_vq_valid), .irq_in_vq(irq_vq),
    .cpl_pending(irq_cpl), .fault_pending(irq_fault)
);

vdpa_cmd_proc #(
    .NARGS(NARGS), .SLOTS(CMD_SLOTS),
    .FW_LAT_VQ_CREATE(FW_LAT_VQ_CREATE), .FW_LAT_VQ_DESTROY(FW_LAT_VQ_DESTROY),
    .FW_LAT_VQ_MODIFY(FW_LAT_VQ_MODIFY), .FW_LAT_MAP(FW_LAT_MAP), .FW_LAT_UNMAP(FW_LAT_UNMAP),
    .FW_LAT_RESET(FW_LAT_RESET), .FW_LAT_OTHER(FW_LAT_OTHER), .MUTANT(MUTANT)
) cmd_inst (
    .clk(clk), .rst(rst),
    .cmd_valid(cmd_valid), .cmd_ready(cmd_ready), .cmd_data(cmd_data),
    .cpl_valid(cpl_valid), .cpl_ready(cpl_ready), .cpl_data(cpl_data),
    .iotlb_cmd_valid(iotlb_cmd_valid), .iotlb_cmd_op(iotlb_cmd_op), .iotlb_cmd_args(iotlb_cmd_args),
    .iotlb_done_valid(iotlb_done_valid), .iotlb_done_status(iotlb_done_status),
    .iotlb_done_data(iotlb_done_data),
    .vq_cmd_valid(vq_cmd_valid), .vq_cmd_op(vq_cmd_op), .vq_cmd_args(vq_cmd_args),
    .vq_done_valid(vq_done_valid), .vq_done_status(vq_done_status), .vq_done_data(vq_done_data),
    .needs_reset(needs_reset), .dev_status(dev_status), .drv_features(drv_features)
);

vdpa_iotlb #(
    .NAS(NAS), .NGROUPS(NGROUPS), .ENTRIES(IOTLB_ENTRIES), .MTT_DEPTH(MTT_DEPTH),
    .WRITERS(MTT_WRITERS), .TABLES(IOTLB_TABLES), .PAGE_SHIFT(PAGE_SHIFT),
    .IDENTITY_MASK(IDENTITY_MASK), .NARGS(NARGS), .MUTANT(MUTANT)
) iotlb_inst (
    .clk(clk), .rst(rst),
    .eng_busy(eng_busy), .eng_hold(eng_hold),
    .cmd_valid(iotlb_cmd_valid), .cmd_op(iotlb_cmd_op), .cmd_args(iotlb_cmd_args),
    .cmd_busy(iotlb_busy), .done_valid(iotlb_done_valid), .done_status(iotlb_done_status),
    .done_data(iotlb_done_data),
    .tr_req_valid(tr_req_valid), .tr_req_ready(tr_req_ready), .tr_req_group(tr_req_group),
    .tr_req_iova(tr_req_iova), .tr_req_len(tr_req_len), .tr_req_write(tr_req_write),
    .tr_resp_valid(tr_resp_valid), .tr_resp_ok(tr_resp_ok), .tr_resp_pa(tr_resp_pa),
    .tr_resp_len(tr_resp_len), .tr_resp_asid(tr_resp_asid), .tr_flush(tr_flush)
);

vdpa_vq_engine #(
    .NVQ(NVQ), .MAX_QSIZE(MAX_QSIZE), .NGROUPS(NGROUPS), .DATA_W(DATA_W), .ADDR_W(ADDR_W),
    .ID_W(ID_W), .MAX_SEGS(MAX_SEGS), .MAX_FRAME(MAX_FRAME), .RX_SLOTS(RX_SLOTS), .PIPELINE(PIPELINE),
    .COMPLETION_BATCH(COMPLETION_BATCH),
    .MOVER_READ_AHEAD(MOVER_READ_AHEAD),
    .NARGS(NARGS), .MUTANT(MUTANT)
) vq_inst (
    .clk(clk), .rst(rst),
    .driver_ok(dev_status[2]), .drv_features(drv_features),
    .needs_reset(needs_reset), .rx_drops(rx_drops), .dp_idle(dp_idle),
    .rx_evict(rx_evict), .rx_evict_vq(rx_evict_vq), .rx_evict_seq(rx_evict_seq),
    .iotlb_hold(eng_hold), .eng_busy(eng_busy),
    .cmd_valid(vq_cmd_valid), .cmd_op(vq_cmd_op), .cmd_args(vq_cmd_args), .cmd_busy(vq_busy),
    .done_valid(vq_done_valid), .done_status(vq_done_status), .done_data(vq_done_data),
    .db_valid(db_valid), .db_vq(db_vq),
    .tr_req_valid(tr_req_valid), .tr_req_ready(tr_req_ready), .tr_req_group(tr_req_group),
    .tr_req_iova(tr_req_iova), .tr_req_len(tr_req_len), .tr_req_write(tr_req_write),
    .tr_resp_valid(tr_resp_valid), .tr_resp_ok(tr_resp_ok), .tr_resp_pa(tr_resp_pa),
    .tr_resp_len(tr_resp_len), .tr_resp_asid(tr_resp_asid), .tr_flush(tr_flush),
    .fault_valid(fault_valid), .fault_data(fault_data),
    .irq_valid(irq_vq_valid), .irq_vq(irq_vq),
    .m_axi_awid(m_axi_awid), .m_axi_awaddr(m_axi_awaddr), .m_axi_awlen(m_axi_awlen),
    .m_axi_awsize(m_axi_awsize), .m_axi_awburst(m_axi_awburst), .m_axi_awprot(m_axi_awprot),
    .m_axi_awuser(m_axi_awuser),
    .m_axi_awvalid(m_axi_awvalid), .m_axi_awready(m_axi_awready),
    .m_axi_wdata(m_axi_wdata), .m_axi_wstrb(m_axi_wstrb), .m_axi_wlast(m_axi_wlast),
    .m_axi_wvalid(m_axi_wvalid), .m_axi_wready(m_axi_wready),
    .m_axi_bid(m_axi_bid), .m_axi_bresp(m_axi_bresp), .m_axi_bvalid(m_axi_bvalid),
    .m_axi_bready(m_axi_bready),
    .m_axi_arid(m_axi_arid), .m_axi_araddr(m_axi_araddr), .m_axi_arlen(m_axi_arlen),
    .m_axi_arsize(m_axi_arsize), .m_axi_arburst(m_axi_arburst), .m_axi_arprot(m_axi_arprot),
    .m_axi_aruser(m_axi_aruser),
    .m_axi_arvalid(m_axi_arvalid), .m_axi_arready(m_axi_arready),
    .m_axi_rid(m_axi_rid), .m_axi_rdata(m_axi_rdata), .m_axi_rresp(m_axi_rresp),
    .m_axi_rlast(m_axi_rlast), .m_axi_rvalid(m_axi_rvalid), .m_axi_rready(m_axi_rready),
    .m_axis_tx_tdata(m_axis_tx_tdata), .m_axis_tx_tkeep(m_axis_tx_tkeep),
    .m_axis_tx_tvalid(m_axis_tx_tvalid),
    .m_axis_tx_tready(m_axis_tx_tready), .m_axis_tx_tlast(m_axis_tx_tlast),
    .m_axis_tx_tuser(m_axis_tx_tuser), .m_axis_tx_tdest(m_axis_tx_tdest),
    .s_axis_rx_tdata(s_axis_rx_tdata), .s_axis_rx_tkeep(s_axis_rx_tkeep),
    .s_axis_rx_tvalid(s_axis_rx_tvalid),
    .s_axis_rx_tready(s_axis_rx_tready), .s_axis_rx_tlast(s_axis_rx_tlast),
    .s_axis_rx_tdest(s_axis_rx_tdest)
);

endmodule

`resetall
