# SPDX-License-Identifier: MIT
"""Run the RTL parent driver's option tests (tb/vdpa_tb/tests/test_parent_options.py) on a
vdpa_nic_top build whose firmware latencies are large against the command path, so that a
parallel round and a serial one differ clearly in simulated time."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.params import OPTIONS_BUILD

TOP = "vdpa_nic_top"


@pytest.mark.sim
def test_parent_options() -> None:
    sim.run(TOP, "vdpa_tb.tests.test_parent_options", OPTIONS_BUILD)
