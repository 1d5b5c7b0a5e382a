# SPDX-License-Identifier: MIT
"""Build vdpa_cmd_proc alone once per parameter set and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_cmd_proc.py): slot counts from one (fully serial) to eight, with
firmware latencies all different per class, none, or some."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.params import latencies

TOP = "vdpa_cmd_proc"

PARAM_SETS: dict[str, dict[str, int]] = {
    # primes, so a command given another class's latency cannot pass by accident
    "slots1": {"SLOTS": 1, **latencies(11, 13, 17, 19, 23, 29, 7)},
    "slots3": {"SLOTS": 3, **latencies(11, 13, 17, 19, 23, 29, 7)},
    "slots8-lat0": {"SLOTS": 8, **latencies(0, 0, 0, 0, 0, 0, 0)},
    "slots8": {"SLOTS": 8, **latencies(41, 5, 31, 3, 0, 2, 0)},
}


@pytest.mark.sim
@pytest.mark.parametrize("pset", list(PARAM_SETS))
def test_vdpa_cmd_proc(pset: str) -> None:
    sim.run(TOP, "vdpa_tb.tests.test_vdpa_cmd_proc", PARAM_SETS[pset])
