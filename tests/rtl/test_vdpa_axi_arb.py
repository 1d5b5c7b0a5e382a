# SPDX-License-Identifier: MIT
"""Build vdpa_axi_arb alone and run its block-level cocotb tests
(tb/vdpa_tb/tests/test_vdpa_axi_arb.py): the data path's AXI4 master arbiter against the
bench's reference of its contract (the model has no bus and so no arbiter), with a reordering
memory of the bench's own and cocotbext-axi's AxiRam behind it. The builds sweep NM (1..4),
DATA_W (32, 512) and ID_W (2, 4) and are those of the regression configuration
(testplan/vdpa_nic_sim.yaml).

The arbiter's mutant (``r_routed_by_grant``, docs/mutation.md) is killed in the campaign by
the device's tests; here the bench is built with it too and must fail, on the per-cycle check
of the R routing, so the bench's own teeth for that bug are proven."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vdpa_tb import mutants, sim
from vdpa_tb.regress import simcfg

MODULE = "vdpa_tb.tests.test_vdpa_axi_arb"
BUILDS = simcfg.load().module_builds(MODULE)
#: a build with several masters and IDs left unissued: the mutant shows in both routings
MUTANT_BUILD = "axi_arb-m3-w512-i4"
#: the bench tests that must fail on it: masters with reads outstanding at once (a memory
#: that reorders IDs, AxiRam in order) and responses with IDs nobody issued
MUTANT_KILLERS = ("test_random_traffic_reordering_memory", "test_random_traffic_axi_ram",
                  "test_unknown_ids_dropped")


@pytest.mark.sim
@pytest.mark.parametrize("build", sorted(BUILDS))
def test_vdpa_axi_arb(build: str) -> None:
    b = BUILDS[build]
    sim.run(b.top, MODULE, b.params, bus=b.bus)


@pytest.mark.sim
def test_bench_kills_r_routed_by_grant(tmp_path: Path) -> None:
    """The bench built with MUT_R_ROUTED_BY_GRANT (read data sent to the master whose AR was
    taken last): every test of MUTANT_KILLERS fails, each on the contract's R routing check
    (RVALID shown to a master other than the one the RID names)."""
    from cocotb_tools.runner import get_results

    m = mutants.mutant("r_routed_by_grant")
    b = BUILDS[MUTANT_BUILD]
    assert b.params["NM"] > 1
    # a failing run ends in the runner's SystemExit (the simulator's exit status) or in
    # sim.run's AssertionError, whichever reports it first; the results say which tests
    with pytest.raises((AssertionError, SystemExit)):
        sim.run(b.top, MODULE, {**b.params, mutants.PARAM: m.value}, bus=b.bus,
                test_filter="|".join(MUTANT_KILLERS), seed=20260, test_dir=tmp_path)
    total, failed = get_results(tmp_path / sim.RESULTS_XML)
    assert (total, failed) == (len(MUTANT_KILLERS), len(MUTANT_KILLERS)), (total, failed)
    text = (tmp_path / sim.SIM_LOG).read_text()
    routing = re.findall(r"RVALID 1 ID \d+: masters see valid 0x[0-9a-f]+, the ID names", text)
    assert len(routing) >= len(MUTANT_KILLERS), \
        f"the bench failed, but not (only) on the R routing check; log: {tmp_path / sim.SIM_LOG}"
