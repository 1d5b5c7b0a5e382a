// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Command processor: takes commands in order from the command FIFO and hands each to its
 * execution unit (device, IOTLB or VQ). Units run in parallel, so an IOTLB MAP overlaps a VQ
 * MODIFY; a unit takes its next command only after its previous completion is queued. RESET
 * is a barrier that runs alone, on the IOTLB and VQ units together.
 *
 * Every completion carries the cycles from dispatch to completion, including the firmware
 * latency FW_LATENCY_CYCLES that a vendor sets to model its own command firmware (default 0).
 */
module vdpa_cmd_proc
    import vdpa_regs_pkg::*;
#(
    // Command argument words
    parameter int NARGS = 12,
    // Firmware latency added before each command starts executing, in cycles
    parameter int FW_LATENCY_CYCLES = 0
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

    /* IOTLB unit */
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

localparam int U_DEV = 0;
localparam int U_IOTLB = 1;
localparam int U_VQ = 2;
localparam int NU = 3;

wire logic [7:0] h_op = cmd_data[7:0];
wire logic [7:0] h_tag = cmd_data[15:8];
wire logic [NARGS*32-1:0] h_args = cmd_data[NARGS*32+15:16];

function automatic int unit_of(input logic [7:0] op);
    case (op)
        OP_MAP, OP_UNMAP, OP_RESET_MAP, OP_SET_GROUP_ASID, OP_QUERY_GROUP: return U_IOTLB;
        OP_CREATE_VQ, OP_MODIFY_VQ, OP_QUERY_VQ, OP_DESTROY_VQ, OP_SUSPEND_ALL, OP_RESUME_ALL,
        OP_RESET: return U_VQ;
        default: return U_DEV;
    endcase
endfunction

// per-unit slot: busy from dispatch until its completion is queued
logic [NU-1:0]      u_busy;
logic [NU-1:0]      u_started;
logic [NU-1:0]      u_done;
// packed per-unit arrays: Icarus reads unpacked arrays in continuous assignments unreliably
logic [NU-1:0][31:0]       u_lat;
logic [NU-1:0][31:0]       u_cycles;
logic [NU-1:0][7:0]        u_op;
logic [NU-1:0][7:0]        u_tag;
logic [NU-1:0][NARGS*32-1:0] u_args;
logic [NU-1:0][7:0]        u_status;
logic [NU-1:0][127:0]      u_data;
logic               reset_iotlb_done_reg, reset_vq_done_reg;
logic               iotlb_go_reg, vq_go_reg;
logic [7:0]         status_reg;
logic [63:0]        features_reg;

assign iotlb_cmd_valid = iotlb_go_reg;
assign iotlb_cmd_op = u_op[U_VQ] == OP_RESET && u_busy[U_VQ] ? OP_RESET : u_op[U_IOTLB];
assign iotlb_cmd_args = u_op[U_VQ] == OP_RESET && u_busy[U_VQ] ? u_args[U_VQ] : u_args[U_IOTLB];
assign vq_cmd_valid = vq_go_reg;
assign vq_cmd_op = u_op[U_VQ];
assign vq_cmd_args = u_args[U_VQ];
assign dev_status = status_reg | (needs_reset ? 8'h40 : 8'h00);
assign drv_features = features_reg;

wire logic all_idle = u_busy == '0;
wire logic vq_is_reset = u_busy[U_VQ] && u_op[U_VQ] == OP_RESET;
wire logic [1:0] h_unit = 2'(unit_of(h_op));
wire logic can_dispatch = cmd_valid && (h_op == OP_RESET ? all_idle : !u_busy[h_unit]) &&
                          !vq_is_reset;
assign cmd_ready = can_dispatch;

// completion arbiter: lowest unit first
logic cpl_found;
logic [1:0] cpl_u;
always_comb begin
    cpl_found = 1'b0;
    cpl_u = '0;
    for (int u = NU-1; u >= 0; u--) begin
        if (u_busy[u] && u_done[u]) begin
            cpl_found = 1'b1;
            cpl_u = 2'(u);
        end
    end
end
assign cpl_valid = cpl_found;
assign cpl_data = {u_data[cpl_u], u_cycles[cpl_u], u_status[cpl_u], u_op[cpl_u], u_tag[cpl_u]};

always_ff @(posedge clk) begin
    iotlb_go_reg <= 1'b0;
    vq_go_reg <= 1'b0;

    for (int u = 0; u < NU; u++) begin
        if (u_busy[u] && !u_done[u]) begin
            u_cycles[u] <= u_cycles[u] + 1;
        end
    end

    // start units once their firmware latency has elapsed
    for (int u = 0; u < NU; u++) begin
        if (u_busy[u] && !u_started[u]) begin
            if (u_lat[u] != 0) begin
                u_lat[u] <= u_lat[u] - 1;
            end else begin
                u_started[u] <= 1'b1;
                if (u == U_DEV) begin
                    // the device unit answers at once
                    u_done[u] <= 1'b1;
                    u_status[u] <= ST_OK;
                    u_data[u] <= '0;
                    case (u_op[U_DEV])
                        OP_NOP: begin end
                        OP_SET_FEATURES: features_reg <= {u_args[U_DEV][63:32], u_args[U_DEV][31:0]};
                        OP_SET_STATUS: status_reg <= u_args[U_DEV][7:0];
                        OP_QUERY_DEV: u_data[u] <= {32'd0, features_reg[63:32], features_reg[31:0], 24'd0, dev_status};
                        default: u_status[u] <= ST_BAD_OPCODE;
                    endcase
                end else if (u == U_IOTLB) begin
                    iotlb_go_reg <= 1'b1;
                end else begin
                    vq_go_reg <= 1'b1;
                    if (u_op[u] == OP_RESET) begin
                        iotlb_go_reg <= 1'b1;
                    end
                end
            end
        end
    end

    if (iotlb_done_valid) begin
        if (u_busy[U_VQ] && u_op[U_VQ] == OP_RESET) begin
            reset_iotlb_done_reg <= 1'b1;
        end else begin
            u_done[U_IOTLB] <= 1'b1;
            u_status[U_IOTLB] <= iotlb_done_status;
            u_data[U_IOTLB] <= iotlb_done_data;
        end
    end
    if (vq_done_valid) begin
        if (u_op[U_VQ] == OP_RESET) begin
            reset_vq_done_reg <= 1'b1;
        end else begin
            u_done[U_VQ] <= 1'b1;
            u_status[U_VQ] <= vq_done_status;
            u_data[U_VQ] <= vq_done_data;
        end
    end
    if (u_busy[U_VQ] && u_op[U_VQ] == OP_RESET && !u_done[U_VQ] &&
            reset_iotlb_done_reg && reset_vq_done_reg) begin
        // virtio 1.2 §2.4: the device reads status 0 once reset is complete
        status_reg <= '0;
        features_reg <= '0;
        u_done[U_VQ] <= 1'b1;
        u_status[U_VQ] <= ST_OK;
        u_data[U_VQ] <= '0;
    end

    if (cpl_found && cpl_ready) begin
        u_busy[cpl_u] <= 1'b0;
        u_done[cpl_u] <= 1'b0;
    end

    if (can_dispatch) begin
        u_busy[h_unit] <= 1'b1;
        u_started[h_unit] <= 1'b0;
        u_done[h_unit] <= 1'b0;
        u_lat[h_unit] <= FW_LATENCY_CYCLES;
        u_cycles[h_unit] <= 32'd1;
        u_op[h_unit] <= h_op;
        u_tag[h_unit] <= h_tag;
        u_args[h_unit] <= h_args;
        reset_iotlb_done_reg <= 1'b0;
        reset_vq_done_reg <= 1'b0;
    end

    if (rst) begin
        for (int u = 0; u < NU; u++) begin
            u_busy[u] <= 1'b0;
            u_done[u] <= 1'b0;
            u_started[u] <= 1'b0;
            u_op[u] <= OP_NOP;
        end
        iotlb_go_reg <= 1'b0;
        vq_go_reg <= 1'b0;
        status_reg <= '0;
        features_reg <= '0;
        reset_iotlb_done_reg <= 1'b0;
        reset_vq_done_reg <= 1'b0;
    end
end

endmodule

`resetall
