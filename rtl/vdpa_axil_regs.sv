// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * AXI-Lite register file (the BAR): identification and capabilities, the command mailbox
 * (argument words, submit, completion and fault FIFO heads), doorbells and notification
 * counters. Reads have no side effects; FIFO heads are dropped by writes to the *_POP
 * registers so a repeated read is harmless.
 */
module vdpa_axil_regs
    import vdpa_regs_pkg::*;
#(
    // AXI-Lite address width
    parameter int AXIL_ADDR_W = 16,
    // Number of hardware VQs
    parameter int NVQ = 8,
    // Capability values reported to the parent driver
    parameter int NGROUPS = 3,
    parameter int NAS = 2,
    parameter int PAGE_SHIFT = 12,
    parameter int MAX_QSIZE = 256,
    parameter int IOTLB_ENTRIES = 16,
    parameter int MTT_DEPTH = 4096,
    // ASIDs in identity mode by default (reported to the parent driver)
    parameter logic [255:0] IDENTITY_MASK = 256'd1,
    // virtio device features offered
    parameter logic [63:0] DEV_FEATURES = 64'h0,
    // Command execution slots, MTT write ports and translation tables (CAPS4)
    parameter int CMD_SLOTS = 8,
    parameter int MTT_WRITERS = 4,
    parameter int IOTLB_TABLES = 8,
    // Command argument words
    parameter int NARGS = 12,
    // Command FIFO depth (commands that may be outstanding)
    parameter int CMD_DEPTH = 8,
    // Completion FIFO depth
    parameter int CPL_DEPTH = 16,
    // Fault FIFO depth
    parameter int FAULT_DEPTH = 16
) (
    input  wire logic                    clk,
    input  wire logic                    rst,

    /* AXI-Lite slave */
    input  wire logic [AXIL_ADDR_W-1:0]  s_axil_awaddr,
    input  wire logic [2:0]              s_axil_awprot,
    input  wire logic                    s_axil_awvalid,
    output wire logic                    s_axil_awready,
    input  wire logic [31:0]             s_axil_wdata,
    input  wire logic [3:0]              s_axil_wstrb,
    input  wire logic                    s_axil_wvalid,
    output wire logic                    s_axil_wready,
    output wire logic [1:0]              s_axil_bresp,
    output wire logic                    s_axil_bvalid,
    input  wire logic                    s_axil_bready,
    input  wire logic [AXIL_ADDR_W-1:0]  s_axil_araddr,
    input  wire logic [2:0]              s_axil_arprot,
    input  wire logic                    s_axil_arvalid,
    output wire logic                    s_axil_arready,
    output wire logic [31:0]             s_axil_rdata,
    output wire logic [1:0]              s_axil_rresp,
    output wire logic                    s_axil_rvalid,
    input  wire logic                    s_axil_rready,

    /* Commands to the command processor */
    output wire logic                    cmd_valid,
    input  wire logic                    cmd_ready,
    output wire logic [NARGS*32+15:0]    cmd_data,

    /* Completions from the command processor */
    input  wire logic                    cpl_in_valid,
    output wire logic                    cpl_in_ready,
    input  wire logic [183:0]            cpl_in_data,

    /* Faults from the VQ engine */
    input  wire logic                    fault_in_valid,
    input  wire logic [127:0]            fault_in_data,

    /* Device state */
    input  wire logic [7:0]              dev_status,
    input  wire logic [31:0]             rx_drops,
    input  wire logic                    dp_idle,

    /* Doorbells */
    output wire logic                    db_valid,
    output wire logic [15:0]             db_vq,

    /* Notifications (counted per VQ) */
    input  wire logic                    irq_in_valid,
    input  wire logic [7:0]              irq_in_vq,

    /* Levels: a completion / a fault is waiting */
    output wire logic                    cpl_pending,
    output wire logic                    fault_pending
);

localparam int CMDW = NARGS*32+16;

logic [31:0] args_reg[NARGS];
logic [31:0] ncount[NVQ];
logic        overflow_reg;

// FIFOs
logic              sub_valid;
logic [CMDW-1:0]   sub_data;
wire logic         sub_ready;
wire logic [$clog2(CMD_DEPTH):0] cmd_count;
vdpa_fifo #(.WIDTH(CMDW), .DEPTH(CMD_DEPTH)) cmd_fifo (
    .clk(clk), .rst(rst),
    .in_valid(sub_valid), .in_ready(sub_ready), .in_data(sub_data),
    .out_valid(cmd_valid), .out_ready(cmd_ready), .out_data(cmd_data),
    .count(cmd_count)
);

logic              cpl_pop;
wire logic         cpl_head_valid;
wire logic [183:0] cpl_head;
wire logic [$clog2(CPL_DEPTH):0] cpl_count;
vdpa_fifo #(.WIDTH(184), .DEPTH(CPL_DEPTH)) cpl_fifo (
    .clk(clk), .rst(rst),
    .in_valid(cpl_in_valid), .in_ready(cpl_in_ready), .in_data(cpl_in_data),
    .out_valid(cpl_head_valid), .out_ready(cpl_pop), .out_data(cpl_head),
    .count(cpl_count)
);

logic              fault_pop;
wire logic         fault_head_valid;
wire logic [127:0] fault_head;
wire logic [$clog2(FAULT_DEPTH):0] fault_count;
// a fault arriving while the FIFO is full is lost; the VQ still shows ERR and its errno
/* verilator lint_off PINCONNECTEMPTY */
vdpa_fifo #(.WIDTH(128), .DEPTH(FAULT_DEPTH)) fault_fifo (
    .clk(clk), .rst(rst),
    .in_valid(fault_in_valid), .in_ready(), .in_data(fault_in_data),
    .out_valid(fault_head_valid), .out_ready(fault_pop), .out_data(fault_head),
    .count(fault_count)
);
/* verilator lint_on PINCONNECTEMPTY */

assign cpl_pending = cpl_head_valid;
assign fault_pending = fault_head_valid;

// ---------------------------------------------------------------------------------------
// AXI-Lite
// ---------------------------------------------------------------------------------------
logic        awready_reg, bvalid_reg, arready_reg, rvalid_reg;
logic [31:0] rdata_reg;
logic        db_valid_reg;
logic [15:0] db_vq_reg;

assign s_axil_awready = awready_reg;
assign s_axil_wready = awready_reg;
assign s_axil_bresp = 2'b00;
assign s_axil_bvalid = bvalid_reg;
assign s_axil_arready = arready_reg;
assign s_axil_rdata = rdata_reg;
assign s_axil_rresp = 2'b00;
assign s_axil_rvalid = rvalid_reg;
assign db_valid = db_valid_reg;
assign db_vq = db_vq_reg;

// protection bits and byte strobes are not used: every register is written whole
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused_axil = ^{s_axil_awprot, s_axil_arprot, s_axil_wstrb, fault_head[63:26], fault_count,
                           IDENTITY_MASK[255:16]};
/* verilator lint_on UNUSEDSIGNAL */

wire logic [15:0] waddr = 16'(s_axil_awaddr);
wire logic [15:0] raddr = 16'(s_axil_araddr);

function automatic logic [31:0] read_reg(input logic [15:0] a);
    logic [31:0] v;
    v = 32'd0;
    if (a >= REG_CMD_ARG0 && a < REG_CMD_ARG0 + 16'(NARGS*4)) begin
        v = args_reg[$clog2(NARGS)'((a - REG_CMD_ARG0) >> 2)];
    end else if (a >= REG_NOTIFY_COUNT && a < REG_NOTIFY_COUNT + 16'(NVQ*4)) begin
        v = ncount[$clog2(NVQ)'((a - REG_NOTIFY_COUNT) >> 2)];
    end else if (a >= REG_CPL_DATA0 && a < REG_CPL_DATA0 + 16'd16) begin
        v = cpl_head_valid ? cpl_head[56 + 32*((a - REG_CPL_DATA0) >> 2) +: 32] : 32'd0;
    end else begin
        case (a)
            REG_ID: v = VDPA_ID;
            REG_VERSION: v = VDPA_VERSION;
            REG_CAPS0: v = {8'(PAGE_SHIFT), 8'(NAS), 8'(NGROUPS), 8'(NVQ)};
            REG_CAPS1: v = 32'(MAX_QSIZE);
            REG_CAPS2: v = {IDENTITY_MASK[15:0], 16'(IOTLB_ENTRIES)};
            REG_CAPS3: v = 32'(MTT_DEPTH);
            REG_CAPS4: v = {8'd0, 8'(IOTLB_TABLES), 8'(MTT_WRITERS), 8'(CMD_SLOTS)};
            REG_DEV_FEATURES_LO: v = DEV_FEATURES[31:0];
            REG_DEV_FEATURES_HI: v = DEV_FEATURES[63:32];
            REG_DEV_STATUS: v = {24'd0, dev_status};
            REG_RX_DROPS: v = rx_drops;
            REG_CMD_STATUS: v = {13'd0, dp_idle, fault_head_valid, overflow_reg,
                                 8'(cpl_count), 8'(32'(CMD_DEPTH) - 32'(cmd_count))};
            REG_CPL_HEAD: v = cpl_head_valid ? {1'b1, 7'd0, cpl_head[23:0]} : 32'd0;
            REG_CPL_CYCLES: v = cpl_head_valid ? cpl_head[55:24] : 32'd0;
            REG_FAULT_HEAD: v = fault_head_valid ? {1'b1, 5'd0, fault_head[25:0]} : 32'd0;
            REG_FAULT_IOVA_LO: v = fault_head_valid ? fault_head[95:64] : 32'd0;
            REG_FAULT_IOVA_HI: v = fault_head_valid ? fault_head[127:96] : 32'd0;
            default: v = 32'd0;
        endcase
    end
    return v;
endfunction

always_ff @(posedge clk) begin
    awready_reg <= 1'b0;
    arready_reg <= 1'b0;
    sub_valid <= 1'b0;
    cpl_pop <= 1'b0;
    fault_pop <= 1'b0;
    db_valid_reg <= 1'b0;

    if (s_axil_awvalid && s_axil_wvalid && !awready_reg && !bvalid_reg) begin
        awready_reg <= 1'b1;
        if (waddr >= REG_CMD_ARG0 && waddr < REG_CMD_ARG0 + 16'(NARGS*4)) begin
            args_reg[$clog2(NARGS)'((waddr - REG_CMD_ARG0) >> 2)] <= s_axil_wdata;
        end
        case (waddr)
            REG_CMD_SUBMIT: begin
                if (sub_ready) begin
                    sub_valid <= 1'b1;
                    for (int n = 0; n < NARGS; n++) begin
                        sub_data[16 + 32*n +: 32] <= args_reg[n];
                    end
                    sub_data[15:0] <= s_axil_wdata[15:0];
                end else begin
                    overflow_reg <= 1'b1;
                end
            end
            REG_CPL_POP: cpl_pop <= cpl_head_valid;
            REG_FAULT_POP: fault_pop <= fault_head_valid;
            REG_DOORBELL: begin
                db_valid_reg <= 1'b1;
                db_vq_reg <= s_axil_wdata[15:0];
            end
            default: begin end
        endcase
    end
    if (awready_reg) begin
        bvalid_reg <= 1'b1;
    end
    if (bvalid_reg && s_axil_bready) begin
        bvalid_reg <= 1'b0;
    end

    if (s_axil_arvalid && !arready_reg && !rvalid_reg) begin
        arready_reg <= 1'b1;
        rdata_reg <= read_reg(raddr);
    end
    if (arready_reg) begin
        rvalid_reg <= 1'b1;
    end
    if (rvalid_reg && s_axil_rready) begin
        rvalid_reg <= 1'b0;
    end

    if (irq_in_valid && 32'(irq_in_vq) < NVQ) begin
        ncount[irq_in_vq[$clog2(NVQ)-1:0]] <= ncount[irq_in_vq[$clog2(NVQ)-1:0]] + 1;
    end

    if (rst) begin
        awready_reg <= 1'b0;
        bvalid_reg <= 1'b0;
        arready_reg <= 1'b0;
        rvalid_reg <= 1'b0;
        sub_valid <= 1'b0;
        overflow_reg <= 1'b0;
        for (int q = 0; q < NVQ; q++) begin
            ncount[q] <= '0;
        end
        for (int n = 0; n < NARGS; n++) begin
            args_reg[n] <= '0;
        end
    end
end

endmodule

`resetall
