# SPDX-License-Identifier: MIT
"""Build vdpa_nic_top once per parameter set and bus model and run its cocotb tests
(tb/vdpa_tb/tests/test_vdpa_nic_top.py)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim

TOP = "vdpa_nic_top"

# parameter sets: (parameters, cocotb test filter or None for all)
PARAM_SETS: dict[str, tuple[dict[str, int], str | None]] = {
    "default": ({}, None),
    "w32-q1024-fw": ({"DATA_W": 32, "MAX_QSIZE": 1024, "NVQ": 4, "CMD_SLOTS": 2, "MTT_WRITERS": 2,
                      "FW_LAT_VQ_CREATE": 90, "FW_LAT_VQ_DESTROY": 40, "FW_LAT_VQ_MODIFY": 20,
                      "FW_LAT_MAP": 30, "FW_LAT_UNMAP": 15, "FW_LAT_RESET": 70,
                      "FW_LAT_OTHER": 50}, None),
    "nvq64-q32768": ({"NVQ": 64, "MAX_QSIZE": 32768, "IOTLB_ENTRIES": 64}, None),
}

# The cocotbext-axi reference models also run the traffic, fault and isolation tests on the
# default build, so the fast HDL/C++ bus models cannot drift from them unnoticed.
REFERENCE_FILTER = ("test_regs_and_commands|test_traffic_lockstep|test_iotlb_translation_and_faults|"
                    "test_bad_rings|test_unmap_races_traffic|test_bus_errors|"
                    "test_dma_outside_mappings_fails_the_run|test_no_interrupt_without_event_idx")
RUNS: dict[str, tuple[str, str, str | None]] = {
    **{f"{name}-hdl": (name, "hdl", flt) for name, (_, flt) in PARAM_SETS.items()},
    "default-cocotbext": ("default", "cocotbext", REFERENCE_FILTER),
}


@pytest.mark.sim
@pytest.mark.parametrize("run", list(RUNS))
def test_vdpa_nic_top(run: str) -> None:
    pset, bus, test_filter = RUNS[run]
    sim.run(TOP, "vdpa_tb.tests.test_vdpa_nic_top", PARAM_SETS[pset][0], test_filter=test_filter,
            bus=bus)
