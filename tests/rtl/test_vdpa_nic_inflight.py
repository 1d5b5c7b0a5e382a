# SPDX-License-Identifier: MIT
"""Build vdpa_nic_top once per parameter set and bus model and run its cocotb tests
(tb/vdpa_tb/tests/test_vdpa_nic_inflight.py). The parameter sets are the module's builds in the
regression configuration (testplan/vdpa_nic_sim.yaml): one place for each of them; a build
that names a device file (tb/devices/) takes its sources and parameters from it."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg
from vdpa_tb.regress.jobs import cocotb_filter

MODULE = "vdpa_tb.tests.test_vdpa_nic_inflight"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_nic_inflight(build: str) -> None:
    b = BUILDS[build]
    # a build with an `only` list (the cocotbext reference models) runs just those tests
    flt = cocotb_filter(b.only) if b.only is not None else None
    sim.run(b.top, MODULE, b.params, test_filter=flt, bus=b.bus, device=b.device_config())
