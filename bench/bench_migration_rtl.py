# SPDX-License-Identifier: MIT
"""Benchmark of the live migrations on the RTL pair: how long each takes to simulate.

Run from the repository root (``make migrate-rtl`` does)::

    python bench/bench_migration_rtl.py          # writes bench/results/rtl_migration.json

It runs tests/rtl/test_migration_rtl.py for every configuration (the cumulative presets and the
mixed ones, VDPA_MIGRATION_PRESETS=all) on two workers, as CI's two cores would, then prints
for each the wall and CPU time of its simulation (start to end, the build excluded) beside the
limit of issue 6 (under a minute a run on two cores), the simulated cycles, the network gap
and the step-by-step tables (build/migration-rtl/). A run that fails fails the benchmark.

This is a script, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from results_file import machine, write_results  # noqa: E402

LIMIT_S = 60.0
OUT = ROOT / "build" / "migration-rtl"


def main() -> int:
    env = {**os.environ, "VDPA_MIGRATION_PRESETS": "all"}
    load0 = os.getloadavg()
    r = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider",
                        "tests/rtl/test_migration_rtl.py"], cwd=ROOT, env=env)
    runs = {}
    for path in sorted(OUT.glob("rtl-*.json")):
        s = json.loads(path.read_text())
        if "run_seconds" not in s:
            continue
        runs[s["label"]] = {k: s[k] for k in ("switches", "ok", "run_seconds", "run_cpu_seconds",
                                              "wall_seconds", "simulated_cycles",
                                              "network_gap_cycles")}
        runs[s["label"]]["limit_seconds"] = LIMIT_S
    print(f"\n{'configuration':<34}{'run s':>8}{'cpu s':>8}{'limit s':>9}{'cycles':>12}"
          f"{'gap cycles':>12}")
    for label, v in runs.items():
        print(f"{label:<34}{v['run_seconds']:>8}{v['run_cpu_seconds']:>8}{LIMIT_S:>9g}"
              f"{v['simulated_cycles']:>12,}{v['network_gap_cycles'] or 0:>12,}")
    worst = max((v["run_seconds"] for v in runs.values()), default=0.0)
    print(f"slowest run {worst} s against the {LIMIT_S:g} s limit; machine load "
          f"{load0[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    write_results({"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                   "machine": machine(), "workers": 2,
                   "load_before": load0[0], "load_after": os.getloadavg()[0],
                   "slowest_run_seconds": worst, "limit_seconds": LIMIT_S, "runs": runs},
                  ROOT / "bench" / "results" / "rtl_migration.json")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
