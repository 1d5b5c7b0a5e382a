# SPDX-License-Identifier: MIT
"""Build vdpa_iotlb alone once per parameter set and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_iotlb.py) against the model's Iotlb: one to sixteen MTT write
ports, the fewest tables a rebuild needs up to several, small and large MTTs and entry
counts, two and four address spaces."""

from __future__ import annotations

import pytest

from vdpa_tb import sim

TOP = "vdpa_iotlb"

PARAM_SETS: dict[str, dict[str, int]] = {
    "w1-t3": {"WRITERS": 1, "TABLES": 3, "ENTRIES": 8, "MTT_DEPTH": 256},
    "w4-t8": {"WRITERS": 4, "TABLES": 8, "ENTRIES": 16, "MTT_DEPTH": 512},
    "w16-nas4": {"WRITERS": 16, "TABLES": 6, "ENTRIES": 32, "MTT_DEPTH": 1024, "NAS": 4,
                 "IDENTITY_MASK": 5},
}


@pytest.mark.sim
@pytest.mark.parametrize("pset", list(PARAM_SETS))
def test_vdpa_iotlb(pset: str) -> None:
    sim.run(TOP, "vdpa_tb.tests.test_vdpa_iotlb", PARAM_SETS[pset])
