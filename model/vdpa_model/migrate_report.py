# SPDX-License-Identifier: MIT
"""``vdpa-dv migrate``: a migration on the reference model, its checks, its steps, its trace.

Prints the configuration, one line per check, the per-step table of the first traced source
and destination device (ioctls, ops, firmware work, host work, region builds, VQ commands per
step id) and the wall time of each flow per device; writes the trace as JSON lines and a
summary (configuration, step tables, checks, timings, device count) as JSON, both under
``--out`` (``build/`` by default). NICs of one shape leave identical traces, so by default
only the first NIC is traced (``--trace-devices``); the summary says how many there are.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from .flows import FlowError
from .hostmem import HostMemory
from .migration import TABLE_COLUMNS, Migration, MigrationResult, MigrationSetup
from .options import Parent
from .ramlayout import MACHINES, LayoutError, RamLayout, parse_size
from .switches import PRESETS, SwitchError, parse_switches
from .sync import run


def add_migrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--switches", "--preset", dest="switches", default="upstream", metavar="SPEC",
                   help="a preset (" + ", ".join(PRESETS) + ") and/or switches: "
                        "'all-on,-parallel_mkey', 'desc_group_asid,persistent_iotlb', "
                        "'upstream,fw_resumable=off' (default: upstream)")
    p.add_argument("--parent", choices=[x.value for x in Parent], default=Parent.MLX5.value)
    p.add_argument("--ram", default="128G", help="guest RAM (default 128G)")
    p.add_argument("--page-size", default="4K",
                   help="memory backend page size: 4K (anonymous memory), 2M or 1G (hugetlbfs); default 4K")
    p.add_argument("--thp", choices=("on", "off"), default="on" if HostMemory().thp else "off",
                   help="transparent huge pages back 4K-page guest RAM: 2 MiB runs (on, the default), "
                        "or every 4 KiB page its own run (off)")
    p.add_argument("--thp-fallback", type=float, default=HostMemory().thp_fallback, metavar="SHARE",
                   help="share (0-1) of the 2 MiB regions THP could not back (default 0)")
    p.add_argument("--machine", choices=MACHINES, default="q35")
    p.add_argument("--devices", type=int, default=2, help="vhost-vdpa NICs (default 2)")
    p.add_argument("--queue-pairs", type=int, default=None,
                   help="provisioned queue pairs per NIC (default 4; the sim parent has 1)")
    p.add_argument("--active-pairs", type=int, default=None, help="queue pairs the guest uses")
    p.add_argument("--queue-size", type=int, default=256)
    p.add_argument("--vlans", default="100,200", help="the guest's VLAN ids, comma separated")
    p.add_argument("--no-traffic", action="store_true", help="no guest traffic around the flows")
    p.add_argument("--trace-devices", type=int, default=1,
                   help="NICs whose devices are traced (default 1: identical NICs, identical traces)")
    p.add_argument("--out", type=Path, default=Path("build"), help="directory for the trace and summary")
    p.add_argument("--name", default=None, help="file name stem (default: from the switches)")
    p.add_argument("--seed", type=int, default=1)


def _setup(args: argparse.Namespace) -> MigrationSetup:
    parent = Parent(args.parent)
    host = HostMemory(args.thp == "on", args.thp_fallback)
    layout = RamLayout(parse_size(args.ram, "--ram"), parse_size(args.page_size, "--page-size"),
                       args.machine, host)
    try:
        vlans = tuple(int(v) for v in args.vlans.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--vlans {args.vlans!r}: not a comma-separated list of ids") from None
    qps = args.queue_pairs or (4 if parent is Parent.MLX5 else 1)
    return MigrationSetup(parent=parent, devices=args.devices, queue_pairs=qps,
                          active_pairs=args.active_pairs, queue_size=args.queue_size, layout=layout,
                          switches=parse_switches(args.switches), vlans=vlans,
                          traffic=not args.no_traffic, seed=args.seed,
                          trace_devices=args.trace_devices or None)


def summary(result: MigrationResult, wall: float) -> dict[str, Any]:
    s = result.setup
    return {
        "switches": list(s.switches.enabled()), "fw_resumable": s.switches.fw_resumable,
        "parent": s.parent.value, "ram_bytes": s.layout.size, "page_size": s.layout.page_size,
        "thp": s.layout.host.thp, "thp_fallback": s.layout.host.thp_fallback,
        "machine": s.layout.machine, "devices": s.devices, "queue_pairs": s.queue_pairs,
        "queue_size": s.queue_size, "traced_devices": result.traced,
        "note": "NICs of one shape leave identical traces: price the traced NIC's records "
                "devices times",
        "steps": {dev: {step: dict(zip([h for h, _ in TABLE_COLUMNS], vals, strict=True))
                        for step, vals in result.step_table(dev)} for dev in result.traced},
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in result.report.checks],
        "timings_s": {f"{flow}/{dev}": t for (flow, dev), t in result.timings.items()},
        "wall_s": wall,
    }


def migrate_command(args: argparse.Namespace) -> int:
    try:
        setup = _setup(args)
        t0 = time.perf_counter()
        result = run(Migration(setup).run())
        wall = time.perf_counter() - t0
    except (SwitchError, LayoutError, ValueError, FlowError) as e:
        print(f"vdpa-dv migrate: {e}", file=sys.stderr)
        return 2
    s = setup
    print(f"vdpa-dv migrate: {s.switches.describe()} on {s.parent.value}, {s.devices} NIC(s) x "
          f"{s.queue_pairs} queue pairs, {args.ram} guest RAM in "
          f"{s.layout.host.describe(s.layout.page_size)} ({len(s.layout.sections())} RAM sections)")
    print(result.report.render())
    for dev in result.traced[:1] + [d for d in result.traced if d.startswith("dst")][:1]:
        print(f"\n{dev}: work per step (fw counts units of firmware work; MTT = translation entries)")
        print(result.render_table(dev))
    per_dev: dict[str, float] = {}
    for (_flow, dev), t in result.timings.items():
        per_dev[dev] = per_dev.get(dev, 0.0) + t
    print("\nwall time per device (s): " + ", ".join(f"{d} {t:.3f}" for d, t in per_dev.items())
          + f"; whole run {wall:.2f} s")
    name = args.name or re.sub(r"[^A-Za-z0-9_.+-]+", "_", args.switches).strip("_") or "migrate"
    args.out.mkdir(parents=True, exist_ok=True)
    trace_path = args.out / f"migrate-{name}.jsonl"
    result.trace.write_jsonl(trace_path)
    (args.out / f"migrate-{name}.json").write_text(json.dumps(summary(result, wall), indent=1) + "\n")
    print(f"trace: {trace_path} ({len(result.trace.records):,} records of {', '.join(result.traced)}); "
          f"summary: {args.out / f'migrate-{name}.json'}")
    return 0 if result.report.ok else 1
