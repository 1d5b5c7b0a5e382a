// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Virtqueue engine: the split-ring data path (virtio 1.2 §2.7) for TX (odd VQs) and RX (even
 * VQs) over the VQ contexts, as the glue of its blocks. It holds the scheduler, the move and
 * completion stage registers, the hand-off conditions and the rules that undo what a chain did
 * ahead of the completion before it; each block holds the rest.
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
 *    not committed (w_ahead).
 *  - The done queue. One moved chain of another queue than the completion stage's waits
 *    between the move and completion stages, so the mover takes the next chain; it counts in
 *    `held`, w_ahead and back_idle, holds a TX chain of its queue's last beat (tx_hold), and
 *    its chain's queue never goes to ERR under it (it drops nothing; a simulation check says
 *    so). docs/rtl-interface.md "Chains in flight".
 *  - Suspend and state. last_avail and used_idx advance only when a chain's used.idx is
 *    written; a suspend or destroy waits for every stage to leave the queue (a chain walked is
 *    moved and completed: `held`), so get_vq_state after it is exact.
 *  - Batches. The completion stage may hold up to COMPLETION_BATCH chains of one receive
 *    queue under one used.idx write (vdpa_used_writer; drivers/vhost/vhost.c:
 *    vhost_add_used_n): it holds used.idx back while the move stage writes the next receive
 *    chain of its queue (uw_more). The walker counts every chain the stage holds (w_ahead), a
 *    commit advances the context by the batch, and a refused element past a batch's first
 *    cuts the batch there (uw_refuse), so the queue faults after the chains a one-chain
 *    device completes.
 *  - Faults. A stage reports a fault only once the stages after it are idle, so faults and
 *    completions are seen in the order of a serial device, one a cycle at most (the contexts
 *    have one fault port); a chain whose queue went to ERR meanwhile (a later stage faulted on
 *    the chain before it) is dropped without a trace (w_abandon in the walker, ms_drop here).
 *    What a chain does before the one ahead of it on its queue has written its used.idx must
 *    be undoable if that completion faults: a transmitted frame's last beat waits (tx_hold;
 *    the mover, done as it reads that beat, keeps it in its stream register until the done
 *    is taken: mv_tail) and leaves with the abort flag if it did, and the walker's one write
 *    (avail_event, EVENT_IDX) waits for idle later stages. A receive chain need not wait: that
 *    completion cannot fail translation (the walker translated its items before any data
 *    moved, and the IOTLB changes a translation only between chains: vdpa_iotlb's drain; a
 *    simulation check below says so), and a bus error, which it can meet, leaves the receive
 *    chain's buffers holding at most its frame, never used (docs/rtl-interface.md). The
 *    notification read after used.idx cannot fault the queue (vdpa_used_writer).
 *  - Read-ahead of data (MOVER_READ_AHEAD, off by default). The walker offers its chain to the
 *    mover as soon as it is walked (h_valid, held back while the move stage holds the chain
 *    before: !ms_free), and the mover reads the start of that TX chain into its landing
 *    buffer while the one before ends (vdpa_dma_mover). A read has no effect the guest can
 *    see, the chain was translated before it was offered, and a chain offered is either
 *    handed over or abandoned with its queue in ERR (its beats then dropped as they land);
 *    the mover counts busy until they have, so eng_busy keeps IOTLB commands off them.
 *  - Prefetch. The next chain's ring items may be read before this chain's data is written:
 *    a guest whose receive buffers alias its own rings sees the ring as it was (the driver must
 *    not touch what it made available, virtio 1.2 §2.7.13.1; prefetching devices do the same).
 *
 * Blocks (docs/rtl-interface.md "Data path blocks"):
 *  - vdpa_vq_ctx: the per-VQ contexts, the in-flight heads, the fault register, NEEDS_RESET,
 *    the drop count and the VQ command unit; the stages change it only through its event
 *    ports, in a fixed priority (its header).
 *  - vdpa_split_ring_walker: avail, heads, chain walk, validation and translation into a
 *    segment list in one of two banks, with its ring-item port (vdpa_ring_port, AXI ID 0).
 *    Its output, the walker-to-mover seam (h_valid/h_ready, head, direction, bank, length,
 *    ASID), is where a packed-ring walker (virtio 1.2 §2.8) plugs in as a sibling module.
 *  - vdpa_dma_mover: a chain's data over its translated segments (TX: read bursts onto the
 *    stream; RX: the header and held frame in write bursts), AXI ID 2.
 *  - vdpa_used_writer: the completion (used elements, then used.idx) of a chain or a batch
 *    over its own vdpa_ring_port (AXI ID 1); it hands each completion's notification check
 *    on.
 *  - vdpa_notifier: those checks in order (used_event or avail.flags, the decision, the
 *    interrupt) over its own vdpa_ring_port (AXI ID 3), behind the completion stage.
 *  - vdpa_rx_buffer: received frames (RX_SLOTS), offered one at a time.
 *  - vdpa_axi_arb: the one AXI master shared by the three ports and the mover.
 * The scheduler stays here: it is a few lines of combinational choice (TX round robin over
 * kicked RDY queues, the RX buffer's offer, RX yielding to TX) that reads the contexts, the
 * command unit's blocks and the receive buffer and steers the walker, the receive buffer and
 * the rx drop count; a block of its own would only pass those signals through.
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
    // Chains of one receive queue completed under one used.idx write at most (1 .. 4;
    // vdpa_used_writer BATCH); 1 with PIPELINE 0
    parameter int COMPLETION_BATCH = 4,
    // Bytes of the next TX chain the mover reads ahead (vdpa_dma_mover RA_BYTES; 0: none)
    parameter int MOVER_READ_AHEAD = 0,
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

    /* A parked received frame dropped to let the wire in: pulse, its VQ, its arrival number */
    output wire logic                 rx_evict,
    output wire logic [7:0]           rx_evict_vq,
    output wire logic [15:0]          rx_evict_seq,

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
localparam int SW = $clog2(MAX_SEGS);
localparam int FW = $clog2(MAX_FRAME);
localparam int RSW = RX_SLOTS > 1 ? $clog2(RX_SLOTS) : 1;

initial begin
    if (DATA_W != 32 && DATA_W != 64 && DATA_W != 128 && DATA_W != 256 && DATA_W != 512) begin
        $error("Error: DATA_W must be 32, 64, 128, 256 or 512 (instance %m)");
        $finish;
    end
    if (NVQ < 2 || NVQ > 64 || (1 << QW) != NVQ) begin
        $error("Error: NVQ must be a power of two in 2..64 (instance %m)");
        $finish;
    end
end

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
// Stage registers
// ---------------------------------------------------------------------------------------
// Move stage: the chain handed over by the walker, its data moved by vdpa_dma_mover
typedef enum logic [1:0] {MS_IDLE, MS_XFER, MS_FAULT} msstate_t;
msstate_t     ms_state_reg;
logic [QW-1:0] ms_vq_reg;
logic         ms_rx_reg;
logic [15:0]  ms_head_reg;
logic         ms_bank_reg;
logic         ms_frame_reg;        // RX: the received frame it writes is claimed in the buffer
logic [RSW-1:0] ms_slot_reg;       // ... in this slot

// Completion stage: the chain whose data has moved, completed by vdpa_used_writer
typedef enum logic [1:0] {CS_IDLE, CS_USED, CS_PORT, CS_FAULT} csstate_t;
csstate_t     cs_state_reg;
logic [QW-1:0] cs_vq_reg;
logic         cs_rx_reg;
logic [15:0]  cs_head_reg;
// fault record of the completion stage
logic         cs_xlate_reg;
logic [7:0]   cs_asid_reg;
logic [63:0]  cs_iova_reg;
// the completion writer's ring item, latched as the port takes it
logic [7:0]   c_group_reg;
logic [63:0]  c_iova_reg;
logic [4:0]   c_len_reg;
logic [63:0]  c_wval_reg;

wire logic ms_busy = ms_state_reg != MS_IDLE;
// the mover has a transaction on the bus (a burst read ahead for a chain the walker withdrew
// may outlive every stage's chain)
logic          mv_busy;
wire logic cs_busy = cs_state_reg != CS_IDLE;
// the notifier: a completion's notification check, handed over with its used.idx written
// (vdpa_notifier; it holds checks of these queues, or any)
logic [NVQ-1:0] nt_held;
logic          nt_busy;
logic          nt_note_valid;
logic [1:0]    nt_note_room;
logic [7:0]    nt_note_vq;
logic [63:0]   nt_note_iova;
logic [7:0]    nt_note_group;
logic          nt_note_event_idx;
logic [15:0]   nt_note_old, nt_note_used;
// The done queue: one moved chain waiting for the completion stage, so the mover takes the
// next chain instead of holding its done until the completion stage is free. Only a chain of
// another queue than the one the completion stage holds waits there: its queue cannot go to
// ERR while it waits (the completion stage takes it next, and no other stage reports a fault
// before it), so it is never dropped there. A chain of the completion stage's queue waits in
// the mover as before (a TX one with its last beat held, tx_hold). On two and eight TX queues
// the mover's and the completion's rounds (four cycles each at the bench's host) no longer
// have to meet.
logic         dq_valid_reg;
logic [QW-1:0] dq_vq_reg;
logic         dq_rx_reg;
logic [15:0]  dq_head_reg;
logic [31:0]  dq_written_reg;
// nothing after the walker holds a chain or a check: the walker's fault and its one write
// wait for this, so both come where a one-chain-at-a-time device would make them
wire logic back_idle = !ms_busy && !dq_valid_reg && !cs_busy && !nt_busy;

// ---------------------------------------------------------------------------------------
// The walker's signals (vdpa_split_ring_walker below)
// ---------------------------------------------------------------------------------------
logic          w_busy;             // walking or refilling
logic          w_walking;          // walking a chain
logic          w_refilling;        // refilling what it reads ahead for w_refill_vq
logic          w_start_ready;      // takes start_valid
logic [QW-1:0] w_vq;
logic [QW-1:0] w_refill_vq;
logic          w_rx;
logic [15:0]   w_head;
logic          w_ev_consume, w_ev_rearm, w_ev_seen, w_ev_ift_set, w_ev_ift_clr;
logic [15:0]   w_ev_seen_idx;
logic          w_f_valid, w_f_xlate, w_f_write;
logic [7:0]    w_f_errno, w_f_asid;
logic [63:0]   w_f_iova;
logic          w_rx_take, w_rx_tried;
logic          w_h_valid, w_h_bank;
logic [31:0]   w_h_total;
logic [7:0]    w_h_asid;
logic [63:0]   w_seg_pa;
logic [31:0]   w_seg_len;
logic [23:0]   w_user;
logic          w_tr_valid, w_tr_write;
logic [7:0]    w_tr_group;
logic [63:0]   w_tr_iova;
logic [31:0]   w_tr_len;

// ---------------------------------------------------------------------------------------
// VQ contexts and the VQ command unit
// ---------------------------------------------------------------------------------------
// per VQ: a stage holds a chain of it (what SUSPEND and DESTROY wait for)
logic [NVQ-1:0] held;
always_comb begin
    for (int q = 0; q < NVQ; q++) begin
        held[q] = (w_busy && 32'(w_vq) == q) || (w_refilling && 32'(w_refill_vq) == q) ||
                  (ms_busy && 32'(ms_vq_reg) == q) || (dq_valid_reg && 32'(dq_vq_reg) == q) ||
                  (cs_busy && 32'(cs_vq_reg) == q) || nt_held[q];
    end
end
logic [NVQ-1:0]   q_blocked;       // a command is about to take the VQ out of RDY
logic [NVQ*3-1:0] q_state_vec;
logic [NVQ-1:0]   q_pending;
logic [16:0]  wc_size, cc_size;
logic [63:0]  wc_desc, wc_drv, wc_dev, cc_drv, cc_dev;
logic [15:0]  wc_avail, wc_used, wc_seen, cc_used;
logic         wc_seen_ok, wc_in_flight;
logic [7:0]   wc_dgroup, wc_rgroup, cc_rgroup;
logic         rxb_flush;           // a reset: every held frame belongs to the old device instance
// the three stages' faults: one a cycle at most (a stage reports only when the later stages
// are idle), so one fault port takes it; the completion stage's first, as it was written last
// in the engine before the cut
logic         ms_f_valid, cs_f_valid;
wire logic       f_valid = w_f_valid || ms_f_valid || cs_f_valid;
wire logic [QW-1:0] f_vq = cs_f_valid ? cs_vq_reg : (ms_f_valid ? ms_vq_reg : w_vq);
wire logic [7:0] f_errno = cs_f_valid ? (cs_xlate_reg ? FAULT_EFAULT : FAULT_EIO) :
                           (ms_f_valid ? FAULT_EIO : w_f_errno);
wire logic [63:0] f_iova = cs_f_valid ? (cs_xlate_reg ? cs_iova_reg : '0) :
                           (ms_f_valid ? '0 : w_f_iova);
wire logic       f_xlate = cs_f_valid ? cs_xlate_reg : (ms_f_valid ? 1'b0 : w_f_xlate);
// (the completion stage only writes: its translation faults are write faults)
wire logic       f_write = cs_f_valid ? cs_xlate_reg :
                           (ms_f_valid ? 1'b0 : w_f_write);
wire logic [7:0] f_asid = cs_f_valid ? (cs_xlate_reg ? cs_asid_reg : 8'hff) :
                          (ms_f_valid ? 8'hff : w_f_asid);
`ifndef SYNTHESIS
// a simulation check, not logic (a plain always: a system task has no place in always_ff)
always @(posedge clk) begin
    if (!rst && 32'(w_f_valid) + 32'(ms_f_valid) + 32'(cs_f_valid) > 1) begin
        $error("Error: two stages report a fault in one cycle (instance %m)");
    end
end
`endif
// the completion stage commits: used.idx written for the uw_chains chains the writer holds
// (the last one's head freed unless the writer keeps that chain to complete again, uw_keep); a
// chain joins the writer's batch (uw_absorb: the one before it is written, its head free)
logic         uw_commit;
logic [15:0]  uw_new_used;
logic         uw_absorb;
logic [2:0]   uw_chains;
logic         uw_keep;
wire logic    cs_commit = uw_commit;
// the move stage's chain is dropped: its queue went to ERR
logic         ms_ift_clr;
// received frames dropped this cycle: by the buffer (too long, empty, or parked and evicted
// to let the wire in) and each stage
logic         rxb_drop_now;
logic         rxb_evict;
logic         drop_walk, drop_move;
logic [2:0]   drop_done;
assign rx_evict = rxb_evict;
wire logic [3:0] rx_dropped = 4'(rxb_drop_now) + 4'(rxb_evict) + 4'(drop_walk) + 4'(drop_move) +
                              4'(drop_done);
// the queue the completion writer reads (the move stage's at the request, then its own); the
// request may come with the previous chain's done (uw_take)
logic         uw_take;
// the completion writer's request: the done queue's chain first (it moved before the
// mover's), else the mover's
wire logic [QW-1:0] uw_req_vq = dq_valid_reg ? dq_vq_reg : ms_vq_reg;
wire logic          uw_req_rx = dq_valid_reg ? dq_rx_reg : ms_rx_reg;
wire logic [15:0]   uw_req_head = dq_valid_reg ? dq_head_reg : ms_head_reg;
wire logic [QW-1:0] uw_vq = (cs_busy && !uw_take) ? cs_vq_reg : uw_req_vq;

vdpa_vq_ctx #(
    .NVQ(NVQ),
    .MAX_QSIZE(MAX_QSIZE),
    .NGROUPS(NGROUPS),
    .NARGS(NARGS),
    .MUTANT(MUTANT)
) ctx_inst (
    .clk(clk),
    .rst(rst),
    .cmd_valid(cmd_valid),
    .cmd_op(cmd_op),
    .cmd_args(cmd_args),
    .cmd_busy(cmd_busy),
    .done_valid(done_valid),
    .done_status(done_status),
    .done_data(done_data),
    .held(held),
    .blocked(q_blocked),
    .rx_flush(rxb_flush),
    .db_valid(db_valid),
    .db_vq(db_vq),
    .w_vq(w_vq),
    .w_head(w_head),
    .w_consume(w_ev_consume),
    .w_rearm(w_ev_rearm),
    .w_seen(w_ev_seen),
    .w_seen_idx(w_ev_seen_idx),
    .w_ift_set(w_ev_ift_set),
    .w_ift_clr(w_ev_ift_clr),
    .m_ift_clr(ms_ift_clr),
    .m_vq(ms_vq_reg),
    .m_head(ms_head_reg),
    .c_commit(cs_commit),
    .c_free(uw_absorb),
    .c_vq(cs_vq_reg),
    .c_head(cs_head_reg),
    .c_new_used(uw_new_used),
    .c_chains(uw_chains),
    .c_commit_free(!uw_keep),
    .f_valid(f_valid),
    .f_vq(f_vq),
    .f_errno(f_errno),
    .f_iova(f_iova),
    .f_xlate(f_xlate),
    .f_write(f_write),
    .f_asid(f_asid),
    .rx_dropped(rx_dropped),
    .needs_reset(needs_reset),
    .rx_drops(rx_drops),
    .fault_valid(fault_valid),
    .fault_data(fault_data),
    .q_state_vec(q_state_vec),
    .q_pending_vec(q_pending),
    .w_size(wc_size),
    .w_desc(wc_desc),
    .w_drv(wc_drv),
    .w_dev(wc_dev),
    .w_avail(wc_avail),
    .w_used(wc_used),
    .w_seen_last(wc_seen),
    .w_seen_ok(wc_seen_ok),
    .w_dgroup(wc_dgroup),
    .w_rgroup(wc_rgroup),
    .w_in_flight(wc_in_flight),
    .c_rd_vq(uw_vq),
    .c_size(cc_size),
    .c_drv(cc_drv),
    .c_dev(cc_dev),
    .c_used(cc_used),
    .c_rgroup(cc_rgroup)
);

function automatic logic [2:0] q_state(input int q);
    return q_state_vec[q*3 +: 3];
endfunction

// ---------------------------------------------------------------------------------------
// Receive buffer: whole frames are taken in (RX_SLOTS of them) before the engine looks for a
// buffer; it offers one at a time, a frame whose queue the engine would act on now
// ---------------------------------------------------------------------------------------
logic         rxb_full;      // a frame is offered
logic [FW:0]  rxb_len;
logic [7:0]   rxb_vq;
logic         rxb_fresh;     // frame not yet offered to its queue
logic         rxb_receiving; // part of a frame taken in
logic         rxb_take;      // engine is done with the offered frame
logic         rxb_tried;     // engine found no buffer: park it until a kick on that queue
logic [NVQ-1:0] rxb_q_ready; // per receive VQ: the engine would act on a fresh frame now
logic [NVQ-1:0] rxb_q_wake;  // ... on a parked one
logic [31:0]  rxb_rd_base;
logic [DATA_W-1:0] rxb_rd_data;
logic         rxb_hold;      // the engine works on the offered frame
// the walker hands the offered frame to the move stage: claimed in the hand-off's cycle, in
// which the buffer shows the frame it offers next (rxb_next_*), so the walker may start on it
// at once (rxb_claim_next) with no idle cycle between the two walks
wire logic    rxb_claim;
wire logic    rxb_claim_next;
logic         rxb_next_full;
logic [7:0]   rxb_next_vq;
logic         rxb_next_fresh;
logic [RSW-1:0] rxb_slot;    // where the offered frame is
logic         rxb_free;   // the move stage has written its frame: the slot is free
logic [RSW-1:0] rxb_free_slot;  // ... this one (ms_slot_reg may already hold the next frame's)

vdpa_rx_buffer #(
    .DATA_W(DATA_W),
    .MAX_FRAME(MAX_FRAME),
    .SLOTS(RX_SLOTS),
    .NVQ(NVQ),
    .MUTANT(MUTANT)
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
    .evict(rxb_evict),
    .evict_vq(rx_evict_vq),
    .evict_seq(rx_evict_seq),
    .q_ready(rxb_q_ready),
    .q_wake(rxb_q_wake),
    .hold(rxb_hold),
    .take(rxb_take),
    .tried(rxb_tried),
    .claim(rxb_claim),
    .claim_next(rxb_claim_next),
    .flush(rxb_flush),
    .next_full(rxb_next_full),
    .next_vq(rxb_next_vq),
    .next_fresh(rxb_next_fresh),
    .slot(rxb_slot),
    .free(rxb_free),
    .free_slot(rxb_free_slot),
    .rd_claimed(1'b1),
    // the mover reads a chain's first beat in the cycle it is handed over
    .rd_slot(hand_off ? rxb_slot : ms_slot_reg),
    .rd_base(rxb_rd_base),
    .rd_data(rxb_rd_data)
);
// ---------------------------------------------------------------------------------------
// The AXI master: walker port (ID 0), completion port (ID 1), DMA mover (ID 2), notifier
// port (ID 3)
// ---------------------------------------------------------------------------------------
localparam int NM = 4;
localparam int PM_WALK = 0;
localparam int PM_DONE = 1;
localparam int PM_MOVE = 2;
localparam int PM_NOTE = 3;
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
// against the ASID its group is bound to. The walker makes its own (w_user: the ring area).
localparam logic [2:0] KIND_AVAIL = 3'd1;
localparam logic [2:0] KIND_USED = 3'd2;
localparam logic [2:0] KIND_BUFFER = 3'd4;
logic [7:0]   cp_asid;
logic [7:0]   np_asid;
logic [7:0]   np_vq;
wire logic [23:0] n_user = {5'd0, KIND_AVAIL, np_asid, np_vq};
// (the queue the completion writer completes: the next chain's in the cycle it is taken, when
// the port may already issue its first item, ISSUE_AT_HIT)
wire logic [23:0] c_user = {5'd0, KIND_USED, cp_asid, 8'(uw_vq)};
// the mover carries its transfer's own (the walker's chain, taken with the request: a burst
// read ahead goes out before the move stage holds that chain)
wire logic [23:0] mv_req_user = {5'd0, KIND_BUFFER, w_h_asid, 8'(w_vq)};
logic [23:0]      mv_aruser, mv_awuser;
assign am_aruser = {n_user, mv_aruser, c_user, w_user};
assign am_awuser = {n_user, mv_awuser, c_user, w_user};

vdpa_axi_arb #(
    .NM(NM),
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .ID_W(ID_W),
    .USER_W(24),
    // the completion writer's one-beat writes before the mover's bursts (vdpa_axi_arb)
    .AW_FIRST(PM_DONE),
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


// ---------------------------------------------------------------------------------------
// Scheduling. TX: round robin over odd VQs with a pending kick that are RDY
// ---------------------------------------------------------------------------------------
logic         pick_found;
logic [QW-1:0] pick_vq;
logic [QW-1:0] rr_reg;
always_comb begin
    pick_found = 1'b0;
    pick_vq = '0;
    for (int k = NVQ; k >= 1; k--) begin
        // scan from rr_reg + 1 upward, last assignment wins, so iterate downward
        if (q_pending[QW'(32'(rr_reg) + k)] && q_state(32'(QW'(32'(rr_reg) + k))) == VQS_RDY &&
                (QW'(32'(rr_reg) + k) & 1) == 1 && !q_blocked[QW'(32'(rr_reg) + k)]) begin
            pick_found = 1'b1;
            pick_vq = QW'(32'(rr_reg) + k);
        end
    end
end

assign eng_busy = w_busy || !back_idle || mv_busy;

// the walker may start a chain: PIPELINE lets it start while later stages hold chains (the
// serial build not in the cycle the walker hands one over, which it may start the next in)
wire logic hand_off;
wire logic walk_free = PIPELINE != 0 || (back_idle && !hand_off);

// quiescent: nothing in flight, no held frame the engine would act on (the buffer offers one
// if there is any), no kick the scheduler would act on
assign dp_idle = !w_busy && back_idle && !mv_busy &&
                 !(rx_full && (rx_vq_bad || (driver_ok && rx_vq_ok))) &&
                 !(driver_ok && pick_found) && !rxb_receiving;

// a received frame waits in the buffer until its queue is RDY and has a buffer; it is offered
// on arrival and, once parked (no buffer: tried), again after each kick of that queue, while
// frames for other queues pass it (the buffer offers the oldest frame the engine would act on,
// per queue in order). When every slot holds a frame, the buffer drops the oldest parked
// frame of a queue not woken to take the next (vdpa_rx_buffer: evict), so the wire waits only
// for frames of stopped queues or while the engine works on a frame.
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
        rxq_bad[q] = !driver_ok || (q & 1) == 1 || q_state(q) == VQS_ERR || q_state(q) == VQS_NONE;
        rxq_open[q] = !rxq_bad[q] && q_state(q) == VQS_RDY && !q_blocked[q];
        rxb_q_ready[q] = rxq_bad[q] || rxq_open[q];
        rxb_q_wake[q] = rxq_bad[q] || (rxq_open[q] && q_pending[q]);
    end
end
// the offered frame is the walker's from E_START until it is back in E_IDLE; the walker then
// claims it for the move stage (which releases its slot once written) or takes it (dropped).
// A refill the walker goes on with after it (vdpa_split_ring_walker) does not hold the next
// frame back: the walk of that frame starts beside the refill.
assign rxb_hold = w_rx && w_walking;
// the frame the scheduler weighs: the offered one, or in the cycle the walker hands a frame
// over (claimed then, still shown as offered) the one the buffer offers next, which the walker
// may start on in that cycle (vdpa_split_ring_walker: start_at_handoff)
wire logic       rx_full = rxb_claim ? rxb_next_full : rxb_full;
wire logic [7:0] rx_vq = rxb_claim ? rxb_next_vq : rxb_vq;
wire logic       rx_fresh = rxb_claim ? rxb_next_fresh : rxb_fresh;
wire logic rx_vq_bad = 32'(rx_vq) >= NVQ || rxq_bad[rx_vq[QW-1:0]];
wire logic rx_vq_ok = !rx_vq_bad && rxq_open[rx_vq[QW-1:0]] &&
                      (rx_fresh || q_pending[rx_vq[QW-1:0]]);
// after an RX chain a kicked TX queue goes first: with several slots a frame is nearly always
// ready, and line-rate RX would starve TX; the frame waits in its slot. With one slot a frame
// that waits stalls the wire, so RX keeps its priority there
wire logic rx_yield = RX_SLOTS > 1 && w_rx && pick_found;

// The walker's next queue, taken when it is idle: an offered frame for a queue that could never
// take it is dropped first (whatever else holds the walker back); no buffers are consumed
// before DRIVER_OK (virtio 1.2 §2.1), nor while a mapping change waits for the data path to be
// between chains; then the offered frame, then the next kicked TX queue
wire logic sched_drop = rx_full && !rxb_take && rx_vq_bad;
wire logic sched_go = !sched_drop && driver_ok && !iotlb_hold && walk_free;
wire logic sched_rx = rx_full && !rxb_take && rx_vq_ok && !rx_yield;
wire logic start_valid = sched_go && (sched_rx || pick_found);
wire logic [QW-1:0] start_vq = sched_rx ? rx_vq[QW-1:0] : pick_vq;

// the walker's last_avail and used index are the context's plus the chains of its queue the
// later stages hold (a one-chain-at-a-time device would have completed them by now; the
// completion stage lets its chains go in the cycle their commit reaches the context)
wire logic [15:0] w_ahead = 16'(ms_busy && ms_vq_reg == w_vq) +
                            16'(dq_valid_reg && dq_vq_reg == w_vq) +
                            ((cs_busy && cs_vq_reg == w_vq) ? 16'(uw_chains) : 16'd0);

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
// and the notifier's ring items; one request outstanding at the IOTLB, its answer goes back
// to who asked
// ---------------------------------------------------------------------------------------
logic        cp_tr_valid;
logic [7:0]  cp_tr_group;
logic [63:0] cp_tr_iova;
logic [31:0] cp_tr_len;
logic        cp_tr_write;
logic        np_tr_valid;
logic [7:0]  np_tr_group;
logic [63:0] np_tr_iova;
logic [31:0] np_tr_len;
logic        np_tr_write;
logic        tr_owner_c_reg;      // the answer awaited is the completion port's
logic        tr_owner_n_reg;      // ... the notifier port's
// the completion writer first (it holds a chain that has moved), then the notifier (its
// checks wait behind it), then the walker
wire logic tr_grant_c = cp_tr_valid;
wire logic tr_grant_n = !cp_tr_valid && np_tr_valid;
assign tr_req_valid = w_tr_valid || cp_tr_valid || np_tr_valid;
assign tr_req_group = tr_grant_c ? cp_tr_group : tr_grant_n ? np_tr_group : w_tr_group;
assign tr_req_iova = tr_grant_c ? cp_tr_iova : tr_grant_n ? np_tr_iova : w_tr_iova;
assign tr_req_len = tr_grant_c ? cp_tr_len : tr_grant_n ? np_tr_len : w_tr_len;
assign tr_req_write = tr_grant_c ? cp_tr_write : tr_grant_n ? np_tr_write : w_tr_write;
wire logic w_tr_ready = tr_req_ready && !tr_grant_c && !tr_grant_n;
wire logic c_tr_ready = tr_req_ready && tr_grant_c;
wire logic n_tr_ready = tr_req_ready && tr_grant_n;
wire logic w_tr_resp = tr_resp_valid && !tr_owner_c_reg && !tr_owner_n_reg;
wire logic c_tr_resp = tr_resp_valid && tr_owner_c_reg;
wire logic n_tr_resp = tr_resp_valid && tr_owner_n_reg;
always_ff @(posedge clk) begin
    if (tr_req_valid && tr_req_ready) begin
        tr_owner_c_reg <= tr_grant_c;
        tr_owner_n_reg <= tr_grant_n;
    end
    if (rst) begin
        tr_owner_c_reg <= 1'b0;
        tr_owner_n_reg <= 1'b0;
    end
end

// ---------------------------------------------------------------------------------------
// The split-ring walker: its chain's segment list, handed to the move stage
// ---------------------------------------------------------------------------------------
logic          mv_req_ready;
logic          uw_req_ready;       // the completion writer is idle: it takes a moved chain
logic [SW-1:0] mv_seg_idx;
// the move stage's chain ends in this cycle (on to the completion stage, or dropped)
logic             ms_end;
// the move stage takes the walker's chain when it is free, or in the cycle the chain before
// it ends (the mover takes it with that done: back to back; the receive buffer's claim of the
// new frame comes in that cycle, the free of the old frame's slot in the next: two slots);
// until then the chain is offered to the mover held back (req_hold), so a mover built with
// MOVER_READ_AHEAD may read its first burst ahead
wire logic        ms_free = ms_state_reg == MS_IDLE || ms_end;
wire logic        h_ready = ms_free && mv_req_ready;
assign hand_off = w_h_valid && h_ready;
assign rxb_claim = hand_off && w_rx;
assign rxb_claim_next = rxb_claim && start_valid && sched_rx && w_start_ready;
logic [63:0]      w_h_seg_pa;
logic [31:0]      w_h_seg_len;
// RX: the header and the frame
wire logic [31:0] rx_xfer_len = 32'(hdr_len) + 32'(rxb_len);

vdpa_split_ring_walker #(
    .NVQ(NVQ),
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .MAX_SEGS(MAX_SEGS),
    .MUTANT(MUTANT)
) walker_inst (
    .clk(clk),
    .rst(rst),
    .event_idx(feat_event_idx),
    .back_idle(back_idle),
    .ctx_change(cmd_valid || cmd_busy),
    .tr_flush(tr_flush),
    .start_valid(start_valid),
    .start_vq(start_vq),
    .start_rx(sched_rx),
    .start_ready(w_start_ready),
    .busy(w_busy),
    .walking(w_walking),
    .refilling(w_refilling),
    .refill_vq(w_refill_vq),
    .vq(w_vq),
    .rx(w_rx),
    .head(w_head),
    .ctx_state(q_state(32'(w_vq))),
    .ctx_size(wc_size),
    .ctx_desc(wc_desc),
    .ctx_drv(wc_drv),
    .ctx_dev(wc_dev),
    .ctx_avail(wc_avail),
    .ctx_used(wc_used),
    .ctx_seen(wc_seen),
    .ctx_seen_ok(wc_seen_ok),
    .ctx_dgroup(wc_dgroup),
    .ctx_rgroup(wc_rgroup),
    .ctx_in_flight(wc_in_flight),
    .ahead(w_ahead),
    .ev_consume(w_ev_consume),
    .ev_rearm(w_ev_rearm),
    .ev_seen(w_ev_seen),
    .ev_seen_idx(w_ev_seen_idx),
    .ev_ift_set(w_ev_ift_set),
    .ev_ift_clr(w_ev_ift_clr),
    .f_valid(w_f_valid),
    .f_errno(w_f_errno),
    .f_iova(w_f_iova),
    .f_xlate(w_f_xlate),
    .f_write(w_f_write),
    .f_asid(w_f_asid),
    .rx_need(rx_xfer_len),
    .rx_take(w_rx_take),
    .rx_tried(w_rx_tried),
    .h_valid(w_h_valid),
    .h_ready(h_ready),
    .h_bank(w_h_bank),
    .h_total(w_h_total),
    .h_asid(w_h_asid),
    .h_seg_pa(w_h_seg_pa),
    .h_seg_len(w_h_seg_len),
    // the mover reads a chain's later segments from the bank it was handed (its first comes
    // with the request: h_seg_pa/h_seg_len)
    .seg_rd({ms_bank_reg, mv_seg_idx}),
    .seg_rd_pa(w_seg_pa),
    .seg_rd_len(w_seg_len),
    .tr_req_valid(w_tr_valid),
    .tr_req_ready(w_tr_ready),
    .tr_req_group(w_tr_group),
    .tr_req_iova(w_tr_iova),
    .tr_req_len(w_tr_len),
    .tr_req_write(w_tr_write),
    .tr_resp_valid(w_tr_resp),
    .tr_resp_ok(tr_resp_ok),
    .tr_resp_pa(tr_resp_pa),
    .tr_resp_len(tr_resp_len),
    .tr_resp_asid(tr_resp_asid),
    .axi_user(w_user),
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

// ---------------------------------------------------------------------------------------
// DMA mover: the move stage's chain data over its translated segments (the walker-to-mover
// seam)
// ---------------------------------------------------------------------------------------
logic          mv_done_valid, mv_fault;
logic [31:0]   mv_moved;
// TX: the chain, or nothing for a chain shorter than the header or longer than a frame
// (completed without transmitting, dropped); RX: the header and frame (a frame larger than the
// chain's capacity was dropped by the walker instead)
wire logic        tx_dropped = w_h_total < 32'(hdr_len) || w_h_total - 32'(hdr_len) > TX_MAX_FRAME;
wire logic [31:0] mv_req_len = w_rx ? rx_xfer_len : (tx_dropped ? 32'd0 : w_h_total);
// the moved chain goes to the completion stage, or is dropped if its queue went to ERR while
// it moved (the completion of the chain before it faulted)
wire logic        ms_drop = q_state(32'(ms_vq_reg)) == VQS_ERR && MUTANT != MUT_COMPLETE_AFTER_ERROR;  // mutant MUT_COMPLETE_AFTER_ERROR
// the moved chain's done is taken when it is dropped, goes to the completion stage, or goes to
// the done queue: empty (the completion stage busy, not with its queue), or emptied into the
// completion stage in this cycle (and not of the queue that one is of)
wire logic        dq_room = dq_valid_reg ? (uw_take && dq_vq_reg != ms_vq_reg) :
                                           (!uw_req_ready && !(cs_busy && cs_vq_reg == ms_vq_reg));
wire logic        mv_done_ready = ms_drop || (!dq_valid_reg && uw_req_ready) || dq_room;
wire logic        dq_in = ms_end && !ms_drop && dq_room;
// a transmitted frame's last beat waits while the completion of its queue's previous chain
// may still fault (until its used.idx is written: it may leave in the cycle that write's
// response commits the completion), and leaves with the abort flag (the receiver discards
// it) if it did. A last beat still on the stream after its chain's done (mv_tail: the mover
// is done as that beat is read) was decided at the done.
logic              mv_tvalid, mv_tready, mv_tlast, mv_tuser, mv_tail;
logic              tail_drop_reg;      // the chain of that beat was dropped
wire logic         tx_hold = mv_tlast && !mv_tail &&
                             MUTANT != MUT_TX_NO_HOLD &&  // mutant MUT_TX_NO_HOLD
                             ((cs_busy && cs_vq_reg == ms_vq_reg && !(cs_commit && !uw_keep)) ||
                              (dq_valid_reg && dq_vq_reg == ms_vq_reg));
assign m_axis_tx_tvalid = mv_tvalid && !tx_hold;
assign mv_tready = m_axis_tx_tready && !tx_hold;
assign m_axis_tx_tlast = mv_tlast;
assign m_axis_tx_tuser = mv_tuser || (mv_tlast && (mv_tail ? tail_drop_reg : ms_drop));
// the mover's bus-error flag: every mover fault is EIO, reported from its fault pulse
/* verilator lint_off UNUSEDSIGNAL */
logic          mv_err_set;
/* verilator lint_on UNUSEDSIGNAL */

vdpa_dma_mover #(
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .MAX_SEGS(MAX_SEGS),
    .USER_W(24),
    .RA_BYTES(MOVER_READ_AHEAD),
    // a transmitted chain's first read goes to the bus in its hand-off cycle
    .ISSUE_AT_TAKE(1),
    // and is done as its last beat is read: the next chain's read goes out then
    .TX_DONE_AT_READ(1),
    .MUTANT(MUTANT)
) mover_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(w_h_valid),
    .req_hold(!ms_free),
    .req_ready(mv_req_ready),
    .req_rx(w_rx),
    .req_len(mv_req_len),
    .req_seg_pa(w_h_seg_pa),
    .req_seg_len(w_h_seg_len),
    .req_user(mv_req_user),
    .seg_idx(mv_seg_idx),
    .seg_pa(w_seg_pa),
    .seg_len(w_seg_len),
    .src_pos(mv_src_pos),
    .src_data(rx_src),
    .done_valid(mv_done_valid),
    .done_ready(mv_done_ready),
    .moved(mv_moved),
    .err_set(mv_err_set),
    .fault(mv_fault),
    .busy(mv_busy),
    .tx_tail(mv_tail),
    .axi_awaddr(am_awaddr[PM_MOVE*ADDR_W +: ADDR_W]),
    .axi_awlen(am_awlen[PM_MOVE*8 +: 8]),
    .axi_awuser(mv_awuser),
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
    .axi_aruser(mv_aruser),
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
// the data has moved (TX: the frame read, its last beat in the mover's stream register)
wire logic uw_req_valid = dq_valid_reg || (mv_done_valid && !ms_drop);
assign uw_take = uw_req_valid && uw_req_ready;
logic         uw_item_valid;
logic [7:0]   uw_item_group;
logic [63:0]  uw_item_iova;
logic [4:0]   uw_item_len;
logic [63:0]  uw_item_wdata;
logic         uw_done_valid;
logic         cp_done, cp_fault, cp_fault_xlate;
logic [7:0]   cp_fault_asid;
logic [127:0] cp_rdata;
// the port is the writer's again in CS_USED (the chain's first item, or the writer holding
// used.idx back for the next chain of its batch) and in the cycle it ends an item, so the next
// item goes to the port at once, back to back; the writer's done is taken as its last read
// ends, with the next chain's request if the move stage has one (uw_take)
wire logic uw_port_free = cs_state_reg == CS_USED || (cs_state_reg == CS_PORT && cp_done);
// a receive chain of the completion stage's queue is moving: the writer may hold used.idx
// for it (its batch); a TX chain never comes while the stage holds its queue (tx_hold)
// (not while a chain of another queue waits in the done queue: the batch closes for it, else
// the mover's chain, waiting behind it, would never come)
wire logic uw_more = ms_state_reg == MS_XFER && !mv_fault && ms_rx_reg && cs_busy &&
                     ms_vq_reg == cs_vq_reg && !dq_valid_reg;
// the port refused an element of a chain after the batch's first: the batch ends before it
// and that chain is completed again alone (a fault, if any, comes then, as a one-chain
// device's would)
logic         uw_retry_ok;
wire logic    uw_refuse = cs_state_reg == CS_PORT && cp_fault && uw_retry_ok &&
                          MUTANT != MUT_BATCH_FAULT_WHOLE;  // mutant MUT_BATCH_FAULT_WHOLE
// the port's request: an item the writer offers while the port is free goes to the port in
// that same cycle: in CS_USED (the port idle), or in the cycle the port ends the item before
// (CS_PORT with cp_done), as req_next, so the port looks it up at once and one item follows
// another on the bus with no idle cycle. From the next cycle it comes from the copy latched
// then (an item's request must not change before its done). The port cannot fault in the
// cycle it takes an item: the cache holds only successes and an IOTLB answer comes a cycle
// later at the earliest. On a cache hit the port has the item on the bus in that same cycle
// (ISSUE_AT_HIT), so c_user names the queue the writer completes then (uw_vq), not the copy.
wire logic         c_first = uw_port_free && uw_item_valid;
// (in CS_PORT the port is free only with cp_done: the item follows the one ending)
wire logic         c_next = c_first && cs_state_reg == CS_PORT;
wire logic [7:0]   c_req_group = c_first ? uw_item_group : c_group_reg;
wire logic [63:0]  c_req_iova = c_first ? uw_item_iova : c_iova_reg;
wire logic [4:0]   c_req_len = c_first ? uw_item_len : c_len_reg;
wire logic [63:0]  c_req_wdata = c_first ? uw_item_wdata : c_wval_reg;
// where the writer would complete into: the walker checks its own chain's items instead
// (w_used), from the same layout (vdpa_split_ring_pkg)
/* verilator lint_off UNUSEDSIGNAL */
logic [63:0]  uw_elem_iova, uw_idx_iova;
wire logic    unused_cp = ^cp_rdata;
/* verilator lint_on UNUSEDSIGNAL */

vdpa_used_writer #(
    .BATCH(PIPELINE != 0 ? COMPLETION_BATCH : 1),
    .MUTANT(MUTANT)
) used_writer_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(uw_req_valid),
    .req_ready(uw_req_ready),
    .req_head(uw_req_head),
    .req_rx(uw_req_rx),
    .req_written(dq_valid_reg ? dq_written_reg : mv_moved),
    .req_vq(8'(uw_req_vq)),
    .more(uw_more),
    .ctx_drv(cc_drv),
    .ctx_dev(cc_dev),
    .ctx_size(cc_size),
    .ctx_used(cc_used),
    .ctx_group(cc_rgroup),
    .event_idx(feat_event_idx),
    .elem_iova(uw_elem_iova),
    .idx_iova(uw_idx_iova),
    .item_valid(uw_item_valid),
    .item_ready(uw_port_free),
    .item_group(uw_item_group),
    .item_iova(uw_item_iova),
    .item_len(uw_item_len),
    .item_wdata(uw_item_wdata),
    .cancel(cs_state_reg == CS_FAULT),
    .retry_ok(uw_retry_ok),
    .refuse(uw_refuse),
    .absorb(uw_absorb),
    .chains(uw_chains),
    .commit(uw_commit),
    .new_used(uw_new_used),
    .done_valid(uw_done_valid),
    .done_ready(uw_port_free),
    .keep(uw_keep),
    .note_valid(nt_note_valid),
    .note_room(nt_note_room),
    .note_vq(nt_note_vq),
    .note_iova(nt_note_iova),
    .note_group(nt_note_group),
    .note_event_idx(nt_note_event_idx),
    .note_old(nt_note_old),
    .note_used(nt_note_used)
);

vdpa_ring_port #(
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .CACHE_SETS(NVQ),
    // the used element's page and used.idx's
    .CACHE_ENTRIES(2),
    // its first item comes straight from the writer (c_first)
    .PROBES(0),
    // a used element or used.idx in a page the port holds goes to the bus in the cycle the
    // writer offers it: each of a completion's two ordered round trips a cycle shorter
    .ISSUE_AT_HIT(1),
    .MUTANT(MUTANT)
) done_port_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(cs_state_reg == CS_PORT || c_first),
    // the queue the writer completes: the next chain's in the cycle it is taken
    .req_set(uw_vq),
    .req_group(c_req_group),
    .req_iova(c_req_iova),
    .req_len(c_req_len),
    .req_write(1'b1),
    .req_probe(1'b0),
    .req_wdata(c_req_wdata),
    .req_next(c_next),
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

// ---------------------------------------------------------------------------------------
// Notifier: each completion's notification check, over its own ring-item port, while the
// completion stage goes on with the next chain
// ---------------------------------------------------------------------------------------
logic          np_req_valid;
logic [7:0]    np_req_group;
logic [63:0]   np_req_iova;
logic          np_done, np_fault;
logic [127:0]  np_rdata;
/* verilator lint_off UNUSEDSIGNAL */
logic          np_fault_xlate;
logic [7:0]    np_fault_asid;
wire logic     unused_np = ^{np_rdata[127:16], np_fault_xlate, np_fault_asid};
/* verilator lint_on UNUSEDSIGNAL */

vdpa_notifier #(
    .NVQ(NVQ),
    .MUTANT(MUTANT)
) notifier_inst (
    .clk(clk),
    .rst(rst),
    .note_valid(nt_note_valid),
    .note_room(nt_note_room),
    .note_vq(nt_note_vq),
    .note_iova(nt_note_iova),
    .note_group(nt_note_group),
    .note_event_idx(nt_note_event_idx),
    .note_old(nt_note_old),
    .note_used(nt_note_used),
    .port_req_valid(np_req_valid),
    .port_req_group(np_req_group),
    .port_req_vq(np_vq),
    .port_req_iova(np_req_iova),
    .port_done(np_done),
    .port_fault(np_fault),
    .port_rdata(np_rdata[15:0]),
    .irq_valid(irq_valid),
    .irq_vq(irq_vq),
    .held(nt_held),
    .busy(nt_busy)
);

vdpa_ring_port #(
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .CACHE_SETS(NVQ),
    // the notification field's page
    .CACHE_ENTRIES(1),
    .PROBES(0),
    // a notification field in a page the port holds is read in the cycle its check starts
    .ISSUE_AT_HIT(1),
    .MUTANT(MUTANT)
) note_port_inst (
    .clk(clk),
    .rst(rst),
    .req_valid(np_req_valid),
    .req_set(QW'(np_vq)),
    .req_group(np_req_group),
    .req_iova(np_req_iova),
    .req_len(5'd2),
    .req_write(1'b0),
    .req_probe(1'b0),
    .req_wdata(64'd0),
    .req_next(1'b0),
    .done(np_done),
    .fault(np_fault),
    .fault_xlate(np_fault_xlate),
    .fault_asid(np_fault_asid),
    .rdata(np_rdata),
    .asid(np_asid),
    .tr_req_valid(np_tr_valid),
    .tr_req_ready(n_tr_ready),
    .tr_req_group(np_tr_group),
    .tr_req_iova(np_tr_iova),
    .tr_req_len(np_tr_len),
    .tr_req_write(np_tr_write),
    .tr_resp_valid(n_tr_resp),
    .tr_resp_ok(tr_resp_ok),
    .tr_resp_pa(tr_resp_pa),
    .tr_resp_len(tr_resp_len),
    .tr_resp_asid(tr_resp_asid),
    .flush(tr_flush),
    .axi_awaddr(am_awaddr[PM_NOTE*ADDR_W +: ADDR_W]),
    .axi_awlen(am_awlen[PM_NOTE*8 +: 8]),
    .axi_awvalid(am_awvalid[PM_NOTE]),
    .axi_awready(am_awready[PM_NOTE]),
    .axi_wdata(am_wdata[PM_NOTE*DATA_W +: DATA_W]),
    .axi_wstrb(am_wstrb[PM_NOTE*BYTES +: BYTES]),
    .axi_wlast(am_wlast[PM_NOTE]),
    .axi_wvalid(am_wvalid[PM_NOTE]),
    .axi_wready(am_wready[PM_NOTE]),
    .axi_bresp(am_bresp),
    .axi_bvalid(am_bvalid[PM_NOTE]),
    .axi_bready(am_bready[PM_NOTE]),
    .axi_araddr(am_araddr[PM_NOTE*ADDR_W +: ADDR_W]),
    .axi_arlen(am_arlen[PM_NOTE*8 +: 8]),
    .axi_arvalid(am_arvalid[PM_NOTE]),
    .axi_arready(am_arready[PM_NOTE]),
    .axi_rdata(am_rdata),
    .axi_rresp(am_rresp),
    .axi_rlast(am_rlast),
    .axi_rvalid(am_rvalid[PM_NOTE]),
    .axi_rready(am_rready[PM_NOTE])
);

// ---------------------------------------------------------------------------------------
// Stage events for the contexts
// ---------------------------------------------------------------------------------------
// the move stage's chain ends: to the completion stage, or dropped (queue in ERR)
assign ms_end = ms_state_reg == MS_XFER && !mv_fault && mv_done_valid && mv_done_ready;
assign ms_ift_clr = ms_end && ms_drop;
// a bus error on the data: reported once the completion before it is done (a serial device
// completes that chain first), dropped if that completion put the queue in ERR
wire logic ms_fault_end = ms_state_reg == MS_FAULT && !cs_busy && !dq_valid_reg;
assign ms_f_valid = ms_fault_end && !ms_drop;
assign cs_f_valid = cs_state_reg == CS_FAULT;
`ifndef SYNTHESIS
// What lets a receive chain write beside the completion before it (the header): a completion
// never fails translation. The walker translated its used element and used.idx before any
// data moved (or knew them translated, with no command since), and vdpa_iotlb removes,
// rebinds or switches a mapping only while no chain is in flight (a simulation check, not
// logic).
always @(posedge clk) begin
    if (!rst && cs_state_reg == CS_PORT && cp_fault && cp_fault_xlate) begin
        $error("Error: a completion failed translation after its chain's check (instance %m)");
    end
    // what lets the done queue drop nothing: its chain's queue never goes to ERR under it
    if (!rst && dq_valid_reg && q_state(32'(dq_vq_reg)) == VQS_ERR) begin
        $error("Error: the done queue's chain is of a queue in ERR (instance %m)");
    end
end
`endif
// received frames dropped: by the walker (a frame for no queue that could take it, too big for
// its chain, a fault), with the move stage's chain (dropped or faulted) and on a completion
// fault (the frame was delivered but its completion is lost)
assign drop_walk = (!w_busy && sched_drop) || w_rx_take;
assign drop_move = (ms_end && ms_drop && ms_rx_reg) || (ms_fault_end && ms_rx_reg);
assign drop_done = (cs_f_valid && cs_rx_reg) ? uw_chains : 3'd0;

always_ff @(posedge clk) begin
    rxb_take <= drop_walk;
    rxb_tried <= w_rx_tried;
    rxb_free <= 1'b0;

    // the TX round robin moves on when the walker takes a kicked queue
    if (w_start_ready && start_valid && !sched_rx) begin
        rr_reg <= pick_vq;
    end

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
                rxb_free_slot <= ms_slot_reg;
                ms_frame_reg <= 1'b0;
                // dropped (its queue went to ERR on the chain before it: ms_ift_clr), or on
                // to the completion stage (uw_take below) or the done queue
                ms_state_reg <= MS_IDLE;
            end
        end
        MS_FAULT: begin
            // the VQ stops in ERR (ms_f_valid); a received frame being written is dropped
            if (ms_fault_end) begin
                rxb_free <= ms_frame_reg;
                rxb_free_slot <= ms_slot_reg;
                ms_frame_reg <= 1'b0;
                ms_state_reg <= MS_IDLE;
            end
        end
        default: begin
            ms_state_reg <= MS_IDLE;
        end
    endcase

    // the completion stage takes the done queue's chain, else the mover's; the done queue
    // takes the mover's when the completion stage does not
    if (uw_take) begin
        cs_vq_reg <= uw_req_vq;
        cs_rx_reg <= uw_req_rx;
        cs_head_reg <= uw_req_head;
        cs_state_reg <= CS_USED;
    end
    if (dq_in) begin
        dq_valid_reg <= 1'b1;
        dq_vq_reg <= ms_vq_reg;
        dq_rx_reg <= ms_rx_reg;
        dq_head_reg <= ms_head_reg;
        dq_written_reg <= mv_moved;
    end else if (uw_take) begin
        dq_valid_reg <= 1'b0;
    end
    if (ms_end) begin
        tail_drop_reg <= ms_drop && MUTANT != MUT_TAIL_UNFLAGGED;  // mutant MUT_TAIL_UNFLAGGED
    end

    // ===================================================================================
    // Hand-off: the walker's chain enters the move stage (after the move stage's own case:
    // a TX chain handed over as the one before ends takes the stage over)
    // ===================================================================================
    if (hand_off) begin
        ms_vq_reg <= w_vq;
        ms_rx_reg <= w_rx;
        ms_head_reg <= w_head;
        ms_bank_reg <= w_h_bank;
        ms_frame_reg <= w_rx;
        ms_slot_reg <= rxb_slot;
        ms_state_reg <= MS_XFER;
    end

    // ===================================================================================
    // Completion stage: used element, used.idx, notification (vdpa_used_writer over the
    // completion port)
    // ===================================================================================
    case (cs_state_reg)
        CS_IDLE: begin
        end
        CS_USED, CS_PORT: begin
            if (uw_refuse) begin
                // the writer offers used.idx for the chains before the refused one
                cs_state_reg <= CS_USED;
            end else if (cs_state_reg == CS_PORT && cp_fault) begin
                cs_xlate_reg <= cp_fault_xlate;
                cs_asid_reg <= cp_fault_asid;
                cs_iova_reg <= c_iova_reg;
                cs_state_reg <= CS_FAULT;
            end else if (uw_port_free) begin
                if (uw_item_valid) begin
                    c_group_reg <= uw_item_group;
                    c_iova_reg <= uw_item_iova;
                    c_len_reg <= uw_item_len;
                    c_wval_reg <= uw_item_wdata;
                end
                // the writer offers an item, says it is done, or holds used.idx back for
                // its batch's next chain (the port stays the writer's, CS_USED); done with
                // the next chain taken (the move stage's hand-over in this cycle) or a
                // refused chain kept to complete again, on to that one (the done is the
                // commit: used.idx is written, the queue's context advances and the heads
                // are free again, cs_commit)
                cs_state_reg <= uw_item_valid ? CS_PORT :
                                uw_done_valid ? ((uw_take || uw_keep) ? CS_USED : CS_IDLE) :
                                CS_USED;
            end
        end
        CS_FAULT: begin
            // the VQ stops in ERR (cs_f_valid; a chain of it in the move stage or the walker
            // is then dropped); the received frame was delivered but its completion is lost
            cs_state_reg <= CS_IDLE;
        end
    endcase

    if (rst) begin
        rr_reg <= '0;
        ms_state_reg <= MS_IDLE;
        ms_vq_reg <= '0;
        ms_rx_reg <= 1'b0;
        ms_frame_reg <= 1'b0;
        dq_valid_reg <= 1'b0;
        cs_state_reg <= CS_IDLE;
        cs_vq_reg <= '0;
    end
end

endmodule

`resetall
