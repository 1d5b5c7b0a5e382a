// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Virtqueue engine: per-VQ object contexts (INIT/RDY/SUSPEND/ERR/NONE), the VQ command unit,
 * and the split-ring data path (virtio 1.2 §2.7) for TX (odd VQs) and RX (even VQs).
 *
 * The data path is three stages with a chain in each. The walker reads the avail index and
 * head, walks and validates the whole descriptor chain and translates every buffer page
 * through the IOTLB, so a malformed ring or a translation fault makes no data access; it then
 * hands the chain (head, direction, segment list) to the move stage (vdpa_dma_mover), which
 * hands it on to the completion stage (vdpa_used_writer: used element, used.idx,
 * notification). So while one chain completes, the next moves and the one after is walked
 * (PIPELINE), of the same queue or others. Rings and descriptor tables are reached through the
 * VQ's descriptor group, buffers and indirect tables through its data group (mlx5:
 * virtio_q_mkey / desc_group_mkey). Errors follow drivers/vhost/vringh.c (__vringh_iov,
 * __vringh_get_head): the VQ goes to ERR, a fault is reported, NEEDS_RESET is raised; other
 * VQs keep running.
 *
 * What chains in flight change, and why the contract still holds:
 *  - Order. A queue's chains complete in the order their heads were taken (one completion
 *    stage), so the used ring is as a one-chain-at-a-time device writes it. The walker's index
 *    is the queue's last_avail plus the chains of that queue the later stages hold and have
 *    not committed.
 *  - Suspend and state. last_avail and used_idx advance only when a chain's used.idx is
 *    written; a suspend or destroy waits for every stage to leave the queue (a chain walked is
 *    moved and completed), so get_vq_state after it is exact.
 *  - Faults. A stage reports a fault only once the stages after it are idle, so faults and
 *    completions are seen in the order of a serial device; a chain whose queue went to ERR
 *    meanwhile (a later stage faulted on the chain before it) is dropped without a trace. What
 *    a chain does before the one ahead of it on its queue is complete must be undoable if that
 *    completion faults: a receive chain does not start writing then, a transmitted frame's last
 *    beat waits (and leaves with the abort flag if it did), and the walker's one write
 *    (avail_event, EVENT_IDX) waits for idle later stages.
 *  - Prefetch. The next chain's ring items may be read before this chain's data is written:
 *    a guest whose receive buffers alias its own rings sees the ring as it was (the driver must
 *    not touch what it made available, virtio 1.2 §2.7.13.1; prefetching devices do the same).
 *
 * Blocks (docs/rtl-interface.md "Data path blocks"): vdpa_rx_buffer holds received frames
 * (RX_SLOTS); vdpa_ring_port reads or writes one translated ring item (two instances: the
 * walker's and the completion writer's, each with its translation cache); vdpa_dma_mover moves
 * a chain's data over its translated segments (TX: read bursts onto the stream; RX: the header
 * and held frame in write bursts); the walker-to-mover interface (a segment list and a length,
 * request/done, bus errors reported back here, where the fault registers are) is the seam a
 * packed-ring walker plugs into. vdpa_used_writer completes a chain over its ring port.
 * vdpa_axi_arb shares the AXI master among the two ports and the mover, one AXI ID each.
 */
module vdpa_vq_engine
    import vdpa_regs_pkg::*;
    import vdpa_split_ring_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // Number of hardware VQs (even = RX, odd = TX)
    parameter int NVQ = 8,
    // Largest queue size accepted by CREATE_VQ (power of two, <= 32768)
    parameter int MAX_QSIZE = 256,
    // Number of VQ groups (for argument checks)
    parameter int NGROUPS = 3,
    // AXI data width in bits (32, 64, 128, 256 or 512)
    parameter int DATA_W = 64,
    // AXI address width in bits
    parameter int ADDR_W = 64,
    // AXI ID width
    parameter int ID_W = 4,
    // Translated segments one chain may use (device limit, E2BIG beyond)
    parameter int MAX_SEGS = 32,
    // Largest received frame kept in the receive buffer (bytes)
    parameter int MAX_FRAME = 2048,
    // Received frames the receive buffer holds at once (power of two >= 1)
    parameter int RX_SLOTS = 4,
    // Command argument words
    parameter int NARGS = 12,
    // Chains in flight: 1 walks one chain while the previous moves and the one before completes;
    // 0 serves one chain at a time (the engine before the pipeline, for comparison)
    parameter int PIPELINE = 1,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Device state from the command processor */
    input  wire logic                 driver_ok,
    input  wire logic [63:0]          drv_features,
    output wire logic                 needs_reset,
    output wire logic [31:0]          rx_drops,
    output wire logic                 dp_idle,

    /* IOTLB handshake: hold new chains while a mapping change waits; busy while in a chain */
    input  wire logic                 iotlb_hold,
    output wire logic                 eng_busy,

    /* Command unit: CREATE/MODIFY/QUERY/DESTROY_VQ, SUSPEND_ALL, RESUME_ALL, RESET */
    input  wire logic                 cmd_valid,
    input  wire logic [7:0]           cmd_op,
    input  wire logic [NARGS*32-1:0]  cmd_args,
    output wire logic                 cmd_busy,
    output wire logic                 done_valid,
    output wire logic [7:0]           done_status,
    output wire logic [127:0]         done_data,

    /* Doorbells */
    input  wire logic                 db_valid,
    input  wire logic [15:0]          db_vq,

    /* IOTLB translation */
    output wire logic                 tr_req_valid,
    input  wire logic                 tr_req_ready,
    output wire logic [7:0]           tr_req_group,
    output wire logic [63:0]          tr_req_iova,
    output wire logic [31:0]          tr_req_len,
    output wire logic                 tr_req_write,
    input  wire logic                 tr_resp_valid,
    input  wire logic                 tr_resp_ok,
    input  wire logic [63:0]          tr_resp_pa,
    input  wire logic [31:0]          tr_resp_len,
    input  wire logic [7:0]           tr_resp_asid,
    // the IOTLB is running a command: translations may change, cached answers are dropped
    input  wire logic                 tr_flush,

    /* Faults */
    output wire logic                 fault_valid,
    output wire logic [127:0]         fault_data,

    /* Used-buffer notifications */
    output wire logic                 irq_valid,
    output wire logic [7:0]           irq_vq,

    /* AXI4 master: DMA to host memory */
    output wire logic [ID_W-1:0]      m_axi_awid,
    output wire logic [ADDR_W-1:0]    m_axi_awaddr,
    output wire logic [7:0]           m_axi_awlen,
    output wire logic [2:0]           m_axi_awsize,
    output wire logic [1:0]           m_axi_awburst,
    output wire logic [2:0]           m_axi_awprot,
    output wire logic [23:0]          m_axi_awuser,
    output wire logic                 m_axi_awvalid,
    input  wire logic                 m_axi_awready,
    output wire logic [DATA_W-1:0]    m_axi_wdata,
    output wire logic [DATA_W/8-1:0]  m_axi_wstrb,
    output wire logic                 m_axi_wlast,
    output wire logic                 m_axi_wvalid,
    input  wire logic                 m_axi_wready,
    input  wire logic [ID_W-1:0]      m_axi_bid,
    input  wire logic [1:0]           m_axi_bresp,
    input  wire logic                 m_axi_bvalid,
    output wire logic                 m_axi_bready,
    output wire logic [ID_W-1:0]      m_axi_arid,
    output wire logic [ADDR_W-1:0]    m_axi_araddr,
    output wire logic [7:0]           m_axi_arlen,
    output wire logic [2:0]           m_axi_arsize,
    output wire logic [1:0]           m_axi_arburst,
    output wire logic [2:0]           m_axi_arprot,
    output wire logic [23:0]          m_axi_aruser,
    output wire logic                 m_axi_arvalid,
    input  wire logic                 m_axi_arready,
    input  wire logic [ID_W-1:0]      m_axi_rid,
    input  wire logic [DATA_W-1:0]    m_axi_rdata,
    input  wire logic [1:0]           m_axi_rresp,
    input  wire logic                 m_axi_rlast,
    input  wire logic                 m_axi_rvalid,
    output wire logic                 m_axi_rready,

    /* AXI-Stream out: transmitted frames (header + frame), DATA_W wide with tkeep; tuser on
       the tlast beat marks a frame the device aborted (discard it) */
    output wire logic [DATA_W-1:0]    m_axis_tx_tdata,
    output wire logic [DATA_W/8-1:0]  m_axis_tx_tkeep,
    output wire logic                 m_axis_tx_tvalid,
    input  wire logic                 m_axis_tx_tready,
    output wire logic                 m_axis_tx_tlast,
    output wire logic                 m_axis_tx_tuser,
    output wire logic [7:0]           m_axis_tx_tdest,

    /* AXI-Stream in: received frames, DATA_W wide with tkeep; tdest = receive VQ index */
    input  wire logic [DATA_W-1:0]    s_axis_rx_tdata,
    input  wire logic [DATA_W/8-1:0]  s_axis_rx_tkeep,
    input  wire logic                 s_axis_rx_tvalid,
    output wire logic                 s_axis_rx_tready,
    input  wire logic                 s_axis_rx_tlast,
    input  wire logic [7:0]           s_axis_rx_tdest
);

localparam int BYTES = DATA_W / 8;
localparam int QW = $clog2(NVQ);
localparam int IFT_WORDS = (MAX_QSIZE + 63) / 64;
localparam int IFT_DEPTH = NVQ * IFT_WORDS;
localparam int IW = $clog2(IFT_DEPTH);
localparam int SW = $clog2(MAX_SEGS);
localparam int FW = $clog2(MAX_FRAME);

initial begin
    if (DATA_W != 32 && DATA_W != 64 && DATA_W != 128 && DATA_W != 256 && DATA_W != 512) begin
        $error("Error: DATA_W must be 32, 64, 128, 256 or 512 (instance %m)");
        $finish;
    end
    if (NVQ < 2 || NVQ > 64 || (1 << QW) != NVQ) begin
        $error("Error: NVQ must be a power of two in 2..64 (instance %m)");
        $finish;
    end
    if (MAX_QSIZE < 2 || MAX_QSIZE > 32768 || (MAX_QSIZE & (MAX_QSIZE - 1)) != 0) begin
        $error("Error: MAX_QSIZE must be a power of two in 2..32768 (instance %m)");
        $finish;
    end
end

// virtio constants (virtio 1.2 §2.7.5, §2.7.6; virtio_ring.h)
localparam logic [15:0] DESC_F_NEXT = 16'd1;
localparam logic [15:0] DESC_F_WRITE = 16'd2;
localparam logic [15:0] DESC_F_INDIRECT = 16'd4;
// largest frame a TX chain may carry after its header (VIRTIO_NET_MAX_FRAME)
localparam logic [31:0] TX_MAX_FRAME = 32'd65550;

wire logic feat_event_idx = drv_features[29];
// the data path honours EVENT_IDX and the header length; other features need no hardware
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused_features = ^{drv_features[63:33], drv_features[31:30], drv_features[28:16], drv_features[14:0]};
/* verilator lint_on UNUSEDSIGNAL */
// virtio_net_hdr_v1 (12 bytes, with num_buffers) with VERSION_1 or MRG_RXBUF, else 10 (§5.1.6)
wire logic [4:0] hdr_len = (drv_features[32] || drv_features[15]) ? 5'd12 : 5'd10;

// ---------------------------------------------------------------------------------------
// VQ contexts
// ---------------------------------------------------------------------------------------
logic [2:0]   q_state[NVQ];
logic [16:0]  q_size[NVQ];
logic [63:0]  q_desc[NVQ];
logic [63:0]  q_drv[NVQ];
logic [63:0]  q_dev[NVQ];
logic [15:0]  q_avail[NVQ];
logic [15:0]  q_used[NVQ];
// avail.idx as last read, and whether that read still counts: entries between last_avail and it
// are served without reading avail.idx again (drivers/vhost/vhost.c: vhost_get_vq_desc reads
// it only once last_avail has caught up); a (re)started or modified queue reads it afresh
logic [15:0]  q_seen[NVQ];
logic         q_seen_ok[NVQ];
logic [7:0]   q_dgroup[NVQ];   // buffers and indirect tables
logic [7:0]   q_rgroup[NVQ];   // descriptor table, driver and device areas
logic [7:0]   q_errno[NVQ];
logic         q_pending[NVQ];
// in-flight table: one bit per descriptor head between fetch and used write
logic [63:0]  ift[IFT_DEPTH];

logic         needs_reset_reg;
logic [31:0]  rx_drops_reg;
assign needs_reset = needs_reset_reg;
assign rx_drops = rx_drops_reg;

wire logic [31:0] a0 = cmd_args[0*32 +: 32];
wire logic [31:0] a1 = cmd_args[1*32 +: 32];
wire logic [31:0] a2 = cmd_args[2*32 +: 32];
wire logic [31:0] a3 = cmd_args[3*32 +: 32];
wire logic [31:0] a4 = cmd_args[4*32 +: 32];
wire logic [31:0] a5 = cmd_args[5*32 +: 32];
wire logic [31:0] a6 = cmd_args[6*32 +: 32];
wire logic [31:0] a7 = cmd_args[7*32 +: 32];
wire logic [31:0] a8 = cmd_args[8*32 +: 32];
wire logic [31:0] a9 = cmd_args[9*32 +: 32];
wire logic [31:0] a10 = cmd_args[10*32 +: 32];
// the last argument word is not used by any VQ command
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused_args = ^{cmd_args[NARGS*32-1:11*32], a10[31:16]};
/* verilator lint_on UNUSEDSIGNAL */
wire logic [QW-1:0] a_vq = a0[QW-1:0];

// ---------------------------------------------------------------------------------------
// Receive buffer: whole frames are taken in (RX_SLOTS of them) before the engine looks for a
// buffer; it offers one at a time, a frame whose queue the engine would act on now
// ---------------------------------------------------------------------------------------
logic         rxb_full;      // a frame is offered
logic [FW:0]  rxb_len;
logic [7:0]   rxb_vq;
logic         rxb_fresh;     // frame not yet offered to its queue
logic         rxb_receiving; // part of a frame taken in
logic         rxb_drop_now;  // frame completed but too long or empty: dropped at once
logic         rxb_take;      // engine is done with the offered frame
logic         rxb_tried;     // engine found no buffer: park it until a kick on that queue
logic         rxb_flush;     // a reset: every held frame belongs to the old device instance
logic [NVQ-1:0] rxb_q_ready; // per receive VQ: the engine would act on a fresh frame now
logic [NVQ-1:0] rxb_q_wake;  // ... on a parked one
logic [31:0]  rxb_rd_base;
logic [DATA_W-1:0] rxb_rd_data;
logic         rxb_hold;      // the engine works on the offered frame
localparam int RSW = RX_SLOTS > 1 ? $clog2(RX_SLOTS) : 1;
logic         rxb_claim;     // the walker hands the offered frame to the move stage
logic [RSW-1:0] rxb_slot;    // where the offered frame is
logic         rxb_free;   // the move stage has written its frame: the slot is free

vdpa_rx_buffer #(
    .DATA_W(DATA_W),
    .MAX_FRAME(MAX_FRAME),
    .SLOTS(RX_SLOTS),
    .NVQ(NVQ)
) rx_buffer_inst (
    .clk(clk),
    .rst(rst),
    .s_axis_rx_tdata(s_axis_rx_tdata),
    .s_axis_rx_tkeep(s_axis_rx_tkeep),
    .s_axis_rx_tvalid(s_axis_rx_tvalid),
    .s_axis_rx_tready(s_axis_rx_tready),
    .s_axis_rx_tlast(s_axis_rx_tlast),
    .s_axis_rx_tdest(s_axis_rx_tdest),
    .full(rxb_full),
    .len(rxb_len),
    .vq(rxb_vq),
    .fresh(rxb_fresh),
    .receiving(rxb_receiving),
    .drop(rxb_drop_now),
    .q_ready(rxb_q_ready),
    .q_wake(rxb_q_wake),
    .hold(rxb_hold),
    .take(rxb_take),
    .tried(rxb_tried),
    .claim(rxb_claim),
    .flush(rxb_flush),
    .slot(rxb_slot),
    .free(rxb_free),
    .free_slot(ms_slot_reg),
    .rd_claimed(1'b1),
    .rd_slot(ms_slot_reg),
    .rd_base(rxb_rd_base),
    .rd_data(rxb_rd_data)
);

// ---------------------------------------------------------------------------------------
// Walker state
// ---------------------------------------------------------------------------------------
typedef enum logic [4:0] {
    E_IDLE, E_START, E_AVAIL_CHK, E_AVAIL_EVENT, E_HEAD, E_HEAD_CHK,
    E_DESC_RD, E_DESC_CHK, E_BUF_XL, E_BUF_XLW, E_NEXT,
    // the completion's ring items translated before any data moves, then the hand-off
    E_PROBE_IDX, E_MOVE,
    E_DONE, E_FAULT, E_RX_DROP,
    // the walker's ring-item port reads, writes or checks one item; back to e_ret_reg
    E_PORT
} estate_t;

estate_t      e_state_reg, e_ret_reg;
logic [QW-1:0] e_vq_reg;
logic         e_rx_reg;          // serving a received frame (RX) rather than a kick (TX)
logic         e_rechecked_reg;
logic [15:0]  e_head_reg;
logic [15:0]  e_i_reg;            // descriptor index in the current table
logic         e_ind_reg;          // walking an indirect table
logic [63:0]  e_ind_base_reg;
logic [16:0]  e_ind_max_reg;
logic [16:0]  e_count_reg;        // descriptors seen in the current table
logic         e_seen_write_reg;
logic [63:0]  d_addr_reg;
logic [15:0]  d_flags_reg;
logic [15:0]  d_next_reg;
// segments of a chain, translated before any data moves: two banks, the walker fills one
// while the mover reads the other
logic [63:0]  seg_pa[2*MAX_SEGS];
logic [31:0]  seg_len[2*MAX_SEGS];
logic         w_bank_reg;
logic [SW:0]  seg_cnt_reg;
logic         seg_over_reg;
logic [63:0]  x_iova_reg;
logic [31:0]  x_left_reg;
logic [31:0]  total_reg;           // bytes of the chain (TX) / capacity (RX)
logic [7:0]   data_asid_reg;
// the walker's ring item
logic [7:0]   m_group_reg;
logic [63:0]  m_iova_reg;
logic [4:0]   m_len_reg;           // 2, 4 or 16 bytes (8: the used element, translated only)
logic         m_write_reg;
logic         m_probe_reg;         // translate and check only: no bus access
logic [31:0]  m_wval_reg;
// fault record of the walk
logic [7:0]   f_errno_reg;
logic         f_xlate_reg;
logic [7:0]   f_asid_reg;
logic [63:0]  f_iova_reg;
logic         f_write_reg;
// the fault reported (either stage's), with its VQ
logic         fault_valid_reg;
logic [127:0] fault_data_reg;

// ---------------------------------------------------------------------------------------
// Move stage: the chain handed over by the walker, its data moved by vdpa_dma_mover
// ---------------------------------------------------------------------------------------
typedef enum logic [1:0] {MS_IDLE, MS_XFER, MS_FAULT} msstate_t;
msstate_t     ms_state_reg;
logic [QW-1:0] ms_vq_reg;
logic         ms_rx_reg;
logic [15:0]  ms_head_reg;
logic         ms_bank_reg;
logic [7:0]   ms_asid_reg;         // the data group's ASID (AXI user)
logic         ms_frame_reg;        // RX: the received frame it writes is claimed in the buffer
logic [(RX_SLOTS > 1 ? $clog2(RX_SLOTS) : 1)-1:0] ms_slot_reg;  // ... in this slot

// ---------------------------------------------------------------------------------------
// Completion stage: the chain whose data has moved, completed by vdpa_used_writer
// ---------------------------------------------------------------------------------------
typedef enum logic [1:0] {CS_IDLE, CS_USED, CS_PORT, CS_FAULT} csstate_t;
csstate_t     cs_state_reg;
logic [QW-1:0] cs_vq_reg;
logic         cs_rx_reg;
logic [15:0]  cs_head_reg;
logic         cs_committed_reg;    // its used.idx is written: the queue's context has advanced
// fault record of the completion stage
logic         cs_xlate_reg;
logic [7:0]   cs_asid_reg;
logic [63:0]  cs_iova_reg;
logic         cs_write_reg;
// the completion writer's ring item
logic [7:0]   c_group_reg;
logic [63:0]  c_iova_reg;
logic [4:0]   c_len_reg;
logic         c_write_reg;
logic [31:0]  c_wval_reg;
logic [2:0]   c_kind_reg;

wire logic ms_busy = ms_state_reg != MS_IDLE;
wire logic cs_busy = cs_state_reg != CS_IDLE;
// nothing after the walker holds a chain: the walker's fault and its one write wait for this,
// so both come where a one-chain-at-a-time device would make them
wire logic back_idle = !ms_busy && !cs_busy;
// a fault raises NEEDS_RESET (virtio 1.2 §2.1.2), whichever stage takes it
wire logic raise_needs_reset = MUTANT != MUT_NO_NEEDS_RESET;  // mutant MUT_NO_NEEDS_RESET

// the fault register's layout: {iova, 38'd0, xlate, write, asid, errno, vq}; the ASID and
// direction only for a translation fault (0xff and 0 otherwise)
function automatic logic [127:0] fault_record(input logic [63:0] iova, input logic xlate,
                                              input logic write, input logic [7:0] asid,
                                              input logic [7:0] errno, input logic [QW-1:0] vq);
    return {iova, 38'd0, xlate, write, asid, errno, 8'(vq)};
endfunction

// ---------------------------------------------------------------------------------------
// The AXI master: walker port (ID 0), completion port (ID 1), DMA mover (ID 2)
// ---------------------------------------------------------------------------------------
localparam int NM = 3;
localparam int PM_WALK = 0;
localparam int PM_DONE = 1;
localparam int PM_MOVE = 2;
logic [NM*ADDR_W-1:0] am_araddr, am_awaddr;
logic [NM*8-1:0]      am_arlen, am_awlen;
logic [NM*24-1:0]     am_aruser, am_awuser;
logic [NM-1:0]        am_arvalid, am_arready, am_rvalid, am_rready;
logic [NM-1:0]        am_awvalid, am_awready, am_wvalid, am_wready, am_wlast;
logic [NM-1:0]        am_bvalid, am_bready;
logic [NM*DATA_W-1:0] am_wdata;
logic [NM*BYTES-1:0]  am_wstrb;
logic [DATA_W-1:0]    am_rdata;
logic [1:0]           am_rresp, am_bresp;
logic                 am_rlast;

// AXI user sideband {kind[2:0], asid[7:0], vq[7:0]}: which VQ, through which ASID and for
// which ring area or buffer each access is (kind as vdpa_model.dma.AccessKind: DESC 0, AVAIL 1,
// USED 2, INDIRECT 3, BUFFER 4). Not needed by memory; it lets a checker verify every access
// against the ASID its group is bound to.
localparam logic [2:0] KIND_BUFFER = 3'd4;
logic [2:0]   w_kind;
always_comb begin
    case (e_ret_reg)
        E_AVAIL_EVENT: w_kind = 3'd2;
        E_DESC_CHK: w_kind = e_ind_reg ? 3'd3 : 3'd0;
        default: w_kind = 3'd1;
    endcase
end
logic [7:0]   wp_asid, cp_asid;
wire logic [23:0] w_user = {5'd0, w_kind, wp_asid, 8'(e_vq_reg)};
wire logic [23:0] c_user = {5'd0, c_kind_reg, cp_asid, 8'(cs_vq_reg)};
wire logic [23:0] mv_user = {5'd0, KIND_BUFFER, ms_asid_reg, 8'(ms_vq_reg)};
assign am_aruser = {mv_user, c_user, w_user};
assign am_awuser = {mv_user, c_user, w_user};

vdpa_axi_arb #(
    .NM(NM),
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .ID_W(ID_W),
    .USER_W(24),
    .MUTANT(MUTANT)
) axi_arb_inst (
    .clk(clk),
    .rst(rst),
    .s_araddr(am_araddr), .s_arlen(am_arlen), .s_aruser(am_aruser),
    .s_arvalid(am_arvalid), .s_arready(am_arready),
    .s_rdata(am_rdata), .s_rresp(am_rresp), .s_rlast(am_rlast),
    .s_rvalid(am_rvalid), .s_rready(am_rready),
    .s_awaddr(am_awaddr), .s_awlen(am_awlen), .s_awuser(am_awuser),
    .s_awvalid(am_awvalid), .s_awready(am_awready),
    .s_wdata(am_wdata), .s_wstrb(am_wstrb), .s_wlast(am_wlast),
    .s_wvalid(am_wvalid), .s_wready(am_wready),
    .s_bresp(am_bresp), .s_bvalid(am_bvalid), .s_bready(am_bready),
    .m_axi_awid(m_axi_awid), .m_axi_awaddr(m_axi_awaddr), .m_axi_awlen(m_axi_awlen),
    .m_axi_awsize(m_axi_awsize), .m_axi_awburst(m_axi_awburst), .m_axi_awprot(m_axi_awprot),
    .m_axi_awuser(m_axi_awuser), .m_axi_awvalid(m_axi_awvalid), .m_axi_awready(m_axi_awready),
    .m_axi_wdata(m_axi_wdata), .m_axi_wstrb(m_axi_wstrb), .m_axi_wlast(m_axi_wlast),
    .m_axi_wvalid(m_axi_wvalid), .m_axi_wready(m_axi_wready),
    .m_axi_bid(m_axi_bid), .m_axi_bresp(m_axi_bresp), .m_axi_bvalid(m_axi_bvalid),
    .m_axi_bready(m_axi_bready),
    .m_axi_arid(m_axi_arid), .m_axi_araddr(m_axi_araddr), .m_axi_arlen(m_axi_arlen),
    .m_axi_arsize(m_axi_arsize), .m_axi_arburst(m_axi_arburst), .m_axi_arprot(m_axi_arprot),
    .m_axi_aruser(m_axi_aruser), .m_axi_arvalid(m_axi_arvalid), .m_axi_arready(m_axi_arready),
    .m_axi_rid(m_axi_rid), .m_axi_rdata(m_axi_rdata), .m_axi_rresp(m_axi_rresp),
    .m_axi_rlast(m_axi_rlast), .m_axi_rvalid(m_axi_rvalid), .m_axi_rready(m_axi_rready)
);

assign m_axis_tx_tdest = 8'(ms_vq_reg);

assign fault_valid = fault_valid_reg;
assign fault_data = fault_data_reg;
// ---------------------------------------------------------------------------------------
// VQ command unit state
// ---------------------------------------------------------------------------------------
typedef enum logic [2:0] {V_IDLE, V_CLEAR, V_DRAIN_ONE, V_DRAIN_ALL, V_DONE} vstate_t;
vstate_t      v_state_reg;
logic [7:0]   v_op_reg;
logic [QW-1:0] v_vq_reg;
logic [2:0]   v_target_reg;       // state to enter after draining one VQ
logic [IW:0]  v_clr_reg, v_clr_end_reg;
logic [7:0]   v_status_reg;
logic [127:0] v_data_reg;
logic         v_done_reg;
// the engine must not start a chain on a VQ a command is about to take out of RDY
wire logic blk_all = v_state_reg == V_DRAIN_ALL;
wire logic blk_one = v_state_reg == V_DRAIN_ONE;

assign cmd_busy = v_state_reg != V_IDLE;
assign done_valid = v_done_reg;
assign done_status = v_status_reg;
assign done_data = v_data_reg;

function automatic logic is_pow2(input logic [31:0] v);
    return v != 0 && (v & (v - 1)) == 0;
endfunction

// ---------------------------------------------------------------------------------------
// TX scheduling: round robin over odd VQs with a pending kick that are RDY
// ---------------------------------------------------------------------------------------
logic         pick_found;
logic [QW-1:0] pick_vq;
logic [QW-1:0] rr_reg;
always_comb begin
    pick_found = 1'b0;
    pick_vq = '0;
    for (int k = NVQ; k >= 1; k--) begin
        // scan from rr_reg + 1 upward, last assignment wins, so iterate downward
        if (q_pending[QW'(32'(rr_reg) + k)] && q_state[QW'(32'(rr_reg) + k)] == VQS_RDY &&
                (QW'(32'(rr_reg) + k) & 1) == 1 && !blk_all &&
                !(blk_one && v_vq_reg == QW'(32'(rr_reg) + k))) begin
            pick_found = 1'b1;
            pick_vq = QW'(32'(rr_reg) + k);
        end
    end
end

assign eng_busy = e_state_reg != E_IDLE || !back_idle;

// the walker may start a chain: PIPELINE lets it start while later stages hold chains
wire logic walk_free = PIPELINE != 0 || back_idle;

// quiescent: nothing in flight, no held frame the engine would act on (the buffer offers one
// if there is any), no kick the scheduler would act on
assign dp_idle = e_state_reg == E_IDLE && back_idle &&
                 !(rxb_full && (rx_vq_bad || (driver_ok && rx_vq_ok))) &&
                 !(driver_ok && pick_found) && !rxb_receiving;

// a received frame waits in the buffer until its queue is RDY and has a buffer; it is offered
// on arrival and, once parked (no buffer: tried), again after each kick of that queue, while
// frames for other queues pass it (the buffer offers the oldest frame the engine would act on,
// per queue in order); the wire waits only when every slot holds a frame.
// A frame for a queue that cannot take it without a reset (not a receive queue, in ERR, or
// without an object) is dropped at once, so it cannot hold a slot for the other queues; so is
// every frame while DRIVER_OK is clear (before the first DRIVER_OK and after a reset there is
// no driver to deliver to: holding it would stall the wire until the next driver and hand it
// a frame from before its time).
// Per VQ, for the buffer to choose which frame to offer (a tdest >= NVQ is always bad):
logic [NVQ-1:0] rxq_bad;     // a frame for it is dropped
logic [NVQ-1:0] rxq_open;    // it takes a frame now if it has a buffer
always_comb begin
    for (int q = 0; q < NVQ; q++) begin
        rxq_bad[q] = !driver_ok || (q & 1) == 1 || q_state[q] == VQS_ERR || q_state[q] == VQS_NONE;
        rxq_open[q] = !rxq_bad[q] && q_state[q] == VQS_RDY && !blk_all &&
                      !(blk_one && 32'(v_vq_reg) == q);
        rxb_q_ready[q] = rxq_bad[q] || rxq_open[q];
        rxb_q_wake[q] = rxq_bad[q] || (rxq_open[q] && q_pending[q]);
    end
end
// the offered frame is the walker's from E_START until it is back in E_IDLE; the walker then
// claims it for the move stage (which releases its slot once written) or takes it (dropped)
assign rxb_hold = e_rx_reg && e_state_reg != E_IDLE;
wire logic rx_vq_bad = 32'(rxb_vq) >= NVQ || rxq_bad[rxb_vq[QW-1:0]];
wire logic rx_vq_ok = !rx_vq_bad && rxq_open[rxb_vq[QW-1:0]] &&
                      (rxb_fresh || q_pending[rxb_vq[QW-1:0]]);
// after an RX chain a kicked TX queue goes first: with several slots a frame is nearly always
// ready, and line-rate RX would starve TX; the frame waits in its slot. With one slot a frame
// that waits stalls the wire, so RX keeps its priority there
wire logic rx_yield = RX_SLOTS > 1 && e_rx_reg && pick_found;

wire logic [16:0] e_size = q_size[e_vq_reg];
wire logic [IW-1:0] ift_idx = IW'(32'(e_vq_reg) * IFT_WORDS + 32'(e_head_reg >> 6));
wire logic [IW-1:0] ms_ift_idx = IW'(32'(ms_vq_reg) * IFT_WORDS + 32'(ms_head_reg >> 6));
wire logic [IW-1:0] cs_ift_idx = IW'(32'(cs_vq_reg) * IFT_WORDS + 32'(cs_head_reg >> 6));
// the walker's last_avail and used index: the context's, plus the chains of its queue the
// later stages hold and have not committed (a one-chain-at-a-time device would have completed
// them by now)
wire logic [15:0] w_ahead = 16'(ms_busy && ms_vq_reg == e_vq_reg) +
                            16'(cs_busy && cs_vq_reg == e_vq_reg && !cs_committed_reg);
wire logic [15:0] w_avail = q_avail[e_vq_reg] + w_ahead;
wire logic [15:0] w_used = q_used[e_vq_reg] + w_ahead;

// RX byte stream: virtio-net header (zeros, num_buffers = 1 when 12 bytes) then the frame
function automatic logic [7:0] rx_byte(input logic [31:0] p, input logic [4:0] hl, input logic [7:0] fb);
    if (p < 32'(hl)) begin
        return (hl == 5'd12 && p == 32'd10 && MUTANT != MUT_RX_NUM_BUFFERS_ZERO) ? 8'd1 : 8'd0;  // mutant MUT_RX_NUM_BUFFERS_ZERO
    end
    return fb;
endfunction
// the RX byte stream the mover writes: lane j of rx_src holds stream byte mv_src_pos + j
logic [31:0]       mv_src_pos;
logic [DATA_W-1:0] rx_src;
// frame byte under lane 0 of the beat (the read port returns one beat's worth from there)
assign rxb_rd_base = mv_src_pos - 32'(hdr_len);
always_comb begin
    for (int j = 0; j < BYTES; j++) begin
        rx_src[8*j +: 8] = rx_byte(mv_src_pos + 32'(j), hdr_len, rxb_rd_data[8*j +: 8]);
    end
end

// ---------------------------------------------------------------------------------------
// Translation requests: the walker's buffer pages and ring items, the completion writer's
// ring items; one request outstanding at the IOTLB, its answer goes back to who asked
// ---------------------------------------------------------------------------------------
logic        wp_tr_valid, cp_tr_valid;
logic [7:0]  wp_tr_group, cp_tr_group;
logic [63:0] wp_tr_iova, cp_tr_iova;
logic [31:0] wp_tr_len, cp_tr_len;
logic        wp_tr_write, cp_tr_write;
logic        tr_owner_c_reg;      // the answer awaited is the completion port's
// the walker: a buffer page in E_BUF_XL, else its port's ring item
wire logic w_tr_buf = e_state_reg == E_BUF_XL;
wire logic w_tr_valid = w_tr_buf || wp_tr_valid;
// the completion writer first: it holds a chain that has moved
wire logic tr_grant_c = cp_tr_valid;
assign tr_req_valid = w_tr_valid || cp_tr_valid;
assign tr_req_group = tr_grant_c ? cp_tr_group : (w_tr_buf ? q_dgroup[e_vq_reg] : wp_tr_group);
assign tr_req_iova = tr_grant_c ? cp_tr_iova : (w_tr_buf ? x_iova_reg : wp_tr_iova);
assign tr_req_len = tr_grant_c ? cp_tr_len : (w_tr_buf ? x_left_reg : wp_tr_len);
assign tr_req_write = tr_grant_c ? cp_tr_write : (w_tr_buf ? e_rx_reg : wp_tr_write);
wire logic w_tr_ready = tr_req_ready && !tr_grant_c;
wire logic c_tr_ready = tr_req_ready && tr_grant_c;
wire logic w_tr_resp = tr_resp_valid && !tr_owner_c_reg;
wire logic c_tr_resp = tr_resp_valid && tr_owner_c_reg;
always_ff @(posedge clk) begin
    if (tr_req_valid && tr_req_ready) begin
        tr_owner_c_reg <= tr_grant_c;
    end
    if (rst) begin
        tr_owner_c_reg <= 1'b0;
    end
end

// ---------------------------------------------------------------------------------------
// The walker's ring-item port: avail index and entries, descriptors, avail_event, and the
// completion's items checked before any data moves
// ---------------------------------------------------------------------------------------
logic         wp_done, wp_fault, wp_fault_xlate;
logic [7:0]   wp_fault_asid;
logic [127:0] wp_rdata;
wire logic [15:0] m_rshift = wp_rdata[15:0];
wire logic [127:0] m_rbuf_reg = wp_rdata;

vdpa_ring_port #(
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .CACHE_SETS(NVQ),
    // its driver-area reads, descriptor table, device-area probes and writes, an indirect table
    .CACHE_ENTRIES(4),
    .MUTANT(MUTANT)
) walk_port_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(e_state_reg == E_PORT),
    .req_set(e_vq_reg),
    .req_group(m_group_reg),
    .req_iova(m_iova_reg),
    .req_len(m_len_reg),
    .req_write(m_write_reg),
    .req_probe(m_probe_reg),
    .req_wdata(m_wval_reg),
    .done(wp_done),
    .fault(wp_fault),
    .fault_xlate(wp_fault_xlate),
    .fault_asid(wp_fault_asid),
    .rdata(wp_rdata),
    .asid(wp_asid),
    .tr_req_valid(wp_tr_valid),
    .tr_req_ready(w_tr_ready),
    .tr_req_group(wp_tr_group),
    .tr_req_iova(wp_tr_iova),
    .tr_req_len(wp_tr_len),
    .tr_req_write(wp_tr_write),
    .tr_resp_valid(w_tr_resp),
    .tr_resp_ok(tr_resp_ok),
    .tr_resp_pa(tr_resp_pa),
    .tr_resp_len(tr_resp_len),
    .tr_resp_asid(tr_resp_asid),
    .flush(tr_flush),
    .axi_awaddr(am_awaddr[PM_WALK*ADDR_W +: ADDR_W]),
    .axi_awlen(am_awlen[PM_WALK*8 +: 8]),
    .axi_awvalid(am_awvalid[PM_WALK]),
    .axi_awready(am_awready[PM_WALK]),
    .axi_wdata(am_wdata[PM_WALK*DATA_W +: DATA_W]),
    .axi_wstrb(am_wstrb[PM_WALK*BYTES +: BYTES]),
    .axi_wlast(am_wlast[PM_WALK]),
    .axi_wvalid(am_wvalid[PM_WALK]),
    .axi_wready(am_wready[PM_WALK]),
    .axi_bresp(am_bresp),
    .axi_bvalid(am_bvalid[PM_WALK]),
    .axi_bready(am_bready[PM_WALK]),
    .axi_araddr(am_araddr[PM_WALK*ADDR_W +: ADDR_W]),
    .axi_arlen(am_arlen[PM_WALK*8 +: 8]),
    .axi_arvalid(am_arvalid[PM_WALK]),
    .axi_arready(am_arready[PM_WALK]),
    .axi_rdata(am_rdata),
    .axi_rresp(am_rresp),
    .axi_rlast(am_rlast),
    .axi_rvalid(am_rvalid[PM_WALK]),
    .axi_rready(am_rready[PM_WALK])
);

// avail.ring[last_avail % size]
wire logic [63:0] avail_entry = avail_entry_iova(q_drv[e_vq_reg], e_size, w_avail);

// Avail entries read ahead: an entry read fetches with it the entries after it that the driver
// has already published (below the avail.idx last read, at most 8, not past the ring's end),
// so the next chains of the queue take their heads without a bus access. Published entries do
// not change until the device consumes them (virtio 1.2 §2.7.13), so this is what a serial
// device reads one at a time. The entries are dropped whenever anything could make them stale
// or wrong: any VQ command (new rings, indices), any IOTLB command (tr_flush: a later entry's
// page may be unmapped, and then the serial device would fault on it), a fault. A read ahead
// that faults (a later entry's page not mapped, a bus error) is retried as the one entry
// needed, so a fault is reported where a serial device reports it.
localparam int PF_ENTRIES = 8;
// per VQ, so queues served in turn each keep theirs
logic [NVQ-1:0] pf_valid_reg;
logic [15:0]  pf_base_reg[NVQ];    // avail index of the first entry held
logic [3:0]   pf_cnt_reg[NVQ];     // entries held
logic [127:0] pf_data_reg[NVQ];    // entry k in bits [16k +: 16]
logic         e_pf_reg;            // this chain's head came from the entries read ahead
logic [15:0]  e_pf_head_reg;
logic [3:0]   e_pf_n_reg;          // entries the head's read asks for
wire logic [15:0] pf_off = w_avail - pf_base_reg[e_vq_reg];
wire logic        pf_hit = pf_valid_reg[e_vq_reg] && pf_off < 16'(pf_cnt_reg[e_vq_reg]);
wire logic [15:0] pf_head = pf_data_reg[e_vq_reg][16 * pf_off[2:0] +: 16];
// the head of the chain being walked: read ahead, or just read
wire logic [15:0] w_head = e_pf_reg ? e_pf_head_reg : m_rshift;
// entries to read from w_avail when the driver has published up to `seen`
function automatic logic [3:0] pf_span(input logic [15:0] seen, input logic [15:0] from,
                                      input logic [16:0] size);
    logic [16:0] avail_n, ring_n;
    avail_n = 17'(16'(seen - from));
    ring_n = size - 17'(from & 16'(size - 17'd1));
    if (avail_n > ring_n) begin
        avail_n = ring_n;
    end
    return avail_n > 17'(PF_ENTRIES) ? 4'(PF_ENTRIES) : 4'(avail_n);
endfunction
// buffers the driver has made available, u16 arithmetic (virtio 1.2 §2.7.6)
wire logic [15:0] avail_delta = m_rshift - w_avail;

// ---------------------------------------------------------------------------------------
// DMA mover: the move stage's chain data over its translated segments (the walker-to-mover
// seam)
// ---------------------------------------------------------------------------------------
logic [SW-1:0] mv_seg_idx;
logic          mv_done_valid, mv_fault;
logic [31:0]   mv_moved;
logic          mv_req_ready;
logic          uw_req_ready;       // the completion writer is idle: it takes a moved chain
// E_MOVE hands the chain over when the move stage is free: RX the header and frame (a frame
// larger than the chain's capacity is dropped instead, by the walker); TX the chain, or
// nothing for a chain shorter than the header or longer than a frame (completed without
// transmitting, dropped)
wire logic [31:0] rx_xfer_len = 32'(hdr_len) + 32'(rxb_len);
wire logic        rx_too_big = rx_xfer_len > total_reg;
wire logic        tx_dropped = total_reg < 32'(hdr_len) || total_reg - 32'(hdr_len) > TX_MAX_FRAME;
// the chain's queue went to ERR while it waited (a later stage faulted on a chain before it)
wire logic        w_abandon = q_state[e_vq_reg] == VQS_ERR;
// a receive chain does not start writing while the completion of its queue's previous chain
// may still fault: a one-chain-at-a-time device would never write it then (a transmit chain
// only reads, and its frame's end waits instead: tx_hold)
wire logic        rx_after_done = !(e_rx_reg && cs_busy && cs_vq_reg == e_vq_reg);
wire logic        hand_off = e_state_reg == E_MOVE && !(e_rx_reg && rx_too_big) && !w_abandon &&
                             ms_state_reg == MS_IDLE && mv_req_ready && rx_after_done;
wire logic [31:0] mv_req_len = e_rx_reg ? rx_xfer_len : (tx_dropped ? 32'd0 : total_reg);
// the mover reads the bank it was handed: the walker's in the cycle of the hand-off
wire logic        mv_bank = ms_busy ? ms_bank_reg : w_bank_reg;
wire logic [SW:0] mv_seg = {mv_bank, mv_seg_idx};
// the moved chain goes to the completion stage, or is dropped if its queue went to ERR while
// it moved (the completion of the chain before it faulted)
wire logic        ms_drop = q_state[ms_vq_reg] == VQS_ERR;
wire logic        mv_done_ready = ms_drop || uw_req_ready;
// a transmitted frame's last beat waits while the completion of its queue's previous chain
// may still fault, and leaves with the abort flag (the receiver discards it) if it did
logic              mv_tvalid, mv_tready, mv_tlast, mv_tuser;
wire logic         tx_hold = mv_tlast && cs_busy && cs_vq_reg == ms_vq_reg;
assign m_axis_tx_tvalid = mv_tvalid && !tx_hold;
assign mv_tready = m_axis_tx_tready && !tx_hold;
assign m_axis_tx_tlast = mv_tlast;
assign m_axis_tx_tuser = mv_tuser || (mv_tlast && ms_drop);
// the mover's bus-error flag: every mover fault is EIO, reported from its fault pulse
/* verilator lint_off UNUSEDSIGNAL */
logic          mv_busy, mv_err_set;
/* verilator lint_on UNUSEDSIGNAL */

vdpa_dma_mover #(
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .MAX_SEGS(MAX_SEGS)
) mover_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(hand_off),
    .req_ready(mv_req_ready),
    .req_rx(e_rx_reg),
    .req_len(mv_req_len),
    .seg_idx(mv_seg_idx),
    .seg_pa(seg_pa[mv_seg]),
    .seg_len(seg_len[mv_seg]),
    .src_pos(mv_src_pos),
    .src_data(rx_src),
    .done_valid(mv_done_valid),
    .done_ready(mv_done_ready),
    .moved(mv_moved),
    .err_set(mv_err_set),
    .fault(mv_fault),
    .busy(mv_busy),
    .axi_awaddr(am_awaddr[PM_MOVE*ADDR_W +: ADDR_W]),
    .axi_awlen(am_awlen[PM_MOVE*8 +: 8]),
    .axi_awvalid(am_awvalid[PM_MOVE]),
    .axi_awready(am_awready[PM_MOVE]),
    .axi_wdata(am_wdata[PM_MOVE*DATA_W +: DATA_W]),
    .axi_wstrb(am_wstrb[PM_MOVE*BYTES +: BYTES]),
    .axi_wlast(am_wlast[PM_MOVE]),
    .axi_wvalid(am_wvalid[PM_MOVE]),
    .axi_wready(am_wready[PM_MOVE]),
    .axi_bresp(am_bresp),
    .axi_bvalid(am_bvalid[PM_MOVE]),
    .axi_bready(am_bready[PM_MOVE]),
    .axi_araddr(am_araddr[PM_MOVE*ADDR_W +: ADDR_W]),
    .axi_arlen(am_arlen[PM_MOVE*8 +: 8]),
    .axi_arvalid(am_arvalid[PM_MOVE]),
    .axi_arready(am_arready[PM_MOVE]),
    .axi_rdata(am_rdata),
    .axi_rresp(am_rresp),
    .axi_rlast(am_rlast),
    .axi_rvalid(am_rvalid[PM_MOVE]),
    .axi_rready(am_rready[PM_MOVE]),
    .m_axis_tdata(m_axis_tx_tdata),
    .m_axis_tkeep(m_axis_tx_tkeep),
    .m_axis_tvalid(mv_tvalid),
    .m_axis_tready(mv_tready),
    .m_axis_tlast(mv_tlast),
    .m_axis_tuser(mv_tuser)
);

// ---------------------------------------------------------------------------------------
// Completion writer: used element, used.idx, notification, over its own ring-item port
// ---------------------------------------------------------------------------------------
// the data has moved (TX: the frame's last stream beat accepted)
wire logic uw_req_valid = mv_done_valid && !ms_drop;
// the queue completed: the move stage's at the request (the writer latches the new used index
// then), the completion stage's after
wire logic [QW-1:0] uw_vq = cs_busy ? cs_vq_reg : ms_vq_reg;
// the port is the writer's again when the completion stage is back in CS_USED
wire logic uw_port_free = cs_state_reg == CS_USED;
logic         uw_item_valid;
logic [7:0]   uw_item_group;
logic [63:0]  uw_item_iova;
logic [4:0]   uw_item_len;
logic         uw_item_write;
logic [31:0]  uw_item_wdata;
logic [2:0]   uw_item_kind;
logic         uw_commit;
logic [15:0]  uw_new_used;
logic         uw_done_valid;
logic         cp_done, cp_fault, cp_fault_xlate;
logic [7:0]   cp_fault_asid;
logic [127:0] cp_rdata;
// where the writer would complete into: the walker checks its own chain's items instead
// (w_used), from the same layout (vdpa_split_ring_pkg)
/* verilator lint_off UNUSEDSIGNAL */
logic [63:0]  uw_elem_iova, uw_idx_iova;
wire logic    unused_cp = ^cp_rdata[127:16];
/* verilator lint_on UNUSEDSIGNAL */

vdpa_used_writer #(
    .MUTANT(MUTANT)
) used_writer_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(uw_req_valid),
    .req_ready(uw_req_ready),
    .req_head(ms_head_reg),
    .req_rx(ms_rx_reg),
    .req_written(mv_moved),
    .req_vq(8'(ms_vq_reg)),
    .ctx_drv(q_drv[uw_vq]),
    .ctx_dev(q_dev[uw_vq]),
    .ctx_size(q_size[uw_vq]),
    .ctx_used(q_used[uw_vq]),
    .ctx_group(q_rgroup[uw_vq]),
    .event_idx(feat_event_idx),
    .elem_iova(uw_elem_iova),
    .idx_iova(uw_idx_iova),
    .item_valid(uw_item_valid),
    .item_ready(uw_port_free),
    .item_group(uw_item_group),
    .item_iova(uw_item_iova),
    .item_len(uw_item_len),
    .item_write(uw_item_write),
    .item_wdata(uw_item_wdata),
    .item_kind(uw_item_kind),
    .item_rdata(cp_rdata[15:0]),
    .cancel(cs_state_reg == CS_FAULT),
    .commit(uw_commit),
    .new_used(uw_new_used),
    .done_valid(uw_done_valid),
    .done_ready(uw_port_free),
    .irq_valid(irq_valid),
    .irq_vq(irq_vq)
);

vdpa_ring_port #(
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .CACHE_SETS(NVQ),
    // its device-area writes and driver-area (notification) reads
    .CACHE_ENTRIES(2),
    .MUTANT(MUTANT)
) done_port_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(cs_state_reg == CS_PORT),
    .req_set(cs_vq_reg),
    .req_group(c_group_reg),
    .req_iova(c_iova_reg),
    .req_len(c_len_reg),
    .req_write(c_write_reg),
    .req_probe(1'b0),
    .req_wdata(c_wval_reg),
    .done(cp_done),
    .fault(cp_fault),
    .fault_xlate(cp_fault_xlate),
    .fault_asid(cp_fault_asid),
    .rdata(cp_rdata),
    .asid(cp_asid),
    .tr_req_valid(cp_tr_valid),
    .tr_req_ready(c_tr_ready),
    .tr_req_group(cp_tr_group),
    .tr_req_iova(cp_tr_iova),
    .tr_req_len(cp_tr_len),
    .tr_req_write(cp_tr_write),
    .tr_resp_valid(c_tr_resp),
    .tr_resp_ok(tr_resp_ok),
    .tr_resp_pa(tr_resp_pa),
    .tr_resp_len(tr_resp_len),
    .tr_resp_asid(tr_resp_asid),
    .flush(tr_flush),
    .axi_awaddr(am_awaddr[PM_DONE*ADDR_W +: ADDR_W]),
    .axi_awlen(am_awlen[PM_DONE*8 +: 8]),
    .axi_awvalid(am_awvalid[PM_DONE]),
    .axi_awready(am_awready[PM_DONE]),
    .axi_wdata(am_wdata[PM_DONE*DATA_W +: DATA_W]),
    .axi_wstrb(am_wstrb[PM_DONE*BYTES +: BYTES]),
    .axi_wlast(am_wlast[PM_DONE]),
    .axi_wvalid(am_wvalid[PM_DONE]),
    .axi_wready(am_wready[PM_DONE]),
    .axi_bresp(am_bresp),
    .axi_bvalid(am_bvalid[PM_DONE]),
    .axi_bready(am_bready[PM_DONE]),
    .axi_araddr(am_araddr[PM_DONE*ADDR_W +: ADDR_W]),
    .axi_arlen(am_arlen[PM_DONE*8 +: 8]),
    .axi_arvalid(am_arvalid[PM_DONE]),
    .axi_arready(am_arready[PM_DONE]),
    .axi_rdata(am_rdata),
    .axi_rresp(am_rresp),
    .axi_rlast(am_rlast),
    .axi_rvalid(am_rvalid[PM_DONE]),
    .axi_rready(am_rready[PM_DONE])
);

always_ff @(posedge clk) begin
    // received frames dropped this cycle by each stage, and a reset of the count
    logic drop_walk, drop_move, drop_done, drops_clear;
    drop_walk = 1'b0;
    drop_move = 1'b0;
    drop_done = 1'b0;
    drops_clear = 1'b0;
    fault_valid_reg <= 1'b0;
    v_done_reg <= 1'b0;
    rxb_take <= 1'b0;
    rxb_tried <= 1'b0;
    rxb_claim <= 1'b0;
    rxb_free <= 1'b0;
    rxb_flush <= 1'b0;

    if (db_valid && 32'(db_vq) < NVQ) begin
        q_pending[db_vq[QW-1:0]] <= 1'b1;
    end

    // ===================================================================================
    // VQ command unit
    // ===================================================================================
    case (v_state_reg)
        V_IDLE: begin
            if (cmd_valid) begin
                v_op_reg <= cmd_op;
                v_vq_reg <= a_vq;
                v_status_reg <= ST_OK;
                v_data_reg <= '0;
                v_state_reg <= V_DONE;
                case (cmd_op)
                    OP_CREATE_VQ: begin
                        if (a0 >= NVQ || !is_pow2(a1) || a1 > MAX_QSIZE ||
                                32'(a9[7:0]) >= NGROUPS || 32'(a9[15:8]) >= NGROUPS) begin
                            v_status_reg <= ST_BAD_PARAM;
                        end else if (q_state[a_vq] != VQS_NONE) begin
                            v_status_reg <= ST_EXISTS;
                        end else begin
                            q_state[a_vq] <= VQS_INIT;
                            q_size[a_vq] <= a1[16:0];
                            q_desc[a_vq] <= {a3, a2};
                            q_drv[a_vq] <= {a5, a4};
                            q_dev[a_vq] <= {a7, a6};
                            q_avail[a_vq] <= a8[15:0];
                            q_used[a_vq] <= a8[31:16];
                            q_dgroup[a_vq] <= a9[7:0];
                            q_rgroup[a_vq] <= a9[15:8];
                            q_errno[a_vq] <= '0;
                            q_pending[a_vq] <= 1'b0;
                            q_seen_ok[a_vq] <= 1'b0;
                            // creation cost: clear the VQ's in-flight table, 64 heads a cycle
                            v_clr_reg <= (IW+1)'(32'(a_vq) * IFT_WORDS);
                            v_clr_end_reg <= (IW+1)'(32'(a_vq) * IFT_WORDS + (a1 + 63) / 64);
                            v_state_reg <= V_CLEAR;
                        end
                    end
                    OP_MODIFY_VQ: begin
                        if (a0 >= NVQ || (a1[MOD_GROUPS] && (32'(a10[7:0]) >= NGROUPS || 32'(a10[15:8]) >= NGROUPS))) begin
                            v_status_reg <= ST_BAD_PARAM;
                        end else if (q_state[a_vq] == VQS_NONE || q_state[a_vq] == VQS_ERR) begin
                            v_status_reg <= ST_BAD_STATE;
                        end else if ((a1[MOD_ADDRS] || a1[MOD_AVAIL_IDX] || a1[MOD_USED_IDX] || a1[MOD_GROUPS]) &&
                                q_state[a_vq] != VQS_INIT && q_state[a_vq] != VQS_SUSPEND) begin
                            // mlx5_vnet.c: modifiable_virtqueue_fields
                            v_status_reg <= ST_BAD_STATE;
                        end else if (a1[MOD_STATE] &&
                                !((q_state[a_vq] == VQS_INIT && a2[2:0] == VQS_RDY) ||
                                  (q_state[a_vq] == VQS_RDY && a2[2:0] == VQS_SUSPEND) ||
                                  (q_state[a_vq] == VQS_SUSPEND && a2[2:0] == VQS_RDY))) begin
                            // mlx5_vnet.c: is_valid_state_change
                            v_status_reg <= ST_BAD_STATE;
                        end else begin
                            // new rings, indices or a restart: avail.idx is read afresh
                            q_seen_ok[a_vq] <= 1'b0;
                            if (a1[MOD_ADDRS]) begin
                                q_desc[a_vq] <= {a4, a3};
                                q_drv[a_vq] <= {a6, a5};
                                q_dev[a_vq] <= {a8, a7};
                            end
                            if (a1[MOD_AVAIL_IDX]) begin
                                q_avail[a_vq] <= a9[15:0];
                            end
                            if (a1[MOD_USED_IDX]) begin
                                q_used[a_vq] <= a9[31:16];
                            end
                            if (a1[MOD_GROUPS]) begin
                                q_dgroup[a_vq] <= a10[7:0];
                                q_rgroup[a_vq] <= a10[15:8];
                            end
                            if (a1[MOD_STATE]) begin
                                if (a2[2:0] == VQS_RDY) begin
                                    // look at the ring on entering RDY: kicks may have been missed
                                    q_state[a_vq] <= VQS_RDY;
                                    // mutant MUT_RESUME_DROPS_KICK: a resume re-arms the doorbell
                                    q_pending[a_vq] <= !(MUTANT == MUT_RESUME_DROPS_KICK &&
                                                         q_state[a_vq] == VQS_SUSPEND);
                                end else begin
                                    v_target_reg <= VQS_SUSPEND;
                                    v_state_reg <= V_DRAIN_ONE;
                                end
                            end
                        end
                    end
                    OP_QUERY_VQ: begin
                        if (a0 >= NVQ) begin
                            v_status_reg <= ST_BAD_PARAM;
                        end else begin
                            v_data_reg[31:0] <= {q_size[a_vq][15:0], 13'd0, q_state[a_vq]};
                            v_data_reg[63:32] <= {q_used[a_vq], q_avail[a_vq]};
                            v_data_reg[95:64] <= {24'd0, q_errno[a_vq]};
                            v_data_reg[127:96] <= {16'd0, q_rgroup[a_vq], q_dgroup[a_vq]};
                        end
                    end
                    OP_DESTROY_VQ: begin
                        if (a0 >= NVQ) begin
                            v_status_reg <= ST_BAD_PARAM;
                        end else if (q_state[a_vq] == VQS_NONE) begin
                            v_status_reg <= ST_BAD_STATE;
                        end else begin
                            v_target_reg <= VQS_NONE;
                            v_state_reg <= V_DRAIN_ONE;
                        end
                    end
                    OP_SUSPEND_ALL, OP_RESET: begin
                        v_state_reg <= V_DRAIN_ALL;
                    end
                    OP_RESUME_ALL: begin
                        for (int q = 0; q < NVQ; q++) begin
                            if (q_state[q] == VQS_SUSPEND) begin
                                q_state[q] <= VQS_RDY;
                                q_seen_ok[q] <= 1'b0;
                                q_pending[q] <= MUTANT != MUT_RESUME_DROPS_KICK;  // mutant MUT_RESUME_DROPS_KICK
                            end
                        end
                        v_data_reg[31:0] <= count_state(VQS_SUSPEND);
                    end
                    default: begin
                        v_status_reg <= ST_BAD_OPCODE;
                    end
                endcase
            end
        end
        V_CLEAR: begin
            ift[v_clr_reg[IW-1:0]] <= '0;
            v_clr_reg <= v_clr_reg + 1'b1;
            if (v_clr_reg + 1'b1 >= v_clr_end_reg) begin
                v_state_reg <= V_DONE;
            end
        end
        V_DRAIN_ONE: begin
            // suspend/destroy wait for the chain in flight on this VQ (mlx5_vdpa_suspend)
            if (q_state[v_vq_reg] == VQS_ERR && v_target_reg != VQS_NONE) begin
                // it faulted while draining: nothing leaves ERR but destroy
                v_status_reg <= ST_BAD_STATE;
                v_state_reg <= V_DONE;
            end else if (((e_state_reg == E_IDLE || e_vq_reg != v_vq_reg) &&
                        !(ms_busy && ms_vq_reg == v_vq_reg) && !(cs_busy && cs_vq_reg == v_vq_reg)) ||
                    (MUTANT == MUT_SUSPEND_NO_DRAIN && v_target_reg == VQS_SUSPEND)) begin  // mutant MUT_SUSPEND_NO_DRAIN
                q_state[v_vq_reg] <= v_target_reg;
                if (v_target_reg == VQS_NONE) begin
                    q_pending[v_vq_reg] <= 1'b0;
                end
                v_state_reg <= V_DONE;
            end
        end
        V_DRAIN_ALL: begin
            if ((e_state_reg == E_IDLE && back_idle) ||
                    (MUTANT == MUT_SUSPEND_NO_DRAIN && v_op_reg != OP_RESET)) begin  // mutant MUT_SUSPEND_NO_DRAIN
                if (v_op_reg == OP_RESET) begin
                    // the held received frames belong to the old device instance
                    rxb_flush <= 1'b1;
                    needs_reset_reg <= 1'b0;
                    drops_clear = 1'b1;
                    for (int q = 0; q < NVQ; q++) begin
                        // FLAGS bit 1 (KEEP_VQS): objects still in INIT survive, as mlx5 keeps
                        // untouched pre-created VQs (mlx5_vdpa_compat_reset, needs_vqs_reset)
                        if (!a0[1] || q_state[q] != VQS_INIT) begin
                            q_state[q] <= VQS_NONE;
                            q_pending[q] <= 1'b0;
                        end
                        q_seen_ok[q] <= 1'b0;
                    end
                end else begin
                    for (int q = 0; q < NVQ; q++) begin
                        if (q_state[q] == VQS_RDY) begin
                            q_state[q] <= VQS_SUSPEND;
                        end
                    end
                    v_data_reg[31:0] <= count_state(VQS_RDY);
                end
                v_state_reg <= V_DONE;
            end
        end
        default: begin
            v_done_reg <= 1'b1;
            v_state_reg <= V_IDLE;
        end
    endcase

    // ===================================================================================
    // Walker
    // ===================================================================================
    case (e_state_reg)
        E_IDLE: begin
            if (rxb_full && !rxb_take && rx_vq_bad) begin
                // no receive queue that could ever take it
                rxb_take <= 1'b1;
                drop_walk = 1'b1;
            end else if (!driver_ok || iotlb_hold || !walk_free) begin
                // no buffers are consumed before DRIVER_OK (virtio 1.2 §2.1), nor while a
                // mapping change waits for the data path to be between chains
            end else if (rxb_full && !rxb_take && rx_vq_ok && !rx_yield) begin
                e_vq_reg <= rxb_vq[QW-1:0];
                e_rx_reg <= 1'b1;
                e_state_reg <= E_START;
            end else if (pick_found) begin
                e_vq_reg <= pick_vq;
                rr_reg <= pick_vq;
                e_rx_reg <= 1'b0;
                e_state_reg <= E_START;
            end
        end
        E_START: begin
            // consume the kick now; one arriving from here on is kept and served again
            if (!(db_valid && db_vq == 16'(e_vq_reg))) begin
                q_pending[e_vq_reg] <= 1'b0;
            end
            e_rechecked_reg <= 1'b0;
            m_probe_reg <= 1'b0;
            f_errno_reg <= '0;
            seg_cnt_reg <= '0;
            seg_over_reg <= 1'b0;
            e_ind_reg <= 1'b0;
            e_count_reg <= '0;
            e_seen_write_reg <= 1'b0;
            total_reg <= '0;
            f_xlate_reg <= 1'b0;
            m_group_reg <= q_rgroup[e_vq_reg];
            m_len_reg <= 5'd2;
            m_write_reg <= 1'b0;
            e_pf_reg <= 1'b0;
            if (q_seen_ok[e_vq_reg] && q_seen[e_vq_reg] != w_avail) begin
                // an entry known from the last avail.idx read: straight to it (as E_AVAIL_CHK),
                // already read ahead or read now with the published ones after it
                if (!e_rx_reg) begin
                    q_pending[e_vq_reg] <= 1'b1;
                end
                e_pf_reg <= pf_hit;
                e_pf_head_reg <= pf_head;
                e_pf_n_reg <= pf_span(q_seen[e_vq_reg], w_avail, e_size);
                m_iova_reg <= avail_entry;
                m_len_reg <= {pf_span(q_seen[e_vq_reg], w_avail, e_size), 1'b0};
                e_ret_reg <= E_HEAD_CHK;
                e_state_reg <= pf_hit ? E_HEAD_CHK : E_PORT;
            end else begin
                // avail.idx (virtio 1.2 §2.7.6)
                m_iova_reg <= avail_idx_iova(q_drv[e_vq_reg]);
                e_ret_reg <= E_AVAIL_CHK;
                e_state_reg <= E_PORT;
            end
        end
        E_AVAIL_CHK: begin
            if (m_rshift[15:0] == w_avail) begin
                if (feat_event_idx && !e_rechecked_reg) begin
                    // publish avail_event = last_avail, then look once more (virtio 1.2
                    // §2.7.10); the walker's only write waits until the later stages are idle,
                    // so it is made only where a one-chain-at-a-time device would make it
                    if (back_idle) begin
                        e_rechecked_reg <= 1'b1;
                        m_group_reg <= q_rgroup[e_vq_reg];
                        m_iova_reg <= avail_event_iova(q_dev[e_vq_reg], e_size);
                        m_len_reg <= 5'd2;
                        m_write_reg <= 1'b1;
                        m_wval_reg <= {16'd0, w_avail};
                        e_ret_reg <= E_AVAIL_EVENT;
                        e_state_reg <= E_PORT;
                    end
                end else begin
                    // nothing to do; a received frame keeps waiting for a kick
                    rxb_tried <= e_rx_reg;
                    e_state_reg <= E_DONE;
                end
            end else if (17'(avail_delta) > e_size) begin
                // vhost_get_vq_desc: "Guest moved avail index from %u to %u"
                f_errno_reg <= FAULT_EFAULT;
                f_iova_reg <= 64'(m_rshift[15:0]);
                e_state_reg <= E_FAULT;
            end else begin
                if (!e_rx_reg) begin
                    q_pending[e_vq_reg] <= 1'b1;
                end
                q_seen[e_vq_reg] <= m_rshift;
                q_seen_ok[e_vq_reg] <= 1'b1;
                m_group_reg <= q_rgroup[e_vq_reg];
                m_iova_reg <= avail_entry;
                m_len_reg <= {pf_span(m_rshift, w_avail, e_size), 1'b0};
                m_write_reg <= 1'b0;
                e_pf_reg <= pf_hit;
                e_pf_head_reg <= pf_head;
                e_pf_n_reg <= pf_span(m_rshift, w_avail, e_size);
                e_ret_reg <= E_HEAD_CHK;
                e_state_reg <= pf_hit ? E_HEAD_CHK : E_PORT;
            end
        end
        E_AVAIL_EVENT: begin
            m_group_reg <= q_rgroup[e_vq_reg];
            m_iova_reg <= avail_idx_iova(q_drv[e_vq_reg]);
            m_len_reg <= 5'd2;
            m_write_reg <= 1'b0;
            e_ret_reg <= E_AVAIL_CHK;
            e_state_reg <= E_PORT;
        end
        E_HEAD_CHK: begin
            e_head_reg <= w_head;
            e_i_reg <= w_head;
            if (!e_pf_reg) begin
                // the entries read with this one are kept for the next chains
                pf_valid_reg[e_vq_reg] <= 1'b1;
                pf_base_reg[e_vq_reg] <= w_avail;
                pf_cnt_reg[e_vq_reg] <= e_pf_n_reg;
                pf_data_reg[e_vq_reg] <= m_rbuf_reg;
            end
            if (17'(w_head) >= e_size) begin
                // __vringh_get_head: "Guest says index %u > %u is available"
                f_errno_reg <= FAULT_EINVAL;
                f_iova_reg <= 64'(w_head);
                e_state_reg <= E_FAULT;
            end else begin
                e_state_reg <= E_HEAD;
            end
        end
        E_HEAD: begin
            if (ift[ift_idx][e_head_reg[5:0]]) begin
                // the driver exposed a head that is still in flight
                f_errno_reg <= FAULT_EINVAL;
                f_iova_reg <= 64'(e_head_reg);
                e_state_reg <= E_FAULT;
            end else begin
                ift[ift_idx][e_head_reg[5:0]] <= 1'b1;
                e_state_reg <= E_DESC_RD;
            end
        end
        E_DESC_RD: begin
            if (e_count_reg == (e_ind_reg ? e_ind_max_reg : e_size)) begin
                // vringh: "Descriptor loop" (bounded by the table it walks, T9)
                f_errno_reg <= FAULT_ELOOP;
                f_iova_reg <= 64'(e_i_reg);
                e_state_reg <= E_FAULT;
            end
            // descriptor tables: the main one through the ring group, indirect ones through
            // the data group (they are buffers the driver points to)
            m_group_reg <= (e_ind_reg && MUTANT != MUT_INDIRECT_VIA_RING_GROUP) ?  // mutant MUT_INDIRECT_VIA_RING_GROUP
                           q_dgroup[e_vq_reg] : q_rgroup[e_vq_reg];
            m_iova_reg <= desc_iova(e_ind_reg ? e_ind_base_reg : q_desc[e_vq_reg], e_i_reg);
            m_len_reg <= 5'd16;
            m_write_reg <= 1'b0;
            e_count_reg <= e_count_reg + 1'b1;
            e_ret_reg <= E_DESC_CHK;
            if (e_count_reg != (e_ind_reg ? e_ind_max_reg : e_size)) begin
                e_state_reg <= E_PORT;
            end
        end
        E_DESC_CHK: begin
            d_addr_reg <= m_rbuf_reg[63:0];
            d_flags_reg <= m_rbuf_reg[111:96];
            d_next_reg <= m_rbuf_reg[127:112];
            f_iova_reg <= 64'(e_i_reg);
            x_iova_reg <= m_rbuf_reg[63:0];
            x_left_reg <= m_rbuf_reg[95:64];
            if ((m_rbuf_reg[111:96] & DESC_F_INDIRECT) != 0) begin
                if (e_ind_reg || (m_rbuf_reg[111:96] & DESC_F_NEXT) != 0 ||
                        (m_rbuf_reg[67:64] != 4'd0 && MUTANT != MUT_INDIRECT_LEN_UNCHECKED) ||  // mutant MUT_INDIRECT_LEN_UNCHECKED
                        m_rbuf_reg[95:64] == 32'd0 || m_rbuf_reg[95:68] > 28'd65535) begin
                    // indirect in indirect, INDIRECT with NEXT (virtio 1.2 §2.7.5.3.1), length
                    // zero or not a multiple of 16 (move_to_indirect)
                    f_errno_reg <= FAULT_EINVAL;
                    e_state_reg <= E_FAULT;
                end else begin
                    e_ind_reg <= 1'b1;
                    e_ind_base_reg <= m_rbuf_reg[63:0];
                    e_ind_max_reg <= 17'(m_rbuf_reg[95:68]);
                    e_i_reg <= '0;
                    e_count_reg <= '0;
                    e_state_reg <= E_DESC_RD;
                end
            end else if ((m_rbuf_reg[111:96] & DESC_F_WRITE) != 0 && !e_rx_reg) begin
                // __vringh_iov: writable descriptor with no write iov (TX)
                f_errno_reg <= FAULT_EPROTO;
                e_state_reg <= E_FAULT;
            end else if ((m_rbuf_reg[111:96] & DESC_F_WRITE) == 0 && e_rx_reg) begin
                // readable after writable is EINVAL, readable on a receive queue EPROTO
                f_errno_reg <= e_seen_write_reg ? FAULT_EINVAL : FAULT_EPROTO;
                e_state_reg <= E_FAULT;
            end else if (m_rbuf_reg[63:0] + 64'(m_rbuf_reg[95:64]) < m_rbuf_reg[63:0] &&
                    m_rbuf_reg[63:0] + 64'(m_rbuf_reg[95:64]) != 64'd0) begin
                // buffer wraps the address space
                f_errno_reg <= FAULT_EINVAL;
                e_state_reg <= E_FAULT;
            end else begin
                if ((m_rbuf_reg[111:96] & DESC_F_WRITE) != 0) begin
                    e_seen_write_reg <= 1'b1;
                end
                total_reg <= total_reg + m_rbuf_reg[95:64];
                e_state_reg <= (m_rbuf_reg[95:64] == 0) ? E_NEXT : E_BUF_XL;
            end
        end
        E_BUF_XL: begin
            if (w_tr_ready) begin
                e_state_reg <= E_BUF_XLW;
            end
        end
        E_BUF_XLW: begin
            if (w_tr_resp) begin
                if (!tr_resp_ok) begin
                    f_errno_reg <= FAULT_EFAULT;
                    f_xlate_reg <= 1'b1;
                    f_asid_reg <= tr_resp_asid;
                    // the fault names the whole buffer, as the model's TranslationFault does
                    f_iova_reg <= d_addr_reg;
                    f_write_reg <= e_rx_reg;
                    e_state_reg <= E_FAULT;
                end else begin
                    // past MAX_SEGS the walk goes on validating; E2BIG is reported only
                    // for a chain that is otherwise well formed
                    if (32'(seg_cnt_reg) == MAX_SEGS) begin
                        seg_over_reg <= 1'b1;
                    end else begin
                        data_asid_reg <= tr_resp_asid;
                        seg_pa[{w_bank_reg, seg_cnt_reg[SW-1:0]}] <= tr_resp_pa;
                        seg_len[{w_bank_reg, seg_cnt_reg[SW-1:0]}] <= tr_resp_len;
                        seg_cnt_reg <= seg_cnt_reg + 1'b1;
                    end
                    x_iova_reg <= x_iova_reg + 64'(tr_resp_len);
                    x_left_reg <= x_left_reg - tr_resp_len;
                    e_state_reg <= (x_left_reg == tr_resp_len) ? E_NEXT : E_BUF_XL;
                end
            end
        end
        E_NEXT: begin
            if ((d_flags_reg & DESC_F_NEXT) != 0) begin
                if (17'(d_next_reg) >= (e_ind_reg ? e_ind_max_reg : e_size)) begin
                    // vringh: "Chained index %u > %u"
                    f_errno_reg <= FAULT_EINVAL;
                    f_iova_reg <= 64'(d_next_reg);
                    e_state_reg <= E_FAULT;
                end else begin
                    e_i_reg <= d_next_reg;
                    e_state_reg <= E_DESC_RD;
                end
            end else if (seg_over_reg) begin
                f_errno_reg <= FAULT_E2BIG;
                f_iova_reg <= 64'(e_head_reg);
                e_state_reg <= E_FAULT;
            end else begin
                // chain validated and translated; before any data moves, the used element
                // (8 bytes: id and len, one item as the model's check_completion translates
                // it, so a fault names the element) and used.idx it completes into must
                // translate for writing, so a chain whose completion would fault moves nothing
                // (docs/model.md)
                m_group_reg <= q_rgroup[e_vq_reg];
                m_iova_reg <= used_elem_iova(q_dev[e_vq_reg], e_size, w_used);
                m_len_reg <= 5'd8;
                m_write_reg <= 1'b1;
                m_probe_reg <= 1'b1;
                e_ret_reg <= E_PROBE_IDX;
                e_state_reg <= E_PORT;
            end
        end
        E_PROBE_IDX: begin
            m_iova_reg <= used_idx_iova(q_dev[e_vq_reg]);
            m_len_reg <= 5'd2;
            e_ret_reg <= E_MOVE;
            e_state_reg <= E_PORT;
        end
        E_MOVE: begin
            // hand the chain to the move stage once it is free (hand_off: the mover takes the
            // request in that cycle); a frame larger than the buffer is dropped here, the
            // buffer kept
            m_probe_reg <= 1'b0;
            if (w_abandon) begin
                // a later stage faulted on this queue's chain before this one: a serial device
                // would never have taken this head
                ift[ift_idx][e_head_reg[5:0]] <= 1'b0;
                e_state_reg <= E_DONE;
            end else if (e_rx_reg && rx_too_big) begin
                e_state_reg <= E_RX_DROP;
            end else if (hand_off) begin
                ms_vq_reg <= e_vq_reg;
                ms_rx_reg <= e_rx_reg;
                ms_head_reg <= e_head_reg;
                ms_bank_reg <= w_bank_reg;
                ms_asid_reg <= data_asid_reg;
                ms_frame_reg <= e_rx_reg;
                ms_slot_reg <= rxb_slot;
                rxb_claim <= e_rx_reg;
                w_bank_reg <= !w_bank_reg;
                ms_state_reg <= MS_XFER;
                e_state_reg <= E_DONE;
            end
        end
        E_RX_DROP: begin
            rxb_take <= 1'b1;
            drop_walk = 1'b1;
            ift[ift_idx][e_head_reg[5:0]] <= 1'b0;
            e_state_reg <= E_DONE;
        end
        E_FAULT: begin
            // reported once the later stages are idle, so faults and completions keep a
            // serial device's order; dropped if a later stage's fault put the queue in ERR
            // first. The VQ stops in ERR; others continue. An RX frame in hand is dropped.
            if (back_idle) begin
                if (w_abandon) begin
                    ift[ift_idx][e_head_reg[5:0]] <= 1'b0;
                end else begin
                    q_state[e_vq_reg] <= VQS_ERR;
                    q_errno[e_vq_reg] <= f_errno_reg;
                    q_pending[e_vq_reg] <= 1'b0;
                    q_seen_ok[e_vq_reg] <= 1'b0;
                    needs_reset_reg <= raise_needs_reset;
                    fault_valid_reg <= 1'b1;
                    fault_data_reg <= fault_record(f_iova_reg, f_xlate_reg, f_xlate_reg && f_write_reg,
                                                   f_xlate_reg ? f_asid_reg : 8'hff, f_errno_reg, e_vq_reg);
                end
                if (e_rx_reg) begin
                    rxb_take <= 1'b1;
                    drop_walk = 1'b1;
                end
                e_state_reg <= E_DONE;
            end
        end
        E_DONE: begin
            e_state_reg <= E_IDLE;
        end
        E_PORT: begin
            // the walker's ring-item port reads, writes or checks the item in m_*
            if (wp_fault && e_ret_reg == E_HEAD_CHK && m_len_reg != 5'd2) begin
                // a read ahead of avail entries faulted: read the one entry needed
                m_len_reg <= 5'd2;
                e_pf_n_reg <= 4'd1;
            end else if (wp_fault) begin
                if (wp_fault_xlate) begin
                    // the fault names the whole item, as the model's TranslationFault does
                    f_errno_reg <= FAULT_EFAULT;
                    f_xlate_reg <= 1'b1;
                    f_asid_reg <= wp_fault_asid;
                    f_iova_reg <= m_iova_reg;
                    f_write_reg <= m_write_reg;
                end else begin
                    f_errno_reg <= FAULT_EIO;
                end
                e_state_reg <= E_FAULT;
            end else if (wp_done) begin
                e_state_reg <= e_ret_reg;
            end
        end
        default: begin
            e_state_reg <= E_IDLE;
        end
    endcase

    // ===================================================================================
    // Move stage: the chain handed over moves (vdpa_dma_mover), then goes to completion
    // ===================================================================================
    case (ms_state_reg)
        MS_IDLE: begin
        end
        MS_XFER: begin
            // the mover reports a bus error as it takes it, and its end once the burst is over
            // (a TX frame under way closed with the abort flag)
            if (mv_fault) begin
                ms_state_reg <= MS_FAULT;
            end else if (mv_done_valid && mv_done_ready) begin
                rxb_free <= ms_frame_reg;
                ms_frame_reg <= 1'b0;
                if (ms_drop) begin
                    // its queue went to ERR on the chain before it: never completed
                    ift[ms_ift_idx][ms_head_reg[5:0]] <= 1'b0;
                    drop_move = ms_rx_reg;
                end else begin
                    cs_vq_reg <= ms_vq_reg;
                    cs_rx_reg <= ms_rx_reg;
                    cs_head_reg <= ms_head_reg;
                    cs_committed_reg <= 1'b0;
                    cs_state_reg <= CS_USED;
                end
                ms_state_reg <= MS_IDLE;
            end
        end
        MS_FAULT: begin
            // a bus error on the data: reported once the completion before it is done (a
            // serial device completes that chain first), dropped if that completion put the
            // queue in ERR. The VQ stops in ERR; a received frame being written is dropped.
            if (!cs_busy) begin
                if (!ms_drop) begin
                    q_state[ms_vq_reg] <= VQS_ERR;
                    q_errno[ms_vq_reg] <= FAULT_EIO;
                    q_pending[ms_vq_reg] <= 1'b0;
                    q_seen_ok[ms_vq_reg] <= 1'b0;
                    needs_reset_reg <= raise_needs_reset;
                    fault_valid_reg <= 1'b1;
                    fault_data_reg <= fault_record('0, 1'b0, 1'b0, 8'hff, FAULT_EIO, ms_vq_reg);
                end
                rxb_free <= ms_frame_reg;
                ms_frame_reg <= 1'b0;
                drop_move = ms_rx_reg;
                ms_state_reg <= MS_IDLE;
            end
        end
        default: begin
            ms_state_reg <= MS_IDLE;
        end
    endcase

    // ===================================================================================
    // Completion stage: used element, used.idx, notification (vdpa_used_writer over the
    // completion port)
    // ===================================================================================
    case (cs_state_reg)
        CS_IDLE: begin
        end
        CS_USED: begin
            if (uw_item_valid) begin
                c_group_reg <= uw_item_group;
                c_iova_reg <= uw_item_iova;
                c_len_reg <= uw_item_len;
                c_write_reg <= uw_item_write;
                c_wval_reg <= uw_item_wdata;
                c_kind_reg <= uw_item_kind;
            end
            // the writer offers an item or says it is done, never neither
            cs_state_reg <= uw_done_valid ? CS_IDLE : CS_PORT;
            if (uw_commit) begin
                // used.idx is written: the queue's context advances, the head is free again
                q_used[cs_vq_reg] <= uw_new_used;
                q_avail[cs_vq_reg] <= q_avail[cs_vq_reg] + 1'b1;
                ift[cs_ift_idx][cs_head_reg[5:0]] <= 1'b0;
                cs_committed_reg <= 1'b1;
            end
        end
        CS_PORT: begin
            if (cp_fault) begin
                cs_xlate_reg <= cp_fault_xlate;
                cs_asid_reg <= cp_fault_asid;
                cs_iova_reg <= c_iova_reg;
                cs_write_reg <= c_write_reg;
                cs_state_reg <= CS_FAULT;
            end else if (cp_done) begin
                cs_state_reg <= CS_USED;
            end
        end
        CS_FAULT: begin
            // the VQ stops in ERR (a chain of it in the move stage or the walker is then
            // dropped); the received frame was delivered but its completion is lost
            q_state[cs_vq_reg] <= VQS_ERR;
            q_errno[cs_vq_reg] <= cs_xlate_reg ? FAULT_EFAULT : FAULT_EIO;
            q_pending[cs_vq_reg] <= 1'b0;
            q_seen_ok[cs_vq_reg] <= 1'b0;
            needs_reset_reg <= raise_needs_reset;
            fault_valid_reg <= 1'b1;
            fault_data_reg <= fault_record(cs_xlate_reg ? cs_iova_reg : '0, cs_xlate_reg,
                                           cs_xlate_reg && cs_write_reg,
                                           cs_xlate_reg ? cs_asid_reg : 8'hff,
                                           cs_xlate_reg ? FAULT_EFAULT : FAULT_EIO, cs_vq_reg);
            drop_done = cs_rx_reg;
            cs_state_reg <= CS_IDLE;
        end
    endcase

    // frames dropped this cycle, by the buffer (too long, empty) and each stage;
    // a device reset clears the count instead
    rx_drops_reg <= drops_clear ? '0 :
                    rx_drops_reg + 32'(rxb_drop_now) + 32'(drop_walk) + 32'(drop_move) + 32'(drop_done);


    // the entries read ahead are dropped on any VQ or IOTLB command and on a walker fault
    if (cmd_valid || v_state_reg != V_IDLE || tr_flush || e_state_reg == E_FAULT) begin
        pf_valid_reg <= '0;
    end

    if (rst) begin
        v_state_reg <= V_IDLE;
        v_done_reg <= 1'b0;
        pf_valid_reg <= '0;
        e_state_reg <= E_IDLE;
        e_vq_reg <= '0;
        e_rx_reg <= 1'b0;
        rr_reg <= '0;
        w_bank_reg <= 1'b0;
        ms_state_reg <= MS_IDLE;
        ms_vq_reg <= '0;
        ms_rx_reg <= 1'b0;
        ms_frame_reg <= 1'b0;
        cs_state_reg <= CS_IDLE;
        cs_vq_reg <= '0;
        cs_committed_reg <= 1'b0;
        needs_reset_reg <= 1'b0;
        rx_drops_reg <= '0;
        fault_valid_reg <= 1'b0;
        fault_data_reg <= '0;
        f_errno_reg <= '0;
        m_probe_reg <= 1'b0;
        for (int q = 0; q < NVQ; q++) begin
            q_state[q] <= VQS_NONE;
            q_pending[q] <= 1'b0;
            q_seen_ok[q] <= 1'b0;
        end
    end
end

// number of VQs currently in state s (SUSPEND_ALL / RESUME_ALL results)
function automatic logic [31:0] count_state(input logic [2:0] s);
    logic [31:0] n;
    n = '0;
    for (int q = 0; q < NVQ; q++) begin
        if (q_state[q] == s) begin
            n = n + 1;
        end
    end
    return n;
endfunction

endmodule

`resetall
