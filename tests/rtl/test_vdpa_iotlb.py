# SPDX-License-Identifier: MIT
"""Build vdpa_iotlb alone once per parameter set and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_iotlb.py) against the model's Iotlb: one to sixteen MTT write
ports, the fewest tables a rebuild needs up to several, small and large MTTs and entry
counts, two and four address spaces. The parameter sets are the module's builds in the
regression configuration (testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_iotlb"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_iotlb(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
