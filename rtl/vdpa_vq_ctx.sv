// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * VQ contexts and the VQ command unit: the per-VQ object state of the virtqueue engine and the
 * commands that create, change, query and destroy it.
 *
 * Per VQ: the object state (NONE/INIT/RDY/SUSPEND/ERR), queue size, ring addresses, last_avail
 * and used indices, the avail.idx last read and whether it still counts, the descriptor and
 * data groups, the errno of its fault and its pending kick. Per head: the in-flight table (a
 * bit from the walker taking the head to the chain's used.idx write). Device-wide: NEEDS_RESET,
 * the fault register (one record, a one-cycle valid) and the received-frame drop count.
 *
 * The command unit runs one command at a time (cmd_valid in V_IDLE; cmd_busy until done_valid):
 * CREATE_VQ (argument checks, then the new VQ's in-flight table cleared, 64 heads a cycle),
 * MODIFY_VQ (drivers/vdpa/mlx5/net/mlx5_vnet.c: modifiable_virtqueue_fields and
 * is_valid_state_change; RDY -> SUSPEND drains), QUERY_VQ, DESTROY_VQ (drains), SUSPEND_ALL
 * and RESET (drain every stage first), RESUME_ALL (a resumed VQ re-arms its kick). A drain
 * waits until no stage holds a chain of the VQ (`held`, from the stages), as mlx5_vdpa_suspend
 * returns only once the hardware has stopped; while it waits `blocked` tells the scheduler
 * not to start a chain the command is about to stop. A VQ that faults while MODIFY to SUSPEND
 * drains it ends the command with BAD_STATE (nothing leaves ERR but DESTROY).
 *
 * Timing: a command is taken in a cycle with cmd_valid and cmd_busy low; done_valid pulses two
 * cycles later for one that neither clears nor drains, CREATE_VQ adds a cycle per 64 heads of
 * the queue, a drain the cycles until `held` lets go. An event takes effect at the clock edge
 * that samples it; the read ports and `blocked` are combinational on the registers.
 *
 * The stages change a context only through narrow event ports; they read it through the
 * walker's and the completion writer's read ports (one VQ each, chosen by the stage) and the
 * flattened state and kick vectors the scheduler needs (every VQ at once).
 *
 * Write priority (one always_ff: a later assignment to the same field wins), lowest first:
 *   doorbell < command unit < walker < move stage < completion stage < fault < reset
 * The fault port carries one stage's fault; a stage reports one only when the stages after it
 * are idle (the walker when the move and completion stages are, the move stage when the
 * completion stage is), so it is that stage's event with the highest priority of all, and
 * the stages after it have no event in that cycle. The order is the engine's before the cut and
 * it matters on every collision that can happen:
 *  - a kick in the walker's consume cycle (E_START) survives: the consume clears the pending
 *    kick only when no doorbell for that VQ arrives in the same cycle, and the walker's re-arm
 *    (entries still published) wins over its own consume;
 *  - a fault wins over a command in the same cycle: MODIFY to RDY (or RESUME_ALL) issued as the
 *    completion stage faults on that VQ leaves it in ERR with its kick cleared, never RDY with
 *    an errno; a RESET's NEEDS_RESET clear loses to a fault in its cycle (a device reset does
 *    not happen while a stage holds a chain, so that cycle has none today);
 *  - a commit (new used index, last_avail + the chains it completes, last head freed) wins
 *    over the walker's read of the same context in that cycle: the walker adds the chains
 *    still ahead of it (`ahead` in the engine), which drops by as many in the same edge;
 *  - the in-flight table: a CREATE's clearing of a word loses to a head set or freed in it (a
 *    stage holds no chain of a VQ without an object, so today they never meet).
 */
module vdpa_vq_ctx
    import vdpa_regs_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // Number of hardware VQs (a power of two 2..64)
    parameter int NVQ = 8,
    // Largest queue size accepted by CREATE_VQ (power of two, <= 32768)
    parameter int MAX_QSIZE = 256,
    // Number of VQ groups (for argument checks)
    parameter int NGROUPS = 3,
    // Command argument words
    parameter int NARGS = 12,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE,
    localparam int QW = $clog2(NVQ)
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Command unit */
    input  wire logic                 cmd_valid,
    input  wire logic [7:0]           cmd_op,
    input  wire logic [NARGS*32-1:0]  cmd_args,
    output wire logic                 cmd_busy,
    output wire logic                 done_valid,
    output wire logic [7:0]           done_status,
    output wire logic [127:0]         done_data,
    // per VQ: a stage holds a chain of it (the drains wait for these to clear)
    input  wire logic [NVQ-1:0]       held,
    // per VQ: a command is about to take it out of RDY, start no chain on it
    output wire logic [NVQ-1:0]       blocked,
    // a RESET's drain is over this cycle: held received frames belong to the old device (pulse
    // in the next cycle, with the contexts cleared)
    output wire logic                 rx_flush,

    /* Doorbells */
    input  wire logic                 db_valid,
    input  wire logic [15:0]          db_vq,

    /* Walker events, for the VQ and head on w_vq/w_head */
    input  wire logic [QW-1:0]        w_vq,
    input  wire logic [15:0]          w_head,
    // kick taken (E_START): pending cleared unless a doorbell for the VQ arrives this cycle
    input  wire logic                 w_consume,
    // entries still published (a TX queue goes on): the kick stays pending
    input  wire logic                 w_rearm,
    // avail.idx read and in range: entries up to w_seen_idx are served without reading it
    input  wire logic                 w_seen,
    input  wire logic [15:0]          w_seen_idx,
    // head taken into flight / given back (the chain was dropped before the move stage)
    input  wire logic                 w_ift_set,
    input  wire logic                 w_ift_clr,

    /* Move stage event: its chain dropped, the head given back */
    input  wire logic                 m_ift_clr,
    input  wire logic [QW-1:0]        m_vq,
    input  wire logic [15:0]          m_head,

    /* Completion stage events: used.idx written for c_chains chains, the queue's context
       advances (and the last chain's head is free with c_commit_free); a chain's element
       written as the next chain joins its batch, its head free (c_free) */
    input  wire logic                 c_commit,
    input  wire logic                 c_free,
    input  wire logic [QW-1:0]        c_vq,
    input  wire logic [15:0]          c_head,
    input  wire logic [15:0]          c_new_used,
    input  wire logic [2:0]           c_chains,
    input  wire logic                 c_commit_free,

    /* Fault: one stage's (at most one a cycle, see header); the VQ goes to ERR */
    input  wire logic                 f_valid,
    input  wire logic [QW-1:0]        f_vq,
    input  wire logic [7:0]           f_errno,
    input  wire logic [63:0]          f_iova,
    input  wire logic                 f_xlate,
    input  wire logic                 f_write,
    input  wire logic [7:0]           f_asid,

    /* Received frames dropped this cycle (buffer, walker, move and completion stages) */
    input  wire logic [3:0]           rx_dropped,

    /* Device state */
    output wire logic                 needs_reset,
    output wire logic [31:0]          rx_drops,
    output wire logic                 fault_valid,
    output wire logic [127:0]         fault_data,

    /* Every VQ's state and pending kick (scheduling, stale chains) */
    output wire logic [NVQ*3-1:0]     q_state_vec,
    output wire logic [NVQ-1:0]       q_pending_vec,

    /* The walker's read port: the context of w_vq, and whether w_head is in flight */
    output wire logic [16:0]          w_size,
    output wire logic [63:0]          w_desc,
    output wire logic [63:0]          w_drv,
    output wire logic [63:0]          w_dev,
    output wire logic [15:0]          w_avail,
    output wire logic [15:0]          w_used,
    output wire logic [15:0]          w_seen_last,
    output wire logic                 w_seen_ok,
    output wire logic [7:0]           w_dgroup,
    output wire logic [7:0]           w_rgroup,
    output wire logic                 w_in_flight,

    /* The completion writer's read port: the context of c_rd_vq */
    input  wire logic [QW-1:0]        c_rd_vq,
    output wire logic [16:0]          c_size,
    output wire logic [63:0]          c_drv,
    output wire logic [63:0]          c_dev,
    output wire logic [15:0]          c_used,
    output wire logic [7:0]           c_rgroup
);

localparam int IFT_WORDS = (MAX_QSIZE + 63) / 64;
localparam int IFT_DEPTH = NVQ * IFT_WORDS;
localparam int IW = $clog2(IFT_DEPTH);

initial begin
    if (NVQ < 2 || NVQ > 64 || (1 << QW) != NVQ) begin
        $error("Error: NVQ must be a power of two in 2..64 (instance %m)");
        $finish;
    end
    if (MAX_QSIZE < 2 || MAX_QSIZE > 32768 || (MAX_QSIZE & (MAX_QSIZE - 1)) != 0) begin
        $error("Error: MAX_QSIZE must be a power of two in 2..32768 (instance %m)");
        $finish;
    end
end

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
logic         fault_valid_reg;
logic [127:0] fault_data_reg;
logic         rx_flush_reg;
assign needs_reset = needs_reset_reg;
assign rx_drops = rx_drops_reg;
assign fault_valid = fault_valid_reg;
assign fault_data = fault_data_reg;
assign rx_flush = rx_flush_reg;

// a fault raises NEEDS_RESET (virtio 1.2 §2.1.2), whichever stage takes it
wire logic raise_needs_reset = MUTANT != MUT_NO_NEEDS_RESET;  // mutant MUT_NO_NEEDS_RESET

// the fault register's layout: {iova, 38'd0, xlate, write, asid, errno, vq}
wire logic [127:0] f_record = {f_iova, 38'd0, f_xlate, f_write, f_asid, f_errno, 8'(f_vq)};

// where a head's in-flight bit is
function automatic logic [IW-1:0] ift_word(input logic [QW-1:0] vq, input logic [15:0] head);
    return IW'(32'(vq) * IFT_WORDS + 32'(head >> 6));
endfunction

// ---------------------------------------------------------------------------------------
// Read ports
// ---------------------------------------------------------------------------------------
genvar gq;
generate
    for (gq = 0; gq < NVQ; gq++) begin : g_vec
        assign q_state_vec[gq*3 +: 3] = q_state[gq];
        assign q_pending_vec[gq] = q_pending[gq];
    end
endgenerate

assign w_size = q_size[w_vq];
assign w_desc = q_desc[w_vq];
assign w_drv = q_drv[w_vq];
assign w_dev = q_dev[w_vq];
assign w_avail = q_avail[w_vq];
assign w_used = q_used[w_vq];
assign w_seen_last = q_seen[w_vq];
assign w_seen_ok = q_seen_ok[w_vq];
assign w_dgroup = q_dgroup[w_vq];
assign w_rgroup = q_rgroup[w_vq];
assign w_in_flight = ift[ift_word(w_vq, w_head)][w_head[5:0]];

assign c_size = q_size[c_rd_vq];
assign c_drv = q_drv[c_rd_vq];
assign c_dev = q_dev[c_rd_vq];
assign c_used = q_used[c_rd_vq];
assign c_rgroup = q_rgroup[c_rd_vq];

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

assign cmd_busy = v_state_reg != V_IDLE;
assign done_valid = v_done_reg;
assign done_status = v_status_reg;
assign done_data = v_data_reg;

// the stages must not start a chain on a VQ a command is about to take out of RDY
generate
    for (gq = 0; gq < NVQ; gq++) begin : g_blocked
        assign blocked[gq] = v_state_reg == V_DRAIN_ALL ||
                             (v_state_reg == V_DRAIN_ONE && v_vq_reg == QW'(gq));
    end
endgenerate

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

function automatic logic is_pow2(input logic [31:0] v);
    return v != 0 && (v & (v - 1)) == 0;
endfunction

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

always_ff @(posedge clk) begin
    // a device reset clears the drop count this cycle
    logic drops_clear;
    drops_clear = 1'b0;
    fault_valid_reg <= 1'b0;
    v_done_reg <= 1'b0;
    rx_flush_reg <= 1'b0;

    // ===================================================================================
    // Doorbells
    // ===================================================================================
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
            end else if (!held[v_vq_reg] ||
                    (MUTANT == MUT_SUSPEND_NO_DRAIN && v_target_reg == VQS_SUSPEND)) begin  // mutant MUT_SUSPEND_NO_DRAIN
                q_state[v_vq_reg] <= v_target_reg;
                if (v_target_reg == VQS_NONE) begin
                    q_pending[v_vq_reg] <= 1'b0;
                end
                v_state_reg <= V_DONE;
            end
        end
        V_DRAIN_ALL: begin
            if (held == '0 ||
                    (MUTANT == MUT_SUSPEND_NO_DRAIN && v_op_reg != OP_RESET)) begin  // mutant MUT_SUSPEND_NO_DRAIN
                if (v_op_reg == OP_RESET) begin
                    // the held received frames belong to the old device instance
                    rx_flush_reg <= 1'b1;
                    needs_reset_reg <= 1'b0;
                    drops_clear = 1'b1;
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
    // Walker events
    // ===================================================================================
    if (w_consume && !(db_valid && db_vq == 16'(w_vq))) begin
        q_pending[w_vq] <= 1'b0;
    end
    if (w_rearm) begin
        q_pending[w_vq] <= 1'b1;
    end
    if (w_seen) begin
        q_seen[w_vq] <= w_seen_idx;
        q_seen_ok[w_vq] <= 1'b1;
    end
    if (w_ift_set) begin
        ift[ift_word(w_vq, w_head)][w_head[5:0]] <= 1'b1;
    end
    if (w_ift_clr) begin
        ift[ift_word(w_vq, w_head)][w_head[5:0]] <= 1'b0;
    end

    // ===================================================================================
    // Move stage event
    // ===================================================================================
    if (m_ift_clr) begin
        ift[ift_word(m_vq, m_head)][m_head[5:0]] <= 1'b0;
    end

    // ===================================================================================
    // Completion stage events: used.idx is written (last_avail moves past the chains it
    // completes); a head is free again (its element written, or with the commit)
    // ===================================================================================
    if (c_commit) begin
        q_used[c_vq] <= c_new_used;
        q_avail[c_vq] <= q_avail[c_vq] + 16'(c_chains);
    end
    if ((c_commit && c_commit_free) || c_free) begin
        ift[ift_word(c_vq, c_head)][c_head[5:0]] <= 1'b0;
    end

    // ===================================================================================
    // Fault: the VQ stops in ERR (others continue), NEEDS_RESET, the record reported
    // ===================================================================================
    if (f_valid) begin
        q_state[f_vq] <= VQS_ERR;
        q_errno[f_vq] <= f_errno;
        q_pending[f_vq] <= 1'b0;
        q_seen_ok[f_vq] <= 1'b0;
        needs_reset_reg <= raise_needs_reset;
        fault_valid_reg <= 1'b1;
        fault_data_reg <= f_record;
    end

    // frames dropped this cycle; a device reset clears the count instead
    rx_drops_reg <= drops_clear ? '0 : rx_drops_reg + 32'(rx_dropped);

    if (rst) begin
        v_state_reg <= V_IDLE;
        v_done_reg <= 1'b0;
        needs_reset_reg <= 1'b0;
        rx_drops_reg <= '0;
        fault_valid_reg <= 1'b0;
        fault_data_reg <= '0;
        for (int q = 0; q < NVQ; q++) begin
            q_state[q] <= VQS_NONE;
            q_pending[q] <= 1'b0;
            q_seen_ok[q] <= 1'b0;
        end
    end
end

endmodule

`resetall
