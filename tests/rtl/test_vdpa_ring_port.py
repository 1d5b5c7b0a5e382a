# SPDX-License-Identifier: MIT
"""Build vdpa_ring_port alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_ring_port.py): the engine's ring-item port against the bench's
reference of its contract (drivers/vhost/vringh.c: copy_from_iotlb / iotlb_translate), over a
Python IOTLB and cocotbext-axi's AxiRam. The builds sweep DATA_W (32, 64, 512) and
CACHE_ENTRIES (1, 4) with ITEM_BYTES 16, and DATA_W (32, 64, 512) with CACHE_ENTRIES 4 and
ITEM_BYTES 64 (the walker's instance), and are those of the regression configuration
(testplan/vdpa_nic_sim.yaml)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_ring_port"
BUILDS = simcfg.load().module_builds(MODULE)


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_ring_port(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
