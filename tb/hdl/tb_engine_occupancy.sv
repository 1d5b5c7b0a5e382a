// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (testbench only)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Occupancy counters of the reference engine's stages, for the throughput bench's breakdown
 * (bench/bench_engine_throughput.py): in how many cycles each stage of vdpa_vq_engine held
 * work, and in how many of those it could not pass it on. The figure per descriptor says
 * which stage sets the pace: a stage busy nearly every cycle of a measurement is the bound,
 * one busy half the time waits for another. Counting in the simulator keeps Python off the
 * per-cycle path; the bench reads the counters before and after a measurement.
 *
 * The probes are the engine's own signals (tb_vdpa_nic_top connects them by hierarchical
 * name), so this block belongs to the reference device's testbench top only; another
 * device's bench has no such stages and reads no counters.
 */
module tb_engine_occupancy (
    input  wire logic clk,
    // a chain the walker has walked waits for the move stage (offered, not taken)
    input  wire logic walk_blocked,
    // the walker reads ahead in the background (its refill is not idle)
    input  wire logic refill,
    // the move stage holds a chain
    input  wire logic move,
    // ... a transmitted frame's last beat waits for the completion ahead of it (tx_hold)
    input  wire logic move_tx_held,
    // ... the chain has moved and waits for the completion stage to take it
    input  wire logic move_blocked,
    // the completion stage holds a chain or a batch
    input  wire logic complete,
    // the notifier holds a check
    input  wire logic notify,
    // the walker's state (vdpa_split_ring_walker estate_t), for the cycles spent in each
    // (the cycles it walks are those outside E_IDLE)
    input  wire logic [4:0] walk_state,
    // the DMA mover's state (vdpa_dma_mover xstate_t)
    input  wire logic [3:0] move_state
);

// 64 bits: a counter never wraps within a run
logic [63:0] walk_blocked_cycles, refill_cycles, move_cycles, move_tx_held_cycles;
logic [63:0] move_blocked_cycles, complete_cycles, notify_cycles;
// indexed by the walker's and the mover's state encodings; the bench names them from the
// RTL's enums
logic [63:0] walk_state_cycles [32];
logic [63:0] move_state_cycles [16];
initial begin
    walk_blocked_cycles = '0;
    refill_cycles = '0;
    move_cycles = '0;
    move_tx_held_cycles = '0;
    move_blocked_cycles = '0;
    complete_cycles = '0;
    notify_cycles = '0;
    for (int i = 0; i < 32; i++) begin
        walk_state_cycles[i] = '0;
    end
    for (int i = 0; i < 16; i++) begin
        move_state_cycles[i] = '0;
    end
end

always_ff @(posedge clk) begin
    walk_blocked_cycles <= walk_blocked_cycles + 64'(walk_blocked);
    refill_cycles <= refill_cycles + 64'(refill);
    move_cycles <= move_cycles + 64'(move);
    move_tx_held_cycles <= move_tx_held_cycles + 64'(move_tx_held);
    move_blocked_cycles <= move_blocked_cycles + 64'(move_blocked);
    complete_cycles <= complete_cycles + 64'(complete);
    notify_cycles <= notify_cycles + 64'(notify);
    walk_state_cycles[walk_state] <= walk_state_cycles[walk_state] + 1'b1;
    move_state_cycles[move_state] <= move_state_cycles[move_state] + 1'b1;
end

endmodule

`resetall
