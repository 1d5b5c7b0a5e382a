# SPDX-License-Identifier: MIT
"""Run the live-migration conformance scenario on two RTL devices
(tb/vdpa_tb/tests/test_vdpa_nic_pair.py). 2 MiB IOTLB pages, as a hugepage-backed guest has,
so the scenario's 4 GiB of guest RAM fits the MTT, and a 128-bit DMA bus."""

from __future__ import annotations

import pytest

from vdpa_tb import sim

TOP = "vdpa_nic_pair"


@pytest.mark.sim
def test_vdpa_nic_pair() -> None:
    sim.run(TOP, "vdpa_tb.tests.test_vdpa_nic_pair", {"PAGE_SHIFT": 21, "DATA_W": 128})
