// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/* Synchronous FIFO (first-word fall-through) for commands, completions and faults */
module vdpa_fifo #(
    // Width of one entry
    parameter int WIDTH = 32,
    // Number of entries, a power of two
    parameter int DEPTH = 8
) (
    input  wire logic             clk,
    input  wire logic             rst,

    /* Write side */
    input  wire logic             in_valid,
    output wire logic             in_ready,
    input  wire logic [WIDTH-1:0] in_data,

    /* Read side: out_data is the head while out_valid */
    output wire logic             out_valid,
    input  wire logic             out_ready,
    output wire logic [WIDTH-1:0] out_data,

    /* Occupancy */
    output wire logic [$clog2(DEPTH):0] count
);

localparam int AW = $clog2(DEPTH);

initial begin
    if ((1 << AW) != DEPTH) begin
        $error("Error: DEPTH must be a power of two (instance %m)");
        $finish;
    end
end

logic [WIDTH-1:0] mem[DEPTH];
logic [AW:0] wr_ptr_reg, rd_ptr_reg;

wire logic full = (wr_ptr_reg[AW] != rd_ptr_reg[AW]) && (wr_ptr_reg[AW-1:0] == rd_ptr_reg[AW-1:0]);
wire logic empty = wr_ptr_reg == rd_ptr_reg;

assign in_ready = !full;
assign out_valid = !empty;
assign out_data = mem[rd_ptr_reg[AW-1:0]];
assign count = wr_ptr_reg - rd_ptr_reg;

always_ff @(posedge clk) begin
    if (in_valid && !full) begin
        mem[wr_ptr_reg[AW-1:0]] <= in_data;
        wr_ptr_reg <= wr_ptr_reg + 1'b1;
    end
    if (out_ready && !empty) begin
        rd_ptr_reg <= rd_ptr_reg + 1'b1;
    end
    if (rst) begin
        wr_ptr_reg <= '0;
        rd_ptr_reg <= '0;
    end
end

endmodule

`resetall
