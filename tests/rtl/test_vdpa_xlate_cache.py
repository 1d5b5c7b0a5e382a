# SPDX-License-Identifier: MIT
"""Build vdpa_xlate_cache alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_xlate_cache.py): the engine's ring-item translation cache against
the bench's reference of its contract (the model translates instantly and has no cache). The
builds sweep ENTRIES (1, 3, 4, 8) and SETS (1, 4, 8) and are those of the regression configuration
(testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_xlate_cache"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_xlate_cache(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
