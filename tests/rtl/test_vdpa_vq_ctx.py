# SPDX-License-Identifier: MIT
"""Build vdpa_vq_ctx alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_vq_ctx.py): the VQ contexts and the VQ command unit against the
bench's reference of their contract (mlx5_vnet.c's state rules, the drains, the write priority
of same-cycle events). The builds sweep NVQ (2, 8) and MAX_QSIZE (2, 256, 32768) and are those
of the regression configuration (testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_vq_ctx"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_vq_ctx(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
