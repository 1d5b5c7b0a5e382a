# SPDX-License-Identifier: MIT
"""Build vdpa_notifier alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_notifier.py): the used-buffer notifier against the model's
SplitRing.need_notify, with reads answered late, back to back and refused. The builds
(NVQ x DEPTH) are those of the regression configuration (testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_notifier"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_notifier(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
