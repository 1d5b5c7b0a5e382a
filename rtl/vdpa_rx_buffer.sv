// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Receive buffer of the virtqueue engine: SLOTS whole frames from the wire, each held until the
 * engine has delivered or dropped it, offered to the engine one at a time.
 *
 * Job: take frames in from AXI-Stream (tkeep may carry null bytes anywhere in a beat; kept
 * bytes are packed) into a free slot, hold each with its length and receive VQ (tdest), and
 * backpressure the wire only while every slot holds a frame. A frame longer than MAX_FRAME, or
 * one with no byte, is dropped at its tlast (drop pulses once) and never takes a slot. The wire
 * fills one slot while the engine writes another out (double buffering, SLOTS >= 2).
 *
 * Nothing here decides where a frame goes. The engine says, per tdest, whether it would act on
 * a frame for it now: q_ready for a fresh frame (one not offered to its queue yet), q_wake for a
 * parked one (offered once, no buffer found: the engine's "fresh || q_pending[vq]" for a queue
 * that can take it). A tdest the engine drops frames for (no such receive queue, ERR, ...) has
 * both bits set so the frame is offered and dropped; a tdest >= NVQ counts as both set. The
 * offered frame is the oldest held frame that is the oldest of its tdest (frames of one tdest
 * leave in arrival order, as the model's per-queue deque) and is fresh with q_ready or parked
 * with q_wake: a parked frame never holds up a frame for another tdest. It keeps its slot, and
 * later frames for its tdest wait behind it in theirs.
 *
 * A queue with no buffers never holds up the wire either. When a frame waits at the wire, every
 * slot is full and the engine is not at work on a frame (no hold, no pulse, none claimed and
 * being written out), the oldest parked frame whose tdest has no q_wake is dropped to make room
 * (`evict` pulses with its tdest and arrival number). That is the drop both kernel parents
 * make for a receive queue with no buffer (drivers/vdpa/vdpa_sim/vdpa_sim_net.c: vdpasim_net_work counts it in rx_drops; mlx5
 * hardware discards it), made only when the room is needed, so a queue whose buffers come soon
 * loses nothing. The frame dropped is always the oldest its tdest holds, and one never offered
 * or still woken is never dropped. A frame for a queue the engine will not act on at all
 * (stopped: fresh with no q_ready) is not parked and is kept: the wire waits behind a stopped
 * device as the kernel's suspend wants. The arrival number (`evict_seq`) counts every frame
 * that finished at the wire since reset, kept or dropped, from 0 mod 2^16: the testbench tells
 * the reference model which frame went (model/vdpa_model/device.py: rx_evicted).
 *
 * The engine looks at `full` (a frame is offered), `len`, `vq`, `fresh`, reads the bytes it
 * needs through the read port, and pulses `take` when it is done with the frame (delivered or
 * dropped) or `tried` when it found no buffer for it (the frame is parked until q_wake of its
 * tdest). `hold` is high while the engine works on the frame it accepted: the offer is the one
 * of the cycle before `hold` rose and stays put until `hold` falls (once taken, `full` is low
 * for the rest of the hold). `take` and `tried` act on the frame offered in the cycle before
 * the pulse, so the engine may pulse them from the cycle it decides (as it drops a frame from
 * E_IDLE), and must not act on the offer in the cycle it pulses `take` (still shown, gone at
 * the next edge). `flush` drops every frame held in the cycle before it (a device reset),
 * without a drop pulse; a frame still coming in is kept.
 *
 * A pipelined engine writes one frame out while it walks the buffer chain for the next: it
 * `claim`s the offered frame instead of taking it (same timing as `take`). A claimed frame is
 * no longer offered nor counted in its tdest's order, so the next frame, of any tdest, can be
 * offered; its slot keeps the bytes, readable at `rd_slot`, and is not refilled until the
 * engine pulses `free` with `free_slot` once the frame is written. `slot` says which
 * slot the offered frame is in.
 *
 * So that the engine can start on the next frame in the cycle it claims one, with no idle cycle
 * between two walks, `next_full`, `next_vq` and `next_fresh` say, under `hold`, which frame
 * would be offered once the held frame is claimed (the same rule, the held frame left out of
 * the offers and of its tdest's order; a frame completing at the wire in this cycle is not
 * among them). `claim_next` with `claim` takes that frame into the hold at once: the offer
 * moves to it at the edge and stays there while `hold` stays high, as if `hold` had risen on
 * it. Without `claim_next`, `hold` falls after a claim as before.
 *
 * Interface
 *   s_axis_rx_*   the frame in (AXI-Stream, DATA_W wide, tdest = receive VQ)
 *   full, len, vq a frame is offered: its length in bytes and its tdest
 *   fresh         the offered frame has not been offered to its queue yet
 *   receiving     part of a frame has been taken in (not quiescent)
 *   drop          one-cycle pulse: a frame was dropped at its tlast (too long or empty)
 *   evict,        one-cycle pulse: a parked frame was dropped to let the wire in; its tdest
 *   evict_vq,     and its arrival number
 *   evict_seq
 *   q_ready,      per tdest 0..NVQ-1, from the engine: it would act now on a fresh frame,
 *   q_wake        on a parked frame for that tdest
 *   hold          from the engine: it is working on the offered frame
 *   take, tried,  from the engine (one-cycle pulses)
 *   claim, flush
 *   next_full,    under hold: a frame would be offered once the held one is claimed, its
 *   next_vq,      tdest and whether it is fresh
 *   next_fresh
 *   claim_next    with claim: the engine goes on at once with that frame (held from the edge)
 *   slot          the slot of the offered frame
 *   free,         from the engine: a claimed frame's slot is free again (one-cycle pulse)
 *   free_slot
 *   rd_claimed,   combinational read port: rd_data byte j is byte
 *   rd_slot,      (rd_base + j) mod 2^clog2(MAX_FRAME) of the offered frame, or with
 *   rd_base,      rd_claimed of the claimed frame in slot rd_slot, for j in 0..DATA_W/8-1
 *   rd_data       (one bus beat of the frame at any byte offset; bytes past len are whatever
 *                 the buffer holds)
 *
 * SLOTS = 1 is the buffer before issue 10 cycle for cycle (one frame, the wire held off while it
 * is held, offered whenever the engine would act on it), except that a parked frame now makes
 * room for one waiting at the wire.
 */
module vdpa_rx_buffer
    import vdpa_mutants_pkg::*;
#(
    // AXI-Stream data width in bits (32, 64, 128, 256 or 512)
    parameter int DATA_W = 64,
    // Largest received frame kept (bytes)
    parameter int MAX_FRAME = 2048,
    // Frames held at once, a power of two >= 1
    parameter int SLOTS = 4,
    // tdests the engine says q_ready / q_wake for (its VQs); a frame for any other is offered
    parameter int NVQ = 8,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Frame input */
    input  wire logic [DATA_W-1:0]    s_axis_rx_tdata,
    input  wire logic [DATA_W/8-1:0]  s_axis_rx_tkeep,
    input  wire logic                 s_axis_rx_tvalid,
    output wire logic                 s_axis_rx_tready,
    input  wire logic                 s_axis_rx_tlast,
    input  wire logic [7:0]           s_axis_rx_tdest,

    /* Offered frame */
    output wire logic                 full,
    output wire logic [$clog2(MAX_FRAME):0] len,
    output wire logic [7:0]           vq,
    output wire logic                 fresh,
    output wire logic                 receiving,
    output wire logic                 drop,
    output wire logic                 evict,
    output wire logic [7:0]           evict_vq,
    output wire logic [15:0]          evict_seq,

    /* From the engine */
    input  wire logic [NVQ-1:0]       q_ready,
    input  wire logic [NVQ-1:0]       q_wake,
    input  wire logic                 hold,
    input  wire logic                 take,
    input  wire logic                 tried,
    input  wire logic                 claim,
    input  wire logic                 claim_next,
    input  wire logic                 flush,
    output wire logic                 next_full,
    output wire logic [7:0]           next_vq,
    output wire logic                 next_fresh,
    output wire logic [(SLOTS > 1 ? $clog2(SLOTS) : 1)-1:0] slot,
    input  wire logic                 free,
    input  wire logic [(SLOTS > 1 ? $clog2(SLOTS) : 1)-1:0] free_slot,

    /* Read port */
    input  wire logic                 rd_claimed,
    input  wire logic [(SLOTS > 1 ? $clog2(SLOTS) : 1)-1:0] rd_slot,
    input  wire logic [31:0]          rd_base,
    output wire logic [DATA_W-1:0]    rd_data
);

localparam int BYTES = DATA_W / 8;
localparam int BW = $clog2(BYTES);
localparam int FW = $clog2(MAX_FRAME);
localparam int SW = SLOTS > 1 ? $clog2(SLOTS) : 1;
localparam int QW = NVQ > 1 ? $clog2(NVQ) : 1;

initial begin
    if (DATA_W != 32 && DATA_W != 64 && DATA_W != 128 && DATA_W != 256 && DATA_W != 512) begin
        $error("Error: DATA_W must be 32, 64, 128, 256 or 512 (instance %m)");
        $finish;
    end
    if (MAX_FRAME < 2 * BYTES) begin
        $error("Error: MAX_FRAME must hold two bus beats at least (instance %m)");
        $finish;
    end
    if (SLOTS < 1 || (SLOTS & (SLOTS - 1)) != 0) begin
        $error("Error: SLOTS must be a power of two >= 1 (instance %m)");
        $finish;
    end
    if (NVQ < 1 || NVQ > 256) begin
        $error("Error: NVQ must be 1..256 (instance %m)");
        $finish;
    end
end

logic [7:0]   buf_mem[SLOTS][MAX_FRAME];
// the frame being taken in
logic [FW:0]  wptr_reg;
logic         over_reg;
logic         started_reg;      // a beat of it has been taken: its slot is wslot_reg
logic [SW-1:0] wslot_reg;
logic         drop_reg;
// the frames held
logic [SLOTS-1:0] full_reg;
logic [SLOTS-1:0] claimed_reg;  // held for the engine to write out: out of the offers and order
logic [SLOTS-1:0] fresh_reg;
logic [FW:0]  len_reg[SLOTS];
logic [7:0]   vq_reg[SLOTS];
// age order of the held frames: bit j of older_reg[i] says slot j's frame came in before slot
// i's (meaningful where both are held); a frame completing clears its column and takes every
// frame then held as older, so the held frames are always in one strict order
logic [SLOTS-1:0] older_reg[SLOTS];
logic [SLOTS-1:0] new_reg;      // the slot filled at the last edge (not flushed with the rest)
logic [SW-1:0] lock_reg;        // the slot offered in the cycle before (frozen while hold)
logic [15:0]  arrived_reg;      // frames finished at the wire since reset, kept or dropped
logic [15:0]  seq_reg[SLOTS];   // each held frame's arrival number
logic         evict_reg;
logic [7:0]   evict_vq_reg;
logic [15:0]  evict_seq_reg;
logic         taken_reg;        // the engine has taken the frame it holds (its slot may refill)

// ---- where the wire writes: the slot of the frame under way, else the lowest free one ----
logic          free_found;
logic [SW-1:0] free_idx;
always_comb begin
    free_found = 1'b0;
    free_idx = '0;
    for (int s = SLOTS - 1; s >= 0; s--) begin
        if (!full_reg[s]) begin
            free_found = 1'b1;
            free_idx = SW'(s);
        end
    end
end
wire logic [SW-1:0] wslot = started_reg ? wslot_reg : free_idx;
wire logic in_ready = started_reg || free_found;

// ---- which frame is offered ---------------------------------------------------------------
function automatic logic tdest_woken(input logic [7:0] d, input logic is_fresh);
    if (32'(d) >= NVQ) begin
        return 1'b1;
    end
    return is_fresh ? q_ready[QW'(d)] : q_wake[QW'(d)];
endfunction

// the frames in the offers and in their tdest's order (held, not claimed); under hold, the same
// once the held frame is claimed
wire logic [SLOTS-1:0] in_line = full_reg & ~claimed_reg;
wire logic [SLOTS-1:0] next_line = in_line & ~(SLOTS'(1) << lock_reg);
logic [SLOTS-1:0] ahead[SLOTS]; // per frame, the held frames of its tdest that came before it
logic [SLOTS-1:0] eligible;     // oldest of its tdest, and the engine would act on it now
logic [SW-1:0]    first_idx;    // the oldest eligible frame
logic [SLOTS-1:0] evictable;    // oldest of its tdest, parked, and its tdest not woken
logic [SW-1:0]    victim_idx;   // the oldest evictable frame
logic [SLOTS-1:0] eligible_next; // eligible once the held frame is claimed
logic [SW-1:0]    next_idx;     // the oldest of those
always_comb begin
    for (int s = 0; s < SLOTS; s++) begin
        for (int j = 0; j < SLOTS; j++) begin
            ahead[s][j] = older_reg[s][j] && vq_reg[j] == vq_reg[s];
        end
        eligible[s] = in_line[s] && (in_line & ahead[s]) == '0 &&
                      tdest_woken(vq_reg[s], fresh_reg[s]);
        evictable[s] = in_line[s] && (in_line & ahead[s]) == '0 && !fresh_reg[s] &&
                       (!tdest_woken(vq_reg[s], 1'b0) || MUTANT == MUT_EVICT_WOKEN);  // mutant MUT_EVICT_WOKEN
        eligible_next[s] = next_line[s] && tdest_woken(vq_reg[s], fresh_reg[s]) &&
            ((next_line & ahead[s]) == '0 || MUTANT == MUT_NEXT_OFFER_UNORDERED);  // mutant MUT_NEXT_OFFER_UNORDERED
    end
    // the oldest of each set: the one none of the set came before
    first_idx = '0;
    victim_idx = '0;
    next_idx = '0;
    for (int s = 0; s < SLOTS; s++) begin
        if (eligible[s] && (older_reg[s] & eligible) == '0) begin
            first_idx = SW'(s);
        end
        if (evictable[s] && (older_reg[s] & evictable) == '0) begin
            victim_idx = SW'(s);
        end
        if (eligible_next[s] && (older_reg[s] & eligible_next) == '0) begin
            next_idx = SW'(s);
        end
    end
end
wire logic [SW-1:0] sel = hold ? lock_reg : first_idx;
assign next_full = hold && !flush && |eligible_next;
assign next_vq = vq_reg[next_idx];
assign next_fresh = fresh_reg[next_idx];
// room for the frame at the wire: only when nothing else will free a slot (no frame under
// way, no slot free, none claimed and being written out, the engine neither holding a frame
// nor pulsing at this edge)
wire logic evict_go = s_axis_rx_tvalid && !started_reg && !free_found && claimed_reg == '0 &&
                      !hold && !take && !tried && !claim && !free && !flush && |evictable;

assign s_axis_rx_tready = in_ready;
assign full = hold ? full_reg[lock_reg] && !taken_reg : |eligible;
assign slot = sel;
assign len = len_reg[sel];
assign vq = vq_reg[sel];
assign fresh = fresh_reg[sel];
assign receiving = wptr_reg != 0;
assign drop = drop_reg;
assign evict = evict_reg;
assign evict_vq = evict_vq_reg;
assign evict_seq = evict_seq_reg;

// position of each kept byte of the input beat in the frame (tkeep may have null bytes)
logic [BW:0] in_pos[BYTES];
logic [BW:0] in_cnt;
always_comb begin
    in_cnt = '0;
    for (int k = 0; k < BYTES; k++) begin
        in_pos[k] = in_cnt;
        if (s_axis_rx_tkeep[k]) begin
            in_cnt = in_cnt + 1'b1;
        end
    end
end
wire logic [FW+1:0] wend = (FW+2)'(wptr_reg) + (FW+2)'(in_cnt);

always_ff @(posedge clk) begin
    drop_reg <= 1'b0;
    evict_reg <= 1'b0;
    new_reg <= '0;
    if (!hold) begin
        lock_reg <= sel;
        taken_reg <= 1'b0;
    end
    // a reset drops the frames held before it; one completing at this edge came after it
    if (flush) begin
        full_reg <= full_reg & new_reg;
        claimed_reg <= '0;
    end
    if (s_axis_rx_tvalid && in_ready) begin
        if (32'(wend) <= MAX_FRAME) begin
            for (int k = 0; k < BYTES; k++) begin
                if (s_axis_rx_tkeep[k]) begin
                    buf_mem[wslot][FW'(wptr_reg + (FW+1)'(in_pos[k]))] <= s_axis_rx_tdata[8*k +: 8];
                end
            end
            wptr_reg <= wend[FW:0];
        end else begin
            over_reg <= 1'b1;
        end
        started_reg <= 1'b1;
        wslot_reg <= wslot;
        if (s_axis_rx_tlast) begin
            arrived_reg <= arrived_reg + 16'd1;
            started_reg <= 1'b0;
            wptr_reg <= '0;
            over_reg <= 1'b0;
            if (over_reg || 32'(wend) > MAX_FRAME || wend == 0) begin
                drop_reg <= 1'b1;
            end else begin
                full_reg[wslot] <= 1'b1;
                fresh_reg[wslot] <= 1'b1;
                len_reg[wslot] <= wend[FW:0];
                vq_reg[wslot] <= s_axis_rx_tdest;
                seq_reg[wslot] <= arrived_reg;
                for (int s = 0; s < SLOTS; s++) begin
                    older_reg[s][wslot] <= 1'b0;
                end
                older_reg[wslot] <= full_reg;
                new_reg[wslot] <= 1'b1;
            end
        end
    end
    if (tried) begin
        fresh_reg[lock_reg] <= 1'b0;
    end
    if (take) begin
        full_reg[lock_reg] <= 1'b0;
        taken_reg <= hold;
    end
    if (claim) begin
        claimed_reg[lock_reg] <= 1'b1;
        taken_reg <= hold;
        if (claim_next && next_full) begin
            lock_reg <= next_idx;
            taken_reg <= 1'b0;
        end
    end
    if (free && !flush) begin
        full_reg[free_slot] <= 1'b0;
        claimed_reg[free_slot] <= 1'b0;
    end
    if (evict_go) begin
        full_reg[victim_idx] <= 1'b0;
        evict_reg <= 1'b1;
        evict_vq_reg <= vq_reg[victim_idx];
        evict_seq_reg <= seq_reg[victim_idx];
    end
    if (rst) begin
        fresh_reg <= '0;
        wptr_reg <= '0;
        over_reg <= 1'b0;
        started_reg <= 1'b0;
        full_reg <= '0;
        claimed_reg <= '0;
        drop_reg <= 1'b0;
        evict_reg <= 1'b0;
        arrived_reg <= '0;
        new_reg <= '0;
        lock_reg <= '0;
        taken_reg <= 1'b0;
    end
end

logic [DATA_W-1:0] rd_beat;
always_comb begin
    for (int j = 0; j < BYTES; j++) begin
        rd_beat[8*j +: 8] = buf_mem[rd_claimed ? rd_slot : sel][FW'(rd_base + 32'(j))];
    end
end
assign rd_data = rd_beat;

endmodule

`resetall
