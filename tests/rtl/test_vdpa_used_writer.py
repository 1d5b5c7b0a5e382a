# SPDX-License-Identifier: MIT
"""Build vdpa_used_writer alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_used_writer.py): the completion writer against the model's
SplitRing.complete / need_notify, one chain a used.idx and in batches (BATCH); the builds are
those of the regression configuration (testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_used_writer"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_used_writer(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
