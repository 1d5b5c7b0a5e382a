// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012, Verilator 5 with --timing and DPI-C (testbench only)

`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "tb_nic_host.svh"

/*
 * Testbench top of vdpa_nic_pair for the fast path: one clock in the simulator, a tb_nic_host
 * per device (host library devices 0 and 1, one shared guest memory), nets named as the pair's
 * d0_ / d1_ ports.
 */
module tb_vdpa_nic_pair #(
    `NIC_PARAMETERS,
    `HOST_PARAMETERS,
    // Clock period in ns (vdpa_tb.buses.CLK_NS)
    parameter int CLK_PERIOD = 10
) ();

`TB_CLOCK(CLK_PERIOD)

// driven by the Python testbench (Tb.cycle_reset), one per device
logic d0_rst = 1'b1;
logic d1_rst = 1'b1;

`NIC_WIRES(d0_)
`NIC_WIRES(d1_)

vdpa_nic_pair #(`NIC_PARAMETER_MAP) dut_inst (.*);

`NIC_HOST(d0_, 0, dut_inst.dev0_inst.dp_idle)
`NIC_HOST(d1_, 1, dut_inst.dev1_inst.dp_idle)

// read by Python through VPI; nothing consumes the config-change pulses
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused = ^{d0_irq_config, d0_irq_cpl, d0_axil_done, d0_settled,
                      d1_irq_config, d1_irq_cpl, d1_axil_done, d1_settled};
/* verilator lint_on UNUSEDSIGNAL */

endmodule

`resetall
