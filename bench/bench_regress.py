# SPDX-License-Identifier: MIT
"""Regression throughput on this machine: seeds per hour of the random lockstep test and of the
pyuvm regression, with and without coverage builds, through ``make regress``'s own engine (a
Dask LocalCluster of two workers, one simulation per seed and process).

Run from the repository root::

    python bench/bench_regress.py                 # 50 seeds each, writes bench/results/regress.json
    python bench/bench_regress.py --seeds 10      # a quicker look (written to build/bench/)
    python bench/bench_regress.py --nightly build/regress/report/summary.json
                                                  # also keep a nightly run's merged coverage
    python bench/bench_regress.py --no-throughput --ci-coverage-job ci.json
                                                  # add figures measured apart, keep the rest

Each figure is seeds / wall seconds of the whole regression (cluster start, every run, the
merge and the report), after one warm-up run so that no build is compiled inside the timing.
A seed of the lockstep test is one simulation of both its variants (clean and with AXI idle and
backpressure), 400 random rounds each; a seed of the pyuvm regression is one simulation of all
eleven pyuvm tests (the ``uvm`` group). The machine's load average is kept beside each figure:
other work on a shared machine lowers them. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from results_file import machine, write_results  # noqa: E402

#: what is measured: name -> (TESTS, BUILDS)
WORKLOADS = {
    "random_lockstep": ("test_random_traffic_lockstep", "default"),
    "uvm_regression": ("uvm", "default"),
}


def regress(tests: str, builds: str, seeds: int, cov: bool, out: Path,
            base_seed: int = 1) -> dict[str, Any]:
    """One regression through the command line; its summary."""
    cmd = [sys.executable, "-m", "vdpa_tb.regress", "run", "--tests", tests, "--builds", builds,
           "--seeds", str(seeds), "--seed", str(base_seed), "--out", str(out), "-j", "2"]
    if not cov:
        cmd.append("--no-cov")
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    summary = json.loads((out / "summary.json").read_text())
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:])
    return summary


def measure(name: str, seeds: int, cov: bool, work: Path) -> dict[str, Any]:
    tests, builds = WORKLOADS[name]
    tag = f"{name}-{'cov' if cov else 'nocov'}"
    regress(tests, builds, 1, cov, work / f"{tag}-warmup")  # compiles the build if needed
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    s = regress(tests, builds, seeds, cov, work / tag)
    wall = time.monotonic() - t0
    fig = {"seeds": seeds, "coverage": cov, "passed": s["runs_passed"], "runs": s["runs"],
           "test_cases": s["cases"], "wall_s": round(wall, 1),
           "seeds_per_hour": round(3600 * s["runs"] / wall),
           "mean_simulation_s": s["items"][0]["mean_sim_s"],
           "load_average_before": round(load0, 2), "load_average_after": round(os.getloadavg()[0], 2)}
    print(f"{tag:<24} {fig['passed']:>3}/{fig['runs']:<3} passed  {fig['wall_s']:>7.1f} s  "
          f"{fig['seeds_per_hour']:>6} seeds/hour  (mean simulation {fig['mean_simulation_s']} s, "
          f"load {fig['load_average_before']} -> {fig['load_average_after']})", flush=True)
    return fig


def nightly(summary: Path) -> dict[str, Any]:
    """What a nightly ``make regress`` kept in its report folder: runs, time, and its merged
    code coverage, recomputed from the report's merged.dat with the waivers of this checkout
    (the same runs; waivers reviewed since then count)."""
    sys.path.insert(0, str(ROOT / "tb"))
    from vdpa_tb import hdlcov

    s = json.loads(summary.read_text())
    merged = summary.parent / "code" / "merged.dat"
    waivers = hdlcov.load_waivers(hdlcov.WAIVER_FILE, ROOT)
    code = hdlcov.CoverageDb(hdlcov.design_points(hdlcov.read_dat(merged.read_text(), ROOT)),
                             waivers).summary()
    return {"command": f"make regress SEEDS={s['seeds']}", "base_seed": s["base_seed"],
            "runs": s["runs"], "runs_passed": s["runs_passed"], "test_cases": s["cases"],
            "test_cases_passed": s["cases_passed"], "wall_s": s["wall_s"],
            "runs_per_hour": s["runs_per_hour"], "commit": s["versions"].get("commit"),
            "code_coverage_waived": code["overall"], "code_coverage_raw": code["raw"],
            "code_coverage_per_module": code["modules"], "waivers": len(waivers),
            "functional_coverage_percent": (s["functional_coverage"] or {}).get("percent")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--nightly", type=Path, help="summary.json of a `make regress` run to keep")
    ap.add_argument("--ci-coverage-job", type=Path,
                    help="JSON with the measured time CI's coverage job adds (kept as is)")
    ap.add_argument("--no-throughput", action="store_true",
                    help="keep the throughput figures already recorded; only add --nightly / "
                         "--ci-coverage-job")
    args = ap.parse_args()
    record = args.seeds >= 50
    out = (ROOT / "bench" / "results" if record else ROOT / "build" / "bench") / "regress.json"
    work = ROOT / "build" / "bench" / "regress"
    results: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                               "reproduce": "python bench/bench_regress.py (make regress "
                                            "SEEDS=50 TESTS=<workload> BUILDS=default [COV=0])",
                               "throughput": {}}
    old = json.loads(out.read_text()) if out.exists() else {}
    if args.no_throughput:
        results = old or results
    else:
        for name in WORKLOADS:
            for cov in (False, True):
                results["throughput"][f"{name}{'_cov' if cov else ''}"] = measure(
                    name, args.seeds, cov, work)
    for key in ("nightly_50_seeds", "ci_coverage_job"):  # measured separately: kept
        if key in old and key not in results:
            results[key] = old[key]
    if args.nightly:
        results["nightly_50_seeds"] = nightly(args.nightly)
    if args.ci_coverage_job:
        results["ci_coverage_job"] = json.loads(args.ci_coverage_job.read_text())
    write_results(results, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
