// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Receive buffer of the virtqueue engine: one whole frame from the wire, held until the engine
 * has delivered or dropped it.
 *
 * Job: take a frame in from AXI-Stream (tkeep may carry null bytes anywhere in a beat; kept
 * bytes are packed), hold it with its length and receive VQ (tdest), and backpressure the wire
 * while it is held. A frame longer than MAX_FRAME, or one with no byte, is dropped at its tlast
 * (drop pulses once) and never held. Nothing here decides where a frame goes: the engine looks
 * at `full` and `vq`, reads the bytes it needs through the read port, and pulses `take` when it
 * is done with the frame (delivered or dropped) or `tried` when it found no buffer for it (the
 * frame is then no longer `fresh`: it waits for a kick on its queue).
 *
 * Interface
 *   s_axis_rx_*   the frame in (AXI-Stream, DATA_W wide, tdest = receive VQ)
 *   full, len, vq a frame is held: its length in bytes and its tdest
 *   fresh         the held frame has not been offered to its queue yet
 *   receiving     part of a frame has been taken in (not quiescent)
 *   drop          one-cycle pulse: a frame was dropped at its tlast (too long or empty)
 *   take, tried   from the engine (one-cycle pulses)
 *   rd_base,      combinational read port: rd_data byte j is byte (rd_base + j) mod 2^clog2(MAX_FRAME) of
 *   rd_data       the held frame, for j in 0..DATA_W/8-1 (one bus beat of the frame at any
 *                 byte offset; bytes past len are whatever the buffer holds)
 *
 * Today it holds one frame, so a frame for a queue without buffers holds up the wire (issue 10
 * asks for an RX path where it does not: per-queue buffering or dropping belongs here).
 */
module vdpa_rx_buffer #(
    // AXI-Stream data width in bits (32, 64, 128, 256 or 512)
    parameter int DATA_W = 64,
    // Largest received frame kept (bytes)
    parameter int MAX_FRAME = 2048
) (
    input  wire logic                 clk,
    input  wire logic                 rst,

    /* Frame input */
    input  wire logic [DATA_W-1:0]    s_axis_rx_tdata,
    input  wire logic [DATA_W/8-1:0]  s_axis_rx_tkeep,
    input  wire logic                 s_axis_rx_tvalid,
    output wire logic                 s_axis_rx_tready,
    input  wire logic                 s_axis_rx_tlast,
    input  wire logic [7:0]           s_axis_rx_tdest,

    /* Held frame */
    output wire logic                 full,
    output wire logic [$clog2(MAX_FRAME):0] len,
    output wire logic [7:0]           vq,
    output wire logic                 fresh,
    output wire logic                 receiving,
    output wire logic                 drop,

    /* From the engine */
    input  wire logic                 take,
    input  wire logic                 tried,

    /* Read port */
    input  wire logic [31:0]          rd_base,
    output wire logic [DATA_W-1:0]    rd_data
);

localparam int BYTES = DATA_W / 8;
localparam int BW = $clog2(BYTES);
localparam int FW = $clog2(MAX_FRAME);

initial begin
    if (DATA_W != 32 && DATA_W != 64 && DATA_W != 128 && DATA_W != 256 && DATA_W != 512) begin
        $error("Error: DATA_W must be 32, 64, 128, 256 or 512 (instance %m)");
        $finish;
    end
    if (MAX_FRAME < 2 * BYTES) begin
        $error("Error: MAX_FRAME must hold two bus beats at least (instance %m)");
        $finish;
    end
end

logic [7:0]   buf_mem[MAX_FRAME];
logic [FW:0]  wptr_reg;
logic         over_reg;
logic         full_reg;
logic [FW:0]  len_reg;
logic [7:0]   vq_reg;
logic         drop_reg;
logic         fresh_reg;

assign s_axis_rx_tready = !full_reg;
assign full = full_reg;
assign len = len_reg;
assign vq = vq_reg;
assign fresh = fresh_reg;
assign receiving = wptr_reg != 0;
assign drop = drop_reg;

// position of each kept byte of the input beat in the frame (tkeep may have null bytes)
logic [BW:0] in_pos[BYTES];
logic [BW:0] in_cnt;
always_comb begin
    in_cnt = '0;
    for (int k = 0; k < BYTES; k++) begin
        in_pos[k] = in_cnt;
        if (s_axis_rx_tkeep[k]) begin
            in_cnt = in_cnt + 1'b1;
        end
    end
end
wire logic [FW+1:0] wend = (FW+2)'(wptr_reg) + (FW+2)'(in_cnt);

always_ff @(posedge clk) begin
    drop_reg <= 1'b0;
    if (s_axis_rx_tvalid && !full_reg) begin
        if (32'(wend) <= MAX_FRAME) begin
            for (int k = 0; k < BYTES; k++) begin
                if (s_axis_rx_tkeep[k]) begin
                    buf_mem[FW'(wptr_reg + (FW+1)'(in_pos[k]))] <= s_axis_rx_tdata[8*k +: 8];
                end
            end
            wptr_reg <= wend[FW:0];
        end else begin
            over_reg <= 1'b1;
        end
        if (s_axis_rx_tlast) begin
            wptr_reg <= '0;
            over_reg <= 1'b0;
            if (over_reg || 32'(wend) > MAX_FRAME || wend == 0) begin
                drop_reg <= 1'b1;
            end else begin
                full_reg <= 1'b1;
                fresh_reg <= 1'b1;
                len_reg <= wend[FW:0];
                vq_reg <= s_axis_rx_tdest;
            end
        end
    end
    if (tried) begin
        fresh_reg <= 1'b0;
    end
    if (take) begin
        full_reg <= 1'b0;
    end
    if (rst) begin
        fresh_reg <= 1'b0;
        wptr_reg <= '0;
        over_reg <= 1'b0;
        full_reg <= 1'b0;
        drop_reg <= 1'b0;
    end
end

logic [DATA_W-1:0] rd_beat;
always_comb begin
    for (int j = 0; j < BYTES; j++) begin
        rd_beat[8*j +: 8] = buf_mem[FW'(rd_base + 32'(j))];
    end
end
assign rd_data = rd_beat;

endmodule

`resetall
