// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012, Verilator 5 with --timing and DPI-C (testbench only)

`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "tb_nic_host.svh"

/*
 * Testbench top of vdpa_nic_pair for the fast path: one clock in the simulator, a
 * tb_nic_host per device (host library devices 0 and 1, one shared guest memory), nets
 * named as the pair's d0_ / d1_ ports. Parameters are vdpa_nic_pair's, passed through.
 */
module tb_vdpa_nic_pair #(
    parameter int NVQ = 8,
    parameter int MAX_QSIZE = 256,
    parameter int IOTLB_ENTRIES = 16,
    parameter int MTT_DEPTH = 4096,
    parameter int PAGE_SHIFT = 12,
    parameter int NAS = 2,
    parameter logic [255:0] IDENTITY_MASK = 256'd1,
    parameter int NGROUPS = 3,
    parameter int DATA_W = 64,
    parameter int ADDR_W = 64,
    parameter int ID_W = 4,
    parameter int AXIL_ADDR_W = 16,
    parameter int MAX_SEGS = 32,
    parameter int MAX_FRAME = 2048,
    parameter int FW_LATENCY_CYCLES = 0,
    parameter logic [63:0] DEV_FEATURES = 64'h0000_0003_3043_8028,
    // Clock period in ns (the Python side reads the same period from nic_tb.CLK_NS)
    parameter int CLK_PERIOD = 10
) ();

// the clock runs in the simulator (Verilator --timing): no Python wakes per edge
logic clk;
initial begin
    clk = 1'b0;
    forever #(CLK_PERIOD / 2) clk = !clk;
end

// driven by the Python testbench (Tb.cycle_reset), one per device
logic d0_rst = 1'b1;
logic d1_rst = 1'b1;

`NIC_WIRES(d0_)
`NIC_WIRES(d1_)

vdpa_nic_pair #(
    .NVQ(NVQ), .MAX_QSIZE(MAX_QSIZE), .IOTLB_ENTRIES(IOTLB_ENTRIES), .MTT_DEPTH(MTT_DEPTH),
    .PAGE_SHIFT(PAGE_SHIFT), .NAS(NAS), .IDENTITY_MASK(IDENTITY_MASK), .NGROUPS(NGROUPS),
    .DATA_W(DATA_W), .ADDR_W(ADDR_W), .ID_W(ID_W), .AXIL_ADDR_W(AXIL_ADDR_W),
    .MAX_SEGS(MAX_SEGS), .MAX_FRAME(MAX_FRAME), .FW_LATENCY_CYCLES(FW_LATENCY_CYCLES),
    .DEV_FEATURES(DEV_FEATURES)
) dut_inst (.*);

`NIC_HOST(d0_, 0, dut_inst.dev0_inst.dp_idle)
`NIC_HOST(d1_, 1, dut_inst.dev1_inst.dp_idle)

// read by Python through VPI; nothing consumes the config-change pulses
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused = ^{d0_irq_config, d0_irq_cpl, d0_axil_done, d0_settled,
                      d1_irq_config, d1_irq_cpl, d1_axil_done, d1_settled};
/* verilator lint_on UNUSEDSIGNAL */

endmodule

`resetall
