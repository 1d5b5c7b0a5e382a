# SPDX-License-Identifier: MIT
"""Build vdpa_split_ring_walker alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_split_ring_walker.py): the split-ring walker's hand-off and faults
against the model's SplitRing walk, and what it reads ahead or knows across chains. The builds
sweep DATA_W (32, 64, 512) and are those of the regression configuration
(testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_split_ring_walker"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_split_ring_walker(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
