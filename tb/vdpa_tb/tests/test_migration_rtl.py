# SPDX-License-Identifier: MIT
"""cocotb test of a live migration on vdpa_nic_pair: the model's Flows A, B and C (QEMU's
sequence, the switches of one configuration) with the source NIC on device 0 and the destination
on device 1, under TX and RX traffic on every queue pair (vdpa_tb.migration_rtl). The pytest
entry (tests/rtl/test_migration_rtl.py) runs one simulation per configuration, named by
$VDPA_MIGRATION_SWITCHES (a preset or switches), and collects the summary it writes under
$VDPA_MIGRATION_OUT ($VDPA_MIGRATION_LABEL names the files; $VDPA_MIGRATION_IN_FLIGHT=0 lets
every stop find the devices idle, as the agreement with the model's pricing needs)."""

from __future__ import annotations

import os
from pathlib import Path

import cocotb

from vdpa_model.downtime.measured import render
from vdpa_tb.migration_rtl import migrate, preset_switches, setup_for, write
from vdpa_tb.nic_tb import param


@cocotb.test(timeout_time=20, timeout_unit="sec")
async def test_migration(dut):
    """Goal: the RTL pair keeps every promise of the migration contract in one configuration,
    and its work is measured step by step.
    Stimulus: boot, Flow A, C 4.1, Flow B, C 4.2 as QEMU runs them with the switches of
    $VDPA_MIGRATION_SWITCHES; guest TX and RX on every queue pair between the steps, with a
    round in flight whenever a device stops; frames arriving while the VM is stopped.
    Check: every check of vdpa_model.migration (every buffer completed once, frames on the wire
    once or repeated only after a rewind, RX lost only in the gap, no DMA outside the mappings
    of the right ASID, the destination's control state equal to the source's, the source silent
    after stop-and-copy, no fault); every step of both devices measured; a network gap."""
    switches = os.environ.get("VDPA_MIGRATION_SWITCHES", "upstream")
    label = os.environ.get("VDPA_MIGRATION_LABEL", switches.replace(",", "_"))
    out = Path(os.environ.get("VDPA_MIGRATION_OUT", "build/migration-rtl"))
    setup = setup_for(preset_switches(switches), param("NVQ", 8) // 2,
                      in_flight=os.environ.get("VDPA_MIGRATION_IN_FLIGHT", "1") == "1")
    m = await migrate(dut, setup, label)
    summary = write(m, out)
    dut._log.info("migration on the RTL pair:\n%s\n%s", m.result.report.render(), render(summary))
    failures = m.result.report.failures()
    assert not failures, "\n".join(f"{c.name}: {c.detail}" for c in failures)
    assert {"src0", "dst0"} <= set(summary["phases"]), summary["phases"].keys()
    assert summary["network_gap_cycles"] is not None and summary["network_gap_cycles"] > 0
