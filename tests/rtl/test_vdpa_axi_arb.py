# SPDX-License-Identifier: MIT
"""Build vdpa_axi_arb alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_axi_arb.py): the data path's AXI4 master arbiter against the
bench's reference of its contract (the model has no bus and so no arbiter), with a reordering
memory of the bench's own and cocotbext-axi's AxiRam behind it. The builds sweep NM (1..4),
DATA_W (32, 512) and ID_W (2, 4) and are those of the regression configuration
(testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_axi_arb"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_axi_arb(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
