# SPDX-License-Identifier: MIT
"""Build vdpa_nic_top once per parameter set and bus model and run the cocotb tests of each
device-level module on it: tb/vdpa_tb/tests/test_vdpa_nic_top.py (commands, traffic, faults) and
test_vdpa_nic_inflight.py (operations racing work in flight). The parameter sets are each
module's builds in the regression configuration (testplan/vdpa_nic_sim.yaml): one place for each
of them; a build that names a device file (tb/devices/) takes its sources and parameters from it."""

from __future__ import annotations

import pytest

from vdpa_tb import sim
from vdpa_tb.regress import simcfg
from vdpa_tb.regress.jobs import cocotb_filter

MODULES = ("vdpa_tb.tests.test_vdpa_nic_top", "vdpa_tb.tests.test_vdpa_nic_inflight")
CFG = simcfg.load()
CASES = [(m, b) for m in MODULES for b in sorted(CFG.module_builds(m))]


@pytest.mark.sim
@pytest.mark.parametrize(("module", "build"), CASES,
                         ids=[f"{m.rsplit('.', 1)[1]}-{b}" for m, b in CASES])
def test_vdpa_nic_top(module: str, build: str) -> None:
    b = CFG.module_builds(module)[build]
    # a build with an `only` list (the cocotbext reference models), or one that some tests
    # leave out (their own `builds`), runs just the tests it takes
    tests = CFG.tests_on(module, build)
    every = [t.name for t in CFG.tests.values() if t.module == module]
    flt = None if sorted(tests) == sorted(every) else cocotb_filter(tests)
    sim.run(b.top, module, b.params, test_filter=flt, bus=b.bus, device=b.device_config())
