# SPDX-License-Identifier: MIT
"""Build vdpa_dma_mover alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_dma_mover.py): the DMA mover against the model's SegmentMover,
at the bus widths of the regression configuration (testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_dma_mover"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_dma_mover(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
