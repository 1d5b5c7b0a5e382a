# SPDX-License-Identifier: MIT
"""Build vdpa_nic_top once per parameter set and run its cocotb tests
(tb/vdpa_tb/tests/test_vdpa_nic_top.py)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim

TOP = "vdpa_nic_top"

PARAM_SETS = {
    "default": {},
    "w32-q1024-fw50": {"DATA_W": 32, "MAX_QSIZE": 1024, "NVQ": 4, "FW_LATENCY_CYCLES": 50},
}


@pytest.mark.sim
@pytest.mark.parametrize("pset", list(PARAM_SETS))
def test_vdpa_nic_top(pset: str) -> None:
    sim.run(TOP, "vdpa_tb.tests.test_vdpa_nic_top", PARAM_SETS[pset])
