// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Translation cache of the virtqueue engine: the last few IOTLB answers for ring items, so the
 * avail entry, descriptor, used element, used.idx and notification accesses of a chain do not
 * each wait for a translation (the rings of a queue sit in one or two pages that every chain
 * touches again); the walker keeps one for buffer pages too (a queue's small buffers share
 * pages).
 *
 * An entry is one IOTLB answer: for (group, direction) the IOVA range [lo, lo + len) is
 * contiguous at host-physical pa, with the ASID the group was bound to. A lookup hits when an
 * entry of the same group and direction holds the whole item; it answers in the same cycle
 * (combinational), so the engine goes from the item's address straight to the bus. Items
 * across two ranges and faults always go to the IOTLB; only successful answers are kept (no
 * negative caching: a MAP may make a refused IOVA valid).
 *
 * Coherence: the IOTLB raises `flush` while it is taking or running any command (MAP may end
 * an ASID's identity default, UNMAP / RESET_MAP / SET_GROUP_ASID / TABLE_SWITCH / RESET change
 * or remove translations); every entry is dropped then. An answer is kept only if no flush was
 * seen from the cycle its request was accepted (`req_taken`) to the cycle it is filled, so an
 * answer computed from the tables before a change is never kept after it. The engine has one
 * translation outstanding at a time, which is what makes one "armed" flag enough.
 *
 * Sets: with SETS > 1 the caller names a set with each lookup and fill (the engine: the VQ),
 * and only that set's ENTRIES are searched and replaced, round robin within the set. So eight
 * busy queues keep their own ring translations instead of evicting each other's (a queue's
 * chain uses four: driver area read, descriptor table, device area write, an indirect table).
 * SETS = 1 is one fully associative cache.
 *
 * Interfaces (one clock, synchronous active-high reset, which empties the cache):
 *   lookup    lk_* in (lk_set: the set), hit/hit_pa/hit_asid out, combinational
 *   request   req_taken: the IOTLB accepted a translation request this cycle (arms a fill)
 *   fill      fill_valid with fill_*: a successful IOTLB answer for the request just made
 *   flush     from the IOTLB: translations may change (drops every entry, disarms the fill)
 */
module vdpa_xlate_cache
    import vdpa_mutants_pkg::*;
#(
    // Sets (the engine: one per VQ); 1: fully associative
    parameter int SETS = 1,
    // Entries per set
    parameter int ENTRIES = 8,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic          clk,
    input  wire logic          rst,

    /* Lookup: the whole item [lk_iova, lk_iova + lk_len) */
    input  wire logic [(SETS > 1 ? $clog2(SETS) : 1)-1:0] lk_set,
    input  wire logic [7:0]    lk_group,
    input  wire logic [63:0]   lk_iova,
    input  wire logic [31:0]   lk_len,
    input  wire logic          lk_write,
    output wire logic          hit,
    output wire logic [63:0]   hit_pa,
    output wire logic [7:0]    hit_asid,

    /* Fill from the IOTLB's answer */
    input  wire logic          req_taken,
    input  wire logic          fill_valid,
    input  wire logic [(SETS > 1 ? $clog2(SETS) : 1)-1:0] fill_set,
    input  wire logic [7:0]    fill_group,
    input  wire logic [63:0]   fill_iova,
    input  wire logic [31:0]   fill_len,
    input  wire logic          fill_write,
    input  wire logic [63:0]   fill_pa,
    input  wire logic [7:0]    fill_asid,

    input  wire logic          flush
);

localparam int EW = ENTRIES > 1 ? $clog2(ENTRIES) : 1;
localparam int N = SETS * ENTRIES;
localparam int NW = N > 1 ? $clog2(N) : 1;
localparam int SW = SETS > 1 ? $clog2(SETS) : 1;

initial begin
    if (ENTRIES < 1 || ENTRIES > 16) begin
        $error("Error: ENTRIES must be in 1..16 (instance %m)");
        $finish;
    end
    if (SETS < 1 || SETS > 64 || (SETS & (SETS - 1)) != 0) begin
        $error("Error: SETS must be a power of two in 1..64 (instance %m)");
        $finish;
    end
end

// entry k of set s is c_*[s * ENTRIES + k]
logic          c_valid[N];
logic [7:0]    c_group[N];
logic          c_write[N];
logic [63:0]   c_lo[N];
logic [31:0]   c_len[N];
logic [63:0]   c_pa[N];
logic [7:0]    c_asid[N];
logic [EW-1:0] victim_reg[SETS];
logic          armed_reg;

wire logic [31:0] lk_base = SETS > 1 ? 32'(lk_set) * ENTRIES : 32'd0;
wire logic [31:0] fill_base = SETS > 1 ? 32'(fill_set) * ENTRIES : 32'd0;
wire logic [SW-1:0] fill_s = SETS > 1 ? fill_set : '0;

// offsets from an entry's start: an item is held when it starts inside the entry and its
// last byte is inside too (u64 differences, so no sum can wrap)
logic          hit_c;
logic [NW-1:0] hit_idx;
always_comb begin
    hit_c = 1'b0;
    hit_idx = NW'(lk_base);
    for (int k = ENTRIES - 1; k >= 0; k--) begin
        if (c_valid[NW'(lk_base + 32'(k))] &&
                (c_group[NW'(lk_base + 32'(k))] == lk_group ||
                 MUTANT == MUT_CACHE_IGNORES_GROUP) &&  // mutant MUT_CACHE_IGNORES_GROUP
                c_write[NW'(lk_base + 32'(k))] == lk_write &&
                lk_iova >= c_lo[NW'(lk_base + 32'(k))] &&
                lk_iova - c_lo[NW'(lk_base + 32'(k))] < 64'(c_len[NW'(lk_base + 32'(k))]) &&
                64'(c_len[NW'(lk_base + 32'(k))]) - (lk_iova - c_lo[NW'(lk_base + 32'(k))]) >=
                64'(lk_len)) begin
            hit_c = 1'b1;
            hit_idx = NW'(lk_base + 32'(k));
        end
    end
end

assign hit = hit_c;
assign hit_pa = c_pa[hit_idx] + (lk_iova - c_lo[hit_idx]);
assign hit_asid = c_asid[hit_idx];

wire logic [NW-1:0] fill_idx = NW'(fill_base + 32'(victim_reg[fill_s]));

always_ff @(posedge clk) begin
    if (req_taken) begin
        armed_reg <= 1'b1;
    end
    // a fill is the one answer to the request that armed it, kept or not (a zero-length
    // answer too), so a later answer with no request of its own is never kept; a request
    // taken in a fill's cycle arms nothing (the answer may be to it)
    if (fill_valid) begin
        armed_reg <= 1'b0;
    end
    if (fill_valid && armed_reg && fill_len != 0) begin
        c_valid[fill_idx] <= 1'b1;
        c_group[fill_idx] <= fill_group;
        c_write[fill_idx] <= fill_write;
        c_lo[fill_idx] <= fill_iova;
        c_len[fill_idx] <= fill_len;
        c_pa[fill_idx] <= fill_pa;
        c_asid[fill_idx] <= fill_asid;
        victim_reg[fill_s] <= EW'(32'(victim_reg[fill_s]) + 1 == ENTRIES ? 0 : 32'(victim_reg[fill_s]) + 1);
    end
    if ((flush && MUTANT != MUT_CACHE_KEEPS_ON_FLUSH) || rst) begin  // mutant MUT_CACHE_KEEPS_ON_FLUSH
        for (int i = 0; i < N; i++) begin
            c_valid[i] <= 1'b0;
        end
        armed_reg <= 1'b0;
    end
    if (rst) begin
        for (int s = 0; s < SETS; s++) begin
            victim_reg[s] <= '0;
        end
    end
end

endmodule

`resetall
