// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Command processor: takes commands in order from the command FIFO into SLOTS execution slots,
 * as mlx5 firmware runs up to its command throttle of asynchronous commands at once
 * (mlx5_core cmd.c; calibration C10). A slot first waits the firmware latency of its command's
 * class (FW_LAT_*, default 0), then hands the hardware part to its execution unit (device,
 * IOTLB or VQ) and holds the completion until it is queued.
 *
 * Ordering (vdpa_regs_pkg::order_of, from the register map): the head of the FIFO is dispatched
 * only when a slot is free and no occupied slot holds a command it is ordered with: commands of
 * one unit on the same object (VQ or ASID) run in order, "unit" commands are ordered with every
 * command of their unit, MAPs into one table under construction may overlap each other, RESET
 * is a barrier. Dispatch is in order, so a command that must wait holds those behind it.
 * Independent commands overlap: their firmware latencies run at once and their hardware parts
 * queue for their unit, oldest first (one command at a time per unit).
 *
 * Every completion carries the cycles from dispatch to completion, firmware latency included.
 */
module vdpa_cmd_proc
    import vdpa_regs_pkg::*;
    import vdpa_mutants_pkg::*;
#(
    // Command argument words
    parameter int NARGS = 12,
    // Execution slots: commands in flight at once (1..64)
    parameter int SLOTS = 8,
    // Firmware latency per command class, in cycles (see the register map's fw_class table)
    parameter int FW_LAT_VQ_CREATE = 0,
    parameter int FW_LAT_VQ_DESTROY = 0,
    parameter int FW_LAT_VQ_MODIFY = 0,
    parameter int FW_LAT_MAP = 0,
    parameter int FW_LAT_UNMAP = 0,
    parameter int FW_LAT_RESET = 0,
    parameter int FW_LAT_OTHER = 0,
    // Deliberate bug to build in (vdpa_mutants_pkg, docs/mutation.md); MUT_NONE: none
    parameter int MUTANT = MUT_NONE
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Command FIFO head: {args, tag, opcode} */
    input  wire logic                 cmd_valid,
    output wire logic                 cmd_ready,
    input  wire logic [NARGS*32+15:0] cmd_data,

    /* Completion FIFO input: {data[127:0], cycles[31:0], status, opcode, tag} */
    output wire logic                 cpl_valid,
    input  wire logic                 cpl_ready,
    output wire logic [183:0]         cpl_data,

    /* IOTLB unit: cmd_valid pulses once per command; op and args hold until its done pulse */
    output wire logic                 iotlb_cmd_valid,
    output wire logic [7:0]           iotlb_cmd_op,
    output wire logic [NARGS*32-1:0]  iotlb_cmd_args,
    input  wire logic                 iotlb_done_valid,
    input  wire logic [7:0]           iotlb_done_status,
    input  wire logic [127:0]         iotlb_done_data,

    /* VQ unit */
    output wire logic                 vq_cmd_valid,
    output wire logic [7:0]           vq_cmd_op,
    output wire logic [NARGS*32-1:0]  vq_cmd_args,
    input  wire logic                 vq_done_valid,
    input  wire logic [7:0]           vq_done_status,
    input  wire logic [127:0]         vq_done_data,

    /* Device state */
    input  wire logic                 needs_reset,
    output wire logic [7:0]           dev_status,
    output wire logic [63:0]          drv_features
);

localparam int SW = SLOTS > 1 ? $clog2(SLOTS) : 1;

initial begin
    if (SLOTS < 1 || SLOTS > 64) begin
        $error("Error: SLOTS must be 1..64 (instance %m)");
        $finish;
    end
end

function automatic logic [31:0] fw_latency(input logic [2:0] c);
    case (c)
        FWC_VQ_CREATE: return 32'(FW_LAT_VQ_CREATE);
        FWC_VQ_DESTROY: return 32'(FW_LAT_VQ_DESTROY);
        FWC_VQ_MODIFY: return 32'(FW_LAT_VQ_MODIFY);
        FWC_MAP: return 32'(FW_LAT_MAP);
        FWC_UNMAP: return 32'(FW_LAT_UNMAP);
        FWC_RESET: return 32'(FW_LAT_RESET);
        default: return 32'(FW_LAT_OTHER);
    endcase
endfunction

// a is older than b (dispatch numbers are 32-bit: exact for 2^31 dispatches in one lifetime)
function automatic logic older(input logic [31:0] a, input logic [31:0] b);
    return $signed(a - b) < 0;
endfunction

// the FIFO head and its ordering key
wire logic [7:0] h_op = cmd_data[7:0];
wire logic [7:0] h_tag = cmd_data[15:8];
wire logic [NARGS*32-1:0] h_args = cmd_data[NARGS*32+15:16];
wire logic [1:0] h_unit = unit_of(h_op);
wire logic [2:0] h_order = order_of(h_op);
wire logic [7:0] h_obj = h_args[7:0];
// MAPs into a table under construction (TABLE != 0) may overlap each other
wire logic h_shared = h_order == ORD_BUILD && h_args[ARG_MAP_TABLE*32 +: 32] != 0;

// per-slot state (packed arrays: Icarus reads unpacked arrays in continuous assignments
// unreliably)
logic [SLOTS-1:0]              sl_busy;
logic [SLOTS-1:0]              sl_started;
logic [SLOTS-1:0]              sl_done;
logic [SLOTS-1:0][31:0]        sl_lat;
logic [SLOTS-1:0][31:0]        sl_cycles;
logic [SLOTS-1:0][31:0]        sl_seq;
logic [SLOTS-1:0][7:0]         sl_op;
logic [SLOTS-1:0][7:0]         sl_tag;
logic [SLOTS-1:0][NARGS*32-1:0] sl_args;
logic [SLOTS-1:0][1:0]         sl_unit;
logic [SLOTS-1:0][2:0]         sl_order;
logic [SLOTS-1:0][7:0]         sl_obj;
logic [SLOTS-1:0]              sl_shared;
logic [SLOTS-1:0][7:0]         sl_status;
logic [SLOTS-1:0][127:0]       sl_data;
logic [31:0]                   seq_reg;

// execution units: the slot each one serves, and the command it holds
logic               iotlb_busy_reg, vq_busy_reg;
logic [SW-1:0]      iotlb_slot_reg, vq_slot_reg;
logic               iotlb_go_reg, vq_go_reg;
logic [7:0]         iotlb_op_reg, vq_op_reg;
logic [NARGS*32-1:0] iotlb_args_reg, vq_args_reg;
logic               reset_iotlb_done_reg, reset_vq_done_reg;
logic [7:0]         status_reg;
logic [63:0]        features_reg;

assign iotlb_cmd_valid = iotlb_go_reg;
assign iotlb_cmd_op = iotlb_op_reg;
assign iotlb_cmd_args = iotlb_args_reg;
assign vq_cmd_valid = vq_go_reg;
assign vq_cmd_op = vq_op_reg;
assign vq_cmd_args = vq_args_reg;
assign dev_status = status_reg | (needs_reset ? 8'h40 : 8'h00);
assign drv_features = features_reg;

// dispatch: a free slot, no barrier in flight, no occupied slot the head is ordered with
logic          free_found;
logic [SW-1:0] free_slot;
logic          barrier_busy;
logic          head_blocked;
logic          conflict;
always_comb begin
    free_found = 1'b0;
    free_slot = '0;
    barrier_busy = 1'b0;
    head_blocked = 1'b0;
    for (int s = SLOTS-1; s >= 0; s--) begin
        if (!sl_busy[s]) begin
            free_found = 1'b1;
            free_slot = SW'(s);
        end
    end
    for (int s = 0; s < SLOTS; s++) begin
        conflict = sl_busy[s] && sl_order[s] != ORD_NONE && h_order != ORD_NONE &&
                   sl_unit[s] == h_unit &&
                   (sl_order[s] == ORD_UNIT || h_order == ORD_UNIT ||
                    (sl_obj[s] == h_obj && !(sl_shared[s] && h_shared)));
        if (sl_busy[s] && sl_order[s] == ORD_BARRIER) begin
            barrier_busy = 1'b1;
        end
        // mutant MUT_RESET_NOT_BARRIER: a RESET is dispatched beside the commands in flight
        if (conflict || (sl_busy[s] && h_order == ORD_BARRIER && MUTANT != MUT_RESET_NOT_BARRIER)) begin
            head_blocked = 1'b1;
        end
    end
end
wire logic can_dispatch = cmd_valid && free_found && !barrier_busy && !head_blocked;
assign cmd_ready = can_dispatch;

// unit arbitration: the oldest slot whose firmware latency has elapsed
logic          iotlb_found, vq_found, barrier_ready;
logic [SW-1:0] iotlb_pick, vq_pick, barrier_slot;
logic          waiting;
always_comb begin
    iotlb_found = 1'b0;
    vq_found = 1'b0;
    barrier_ready = 1'b0;
    iotlb_pick = '0;
    vq_pick = '0;
    barrier_slot = '0;
    for (int s = 0; s < SLOTS; s++) begin
        waiting = sl_busy[s] && !sl_started[s] && sl_lat[s] == 0;
        if (waiting && sl_order[s] == ORD_BARRIER) begin
            barrier_ready = 1'b1;
            barrier_slot = SW'(s);
        end else if (waiting && sl_unit[s] == UNIT_IOTLB &&
                     (!iotlb_found || older(sl_seq[s], sl_seq[iotlb_pick]))) begin
            iotlb_found = 1'b1;
            iotlb_pick = SW'(s);
        end else if (waiting && sl_unit[s] == UNIT_VQ &&
                     (!vq_found || older(sl_seq[s], sl_seq[vq_pick]))) begin
            vq_found = 1'b1;
            vq_pick = SW'(s);
        end
    end
end
wire logic grant_iotlb = iotlb_found && !iotlb_busy_reg;

// the device-state command (SET_FEATURES, SET_STATUS, QUERY_DEV) whose latency has elapsed
logic          dev_found;
logic [SW-1:0] dev_slot;
always_comb begin
    dev_found = 1'b0;
    dev_slot = '0;
    for (int s = 0; s < SLOTS; s++) begin
        if (sl_busy[s] && !sl_started[s] && sl_lat[s] == 0 && sl_unit[s] == UNIT_DEV &&
                sl_order[s] == ORD_UNIT) begin
            dev_found = 1'b1;
            dev_slot = SW'(s);
        end
    end
end
// a device-state command takes at most two argument words
/* verilator lint_off UNUSEDSIGNAL */
wire logic [NARGS*32-1:0] dev_args = sl_args[dev_slot];
/* verilator lint_on UNUSEDSIGNAL */
wire logic grant_vq = vq_found && !vq_busy_reg;
// a barrier is the only occupied slot, so both units are idle when it starts
wire logic grant_barrier = barrier_ready && !iotlb_busy_reg && !vq_busy_reg;

// completion arbiter: the oldest finished slot
logic          cpl_found;
logic [SW-1:0] cpl_slot;
always_comb begin
    cpl_found = 1'b0;
    cpl_slot = '0;
    for (int s = 0; s < SLOTS; s++) begin
        if (sl_busy[s] && sl_done[s] && (!cpl_found || older(sl_seq[s], sl_seq[cpl_slot]))) begin
            cpl_found = 1'b1;
            cpl_slot = SW'(s);
        end
    end
end
assign cpl_valid = cpl_found;
assign cpl_data = {sl_data[cpl_slot], sl_cycles[cpl_slot], sl_status[cpl_slot], sl_op[cpl_slot],
                   sl_tag[cpl_slot]};

always_ff @(posedge clk) begin
    iotlb_go_reg <= 1'b0;
    vq_go_reg <= 1'b0;

    for (int s = 0; s < SLOTS; s++) begin
        if (sl_busy[s] && !sl_done[s]) begin
            sl_cycles[s] <= sl_cycles[s] + 1;
        end
        if (sl_busy[s] && !sl_started[s] && sl_lat[s] != 0) begin
            sl_lat[s] <= sl_lat[s] - 1;
        end
        // device-unit commands need no execution unit: they complete in their slot
        if (sl_busy[s] && !sl_started[s] && sl_lat[s] == 0 && sl_unit[s] == UNIT_DEV) begin
            sl_started[s] <= 1'b1;
            sl_done[s] <= 1'b1;
            sl_data[s] <= '0;
            case (sl_op[s])
                OP_NOP, OP_SET_FEATURES, OP_SET_STATUS, OP_QUERY_DEV: sl_status[s] <= ST_OK;
                default: sl_status[s] <= ST_BAD_OPCODE;
            endcase
        end
    end
    // the one device-state command in flight (they are ordered with each other) acts here
    if (dev_found) begin
        case (sl_op[dev_slot])
            OP_SET_FEATURES: features_reg <= dev_args[63:0];
            OP_SET_STATUS: status_reg <= dev_args[7:0];
            OP_QUERY_DEV: sl_data[dev_slot] <= {32'd0, features_reg[63:32], features_reg[31:0],
                                                24'd0, dev_status};
            default: begin end
        endcase
    end

    if (grant_iotlb) begin
        sl_started[iotlb_pick] <= 1'b1;
        iotlb_busy_reg <= 1'b1;
        iotlb_slot_reg <= iotlb_pick;
        iotlb_op_reg <= sl_op[iotlb_pick];
        iotlb_args_reg <= sl_args[iotlb_pick];
        iotlb_go_reg <= 1'b1;
    end
    if (grant_vq) begin
        sl_started[vq_pick] <= 1'b1;
        vq_busy_reg <= 1'b1;
        vq_slot_reg <= vq_pick;
        vq_op_reg <= sl_op[vq_pick];
        vq_args_reg <= sl_args[vq_pick];
        vq_go_reg <= 1'b1;
    end
    if (grant_barrier) begin
        // RESET runs on both units together
        sl_started[barrier_slot] <= 1'b1;
        iotlb_busy_reg <= 1'b1;
        vq_busy_reg <= 1'b1;
        iotlb_slot_reg <= barrier_slot;
        vq_slot_reg <= barrier_slot;
        iotlb_op_reg <= sl_op[barrier_slot];
        iotlb_args_reg <= sl_args[barrier_slot];
        vq_op_reg <= sl_op[barrier_slot];
        vq_args_reg <= sl_args[barrier_slot];
        iotlb_go_reg <= 1'b1;
        vq_go_reg <= 1'b1;
        reset_iotlb_done_reg <= 1'b0;
        reset_vq_done_reg <= 1'b0;
    end

    if (iotlb_done_valid) begin
        iotlb_busy_reg <= 1'b0;
        if (iotlb_op_reg == OP_RESET) begin
            reset_iotlb_done_reg <= 1'b1;
        end else begin
            sl_done[iotlb_slot_reg] <= 1'b1;
            sl_status[iotlb_slot_reg] <= iotlb_done_status;
            sl_data[iotlb_slot_reg] <= iotlb_done_data;
        end
    end
    if (vq_done_valid) begin
        vq_busy_reg <= 1'b0;
        if (vq_op_reg == OP_RESET) begin
            reset_vq_done_reg <= 1'b1;
        end else begin
            sl_done[vq_slot_reg] <= 1'b1;
            sl_status[vq_slot_reg] <= vq_done_status;
            sl_data[vq_slot_reg] <= vq_done_data;
        end
    end
    if (reset_iotlb_done_reg && reset_vq_done_reg) begin
        // virtio 1.2 §2.4: the device reads status 0 once reset is complete
        reset_iotlb_done_reg <= 1'b0;
        reset_vq_done_reg <= 1'b0;
        status_reg <= '0;
        features_reg <= '0;
        sl_done[vq_slot_reg] <= 1'b1;
        sl_status[vq_slot_reg] <= ST_OK;
        sl_data[vq_slot_reg] <= '0;
    end

    if (cpl_found && cpl_ready) begin
        sl_busy[cpl_slot] <= 1'b0;
        sl_done[cpl_slot] <= 1'b0;
    end

    if (can_dispatch) begin
        sl_busy[free_slot] <= 1'b1;
        sl_started[free_slot] <= 1'b0;
        sl_done[free_slot] <= 1'b0;
        sl_lat[free_slot] <= fw_latency(fw_class_of(h_op));
        sl_cycles[free_slot] <= 32'd1;
        sl_seq[free_slot] <= seq_reg;
        sl_op[free_slot] <= h_op;
        sl_tag[free_slot] <= h_tag;
        sl_args[free_slot] <= h_args;
        sl_unit[free_slot] <= h_unit;
        sl_order[free_slot] <= h_order;
        sl_obj[free_slot] <= h_obj;
        sl_shared[free_slot] <= h_shared;
        seq_reg <= seq_reg + 1;
    end

    if (rst) begin
        sl_busy <= '0;
        sl_done <= '0;
        sl_started <= '0;
        seq_reg <= '0;
        iotlb_busy_reg <= 1'b0;
        vq_busy_reg <= 1'b0;
        iotlb_go_reg <= 1'b0;
        vq_go_reg <= 1'b0;
        iotlb_op_reg <= OP_NOP;
        vq_op_reg <= OP_NOP;
        status_reg <= '0;
        features_reg <= '0;
        reset_iotlb_done_reg <= 1'b0;
        reset_vq_done_reg <= 1'b0;
    end
end

endmodule

`resetall
