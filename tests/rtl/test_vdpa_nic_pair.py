# SPDX-License-Identifier: MIT
"""Run the live-migration conformance scenario on two RTL devices
(tb/vdpa_tb/tests/test_vdpa_nic_pair.py), on the pair's build of the regression configuration
(testplan/vdpa_nic_sim.yaml: 2 MiB IOTLB pages, as a hugepage-backed guest has, so the
scenario's 4 GiB of guest RAM fits the MTT, and a 128-bit DMA bus)."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_nic_pair"


@pytest.mark.sim
def test_vdpa_nic_pair() -> None:
    cfg = simcfg.load()
    (build,) = cfg.tests["test_conformance_scenario"].builds
    b = cfg.builds[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)
