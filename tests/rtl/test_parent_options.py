# SPDX-License-Identifier: MIT
"""Run the RTL parent driver's option tests (tb/vdpa_tb/tests/test_parent_options.py) on the
`options` build of the regression configuration (testplan/vdpa_nic_sim.yaml): firmware
latencies large against the command path, so that a parallel round and a serial one differ
clearly in simulated time."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_parent_options"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_parent_options(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
