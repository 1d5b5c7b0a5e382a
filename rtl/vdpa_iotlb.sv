// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * On-chip IOTLB: translation tables of range entries over a per-page translation table (MTT),
 * group->ASID binding and the identity default of each address space.
 *
 * Each ASID has one table in force. A MAP adds a range entry to a table and writes one MTT word
 * per page, WRITERS words a cycle (the MTT is banked by page index, one write port a bank), so
 * its cost grows with pages / writers as mlx5 MR creation does with its MTT entries and its
 * parallel direct keys (drivers/vdpa/mlx5/core/mr.c: create_user_mr, create_direct_keys).
 * Translations look the range up among the entries of the table in force of the ASID the
 * requester's group is bound to, then read the page's MTT word; a miss or a permission
 * violation answers "fault" and the requester makes no access.
 *
 * A whole table is replaced the way mlx5_vdpa_change_map does it, without ever showing the data
 * path an empty or half-built table: TABLE_NEW starts a table beside the one in force, MAPs with
 * its handle fill it, TABLE_SWITCH makes it the one in force between chains and retires the old
 * one, and TABLE_FREE releases the retired table later, by its own command (mlx5's deferred MR
 * destruction). MTT pages are allocated contiguously per range: above the highest allocation
 * when it fits there, else in the lowest-numbered hole that fits (a scan of one candidate a
 * cycle), so space freed anywhere is reused and two tables fit side by side.
 *
 * The ASIDs in IDENTITY_MASK start in identity (IOVA = PA, read/write) and leave it on their
 * first MAP or UNMAP into the table in force, or their first TABLE_SWITCH, as vdpa_sim and mlx5
 * drop their passthrough / DMA MR (drivers/vdpa/vdpa_sim/vdpa_sim.c: vdpasim_dma_map,
 * vdpasim_set_map); RESET_MAP and RESET with CLEAN_MAP restore each ASID's default.
 */
module vdpa_iotlb
    import vdpa_regs_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // Number of address spaces (ASIDs)
    parameter int NAS = 2,
    // Number of VQ groups
    parameter int NGROUPS = 3,
    // Range entries, all tables together
    parameter int ENTRIES = 16,
    // Pages the MTT can hold over all entries
    parameter int MTT_DEPTH = 4096,
    // MTT write ports: pages a MAP may write per cycle (1..16)
    parameter int WRITERS = 4,
    // Translation tables (in force, under construction, retired), NAS+1..255
    parameter int TABLES = 8,
    // log2 of the translation page size
    parameter int PAGE_SHIFT = 12,
    // ASIDs that start in identity (IOVA = PA) and return to it on RESET_MAP / clean reset,
    // one bit per ASID (mlx5: ASID 0 only, its DMA MR; vdpa_sim: all)
    parameter logic [255:0] IDENTITY_MASK = 256'd1,
    // Command argument words
    parameter int NARGS = 12,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Data path handshake: a mapping is removed, rebound or switched only between chains */
    input  wire logic                 eng_busy,
    output wire logic                 eng_hold,

    /* Command unit: MAP, UNMAP, RESET_MAP, SET_GROUP_ASID, QUERY_GROUP, TABLE_*, RESET.
       cmd_valid pulses once; op and args hold until done_valid. */
    input  wire logic                 cmd_valid,
    input  wire logic [7:0]           cmd_op,
    input  wire logic [NARGS*32-1:0]  cmd_args,
    output wire logic                 cmd_busy,
    output wire logic                 done_valid,
    output wire logic [7:0]           done_status,
    output wire logic [127:0]         done_data,

    /* Translation requests from the VQ engine */
    input  wire logic                 tr_req_valid,
    output wire logic                 tr_req_ready,
    input  wire logic [7:0]           tr_req_group,
    input  wire logic [63:0]          tr_req_iova,
    input  wire logic [31:0]          tr_req_len,
    input  wire logic                 tr_req_write,
    output wire logic                 tr_resp_valid,
    output wire logic                 tr_resp_ok,
    output wire logic [63:0]          tr_resp_pa,
    output wire logic [31:0]          tr_resp_len,
    output wire logic [7:0]           tr_resp_asid,
    // high while a command is taken or runs: a translation answered before may not hold after
    // it (the engine's ring-item translation cache drops its entries)
    output wire logic                 tr_flush
);

localparam int EW = $clog2(ENTRIES);
localparam int MW = $clog2(MTT_DEPTH);
localparam int TIW = $clog2(TABLES);
localparam logic [63:0] PAGE = 64'd1 << PAGE_SHIFT;

initial begin
    if (NAS < 1 || NAS > 255 || NGROUPS < 1 || NGROUPS > 255) begin
        $error("Error: NAS and NGROUPS must be 1..255 (instance %m)");
        $finish;
    end
    if ((1 << MW) != MTT_DEPTH || (1 << EW) != ENTRIES) begin
        $error("Error: MTT_DEPTH and ENTRIES must be powers of two (instance %m)");
        $finish;
    end
    if (WRITERS < 1 || WRITERS > 16) begin
        $error("Error: WRITERS must be 1..16 (instance %m)");
        $finish;
    end
    if (TABLES <= NAS || TABLES > 255) begin
        $error("Error: TABLES must be NAS+1..255: one table in force per ASID and one to build (instance %m)");
        $finish;
    end
end

// table states
localparam logic [1:0] TB_FREE = 2'd0;     // unused
localparam logic [1:0] TB_BUILD = 2'd1;    // under construction: MAPs fill it, no chain sees it
localparam logic [1:0] TB_LIVE = 2'd2;     // the table in force of its ASID
localparam logic [1:0] TB_RETIRED = 2'd3;  // replaced by a switch, held until TABLE_FREE

// range entries
logic           e_alloc[ENTRIES];   // entry owned by a table (possibly still filling its MTT)
logic           e_valid[ENTRIES];   // entry usable for translation
logic [TIW-1:0] e_tbl[ENTRIES];
logic [63:0]    e_iova[ENTRIES];
logic [63:0]    e_last[ENTRIES];
logic [1:0]     e_perm[ENTRIES];
logic [MW:0]    e_base[ENTRIES];
logic [MW:0]    e_npages[ENTRIES];
// per-page translations
logic [63:0]    mtt[MTT_DEPTH];
// tables and address spaces
logic [1:0]     tb_state[TABLES];
logic [7:0]     tb_asid[TABLES];
logic [TIW-1:0] as_tbl[NAS];        // table in force of each ASID
logic           identity[NAS];
logic [7:0]     g2a[NGROUPS];

localparam int AIW = NAS > 1 ? $clog2(NAS) : 1;
localparam int GIW = NGROUPS > 1 ? $clog2(NGROUPS) : 1;

// command argument words
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
wire logic [63:0] a_iova = {a2, a1};
wire logic [63:0] a_last = {a4, a3};
wire logic [63:0] a_pa = {a6, a5};
wire logic [AIW-1:0] a_as = a0[AIW-1:0];
// a table handle (1..TABLES) names table index handle-1; 0 means "the table in force"
wire logic [TIW-1:0] a_tbl = TIW'(a1 - 32'd1);
// a handle is refused (BAD_PARAM) if it names no table or a table another ASID owns; a free
// table is owned by nobody and gets BAD_STATE from the command's state check
wire logic a_tbl_ok = a1 != 0 && a1 <= TABLES && a0 < NAS &&
                      (tb_state[a_tbl] == TB_FREE || tb_asid[a_tbl] == a0[7:0]);
wire logic [TIW-1:0] map_tbl = TIW'(a8 - 32'd1);
wire logic map_tbl_ok = a8 == 0 || (a8 <= TABLES &&
                        (tb_state[map_tbl] == TB_FREE || tb_asid[map_tbl] == a0[7:0]));
// argument words beyond MAP's ten are defined by the interface but not used by this unit
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused_args = ^cmd_args[NARGS*32-1:10*32];
/* verilator lint_on UNUSEDSIGNAL */

// ---------------------------------------------------------------------------------------
// Command unit
// ---------------------------------------------------------------------------------------
typedef enum logic [2:0] {C_IDLE, C_MAP_CHECK, C_MAP_SCAN, C_MAP_FILL, C_DRAIN, C_DONE} cstate_t;
cstate_t        c_state_reg;
logic [TIW-1:0] c_tbl_reg;         // table a MAP fills
logic [63:0]    c_iova_reg, c_last_reg, c_pa_reg;
logic [1:0]     c_perm_reg;
logic [4:0]     c_w_reg;           // write ports this MAP uses
logic [EW-1:0]  c_entry_reg;
logic [MW:0]    c_k_reg;
logic [MW:0]    c_cand_reg;        // hole scan: candidate base
logic [EW:0]    c_scan_reg;        // hole scan: next entry whose end is a candidate
logic [7:0]     c_status_reg;
logic [127:0]   c_data_reg;
logic           c_done_reg;

assign cmd_busy = c_state_reg != C_IDLE;
// UNMAP, RESET_MAP, SET_GROUP_ASID and TABLE_SWITCH wait for the chain in flight (translated
// before the change) to finish and keep new chains from starting, so no DMA uses a translation
// after the command that removed it has completed (vhost-vdpa expects unmap to be synchronous)
// and every chain sees one table from start to end
assign eng_hold = c_state_reg == C_DRAIN;
assign tr_flush = cmd_valid || c_state_reg != C_IDLE;
assign done_valid = c_done_reg;
assign done_status = c_status_reg;
assign done_data = c_data_reg;

// entries an UNMAP removes: every entry of the ASID's table in force overlapping the range,
// whole (vhost_iotlb_del_range); entries a TABLE_FREE releases, and their pages
logic [ENTRIES-1:0] unmap_hit;
logic [31:0]        unmap_count;
logic [ENTRIES-1:0] free_hit;
logic [31:0]        free_count;
logic [31:0]        free_pages;
always_comb begin
    unmap_count = '0;
    free_count = '0;
    free_pages = '0;
    for (int i = 0; i < ENTRIES; i++) begin
        unmap_hit[i] = e_alloc[i] && e_tbl[i] == as_tbl[a_as] && e_iova[i] <= a_last &&
                       a_iova <= e_last[i];
        free_hit[i] = e_alloc[i] && e_tbl[i] == a_tbl;
        if (unmap_hit[i]) begin
            unmap_count = unmap_count + 1;
        end
        if (free_hit[i]) begin
            free_count = free_count + 1;
            free_pages = free_pages + 32'(e_npages[i]);
        end
    end
end

// the highest allocated MTT page + 1: new ranges go there when they fit
logic [MW:0] mtt_top;
always_comb begin
    mtt_top = '0;
    for (int i = 0; i < ENTRIES; i++) begin
        if (e_alloc[i] && e_base[i] + e_npages[i] > mtt_top) begin
            mtt_top = e_base[i] + e_npages[i];
        end
    end
end

// map checks over the whole table in one cycle
logic           map_overlap;
logic           map_free_found;
logic [EW-1:0]  map_free_idx;
logic [63:0]    map_span;
logic [63:0]    map_npages;
logic           cand_fits;
logic [MW+1:0]  cand_end;
always_comb begin
    map_overlap = 1'b0;
    map_free_found = 1'b0;
    map_free_idx = '0;
    for (int i = ENTRIES-1; i >= 0; i--) begin
        if (!e_alloc[i]) begin
            map_free_found = 1'b1;
            map_free_idx = EW'(i);
        end
        if (e_alloc[i] && e_tbl[i] == c_tbl_reg && e_iova[i] <= c_last_reg &&
                c_iova_reg <= e_last[i]) begin
            map_overlap = 1'b1;
        end
    end
    map_span = c_last_reg - c_iova_reg;
    map_npages = (map_span >> PAGE_SHIFT) + 64'd1;
    // a hole candidate fits when no allocated range shares a page with it
    cand_end = (MW+2)'(c_cand_reg) + (MW+2)'(map_npages[MW:0]);
    cand_fits = cand_end <= (MW+2)'(MTT_DEPTH);
    for (int i = 0; i < ENTRIES; i++) begin
        if (e_alloc[i] && (MW+2)'(e_base[i]) < cand_end &&
                c_cand_reg < e_base[i] + e_npages[i]) begin
            cand_fits = 1'b0;
        end
    end
end

// first free table (TABLE_NEW)
logic           tbl_free_found;
logic [TIW-1:0] tbl_free_idx;
always_comb begin
    tbl_free_found = 1'b0;
    tbl_free_idx = '0;
    for (int t = TABLES-1; t >= 0; t--) begin
        if (tb_state[t] == TB_FREE) begin
            tbl_free_found = 1'b1;
            tbl_free_idx = TIW'(t);
        end
    end
end

// the MAP's range gets entry map_free_idx and MTT pages from `base`
task automatic alloc_range(input logic [MW:0] base);
    c_entry_reg <= map_free_idx;
    e_alloc[map_free_idx] <= 1'b1;
    e_valid[map_free_idx] <= 1'b0;
    e_tbl[map_free_idx] <= c_tbl_reg;
    e_iova[map_free_idx] <= c_iova_reg;
    e_last[map_free_idx] <= c_last_reg;
    e_perm[map_free_idx] <= c_perm_reg;
    e_base[map_free_idx] <= base;
    e_npages[map_free_idx] <= map_npages[MW:0];
    c_data_reg[31:0] <= 32'(map_free_idx);
    c_k_reg <= '0;
    c_state_reg <= C_MAP_FILL;
endtask

// every table back to its power-on state: table a in force for ASID a, all entries free
task automatic tables_to_initial;
    for (int i = 0; i < ENTRIES; i++) begin
        e_alloc[i] <= 1'b0;
        e_valid[i] <= 1'b0;
    end
    for (int t = 0; t < TABLES; t++) begin
        tb_state[t] <= t < NAS ? TB_LIVE : TB_FREE;
        tb_asid[t] <= 8'(t);
    end
    for (int a = 0; a < NAS; a++) begin
        as_tbl[a] <= TIW'(a);
        identity[a] <= IDENTITY_MASK[a];
    end
endtask

always_ff @(posedge clk) begin
    c_done_reg <= 1'b0;
    case (c_state_reg)
        C_IDLE: begin
            if (cmd_valid) begin
                c_status_reg <= ST_OK;
                c_data_reg <= '0;
                c_state_reg <= C_DONE;
                case (cmd_op)
                    OP_MAP: begin
                        c_iova_reg <= a_iova;
                        c_last_reg <= a_last;
                        c_pa_reg <= a_pa;
                        c_perm_reg <= a7[1:0];
                        c_w_reg <= (a9 == 0) ? 5'd1 : (a9 > WRITERS) ? 5'(WRITERS) : a9[4:0];
                        c_tbl_reg <= a8 == 0 ? as_tbl[a_as] : map_tbl;
                        if (a0 >= NAS || a7 == 0 || a7 > 3 || !map_tbl_ok) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else if (a8 != 0 && tb_state[map_tbl] != TB_BUILD) begin
                            c_status_reg <= ST_BAD_STATE;
                        end else begin
                            // the first map ends the identity default even if it then fails,
                            // as vdpasim_dma_map drops passthrough before adding the range; a
                            // table under construction leaves the one in force alone
                            if (a8 == 0) begin
                                identity[a_as] <= 1'b0;
                            end
                            if (a_last < a_iova || a_pa + (a_last - a_iova) < a_pa) begin
                                c_status_reg <= ST_BAD_PARAM;
                            end else begin
                                c_state_reg <= C_MAP_CHECK;
                            end
                        end
                    end
                    OP_UNMAP: begin
                        if (a0 >= NAS || a_last < a_iova) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else begin
                            c_state_reg <= C_DRAIN;
                        end
                    end
                    OP_RESET_MAP: begin
                        if (a0 >= NAS) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else begin
                            c_state_reg <= C_DRAIN;
                        end
                    end
                    OP_SET_GROUP_ASID: begin
                        if (a0 >= NGROUPS || a1 >= NAS) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else begin
                            c_state_reg <= C_DRAIN;
                        end
                    end
                    OP_QUERY_GROUP: begin
                        if (a0 >= NGROUPS) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else begin
                            c_data_reg[31:0] <= {24'd0, g2a[a0[GIW-1:0]]};
                            c_data_reg[63:32] <= {31'd0, identity[g2a[a0[GIW-1:0]][AIW-1:0]]};
                        end
                    end
                    OP_TABLE_NEW: begin
                        if (a0 >= NAS) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else if (!tbl_free_found) begin
                            c_status_reg <= ST_NO_SPACE;
                        end else begin
                            tb_state[tbl_free_idx] <= TB_BUILD;
                            tb_asid[tbl_free_idx] <= a0[7:0];
                            c_data_reg[31:0] <= 32'(tbl_free_idx) + 32'd1;
                        end
                    end
                    OP_TABLE_SWITCH: begin
                        if (!a_tbl_ok) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else if (tb_state[a_tbl] != TB_BUILD) begin
                            c_status_reg <= ST_BAD_STATE;
                        end else begin
                            c_state_reg <= C_DRAIN;
                        end
                    end
                    OP_TABLE_FREE: begin
                        if (!a_tbl_ok) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else if (tb_state[a_tbl] != TB_RETIRED && tb_state[a_tbl] != TB_BUILD) begin
                            c_status_reg <= ST_BAD_STATE;
                        end else begin
                            // no chain can reach it: a retired table was switched out between
                            // chains, one under construction was never switched in
                            for (int i = 0; i < ENTRIES; i++) begin
                                if (free_hit[i]) begin
                                    e_alloc[i] <= 1'b0;
                                    e_valid[i] <= 1'b0;
                                end
                            end
                            tb_state[a_tbl] <= TB_FREE;
                            c_data_reg[31:0] <= free_count;
                            c_data_reg[63:32] <= free_pages;
                        end
                    end
                    OP_RESET: begin
                        // group->ASID returns to 0 on every reset (vdpasim_do_reset, mlx5 reset)
                        for (int g = 0; g < NGROUPS; g++) begin
                            // a mask, not an if: no branch for the default build's coverage
                            g2a[g] <= g2a[g] & {8{MUTANT == MUT_RESET_KEEPS_GROUPS}};  // mutant MUT_RESET_KEEPS_GROUPS
                        end
                        if (a0[0]) begin
                            tables_to_initial();
                        end
                    end
                    default: begin
                        c_status_reg <= ST_BAD_OPCODE;
                    end
                endcase
            end
        end
        C_MAP_CHECK: begin
            if (map_overlap) begin
                c_status_reg <= ST_EXISTS;
                c_state_reg <= C_DONE;
            end else if (!map_free_found) begin
                c_status_reg <= ST_NO_SPACE;
                c_state_reg <= C_DONE;
            end else if (map_npages > 64'(MTT_DEPTH)) begin
                c_status_reg <= ST_NO_MEM;
                c_state_reg <= C_DONE;
            end else if (map_npages <= 64'(MTT_DEPTH) - 64'(mtt_top)) begin
                alloc_range(mtt_top);
            end else begin
                // no room above: look for a hole, starting at page 0
                c_cand_reg <= '0;
                c_scan_reg <= '0;
                c_state_reg <= C_MAP_SCAN;
            end
        end
        C_MAP_SCAN: begin
            // candidates: page 0, then the end of each allocated range (every maximal hole
            // starts at one of them)
            if (cand_fits) begin
                alloc_range(c_cand_reg);
            end else if (c_scan_reg == (EW+1)'(ENTRIES)) begin
                c_status_reg <= ST_NO_MEM;
                c_state_reg <= C_DONE;
            end else begin
                c_cand_reg <= e_alloc[c_scan_reg[EW-1:0]] ?
                              e_base[c_scan_reg[EW-1:0]] + e_npages[c_scan_reg[EW-1:0]] : '0;
                c_scan_reg <= c_scan_reg + 1'b1;
            end
        end
        C_MAP_FILL: begin
            // c_w_reg MTT words a cycle, one per write port: this is the map cost
            for (int j = 0; j < WRITERS; j++) begin
                if (32'(j) < 32'(c_w_reg) && 32'(c_k_reg) + 32'(j) < 32'(e_npages[c_entry_reg])) begin
                    mtt[MW'(32'(e_base[c_entry_reg]) + 32'(c_k_reg) + 32'(j))] <=
                        c_pa_reg + (64'(32'(c_k_reg) + 32'(j)) << PAGE_SHIFT);
                end
            end
            c_k_reg <= c_k_reg + (MW+1)'(c_w_reg);
            if (32'(c_k_reg) + 32'(c_w_reg) >= 32'(e_npages[c_entry_reg])) begin
                e_valid[c_entry_reg] <= 1'b1;
                c_state_reg <= C_DONE;
            end
        end
        C_DRAIN: begin
            // the arguments stay on cmd_args until this command completes
            if (!eng_busy ||
                    (MUTANT == MUT_UNMAP_NO_DRAIN && cmd_op == OP_UNMAP)) begin  // mutant MUT_UNMAP_NO_DRAIN
                c_state_reg <= C_DONE;
                case (cmd_op)
                    OP_UNMAP: begin
                        for (int i = 0; i < ENTRIES; i++) begin
                            if (unmap_hit[i]) begin
                                e_alloc[i] <= 1'b0;
                                e_valid[i] <= 1'b0;
                            end
                        end
                        c_data_reg[31:0] <= unmap_count;
                        identity[a_as] <= 1'b0;
                    end
                    OP_RESET_MAP: begin
                        for (int i = 0; i < ENTRIES; i++) begin
                            if (e_alloc[i] && e_tbl[i] == as_tbl[a_as]) begin
                                e_alloc[i] <= 1'b0;
                                e_valid[i] <= 1'b0;
                            end
                        end
                        identity[a_as] <= IDENTITY_MASK[a0[7:0]] &&
                                          MUTANT != MUT_RESET_MAP_NO_IDENTITY;  // mutant MUT_RESET_MAP_NO_IDENTITY
                    end
                    OP_TABLE_SWITCH: begin
                        tb_state[as_tbl[a_as]] <= TB_RETIRED;
                        tb_state[a_tbl] <= TB_LIVE;
                        as_tbl[a_as] <= a_tbl;
                        identity[a_as] <= 1'b0;
                        c_data_reg[31:0] <= 32'(as_tbl[a_as]) + 32'd1;
                    end
                    default: begin
                        // OP_SET_GROUP_ASID
                        g2a[a0[GIW-1:0]] <= a1[7:0];
                    end
                endcase
            end
        end
        default: begin
            // C_DONE
            c_done_reg <= 1'b1;
            c_state_reg <= C_IDLE;
        end
    endcase
    if (rst) begin
        c_state_reg <= C_IDLE;
        c_done_reg <= 1'b0;
        tables_to_initial();
        for (int g = 0; g < NGROUPS; g++) begin
            g2a[g] <= '0;
        end
    end
end

// ---------------------------------------------------------------------------------------
// Translation, two cycles from request to answer: the range is looked up as the request is
// accepted (the engine drives the request from its registers), the page's MTT word is read on
// the next cycle and the answer registered with it. Identity and refused requests answer on
// the same cycle a hit does, so every answer has one latency.
// ---------------------------------------------------------------------------------------
typedef enum logic [0:0] {T_IDLE, T_ANSWER} tstate_t;
tstate_t        t_state_reg;
logic [63:0]    t_iova_reg;
logic [31:0]    t_len_reg;
logic           t_ident_reg;     // identity-mapped ASID: PA = IOVA
logic           t_refuse_reg;    // no range, or the range does not allow the access
logic [7:0]     t_asid_reg;
logic [EW-1:0]  t_entry_reg;
logic [MW:0]    t_k_reg;
logic [63:0]    t_inpage_reg;
logic [63:0]    t_left_reg;
logic           t_resp_valid_reg, t_resp_ok_reg;
logic [63:0]    t_resp_pa_reg;
logic [31:0]    t_resp_len_reg;

assign tr_req_ready = t_state_reg == T_IDLE;
assign tr_resp_valid = t_resp_valid_reg;
assign tr_resp_ok = t_resp_ok_reg;
assign tr_resp_pa = t_resp_pa_reg;
assign tr_resp_len = t_resp_len_reg;
assign tr_resp_asid = t_asid_reg;

logic           t_hit;
logic [EW-1:0]  t_hit_idx;
logic [7:0]     t_asid;
logic [TIW-1:0] t_tbl;
always_comb begin
    t_asid = (32'(tr_req_group) < NGROUPS) ? g2a[tr_req_group[GIW-1:0]] : 8'hff;
    t_tbl = as_tbl[t_asid[AIW-1:0]];
    t_hit = 1'b0;
    t_hit_idx = '0;
    for (int i = ENTRIES-1; i >= 0; i--) begin
        // only the table in force of the bound ASID translates
        if (t_asid != 8'hff && e_valid[i] && e_iova[i] <= tr_req_iova &&
                (e_tbl[i] == t_tbl || MUTANT == MUT_STALE_TABLE_HIT) &&  // mutant MUT_STALE_TABLE_HIT
                tr_req_iova <= e_last[i]) begin
            t_hit = 1'b1;
            t_hit_idx = EW'(i);
        end
    end
end

wire logic [63:0] t_off = tr_req_iova - e_iova[t_hit_idx];
wire logic t_perm_ok = (tr_req_write && MUTANT != MUT_IOTLB_IGNORE_WRITE_PERM) ?  // mutant MUT_IOTLB_IGNORE_WRITE_PERM
                       e_perm[t_hit_idx][1] : e_perm[t_hit_idx][0];

function automatic logic [31:0] min3(input logic [63:0] a, input logic [63:0] b, input logic [31:0] c);
    logic [63:0] m;
    m = (a < b) ? a : b;
    return (m < 64'(c)) ? m[31:0] : c;
endfunction

always_ff @(posedge clk) begin
    t_resp_valid_reg <= 1'b0;
    case (t_state_reg)
        T_IDLE: begin
            if (tr_req_valid) begin
                t_iova_reg <= tr_req_iova;
                t_len_reg <= tr_req_len;
                t_asid_reg <= t_asid;
                t_ident_reg <= t_asid != 8'hff && identity[t_asid[AIW-1:0]];
                t_refuse_reg <= !t_hit || !t_perm_ok;
                t_entry_reg <= t_hit_idx;
                t_k_reg <= t_off[PAGE_SHIFT+MW:PAGE_SHIFT];
                t_inpage_reg <= t_off & (PAGE - 64'd1);
                t_left_reg <= e_last[t_hit_idx] - tr_req_iova + 64'd1;
                t_state_reg <= T_ANSWER;
            end
        end
        default: begin
            // T_ANSWER: identity, refusal, or the page's translation, contiguous to the end of
            // the page or the range
            t_resp_valid_reg <= 1'b1;
            if (t_ident_reg) begin
                t_resp_ok_reg <= 1'b1;
                t_resp_pa_reg <= t_iova_reg;
                t_resp_len_reg <= t_len_reg;
            end else if (t_refuse_reg) begin
                t_resp_ok_reg <= 1'b0;
                t_resp_pa_reg <= '0;
                t_resp_len_reg <= '0;
            end else begin
                t_resp_ok_reg <= 1'b1;
                t_resp_pa_reg <= mtt[MW'(e_base[t_entry_reg] + t_k_reg)] + t_inpage_reg;
                t_resp_len_reg <= min3(PAGE - t_inpage_reg, t_left_reg, t_len_reg);
            end
            t_state_reg <= T_IDLE;
        end
    endcase
    if (rst) begin
        t_state_reg <= T_IDLE;
        t_resp_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
