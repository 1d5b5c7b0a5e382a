// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * DMA mover of the data path: moves one chain's data between host memory and the wire over a
 * list of translated segments, knowing nothing of rings.
 *   TX: reads `len` bytes from the segments in order (AXI read bursts) onto the AXI-Stream TX
 *       port, one stream beat per bus beat, the bytes in place (lane = physical address mod
 *       DATA_W/8, tkeep marking them); tlast on the beat with the last byte. A bus error takes
 *       the rest of its burst, then closes a frame already under way with one byte carrying
 *       tlast and tuser (bad frame, as Ethernet MACs mark a frame to drop).
 *   RX: writes `len` bytes of a source byte stream into the segments in order (AXI write
 *       bursts), one beat per cycle while the bus accepts them.
 * Bursts stay inside a MAX_BURST-beat aligned block (at most 4 KiB, so never across a 4 KiB
 * boundary) and end at a segment's end. A transfer has one transaction outstanding at a time;
 * the one exception is the read-ahead below, which overlaps the next transfer's first read
 * with this transfer's last.
 *
 * Read-ahead (TX). A request may be offered before the mover's owner can hand it over
 * (req_valid with req_hold: the owner's stage still holds the transfer before it). Once the
 * transfer under way has issued its last read burst, the mover reads the start of the offered
 * TX request (its first burst, cut to RA_BYTES) into a landing buffer, so that data is on the
 * way while this transfer's last beats stream out and its done waits; when the request is
 * taken, its first beats go to the stream from the buffer (X_TX_RA). The buffer takes every
 * beat as it arrives, whatever the stream or the owner do: a master sharing the R channel must
 * not hold a beat at its head while it waits for a later stage (an in-order slave would hold
 * every other master's read behind it, and the owner's later stage may be waiting for one).
 * An offer is either taken or withdrawn (req_valid low for a cycle); it does not change under
 * req_valid. A withdrawn offer's beats are dropped as they land (an error response too: no
 * transfer asked for them), and no request is taken until the last has.
 *
 * This is the seam between a ring walker and the data movement. The split-ring walker in
 * vdpa_vq_engine produces the segment list (walked, validated and translated before any data
 * moves) and requests one transfer; a packed-ring walker (virtio 1.2 §2.8) plugs in here
 * unchanged: it hands over the same (segment list, length) request and takes the same done.
 *
 * Interfaces and timing (one clock, synchronous active-high reset):
 *   request   req_valid/req_ready/req_hold: req_rx, req_len, req_user and the request's first
 *             segment (req_seg_pa/req_seg_len) are taken when req_valid and req_ready are high
 *             and req_hold is low; they are stable while req_valid is high. req_ready is high
 *             while idle and in the cycle a transfer's done is taken (back to back), and low
 *             while a withdrawn offer's read-ahead beats are still to land. A transfer's first
 *             burst address (read or write) goes out in the cycle after its request (or went
 *             out before it, read ahead; with ISSUE_AT_TAKE a TX request's goes out in the
 *             cycle it is taken), and an RX burst's first beat with its address (the
 *             source is read for it in the cycle before, for the first burst in the request's
 *             cycle). req_len = 0 moves nothing (a TX chain that is dropped completes at once).
 *   segments  seg_idx out, seg_pa/seg_len in: the transfer's later segments (1 on), read in
 *             place (not latched) and stable from the request to done; seg_pa/seg_len answer
 *             seg_idx in the same cycle. Segment lengths may be 0 (skipped).
 *   source    src_pos out, src_data in (RX): the byte at stream position src_pos + j belongs
 *             in lane j of src_data, answered in the same cycle; lanes the beat does not
 *             write are ignored (they go out as zeros).
 *   done      done_valid/done_ready: all bytes moved (TX: the last stream beat accepted, or
 *             with TX_DONE_AT_READ put in the stream register, done then in the cycle that
 *             beat is read; RX: the last burst's write response taken, OKAY, or any cycle
 *             after); moved = bytes moved. Mealy: done_valid rises in the cycle the
 *             condition holds; the block is idle in the cycle after done_ready, but for a TX
 *             transfer's last beat still on the stream (tx_tail).
 *   tail      tx_tail: the stream register holds a done transfer's last beat (tlast), which
 *             leaves when the stream takes it, while the next transfer may be under way; the
 *             owner decides that beat's fate at the done (it may flag the frame bad).
 *   fault     a bus error (RRESP/BRESP not OKAY): err_set pulses in the cycle the first error
 *             response is taken; fault pulses (the block idle in the next cycle) once the
 *             burst is over (TX: and a frame already under way has been closed). The port's
 *             owner records the fault; the mover reports only what the bus said.
 *   AXI       the master's address and data registers, to be muxed with other masters by
 *             `busy` (high from the cycle after the request to the cycle of done or fault,
 *             and while a read-ahead burst is on the bus or tx_tail is high; with
 *             ISSUE_AT_TAKE also in the cycle a TX request is taken with its first read's
 *             address out; every valid and ready of the bus is low while it is not busy).
 *             AxUSER is the request's req_user, for the transfer's every burst. The
 *             AXI-Stream TX port is this block's own.
 */
module vdpa_dma_mover
    import vdpa_axi_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // AXI data width in bits (32, 64, 128, 256 or 512)
    parameter int DATA_W = 64,
    // AXI address width in bits
    parameter int ADDR_W = 64,
    // Segments one request may use
    parameter int MAX_SEGS = 32,
    // Longest burst in beats (power of two, 1..256): 256 is AXI4's INCR limit, 16 suits an
    // AXI3 interconnect; bursts are also kept inside 4 KiB
    parameter int MAX_BURST = 256,
    // AxUSER width (the owner's sideband, carried per transfer)
    parameter int USER_W = 24,
    // Bytes of an offered TX request read ahead into the landing buffer (at least one beat's
    // worth, a multiple of DATA_W/8); 0: no read-ahead
    parameter int RA_BYTES = 256,
    // 1: a TX request's first read burst (not read ahead) has its address out in the cycle the
    // request is taken (combinational from the request's segment 0), so a transmitted chain's
    // data comes a cycle sooner; 0: from the next cycle, from registers only
    parameter int ISSUE_AT_TAKE = 0,
    // 1: a TX transfer is done once its last beat is in the stream register (it leaves after,
    // tx_tail high until then), Mealy in the cycle that beat is read, so the next request's
    // first read goes out while this one's last beat leaves; 0: once that beat has left
    parameter int TX_DONE_AT_READ = 0,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Request from the walker: move req_len bytes over the segment list */
    input  wire logic                 req_valid,
    input  wire logic                 req_hold,    // offered, not to be taken yet
    output wire logic                 req_ready,
    input  wire logic                 req_rx,      // RX: source stream into memory
    input  wire logic [31:0]          req_len,
    input  wire logic [63:0]          req_seg_pa,  // the request's segment 0
    input  wire logic [31:0]          req_seg_len,
    input  wire logic [USER_W-1:0]    req_user,

    /* Segment list (translated physical address and length of each) */
    output wire logic [$clog2(MAX_SEGS)-1:0] seg_idx,
    input  wire logic [63:0]          seg_pa,
    input  wire logic [31:0]          seg_len,

    /* RX source byte stream */
    output wire logic [31:0]          src_pos,
    input  wire logic [DATA_W-1:0]    src_data,

    /* Completion and bus errors */
    output wire logic                 done_valid,
    input  wire logic                 done_ready,
    output wire logic [31:0]          moved,
    output wire logic                 err_set,
    output wire logic                 fault,
    output wire logic                 busy,
    output wire logic                 tx_tail,

    /* AXI4 master registers (address, burst length, data; size, burst type set by the owner) */
    output wire logic [ADDR_W-1:0]    axi_awaddr,
    output wire logic [7:0]           axi_awlen,
    output wire logic [USER_W-1:0]    axi_awuser,
    output wire logic                 axi_awvalid,
    input  wire logic                 axi_awready,
    output wire logic [DATA_W-1:0]    axi_wdata,
    output wire logic [DATA_W/8-1:0]  axi_wstrb,
    output wire logic                 axi_wlast,
    output wire logic                 axi_wvalid,
    input  wire logic                 axi_wready,
    input  wire logic [1:0]           axi_bresp,
    input  wire logic                 axi_bvalid,
    output wire logic                 axi_bready,
    output wire logic [ADDR_W-1:0]    axi_araddr,
    output wire logic [7:0]           axi_arlen,
    output wire logic [USER_W-1:0]    axi_aruser,
    output wire logic                 axi_arvalid,
    input  wire logic                 axi_arready,
    input  wire logic [DATA_W-1:0]    axi_rdata,
    input  wire logic [1:0]           axi_rresp,
    input  wire logic                 axi_rlast,
    input  wire logic                 axi_rvalid,
    output wire logic                 axi_rready,

    /* AXI-Stream out: TX data, tuser on the tlast beat marks an aborted frame */
    output wire logic [DATA_W-1:0]    m_axis_tdata,
    output wire logic [DATA_W/8-1:0]  m_axis_tkeep,
    output wire logic                 m_axis_tvalid,
    input  wire logic                 m_axis_tready,
    output wire logic                 m_axis_tlast,
    output wire logic                 m_axis_tuser
);

localparam int BYTES = DATA_W / 8;
localparam int BW = $clog2(BYTES);
localparam int SW = $clog2(MAX_SEGS);
// bursts stay inside a BLOCK-aligned block: MAX_BURST beats, at most 4 KiB (AXI's boundary)
localparam logic [63:0] BLOCK = (MAX_BURST * BYTES > AXI_BOUNDARY) ? 64'(AXI_BOUNDARY) :
                                 64'(MAX_BURST * BYTES);

initial begin
    if (DATA_W != 32 && DATA_W != 64 && DATA_W != 128 && DATA_W != 256 && DATA_W != 512) begin
        $error("Error: DATA_W must be 32, 64, 128, 256 or 512 (instance %m)");
        $finish;
    end
    if (MAX_BURST < 1 || MAX_BURST > AXI_MAX_BEATS || (MAX_BURST & (MAX_BURST - 1)) != 0) begin
        $error("Error: MAX_BURST must be a power of two in 1..256 (instance %m)");
        $finish;
    end
    if (RA_BYTES != 0 && (RA_BYTES < DATA_W / 8 || RA_BYTES % (DATA_W / 8) != 0)) begin
        $error("Error: RA_BYTES must be 0 or a multiple of DATA_W/8 (instance %m)");
        $finish;
    end
    if (MAX_SEGS < 2 || (1 << SW) != MAX_SEGS) begin
        $error("Error: MAX_SEGS must be a power of two, at least 2 (instance %m)");
        $finish;
    end
end

typedef enum logic [3:0] {
    X_IDLE,
    X_TX_BURST, X_TX_AR, X_TX_R, X_TX_BEAT, X_TX_RA, X_TX_ABORT,
    X_RX_BURST, X_RX_AW, X_RX_W, X_RX_B
} xstate_t;

xstate_t      x_state_reg;
logic         err_reg;             // a read beat of this transfer had an error response
logic [SW:0]  seg_idx_reg;
logic [31:0]  moved_reg;           // bytes moved so far
logic [31:0]  xfer_total_reg;      // bytes to move
logic [63:0]  cur_pa_reg;
logic [31:0]  seg_left_reg;
logic [31:0]  burst_left_reg;
logic [DATA_W-1:0] beat_reg;
logic [USER_W-1:0] user_reg;       // the transfer's AxUSER
// the read-ahead: one burst at the start of the offered request, landing in ra_data
localparam int RA_BEATS = RA_BYTES > 0 ? RA_BYTES / BYTES : 1;
localparam int RW = $clog2(RA_BEATS + 1);
localparam int RIW = RA_BEATS > 1 ? $clog2(RA_BEATS) : 1;
logic         ra_reg;              // read ahead for the offer, not taken yet
logic         ra_stale_reg;        // its offer was withdrawn: its beats are dropped
logic [31:0]  ra_bytes_reg;        // its bytes
logic [RW-1:0] ra_beats_reg;       // its beats
logic [RW-1:0] ra_got_reg;         // beats landed (beats of it still to land: ra_fill)
logic [RW-1:0] ra_rd_reg;          // beats gone to the stream (X_TX_RA)
logic [DATA_W-1:0] ra_data [RA_BEATS];
logic [RA_BEATS-1:0] ra_bad_reg;   // beats that came with an error response

logic [ADDR_W-1:0] awaddr_reg, araddr_reg;
logic [7:0]   awlen_reg, arlen_reg;
logic [USER_W-1:0] awuser_reg, aruser_reg;
logic         awvalid_reg, wvalid_reg, wlast_reg, arvalid_reg, rready_reg, bready_reg;
logic [DATA_W-1:0] wdata_reg;
logic [BYTES-1:0]  wstrb_reg;
logic [DATA_W-1:0] tx_tdata_reg;
logic [BYTES-1:0]  tx_tkeep_reg;
logic         tx_tvalid_reg, tx_tlast_reg, tx_tuser_reg;

assign axi_awaddr = awaddr_reg;
assign axi_awlen = awlen_reg;
assign axi_awuser = awuser_reg;
assign axi_awvalid = awvalid_reg;
assign axi_wdata = wdata_reg;
assign axi_wstrb = wstrb_reg;
assign axi_wlast = wlast_reg;
assign axi_wvalid = wvalid_reg;
assign axi_bready = bready_reg;

assign m_axis_tdata = tx_tdata_reg;
assign m_axis_tkeep = tx_tkeep_reg;
assign m_axis_tvalid = tx_tvalid_reg;
assign m_axis_tlast = tx_tlast_reg;
assign m_axis_tuser = tx_tuser_reg;

wire logic   ra_fill = ra_got_reg != ra_beats_reg;
wire logic   ar_at_take;
assign busy = x_state_reg != X_IDLE || ra_reg || ra_fill || ar_at_take || tail_reg;
assign moved = moved_reg;
// the segment after the current one; the first while idle and once a transfer has moved
// everything (no segment is read after that, and its done may take the next request), from
// state alone
assign seg_idx = (x_state_reg == X_IDLE || moved_reg == xfer_total_reg)
                 ? '0 : SW'(seg_idx_reg[SW-1:0] + 1'b1);

// An RX burst's first beat is read from the source as its address is set up, so the two go
// out together and the write channel loses no cycle per burst; in that cycle the beat's place
// is the burst's own (a request's first burst: segment 0 at stream position 0), not yet in the
// registers. Every other beat is read from the registers.
// The first burst straight from the request's segment 0, so its address goes out in the
// cycle after the request (a chain of nothing, or an empty segment 0, goes through
// X_TX_BURST / X_RX_BURST); for RX its first beat is read in the request's cycle (rx_first).
// A request whose first burst was read ahead goes straight to its data instead.
wire logic         take = req_valid && req_ready && !req_hold;
wire logic         req_first = req_len != 0 && req_seg_len != 0;
wire logic         take_first = take && req_first && !ra_reg;
wire logic         rx_first = take_first && req_rx;
wire logic         w_first;
wire logic [63:0]  beat_pa = rx_first ? req_seg_pa : cur_pa_reg;
wire logic [31:0]  beat_pos = rx_first ? 32'd0 : moved_reg;
wire logic [31:0]  beat_seg_left = rx_first ? req_seg_len : seg_left_reg;
wire logic [31:0]  beat_burst_left;
// bytes of a beat from lane (its address mod BYTES) with `left` bytes of its burst to go: up
// to the end of the beat or the burst
function automatic logic [BW:0] beat_bytes(input logic [BW-1:0] lane, input logic [31:0] left);
    logic [BW:0] room;
    room = (BW+1)'(BYTES) - (BW+1)'(lane);
    return (32'(room) < left) ? room : (BW+1)'(left);
endfunction
wire logic [BW:0]  beat_lo = (BW+1)'(beat_pa[BW-1:0]);
wire logic [BW:0]  beat_n = beat_bytes(beat_pa[BW-1:0], beat_burst_left);
// a TX beat's, from the registers alone: tx_last_push takes part in req_ready, so it must not
// depend on a request taken in its cycle (as beat_n does, for an RX request's first beat)
wire logic [BW:0]  tx_beat_n = beat_bytes(cur_pa_reg[BW-1:0], burst_left_reg);
logic [BYTES-1:0]  beat_keep;
logic [DATA_W-1:0] rx_beat;
// stream position under lane 0 of the beat
assign src_pos = beat_pos - 32'(beat_lo);
always_comb begin
    for (int j = 0; j < BYTES; j++) begin
        beat_keep[j] = 32'(j) >= 32'(beat_lo) && 32'(j) < 32'(beat_lo) + 32'(beat_n);
        // lanes outside the strobe carry zeros, not whatever the source holds there
        rx_beat[8*j +: 8] = beat_keep[j] ? src_data[8*j +: 8] : 8'd0;
    end
end

// burst sizing: stay inside a BLOCK-aligned block (which never crosses 4 KiB)
function automatic logic [31:0] burst_bytes(input logic [63:0] pa, input logic [31:0] left);
    logic [63:0] room;
    room = BLOCK - (pa & (BLOCK - 64'd1));
    return (64'(left) < room) ? left : room[31:0];
endfunction

// RX: the bytes of this burst, at most the segment's rest and the transfer's rest
wire logic [31:0]  rx_left = (seg_left_reg < xfer_total_reg - moved_reg) ? seg_left_reg : xfer_total_reg - moved_reg;

// the next burst, one shape for both directions: from cur_pa, TX reading the segment's rest
// and RX writing at most the segment's and the transfer's rest; or a request's first burst
// (taken now, or read ahead: ra_go below, at most the buffer's bytes from the request's lane)
wire logic              ra_go;
wire logic              first_burst = take_first || ra_go;
wire logic [31:0]       ra_room_bytes = 32'(RA_BEATS * BYTES) - 32'(req_seg_pa[BW-1:0]);
wire logic [31:0]       first_left = req_rx && req_len < req_seg_len ? req_len : req_seg_len;
wire logic [63:0]       burst_pa = first_burst ? req_seg_pa : cur_pa_reg;
wire logic [31:0]       burst_left = ra_go ? (first_left < ra_room_bytes ? first_left : ra_room_bytes) :
                                     take_first ? first_left :
                                     (x_state_reg == X_RX_BURST ? rx_left : seg_left_reg);
wire logic [31:0]       next_burst_bytes = burst_bytes(burst_pa, burst_left);
wire logic [ADDR_W-1:0] next_burst_addr = ADDR_W'(beat_addr(burst_pa, 3'(BW)));
wire logic [7:0]        next_burst_len = burst_beats(burst_pa, next_burst_bytes, 3'(BW)) - 8'd1;
// a TX request's first read burst on the bus in the cycle it is taken (ISSUE_AT_TAKE); the
// registers take it too (burst_go below), so an address the bus does not take at once stays
// out unchanged. The read-ahead's address is never out then (a request is not taken while
// one is under way: ra_stale_reg, or it is this request's, ra_reg)
assign ar_at_take = ISSUE_AT_TAKE != 0 && take_first && !req_rx;
assign axi_araddr = ar_at_take ? next_burst_addr : araddr_reg;
assign axi_arlen = ar_at_take ? next_burst_len : arlen_reg;
assign axi_aruser = ar_at_take ? req_user : aruser_reg;
assign axi_arvalid = arvalid_reg || ar_at_take;
// the next burst's address goes out: a request's first, or the next of the transfer once the
// one before it is over (bytes left, in a segment with bytes left); a write for RX
wire logic              burst_go = take_first ||
                                   ((x_state_reg == X_TX_BURST || x_state_reg == X_RX_BURST) &&
                                    moved_reg != xfer_total_reg && seg_left_reg != 0);
wire logic              burst_write = take_first ? req_rx : x_state_reg == X_RX_BURST;
assign w_first = burst_go && burst_write;
assign beat_burst_left = w_first ? next_burst_bytes : burst_left_reg;

// Read-ahead: the offered TX request's first burst (cut to the buffer) goes out once the
// transfer under way will issue no more reads (idle or writing; or its last read burst taken:
// its bytes left are that burst's), the read address channel is free and the buffer is empty.
wire logic ra_room = x_state_reg == X_IDLE || x_state_reg == X_RX_BURST || x_state_reg == X_RX_W ||
                     x_state_reg == X_RX_AW || x_state_reg == X_RX_B ||
                     ((x_state_reg == X_TX_R || x_state_reg == X_TX_BEAT) && !err_reg &&
                      xfer_total_reg - moved_reg == burst_left_reg) ||
                     (x_state_reg == X_TX_BURST && moved_reg == xfer_total_reg);
assign ra_go = RA_BYTES != 0 && req_valid && !take && !req_rx && req_first && !ra_reg &&
               !ra_fill && !arvalid_reg && ra_room && !burst_go;
// its beats land as they come, once the transfer under way has none still to come (they
// follow its beats in the R channel: same ID, in order)
wire logic ra_land = ra_fill && !arvalid_reg && x_state_reg != X_TX_AR &&
                     x_state_reg != X_TX_R && x_state_reg != X_TX_BEAT;
assign axi_rready = rready_reg || ra_land;
wire logic ra_landed = ra_land && axi_rvalid;
wire logic ra_last_lands = ra_landed && ra_got_reg + 1'b1 == ra_beats_reg;
// the offer read ahead is withdrawn (it is either taken or withdrawn, never changed)
wire logic ra_withdrawn = ra_reg && !req_valid && MUTANT != MUT_MOVER_STALE_BURST;  // mutant MUT_MOVER_STALE_BURST
// X_TX_RA: the taken request's beats from the buffer, one a cycle as they have landed
// (an index past the buffer is never used: ra_have is low then)
wire logic [RIW-1:0] ra_rd_idx = RIW'(ra_rd_reg);
wire logic [RIW-1:0] ra_got_idx = RIW'(ra_got_reg);
wire logic ra_have = x_state_reg == X_TX_RA && ra_rd_reg < ra_got_reg;
wire logic ra_bad = ra_bad_reg[ra_rd_idx] || err_reg;
wire logic [DATA_W-1:0] ra_beat = ra_data[ra_rd_idx];
wire logic ra_rd_last = ra_rd_reg + 1'b1 == ra_beats_reg;

// a transmitted frame has left once its last stream beat is accepted (or, TX_DONE_AT_READ, it
// is all read: that beat is in the stream register); a received one is in memory with the
// last burst's good write response
wire logic tx_last_taken = !tx_tvalid_reg || m_axis_tready;
// (TX_DONE_AT_READ) the transfer's last beat goes into the stream register in this cycle
wire logic tx_last_push;
assign done_valid = tx_last_push ||
                    (moved_reg == xfer_total_reg &&
                     ((x_state_reg == X_TX_BURST && (tx_last_taken || TX_DONE_AT_READ != 0)) ||
                      x_state_reg == X_RX_BURST ||
                      (x_state_reg == X_RX_B && axi_bvalid && axi_bresp == AXI_RESP_OKAY)));
wire logic done_take = done_valid && done_ready;
// idle, or a transfer's done taken: the next request may be taken in this cycle (an RX
// transfer's with its last write response), so one transfer's first burst follows the last
// one's end with no idle cycle; not an RX request as a TX transfer's last beat is pushed (the
// two would share the beat's place: an RX request's first beat is pushed as it is taken)
assign req_ready = !ra_stale_reg && (x_state_reg == X_IDLE ||
                                     (done_take && !(tx_last_push && req_rx)));

// an error response: the read beat's (sticky over the burst) or the write response's
wire logic r_err = axi_rresp != AXI_RESP_OKAY || err_reg;
// a bus beat moves this cycle: a read beat straight onto a free stream or a held beat once
// the stream frees (TX); a burst's first write beat as its address is set up, or the next
// one after an accepted beat (RX)
wire logic tx_free = !tx_tvalid_reg || m_axis_tready;
wire logic tx_push = (x_state_reg == X_TX_R && axi_rvalid && !r_err && tx_free) ||
                     (ra_have && !ra_bad && tx_free) ||
                     (x_state_reg == X_TX_BEAT && tx_free);
wire logic rx_push = w_first || (x_state_reg == X_RX_W && axi_wready && !wlast_reg);
assign tx_last_push = TX_DONE_AT_READ != 0 && tx_push &&
                      moved_reg + 32'(tx_beat_n) == xfer_total_reg;
// the stream register holds a transfer's last beat, its done taken: it leaves at the stream's
// pace while the next transfer is under way (TX_DONE_AT_READ)
logic      tail_reg;
wire logic tx_last_out = tx_tvalid_reg && tx_tlast_reg;
assign tx_tail = tail_reg;
assign err_set = (x_state_reg == X_TX_R && axi_rvalid && axi_rresp != AXI_RESP_OKAY) ||
                 (ra_have && ra_bad && !err_reg) ||
                 (x_state_reg == X_RX_B && axi_bvalid && axi_bresp != AXI_RESP_OKAY);
assign fault = (x_state_reg == X_TX_R && axi_rvalid && r_err && axi_rlast && moved_reg == 0) ||
               (ra_have && ra_bad && ra_rd_last && moved_reg == 0) ||
               (x_state_reg == X_TX_ABORT && tx_last_taken && tx_tvalid_reg && tx_tlast_reg) ||
               (x_state_reg == X_RX_B && axi_bvalid && axi_bresp != AXI_RESP_OKAY);

always_ff @(posedge clk) begin
    case (x_state_reg)
        X_IDLE: begin
            // a request is taken below
        end

        // ---- TX: read bursts onto the stream ------------------------------------------
        X_TX_BURST: begin
            if (moved_reg == xfer_total_reg) begin
                // done (done_valid: the frame's last beat accepted, or TX_DONE_AT_READ in
                // the stream register)
                if (done_take) begin
                    x_state_reg <= X_IDLE;
                end
            end else if (seg_left_reg == 0) begin
                seg_idx_reg <= seg_idx_reg + 1'b1;
                cur_pa_reg <= seg_pa;
                seg_left_reg <= seg_len;
            end
            // else the next burst (burst_go below)
        end
        X_TX_AR: begin
            if (axi_arready) begin
                arvalid_reg <= 1'b0;
                rready_reg <= 1'b1;
                x_state_reg <= X_TX_R;
            end
        end
        X_TX_R: begin
            if (tx_tvalid_reg && m_axis_tready) begin
                tx_tvalid_reg <= 1'b0;
            end
            if (axi_rvalid) begin
                rready_reg <= 1'b0;
                beat_reg <= axi_rdata;
                if (r_err) begin
                    // an error response: take the rest of the burst, then report
                    err_reg <= 1'b1;
                    if (!axi_rlast) begin
                        rready_reg <= 1'b1;
                    end else begin
                        // a frame already under way is closed with the abort flag
                        x_state_reg <= (moved_reg != 0) ? X_TX_ABORT : X_IDLE;
                    end
                end else if (tx_free) begin
                    // the stream is free: the beat goes straight on (tx_push) and reading
                    // goes on, one beat per cycle
                    if (burst_left_reg == 32'(beat_n)) begin
                        x_state_reg <= X_TX_BURST;
                    end else begin
                        rready_reg <= 1'b1;
                    end
                end else begin
                    // the stream is busy: hold the beat until it is free
                    x_state_reg <= X_TX_BEAT;
                end
            end
        end
        X_TX_BEAT: begin
            // one stream beat per bus beat: the beat's bytes of this segment, in place
            if (tx_free) begin
                if (burst_left_reg == 32'(beat_n)) begin
                    x_state_reg <= X_TX_BURST;
                end else begin
                    rready_reg <= 1'b1;
                    x_state_reg <= X_TX_R;
                end
            end
        end
        X_TX_RA: begin
            // the request's first beats, read ahead, from the buffer as they land; an error
            // response among them ends the transfer as one on the bus does (the burst's
            // beats have all landed by its last)
            if (tx_tvalid_reg && m_axis_tready) begin
                tx_tvalid_reg <= 1'b0;
            end
            if (ra_have && (ra_bad || tx_free)) begin
                ra_rd_reg <= ra_rd_reg + 1'b1;
                if (ra_bad) begin
                    err_reg <= 1'b1;
                    if (ra_rd_last) begin
                        x_state_reg <= (moved_reg != 0) ? X_TX_ABORT : X_IDLE;
                    end
                end else if (burst_left_reg == 32'(beat_n)) begin
                    x_state_reg <= X_TX_BURST;
                end
            end
        end
        X_TX_ABORT: begin
            // bus error mid-frame: one last byte with tlast and tuser (bad frame)
            if (!tx_tvalid_reg || m_axis_tready) begin
                if (tx_tvalid_reg && tx_tlast_reg) begin
                    tx_tvalid_reg <= 1'b0;
                    x_state_reg <= X_IDLE;
                end else begin
                    tx_tvalid_reg <= 1'b1;
                    tx_tdata_reg <= '0;
                    tx_tkeep_reg <= BYTES'(1);
                    tx_tuser_reg <= 1'b1;
                    tx_tlast_reg <= 1'b1;
                end
            end
        end

        // ---- RX: the source stream into the segments, write bursts -------------------
        X_RX_BURST: begin
            if (moved_reg == xfer_total_reg) begin
                if (done_ready) begin
                    x_state_reg <= X_IDLE;
                end
            end else if (seg_left_reg == 0) begin
                seg_idx_reg <= seg_idx_reg + 1'b1;
                cur_pa_reg <= seg_pa;
                seg_left_reg <= seg_len;
            end
            // else the next burst (burst_go below)
        end
        X_RX_W: begin
            // address and data go out together; a slave may take them in either order
            if (axi_awready) begin
                awvalid_reg <= 1'b0;
            end
            if (axi_wready) begin
                if (wlast_reg) begin
                    wvalid_reg <= 1'b0;
                    wstrb_reg <= '0;
                    wdata_reg <= '0;
                    if (!awvalid_reg || axi_awready) begin
                        bready_reg <= 1'b1;
                        x_state_reg <= X_RX_B;
                    end else begin
                        x_state_reg <= X_RX_AW;
                    end
                end
                // else the next beat of the burst at once (rx_push below): one beat per cycle
                // while accepted
            end
        end
        X_RX_AW: begin
            // the data is all taken, the address not yet
            if (axi_awready) begin
                awvalid_reg <= 1'b0;
                bready_reg <= 1'b1;
                x_state_reg <= X_RX_B;
            end
        end
        X_RX_B: begin
            // the transfer's done may be taken with its last write response (done_valid)
            if (axi_bvalid) begin
                bready_reg <= 1'b0;
                x_state_reg <= (axi_bresp != AXI_RESP_OKAY || (done_valid && done_ready)) ?
                               X_IDLE : X_RX_BURST;
            end
        end
        default: begin
            x_state_reg <= X_IDLE;
        end
    endcase

    // the read-ahead burst's address taken (the transfer under way has none pending then)
    if (arvalid_reg && axi_arready && x_state_reg != X_TX_AR) begin
        arvalid_reg <= 1'b0;
    end
    // a beat read ahead lands; a withdrawn offer's are dropped, and its read-ahead is over
    // once the last has landed
    if (ra_landed) begin
        ra_data[ra_got_idx] <= axi_rdata;
        ra_bad_reg[ra_got_idx] <= axi_rresp != AXI_RESP_OKAY;
        ra_got_reg <= ra_got_reg + 1'b1;
    end
    if (ra_withdrawn) begin
        if (ra_fill && !ra_last_lands) begin
            ra_stale_reg <= 1'b1;
        end else begin
            ra_reg <= 1'b0;
        end
    end
    if (ra_stale_reg && ra_last_lands) begin
        ra_reg <= 1'b0;
        ra_stale_reg <= 1'b0;
    end

    // done as the transfer's last beat is read (TX_DONE_AT_READ): not on to X_TX_BURST
    if (tx_last_push && done_ready) begin
        x_state_reg <= X_IDLE;
    end
    if (done_take && (tx_last_push || (tx_last_out && !m_axis_tready))) begin
        tail_reg <= 1'b1;
    end else if (tx_last_out && m_axis_tready) begin
        tail_reg <= 1'b0;
    end

    // a request: while idle, or with a transfer's done (back to back)
    if (take) begin
        err_reg <= 1'b0;
        seg_idx_reg <= '0;
        moved_reg <= '0;
        xfer_total_reg <= req_len;
        cur_pa_reg <= req_seg_pa;
        seg_left_reg <= req_seg_len;
        user_reg <= req_user;
        x_state_reg <= req_rx ? X_RX_BURST : X_TX_BURST;
        if (ra_reg) begin
            // its first beats are read ahead: on to them (they may still be landing)
            ra_reg <= 1'b0;
            ra_rd_reg <= '0;
            burst_left_reg <= ra_bytes_reg;
            x_state_reg <= X_TX_RA;
        end
    end

    if (ra_go) begin
        ra_reg <= 1'b1;
        ra_got_reg <= '0;
        ra_beats_reg <= RW'(next_burst_len) + 1'b1;
        ra_bytes_reg <= next_burst_bytes;
        araddr_reg <= next_burst_addr;
        arlen_reg <= next_burst_len;
        aruser_reg <= req_user;
        arvalid_reg <= 1'b1;
    end

    // a burst's address: one place for the request's first and the transfer's later ones
    if (burst_go) begin
        burst_left_reg <= next_burst_bytes;
        if (burst_write) begin
            awaddr_reg <= next_burst_addr;
            awlen_reg <= next_burst_len;
            awuser_reg <= take_first ? req_user : user_reg;
            awvalid_reg <= 1'b1;
            wvalid_reg <= 1'b1;
            x_state_reg <= X_RX_W;
        end else begin
            araddr_reg <= next_burst_addr;
            arlen_reg <= next_burst_len;
            aruser_reg <= take_first ? req_user : user_reg;
            arvalid_reg <= 1'b1;
            x_state_reg <= X_TX_AR;
        end
    end
    // ... taken in the request's cycle (ISSUE_AT_TAKE): on to its data, as X_TX_AR would go
    if (ar_at_take && axi_arready) begin
        arvalid_reg <= 1'b0;
        rready_reg <= 1'b1;
        x_state_reg <= X_TX_R;
    end

    // one bus beat moved: onto the stream (TX) or into the write channel (RX), and the
    // counters advanced past it; one place for the four arms that move a beat
    if (tx_push) begin
        tx_tvalid_reg <= 1'b1;
        tx_tdata_reg <= x_state_reg == X_TX_R ? axi_rdata : x_state_reg == X_TX_RA ? ra_beat : beat_reg;
        tx_tkeep_reg <= beat_keep;
        tx_tuser_reg <= 1'b0;
        tx_tlast_reg <= moved_reg + 32'(beat_n) == xfer_total_reg;
    end
    if (rx_push) begin
        wdata_reg <= rx_beat;
        wstrb_reg <= beat_keep;
        wlast_reg <= beat_burst_left == 32'(beat_n);
    end
    // (not a TX beat pushed as the next request is taken: the counters are the new one's)
    if (rx_push || (tx_push && !take)) begin
        moved_reg <= beat_pos + 32'(beat_n);
        burst_left_reg <= beat_burst_left - 32'(beat_n);
        seg_left_reg <= beat_seg_left - 32'(beat_n);
        cur_pa_reg <= beat_pa + 64'(beat_n);
    end

    // a stream beat taken while the mover is not driving the stream
    if (x_state_reg != X_TX_BEAT && x_state_reg != X_TX_ABORT && x_state_reg != X_TX_R &&
            x_state_reg != X_TX_RA &&
            tx_tvalid_reg && m_axis_tready) begin
        tx_tvalid_reg <= 1'b0;
    end

    if (rst) begin
        x_state_reg <= X_IDLE;
        err_reg <= 1'b0;
        moved_reg <= '0;
        xfer_total_reg <= '0;
        awvalid_reg <= 1'b0;
        wvalid_reg <= 1'b0;
        arvalid_reg <= 1'b0;
        rready_reg <= 1'b0;
        bready_reg <= 1'b0;
        tx_tvalid_reg <= 1'b0;
        ra_reg <= 1'b0;
        ra_stale_reg <= 1'b0;
        ra_got_reg <= '0;
        ra_beats_reg <= '0;
        tail_reg <= 1'b0;
    end
end

endmodule

`resetall
