# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_nic_pair: two RTL devices in one simulation, so the model's live-migration
conformance scenario (vdpa_model.conformance) runs on the RTL exactly as on the reference
device: the source device is suspended and read, the destination set up from that state."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import cocotb

from vdpa_model.conformance import ScenarioConfig, run_scenario
from vdpa_model.dma import AccessLog
from vdpa_model.memory import GiB, GuestMemory
from vdpa_tb.nic_tb import Tb

#: the scenario's default guest (vdpa_model.conformance: Scenario)
GUEST_SIZE = 8 * GiB


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def test_conformance_scenario(dut):
    """Goal: the RTL keeps every promise of the contract the reference device keeps.
    Stimulus: the conformance scenario (traffic on 4 queue pairs, suspend with kicked work,
    migration to the second device, reset with and without IOTLB_PERSIST, rings in their own
    ASID, a descriptor loop). Check: every named check passes, including no DMA outside the
    allowed mappings of the right ASID (from the AXI user sideband) at any point."""
    # one guest, two devices: the second shares the first one's guest memory (large enough
    # for the scenario's guest RAM; untouched pages cost nothing)
    first = Tb(dut, "d0_", guest_size=GUEST_SIZE)
    halves = [first, Tb(dut, "d1_", start_clock=False, mem=first.mem)]
    turn = itertools.count()

    async def factory(mem: GuestMemory, log: AccessLog):
        # each new device is the next of the two, back in its power-on state
        tb = halves[next(turn) % 2]
        assert mem is tb.mem, "the scenario must run on the testbench's guest memory"
        tb.target.access_log = log
        # the scenario's shadow checks isolation per ASID, from the same access log
        return await tb.start(check_dma=False)

    report = await run_scenario(factory, ScenarioConfig(queue_pairs=4, queue_size=256,
                                                        frames_per_queue=8),
                                progress=lambda p: halves[0].log.info("Phase %s", p),
                                mem=first.mem)
    halves[0].log.info("Conformance report:\n%s", report.render())
    out = os.environ.get("VDPA_DV_REPORT")
    if out:  # the main job (python -m vdpa_tb.mainjob) prints this file
        Path(out).write_text(report.render() + "\n")
    assert report.ok, "\n".join(f"{c.name}: {c.detail}" for c in report.failures())
    assert len(report.checks) >= 40, f"the scenario stopped early: {len(report.checks)} checks"
