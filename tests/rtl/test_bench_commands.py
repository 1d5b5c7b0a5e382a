# SPDX-License-Identifier: MIT
"""Run the command benchmarks (tb/vdpa_tb/tests/bench_commands.py) and print the figures:
`python -m pytest tests/rtl/test_bench_commands.py -s`.

An ordinary test run measures the one build the parent-option tests use (8 slots, firmware
latencies) and writes to build/bench. `make bench` (BENCH_RECORD=1) also measures 1, 2 and 4
slots and a build without firmware latency, and keeps the merged figures in
bench/results/rtl_commands.json. Each figure is printed beside the value the hardware's
structure implies, and checked against it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from vdpa_tb import sim
from vdpa_tb.params import NO_LATENCY
from vdpa_tb.regmap import REGMAP
from vdpa_tb.regress import simcfg

RECORD = os.environ.get("BENCH_RECORD") == "1"
OUT = (sim.ROOT / "bench" / "results" if RECORD else sim.ROOT / "build" / "bench") \
    / "rtl_commands.json"
TOP = "vdpa_nic_top"

#: the parent-option tests' build (testplan/vdpa_nic_sim.yaml: `options`), so both share it
OPTIONS_BUILD = dict(simcfg.load().builds["options"].params)
BUILDS: dict[str, dict[str, int | str]] = {
    "slots8": OPTIONS_BUILD,
    "slots4": {**OPTIONS_BUILD, "CMD_SLOTS": 4},
    "slots2": {**OPTIONS_BUILD, "CMD_SLOTS": 2},
    "slots1": {**OPTIONS_BUILD, "CMD_SLOTS": 1},
    "no_fw_latency": {**OPTIONS_BUILD, **NO_LATENCY},
}


def summary(builds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures a cost profile uses, each beside what the structure implies."""
    base = builds["slots8"]
    out: dict[str, Any] = {}
    out["map_cycles"] = {
        w: {"per_page_group": f["slope"], "implied": 1.0, "fixed": f["fixed"]}
        for w, f in base["map"]["fit_vs_ceil_pages_over_writers"].items()}
    out["vq_create_cycles"] = {"per_entry": base["vq"]["create_fit_vs_size"]["slope"],
                               "implied": 1 / 64,
                               "fixed": base["vq"]["create_fit_vs_size"]["fixed"]}
    out["rounds_speedup_parallel_over_serial"] = {
        b.removeprefix("slots"): {kind: {n: {"measured": r["speedup"],
                                             "ideal": min(int(n), res["caps"]["slots"])}
                                         for n, r in res["rounds"][kind].items()}
                                  for kind in ("modify", "query")}
        for b, res in builds.items() if b.startswith("slots")}
    if "no_fw_latency" in builds:
        hw = builds["no_fw_latency"]["cycles_per_command"]
        out["fw_latency_per_command"] = {
            op: {"measured": base["cycles_per_command"][op] - hw[op]}
            for op in hw}
    return out


def check(builds: dict[str, dict[str, Any]], s: dict[str, Any]) -> None:
    for w, f in s["map_cycles"].items():
        assert f["per_page_group"] == f["implied"], f"MAP with {w} writers: {f}"
    assert s["vq_create_cycles"]["per_entry"] == s["vq_create_cycles"]["implied"]
    for slots, kinds in s["rounds_speedup_parallel_over_serial"].items():
        for kind, by_n in kinds.items():
            for n, r in by_n.items():
                # overlap can only help, and never beyond the slots the device has
                assert r["measured"] >= 0.95, (slots, kind, n, r)
                if r["ideal"] == 1:
                    assert r["measured"] < 1.3, (slots, kind, n, r)
    if "fw_latency_per_command" in s:
        lat = builds["slots8"]["fw_latency"]
        for op, r in s["fw_latency_per_command"].items():
            want = lat[REGMAP.cmd[op].fw_class]
            assert r["measured"] == want, f"{op}: latency {r['measured']} cycles, set {want}"
            r["set"] = want


@pytest.mark.sim
def test_bench_commands(tmp_path) -> None:
    names = list(BUILDS) if RECORD else ["slots8"]
    builds: dict[str, dict[str, Any]] = {}
    for name in names:
        out = tmp_path / f"{name}.json"
        sim.run(TOP, "vdpa_tb.tests.bench_commands", BUILDS[name],
                extra_env={"BENCH_OUT": str(out)})
        builds[name] = json.loads(out.read_text())
    s = summary(builds)
    check(builds, s)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"summary": s, "builds": builds}, indent=2))
    print("\ndevice command costs (cycles; 10 ns clock)")
    for k, v in s.items():
        print(f"  {k}: {v}")
    for name, res in builds.items():
        print(f"  [{name}] rounds: {res['rounds']}")
        print(f"  [{name}] in flight: {res['in_flight']}")
        print(f"  [{name}] parent reset: {res['parent_reset']}")
    print(f"  (written to {OUT})")
