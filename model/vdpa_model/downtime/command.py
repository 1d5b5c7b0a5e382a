# SPDX-License-Identifier: MIT
"""``vdpa-dv downtime``: price op traces, print the breakdown, check budgets, write JSON and PNGs.

Takes one or more trace files (``--trace [LABEL=]FILE``, JSON lines of :mod:`vdpa_model.trace`);
several traces of the same VM under cumulative presets make the optimisation staircase. Running
from a scenario file needs the migration flows (issue 6) and is not offered yet.

Exit status: 0 when every budget holds, 1 when one breaks (its breakdown is printed), 2 when an
input file is wrong (the message names file, line and key).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..trace import TraceFormatError, read_jsonl
from .analysis import compare, evaluate, render_comparison, render_sensitivity, sensitivity
from .budget import DEFAULT_BUDGETS, check_all, load_budgets, render_checks
from .profile import load_profile
from .report import MS, render, render_staircase
from .scheduler import PriceOptions
from .tomlfile import InputError

DEFAULT_PROFILE = "mlx5-cx6dx"


def _trace_arg(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if sep and "/" not in label and label:
        return label, Path(path)
    return Path(text).stem, Path(text)


def _key_value(text: str, what: str, conv: type[int] | type[float]) -> tuple[str, Any]:
    key, sep, value = text.rpartition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{what}: expected KEY=VALUE, got {text!r}")
    try:
        return key, conv(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}: {value!r} is not a number") from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("downtime", help="price migration op traces: downtimes, breakdown, budgets, charts",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trace", action="append", type=_trace_arg, required=True, metavar="[LABEL=]FILE",
                   help="an op trace (JSON lines); repeat for a staircase, in step order")
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"cost profile: a shipped name or a .toml file (default {DEFAULT_PROFILE})")
    p.add_argument("--budgets", type=Path, default=DEFAULT_BUDGETS,
                   help="budgets file (default: the talk's, data/budgets/talk.toml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   type=lambda s: _key_value(s, "--set", float),
                   help="override a profile value by key, in the profile's unit "
                        "(e.g. fw.vq_destroy.fixed=5000)")
    p.add_argument("--copies", action="append", default=[], metavar="DEVICE=N",
                   type=lambda s: _key_value(s, "--copies", int),
                   help="the device's records stand for N identical devices")
    p.add_argument("--ram-copy-ms", type=float, default=300.0,
                   help="final RAM and device-state copy inside the window (default 300: QEMU's "
                        "default downtime limit, H5)")
    p.add_argument("--probe-interval-ms", type=float, default=None,
                   help="also report the guest-visible downtime as a prober with this interval sees it (H6)")
    p.add_argument("--mode", choices=("priced", "measured"), default="priced",
                   help="measured: replay the trace's own times and cycles where it has them")
    p.add_argument("--measured-clock-mhz", type=float, default=None,
                   help="clock of measured cycles (default: the profile's clock)")
    p.add_argument("--compare", action="store_true", help="print measured versus priced per phase")
    p.add_argument("--sensitivity", type=float, nargs="?", const=2.0, default=None, metavar="FACTOR",
                   help="print how each assumed profile value moves the downtimes "
                        "(/ and x FACTOR, default 2)")
    p.add_argument("--out", type=Path, default=Path("build/downtime"),
                   help="directory for downtime.json and the PNGs (default build/downtime)")
    p.add_argument("--no-charts", action="store_true", help="skip the PNGs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile, dict(args.set))
        budgets = load_budgets(args.budgets)
        traces = []
        for label, path in args.trace:
            try:
                traces.append((label, read_jsonl(path)))
            except OSError as e:
                raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
        opts = PriceOptions(mode=args.mode, copies=dict(args.copies),
                            measured_clock_mhz=args.measured_clock_mhz)
        t0 = time.perf_counter()
        results = [evaluate(recs, profile, label=label, options=opts, ram_copy=args.ram_copy_ms / MS,
                            probe_interval=args.probe_interval_ms / MS if args.probe_interval_ms else None)
                   for label, recs in traces]
        elapsed = time.perf_counter() - t0
        comparisons = ({label: compare(recs, profile, options=opts) for label, recs in traces}
                       if args.compare else {})
        sens = ({label: sensitivity(recs, profile, factor=args.sensitivity, options=opts,
                                    ram_copy=args.ram_copy_ms / MS) for label, recs in traces}
                if args.sensitivity else {})
    except (InputError, TraceFormatError) as e:
        print(f"vdpa-dv downtime: {e}", file=sys.stderr)
        return 2

    print(f"vdpa-dv downtime: profile {profile.name} ({profile.path}), {len(results)} trace(s) priced "
          f"in {elapsed:.3f} s")
    for r in results:
        print(render(r))
    if len(results) > 1:
        print("staircase:")
        print(render_staircase(results))
    for label, rows in comparisons.items():
        print(f"measured versus priced, {label}:")
        print(render_comparison(rows))
    for label, srows in sens.items():
        print(f"{label}: " + render_sensitivity(srows, profile))
    checks = {r.label: check_all(budgets, r) for r in results}
    broken = False
    for r in results:
        print(render_checks(checks[r.label], r))
        broken |= not all(c.ok for c in checks[r.label])

    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "profile": {"name": profile.name, "file": str(profile.path), "overrides": profile.overrides},
        "results": [r.to_json() for r in results],
        "budgets": {label: [{"name": c.budget.name, "what": c.budget.what, "per": c.budget.per,
                             "phase": c.budget.phase, "limit_ms": c.budget.limit * MS,
                             "value_ms": None if c.value is None else c.value * MS, "worst": c.at,
                             "ok": c.ok, "broken_at": [[w, v * MS] for w, v in c.broken_at]}
                            for c in cs] for label, cs in checks.items()},
        "comparison": {label: [{"device": c.device, "window": c.window, "phase": c.phase,
                                "measured_ms": c.measured * MS, "priced_ms": c.priced * MS,
                                "difference": c.difference} for c in rows]
                       for label, rows in comparisons.items()},
        "sensitivity": {label: [{"key": s.key, "default": s.value, "factor": s.factor,
                                 "downtime1": s.downtime1, "downtime2": s.downtime2,
                                 "guest_visible": s.guest_visible} for s in srows]
                        for label, srows in sens.items()},
    }
    out_json = args.out / "downtime.json"
    out_json.write_text(json.dumps(doc, indent=2) + "\n")
    written = [out_json]
    if not args.no_charts:
        from . import charts

        # per-VM limits only: the chart shows VM figures (downtime #2 is summed over devices)
        lines = [(b.name, b.limit * MS) for b in budgets if b.per == "vm" and b.what != "phase"]
        title = f"profile {profile.name}"
        written.append(charts.staircase(results, args.out / "staircase.png", title, lines))
        written.append(charts.phase_bars(results, args.out / "phases.png", title))
    print("wrote " + ", ".join(str(w) for w in written))
    print(f"verdict: {'BUDGET BROKEN' if broken else 'all budgets hold'}")
    return 1 if broken else 0
