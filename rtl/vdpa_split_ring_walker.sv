// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Split-ring walker (virtio 1.2 §2.7): the first stage of the virtqueue engine's data path.
 *
 * Given a queue by the scheduler (start_valid/start_vq/start_rx in E_IDLE, or in the cycle
 * the chain before is handed over: start_at_handoff), it reads
 * avail.idx (or serves an entry known from the last read), the avail entry (with up to 8 published
 * entries after it read ahead and kept per VQ), the head; walks and validates the whole
 * descriptor chain, indirect tables included (drivers/vhost/vringh.c: __vringh_iov,
 * __vringh_get_head, move_to_indirect); translates every buffer page through the IOTLB (or its
 * buffer translation cache) into a segment list; and translates for writing the used element and used.idx the chain will
 * complete into (E_PROBE_IDX), so a malformed ring or a translation fault makes no data access.
 * Then it hands the chain on. What it reads ahead or already knows, so a queue's next chains
 * walk without waiting for the bus: the published avail entries after the one it needs, the
 * head descriptors of the next published heads when they follow the current one in the table,
 * and whether the completion's items translate (the used element's page, used.idx); each is
 * dropped on any VQ or IOTLB command and on a fault, and a read ahead that faults is retried
 * as the one item needed, so faults come where a serial device's come. A chain waiting for
 * a busy move stage, and a receive chain handed over at once, refill them for the next chain
 * of its queue in the background ("Background refill" below); meanwhile start_ready admits
 * that queue's next chain after a descriptor refill or beside a re-read of items it already
 * holds, and another queue's chain at once. The page a queue's next buffer will need is
 * translated ahead as each chain is offered, upward or downward as the queue's buffers go.
 *
 * The walker-to-mover seam (its output): h_valid/h_ready with the chain's VQ, direction, head,
 * segment bank, total length (TX: bytes to read; RX: capacity), data ASID and first segment
 * (h_seg_pa/h_seg_len, so the mover may read ahead an offered chain's first burst while it
 * reads the chain before it); the later segments are read by the mover through seg_rd_* from
 * the bank handed over (two banks: the walker fills one while the mover reads the other).
 * Nothing in it is ring-format specific: a packed-ring
 * walker (virtio 1.2 §2.8) is a sibling module that plugs into the same seam, with the same
 * context read port and event ports, for the same mover and completion writer
 * (docs/rtl-interface.md "Data path blocks").
 *
 * It changes the VQ contexts (vdpa_vq_ctx) only through events on the VQ and head it serves:
 * ev_consume (the kick taken, E_START), ev_rearm (entries still published on a TX queue),
 * ev_seen (avail.idx read and in range), ev_ift_set/ev_ift_clr (the head into flight / given
 * back for a chain dropped before the move stage), and the fault port (f_valid with its
 * record). Its fault and its one write (avail_event, EVENT_IDX) wait for back_idle, so both
 * come where a one-chain-at-a-time device would make them. Its chain's last_avail and used
 * index are the context's plus `ahead`, the chains of its queue the later stages hold and have
 * not committed (vdpa_vq_engine counts them).
 *
 * Its ring-item port (walk_port_inst, vdpa_ring_port) is AXI master 0 of the engine's arbiter;
 * buffer pages go to the IOTLB directly (tr_req_*), beside the port's own requests.
 */
module vdpa_split_ring_walker
    import vdpa_regs_pkg::*;
    import vdpa_split_ring_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // Number of hardware VQs (a power of two 2..64)
    parameter int NVQ = 8,
    // AXI data width in bits (32, 64, 128, 256 or 512)
    parameter int DATA_W = 64,
    // AXI address width in bits
    parameter int ADDR_W = 64,
    // Translated segments one chain may use (device limit, E2BIG beyond)
    parameter int MAX_SEGS = 32,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE,
    localparam int QW = $clog2(NVQ),
    localparam int SW = $clog2(MAX_SEGS),
    localparam int BYTES = DATA_W / 8,
    // descriptors a head's read brings with it (the heads published after it, when they follow
    // it in the table), and so the walker's largest ring item
    localparam int DPF_DESCS = 4,
    localparam int WALK_ITEM = 16 * DPF_DESCS
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    // VIRTIO_F_EVENT_IDX negotiated
    input  wire logic                 event_idx,
    // the move and completion stages hold no chain
    input  wire logic                 back_idle,
    // a VQ command arrives or runs (cmd_valid or cmd_busy): the entries read ahead are dropped
    input  wire logic                 ctx_change,
    // the IOTLB is running a command: translations may change, cached answers are dropped
    input  wire logic                 tr_flush,

    /* Start: the scheduler's queue, taken in E_IDLE or at a hand-off (start_at_handoff) */
    input  wire logic                 start_valid,
    input  wire logic [QW-1:0]        start_vq,
    input  wire logic                 start_rx,     // serve the offered received frame
    output wire logic                 start_ready,  // takes start_valid in this cycle
    output wire logic                 busy,         // walking, or refilling (or about to)
    output wire logic                 walking,      // walking a chain (not in E_IDLE)
    output wire logic                 refilling,    // refilling what it reads ahead ...
    output wire logic [QW-1:0]        refill_vq,    // ... for this VQ (held until the next refill)
    output wire logic [QW-1:0]        vq,           // the VQ served (held until the next start)
    output wire logic                 rx,           // ... for a received frame
    output wire logic [15:0]          head,         // the chain's head (from E_HEAD_CHK on)

    /* Context of `vq` (vdpa_vq_ctx's walker read port), `ahead` chains added by the engine */
    input  wire logic [2:0]           ctx_state,
    input  wire logic [16:0]          ctx_size,
    input  wire logic [63:0]          ctx_desc,
    input  wire logic [63:0]          ctx_drv,
    input  wire logic [63:0]          ctx_dev,
    input  wire logic [15:0]          ctx_avail,
    input  wire logic [15:0]          ctx_used,
    input  wire logic [15:0]          ctx_seen,
    input  wire logic                 ctx_seen_ok,
    input  wire logic [7:0]           ctx_dgroup,
    input  wire logic [7:0]           ctx_rgroup,
    input  wire logic                 ctx_in_flight,  // `head` is in flight
    input  wire logic [15:0]          ahead,

    /* Context events (vdpa_vq_ctx), for `vq` and `head` */
    output wire logic                 ev_consume,
    output wire logic                 ev_rearm,
    output wire logic                 ev_seen,
    output wire logic [15:0]          ev_seen_idx,
    output wire logic                 ev_ift_set,
    output wire logic                 ev_ift_clr,
    output wire logic                 f_valid,
    output wire logic [7:0]           f_errno,
    output wire logic [63:0]          f_iova,
    output wire logic                 f_xlate,
    output wire logic                 f_write,
    output wire logic [7:0]           f_asid,

    /* The received frame being served */
    input  wire logic [31:0]          rx_need,      // bytes it needs: header and frame
    output wire logic                 rx_take,      // dropped (too big for the chain, a fault)
    output wire logic                 rx_tried,     // no buffer: parked until a kick

    /* The walker-to-mover seam */
    output wire logic                 h_valid,
    input  wire logic                 h_ready,
    output wire logic                 h_bank,       // the segment bank the chain's list is in
    output wire logic [31:0]          h_total,      // TX: bytes of the chain; RX: its capacity
    output wire logic [7:0]           h_asid,       // the data group's ASID
    output wire logic [63:0]          h_seg_pa,     // the chain's segment 0
    output wire logic [31:0]          h_seg_len,
    input  wire logic [SW:0]          seg_rd,       // {bank, index}
    output wire logic [63:0]          seg_rd_pa,
    output wire logic [31:0]          seg_rd_len,

    /* IOTLB translation (buffer pages and the port's ring items) */
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

    /* AXI master of the ring-item port (one master of vdpa_axi_arb), user sideband */
    output wire logic [23:0]          axi_user,
    output wire logic [ADDR_W-1:0]    axi_awaddr,
    output wire logic [7:0]           axi_awlen,
    output wire logic                 axi_awvalid,
    input  wire logic                 axi_awready,
    output wire logic [DATA_W-1:0]    axi_wdata,
    output wire logic [BYTES-1:0]     axi_wstrb,
    output wire logic                 axi_wlast,
    output wire logic                 axi_wvalid,
    input  wire logic                 axi_wready,
    input  wire logic [1:0]           axi_bresp,
    input  wire logic                 axi_bvalid,
    output wire logic                 axi_bready,
    output wire logic [ADDR_W-1:0]    axi_araddr,
    output wire logic [7:0]           axi_arlen,
    output wire logic                 axi_arvalid,
    input  wire logic                 axi_arready,
    input  wire logic [DATA_W-1:0]    axi_rdata,
    input  wire logic [1:0]           axi_rresp,
    input  wire logic                 axi_rlast,
    input  wire logic                 axi_rvalid,
    output wire logic                 axi_rready
);

initial begin
    if (MAX_SEGS < 2 || (MAX_SEGS & (MAX_SEGS - 1)) != 0) begin
        $error("Error: MAX_SEGS must be a power of two, at least 2 (instance %m)");
        $finish;
    end
end

// virtio constants (virtio 1.2 §2.7.5, §2.7.6; virtio_ring.h)
localparam logic [15:0] DESC_F_NEXT = 16'd1;
localparam logic [15:0] DESC_F_WRITE = 16'd2;
localparam logic [15:0] DESC_F_INDIRECT = 16'd4;

typedef enum logic [4:0] {
    E_IDLE, E_START, E_AVAIL_CHK, E_AVAIL_EVENT, E_HEAD, E_HEAD_CHK,
    E_DESC_RD, E_DESC_CHK, E_BUF_XL, E_BUF_XLW, E_NEXT,
    // the completion's ring items translated before any data moves, then the hand-off
    E_PROBE_IDX, E_MOVE,
    E_DONE, E_FAULT, E_RX_DROP,
    // the walker's ring-item port reads, writes or checks one item; back to e_ret_reg
    E_PORT,
    // the chain's avail entry is not held, and a refill of its queue that may bring it runs
    E_AVAIL_WAIT
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
// the buffer bytes looked up in the buffer cache and their descriptor's flags: the descriptor
// being checked in E_DESC_CHK (its first piece is taken there when the cache holds it), else
// where its buffer goes on (x_*_reg, d_flags_reg)
logic [63:0]  x_iova;
logic [31:0]  x_left;
logic [15:0]  d_flags;
logic [31:0]  total_reg;           // bytes of the chain (TX) / capacity (RX)
logic [7:0]   data_asid_reg;
// the walker's ring item
logic [7:0]   m_group_reg;
logic [63:0]  m_iova_reg;
logic [6:0]   m_len_reg;           // 2, 4 or 16 bytes, up to 16 of avail entries or 64 of
                                   // descriptors read ahead (8: the used element, checked only)
logic         m_write_reg;
logic         m_probe_reg;         // translate and check only: no bus access
logic [63:0]  m_wval_reg;
// fault record of the walk
logic [7:0]   f_errno_reg;
logic         f_xlate_reg;
logic [7:0]   f_asid_reg;
logic [63:0]  f_iova_reg;
logic         f_write_reg;

// the background refill of what is read ahead (below): idle, its read at the port, its result
// stored (the port's rdata is valid the cycle after done)
typedef enum logic [1:0] {RF_IDLE, RF_PORT, RF_STORE} rfstate_t;
rfstate_t     rf_state_reg;
logic [QW-1:0] rf_vq_reg;          // the VQ it reads for (e_vq_reg at its start)
logic         rf_desc_reg;         // descriptors (else avail entries)
logic         rf_held_reg;         // read again from the next chain's item, already held
logic [15:0]  rf_base_reg;         // avail position of the first item read
logic [3:0]   rf_n_reg;            // items read
logic         rf_down_reg;         // descriptors in descending table order (head_run)
logic         rf_stale_reg;        // a VQ or IOTLB command came while it was read: not kept
logic [7:0]   rf_group_reg;        // its item for the port
logic [63:0]  rf_iova_reg;
logic [6:0]   rf_len_reg;
logic [127:0] rf_kept_reg;         // a run read on: the held descriptor it is stored behind
wire logic    rf_at_port = rf_state_reg == RF_PORT;
// the VQ of the item at the walker's port: the refill's while it is there, else the walk's
wire logic [QW-1:0] wp_vq = rf_at_port ? rf_vq_reg : e_vq_reg;

assign walking = e_state_reg != E_IDLE;
assign refilling = rf_state_reg != RF_IDLE;
assign refill_vq = rf_vq_reg;
// the refill under way (if any) admits the scheduler's chain beside it (below)
wire logic rf_admits = rf_state_reg == RF_IDLE || start_vq != rf_vq_reg || rf_desc_reg ||
                       rf_held_reg;
wire logic start_at_handoff;
assign start_ready = start_at_handoff || (e_state_reg == E_IDLE && rf_admits);
assign vq = e_vq_reg;
assign rx = e_rx_reg;
// (in E_START the head read ahead, which head_now takes into flight there)
assign head = e_state_reg == E_START ? pf_head : e_head_reg;

wire logic [16:0] e_size = ctx_size;
// the walker's last_avail and used index: the context's, plus the chains of its queue the
// later stages hold and have not committed (a one-chain-at-a-time device would have completed
// them by now)
wire logic [15:0] w_avail = ctx_avail + ahead;
wire logic [15:0] w_used = ctx_used + ahead;
// the chain's queue went to ERR while it waited (a later stage faulted on the chain before it)
wire logic        w_abandon = ctx_state == VQS_ERR && MUTANT != MUT_WALK_ON_ERROR;  // mutant MUT_WALK_ON_ERROR

// ---------------------------------------------------------------------------------------
// Translation requests: a buffer page in E_BUF_XL, else the port's ring item
// ---------------------------------------------------------------------------------------
logic        wp_tr_valid;
logic [7:0]  wp_tr_group;
logic [63:0] wp_tr_iova;
logic [31:0] wp_tr_len;
logic        wp_tr_write;
logic        bc_hit;
logic [63:0] bc_pa;
logic [7:0]  bc_asid;
// a buffer page not in the buffer translation cache (below) asks the IOTLB for the rest of
// its 4 KiB page, so the next chain's buffer in the same page finds it there
wire logic w_tr_buf = e_state_reg == E_BUF_XL && !bc_hit;
wire logic [31:0] bx_page_rest = 32'd4096 - 32'(x_iova[11:0]);
// the buffer's piece in that page: what one IOTLB answer can cover at most (it never crosses
// a 4 KiB page, vdpa_iotlb), so what the cache is asked for too. A buffer across a page
// boundary then takes its first piece from the page the queue's buffer before it ended in,
// and only its new page goes to the IOTLB
wire logic [31:0] bx_piece = x_left < bx_page_rest ? x_left : bx_page_rest;

// The buffer page the queue's next chain will need: translated ahead into the buffer cache,
// whole, as the chain is offered to the move stage, so that chain finds it there instead of
// waiting for the IOTLB in its walk. Which page depends on the order the driver posts its
// buffers in, which the walker learns per queue from the step between the first buffer bytes
// of the queue's last two chains (the stride):
//  - upward (or unknown): the next buffer starts where this one ended, so the page is the
//    first one past the chain's last buffer byte that this buffer did not touch (x_iova_reg
//    is the buffer's end once its last piece is in);
//  - downward (a driver that recycles buffers last in, first out, or carves them from the
//    top of a page down, as the bench's guest does): the next buffer starts one stride below
//    this one, so the page is the one that start is in. Its end lies in this buffer's first
//    page, which the chain before asked for whole in the same way.
// Asked only when the cache does not hold the page's first byte, when the walker's own
// translations do not ask in that cycle, and never twice at once; the answer only fills the
// cache (a refusal is dropped: it reports nothing, and the chain that needs the page asks
// again and faults in its own walk). A wrong guess costs an IOTLB round trip in the next
// chain's walk, never a wrong translation. The walker's other requests wait while it is out
// (the IOTLB has one translation outstanding at a time).
logic          bt_wait_reg;        // its request taken, the answer awaited
logic [QW-1:0] bt_vq_reg;
logic [7:0]    bt_group_reg;
logic          bt_write_reg;
logic [63:0]   bt_iova_reg;
// the stride is kept in its low STRIDE_W bits (a guess, so wider buffers' steps need not be
// exact: a step of 8 MiB or more makes a wrong guess at worst); it is learnt again after any
// VQ command, and a chain with no buffer byte guesses upward
localparam int STRIDE_W = 24;
logic [STRIDE_W-1:0] q_start_reg [NVQ];   // per VQ: its last chain's first buffer byte ...
logic [NVQ-1:0]      q_known_reg;         // ... once it has walked one
logic                c_down_reg;          // this chain's queue goes down ...
logic [63:0]         c_down_page_reg;     // ... and its next chain starts in this page
// at the chain's first piece (x_iova its first buffer byte): the step from the queue's
// chain before, and where the next chain starts if the queue keeps it
wire logic [STRIDE_W-1:0] x_stride = x_iova[STRIDE_W-1:0] - q_start_reg[e_vq_reg];
wire logic [63:0] bt_page = c_down_reg ? c_down_page_reg :
                            {x_iova_reg[63:12] + 52'(x_iova_reg[11:0] != 12'd0), 12'd0};
// the buffer cache's lookup port is free in E_MOVE: it is asked for that page then
wire logic        bt_go = e_state_reg == E_MOVE && h_valid && !bc_hit && !bt_wait_reg &&
                          !wp_tr_valid;
// the walker's other requests held back while the answer is out (taken from its cycle on)
wire logic        tr_free = !bt_wait_reg || tr_resp_valid;
wire logic        w_tr_ready = tr_req_ready && tr_free;
assign tr_req_valid = tr_free && (w_tr_buf || wp_tr_valid || bt_go);
assign tr_req_group = (w_tr_buf || !wp_tr_valid) ? ctx_dgroup : wp_tr_group;
assign tr_req_iova = w_tr_buf ? x_iova_reg : wp_tr_valid ? wp_tr_iova : bt_page;
assign tr_req_len = w_tr_buf ? bx_page_rest : wp_tr_valid ? wp_tr_len : 32'd4096;
assign tr_req_write = (w_tr_buf || !wp_tr_valid) ? e_rx_reg : wp_tr_write;

// AXI user sideband {kind[2:0], asid[7:0], vq[7:0]} (vdpa_vq_engine): the ring area of each
// access (kind as vdpa_model.dma.AccessKind: DESC 0, AVAIL 1, USED 2, INDIRECT 3)
logic [2:0]   w_kind;
always_comb begin
    if (rf_at_port) begin
        w_kind = rf_desc_reg ? 3'd0 : 3'd1;
    end else case (e_ret_reg)
        E_AVAIL_EVENT: w_kind = 3'd2;
        E_DESC_CHK: w_kind = e_ind_reg ? 3'd3 : 3'd0;
        default: w_kind = 3'd1;
    endcase
end
logic [7:0]   wp_asid;
assign axi_user = {5'd0, w_kind, wp_asid, 8'(wp_vq)};

// ---------------------------------------------------------------------------------------
// The walker's ring-item port: avail index and entries, descriptors, avail_event, and the
// completion's items checked before any data moves
// ---------------------------------------------------------------------------------------
logic         wp_done, wp_fault, wp_fault_xlate;
logic [7:0]   wp_fault_asid;
logic [8*WALK_ITEM-1:0] wp_rdata;
wire logic [15:0] m_rshift = wp_rdata[15:0];

vdpa_ring_port #(
    .DATA_W(DATA_W),
    .ADDR_W(ADDR_W),
    .CACHE_SETS(NVQ),
    // its driver-area reads, descriptor table, device-area probes and writes, an indirect table
    .CACHE_ENTRIES(4),
    .ITEM_BYTES(WALK_ITEM),
    // a ring item in a page the port holds is read in the cycle it is asked for (the walk's
    // in E_PORT, a refill's as it starts)
    .ISSUE_AT_HIT(1),
    .MUTANT(MUTANT)
) walk_port_inst (
    .clk(clk),
    .rst(rst),
    // the refill's item first: the walk's waits in E_PORT until it is done
    .req_valid(e_state_reg == E_PORT || rf_at_port),
    .req_set(wp_vq),
    .req_group(rf_at_port ? rf_group_reg : m_group_reg),
    .req_iova(rf_at_port ? rf_iova_reg : m_iova_reg),
    .req_len(rf_at_port ? rf_len_reg : m_len_reg),
    .req_write(m_write_reg && !rf_at_port),
    .req_probe(m_probe_reg && !rf_at_port),
    .req_wdata(m_wval_reg),
    .req_next(1'b0),
    .done(wp_done),
    .fault(wp_fault),
    .fault_xlate(wp_fault_xlate),
    .fault_asid(wp_fault_asid),
    .rdata(wp_rdata),
    .asid(wp_asid),
    .tr_req_valid(wp_tr_valid),
    // a buffer page's request goes first (the mux above): the port's waits, or both would take
    // the one answer
    .tr_req_ready(w_tr_ready && !w_tr_buf),
    .tr_req_group(wp_tr_group),
    .tr_req_iova(wp_tr_iova),
    .tr_req_len(wp_tr_len),
    .tr_req_write(wp_tr_write),
    .tr_resp_valid(tr_resp_valid),
    .tr_resp_ok(tr_resp_ok),
    .tr_resp_pa(tr_resp_pa),
    .tr_resp_len(tr_resp_len),
    .tr_resp_asid(tr_resp_asid),
    .flush(tr_flush),
    .axi_awaddr(axi_awaddr),
    .axi_awlen(axi_awlen),
    .axi_awvalid(axi_awvalid),
    .axi_awready(axi_awready),
    .axi_wdata(axi_wdata),
    .axi_wstrb(axi_wstrb),
    .axi_wlast(axi_wlast),
    .axi_wvalid(axi_wvalid),
    .axi_wready(axi_wready),
    .axi_bresp(axi_bresp),
    .axi_bvalid(axi_bvalid),
    .axi_bready(axi_bready),
    .axi_araddr(axi_araddr),
    .axi_arlen(axi_arlen),
    .axi_arvalid(axi_arvalid),
    .axi_arready(axi_arready),
    .axi_rdata(axi_rdata),
    .axi_rresp(axi_rresp),
    .axi_rlast(axi_rlast),
    .axi_rvalid(axi_rvalid),
    .axi_rready(axi_rready)
);

// Buffer translation cache: the last IOTLB answers for buffer pages, per VQ (a queue's small
// buffers share pages: a driver allocates them one after another), so such a chain's buffer
// is translated without an IOTLB round trip. The same cache as the ring ports' and the same
// coherence: every entry is dropped whenever the IOTLB takes or runs a command (tr_flush),
// only successful answers are kept, and a buffer is served from it one page piece at a time
// (bx_piece), as the IOTLB answers, so the segment list is the same whichever answered.
// Three entries a queue: the two pages a buffer may straddle and the one translated ahead
// for the next chain. With two, an answer filled out of turn (a chain's own miss, at a queue's
// start or after a wrong guess) leaves round robin replacement evicting, at every translation
// ahead, the page the next chain straddles into, and every chain of a queue whose buffers go
// down misses from then on.
vdpa_xlate_cache #(
    .SETS(NVQ),
    .ENTRIES(3),
    .MUTANT(MUTANT)
) buf_cache_inst (
    .clk(clk),
    .rst(rst),
    .lk_set(e_vq_reg),
    .lk_group(ctx_dgroup),
    .lk_iova(e_state_reg == E_MOVE ? bt_page : x_iova),
    .lk_len(e_state_reg == E_MOVE ? 32'd1 : bx_piece),
    .lk_write(e_rx_reg),
    .hit(bc_hit),
    .hit_pa(bc_pa),
    .hit_asid(bc_asid),
    .req_taken((w_tr_buf || bt_go) && w_tr_ready),
    .fill_valid((e_state_reg == E_BUF_XLW || bt_wait_reg) && tr_resp_valid && tr_resp_ok),
    .fill_set(bt_wait_reg ? bt_vq_reg : e_vq_reg),
    .fill_group(bt_wait_reg ? bt_group_reg : ctx_dgroup),
    .fill_iova(bt_wait_reg ? bt_iova_reg : x_iova_reg),
    .fill_len(tr_resp_len),
    .fill_write(bt_wait_reg ? bt_write_reg : e_rx_reg),
    .fill_pa(tr_resp_pa),
    .fill_asid(tr_resp_asid),
    .flush(tr_flush)
);
// a translated piece of the buffer: the rest of its page from the cache (E_BUF_XL, or
// E_DESC_CHK for a descriptor that passes its checks: d_buffer_ok), or the IOTLB's answer up
// to the buffer's end (E_BUF_XLW)
logic             d_buffer_ok;
wire logic        bp_cached = e_state_reg == E_BUF_XL ||
                              (e_state_reg == E_DESC_CHK && d_buffer_ok && x_left != 32'd0);
wire logic        bp_valid = (bp_cached && bc_hit) ||
                             (e_state_reg == E_BUF_XLW && tr_resp_valid && tr_resp_ok);
wire logic [63:0] bp_pa = bp_cached ? bc_pa : tr_resp_pa;
wire logic [31:0] bp_len = bp_cached ? bx_piece :
                           tr_resp_len > x_left_reg ? x_left_reg : tr_resp_len;
wire logic [7:0]  bp_asid = bp_cached ? bc_asid : tr_resp_asid;

// avail.ring[last_avail % size]
wire logic [63:0] avail_entry = avail_entry_iova(ctx_drv, e_size, w_avail);

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
// the head of the chain being walked: read ahead (in E_START, or latched there), or just read
wire logic [15:0] w_head = e_state_reg == E_START ? pf_head :
                           e_pf_reg ? e_pf_head_reg : m_rshift;
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

// Descriptors read ahead: the read of a chain's head descriptor brings with it the head
// descriptors of the next published entries when those heads follow it in the table, up to
// DPF_DESCS, not past the table's ends, in either direction: head+1, head+2, ... (a driver's
// first pass over a fresh table) or head-1, head-2, ... (a driver that reuses its free list
// last in, first out, as drivers/virtio/virtio_ring.c: detach_buf_split does: the heads the
// device returned in order come back in descending order). A descending run is read from its
// lowest descriptor and kept in avail order. They are kept by avail position, not by
// descriptor index: a published chain does not change until the device uses it (virtio 1.2
// §2.7.13), and a position is walked once, so the driver's later reuse of a descriptor is
// never served from here. Dropped
// with the avail entries (any VQ or IOTLB command, a fault) and by the next head read that
// brings none; a read ahead that faults is retried as the one descriptor, so a fault is
// reported where a serial device reports it.
logic [NVQ-1:0] dpf_valid_reg;
logic [15:0]  dpf_base_reg[NVQ];   // avail position of the first descriptor held
logic [2:0]   dpf_cnt_reg[NVQ];    // descriptors held
logic [8*WALK_ITEM-1:0] dpf_data_reg[NVQ];
logic         e_dpf_reg;           // the descriptor being checked came from there
logic [127:0] e_dpf_desc_reg;
logic         e_dpf_rd_reg;        // the descriptor read is a head's, which may read ahead
logic [2:0]   e_dpf_n_reg;         // descriptors that read asks for
logic         e_dpf_down_reg;      // in descending table order, ending at the head
wire logic [15:0] dpf_off = w_avail - dpf_base_reg[e_vq_reg];
wire logic        dpf_hit = dpf_valid_reg[e_vq_reg] && dpf_off < 16'(dpf_cnt_reg[e_vq_reg]);
wire logic [127:0] dpf_desc = dpf_data_reg[e_vq_reg][128 * 32'(dpf_off[1:0]) +: 128];
// the chain's head descriptor is being read (not one it chains to, nor an indirect table's)
wire logic        e_at_head = !e_ind_reg && e_count_reg == 17'd0;
// descriptors one read brings from `first`, the head of the entry `off` places in the `cnt`
// avail entries read ahead, and their direction ({down, n}): the head's, then each next
// published entry's while its head is the next in the table (up), or the one before (down);
// the entries read ahead say which are published
function automatic logic [3:0] head_run(input logic [127:0] entries, input logic [3:0] cnt,
                                        input logic [15:0] off, input logic [15:0] first,
                                        input logic [16:0] size);
    logic [2:0] up, down;
    logic [15:0] h;
    up = 3'd1;
    down = 3'd1;
    for (int k = 1; k < DPF_DESCS; k++) begin
        h = entries[16 * 32'(3'(off + 16'(k))) +: 16];
        if (off + 16'(k) < 16'(cnt)) begin
            if (32'(up) == k && h == first + 16'(k) && 17'(first) + 17'(k) < size) begin
                up = 3'(k + 1);
            end
            if (32'(down) == k && h == first - 16'(k) && first >= 16'(k)) begin
                down = 3'(k + 1);
            end
        end
    end
    return down > up ? {1'b1, down} : {1'b0, up};
endfunction
// the table index a run ({down, n}, head_run's) from head `first` is read from: its lowest
function automatic logic [15:0] run_start(input logic [15:0] first, input logic [3:0] run);
    return run[3] ? first - 16'(run[2:0] - 3'd1) : first;
endfunction
// the `n` descriptors one read brought, in avail order: as read (up), or reversed (down)
function automatic logic [8*WALK_ITEM-1:0] run_in_avail_order(
        input logic [8*WALK_ITEM-1:0] data, input logic [2:0] n, input logic down);
    logic [8*WALK_ITEM-1:0] ordered;
    ordered = data;
    if (down) begin
        for (int k = 0; k < DPF_DESCS; k++) begin
            if (k < 32'(n)) begin
                ordered[128 * k +: 128] = data[128 * 32'(3'(32'(n) - 1 - k)) +: 128];
            end
        end
    end
    return ordered;
endfunction
wire logic [3:0]  pf_held = pf_valid_reg[e_vq_reg] ? pf_cnt_reg[e_vq_reg] : 4'd0;
// the head's read in the walk
wire logic [3:0]  dpf_run = head_run(pf_data_reg[e_vq_reg], pf_held,
                                     w_avail - pf_base_reg[e_vq_reg], e_head_reg, e_size);
wire logic [2:0]  dpf_span = dpf_run[2:0];
// what the walk's read brought, the head first
wire logic [8*WALK_ITEM-1:0] w_rd_desc = run_in_avail_order(wp_rdata, e_dpf_n_reg,
                                                            e_dpf_down_reg);
// the descriptor being checked: read ahead, or just read
wire logic [127:0] w_desc = e_dpf_reg ? e_dpf_desc_reg : w_rd_desc[127:0];
wire logic [15:0]  wd_flags = w_desc[111:96];
wire logic [63:0]  wd_end = w_desc[63:0] + 64'(w_desc[95:64]);
// its checks (E_DESC_CHK): indirect, writable on a transmit queue, readable on a receive
// queue, a buffer that wraps the address space; a plain buffer that passes them all
wire logic         d_indirect = (wd_flags & DESC_F_INDIRECT) != 0;
wire logic         d_tx_writable = (wd_flags & DESC_F_WRITE) != 0 && !e_rx_reg;
wire logic         d_rx_readable = (wd_flags & DESC_F_WRITE) == 0 && e_rx_reg;
wire logic         d_wraps = wd_end < w_desc[63:0] && wd_end != 64'd0;
assign d_buffer_ok = !d_indirect && !d_tx_writable && !d_rx_readable && !d_wraps;
wire logic         x_at_desc = e_state_reg == E_DESC_CHK;
assign x_iova = x_at_desc ? w_desc[63:0] : x_iova_reg;
assign x_left = x_at_desc ? w_desc[95:64] : x_left_reg;
assign d_flags = x_at_desc ? wd_flags : d_flags_reg;

// Background refill. A chain waiting to be handed over (E_MOVE while the move stage is
// busy) reads, for the next chain of its queue, the first thing that chain would read: the
// avail entries from its position (when published and not held), else, those held, the head
// descriptors from its head (when not held), else what would run out first (rf_pf_short,
// rf_dpf_short below). The walk of that chain then finds them read ahead, so on one queue
// the reads of the next walk overlap the data of the chain before it instead of following
// it. They are read ahead exactly as the walk itself reads ahead (published items only, kept
// and dropped alike); one that faults is forgotten, and the chain that needs the item reads
// it and faults where a serial device would. A chain handed over at once refills too: the
// next walk goes on beside the refill, so the reads of a queue's next walk overlap the walk
// before it, of the same queue or another. (A TX chain of the same queue handed over at once
// once read for itself instead: with heads in table order its walk found its descriptor read
// ahead anyway, and a refill measured no faster. A driver that reuses descriptors last in,
// first out hands heads out in broken runs, and then each walk read its head's descriptor
// itself: 64-byte TX at DATA_W 512 on one queue took 6.0 cycles a chain, 5.67 with the
// refill; no other figure of the throughput bench moved by more than 0.07.)
// The refill keeps its queue (rf_vq_reg; its reads carry that VQ, its port cache set is that
// VQ's). While a refill runs (busy) the walker starts the next chain of the refill's queue
// only after a descriptor refill, whose chain already holds its avail entry: that chain
// waits for it in E_HEAD_CHK (rf_own), before it looks for its head's descriptor; or beside a
// refill that reads again from the next chain's items, already held (rf_held_reg: avail
// entries, its head at hand; or the run of head descriptors from its own, its descriptor at
// hand; what is read is the same published items, whichever store comes last); a chain of
// another queue it starts at once, whose walk needs nothing of the refill. Any item of a
// walk's waits for the port. A walk of the refill's queue that needs an item it does not
// hold, of the kind the refill reads, waits for the refill's end (rf_own for a head
// descriptor, E_AVAIL_WAIT for an avail entry) and then takes it held or reads it: reading it
// at once would only queue behind the refill at the port and read it twice (behind a host
// that answers reads 100 cycles late that cost a receive chain up to 200 cycles).
// A refill the hand-off's cycle could not start (the one before still storing) starts in the
// E_IDLE cycles after it instead, for the same next chain (rf_late_reg, rf_late_pos_reg),
// once the refill before it has stored what it read: on one receive queue the refill takes
// about as long as a walk, and one missed would leave the chain after it to read for itself.
// The walker stays busy while such a refill is due: in the cycle the refill before it ends
// nothing else runs, and an owner that saw the walker idle then would see a read follow it.
// It is dropped as soon as it has nothing to read, so it cannot hold the walker busy.
logic         rf_late_reg;
logic [15:0]  rf_late_pos_reg;
wire logic    rf_late = rf_late_reg && e_state_reg == E_IDLE;
assign busy = walking || rf_state_reg != RF_IDLE || rf_late;
// the next chain's avail position (ctx_seen covers it or it is not published yet)
wire logic [15:0] rf_pos = rf_late ? rf_late_pos_reg : w_avail + 16'd1;
wire logic        rf_published = ctx_seen_ok && ctx_seen != rf_pos;
wire logic [15:0] rf_pf_off = rf_pos - pf_base_reg[e_vq_reg];
wire logic        rf_pf_hit = rf_pf_off < 16'(pf_held);
wire logic [15:0] rf_head = pf_data_reg[e_vq_reg][16 * 32'(rf_pf_off[2:0]) +: 16];
wire logic [15:0] rf_dpf_off = rf_pos - dpf_base_reg[e_vq_reg];
wire logic        rf_dpf_hit = dpf_valid_reg[e_vq_reg] && rf_dpf_off < 16'(dpf_cnt_reg[e_vq_reg]);
wire logic [3:0]  rf_run = head_run(pf_data_reg[e_vq_reg], pf_held, rf_pf_off, rf_head, e_size);
wire logic [2:0]  rf_span = rf_run[2:0];
// Both held for the next chain, the entries held may still run out before the next run of
// descriptors could be read whole (fewer than DPF_DESCS entries held past the descriptors
// held): the entries are then read again from the next chain's, with those published since,
// so that run's read finds its heads held and neither read waits in a walk. Only if the read
// would bring more than is held (not at the ring's end, where it could not).
wire logic [15:0] rf_pf_end = pf_base_reg[e_vq_reg] + 16'(pf_held);
wire logic [15:0] rf_dpf_end = dpf_base_reg[e_vq_reg] + 16'(dpf_cnt_reg[e_vq_reg]);
// (read only where rf_pf_hit holds: rf_avail_go)
wire logic        rf_pf_short = rf_dpf_hit && ctx_seen_ok &&
                                16'(rf_pf_end - rf_dpf_end) < 16'(DPF_DESCS) &&
                                16'(pf_span(ctx_seen, rf_pos, e_size)) > 16'(rf_pf_end - rf_pos);
// Both held, the next chain's head descriptor may be the last of the run held: the run is
// then read on from the heads after it and stored behind that descriptor, kept (rf_kept_reg),
// as a run from the next chain's, so the chain after the next finds its descriptor held too
// and neither read waits in a walk (only if the next heads follow it in the table). No byte
// is read twice: on a bus the descriptors fill (TX at DATA_W 64) reading the held one again
// cost half a cycle a chain. The avail entries' re-read comes first when both are short: the
// run read after it may then be a whole one.
wire logic        rf_dpf_short = rf_dpf_hit && 16'(rf_dpf_end - rf_pos) == 16'd1 && rf_span > 3'd1;
// what the refill reads: the next chain's head descriptors (not held, or held and short), else
// avail entries
wire logic        rf_avail_go = rf_pf_hit ? rf_pf_short : rf_published;
wire logic        rf_desc_go = rf_pf_hit && (!rf_dpf_hit || (rf_dpf_short && !rf_pf_short)) &&
                               17'(rf_head) < e_size;
// what the refill read is kept unless a command came while it was read
wire logic        rf_keep = !rf_stale_reg || MUTANT == MUT_REFILL_KEEPS_STALE;  // mutant MUT_REFILL_KEEPS_STALE
// the queue whose read-ahead the refill's result goes to: its own, not the walk's beside it
wire logic [QW-1:0] rf_store_vq = (MUTANT == MUT_REFILL_WRONG_QUEUE) ? e_vq_reg : rf_vq_reg;  // mutant MUT_REFILL_WRONG_QUEUE
// what a descriptor refill read, in avail order (read on: all but the kept one)
wire logic [8*WALK_ITEM-1:0] rf_rd_desc =
    run_in_avail_order(wp_rdata, 3'(rf_n_reg) - 3'(rf_held_reg), rf_down_reg);
wire logic        rf_want = !ctx_change && !tr_flush && (rf_desc_go || rf_avail_go);
wire logic        rf_go = rf_state_reg == RF_IDLE && rf_want &&
                          ((e_state_reg == E_MOVE && h_valid) ||
                           (rf_late && !w_abandon));

// The completion's items known to translate for writing: per VQ, used.idx and the page the
// last checked used element lies in. A chain whose element is in that page skips the
// before-any-data check (its answers would be the port's cached ones). Forgotten whenever they
// could change: any VQ command (new rings, groups), any IOTLB command (tr_flush), a fault.
logic [NVQ-1:0] cpl_ok_reg;
logic [51:0]  cpl_page_reg[NVQ];
wire logic [63:0] w_elem = used_elem_iova(ctx_dev, e_size, w_used);
// the element lies in one page (8 bytes at 4 mod 8 may end in the next)
wire logic        w_elem_in_page = w_elem[11:0] <= 12'hff8;
wire logic        cpl_known = cpl_ok_reg[e_vq_reg] && w_elem_in_page &&
                              w_elem[63:12] == cpl_page_reg[e_vq_reg];

// A refill of the walk's own queue may bring what the walk looks for next and does not hold:
// the walk waits for it then (rf_own: a descriptor refill, the head's descriptor not held;
// rf_own_avail: an avail refill, the chain's entry not held) rather than read it again itself
// once the port is free. What it holds it takes at once, beside any refill.
wire logic rf_mine = refilling && rf_vq_reg == e_vq_reg;
wire logic rf_own = rf_mine && rf_desc_reg && !dpf_hit;
wire logic rf_own_avail = rf_mine && !rf_desc_reg;

// The walk's steps that need no cycle of their own when everything they look at is at hand:
// a head whose entry was read ahead is checked and taken into flight in E_START (no refill
// of head descriptors running, which E_HEAD_CHK waits for; the context answers whether it is
// in flight for `head`, which is that entry's then); a descriptor that passes its checks has
// its buffer's first piece taken from the buffer cache in E_DESC_CHK, beside the checks,
// when the cache holds it (bp_cached: a one-page buffer then needs no E_BUF_XL); and a chain
// whose last buffer's last piece is in and whose completion is known to translate
// (cpl_known) is handed over without E_NEXT, which would find no NEXT flag and no E2BIG
// (this piece the last segment that fits)
wire logic start_fast = e_state_reg == E_START && e_known && pf_hit && !rf_own;
wire logic head_chk_now = start_fast || (e_state_reg == E_HEAD_CHK && !rf_own);
wire logic head_bad = 17'(w_head) >= e_size;
wire logic head_now = e_state_reg == E_HEAD || (start_fast && !head_bad);
wire logic bp_ends_chain = (d_flags & DESC_F_NEXT) == 0 && cpl_known && !seg_over_reg &&
                           32'(seg_cnt_reg) != MAX_SEGS;

// ---------------------------------------------------------------------------------------
// Events and the seam
// ---------------------------------------------------------------------------------------
// E_START: an entry known from the last avail.idx read, not yet served
wire logic e_known = ctx_seen_ok && ctx_seen != w_avail;
// E_AVAIL_CHK: avail.idx read, entries published and the index in range
wire logic avail_new = m_rshift[15:0] != w_avail && !(17'(avail_delta) > e_size);
// E_MOVE / E_RX_DROP: the frame is larger than the chain's capacity
wire logic rx_too_big = rx_need > total_reg;
wire logic fault_now = e_state_reg == E_FAULT && (back_idle || MUTANT == MUT_FAULT_BEFORE_COMPLETION);  // mutant MUT_FAULT_BEFORE_COMPLETION

assign ev_consume = e_state_reg == E_START;
assign ev_rearm = !e_rx_reg && ((e_state_reg == E_START && e_known) ||
                                (e_state_reg == E_AVAIL_CHK && avail_new));
assign ev_seen = e_state_reg == E_AVAIL_CHK && avail_new;
assign ev_seen_idx = m_rshift;
assign ev_ift_set = head_now && !ctx_in_flight;
assign ev_ift_clr = (e_state_reg == E_MOVE && w_abandon) || e_state_reg == E_RX_DROP ||
                    (fault_now && w_abandon);
// the record: the ASID and direction only for a translation fault (0xff and 0 otherwise)
assign f_valid = fault_now && !w_abandon;
assign f_errno = f_errno_reg;
assign f_iova = f_iova_reg;
assign f_xlate = f_xlate_reg;
assign f_write = f_xlate_reg && f_write_reg;
assign f_asid = f_xlate_reg ? f_asid_reg : 8'hff;

assign rx_take = e_state_reg == E_RX_DROP || (fault_now && e_rx_reg);
assign rx_tried = e_state_reg == E_AVAIL_CHK && m_rshift[15:0] == w_avail &&
                  !(event_idx && !e_rechecked_reg) && e_rx_reg;

assign h_valid = e_state_reg == E_MOVE && !(e_rx_reg && rx_too_big) && !w_abandon;
// The next chain starts in the cycle this one is handed over, with no E_IDLE between: on one
// 64-byte chain at DATA_W 512 the walk takes four cycles (E_START, E_DESC_CHK, E_MOVE and
// E_IDLE) beside the mover's four, so a cycle less keeps the walker ahead of the mover
// (64-byte TX at DATA_W 512: 5.67 to 5.44 cycles a chain on one queue). The refill rules are
// E_IDLE's (rf_admits) for the one under way, and the same applied to the refill that starts
// in this cycle (rf_go: its rf_desc_reg and rf_held_reg to be); a refill the hand-off could
// not start is then not made up (rf_late: the walk reads for itself). A received frame handed
// over is claimed in this cycle, and the scheduler then weighs the frame the buffer offers
// next (vdpa_vq_engine: rx_full), so a receive chain may start here, and any chain after one.
// The scheduler's choice is the one it makes for E_IDLE, so nothing that waits for the walker
// is kept waiting: a VQ command waits only for the stages to leave its own queue (`held`),
// which it takes out of the scheduler's choice (q_blocked), and a mapping change holds the
// scheduler (iotlb_hold), so the walker goes to E_IDLE then.
assign start_at_handoff = h_valid && h_ready &&
                          (rf_go ? (start_vq != e_vq_reg || rf_desc_go || rf_pf_hit) :
                                   rf_admits);
assign h_bank = w_bank_reg;
assign h_total = total_reg;
assign h_asid = data_asid_reg;
assign h_seg_pa = seg_pa[{w_bank_reg, SW'(0)}];
assign h_seg_len = seg_len[{w_bank_reg, SW'(0)}];
assign seg_rd_pa = seg_pa[seg_rd];
assign seg_rd_len = seg_len[seg_rd];

always_ff @(posedge clk) begin
    case (e_state_reg)
        E_IDLE: begin
            // the scheduler's choice (vdpa_vq_engine): a received frame's queue or a kicked one
            if (start_valid && start_ready) begin
                e_vq_reg <= start_vq;
                e_rx_reg <= start_rx;
                e_state_reg <= E_START;
            end
        end
        E_START: begin
            // consume the kick now (ev_consume); one arriving from here on is kept and served
            // again
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
            m_group_reg <= ctx_rgroup;
            m_len_reg <= 7'd2;
            m_write_reg <= 1'b0;
            e_pf_reg <= 1'b0;
            e_dpf_reg <= 1'b0;
            c_down_reg <= 1'b0;
            if (e_known) begin
                // an entry known from the last avail.idx read: straight to it (as E_AVAIL_CHK),
                // already read ahead or read now with the published ones after it
                e_pf_reg <= pf_hit;
                e_pf_head_reg <= pf_head;
                e_pf_n_reg <= pf_span(ctx_seen, w_avail, e_size);
                m_iova_reg <= avail_entry;
                m_len_reg <= 7'({pf_span(ctx_seen, w_avail, e_size), 1'b0});
                e_ret_reg <= E_HEAD_CHK;
                e_state_reg <= pf_hit ? E_HEAD_CHK : rf_own_avail ? E_AVAIL_WAIT : E_PORT;
            end else begin
                // avail.idx (virtio 1.2 §2.7.6)
                m_iova_reg <= avail_idx_iova(ctx_drv);
                e_ret_reg <= E_AVAIL_CHK;
                e_state_reg <= E_PORT;
            end
        end
        E_AVAIL_CHK: begin
            if (m_rshift[15:0] == w_avail) begin
                if (event_idx && !e_rechecked_reg) begin
                    // publish avail_event = last_avail, then look once more (virtio 1.2
                    // §2.7.10); the walker's only write waits until the later stages are idle,
                    // so it is made only where a one-chain-at-a-time device would make it
                    if (back_idle || MUTANT == MUT_AVAIL_EVENT_EARLY) begin  // mutant MUT_AVAIL_EVENT_EARLY
                        e_rechecked_reg <= 1'b1;
                        m_group_reg <= ctx_rgroup;
                        m_iova_reg <= avail_event_iova(ctx_dev, e_size);
                        m_len_reg <= 7'd2;
                        m_write_reg <= 1'b1;
                        m_wval_reg <= {48'd0, w_avail};
                        e_ret_reg <= E_AVAIL_EVENT;
                        e_state_reg <= E_PORT;
                    end
                end else begin
                    // nothing to do; a received frame keeps waiting for a kick (rx_tried)
                    e_state_reg <= E_DONE;
                end
            end else if (17'(avail_delta) > e_size) begin
                // vhost_get_vq_desc: "Guest moved avail index from %u to %u"
                f_errno_reg <= FAULT_EFAULT;
                f_iova_reg <= 64'(m_rshift[15:0]);
                e_state_reg <= E_FAULT;
            end else begin
                m_group_reg <= ctx_rgroup;
                m_iova_reg <= avail_entry;
                m_len_reg <= 7'({pf_span(m_rshift, w_avail, e_size), 1'b0});
                m_write_reg <= 1'b0;
                e_pf_reg <= pf_hit;
                e_pf_head_reg <= pf_head;
                e_pf_n_reg <= pf_span(m_rshift, w_avail, e_size);
                e_ret_reg <= E_HEAD_CHK;
                e_state_reg <= pf_hit ? E_HEAD_CHK : E_PORT;
            end
        end
        E_AVAIL_WAIT: begin
            // its queue's refill has ended: the entry read ahead, or read now (as E_START)
            if (!rf_own_avail) begin
                e_pf_reg <= pf_hit;
                e_pf_head_reg <= pf_head;
                e_state_reg <= pf_hit ? E_HEAD_CHK : E_PORT;
            end
        end
        E_AVAIL_EVENT: begin
            m_group_reg <= ctx_rgroup;
            m_iova_reg <= avail_idx_iova(ctx_drv);
            m_len_reg <= 7'd2;
            m_write_reg <= 1'b0;
            e_ret_reg <= E_AVAIL_CHK;
            e_state_reg <= E_PORT;
        end
        E_HEAD_CHK: if (!rf_own && !e_pf_reg) begin
            // (the head checked below: head_chk_now) the entries read with this one are kept
            // for the next chains
            pf_valid_reg[e_vq_reg] <= 1'b1;
            pf_base_reg[e_vq_reg] <= w_avail;
            pf_cnt_reg[e_vq_reg] <= e_pf_n_reg;
            pf_data_reg[e_vq_reg] <= wp_rdata[127:0];
        end
        E_HEAD: begin
            // (head_now below)
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
                           ctx_dgroup : ctx_rgroup;
            m_iova_reg <= desc_iova(e_ind_reg ? e_ind_base_reg : ctx_desc, e_i_reg);
            m_len_reg <= 7'd16;
            m_write_reg <= 1'b0;
            e_count_reg <= e_count_reg + 1'b1;
            e_ret_reg <= E_DESC_CHK;
            e_dpf_reg <= 1'b0;
            e_dpf_rd_reg <= e_at_head;
            e_dpf_n_reg <= 3'd1;
            e_dpf_down_reg <= 1'b0;
            if (e_at_head) begin
                // the head's read brings the next heads' descriptors that follow it, from
                // the lowest of them
                m_iova_reg <= desc_iova(ctx_desc, run_start(e_i_reg, dpf_run));
                m_len_reg <= 7'(16 * 32'(dpf_span));
                e_dpf_n_reg <= dpf_span;
                e_dpf_down_reg <= dpf_run[3];
            end
            if (e_count_reg != (e_ind_reg ? e_ind_max_reg : e_size)) begin
                e_state_reg <= E_PORT;
            end
        end
        E_DESC_CHK: begin
            if (!e_dpf_reg && e_dpf_rd_reg) begin
                // the head descriptors read with this one are kept for the next chains
                dpf_valid_reg[e_vq_reg] <= e_dpf_n_reg > 3'd1;
                dpf_base_reg[e_vq_reg] <= w_avail + 16'd1;
                dpf_cnt_reg[e_vq_reg] <= e_dpf_n_reg - 3'd1;
                dpf_data_reg[e_vq_reg] <= w_rd_desc >> 128;
            end
            d_addr_reg <= w_desc[63:0];
            d_flags_reg <= w_desc[111:96];
            d_next_reg <= w_desc[127:112];
            f_iova_reg <= 64'(e_i_reg);
            x_iova_reg <= w_desc[63:0];
            x_left_reg <= w_desc[95:64];
            if (d_indirect) begin
                if (e_ind_reg || (wd_flags & DESC_F_NEXT) != 0 ||
                        (w_desc[67:64] != 4'd0 && MUTANT != MUT_INDIRECT_LEN_UNCHECKED) ||  // mutant MUT_INDIRECT_LEN_UNCHECKED
                        w_desc[95:64] == 32'd0 || w_desc[95:68] > 28'd65535) begin
                    // indirect in indirect, INDIRECT with NEXT (virtio 1.2 §2.7.5.3.1), length
                    // zero or not a multiple of 16 (move_to_indirect)
                    f_errno_reg <= FAULT_EINVAL;
                    e_state_reg <= E_FAULT;
                end else begin
                    e_ind_reg <= 1'b1;
                    e_ind_base_reg <= w_desc[63:0];
                    e_ind_max_reg <= 17'(w_desc[95:68]);
                    e_i_reg <= '0;
                    e_count_reg <= '0;
                    e_state_reg <= E_DESC_RD;
                end
            end else if (d_tx_writable) begin
                // __vringh_iov: writable descriptor with no write iov (TX)
                f_errno_reg <= FAULT_EPROTO;
                e_state_reg <= E_FAULT;
            end else if (d_rx_readable) begin
                // readable after writable is EINVAL, readable on a receive queue EPROTO
                f_errno_reg <= e_seen_write_reg ? FAULT_EINVAL : FAULT_EPROTO;
                e_state_reg <= E_FAULT;
            end else if (d_wraps) begin
                // buffer wraps the address space
                f_errno_reg <= FAULT_EINVAL;
                e_state_reg <= E_FAULT;
            end else begin
                if ((wd_flags & DESC_F_WRITE) != 0) begin
                    e_seen_write_reg <= 1'b1;
                end
                total_reg <= total_reg + w_desc[95:64];
                // the buffer's pieces (E_BUF_XL), unless the cache holds its first one: taken
                // here then (bp_valid below)
                e_state_reg <= (w_desc[95:64] == 0) ? E_NEXT : E_BUF_XL;
            end
        end
        E_BUF_XL: begin
            // (a piece from the cache: bp_valid below)
            if (w_tr_buf && w_tr_ready) begin
                e_state_reg <= E_BUF_XLW;
            end
        end
        E_BUF_XLW: begin
            if (tr_resp_valid && !tr_resp_ok) begin
                f_errno_reg <= FAULT_EFAULT;
                f_xlate_reg <= 1'b1;
                f_asid_reg <= tr_resp_asid;
                // the fault names the whole buffer, as the model's TranslationFault does
                f_iova_reg <= d_addr_reg;
                f_write_reg <= e_rx_reg;
                e_state_reg <= E_FAULT;
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
                // (skipped when both are known to translate: cpl_known)
                m_group_reg <= ctx_rgroup;
                m_iova_reg <= w_elem;
                m_len_reg <= 7'd8;
                m_write_reg <= 1'b1;
                m_probe_reg <= 1'b1;
                e_ret_reg <= E_PROBE_IDX;
                e_state_reg <= cpl_known ? E_MOVE : E_PORT;
            end
        end
        E_PROBE_IDX: begin
            // the element translated: its page is known once used.idx has too
            cpl_page_reg[e_vq_reg] <= w_elem[63:12];
            m_iova_reg <= used_idx_iova(ctx_dev);
            m_len_reg <= 7'd2;
            e_ret_reg <= E_MOVE;
            e_state_reg <= E_PORT;
        end
        E_MOVE: begin
            // hand the chain to the move stage once it is free (h_valid and h_ready: the mover
            // takes the request in that cycle); a frame larger than the buffer is dropped here,
            // the buffer kept
            m_probe_reg <= 1'b0;
            if (w_abandon) begin
                // a later stage faulted on this queue's chain before this one: a serial device
                // would never have taken this head (ev_ift_clr)
                e_state_reg <= E_DONE;
            end else if (e_rx_reg && rx_too_big) begin
                e_state_reg <= E_RX_DROP;
            end else if (h_ready) begin
                // the move stage takes the chain and this bank; the next chain fills the other.
                // A received frame is claimed in this cycle (vdpa_vq_engine), so the buffer
                // offers the next one from the next: the walker is free at once
                w_bank_reg <= !w_bank_reg;
                if (start_valid && start_at_handoff) begin
                    e_vq_reg <= start_vq;
                    e_rx_reg <= start_rx;
                    e_state_reg <= E_START;
                end else begin
                    e_state_reg <= E_IDLE;
                end
            end
        end
        E_RX_DROP: begin
            // the frame dropped (rx_take), the head given back (ev_ift_clr)
            e_state_reg <= E_DONE;
        end
        E_FAULT: begin
            // reported once the later stages are idle, so faults and completions keep a
            // serial device's order; dropped if a later stage's fault put the queue in ERR
            // first. The VQ stops in ERR; others continue. An RX frame in hand is dropped.
            // (the head given back or the fault reported, and the frame dropped: ev_ift_clr,
            // f_valid, rx_take)
            if (back_idle) begin
                e_state_reg <= E_DONE;
            end
        end
        E_DONE: begin
            e_state_reg <= E_IDLE;
        end
        E_PORT: if (!rf_at_port) begin
            // the walker's ring-item port reads, writes or checks the item in m_* (after the
            // refill's, if one is at the port)
            if (wp_fault && e_ret_reg == E_HEAD_CHK && m_len_reg != 7'd2) begin
                // a read ahead of avail entries faulted: read the one entry needed
                m_len_reg <= 7'd2;
                e_pf_n_reg <= 4'd1;
            end else if (wp_fault && e_ret_reg == E_DESC_CHK && m_len_reg > 7'd16) begin
                // a read ahead of descriptors faulted: read the one descriptor needed
                m_iova_reg <= desc_iova(ctx_desc, e_i_reg);
                m_len_reg <= 7'd16;
                e_dpf_n_reg <= 3'd1;
                e_dpf_down_reg <= 1'b0;
            end else if (wp_fault) begin
                if (wp_fault_xlate) begin
                    // the fault names the whole item, as the model's TranslationFault does
                    f_errno_reg <= FAULT_EFAULT;
                    f_xlate_reg <= 1'b1;
                    f_asid_reg <= wp_fault_asid;
                    f_iova_reg <= m_iova_reg;
                    f_write_reg <= m_write_reg;
                end else begin
                    // a bus error names no IOVA, as the move and completion stages' do
                    f_errno_reg <= FAULT_EIO;
                    f_iova_reg <= '0;
                end
                e_state_reg <= E_FAULT;
            end else if (wp_done) begin
                if (e_ret_reg == E_MOVE) begin
                    // both of the completion's items translate
                    cpl_ok_reg[e_vq_reg] <= w_elem_in_page;
                end
                e_state_reg <= e_ret_reg;
            end
        end
        default: begin
            e_state_reg <= E_IDLE;
        end
    endcase

    // the chain's head checked, once no refill of its head descriptors runs: in E_HEAD_CHK,
    // or in E_START already when its entry was read ahead (head_chk_now)
    if (head_chk_now) begin
        e_head_reg <= w_head;
        e_i_reg <= w_head;
        if (head_bad) begin
            // __vringh_get_head: "Guest says index %u > %u is available"
            f_errno_reg <= FAULT_EINVAL;
            f_iova_reg <= 64'(w_head);
            e_state_reg <= E_FAULT;
        end else begin
            e_state_reg <= E_HEAD;
        end
    end
    // the head taken into flight: in E_HEAD, or in E_START with its check (head_now)
    if (head_now) begin
        if (ctx_in_flight) begin
            // the driver exposed a head that is still in flight
            f_errno_reg <= FAULT_EINVAL;
            f_iova_reg <= 64'(head);
            e_state_reg <= E_FAULT;
        end else if (dpf_hit) begin
            // taken into flight (ev_ift_set); its descriptor was read ahead: checked at
            // once, as E_DESC_RD would have it read
            e_count_reg <= 17'd1;
            e_dpf_reg <= 1'b1;
            e_dpf_desc_reg <= dpf_desc;
            e_dpf_rd_reg <= 1'b1;
            e_state_reg <= E_DESC_CHK;
        end else begin
            // taken into flight (ev_ift_set)
            e_state_reg <= E_DESC_RD;
        end
    end

    // a translated piece of the buffer into the segment list; past MAX_SEGS the walk goes on
    // validating (E2BIG is reported only for a chain that is otherwise well formed)
    if (bp_valid) begin
        if (32'(seg_cnt_reg) == MAX_SEGS) begin
            seg_over_reg <= 1'b1;
        end else begin
            data_asid_reg <= bp_asid;
            seg_pa[{w_bank_reg, seg_cnt_reg[SW-1:0]}] <= bp_pa;
            seg_len[{w_bank_reg, seg_cnt_reg[SW-1:0]}] <= bp_len;
            seg_cnt_reg <= seg_cnt_reg + 1'b1;
        end
        // the chain's first piece: where its buffers start, against the queue's chain before
        if (seg_cnt_reg == '0) begin
            c_down_reg <= q_known_reg[e_vq_reg] && x_stride[STRIDE_W-1];
            c_down_page_reg <= (x_iova + 64'($signed(x_stride))) & ~64'hfff;
            q_start_reg[e_vq_reg] <= x_iova[STRIDE_W-1:0];
            q_known_reg[e_vq_reg] <= 1'b1;
        end
        x_iova_reg <= x_iova + 64'(bp_len);
        x_left_reg <= x_left - bp_len;
        e_state_reg <= (x_left != bp_len) ? E_BUF_XL : bp_ends_chain ? E_MOVE : E_NEXT;
    end

    // the next buffer page translated ahead (bt_go)
    if (bt_wait_reg && tr_resp_valid) begin
        bt_wait_reg <= 1'b0;
    end
    if (bt_go && w_tr_ready) begin
        bt_wait_reg <= 1'b1;
        bt_vq_reg <= e_vq_reg;
        bt_group_reg <= ctx_dgroup;
        bt_write_reg <= e_rx_reg;
        bt_iova_reg <= bt_page;
    end

    // the background refill (rf_go)
    // a chain handed over at once whose refill waits for the one before to end; dropped as the
    // next walk starts, and by any command, one in the hand-off's cycle too (what it would
    // read is then read by the walk)
    if (e_state_reg == E_MOVE && h_valid && h_ready && rf_state_reg != RF_IDLE &&
            !ctx_change && !tr_flush) begin
        rf_late_reg <= 1'b1;
        rf_late_pos_reg <= rf_pos;
    end else if (e_state_reg != E_IDLE || rf_go || ctx_change || tr_flush ||
                 (rf_state_reg == RF_IDLE && !rf_want)) begin
        rf_late_reg <= 1'b0;
    end
    case (rf_state_reg)
        RF_IDLE: begin
            rf_stale_reg <= 1'b0;
            if (rf_go) begin
                rf_vq_reg <= e_vq_reg;
                rf_desc_reg <= rf_desc_go;
                rf_held_reg <= rf_pf_hit && (rf_desc_go ? rf_dpf_hit : 1'b1);
                rf_base_reg <= rf_pos;
                rf_group_reg <= ctx_rgroup;
                if (rf_desc_go) begin
                    rf_n_reg <= 4'(rf_span);
                    rf_down_reg <= rf_run[3];
                    rf_iova_reg <= desc_iova(ctx_desc, run_start(rf_head, rf_run));
                    rf_len_reg <= 7'(16 * 32'(rf_span));
                    if (rf_dpf_hit) begin
                        // read on from the head after the held one (its table neighbour: the
                        // run's lowest when it goes down)
                        rf_kept_reg <= dpf_data_reg[e_vq_reg][128 * 32'(rf_dpf_off[1:0]) +: 128];
                        rf_iova_reg <= desc_iova(ctx_desc, rf_run[3] ? run_start(rf_head, rf_run) :
                                                                       rf_head + 16'd1);
                        rf_len_reg <= 7'(16 * (32'(rf_span) - 1));
                    end
                end else begin
                    rf_n_reg <= pf_span(ctx_seen, rf_pos, e_size);
                    rf_iova_reg <= avail_entry_iova(ctx_drv, e_size, rf_pos);
                    rf_len_reg <= 7'({pf_span(ctx_seen, rf_pos, e_size), 1'b0});
                end
                rf_state_reg <= RF_PORT;
            end
        end
        RF_PORT: begin
            if (ctx_change || tr_flush || e_state_reg == E_FAULT) begin
                rf_stale_reg <= 1'b1;
            end
            if (wp_fault) begin
                // forgotten: the chain that needs the item reads it itself
                rf_state_reg <= RF_IDLE;
            end else if (wp_done) begin
                rf_state_reg <= RF_STORE;
            end
        end
        RF_STORE: begin
            if (rf_keep && rf_desc_reg) begin
                dpf_valid_reg[rf_store_vq] <= 1'b1;
                dpf_base_reg[rf_store_vq] <= rf_base_reg;
                dpf_cnt_reg[rf_store_vq] <= 3'(rf_n_reg);
                dpf_data_reg[rf_store_vq] <= rf_held_reg ?
                                             {rf_rd_desc[8*WALK_ITEM-129:0], rf_kept_reg} :
                                             rf_rd_desc;
            end else if (rf_keep) begin
                pf_valid_reg[rf_store_vq] <= 1'b1;
                pf_base_reg[rf_store_vq] <= rf_base_reg;
                pf_cnt_reg[rf_store_vq] <= rf_n_reg;
                pf_data_reg[rf_store_vq] <= wp_rdata[127:0];
            end
            rf_state_reg <= RF_IDLE;
        end
        default: begin
            rf_state_reg <= RF_IDLE;
        end
    endcase

    // what is read ahead or known to translate is dropped on any VQ or IOTLB command and on a
    // walker fault
    if ((ctx_change && MUTANT != MUT_READAHEAD_KEPT) ||  // mutant MUT_READAHEAD_KEPT
            tr_flush || e_state_reg == E_FAULT) begin
        pf_valid_reg <= '0;
        dpf_valid_reg <= '0;
    end
    if (ctx_change || (tr_flush && MUTANT != MUT_USED_PAGE_KEPT) ||  // mutant MUT_USED_PAGE_KEPT
            e_state_reg == E_FAULT) begin
        cpl_ok_reg <= '0;
    end
    // a VQ command may give a queue new rings and buffers: the strides are learnt again
    if (ctx_change) begin
        q_known_reg <= '0;
    end

    if (rst) begin
        pf_valid_reg <= '0;
        dpf_valid_reg <= '0;
        cpl_ok_reg <= '0;
        e_dpf_reg <= 1'b0;
        e_state_reg <= E_IDLE;
        rf_state_reg <= RF_IDLE;
        rf_held_reg <= 1'b0;
        rf_late_reg <= 1'b0;
        bt_wait_reg <= 1'b0;
        // (no stride known: the page after the chain's end, as for a queue going up)
        c_down_reg <= 1'b0;
        c_down_page_reg <= '0;
        q_known_reg <= '0;
        e_vq_reg <= '0;
        rf_vq_reg <= '0;
        e_rx_reg <= 1'b0;
        w_bank_reg <= 1'b0;
        f_errno_reg <= '0;
        m_probe_reg <= 1'b0;
    end
end

endmodule

`resetall
