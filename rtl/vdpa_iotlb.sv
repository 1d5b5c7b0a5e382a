// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * On-chip IOTLB: ASID-tagged range table with a per-page translation table (MTT), group->ASID
 * binding and the identity default of each address space.
 *
 * A MAP allocates a range entry and writes one MTT word per page of the range, one per cycle,
 * so its cost grows with size / page size as mlx5 MR creation does with its MTT entries
 * (drivers/vdpa/mlx5/core/mr.c: create_user_mr). Translations look the range up by ASID and
 * IOVA, then read the page's MTT word; a miss or a permission violation answers "fault" and
 * the requester makes no access.
 *
 * The ASIDs in IDENTITY_MASK start in identity (IOVA = PA, read/write) and leave it on their
 * first MAP or UNMAP, as vdpa_sim does (drivers/vdpa/vdpa_sim/vdpa_sim.c: vdpasim_dma_map,
 * vdpasim_set_map); RESET_MAP and RESET with CLEAN_MAP restore each ASID's default.
 */
module vdpa_iotlb
    import vdpa_regs_pkg::*;
#(
    // Number of address spaces (ASIDs)
    parameter int NAS = 2,
    // Number of VQ groups
    parameter int NGROUPS = 3,
    // Range entries in the table
    parameter int ENTRIES = 16,
    // Pages the MTT can hold over all entries
    parameter int MTT_DEPTH = 4096,
    // log2 of the translation page size
    parameter int PAGE_SHIFT = 12,
    // ASIDs that start in identity (IOVA = PA) and return to it on RESET_MAP / clean reset,
    // one bit per ASID (mlx5: ASID 0 only, its DMA MR; vdpa_sim: all)
    parameter logic [255:0] IDENTITY_MASK = 256'd1,
    // Command argument words
    parameter int NARGS = 12
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Data path handshake: a mapping is removed or rebound only between chains */
    input  wire logic                 eng_busy,
    output wire logic                 eng_hold,

    /* Command unit: MAP, UNMAP, RESET_MAP, SET_GROUP_ASID, QUERY_GROUP, RESET */
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
    output wire logic [7:0]           tr_resp_asid
);

localparam int EW = $clog2(ENTRIES);
localparam int MW = $clog2(MTT_DEPTH);
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
end

// range table
logic           e_alloc[ENTRIES];   // entry owned by a map (possibly still filling its MTT)
logic           e_valid[ENTRIES];   // entry usable for translation
logic [7:0]     e_asid[ENTRIES];
logic [63:0]    e_iova[ENTRIES];
logic [63:0]    e_last[ENTRIES];
logic [1:0]     e_perm[ENTRIES];
logic [MW:0]    e_base[ENTRIES];
logic [MW:0]    e_npages[ENTRIES];
// per-page translations
logic [63:0]    mtt[MTT_DEPTH];
// address-space state
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
wire logic [63:0] a_iova = {a2, a1};
wire logic [63:0] a_last = {a4, a3};
wire logic [63:0] a_pa = {a6, a5};
// argument words beyond MAP's eight are defined by the interface but not used by this unit
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused_args = ^cmd_args[NARGS*32-1:8*32];
/* verilator lint_on UNUSEDSIGNAL */

// ---------------------------------------------------------------------------------------
// Command unit
// ---------------------------------------------------------------------------------------
typedef enum logic [2:0] {C_IDLE, C_MAP_CHECK, C_MAP_FILL, C_DRAIN, C_DONE} cstate_t;
cstate_t        c_state_reg;
logic [7:0]     c_op_reg;
logic [7:0]     c_asid_reg;
logic [63:0]    c_iova_reg, c_last_reg, c_pa_reg;
logic [1:0]     c_perm_reg;
logic [EW-1:0]  c_entry_reg;
logic [MW:0]    c_k_reg;
logic [7:0]     c_status_reg;
logic [127:0]   c_data_reg;
logic           c_done_reg;

assign cmd_busy = c_state_reg != C_IDLE;
// UNMAP, RESET_MAP and SET_GROUP_ASID wait for the chain in flight (translated before the
// change) to finish and keep new chains from starting, so no DMA uses a translation after the
// command that removed it has completed (vhost-vdpa expects unmap to be synchronous)
assign eng_hold = c_state_reg == C_DRAIN;

// entries an UNMAP removes: every entry of the ASID overlapping the range, whole
// (vhost_iotlb_del_range)
logic [ENTRIES-1:0] unmap_hit;
logic [31:0]        unmap_count;
always_comb begin
    unmap_count = '0;
    for (int i = 0; i < ENTRIES; i++) begin
        unmap_hit[i] = e_alloc[i] && e_asid[i] == a0[7:0] && e_iova[i] <= a_last &&
                       a_iova <= e_last[i];
        if (unmap_hit[i]) begin
            unmap_count = unmap_count + 1;
        end
    end
end
assign done_valid = c_done_reg;
assign done_status = c_status_reg;
assign done_data = c_data_reg;

// MTT allocation is a stack: the top is the end of the highest allocated entry, so unmapping
// the most recent maps gives their pages back (documented limit: holes below are not reused)
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
always_comb begin
    map_overlap = 1'b0;
    map_free_found = 1'b0;
    map_free_idx = '0;
    for (int i = ENTRIES-1; i >= 0; i--) begin
        if (!e_alloc[i]) begin
            map_free_found = 1'b1;
            map_free_idx = EW'(i);
        end
        if (e_alloc[i] && e_asid[i] == c_asid_reg && e_iova[i] <= c_last_reg && c_iova_reg <= e_last[i]) begin
            map_overlap = 1'b1;
        end
    end
    map_span = c_last_reg - c_iova_reg;
    map_npages = (map_span >> PAGE_SHIFT) + 64'd1;
end

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
                        c_asid_reg <= a0[7:0];
                        c_iova_reg <= a_iova;
                        c_last_reg <= a_last;
                        c_pa_reg <= a_pa;
                        c_perm_reg <= a7[1:0];
                        if (a0 >= NAS || a7 == 0 || a7 > 3) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else begin
                            // the first map ends the identity default even if it then fails,
                            // as vdpasim_dma_map drops passthrough before adding the range
                            identity[a0[AIW-1:0]] <= 1'b0;
                            if (a_last < a_iova || a_pa + (a_last - a_iova) < a_pa) begin
                                c_status_reg <= ST_BAD_PARAM;
                            end else begin
                                c_state_reg <= C_MAP_CHECK;
                            end
                        end
                    end
                    OP_UNMAP: begin
                        c_op_reg <= cmd_op;
                        if (a0 >= NAS || a_last < a_iova) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else begin
                            c_state_reg <= C_DRAIN;
                        end
                    end
                    OP_RESET_MAP: begin
                        c_op_reg <= cmd_op;
                        if (a0 >= NAS) begin
                            c_status_reg <= ST_BAD_PARAM;
                        end else begin
                            c_state_reg <= C_DRAIN;
                        end
                    end
                    OP_SET_GROUP_ASID: begin
                        c_op_reg <= cmd_op;
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
                    OP_RESET: begin
                        // group->ASID returns to 0 on every reset (vdpasim_do_reset, mlx5 reset)
                        for (int g = 0; g < NGROUPS; g++) begin
                            g2a[g] <= '0;
                        end
                        if (a0[0]) begin
                            for (int i = 0; i < ENTRIES; i++) begin
                                e_alloc[i] <= 1'b0;
                                e_valid[i] <= 1'b0;
                            end
                            for (int a = 0; a < NAS; a++) begin
                                identity[a] <= IDENTITY_MASK[a];
                            end
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
            end else if (map_npages > 64'(MTT_DEPTH) - 64'(mtt_top)) begin
                c_status_reg <= ST_NO_MEM;
                c_state_reg <= C_DONE;
            end else begin
                c_entry_reg <= map_free_idx;
                e_alloc[map_free_idx] <= 1'b1;
                e_valid[map_free_idx] <= 1'b0;
                e_asid[map_free_idx] <= c_asid_reg;
                e_iova[map_free_idx] <= c_iova_reg;
                e_last[map_free_idx] <= c_last_reg;
                e_perm[map_free_idx] <= c_perm_reg;
                e_base[map_free_idx] <= mtt_top;
                e_npages[map_free_idx] <= map_npages[MW:0];
                c_data_reg[31:0] <= 32'(map_free_idx);
                c_k_reg <= '0;
                c_state_reg <= C_MAP_FILL;
            end
        end
        C_MAP_FILL: begin
            // one MTT write per page: this is the map cost
            mtt[MW'(e_base[c_entry_reg] + c_k_reg)] <= c_pa_reg + (64'(c_k_reg) << PAGE_SHIFT);
            c_k_reg <= c_k_reg + 1'b1;
            if (c_k_reg + 1'b1 == e_npages[c_entry_reg]) begin
                e_valid[c_entry_reg] <= 1'b1;
                identity[c_asid_reg[AIW-1:0]] <= 1'b0;
                c_state_reg <= C_DONE;
            end
        end
        C_DRAIN: begin
            // the arguments stay on cmd_args until this command completes
            if (!eng_busy) begin
                c_state_reg <= C_DONE;
                case (c_op_reg)
                    OP_UNMAP: begin
                        for (int i = 0; i < ENTRIES; i++) begin
                            if (unmap_hit[i]) begin
                                e_alloc[i] <= 1'b0;
                                e_valid[i] <= 1'b0;
                            end
                        end
                        c_data_reg[31:0] <= unmap_count;
                        identity[a0[AIW-1:0]] <= 1'b0;
                    end
                    OP_RESET_MAP: begin
                        for (int i = 0; i < ENTRIES; i++) begin
                            if (e_asid[i] == a0[7:0]) begin
                                e_alloc[i] <= 1'b0;
                                e_valid[i] <= 1'b0;
                            end
                        end
                        identity[a0[AIW-1:0]] <= IDENTITY_MASK[a0[7:0]];
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
        for (int i = 0; i < ENTRIES; i++) begin
            e_alloc[i] <= 1'b0;
            e_valid[i] <= 1'b0;
        end
        for (int a = 0; a < NAS; a++) begin
            identity[a] <= IDENTITY_MASK[a];
        end
        for (int g = 0; g < NGROUPS; g++) begin
            g2a[g] <= '0;
        end
    end
end

// ---------------------------------------------------------------------------------------
// Translation: accept, look the range up, read the page's MTT word, answer
// ---------------------------------------------------------------------------------------
typedef enum logic [1:0] {T_IDLE, T_LOOKUP, T_MTT} tstate_t;
tstate_t        t_state_reg;
logic [7:0]     t_group_reg;
logic [63:0]    t_iova_reg;
logic [31:0]    t_len_reg;
logic           t_write_reg;
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
always_comb begin
    t_asid = (32'(t_group_reg) < NGROUPS) ? g2a[t_group_reg[GIW-1:0]] : 8'hff;
    t_hit = 1'b0;
    t_hit_idx = '0;
    for (int i = ENTRIES-1; i >= 0; i--) begin
        if (e_valid[i] && e_asid[i] == t_asid && e_iova[i] <= t_iova_reg && t_iova_reg <= e_last[i]) begin
            t_hit = 1'b1;
            t_hit_idx = EW'(i);
        end
    end
end

wire logic [63:0] t_off = t_iova_reg - e_iova[t_hit_idx];
wire logic t_perm_ok = t_write_reg ? e_perm[t_hit_idx][1] : e_perm[t_hit_idx][0];

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
                t_group_reg <= tr_req_group;
                t_iova_reg <= tr_req_iova;
                t_len_reg <= tr_req_len;
                t_write_reg <= tr_req_write;
                t_state_reg <= T_LOOKUP;
            end
        end
        T_LOOKUP: begin
            t_asid_reg <= t_asid;
            if (t_asid != 8'hff && identity[t_asid[AIW-1:0]]) begin
                t_resp_valid_reg <= 1'b1;
                t_resp_ok_reg <= 1'b1;
                t_resp_pa_reg <= t_iova_reg;
                t_resp_len_reg <= t_len_reg;
                t_state_reg <= T_IDLE;
            end else if (!t_hit || !t_perm_ok) begin
                t_resp_valid_reg <= 1'b1;
                t_resp_ok_reg <= 1'b0;
                t_resp_pa_reg <= '0;
                t_resp_len_reg <= '0;
                t_state_reg <= T_IDLE;
            end else begin
                t_entry_reg <= t_hit_idx;
                t_k_reg <= t_off[PAGE_SHIFT+MW:PAGE_SHIFT];
                t_inpage_reg <= t_off & (PAGE - 64'd1);
                t_left_reg <= e_last[t_hit_idx] - t_iova_reg + 64'd1;
                t_state_reg <= T_MTT;
            end
        end
        default: begin
            // T_MTT: the page's translation, contiguous to the end of the page or the range
            t_resp_valid_reg <= 1'b1;
            t_resp_ok_reg <= 1'b1;
            t_resp_pa_reg <= mtt[MW'(e_base[t_entry_reg] + t_k_reg)] + t_inpage_reg;
            t_resp_len_reg <= min3(PAGE - t_inpage_reg, t_left_reg, t_len_reg);
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
