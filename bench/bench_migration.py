# SPDX-License-Identifier: MIT
"""Benchmark of the migration flows on the reference device: time per device, trace size.

Run from the repository root::

    python bench/bench_migration.py            # writes bench/results/migration.json
    python bench/bench_migration.py --quick    # one repeat

Each figure is the wall time of Flows A, C 4.1, B and C 4.2 of one NIC (the source and the
destination device; guest traffic off, so only the flows are timed), median of the repeats,
printed beside its limit: well under a second per device for any guest size. The shapes are the
talk's (128 GiB, 4 KiB pages with THP, 4 data VQs), a 4 TiB guest in 4 KiB runs (THP off), with
THP and 1 % of its 2 MiB regions left in 4 KiB pages (every 1 GiB key's unit computed, not one
for all), and in 1 GiB pages, and the largest device (32 queue pairs: 64 data VQs) at 4 TiB: a
VM of 256 such NICs is priced from one NIC's trace times 256, since NICs of one shape leave
identical traces.

This is a script, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "model"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_model import machine, write_results  # noqa: E402
from vdpa_model.hostmem import HostMemory  # noqa: E402
from vdpa_model.memory import GiB, KiB  # noqa: E402
from vdpa_model.migration import Migration, MigrationSetup  # noqa: E402
from vdpa_model.ramlayout import RamLayout  # noqa: E402
from vdpa_model.switches import PRESETS  # noqa: E402
from vdpa_model.sync import run  # noqa: E402

LIMIT_S = 1.0  # per device, for any guest size (issue 6)

SHAPES = [
    ("128 GiB, 4 KiB pages + THP, 4 QPs", RamLayout(128 * GiB), 4),
    ("4 TiB, 4 KiB runs (THP off), 4 QPs", RamLayout(4096 * GiB, host=HostMemory(thp=False)), 4),
    ("4 TiB, THP, 1 % fallback, 4 QPs", RamLayout(4096 * GiB, host=HostMemory(thp_fallback=0.01)), 4),
    ("4 TiB, 1 GiB pages, 4 QPs", RamLayout(4096 * GiB, GiB), 4),
    ("4 TiB, 4 KiB runs (THP off), 32 QPs (64 VQs)", RamLayout(4096 * GiB, host=HostMemory(thp=False)), 32),
]


def one(layout: RamLayout, qps: int, preset: str) -> tuple[float, int, bool]:
    """Seconds of the four flows of one NIC, the records its trace holds, and the verdict."""
    setup = MigrationSetup(layout=layout, queue_pairs=qps, switches=PRESETS[preset], traffic=False)
    result = run(Migration(setup).run())
    return sum(result.timings.values()), len(result.trace.records), result.report.ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "migration.json")
    args = ap.parse_args(argv)
    repeats = 1 if args.quick else 5
    rows: list[dict[str, Any]] = []
    print(f"vdpa-dv migration flows benchmark ({platform.platform()}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs), limit {LIMIT_S:.1f} s per device")
    print(f"  {'shape':<38} {'preset':<10} {'per device':>11} {'limit':>7} {'records':>9}  verdict")
    for label, layout, qps in SHAPES:
        for preset in ("upstream", "all-on"):
            times, records, ok = [], 0, True
            for _ in range(repeats):
                t, records, good = one(layout, qps, preset)
                times.append(t)
                ok = ok and good
            med = statistics.median(times)
            rows.append({"shape": label, "ram_bytes": layout.size, "page_size": layout.page_size,
                         "queue_pairs": qps, "preset": preset, "median_s": med, "best_s": min(times),
                         "limit_s": LIMIT_S, "within_limit": med < LIMIT_S, "records": records,
                         "checks_passed": ok})
            print(f"  {label:<38} {preset:<10} {med * 1e3:>9.1f} ms {LIMIT_S:>5.1f} s {records:>9,}  "
                  f"{'checks pass' if ok else 'CHECKS FAIL'}")
    result = {
        "per_device": rows,
        "method": {"repeats": repeats, "statistic": "median", "timed": "Flows A, C 4.1, B, C 4.2 of "
                   "one NIC (source + destination device), no guest traffic",
                   "page_sizes_bytes": [4 * KiB, GiB]},
        "machine": machine(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python bench/bench_migration.py" + (" --quick" if args.quick else ""),
    }
    write_results(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
