// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Ring-item translation cache of the virtqueue engine: the last few IOTLB answers for ring
 * items, so the avail entry, descriptor, used element, used.idx and notification accesses of a
 * chain do not each wait for a translation (the rings of a queue sit in one or two pages that
 * every chain touches again).
 *
 * An entry is one IOTLB answer: for (group, direction) the IOVA range [lo, lo + len) is
 * contiguous at host-physical pa, with the ASID the group was bound to. A lookup hits when an
 * entry of the same group and direction holds the whole item; it answers in the same cycle
 * (combinational), so the engine goes from the item's address straight to the bus. Items
 * across two ranges, faults and buffer pages always go to the IOTLB; only successful answers
 * are kept (no negative caching: a MAP may make a refused IOVA valid).
 *
 * Coherence: the IOTLB raises `flush` while it is taking or running any command (MAP may end
 * an ASID's identity default, UNMAP / RESET_MAP / SET_GROUP_ASID / TABLE_SWITCH / RESET change
 * or remove translations); every entry is dropped then. An answer is kept only if no flush was
 * seen from the cycle its request was accepted (`req_taken`) to the cycle it is filled, so an
 * answer computed from the tables before a change is never kept after it. The engine has one
 * translation outstanding at a time, which is what makes one "armed" flag enough.
 *
 * Interfaces (one clock, synchronous active-high reset, which empties the cache):
 *   lookup    lk_* in, hit/hit_pa/hit_asid out, combinational
 *   request   req_taken: the IOTLB accepted a translation request this cycle (arms a fill)
 *   fill      fill_valid with fill_*: a successful IOTLB answer for the request just made
 *   flush     from the IOTLB: translations may change (drops every entry, disarms the fill)
 */
module vdpa_xlate_cache #(
    // Entries kept (the engine uses a driver-area read, a descriptor-table read, a
    // device-area write and an indirect table: four keep all of a chain's ring items)
    parameter int ENTRIES = 8
) (
    input  wire logic          clk,
    input  wire logic          rst,

    /* Lookup: the whole item [lk_iova, lk_iova + lk_len) */
    input  wire logic [7:0]    lk_group,
    input  wire logic [63:0]   lk_iova,
    input  wire logic [4:0]    lk_len,
    input  wire logic          lk_write,
    output wire logic          hit,
    output wire logic [63:0]   hit_pa,
    output wire logic [7:0]    hit_asid,

    /* Fill from the IOTLB's answer */
    input  wire logic          req_taken,
    input  wire logic          fill_valid,
    input  wire logic [7:0]    fill_group,
    input  wire logic [63:0]   fill_iova,
    input  wire logic [31:0]   fill_len,
    input  wire logic          fill_write,
    input  wire logic [63:0]   fill_pa,
    input  wire logic [7:0]    fill_asid,

    input  wire logic          flush
);

localparam int EW = ENTRIES > 1 ? $clog2(ENTRIES) : 1;

initial begin
    if (ENTRIES < 1 || ENTRIES > 16) begin
        $error("Error: ENTRIES must be in 1..16 (instance %m)");
        $finish;
    end
end

logic          c_valid[ENTRIES];
logic [7:0]    c_group[ENTRIES];
logic          c_write[ENTRIES];
logic [63:0]   c_lo[ENTRIES];
logic [31:0]   c_len[ENTRIES];
logic [63:0]   c_pa[ENTRIES];
logic [7:0]    c_asid[ENTRIES];
logic [EW-1:0] victim_reg;
logic          armed_reg;

// offsets from an entry's start: an item is held when it starts inside the entry and its
// last byte is inside too (u64 differences, so no sum can wrap)
logic          hit_c;
logic [EW-1:0] hit_idx;
always_comb begin
    hit_c = 1'b0;
    hit_idx = '0;
    for (int i = ENTRIES - 1; i >= 0; i--) begin
        if (c_valid[i] && c_group[i] == lk_group && c_write[i] == lk_write &&
                lk_iova >= c_lo[i] && lk_iova - c_lo[i] < 64'(c_len[i]) &&
                64'(c_len[i]) - (lk_iova - c_lo[i]) >= 64'(lk_len)) begin
            hit_c = 1'b1;
            hit_idx = EW'(i);
        end
    end
end

assign hit = hit_c;
assign hit_pa = c_pa[hit_idx] + (lk_iova - c_lo[hit_idx]);
assign hit_asid = c_asid[hit_idx];

always_ff @(posedge clk) begin
    if (req_taken) begin
        armed_reg <= 1'b1;
    end
    if (fill_valid && armed_reg && fill_len != 0) begin
        c_valid[victim_reg] <= 1'b1;
        c_group[victim_reg] <= fill_group;
        c_write[victim_reg] <= fill_write;
        c_lo[victim_reg] <= fill_iova;
        c_len[victim_reg] <= fill_len;
        c_pa[victim_reg] <= fill_pa;
        c_asid[victim_reg] <= fill_asid;
        victim_reg <= EW'(32'(victim_reg) + 1 == ENTRIES ? 0 : 32'(victim_reg) + 1);
        armed_reg <= 1'b0;
    end
    if (flush || rst) begin
        for (int i = 0; i < ENTRIES; i++) begin
            c_valid[i] <= 1'b0;
        end
        armed_reg <= 1'b0;
    end
    if (rst) begin
        victim_reg <= '0;
    end
end

endmodule

`resetall
