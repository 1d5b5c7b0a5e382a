// SPDX-License-Identifier: MIT
// Language: SystemVerilog 2012, Verilator 5 with --timing and DPI-C (testbench only)

`resetall
`timescale 1ns / 1ps
`default_nettype none

`include "tb_nic_host.svh"

/*
 * Testbench top of vdpa_nic_top for the fast path (BUS_MODEL=hdl): the clock runs in the
 * simulator and the buses are served by tb_nic_host, so Python only wakes for what a test
 * does (an access batch, a settle, a rare interrupt), never per cycle. Nets carry the names of
 * the device ports they connect, so the Python testbench finds irq_cpl, irq_fault and rst where
 * it finds them on the bare device.
 */
module tb_vdpa_nic_top #(
    `NIC_PARAMETERS,
    `HOST_PARAMETERS,
    // Clock period in ns (vdpa_tb.buses.CLK_NS)
    parameter int CLK_PERIOD = 10
) ();

`TB_CLOCK(CLK_PERIOD)

// driven by the Python testbench (Tb.cycle_reset)
logic rst = 1'b1;

`NIC_WIRES()

vdpa_nic_top #(`NIC_PARAMETER_MAP) dut_inst (.*);

`NIC_HOST(, 0, dut_inst.dp_idle)

// what each stage of the engine is doing, counted for the throughput bench
tb_engine_occupancy occupancy_inst (
    .clk(clk),
    .walk_blocked(dut_inst.vq_inst.w_h_valid && !dut_inst.vq_inst.h_ready),
    .refill(dut_inst.vq_inst.w_refilling),
    .move(dut_inst.vq_inst.ms_busy),
    .move_tx_held(dut_inst.vq_inst.tx_hold && dut_inst.vq_inst.mv_tvalid),
    .move_blocked(dut_inst.vq_inst.mv_done_valid && !dut_inst.vq_inst.mv_done_ready),
    .complete(dut_inst.vq_inst.cs_busy),
    .notify(dut_inst.vq_inst.nt_busy),
    .walk_state(5'(dut_inst.vq_inst.walker_inst.e_state_reg)),
    .move_state(4'(dut_inst.vq_inst.mover_inst.x_state_reg))
);

// read by Python through VPI; nothing consumes the config-change pulse (NEEDS_RESET is read
// from DEV_STATUS)
/* verilator lint_off UNUSEDSIGNAL */
wire logic unused = ^{irq_config, irq_cpl, axil_done, settled};
/* verilator lint_on UNUSEDSIGNAL */

endmodule

`resetall
