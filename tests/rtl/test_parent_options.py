# SPDX-License-Identifier: MIT
"""Run the RTL parent driver's option tests (tb/vdpa_tb/tests/test_parent_options.py) on a
vdpa_nic_top build whose firmware latencies are large against the command path, so that a
parallel round and a serial one differ clearly in simulated time."""

from __future__ import annotations

import pytest

from vdpa_tb import sim

TOP = "vdpa_nic_top"

PARAMS = {"NVQ": 4, "FW_LAT_VQ_CREATE": 800, "FW_LAT_VQ_DESTROY": 400, "FW_LAT_VQ_MODIFY": 400,
          "FW_LAT_MAP": 300, "FW_LAT_UNMAP": 200, "FW_LAT_RESET": 300, "FW_LAT_OTHER": 20}


@pytest.mark.sim
def test_parent_options() -> None:
    sim.run(TOP, "vdpa_tb.tests.test_parent_options", PARAMS)
