# SPDX-License-Identifier: MIT
"""Benchmark of the downtime model's pricing: how its time grows with records, VQs, devices and
guest RAM, and the 256 devices x 64 VQs at 4 TiB point against its one-second limit.

Run from the repository root::

    python bench/bench_downtime.py            # writes bench/results/downtime.json
    python bench/bench_downtime.py --quick    # fewer repeats

The traces are a synthetic load, not a migration: per device and window they hold what makes
pricing work (per-VQ ioctls and firmware rounds, serial VQ creation, region builds of one
direct key per GiB with their MTT entries, pins, CVQ commands) in the amounts the flows of
migration-sequence.md produce for that many VQs and that much RAM, so the figures show how the
scheduler scales. The downtimes they give mean nothing. Identical devices are either written
out (``devices``) or stood for by one device with ``copies``, as the flows will do.

This is a script, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "model"))

from results_file import machine, write_results  # noqa: E402
from vdpa_model.downtime.analysis import evaluate  # noqa: E402
from vdpa_model.downtime.profile import load_profile  # noqa: E402
from vdpa_model.downtime.scheduler import PriceOptions  # noqa: E402
from vdpa_model.trace import Layer, Trace, read_jsonl  # noqa: E402

GiB = 1 << 30
TiB = 1 << 40
LIMIT_S = 1.0


def _region(t: Trace, gib: int) -> None:
    with t.span(Layer.IOCTL, "VHOST_IOTLB_BATCH_END"), t.span(Layer.OP, "set_map", asid=0):
        g = t.new_group()
        for _ in range(gib):
            t.add(Layer.FW, "mkey_create", group=g, entries=GiB // 4096, keys=1)
        t.add(Layer.FW, "mr_indirect_create", keys=gib)


def _round(t: Trace, op: str, kind: str, vqs: int) -> None:
    with t.span(Layer.IOCTL, f"LOAD_{op.upper()}"), t.span(Layer.OP, op, vqs=vqs):
        g = t.new_group()
        for _ in range(vqs):
            t.add(Layer.FW, kind, group=g, vqs=1)


def load_trace(devices: int, vqs: int, ram: int, region_builds: int = 2) -> Trace:
    """The synthetic load of ``devices`` source/destination pairs (see the module docstring)."""
    t = Trace()
    gib = max(1, ram // GiB)
    for d in range(devices):
        src, dst = f"src{d}", f"dst{d}"
        for phase in ("A", "B"):
            with t.in_phase(f"{phase}1", src):
                _round(t, "suspend", "vq_modify", vqs)
                _round(t, "suspend", "vq_query", vqs)
            with t.in_phase(f"{phase}3", src):
                for _ in range(vqs):
                    with t.span(Layer.IOCTL, "VHOST_GET_VRING_BASE"), t.span(Layer.OP, "get_vq_state"):
                        t.add(Layer.FW, "vq_query", vqs=1)
            with t.in_phase(f"{phase}5", src), t.span(Layer.IOCTL, "VHOST_VDPA_SET_STATUS"), \
                    t.span(Layer.OP, "compat_reset"):
                for _ in range(vqs):
                    t.add(Layer.FW, "vq_destroy", vqs=1)
                for _ in range(vqs):
                    t.add(Layer.FW, "vq_create", vqs=1, qsize=256)
            with t.in_phase(f"{phase}6", src), t.span(Layer.IOCTL, "VHOST_IOTLB_BATCH_END"):
                t.add(Layer.HOST, "unpin", pages=ram // 4096, page_size=4096)
            for _ in range(region_builds):
                with t.in_phase(f"{phase}2", src):
                    _region(t, gib)
        with t.in_phase("C4.1.4", dst):
            t.add(Layer.HOST, "pin", pages=ram // 4096, page_size=4096)
            _region(t, gib)
        with t.in_phase("C4.2.4", dst):
            for _ in range(vqs):
                for name in ("VHOST_SET_VRING_NUM", "VHOST_SET_VRING_BASE", "VHOST_SET_VRING_ADDR"):
                    with t.span(Layer.IOCTL, name):
                        t.add(Layer.OP, name.lower())
        with t.in_phase("C4.2.9", dst):
            _round(t, "set_status", "vq_modify", 2)
        with t.in_phase("C4.2.10", dst):
            g = t.new_group()
            for _ in range(3):
                with t.span(Layer.HOST, "cvq_command", group=g, cmds=1), t.span(Layer.OP, "kick_vq"), \
                        t.span(Layer.FW, "cvq_command"):
                    g2 = t.new_group()
                    for _ in range(vqs - 2):
                        t.add(Layer.FW, "vq_modify", group=g2, vqs=1)
        with t.in_phase("C4.2.11", dst):
            for _ in range(vqs):
                t.add(Layer.IOCTL, "VHOST_VDPA_SET_VRING_ENABLE")
    return t


def best_of(fn: Any, repeats: int) -> tuple[float, float, Any]:
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and points")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "downtime.json")
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else 5
    prof = load_profile("mlx5-cx6dx")
    rows: list[dict[str, Any]] = []

    def point(series: str, devices: int, vqs: int, ram: int, copies: int = 1, dedup: bool = True,
              builds: int = 2) -> None:
        tr = load_trace(devices, vqs, ram, builds)
        opts = PriceOptions(copies={"src0": copies, "dst0": copies} if copies > 1 else {}, dedup=dedup)
        best, med, res = best_of(lambda: evaluate(tr.records, prof, options=opts, ram_copy=0.3), repeats)
        rows.append({"series": series, "devices": devices * copies, "devices_in_trace": devices,
                     "vqs": vqs, "ram_gib": ram // GiB, "region_builds": builds, "records": len(tr.records),
                     "dedup": dedup, "sections_scheduled": res.priced_sections, "best_s": best,
                     "median_s": med, "us_per_record": 1e6 * best / max(1, len(tr.records))})
        print(f"  {series:<10} {devices * copies:>4} dev ({devices:>3} in trace) {vqs:>4} VQs "
              f"{ram // GiB:>5} GiB {builds:>4} builds {len(tr.records):>9,} records  "
              f"{res.priced_sections:>4} sections  "
              f"best {best:8.4f} s  median {med:8.4f} s")

    print(f"vdpa-dv downtime pricing benchmark ({platform.platform()}, Python {platform.python_version()})")
    for vqs in ((4, 64, 256) if args.quick else (4, 16, 64, 256)):
        point("vqs", 1, vqs, 128 * GiB)
    for ram in ((128 * GiB, 4 * TiB) if args.quick else (16 * GiB, 128 * GiB, 1 * TiB, 4 * TiB)):
        point("ram", 1, 64, ram)
    for devices in ((1, 16) if args.quick else (1, 4, 16, 64)):
        point("devices", devices, 64, 128 * GiB, dedup=True)
        point("nodedup", devices, 64, 128 * GiB, dedup=False)
    point("copies", 1, 64, 4 * TiB, copies=256)
    target = rows[-1]
    # upstream QEMU's stop-and-copy rebuilds the whole region at each of 2 x VQs ring unmaps (B2,
    # B4; migration-sequence.md §7 item 2): one record per direct key, so records grow with both
    for vqs in ((4,) if args.quick else (4, 16, 64)):
        point("rebuilds", 1, vqs, 4 * TiB, copies=256, builds=2 * vqs + 2)

    # reading a trace file is part of a run from the command line
    tr = load_trace(1, 64, 4 * TiB)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.jsonl"
        t0 = time.perf_counter()
        tr.write_jsonl(path)
        write_s = time.perf_counter() - t0
        read_s, _, _ = best_of(lambda: read_jsonl(path), repeats)
        size = path.stat().st_size
    io = {"records": len(tr.records), "bytes": size, "write_s": write_s, "read_best_s": read_s}
    print(f"  trace file of 1 device pair x 64 VQs at 4 TiB: {len(tr.records):,} records, "
          f"{size / 1e6:.1f} MB, write {write_s:.3f} s, read {read_s:.3f} s")
    met = target["best_s"] < LIMIT_S
    print(f"  256 devices x 64 VQs at 4 TiB (one pair, copies=256): best {target['best_s']:.4f} s, "
          f"median {target['median_s']:.4f} s, limit {LIMIT_S:.1f} s on one core: "
          f"{'met' if met else 'MISSED'}")

    results = {
        "points": rows,
        "target": {"what": "256 devices x 64 VQs at 4 TiB, one device pair priced, copies=256, "
                           "two region builds per window",
                   "limit_s": LIMIT_S, "best_s": target["best_s"], "median_s": target["median_s"],
                   "met": met},
        "trace_file": io,
        "machine": machine(),
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python bench/bench_downtime.py" + (" --quick" if args.quick else ""),
        "method": {"repeats": repeats, "statistic": "best and median of repeats, wall clock, one process"},
    }
    write_results(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
