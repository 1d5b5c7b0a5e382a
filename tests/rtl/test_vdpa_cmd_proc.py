# SPDX-License-Identifier: MIT
"""Build vdpa_cmd_proc alone once per parameter set and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_cmd_proc.py): slot counts from one (fully serial) to eight, with
firmware latencies all different per class, none, or some. The parameter sets are the module's
builds in the regression configuration (testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_cmd_proc"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_cmd_proc(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
