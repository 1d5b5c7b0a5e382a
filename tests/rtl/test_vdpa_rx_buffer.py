# SPDX-License-Identifier: MIT
"""Build vdpa_rx_buffer alone once per parameter set and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_rx_buffer.py): 32, 64 and 128-bit buses, buffers from four beats
to a jumbo-sized frame. The parameter sets are the module's builds in the regression
configuration (testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_rx_buffer"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_rx_buffer(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
