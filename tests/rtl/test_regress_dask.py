# SPDX-License-Identifier: MIT
"""A small regression through a real Dask cluster: ``dask scheduler`` and two ``dask worker``
processes on the loopback interface, the regression's own command line submitting to them.

This is also the coverage job of CI: the runs use coverage builds, and the merged functional
coverage, code coverage (Cobertura XML and HTML, in Python from Verilator's files) and JUnit XML
are checked, so the flow cannot rot. The configuration is the shipped one with two changes
that are data: test_regs_and_commands told the device has more queue entries than it has (it
must fail on CAPS1), and test_random_traffic_lockstep given one wall second (it must be
stopped). A failing run must not stop the others, and the exit status must say it failed.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from vdpa_tb import sim
from vdpa_tb.regress import simcfg

VENV_BIN = Path(sys.executable).parent
TESTS = "uvm,test_regs_and_commands,test_random_traffic_lockstep"
BASE_SEED = 20261130


def broken_cfg(tmp_path: Path) -> Path:
    raw = yaml.safe_load(simcfg.SIM_CFG.read_text())
    raw["testplan"] = str(simcfg.SIM_CFG.parent / raw["testplan"])
    # the copy lives elsewhere: paths that were relative to the configuration become absolute
    for build in raw["builds"].values():
        if "device" in build:
            build["device"] = str((simcfg.SIM_CFG.parent / build["device"]).resolve())
    raw["tests"]["test_regs_and_commands"] = {"env": {"PARAM_MAX_QSIZE": "512"}}
    raw["tests"]["test_random_traffic_lockstep"]["timeout"] = 1
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def regress(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vdpa_tb.regress", "--cfg", str(cfg), *args],
                          cwd=sim.ROOT, capture_output=True, text=True, timeout=1800)


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[Path]:
    """A scheduler and two single-threaded workers on 127.0.0.1; yields the scheduler file."""
    sched = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(sched)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not sched.exists():
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.2)
        for n in range(2):
            procs.append(subprocess.Popen(
                [str(VENV_BIN / "dask"), "worker", "--scheduler-file", str(sched),
                 "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                 "--name", f"w{n}", "--local-directory", str(tmp_path / f"w{n}")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        with Client(scheduler_file=str(sched), timeout=60) as c:
            c.wait_for_workers(2, timeout=60)
        yield sched
    finally:
        for p in reversed(procs):
            with_group = os.getpgid(p.pid) if p.poll() is None else None
            if with_group is not None:
                os.killpg(with_group, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.mark.sim
def test_regression_through_dask_scheduler_and_two_workers(tmp_path: Path,
                                                           dask_cluster: Path) -> None:
    cfg = broken_cfg(tmp_path)
    out, runs = tmp_path / "report", tmp_path / "runs"
    r = regress(cfg, "run", "--scheduler", str(dask_cluster), "--tests", TESTS, "--seeds", "2",
                "--builds", "default", "--seed", str(BASE_SEED), "--out", str(out),
                "--runs-dir", str(runs))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "regress: 5/5 done, 3 failed" in r.stderr, r.stderr
    s = json.loads((out / "summary.json").read_text())
    results = json.loads((out / "results.json").read_text())

    # every run ran, on both workers; the failures are the two planted ones, as planted
    assert (s["runs"], s["runs_passed"], s["workers"]) == (5, 2, 2)
    assert len({x["worker"] for x in results}) == 2, [x["worker"] for x in results]
    status = sorted((x["job"]["item"], x["status"]) for x in results)
    assert status == [("test_random_traffic_lockstep", "timeout")] * 2 + [
        ("test_regs_and_commands", "failed"), ("uvm", "passed"), ("uvm", "passed")]
    regs = next(x for x in results if x["job"]["item"] == "test_regs_and_commands")
    (case,) = regs["cases"]
    assert case["status"] == "failed" and "assert 256 == 512" in case["message"], case

    # one build of the parameter set on this machine, shared by both workers, reused by all
    dirs = {x["run_dir"] for x in results}
    assert len(dirs) == 5 and all(Path(d).parent == runs for d in dirs)
    assert sum(x["built"] for x in results) <= 1
    assert s["builds_compiled"] in ([], [f"{results[0]['host']}:default"])

    # each failure: its log in the report and the one command that reruns it with its seed
    for f in s["failures"]:
        seed = next(x["job"]["seed"] for x in results if f["id"].startswith(x["job"]["item"])
                    and str(x["job"]["seed"]) in f["id"])
        assert f"--seed {seed} --waves" in f["rerun"]
        assert (out / f["log"]).read_text().startswith(f"# {f['id']}: ")

    # per-testpoint pass counts from the testplan
    tp = {t["name"]: (t["passed"], t["total"]) for t in s["testpoints"]}
    assert tp["functional_coverage_closure"] == (4, 4)
    assert tp["regs_commands"] == (0, 1)
    assert tp["traffic_random"] == (2, 4), "2 RandomMixTest passes, 2 stopped lockstep runs"

    # JUnit: one case per cocotb test case and seed, a stopped run as one erroring case
    junit = ET.parse(out / "junit.xml").getroot()
    n_uvm = len(simcfg.load(cfg).items["uvm"].tests)
    cases = 2 * n_uvm + 1 + 2
    assert (junit.get("tests"), junit.get("failures"), junit.get("errors")) == (
        str(cases), "1", "2")
    seeds = {p.get("value") for p in junit.iter("property") if p.get("name") == "seed"}
    assert len(seeds) == 5

    # merged functional coverage: both seeds of every pyuvm test but the negative one
    func = s["functional_coverage"]
    assert func["runs"] == 2 * (n_uvm - 1) and 0 < func["percent"] <= 100.0
    # the directed covergroups close in every seed; the hostile ones need many seeds to close
    directed = ("op_outcome_cg", "ring_error_cg", "vq_state_cg", "feature_combo_cg",
                "reset_kind_cg", "traffic_cg")
    assert all(func["covergroups"][g]["percent"] == 100.0 for g in directed), func
    merged = json.loads((out / "func" / "merged.json").read_text())
    assert len(merged["tests"]) == func["runs"] and "CoverageHoleTest" not in merged["tests"]

    # merged code coverage, read in Python: figures, Cobertura, HTML agree
    code = s["code_coverage"]
    assert code["runs"] == 3, "the uvm runs and the failing one wrote coverage; stopped ones none"
    cob = ET.parse(out / "code" / "cobertura.xml").getroot()
    assert int(cob.get("lines-valid")) == code["overall"]["line"]["total"] > 500
    assert int(cob.get("lines-covered")) == code["overall"]["line"]["hit"]
    assert int(cob.get("branches-valid")) == code["overall"]["branch"]["total"] > 100
    assert code["overall"]["line"]["percent"] > 60 and code["overall"]["toggle"]["total"] > 5000
    assert set(code["modules"]) >= {"vdpa_vq_engine", "vdpa_iotlb", "vdpa_cmd_proc"}
    pages = sorted(p.name for p in (out / "code" / "files").glob("*.html"))
    assert "vdpa_vq_engine.sv.html" in pages

    # one report folder, its index linking the rest
    index = (out / "index.html").read_text()
    for link in ("code/index.html", "code/cobertura.xml", "func/index.html", "junit.xml",
                 "summary.json", *(f["log"] for f in s["failures"])):
        assert f"href='{link}'" in index, link
        assert (out / link).exists(), link

    # the rerun command reproduces a seeded run: the same per-test sequence seeds
    uvm = next(x for x in results if x["job"]["item"] == "uvm")
    rr = regress(cfg, "rerun", "uvm", "--build", "default", "--seed", str(uvm["job"]["seed"]),
                 "--runs-dir", str(tmp_path / "rerun"))
    assert rr.returncode == 0, rr.stdout + rr.stderr

    def seq_seeds(log: Path) -> list[str]:
        return re.findall(r"(\w+Test) on \w+: sequence seed (\d+)", log.read_text())

    first = seq_seeds(Path(uvm["run_dir"]) / "sim.log")
    again = seq_seeds(tmp_path / "rerun" / f"uvm.default.{uvm['job']['seed']}" / "sim.log")
    assert len(first) == n_uvm and first == again


@pytest.mark.sim
def test_rerun_of_a_failure_writes_an_fst_waveform(tmp_path: Path) -> None:
    cfg = broken_cfg(tmp_path)
    r = regress(cfg, "rerun", "test_regs_and_commands", "--build", "default", "--seed", "77",
                "--waves", "--runs-dir", str(tmp_path / "runs"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED  test_regs_and_commands" in r.stdout
    fst = tmp_path / "runs" / "test_regs_and_commands.default.77.waves" / "dump.fst"
    assert f"waveform: {fst}" in r.stdout
    head = fst.read_bytes()[:400]
    # FST header block (gtkwave fstapi.c): type 0, 329-byte section, end time, the endian test
    # double e, the writer's name
    assert head[0] == 0 and int.from_bytes(head[1:9], "big") == 329
    assert int.from_bytes(head[17:25], "big") > 0
    assert struct.unpack("<d", head[25:33])[0] == pytest.approx(math.e)
    assert b"VerilatedFst" in head
