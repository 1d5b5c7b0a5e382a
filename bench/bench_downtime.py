# SPDX-License-Identifier: MIT
"""Benchmark of a downtime prediction end to end: a scenario through the migration flows on the
reference device, then priced. How the time grows with guest RAM, devices and VQs, for upstream
QEMU and everything on, and the 4 TiB / 256 devices x 64 VQs point against its one-second limit.

Run from the repository root::

    python bench/bench_downtime.py            # writes bench/results/downtime.json
    python bench/bench_downtime.py --quick    # one repeat

Each point is one scenario in one configuration: the flows run one NIC of the scenario's shape
(``flows``: boot, Flow A, C 4.1, Flow B, C 4.2 with guest traffic and every check), and the
trace is priced with the mlx5-cx6dx profile, the NIC standing for every device (``pricing``).
The process is pinned to one CPU where the OS allows it. This is a script, not a test: nothing
here asserts a speed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "model"))

from results_file import machine, write_results  # noqa: E402
from vdpa_model.downtime.predict import Prediction, predict  # noqa: E402
from vdpa_model.downtime.profile import load_profile  # noqa: E402
from vdpa_model.downtime.scenario import Scenario, load_scenario  # noqa: E402
from vdpa_model.switches import PRESETS, STAIRCASE  # noqa: E402

GiB = 1 << 30
TiB = 1 << 40
LIMIT_S = 1.0
CONFIGS = ("upstream", "all-on")


def pin_one_cpu() -> str:
    """Run on one CPU (the limit is "on one core"); say which, or why not."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def shape(base: Scenario, ram: int, devices: int, vqs: int, preset: str) -> Scenario:
    sc = dataclasses.replace(base, name=f"{ram // GiB}GiB-{devices}x{vqs}", ram=ram, devices=devices,
                             queue_pairs=vqs // 2, max_queue_pairs=vqs // 2)
    return sc.with_preset(preset)


def best_of(sc: Scenario, repeats: int) -> tuple[float, float, Prediction]:
    prof = load_profile("mlx5-cx6dx")
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        p = predict(sc, prof)
        runs.append((time.perf_counter() - t0, p))
    best = min(runs, key=lambda r: r[0])
    return best[0], statistics.median(t for t, _ in runs), best[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat per point")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "downtime.json")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else 3
    cpu = pin_one_cpu()
    base = load_scenario("talk-128g")
    rows: list[dict[str, Any]] = []

    def point(series: str, ram: int, devices: int, vqs: int, preset: str) -> dict[str, Any]:
        best, med, p = best_of(shape(base, ram, devices, vqs, preset), repeats)
        row = {"series": series, "preset": preset, "ram_gib": ram // GiB, "devices": devices, "vqs": vqs,
               "records": len(p.records), "flows_s": p.flows_s, "pricing_s": p.pricing_s,
               "best_s": best, "median_s": med,
               "downtime2_ms": p.result.downtime2 * 1e3}
        rows.append(row)
        print(f"  {series:<8} {preset:<9} {ram // GiB:>5} GiB {devices:>4} dev x {vqs:>3} VQs "
              f"{len(p.records):>7,} records  flows {p.flows_s:7.3f} s  pricing {p.pricing_s:7.3f} s  "
              f"best {best:7.3f} s  median {med:7.3f} s")
        return row

    print(f"vdpa-dv downtime benchmark: scenario -> flows -> priced ({machine()['platform']}, "
          f"Python {machine()['python']}, {cpu})")
    for preset in CONFIGS:
        for ram in ((16 * GiB, 4 * TiB) if args.quick else (16 * GiB, 128 * GiB, 1 * TiB, 4 * TiB)):
            point("ram", ram, 1, 64, preset)
        for devices in ((1, 256) if args.quick else (1, 16, 256)):
            point("devices", 128 * GiB, devices, 64, preset)
        for vqs in ((4, 64) if args.quick else (4, 16, 64)):
            point("vqs", 128 * GiB, 1, vqs, preset)
    targets = [point("target", 4 * TiB, 256, 64, preset) for preset in CONFIGS]

    staircases = []
    prof = load_profile("mlx5-cx6dx")
    for name in ("talk-128g", "talk-256g"):
        sc = load_scenario(name)
        t0 = time.perf_counter()
        preds = [predict(sc.with_preset(step), prof) for step in STAIRCASE]
        wall = time.perf_counter() - t0
        staircases.append({"scenario": name, "configurations": len(preds), "wall_s": wall,
                           "slowest_s": max(p.flows_s + p.pricing_s for p in preds)})
        print(f"  staircase {name}: {len(preds)} configurations in {wall:.3f} s "
              f"(slowest {staircases[-1]['slowest_s']:.3f} s)")
    for t in targets:
        print(f"  4 TiB, 256 devices x 64 VQs, {t['preset']}: best {t['best_s']:.3f} s, median "
              f"{t['median_s']:.3f} s, limit {LIMIT_S:.1f} s on one core: "
              f"{'met' if t['best_s'] < LIMIT_S else 'MISSED'}")

    results = {
        "points": rows,
        "target": {"what": "a 4 TiB guest with 256 devices x 64 VQs, 4 KiB pages, through the flows "
                           "and priced, per configuration", "limit_s": LIMIT_S,
                   "configurations": {t["preset"]: {"best_s": t["best_s"], "median_s": t["median_s"],
                                                    "met": t["best_s"] < LIMIT_S} for t in targets}},
        "staircases": staircases,
        "presets": {name: list(PRESETS[name].enabled()) for name in CONFIGS},
        "machine": {**machine(), "cpu": cpu},
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python bench/bench_downtime.py" + (" --quick" if args.quick else ""),
        "method": {"repeats": repeats, "statistic": "best and median of repeats, wall clock, one process"},
    }
    write_results(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
