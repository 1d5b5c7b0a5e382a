# SPDX-License-Identifier: MIT
"""The regression engine without a simulator: the configuration (and its errors), selection,
jobs and seeds, the cocotb filter, the progress line, and the merge of results into JUnit,
testpoint counts and the report. tests/rtl/test_regress_dask.py runs the real thing."""

from __future__ import annotations

import copy
import io
import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from vdpa_tb.regress import engine, jobs, simcfg
from vdpa_tb.regress.execute import FAILED, PASSED, TIMEOUT, Case, Result
from vdpa_tb.regress.report import Collector

RAW = yaml.safe_load(simcfg.SIM_CFG.read_text())
FOUND = {
    "vdpa_tb.tests.test_a": ["test_fixed", "test_rand", "test_cocotbext_only"],
    "vdpa_tb.tests.test_u": ["AlphaTest", "BetaTest"],
    "vdpa_tb.tests.bench_x": ["bench_x"],
}


def small_cfg(tmp_path: Path, **changes: Any) -> Path:
    """A configuration over the made-up modules of FOUND, with ``changes`` applied (keys are
    paths into the YAML joined by "/", since module names hold dots)."""
    d: dict[str, Any] = {
        "name": "t", "testplan": str(simcfg.SIM_CFG.parent / RAW["testplan"]),
        "builds": {"b0": {"top": "vdpa_nic_top"},
                   "b1": {"top": "vdpa_nic_top", "params": {"NVQ": 4}},
                   "ref": {"top": "vdpa_nic_top", "bus": "cocotbext", "only": ["test_cocotbext_only"]}},
        "modules": {"vdpa_tb.tests.test_a": {"builds": ["b0", "b1", "ref"]},
                    "vdpa_tb.tests.test_u": {"builds": ["b0"], "seeded": True, "timeout": 50}},
        "not_regressed": ["vdpa_tb.tests.bench_x"],
        "tests": {"test_rand": {"seeded": True, "env": {"ROUNDS": 9}}},
        "groups": {"u": {"module": "vdpa_tb.tests.test_u", "tests": ["*Test"]}},
        "regressions": {"nightly": {"items": ["*"]}, "smoke": {"items": ["test_fixed", "u"],
                                                              "seeds": 1}},
    }
    for key, value in changes.items():
        node = d
        *path, last = key.split("/")
        for k in path:
            node = node.setdefault(k, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    p = tmp_path / "sim.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def load_small(tmp_path: Path, **changes: Any) -> simcfg.SimCfg:
    return simcfg.load(small_cfg(tmp_path, **changes), FOUND)


def test_shipped_configuration_loads_and_selects() -> None:
    cfg = simcfg.load()
    items, seeds = cfg.select(["nightly"])
    names = {i.name for i in items}
    assert "uvm" in names and "test_random_traffic_lockstep" in names
    assert not names & set(cfg.items["uvm"].tests), "grouped tests run in their group only"
    assert cfg.items["uvm"].seeded and not cfg.items["test_regs_and_commands"].seeded
    smoke, seeds = cfg.select(["smoke"])
    assert seeds == 1 and len(smoke) == 5


def test_settings_inherit_module_then_test(tmp_path: Path) -> None:
    cfg = load_small(tmp_path)
    assert cfg.tests["test_fixed"].builds == ("b0", "b1"), "ref allows only its own test"
    assert cfg.tests["test_cocotbext_only"].builds == ("b0", "b1", "ref")
    assert cfg.tests["test_rand"].seeded and cfg.tests["test_rand"].env == {"ROUNDS": "9"}
    assert cfg.tests["AlphaTest"].timeout == 50.0 and not cfg.tests["test_fixed"].seeded
    u = cfg.items["u"]
    assert u.group and u.tests == ("AlphaTest", "BetaTest") and u.timeout == 100.0


def test_skip_builds_leaves_out_only_what_it_names(tmp_path: Path) -> None:
    cfg = load_small(tmp_path, **{"tests/test_rand/skip_builds": ["b1"]})
    assert cfg.tests["test_rand"].builds == ("b0",)
    assert cfg.tests["test_fixed"].builds == ("b0", "b1"), "another test keeps the module's"
    # a build added to the module later runs the test, which a test's own list would not do
    cfg = load_small(tmp_path, **{"tests/test_rand/skip_builds": ["b1"],
                                  "builds/b2": {"top": "vdpa_nic_top", "params": {"NVQ": 2}},
                                  "modules/vdpa_tb.tests.test_a/builds": ["b0", "b1", "b2"]})
    assert cfg.tests["test_rand"].builds == ("b0", "b2")


def test_a_groups_job_leaves_out_members_that_skip_its_build(tmp_path: Path) -> None:
    cfg = load_small(tmp_path, **{"modules/vdpa_tb.tests.test_u/builds": ["b0", "b1"],
                                  "tests/AlphaTest": {"skip_builds": ["b1"]}})
    u = cfg.items["u"]
    on = {b: jobs.job_for(cfg, u, b, 1) for b in ("b0", "b1")}
    assert on["b0"] is not None and on["b0"].tests == ("AlphaTest", "BetaTest")
    assert on["b1"] is not None and on["b1"].tests == ("BetaTest",)
    # a member that skips every build of the group leaves the job with nothing to run
    cfg = load_small(tmp_path, **{"tests/AlphaTest": {"skip_builds": ["b0"]},
                                  "tests/BetaTest": {"builds": ["b1"]}})
    assert jobs.job_for(cfg, cfg.items["u"], "b0", 1) is None


def test_selection_by_regression_group_test_and_glob(tmp_path: Path) -> None:
    cfg = load_small(tmp_path)
    names = lambda toks: [i.name for i in cfg.select(toks)[0]]  # noqa: E731
    assert names(["*"]) == ["test_fixed", "test_rand", "test_cocotbext_only", "u"]
    assert names(["smoke"]) == ["test_fixed", "u"]
    assert names(["test_r*", "AlphaTest"]) == ["test_rand", "AlphaTest"]
    assert cfg.select(["smoke"])[1] == 1 and cfg.select(["nightly"])[1] is None
    with pytest.raises(simcfg.SimCfgError, match="no regression, group or test matches 'nope'"):
        cfg.select(["nope"])


@pytest.mark.parametrize("change, message", [
    ({"builds/b0/top": "no_such_top"}, r"builds\.b0\.top: no filelist rtl/no_such_top\.f"),
    ({"builds/b0/bus": "pcie"}, r"builds\.b0\.bus: 'pcie' is not one of hdl, cocotbext"),
    ({"builds/b0/colour": "red"}, r"builds\.b0\.colour: unknown key"),
    ({"builds/b1/params": {"NVQ": True}}, r"builds\.b1\.params\.NVQ: expected an integer"),
    ({"builds/ref/only": ["test_gone"]}, r"builds\.ref\.only: no cocotb test named 'test_gone'"),
    ({"modules/vdpa_tb.tests.test_u": None}, r"modules: test module\(s\) neither regressed"),
    ({"modules/vdpa_tb.tests.test_a/builds": ["b9"]}, r"test_a\.builds: unknown build 'b9'"),
    ({"tests/test_rand/timeout": -1}, r"tests\.test_rand\.timeout: expected wall seconds > 0"),
    ({"tests/test_ghost": {"seeded": True}}, r"tests\.test_ghost: no such cocotb test"),
    ({"tests/test_rand/seeded": "yes"}, r"tests\.test_rand\.seeded: expected true or false"),
    ({"groups/u/tests": ["Gamma*"]}, r"groups\.u\.tests: \['Gamma\*'\] matches no test"),
    ({"regressions/smoke/seeds": 0}, r"regressions\.smoke\.seeds: expected an integer >= 1"),
    ({"regressions/smoke/items": ["nope"]}, r"regressions\.smoke\.items: .*'nope'"),
    ({"tests/test_rand/skip_builds": ["b9"]}, r"test_rand\.skip_builds: unknown build 'b9'"),
    ({"tests/test_rand/skip_builds": ["ref"], "modules/vdpa_tb.tests.test_a/builds": ["b0", "ref"]},
     r"test_rand\.skip_builds: \['ref'\] not among the builds the test runs on \(b0\)"),
    ({"tests/test_rand/skip_builds": ["b1"], "tests/test_rand/builds": ["b0"]},
     r"tests\.test_rand: give builds or skip_builds, not both"),
])
def test_configuration_errors_name_file_key_and_value(tmp_path: Path, change: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(simcfg.SimCfgError, match=message) as e:
        load_small(tmp_path, **change)
    assert str(tmp_path / "sim.yaml") in str(e.value)


def test_jobs_seeds_and_order(tmp_path: Path) -> None:
    cfg = load_small(tmp_path)
    items, _ = cfg.select(["*"])
    js = jobs.expand(cfg, items, seeds=3, base_seed=11)
    by = {}
    for j in js:
        by.setdefault((j.item, j.build), []).append(j.seed)
    # seeded items run once per seed, fixed ones once, on each build that allows them
    assert {k: len(v) for k, v in by.items()} == {
        ("test_fixed", "b0"): 1, ("test_fixed", "b1"): 1, ("test_rand", "b0"): 3,
        ("test_rand", "b1"): 3, ("test_cocotbext_only", "b0"): 1, ("test_cocotbext_only", "b1"): 1,
        ("test_cocotbext_only", "ref"): 1, ("u", "b0"): 3}
    assert len({j.seed for j in js}) == len(js), "every run its own seed"
    # the first jobs are of different builds, so workers compile in parallel
    assert [j.build for j in js[:3]] == ["b0", "b1", "ref"]
    # a seed depends on the base seed, item, build and index only: not on what else runs
    alone = jobs.expand(cfg, [cfg.items["test_rand"]], seeds=3, base_seed=11, builds=["b1"])
    assert [j.seed for j in alone] == by[("test_rand", "b1")]
    assert jobs.expand(cfg, items, 3, 12)[0].seed != js[0].seed
    job = next(j for j in js if j.item == "test_rand")
    assert job.env == {"ROUNDS": "9"} and job.params == {}
    assert jobs.Job.from_dict(json.loads(json.dumps(job.to_dict()))) == job


def test_cocotb_filter_selects_exactly_the_tests_and_their_variants() -> None:
    flt = re.compile(jobs.cocotb_filter(["test_x", "BetaTest"]))
    hits = [n for n in ("m.test_x", "m.test_x/stall=True", "m.test_x2", "m.my_test_x",
                        "m.BetaTest", "m.BetaTests") if flt.search(n)]
    assert hits == ["m.test_x", "m.test_x/stall=True", "m.BetaTest"]


def test_rerun_command_names_item_build_and_seed(tmp_path: Path) -> None:
    cfg = load_small(tmp_path)
    j = jobs.job_for(cfg, cfg.items["u"], "b0", 1234, cov=True)
    assert j is not None
    assert j.rerun_command() == (f"{jobs.CLI} rerun u --build b0 --seed 1234 --waves")
    assert jobs.job_for(cfg, cfg.items["test_fixed"], "ref", 1) is None, "ref allows none"


def test_progress_line() -> None:
    out = io.StringIO()
    p = engine.Progress(4, workers=2, stream=out, every=0)
    assert re.fullmatch(r"regress: 0/4 done, 0 failed, 2 running, \d+s, ETA --", p.line())
    p.update(True)
    p.update(False)
    assert re.fullmatch(r"regress: 2/4 done, 1 failed, 2 running, [\d.]+ runs/min, \d+s, "
                        r"ETA \d+s", p.line()), p.line()
    p.update(True)
    p.update(True)
    assert "4/4 done, 1 failed, 0 running" in p.line() and "took" in p.line()
    assert out.getvalue().count("\n") == 4


def test_progress_heartbeat_between_results() -> None:
    out = io.StringIO()
    p = engine.Progress(3, workers=2, stream=out, every=0.05)
    p.start()
    time.sleep(0.3)
    p.stop()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3 and all("0/3 done" in x for x in lines), lines


def _result(job: jobs.Job, status: str, cases: list[tuple[str, str]]) -> Result:
    return Result(job.to_dict(), status, message="" if status == PASSED else "boom",
                  cases=[Case(n, s, 1.0, 10.0, "" if s == "passed" else "assert 1 == 2")
                         for n, s in cases], host="h", sim_s=1.0, log_tail="the end of the log")


def test_collector_merges_junit_testpoints_and_failures(tmp_path: Path) -> None:
    cfg = simcfg.load()
    uvm = jobs.job_for(cfg, cfg.items["uvm"], "default", 5)
    regs = jobs.job_for(cfg, cfg.items["test_regs_and_commands"], "default", 6)
    rnd = jobs.job_for(cfg, cfg.items["test_random_traffic_lockstep"], "default", 7)
    assert uvm and regs and rnd
    c = Collector(cfg, [uvm, regs, rnd], tmp_path / "rep", {"tests": "x"})
    c.add(_result(uvm, PASSED, [("FullCoverageTest", "passed"), ("CoverageHoleTest", "passed")]))
    c.add(_result(regs, FAILED, [("test_regs_and_commands", "failed")]))
    c.add(_result(rnd, TIMEOUT, []))
    s = c.finish(10.0, 2)
    assert not s["ok"] and s["runs"] == 3 and s["runs_passed"] == 1
    assert s["cases"] == 3 and s["cases_passed"] == 2
    tp = {t["name"]: t for t in s["testpoints"]}
    assert (tp["functional_coverage_closure"]["passed"], tp["functional_coverage_closure"]["total"]) == (2, 2)
    assert (tp["regs_commands"]["passed"], tp["regs_commands"]["total"]) == (0, 1)
    # a run that never reached its tests counts as a failure of each of them
    assert (tp["traffic_random"]["passed"], tp["traffic_random"]["total"]) == (0, 1)
    assert tp["traffic_random"]["not_run"] == ["RandomMixTest"]
    assert {f["id"] for f in s["failures"]} == {regs.id, rnd.id}
    junit = ET.parse(tmp_path / "rep" / "junit.xml").getroot()
    assert (junit.get("tests"), junit.get("failures"), junit.get("errors")) == ("4", "1", "1")
    failure = junit.find(".//testcase/failure")
    assert failure is not None and regs.rerun_command() in (failure.text or "")
    log = (tmp_path / "rep" / "logs" / f"{rnd.id}.log").read_text()
    assert rnd.rerun_command() in log and "the end of the log" in log
    index = (tmp_path / "rep" / "index.html").read_text()
    assert "FAIL" in index and regs.rerun_command() in index and f"logs/{rnd.id}.log" in index
    assert json.loads((tmp_path / "rep" / "summary.json").read_text())["runs"] == 3


def test_collector_adds_up_the_scoreboards(tmp_path: Path) -> None:
    """What each pyuvm scoreboard compared and found (its record in the run directory) is
    added up over the runs; a regression of none has no scoreboard figures."""
    cfg = simcfg.load()
    a, b = (jobs.job_for(cfg, cfg.items["uvm"], "default", s) for s in (5, 6))
    assert a and b
    c = Collector(cfg, [a, b], tmp_path / "rep", {"tests": "uvm"})
    ra = _result(a, PASSED, [("HostileMixTest", "passed")])
    ra.scoreboards = [{"items": 40, "divergences": 0, "isolation_violations": 0, "races": 3,
                       "errors": []}]
    rb = _result(b, FAILED, [("HostileMixTest", "failed"), ("RandomMixTest", "passed")])
    rb.scoreboards = [{"items": 10, "divergences": 2, "isolation_violations": 1, "races": 0,
                       "errors": ["x"]}, {"items": 5, "divergences": 0, "races": 1}]
    c.add(ra)
    c.add(rb)
    s = c.finish(1.0, 1)
    assert s["scoreboard"] == {"tests": 3, "items": 55, "divergences": 2,
                               "isolation_violations": 1, "races": 4}
    assert "divergences 2" in (tmp_path / "rep" / "index.html").read_text()
    empty = Collector(cfg, [a], tmp_path / "rep2", {}).finish(1.0, 1)
    assert empty["scoreboard"] is None


def test_configuration_is_data_a_new_build_needs_no_code(tmp_path: Path) -> None:
    raw = copy.deepcopy(RAW)
    raw["testplan"] = str(simcfg.SIM_CFG.parent / raw["testplan"])
    for b in raw["builds"].values():  # device files are named relative to the configuration
        if "device" in b:
            b["device"] = str((simcfg.SIM_CFG.parent / b["device"]).resolve())
    raw["builds"]["q4096"] = {"top": "vdpa_nic_top", "params": {"MAX_QSIZE": 4096}}
    raw["tests"]["test_random_traffic_lockstep"]["builds"] = ["q4096"]
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    cfg = simcfg.load(tmp_path / "c.yaml")
    (job,) = jobs.expand(cfg, [cfg.items["test_random_traffic_lockstep"]], 1, 0)
    assert (job.build, job.params) == ("q4096", {"MAX_QSIZE": 4096})


def test_a_build_from_a_device_file(tmp_path: Path) -> None:
    """A build may name a device file: its top, sources and parameters (the build's params
    over them) go into every job on it, and the worker builds from the file."""
    cfg = simcfg.load()
    small = cfg.builds["w32-q1024-fw"]
    dev = small.device_config()
    assert dev is not None and dev.name == "vdpa_nic_small"
    assert small.top == dev.top and small.params == dict(dev.parameters)
    nvq64 = cfg.builds["nvq64-q32768"]
    assert nvq64.params["NVQ"] == 64 and nvq64.device == cfg.builds["default"].device
    (job,) = jobs.expand(cfg, [cfg.items["uvm"]], 1, 0, builds=["w32-q1024-fw"])
    assert job.device == small.device and jobs.Job.from_dict(job.to_dict()) == job
    raw = copy.deepcopy(RAW)
    raw["testplan"] = str(simcfg.SIM_CFG.parent / raw["testplan"])
    raw["builds"]["default"] = {"device": str(tmp_path / "missing.toml")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(simcfg.SimCfgError, match=r"builds\.default\.device: .*missing\.toml"):
        simcfg.load(tmp_path / "c.yaml")


def test_command_line_refuses_bad_input_before_running(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from vdpa_tb.regress import cli

    bad = small_cfg(tmp_path, **{"builds/b0/bus": "pcie"})
    assert cli.main(["--cfg", str(bad), "run"]) == 2
    assert "builds.b0.bus: 'pcie' is not one of" in capsys.readouterr().err
    assert cli.main(["run", "--tests", "no_such_test", "--out", str(tmp_path / "r")]) == 2
    assert "no regression, group or test matches 'no_such_test'" in capsys.readouterr().err
    assert cli.main(["run", "--tests", "smoke", "--builds", "b9", "--out", str(tmp_path / "r")]) == 2
    assert "unknown build 'b9'" in capsys.readouterr().err
    waivers = tmp_path / "w.txt"
    waivers.write_text("UNR vdpa_fifo.sv line\n")
    assert cli.main(["run", "--waivers", str(waivers), "--out", str(tmp_path / "r")]) == 2
    assert "w.txt:1: expected 'CATEGORY" in capsys.readouterr().err
    waivers.write_text("UNR vdpa_fifo.sv branch -- dead\n  | if (this_is_no_fifo_line) begin\n")
    assert cli.main(["run", "--waivers", str(waivers), "--out", str(tmp_path / "r")]) == 2
    assert "w.txt:1: waiver 'UNR vdpa_fifo.sv branch' is stale" in capsys.readouterr().err
    assert cli.main(["rerun", "uvm", "--build", "pair", "--seed", "1"]) == 2
    assert "uvm does not run on build 'pair'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists(), "nothing ran, nothing was written"
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "uvm" in out and "seeded" in out and "nightly" in out
