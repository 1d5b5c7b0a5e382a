// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012 (subset accepted by Verilator 5 and Icarus 11)

`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * The AXI4 facts the data path's masters share (ARM IHI 0022, AXI4): the burst type, the
 * protection and the response codes they use, the 4 KiB boundary no burst crosses, and the
 * beats a burst over a byte range spans. One place for them: the ring-item ports and the DMA
 * mover address and size their bursts with beat_addr and burst_beats, the mover keeps its
 * bursts inside the boundary, the arbiter drives AxBURST and AxPROT for every master.
 *
 * The functions take AxSIZE (log2 of the bytes a beat carries), so they serve every bus width.
 */
package vdpa_axi_pkg;

// a module imports the whole package and uses the part it needs
/* verilator lint_off UNUSEDPARAM */
// AxBURST (§A3.4.1): INCR, the only type the data path issues
localparam logic [1:0] AXI_BURST_INCR = 2'b01;
// AxPROT (§A4.7): unprivileged, non-secure, data access
localparam logic [2:0] AXI_PROT_DATA = 3'b010;
// xRESP (§A3.4.4): OKAY; anything else (EXOKAY never asked for, SLVERR, DECERR) is an error
localparam logic [1:0] AXI_RESP_OKAY = 2'b00;
// a burst must not cross a 4 KiB boundary (§A3.4.1)
localparam int AXI_BOUNDARY = 4096;
// AxLEN counts at most 256 beats of an INCR burst (§A3.4.1)
localparam int AXI_MAX_BEATS = 256;
/* verilator lint_on UNUSEDPARAM */

// beats of a full-width burst (AxSIZE = size) over bytes [pa, pa + nbytes): from the beat
// holding byte pa to the one holding byte pa + nbytes - 1 (nbytes >= 1); AxLEN is this - 1
function automatic logic [7:0] burst_beats(input logic [63:0] pa, input logic [31:0] nbytes,
                                           input logic [2:0] size);
    logic [63:0] lane_mask, span;
    lane_mask = (64'd1 << size) - 64'd1;
    span = (pa & lane_mask) + 64'(nbytes) + lane_mask;
    return 8'(span >> size);
endfunction

// the address of the beat holding byte pa: a full-width burst's AxADDR, aligned to its size
function automatic logic [63:0] beat_addr(input logic [63:0] pa, input logic [2:0] size);
    return pa & ~((64'd1 << size) - 64'd1);
endfunction

endpackage

`resetall
