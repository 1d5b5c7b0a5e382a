// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Virtqueue engine: per-VQ object contexts (INIT/RDY/SUSPEND/ERR/NONE), the VQ command unit,
 * and the split-ring data path (virtio 1.2 §2.7) for TX (odd VQs) and RX (even VQs).
 *
 * One chain is processed at a time. For each chain the engine reads the avail index and head,
 * walks and validates the whole descriptor chain and translates every buffer page through
 * the IOTLB before it moves any data, so a malformed ring or a translation fault makes no data
 * access. Rings and descriptor tables are reached through the VQ's descriptor group, buffers
 * and indirect tables through its data group (mlx5: virtio_q_mkey / desc_group_mkey).
 * Errors follow drivers/vhost/vringh.c (__vringh_iov, __vringh_get_head): the VQ goes to ERR,
 * a fault is reported, NEEDS_RESET is raised; other VQs keep running.
 *
 * Blocks cut out of it so far (docs/rtl-interface.md "Data path blocks"): vdpa_rx_buffer holds
 * received frames (RX_SLOTS); vdpa_dma_mover moves a chain's data over its translated segments (TX: read
 * bursts onto the stream; RX: the header and held frame in write bursts), requested from
 * E_MOVE and running in E_XFER; the walker-to-mover interface (a segment list and a length,
 * request/done, bus errors reported back here, where the fault registers are) is the seam a
 * packed-ring walker plugs into. vdpa_used_writer completes a chain (used element, used.idx,
 * notification) through this module's ring-item micro-ops, requested when the mover is done
 * and served in E_USED. The mover and the micro-ops share the AXI master through a
 * zero-latency mux (the mover's while it is busy).
 */
module vdpa_vq_engine
    import vdpa_regs_pkg::*;
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
localparam int BW = $clog2(BYTES);
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
    .flush(rxb_flush),
    .rd_base(rxb_rd_base),
    .rd_data(rxb_rd_data)
);

// ---------------------------------------------------------------------------------------
// Engine state
// ---------------------------------------------------------------------------------------
typedef enum logic [5:0] {
    E_IDLE, E_START, E_AVAIL_CHK, E_AVAIL_EVENT, E_HEAD, E_HEAD_CHK,
    E_DESC_RD, E_DESC_CHK, E_BUF_XL, E_BUF_XLW, E_NEXT,
    // the DMA mover (vdpa_dma_mover) moves the chain's data
    E_XFER,
    // the completion writer (vdpa_used_writer) has the ring-item port
    E_USED,
    E_DONE, E_FAULT, E_RX_DROP,
    // the completion's ring items translated before any data moves, then the move itself
    E_PROBE_IDX, E_MOVE,
    // memory micro-ops shared by ring accesses: translate, then read or write one item
    M_XL, M_XLW, M_AR, M_R, M_AW, M_B
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
// segments of the chain, translated before any data moves
logic [63:0]  seg_pa[MAX_SEGS];
logic [31:0]  seg_len[MAX_SEGS];
logic [SW:0]  seg_cnt_reg;
logic         seg_over_reg;
logic [63:0]  x_iova_reg;
logic [31:0]  x_left_reg;
logic [31:0]  total_reg;           // bytes of the chain (TX) / capacity (RX)
logic [DATA_W-1:0] wdata_reg;
logic [BYTES-1:0]  wstrb_reg;
// micro-op request
logic [7:0]   m_group_reg;
logic [63:0]  m_iova_reg;
logic [4:0]   m_len_reg;           // 2, 4 or 16 bytes (8: the used element, translated only)
logic         m_write_reg;
logic         m_probe_reg;         // translate and check only: no bus access
logic [2:0]   m_kind_reg;          // the completion writer's item: its ring area (AXI user)
logic [31:0]  m_wval_reg;
// an item across two IOTLB ranges (or pages) is moved in pieces, one translation each, as
// vringh's copy_from_iotlb / iotlb_translate split it into several iovecs; every piece is
// translated before the first is accessed, so a fault on a later piece moves no byte
logic [4:0]   m_done_reg;          // bytes of the item accessed (or checked) so far
logic [4:0]   m_piece_reg;         // bytes of the piece being accessed
logic         m_check_reg;         // a split item: translating its remaining pieces first
logic         m_checked_reg;       // every piece of this item translated
logic [31:0]  m_beat_off_reg;      // byte offset of the current read beat from the piece
logic [127:0] m_item_reg;          // the item read, byte k of the item in bits [8k +: 8]
// fault record
logic [7:0]   f_errno_reg;
logic         f_xlate_reg;
logic [7:0]   f_asid_reg;
logic [63:0]  f_iova_reg;
logic         f_write_reg;
logic         fault_valid_reg;

// AXI registers
logic [ADDR_W-1:0] awaddr_reg, araddr_reg;
logic [7:0]   awlen_reg, arlen_reg;
logic         awvalid_reg, wvalid_reg, wlast_reg, arvalid_reg, rready_reg, bready_reg;

// AXI user sideband {kind[2:0], asid[7:0], vq[7:0]}: which VQ, through which ASID and for
// which ring area or buffer each access is (kind as vdpa_model.dma.AccessKind: DESC 0, AVAIL 1,
// USED 2, INDIRECT 3, BUFFER 4). Not needed by memory; it lets a checker verify every access
// against the ASID its group is bound to.
logic [7:0]   m_asid_reg;
logic [7:0]   data_asid_reg;
logic [2:0]   acc_kind;
logic         acc_is_data;
always_comb begin
    acc_is_data = e_state_reg == E_XFER;
    case (e_ret_reg)
        E_AVAIL_EVENT: acc_kind = 3'd2;
        E_USED: acc_kind = m_kind_reg;
        E_DESC_CHK: acc_kind = e_ind_reg ? 3'd3 : 3'd0;
        default: acc_kind = 3'd1;
    endcase
    if (acc_is_data) begin
        acc_kind = 3'd4;
    end
end
wire logic [23:0] axi_user = {5'd0, acc_kind, acc_is_data ? data_asid_reg : m_asid_reg, 8'(e_vq_reg)};
assign m_axi_awuser = axi_user;
assign m_axi_aruser = axi_user;

assign m_axi_awid = '0;
// the bus is the mover's while it moves data (E_XFER), the ring-item micro-ops' otherwise: a
// zero-latency mux, so every handshake is as if one master held both
logic              mv_busy;
logic [ADDR_W-1:0] mv_awaddr, mv_araddr;
logic [7:0]        mv_awlen, mv_arlen;
logic              mv_awvalid, mv_wvalid, mv_wlast, mv_bready, mv_arvalid, mv_rready;
logic [DATA_W-1:0] mv_wdata;
logic [BYTES-1:0]  mv_wstrb;
assign m_axi_awaddr = mv_busy ? mv_awaddr : awaddr_reg;
assign m_axi_awlen = mv_busy ? mv_awlen : awlen_reg;
assign m_axi_awsize = 3'(BW);
assign m_axi_awburst = 2'b01;
assign m_axi_awprot = 3'b010;
assign m_axi_awvalid = mv_busy ? mv_awvalid : awvalid_reg;
assign m_axi_wdata = mv_busy ? mv_wdata : wdata_reg;
assign m_axi_wstrb = mv_busy ? mv_wstrb : wstrb_reg;
assign m_axi_wlast = mv_busy ? mv_wlast : wlast_reg;
assign m_axi_wvalid = mv_busy ? mv_wvalid : wvalid_reg;
assign m_axi_bready = mv_busy ? mv_bready : bready_reg;
assign m_axi_arid = '0;
assign m_axi_araddr = mv_busy ? mv_araddr : araddr_reg;
assign m_axi_arlen = mv_busy ? mv_arlen : arlen_reg;
assign m_axi_arsize = 3'(BW);
assign m_axi_arburst = 2'b01;
assign m_axi_arprot = 3'b010;
assign m_axi_arvalid = mv_busy ? mv_arvalid : arvalid_reg;
assign m_axi_rready = mv_busy ? mv_rready : rready_reg;

assign m_axis_tx_tdest = 8'(e_vq_reg);

assign fault_valid = fault_valid_reg;
assign fault_data = {f_iova_reg, 38'd0, f_xlate_reg, f_write_reg, f_asid_reg, f_errno_reg, 8'(e_vq_reg)};

// IDs and responses are not checked beyond OKAY: one transaction is outstanding at a time
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused_ids = ^{m_axi_bid, m_axi_rid};
/* verilator lint_on UNUSEDSIGNAL */

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

assign eng_busy = e_state_reg != E_IDLE;

// quiescent: nothing in flight, no held frame the engine would act on (the buffer offers one
// if there is any), no kick the scheduler would act on
assign dp_idle = e_state_reg == E_IDLE && !(rxb_full && (rx_vq_bad || (driver_ok && rx_vq_ok))) &&
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
// the offered frame is the engine's from E_START until it is back in E_IDLE
assign rxb_hold = e_rx_reg && e_state_reg != E_IDLE;
wire logic rx_vq_bad = 32'(rxb_vq) >= NVQ || rxq_bad[rxb_vq[QW-1:0]];
wire logic rx_vq_ok = !rx_vq_bad && rxq_open[rxb_vq[QW-1:0]] &&
                      (rxb_fresh || q_pending[rxb_vq[QW-1:0]]);
// after an RX chain a kicked TX queue goes first: with several slots a frame is nearly always
// ready, and line-rate RX would starve TX; the frame waits in its slot. With one slot a frame
// that waits stalls the wire, so RX keeps its priority there
wire logic rx_yield = RX_SLOTS > 1 && e_rx_reg && pick_found;

wire logic [16:0] e_size = q_size[e_vq_reg];
wire logic [15:0] e_mask = 16'(e_size - 17'd1);
wire logic [IW-1:0] ift_idx = IW'(32'(e_vq_reg) * IFT_WORDS + 32'(e_head_reg >> 6));

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

// a ring item's read burst: the beats from pa's beat to the one holding byte pa + nbytes - 1
function automatic logic [7:0] burst_beats(input logic [63:0] pa, input logic [31:0] nbytes);
    logic [63:0] span;
    span = (pa & 64'(BYTES - 1)) + 64'(nbytes) + 64'(BYTES - 1);
    return 8'(span >> BW);
endfunction

wire logic [15:0] m_rshift = m_item_reg[15:0];
wire logic [127:0] m_rbuf_reg = m_item_reg;
// the remaining bytes of the item, and of them the part the translation just answered
wire logic [4:0]  m_rem = m_len_reg - m_done_reg;
wire logic [63:0] m_cur_iova = m_iova_reg + 64'(m_done_reg);

// the answer to a ring item's translation: from the translation cache in M_XL when it holds the
// whole rest of the item (no IOTLB request then), else from the IOTLB in M_XLW
logic        xc_hit;
logic [63:0] xc_pa;
logic [7:0]  xc_asid;
wire logic        x_cached = e_state_reg == M_XL && xc_hit;
wire logic        x_valid = x_cached || (e_state_reg == M_XLW && tr_resp_valid);
wire logic        x_ok = x_cached || tr_resp_ok;
wire logic [63:0] x_pa = x_cached ? xc_pa : tr_resp_pa;
wire logic [31:0] x_len = x_cached ? 32'(m_rem) : tr_resp_len;
wire logic [7:0]  x_asid = x_cached ? xc_asid : tr_resp_asid;

wire logic [4:0]  m_xl_piece = (x_len < 32'(m_rem)) ? 5'(x_len) : m_rem;
// a write is one beat: its piece ends at the beat's end too (7 bits: a whole 64-byte beat is
// a room of 64, not 0)
wire logic [6:0]  m_w_room = 7'(BYTES) - 7'(x_pa[BW-1:0]);
wire logic [4:0]  m_w_piece = (7'(m_xl_piece) > m_w_room) ? 5'(m_w_room) : m_xl_piece;
// the piece being accessed is the item's last
wire logic        m_last_piece = m_done_reg + m_piece_reg == m_len_reg;
// once a piece has moved (the read's last beat, the write's response): the next piece, or the
// item is done and the caller's state resumes; one place for both directions
wire logic [4:0]  m_done_next = m_last_piece ? 5'd0 : m_done_reg + m_piece_reg;
wire logic        m_checked_next = m_checked_reg && !m_last_piece;
wire estate_t     m_state_next = m_last_piece ? e_ret_reg : M_XL;

// a translation request goes out in the cycle the engine enters the state that needs it and is
// held until the IOTLB takes it: a buffer page (E_BUF_XL) or the rest of a ring item (M_XL)
// (a ring item's request asks for the rest of its 4 KiB page, so the answer can serve the next
// items of the same ring from the cache; the item itself is min(answer, rest) as before)
wire logic tr_buf = e_state_reg == E_BUF_XL;
wire logic [31:0] m_page_rest = 32'h1000 - 32'(m_cur_iova[11:0]);
assign tr_req_valid = tr_buf || (e_state_reg == M_XL && !xc_hit);
assign tr_req_group = tr_buf ? q_dgroup[e_vq_reg] : m_group_reg;
assign tr_req_iova = tr_buf ? x_iova_reg : m_cur_iova;
assign tr_req_len = tr_buf ? x_left_reg : (m_page_rest > 32'(m_rem) ? m_page_rest : 32'(m_rem));
assign tr_req_write = tr_buf ? e_rx_reg : m_write_reg;

// one set per VQ, four answers a set: its driver-area reads, descriptor table, device-area
// writes and an indirect table
vdpa_xlate_cache #(
    .SETS(NVQ),
    .ENTRIES(4)
) ring_xlate_cache_inst (
    .clk(clk),
    .rst(rst),
    .lk_set(e_vq_reg),
    .lk_group(m_group_reg),
    .lk_iova(m_cur_iova),
    .lk_len(m_rem),
    .lk_write(m_write_reg),
    .hit(xc_hit),
    .hit_pa(xc_pa),
    .hit_asid(xc_asid),
    .req_taken(tr_req_valid && tr_req_ready),
    .fill_valid(e_state_reg == M_XLW && tr_resp_valid && tr_resp_ok),
    .fill_set(e_vq_reg),
    .fill_group(m_group_reg),
    .fill_iova(m_cur_iova),
    .fill_len(tr_resp_len),
    .fill_write(m_write_reg),
    .fill_pa(tr_resp_pa),
    .fill_asid(tr_resp_asid),
    .flush(tr_flush)
);
// avail.ring[last_avail % size]
wire logic [63:0] avail_entry_iova = q_drv[e_vq_reg] + 64'd4 + 64'(q_avail[e_vq_reg] & e_mask) * 2;
// buffers the driver has made available, u16 arithmetic (virtio 1.2 §2.7.6)
wire logic [15:0] avail_delta = m_rshift - q_avail[e_vq_reg];

// ---------------------------------------------------------------------------------------
// DMA mover: the chain's data over its translated segments (the walker-to-mover seam)
// ---------------------------------------------------------------------------------------
logic [SW-1:0] mv_seg_idx;
logic          mv_done_valid, mv_err_set, mv_fault;
logic [31:0]   mv_moved;
// E_MOVE requests the transfer: RX the header and frame (a frame larger than the chain's
// capacity is dropped instead); TX the chain, or nothing for a chain shorter than the header
// or longer than a frame (completed without transmitting, dropped)
wire logic [31:0] rx_xfer_len = 32'(hdr_len) + 32'(rxb_len);
wire logic        rx_too_big = rx_xfer_len > total_reg;
wire logic        tx_dropped = total_reg < 32'(hdr_len) || total_reg - 32'(hdr_len) > TX_MAX_FRAME;
wire logic        mv_req_valid = e_state_reg == E_MOVE && !(e_rx_reg && rx_too_big);
wire logic [31:0] mv_req_len = e_rx_reg ? rx_xfer_len : (tx_dropped ? 32'd0 : total_reg);
// the mover is idle whenever the engine is outside E_XFER, so it takes every request at once
/* verilator lint_off UNUSEDSIGNAL */
logic          mv_req_ready;
/* verilator lint_on UNUSEDSIGNAL */

vdpa_dma_mover #(
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .MAX_SEGS(MAX_SEGS)
) mover_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(mv_req_valid),
    .req_ready(mv_req_ready),
    .req_rx(e_rx_reg),
    .req_len(mv_req_len),
    .seg_idx(mv_seg_idx),
    .seg_pa(seg_pa[mv_seg_idx]),
    .seg_len(seg_len[mv_seg_idx]),
    .src_pos(mv_src_pos),
    .src_data(rx_src),
    .done_valid(mv_done_valid),
    .done_ready(uw_req_ready),
    .moved(mv_moved),
    .err_set(mv_err_set),
    .fault(mv_fault),
    .busy(mv_busy),
    .axi_awaddr(mv_awaddr),
    .axi_awlen(mv_awlen),
    .axi_awvalid(mv_awvalid),
    .axi_awready(m_axi_awready),
    .axi_wdata(mv_wdata),
    .axi_wstrb(mv_wstrb),
    .axi_wlast(mv_wlast),
    .axi_wvalid(mv_wvalid),
    .axi_wready(m_axi_wready),
    .axi_bresp(m_axi_bresp),
    .axi_bvalid(m_axi_bvalid),
    .axi_bready(mv_bready),
    .axi_araddr(mv_araddr),
    .axi_arlen(mv_arlen),
    .axi_arvalid(mv_arvalid),
    .axi_arready(m_axi_arready),
    .axi_rdata(m_axi_rdata),
    .axi_rresp(m_axi_rresp),
    .axi_rlast(m_axi_rlast),
    .axi_rvalid(m_axi_rvalid),
    .axi_rready(mv_rready),
    .m_axis_tdata(m_axis_tx_tdata),
    .m_axis_tkeep(m_axis_tx_tkeep),
    .m_axis_tvalid(m_axis_tx_tvalid),
    .m_axis_tready(m_axis_tx_tready),
    .m_axis_tlast(m_axis_tx_tlast),
    .m_axis_tuser(m_axis_tx_tuser)
);

// ---------------------------------------------------------------------------------------
// Completion writer: used element, used.idx, notification, over the ring-item micro-ops
// ---------------------------------------------------------------------------------------
// the data has moved (TX: the frame's last stream beat accepted)
wire logic uw_req_valid = mv_done_valid;
// the micro-ops hand the port back to the writer by returning to E_USED
wire logic uw_port_free = e_state_reg == E_USED;
logic         uw_req_ready;
logic [63:0]  uw_elem_iova, uw_idx_iova;
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

vdpa_used_writer #(
    .MUTANT(MUTANT)
) used_writer_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(uw_req_valid),
    .req_ready(uw_req_ready),
    .req_head(e_head_reg),
    .req_rx(e_rx_reg),
    .req_written(mv_moved),
    .req_vq(8'(e_vq_reg)),
    .ctx_drv(q_drv[e_vq_reg]),
    .ctx_dev(q_dev[e_vq_reg]),
    .ctx_size(e_size),
    .ctx_used(q_used[e_vq_reg]),
    .ctx_group(q_rgroup[e_vq_reg]),
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
    .item_rdata(m_rshift),
    .cancel(e_state_reg == E_FAULT),
    .commit(uw_commit),
    .new_used(uw_new_used),
    .done_valid(uw_done_valid),
    .done_ready(uw_port_free),
    .irq_valid(irq_valid),
    .irq_vq(irq_vq)
);

always_ff @(posedge clk) begin
    fault_valid_reg <= 1'b0;
    v_done_reg <= 1'b0;
    rxb_take <= 1'b0;
    rxb_tried <= 1'b0;
    rxb_flush <= 1'b0;

    if (rxb_drop_now) begin
        rx_drops_reg <= rx_drops_reg + 1;
    end
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
            end else if (e_state_reg == E_IDLE || e_vq_reg != v_vq_reg ||
                    (MUTANT == MUT_SUSPEND_NO_DRAIN && v_target_reg == VQS_SUSPEND)) begin  // mutant MUT_SUSPEND_NO_DRAIN
                q_state[v_vq_reg] <= v_target_reg;
                if (v_target_reg == VQS_NONE) begin
                    q_pending[v_vq_reg] <= 1'b0;
                end
                v_state_reg <= V_DONE;
            end
        end
        V_DRAIN_ALL: begin
            if (e_state_reg == E_IDLE ||
                    (MUTANT == MUT_SUSPEND_NO_DRAIN && v_op_reg != OP_RESET)) begin  // mutant MUT_SUSPEND_NO_DRAIN
                if (v_op_reg == OP_RESET) begin
                    // the held received frames belong to the old device instance
                    rxb_flush <= 1'b1;
                    needs_reset_reg <= 1'b0;
                    rx_drops_reg <= '0;
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
    // Data engine
    // ===================================================================================
    case (e_state_reg)
        E_IDLE: begin
            if (rxb_full && !rxb_take && rx_vq_bad) begin
                // no receive queue that could ever take it
                rxb_take <= 1'b1;
                rx_drops_reg <= rx_drops_reg + 1;
            end else if (!driver_ok || iotlb_hold) begin
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
            if (q_seen_ok[e_vq_reg] && q_seen[e_vq_reg] != q_avail[e_vq_reg]) begin
                // an entry known from the last avail.idx read: straight to it (as E_AVAIL_CHK)
                if (!e_rx_reg) begin
                    q_pending[e_vq_reg] <= 1'b1;
                end
                m_iova_reg <= avail_entry_iova;
                e_ret_reg <= E_HEAD_CHK;
            end else begin
                // avail.idx (virtio 1.2 §2.7.6)
                m_iova_reg <= q_drv[e_vq_reg] + 64'd2;
                e_ret_reg <= E_AVAIL_CHK;
            end
            e_state_reg <= M_XL;
        end
        E_AVAIL_CHK: begin
            if (m_rshift[15:0] == q_avail[e_vq_reg]) begin
                if (feat_event_idx && !e_rechecked_reg) begin
                    // publish avail_event = last_avail, then look once more (virtio 1.2 §2.7.10)
                    e_rechecked_reg <= 1'b1;
                    m_group_reg <= q_rgroup[e_vq_reg];
                    m_iova_reg <= q_dev[e_vq_reg] + 64'd4 + 64'(e_size) * 8;
                    m_len_reg <= 5'd2;
                    m_write_reg <= 1'b1;
                    m_wval_reg <= {16'd0, q_avail[e_vq_reg]};
                    e_ret_reg <= E_AVAIL_EVENT;
                    e_state_reg <= M_XL;
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
                m_iova_reg <= avail_entry_iova;
                m_len_reg <= 5'd2;
                m_write_reg <= 1'b0;
                e_ret_reg <= E_HEAD_CHK;
                e_state_reg <= M_XL;
            end
        end
        E_AVAIL_EVENT: begin
            m_group_reg <= q_rgroup[e_vq_reg];
            m_iova_reg <= q_drv[e_vq_reg] + 64'd2;
            m_len_reg <= 5'd2;
            m_write_reg <= 1'b0;
            e_ret_reg <= E_AVAIL_CHK;
            e_state_reg <= M_XL;
        end
        E_HEAD_CHK: begin
            e_head_reg <= m_rshift[15:0];
            e_i_reg <= m_rshift[15:0];
            if (17'(m_rshift[15:0]) >= e_size) begin
                // __vringh_get_head: "Guest says index %u > %u is available"
                f_errno_reg <= FAULT_EINVAL;
                f_iova_reg <= 64'(m_rshift[15:0]);
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
            m_iova_reg <= (e_ind_reg ? e_ind_base_reg : q_desc[e_vq_reg]) + 64'(e_i_reg) * 16;
            m_len_reg <= 5'd16;
            m_write_reg <= 1'b0;
            e_count_reg <= e_count_reg + 1'b1;
            e_ret_reg <= E_DESC_CHK;
            if (e_count_reg != (e_ind_reg ? e_ind_max_reg : e_size)) begin
                e_state_reg <= M_XL;
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
            if (tr_req_ready) begin
                e_state_reg <= E_BUF_XLW;
            end
        end
        E_BUF_XLW: begin
            if (tr_resp_valid) begin
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
                    seg_pa[seg_cnt_reg[SW-1:0]] <= tr_resp_pa;
                        seg_len[seg_cnt_reg[SW-1:0]] <= tr_resp_len;
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
                m_iova_reg <= uw_elem_iova;
                m_len_reg <= 5'd8;
                m_write_reg <= 1'b1;
                m_probe_reg <= 1'b1;
                e_ret_reg <= E_PROBE_IDX;
                e_state_reg <= M_XL;
            end
        end
        E_PROBE_IDX: begin
            m_iova_reg <= uw_idx_iova;
            m_len_reg <= 5'd2;
            e_ret_reg <= E_MOVE;
            e_state_reg <= M_XL;
        end
        E_MOVE: begin
            // move the data: the mover takes the request in this cycle (mv_req_valid)
            m_probe_reg <= 1'b0;
            // a frame larger than the buffer: drop the frame, keep the buffer
            e_state_reg <= (e_rx_reg && rx_too_big) ? E_RX_DROP : E_XFER;
        end
        E_XFER: begin
            // the mover reports a bus error as it takes it, and its end once the burst is over
            // (a TX frame under way closed with the abort flag)
            if (mv_err_set) begin
                f_errno_reg <= FAULT_EIO;
            end
            if (mv_fault) begin
                e_state_reg <= E_FAULT;
            end else if (mv_done_valid && uw_req_ready) begin
                rxb_take <= e_rx_reg;
                e_state_reg <= E_USED;
            end
        end

        // ---- completion (vdpa_used_writer): its ring items through the micro-ops -----
        E_USED: begin
            if (uw_item_valid) begin
                m_group_reg <= uw_item_group;
                m_iova_reg <= uw_item_iova;
                m_len_reg <= uw_item_len;
                m_write_reg <= uw_item_write;
                m_wval_reg <= uw_item_wdata;
                m_kind_reg <= uw_item_kind;
                e_ret_reg <= E_USED;
            end
            // the writer offers an item or says it is done, never neither
            e_state_reg <= uw_done_valid ? E_DONE : M_XL;
            if (uw_commit) begin
                // used.idx is written: the queue's context advances, the head is free again
                q_used[e_vq_reg] <= uw_new_used;
                q_avail[e_vq_reg] <= q_avail[e_vq_reg] + 1'b1;
                ift[ift_idx][e_head_reg[5:0]] <= 1'b0;
            end
        end
        E_RX_DROP: begin
            rxb_take <= 1'b1;
            rx_drops_reg <= rx_drops_reg + 1;
            ift[ift_idx][e_head_reg[5:0]] <= 1'b0;
            e_state_reg <= E_DONE;
        end
        E_FAULT: begin
            // the VQ stops in ERR; others continue. An RX frame in hand is dropped; a ring
            // item cut short starts afresh next time.
            q_state[e_vq_reg] <= VQS_ERR;
            m_done_reg <= '0;
            m_check_reg <= 1'b0;
            m_checked_reg <= 1'b0;
            q_errno[e_vq_reg] <= f_errno_reg;
            q_pending[e_vq_reg] <= 1'b0;
            q_seen_ok[e_vq_reg] <= 1'b0;
            needs_reset_reg <= MUTANT != MUT_NO_NEEDS_RESET;  // mutant MUT_NO_NEEDS_RESET
            fault_valid_reg <= 1'b1;
            if (!f_xlate_reg) begin
                f_asid_reg <= 8'hff;
                f_write_reg <= 1'b0;
            end
            if (e_rx_reg) begin
                rxb_take <= 1'b1;
                rx_drops_reg <= rx_drops_reg + 1;
            end
            e_state_reg <= E_DONE;
        end
        E_DONE: begin
            e_state_reg <= E_IDLE;
        end

        // ---- micro-ops: one ring item (2, 4 or 16 bytes, naturally aligned) -------------
        M_XL, M_XLW: begin
            if (e_state_reg == M_XL && !xc_hit) begin
                if (tr_req_ready) begin
                    e_state_reg <= M_XLW;
                end
            end else if (x_valid) begin
                if (!x_ok || x_len == 0 ||
                        (MUTANT == MUT_STRADDLE_FAULTS && x_len < 32'(m_rem))) begin  // mutant MUT_STRADDLE_FAULTS
                    // the fault names the whole item, as the model's TranslationFault does
                    f_errno_reg <= FAULT_EFAULT;
                    f_xlate_reg <= 1'b1;
                    f_asid_reg <= x_asid;
                    f_iova_reg <= m_iova_reg;
                    f_write_reg <= m_write_reg;
                    e_state_reg <= E_FAULT;
                end else if (m_probe_reg || m_check_reg ||
                        (m_xl_piece != m_rem && !m_checked_reg)) begin
                    // translate only: the next piece, or (all translated) back to the start
                    // of a split item to access it, or the item checked
                    if (m_xl_piece != m_rem) begin
                        m_done_reg <= m_done_reg + m_xl_piece;
                        m_check_reg <= !m_probe_reg;
                        e_state_reg <= M_XL;
                    end else if (m_check_reg) begin
                        m_done_reg <= '0;
                        m_check_reg <= 1'b0;
                        m_checked_reg <= 1'b1;
                        e_state_reg <= M_XL;
                    end else begin
                        m_done_reg <= '0;
                        e_state_reg <= e_ret_reg;
                    end
                end else begin
                    m_asid_reg <= x_asid;
                    if (m_write_reg) begin
                        m_piece_reg <= m_w_piece;
                        awaddr_reg <= ADDR_W'(x_pa & ~64'(BYTES - 1));
                        awlen_reg <= 8'd0;
                        awvalid_reg <= 1'b1;
                        wdata_reg <= DATA_W'(m_wval_reg >> (8 * m_done_reg)) << (8 * x_pa[BW-1:0]);
                        wstrb_reg <= BYTES'(BYTES'(20'((20'd1 << m_w_piece) - 20'd1)) << x_pa[BW-1:0]);
                        wlast_reg <= 1'b1;
                        wvalid_reg <= 1'b1;
                        e_state_reg <= M_AW;
                    end else begin
                        m_piece_reg <= m_xl_piece;
                        m_beat_off_reg <= -32'(x_pa[BW-1:0]);
                        araddr_reg <= ADDR_W'(x_pa & ~64'(BYTES - 1));
                        arlen_reg <= burst_beats(x_pa, 32'(m_xl_piece)) - 8'd1;
                        arvalid_reg <= 1'b1;
                        e_state_reg <= M_AR;
                    end
                end
            end
        end
        M_AR: begin
            if (m_axi_arready) begin
                arvalid_reg <= 1'b0;
                rready_reg <= 1'b1;
                e_state_reg <= M_R;
            end
        end
        M_R: begin
            if (m_axi_rvalid) begin
                // the beat's bytes that belong to the piece go to their place in the item
                for (int j = 0; j < BYTES; j++) begin
                    if ($signed(m_beat_off_reg + 32'(j)) >= 0 && m_beat_off_reg + 32'(j) < 32'(m_piece_reg)) begin
                        m_item_reg[8 * (32'(m_done_reg) + m_beat_off_reg + 32'(j)) +: 8] <= m_axi_rdata[8*j +: 8];
                    end
                end
                m_beat_off_reg <= m_beat_off_reg + 32'(BYTES);
                if (m_axi_rresp != 2'b00) begin
                    f_errno_reg <= FAULT_EIO;
                end
                if (m_axi_rlast) begin
                    rready_reg <= 1'b0;
                    if (m_axi_rresp != 2'b00 || f_errno_reg == FAULT_EIO) begin
                        e_state_reg <= E_FAULT;
                    end else begin
                        m_done_reg <= m_done_next;
                        m_checked_reg <= m_checked_next;
                        e_state_reg <= m_state_next;
                    end
                end
            end
        end
        M_AW: begin
            if (m_axi_awready) begin
                awvalid_reg <= 1'b0;
            end
            if (m_axi_wready) begin
                wvalid_reg <= 1'b0;
            end
            if ((m_axi_awready || !awvalid_reg) && (m_axi_wready || !wvalid_reg)) begin
                bready_reg <= 1'b1;
                e_state_reg <= M_B;
            end
        end
        M_B: begin
            if (m_axi_bvalid) begin
                bready_reg <= 1'b0;
                if (m_axi_bresp != 2'b00) begin
                    f_errno_reg <= FAULT_EIO;
                    e_state_reg <= E_FAULT;
                end else begin
                    m_done_reg <= m_done_next;
                    m_checked_reg <= m_checked_next;
                    e_state_reg <= m_state_next;
                end
            end
        end
        default: begin
            e_state_reg <= E_IDLE;
        end
    endcase

    if (rst) begin
        v_state_reg <= V_IDLE;
        v_done_reg <= 1'b0;
        e_state_reg <= E_IDLE;
        e_vq_reg <= '0;
        rr_reg <= '0;
        needs_reset_reg <= 1'b0;
        rx_drops_reg <= '0;
        fault_valid_reg <= 1'b0;
        awvalid_reg <= 1'b0;
        wvalid_reg <= 1'b0;
        arvalid_reg <= 1'b0;
        rready_reg <= 1'b0;
        bready_reg <= 1'b0;
        f_errno_reg <= '0;
        m_probe_reg <= 1'b0;
        m_done_reg <= '0;
        m_check_reg <= 1'b0;
        m_checked_reg <= 1'b0;
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
