# SPDX-License-Identifier: MIT
"""The testplan (testplan/vdpa_nic.yaml), the regression configuration (vdpa_nic_sim.yaml) and the
cocotb test modules must agree: every planned test exists, every cocotb/pyuvm test is planned
and regressed (or its module is a benchmark listed as not regressed), and the planned
covergroups are the ones the coverage model implements. No simulator needed."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from vdpa_tb.regress import simcfg
from vdpa_tb.regress.simcfg import _decorated_with_test
from vdpa_tb.uvm.coverage import CoverageModel

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "testplan" / "vdpa_nic.yaml"
TEST_DIR = simcfg.TEST_DIR


def cocotb_tests() -> dict[str, str]:
    """Test name -> module file, from the source (importing would need a simulator)."""
    return {t: f"{m.rsplit('.', 1)[-1]}.py" for m, ts in simcfg.discover().items() for t in ts}


def plan() -> dict:
    return yaml.safe_load(PLAN.read_text())


def test_plan_schema() -> None:
    p = plan()
    names = [tp["name"] for tp in p["testpoints"]]
    assert len(names) == len(set(names)), "duplicate testpoint names"
    for tp in p["testpoints"]:
        assert tp["stage"] in ("V1", "V2", "V2S", "V3"), tp["name"]
        assert tp["name"] == tp["name"].lower() and not tp["name"].endswith("test"), tp["name"]
        for part in ("Goal:", "Stimulus:", "Check:"):
            assert part in tp["desc"], f"{tp['name']}: desc lacks {part}"
        assert tp["tests"], f"{tp['name']} maps no test"


def test_planned_tests_exist() -> None:
    have = cocotb_tests()
    planned = {t for tp in plan()["testpoints"] for t in tp["tests"]}
    missing = sorted(planned - set(have))
    assert not missing, f"planned tests not found in {TEST_DIR}: {missing}"


def test_every_test_is_planned() -> None:
    have = cocotb_tests()
    planned = {t for tp in plan()["testpoints"] for t in tp["tests"]}
    unplanned = sorted(f"{m}::{t}" for t, m in have.items() if t not in planned)
    assert not unplanned, f"cocotb tests missing from {PLAN.name}: {unplanned}"


def test_covergroups_match_model() -> None:
    planned = {cg["name"] for cg in plan()["covergroups"]}
    assert planned == set(CoverageModel().groups)


def test_checker_sees_both_decorators() -> None:
    # guards the checker itself: a module with one of each must yield both names
    src = ("import cocotb, pyuvm\n@cocotb.test()\nasync def a(dut): pass\n"
           "@pyuvm.test(expect_fail=True)\nclass B: pass\nasync def c(dut): pass\n")
    found = [n.name for n in ast.walk(ast.parse(src)) if _decorated_with_test(n)]
    assert found == ["a", "B"]


def test_every_test_is_regressed() -> None:
    # load() fails on a module the configuration forgets; here: every test has a build to run on
    cfg = simcfg.load()
    have = cocotb_tests()
    regressed = set(cfg.tests)
    benches = {t for m, ts in simcfg.discover().items() if m in cfg.not_regressed for t in ts}
    assert regressed | benches == set(have), sorted(set(have) - regressed - benches)
    assert all(spec.builds for spec in cfg.tests.values()), \
        [t for t, spec in cfg.tests.items() if not spec.builds]
    # the planned benchmarks are exactly the tests left out of regressions
    planned = {t for tp in plan()["testpoints"] for t in tp["tests"]}
    assert benches <= planned
