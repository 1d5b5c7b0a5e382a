# SPDX-License-Identifier: MIT
"""Build vdpa_nic_top once per parameter set and run its cocotb tests
(tb/vdpa_tb/tests/test_vdpa_nic_top.py)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim

TOP = "vdpa_nic_top"

# (parameters, cocotb test filter): the largest configuration runs the register, command and
# cost tests only, to keep the suite short
PARAM_SETS: dict[str, tuple[dict[str, int], str | None]] = {
    "default": ({}, None),
    "w32-q1024-fw": ({"DATA_W": 32, "MAX_QSIZE": 1024, "NVQ": 4, "CMD_SLOTS": 2, "MTT_WRITERS": 2,
                      "FW_LAT_VQ_CREATE": 90, "FW_LAT_VQ_DESTROY": 40, "FW_LAT_VQ_MODIFY": 20,
                      "FW_LAT_MAP": 30, "FW_LAT_UNMAP": 15, "FW_LAT_RESET": 70,
                      "FW_LAT_OTHER": 50}, None),
    "nvq64-q32768": ({"NVQ": 64, "MAX_QSIZE": 32768, "IOTLB_ENTRIES": 64},
                     "test_regs_and_commands|test_command_costs_and_parallelism|test_bad_rings"),
}


@pytest.mark.sim
@pytest.mark.parametrize("pset", list(PARAM_SETS))
def test_vdpa_nic_top(pset: str) -> None:
    params, test_filter = PARAM_SETS[pset]
    sim.run(TOP, "vdpa_tb.tests.test_vdpa_nic_top", params, test_filter=test_filter)
