# SPDX-License-Identifier: MIT
"""``vdpa-dv downtime``: price migrations, print the breakdown, check budgets, write JSON and PNGs.

From scenarios (``--scenario NAME|FILE``, repeatable: the shipped ``talk-128g`` and ``talk-256g``
or a file): the migration flows run one NIC of the scenario's shape on the reference device, the
trace is priced with ``copies`` for the other devices, and the scenario is judged in its own
configuration (``--preset`` and ``--switch NAME=on|off`` change it); ``--staircase`` also prices
every cumulative preset from upstream QEMU to everything on.

From trace files (``--trace [LABEL=]FILE``, JSON lines of :mod:`vdpa_model.trace`): each is
priced as it is; several traces of the same VM under cumulative presets make a staircase, and a
trace a simulation measured can be replayed (``--mode measured``) or compared with its pricing.

Exit status: 0 when every budget holds (for a scenario: in its own configuration), 1 when one
breaks (its breakdown is printed), 2 when an input is wrong (the message names file, line and
key, or the switch and what it lacks).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..hostmem import HostMemoryError
from ..switches import PRESETS, SwitchError, Switches
from ..trace import TraceFormatError, TraceRecord, read_jsonl
from .analysis import compare, evaluate, render_comparison, render_sensitivity, sensitivity
from .budget import DEFAULT_BUDGETS, Check, check_all, load_budgets, render_checks
from .predict import FlowCheckError
from .profile import Profile, load_profile
from .report import MS, Result, render, render_staircase
from .scenario import load_scenario
from .scheduler import PriceOptions
from .tomlfile import InputError
from .verdict import ScenarioVerdict, judge

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


def _switch_arg(text: str) -> tuple[str, bool]:
    name, sep, value = text.partition("=")
    if not sep or value not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"--switch: expected NAME=on or NAME=off, got {text!r}")
    return name, value == "on"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("downtime", help="price migrations (scenarios or traces): downtimes, breakdown, "
                                        "budgets, charts",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--scenario", action="append", metavar="NAME|FILE",
                     help="a scenario: shipped (talk-128g, talk-256g) or a .toml file; repeatable")
    src.add_argument("--trace", action="append", type=_trace_arg, metavar="[LABEL=]FILE",
                     help="an op trace (JSON lines); repeat for a staircase, in step order")
    p.add_argument("--preset", default=None,
                   help="judge the scenarios in this preset (" + ", ".join(PRESETS) + ") instead of "
                        "their own; their files' switch settings stay on top")
    p.add_argument("--switch", action="append", default=[], type=_switch_arg, metavar="NAME=on|off",
                   help="set a switch on top of the scenario's configuration (and of every staircase step)")
    p.add_argument("--thp", choices=("on", "off"), default=None,
                   help="host memory of the scenarios: transparent huge pages back their 4 KiB-page "
                        "guest RAM (2 MiB runs) or not (every 4 KiB page its own run, the worst case); "
                        "default: the scenario's guest.thp")
    p.add_argument("--thp-fallback", type=float, default=None, metavar="SHARE",
                   help="share (0-1) of the 2 MiB regions THP could not back, left in 4 KiB pages "
                        "(default: the scenario's guest.thp_fallback)")
    p.add_argument("--staircase", action="store_true",
                   help="also price every cumulative preset of the scenarios, upstream QEMU first")
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
                   help="traces: the device's records stand for N identical devices")
    p.add_argument("--ram-copy-ms", type=float, default=None,
                   help="final RAM and device-state copy inside the window (default: the scenario's; "
                        "for traces 300, QEMU's default downtime limit, H5)")
    p.add_argument("--probe-interval-ms", type=float, default=None,
                   help="also report the guest-visible downtime as a prober with this interval sees it (H6)")
    p.add_argument("--mode", choices=("priced", "measured"), default="priced",
                   help="traces: measured replays the trace's own times and cycles where it has them")
    p.add_argument("--measured-clock-mhz", type=float, default=None,
                   help="clock of measured cycles (default: the profile's clock)")
    p.add_argument("--compare", action="store_true", help="traces: print measured versus priced per phase")
    p.add_argument("--sensitivity", type=float, nargs="?", const=2.0, default=None, metavar="FACTOR",
                   help="print how each assumed profile value moves the downtimes "
                        "(/ and x FACTOR, default 2)")
    p.add_argument("--out", type=Path, default=Path("build/downtime"),
                   help="directory for downtime.json and the PNGs (default build/downtime)")
    p.add_argument("--no-charts", action="store_true", help="skip the PNGs")
    p.set_defaults(func=run)


@dataclasses.dataclass
class _Case:
    """One priced configuration: its result, what it was priced from, and whether its budgets
    decide the exit status (a scenario's staircase steps do not)."""

    result: Result
    records: Sequence[TraceRecord]
    options: PriceOptions
    scenario: str | None = None
    judged: bool = True

    @property
    def key(self) -> str:
        return f"{self.scenario}: {self.result.label}" if self.scenario else self.result.label


def _trace_cases(args: argparse.Namespace, profile: Profile) -> list[_Case]:
    if args.preset or args.switch or args.staircase or args.thp or args.thp_fallback is not None:
        raise InputError("--preset, --switch, --staircase, --thp and --thp-fallback choose what the "
                         "flows run: they go with --scenario, not with --trace")
    ram_copy = (300.0 if args.ram_copy_ms is None else args.ram_copy_ms) / MS
    probe = args.probe_interval_ms / MS if args.probe_interval_ms else None
    opts = PriceOptions(mode=args.mode, copies=dict(args.copies), measured_clock_mhz=args.measured_clock_mhz)
    cases = []
    for label, path in args.trace:
        try:
            records = read_jsonl(path)
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
        cases.append(_Case(evaluate(records, profile, label=label, options=opts, ram_copy=ram_copy,
                                    probe_interval=probe), records, opts))
    return cases


def _scenario_verdicts(args: argparse.Namespace, profile: Profile,
                       budgets: list[Any]) -> list[ScenarioVerdict]:
    for flag, given in (("--copies", args.copies), ("--mode measured", args.mode == "measured"),
                        ("--compare", args.compare)):
        if given:
            raise InputError(f"{flag} is for traces; a scenario's copies and pricing come from its file")
    overrides = dict(args.switch)
    try:
        Switches().with_(**overrides)
    except SwitchError as e:
        raise InputError(f"--switch: {e}") from None
    out = []
    for name in args.scenario:
        sc = load_scenario(name)
        if args.ram_copy_ms is not None:
            sc = dataclasses.replace(sc, final_ram_copy_s=args.ram_copy_ms / MS)
        if args.thp is not None or args.thp_fallback is not None:
            try:
                sc = sc.with_host_memory(None if args.thp is None else args.thp == "on", args.thp_fallback)
            except HostMemoryError as e:
                raise InputError(f"--thp/--thp-fallback for scenario {sc.name}: {e}") from None
        try:
            if args.preset:
                sc = sc.with_preset(args.preset)
            out.append(judge(sc, profile, budgets, with_staircase=args.staircase, overrides=overrides))
        except SwitchError as e:
            raise InputError(f"scenario {sc.name}: {e}") from None
    return out


def run(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile, dict(args.set))
        budgets = load_budgets(args.budgets)
        t0 = time.perf_counter()
        verdicts: list[ScenarioVerdict] = []
        if args.scenario:
            verdicts = _scenario_verdicts(args, profile, budgets)
            cases = []
            for v in verdicts:
                for step in v.steps:
                    cases.append(_Case(step.result, step.records, step.options, v.scenario.name,
                                       judged=step is v.judged))
                if not any(step is v.judged for step in v.steps):
                    cases.append(_Case(v.judged.result, v.judged.records, v.judged.options, v.scenario.name))
        else:
            cases = _trace_cases(args, profile)
        elapsed = time.perf_counter() - t0
        comparisons = ({c.key: compare(c.records, profile, options=c.options) for c in cases}
                       if args.compare else {})
        sens = ({c.key: sensitivity(c.records, profile, factor=args.sensitivity, options=c.options,
                                    ram_copy=c.result.ram_copy) for c in cases if c.judged}
                if args.sensitivity else {})
    except (InputError, TraceFormatError) as e:
        print(f"vdpa-dv downtime: {e}", file=sys.stderr)
        return 2
    except FlowCheckError as e:
        print(f"vdpa-dv downtime: {e}", file=sys.stderr)
        return 3

    checks = {c.key: check_all(budgets, c.result) for c in cases}
    print(f"vdpa-dv downtime: profile {profile.name} ({profile.path}), {len(cases)} configuration(s) "
          f"priced in {elapsed:.3f} s")
    if verdicts:
        for v in verdicts:
            _print_scenario(v)
    else:
        for c in cases:
            print(render(c.result))
        if len(cases) > 1:
            print("staircase:")
            print(render_staircase([c.result for c in cases]))
        for c in cases:
            print(render_checks(checks[c.key], c.result))
    for key, rows in comparisons.items():
        print(f"measured versus priced, {key}:")
        print(render_comparison(rows))
    for key, srows in sens.items():
        print(f"{key}: " + render_sensitivity(srows, profile))
    broken = any(not all(ch.ok for ch in checks[c.key]) for c in cases if c.judged)

    args.out.mkdir(parents=True, exist_ok=True)
    out_json = args.out / "downtime.json"
    out_json.write_text(json.dumps(_document(profile, cases, checks, verdicts, comparisons, sens), indent=2)
                        + "\n")
    written = [out_json]
    if not args.no_charts:
        written += _charts(args.out, profile, budgets, cases, verdicts)
    print("wrote " + ", ".join(str(w) for w in written))
    print(f"verdict: {'BUDGET BROKEN' if broken else 'all budgets hold'}")
    return 1 if broken else 0


def _print_scenario(v: ScenarioVerdict) -> None:
    sc = v.scenario
    print(f"\nscenario {sc.name}: {sc.description or sc.path}")
    print(f"  {sc.devices} device(s) x {sc.data_vqs} data VQs ({sc.max_queue_pairs} queue pairs "
          f"provisioned), one NIC run through the flows and priced for all; judged in "
          f"{v.judged.label} ({v.judged.scenario.switches.describe()}); "
          f"{len(v.steps) or 1} configuration(s) in {v.seconds:.3f} s")
    print(f"  guest RAM {sc.ram / (1 << 30):g} GiB, host memory: {sc.host.describe(sc.page_size)}")
    if v.steps:
        print("  staircase (cumulative presets; budgets per step):")
        print("\n".join(v.staircase_lines()))
        first = v.first_holding
        print(f"  budgets hold from step {first} on" if first else
              "  budgets hold at no step of the staircase")
    print(render(v.judged.result))
    print(render_checks(v.checks, v.judged.result))


def _document(profile: Profile, cases: Sequence[_Case], checks: dict[str, list[Check]],
              verdicts: Sequence[ScenarioVerdict], comparisons: dict[str, Any],
              sens: dict[str, Any]) -> dict[str, Any]:
    return {
        "profile": {"name": profile.name, "file": str(profile.path), "overrides": profile.overrides},
        "scenarios": [{"name": v.scenario.name, "file": str(v.scenario.path), "judged": v.judged.label,
                       "switches": list(v.judged.scenario.switches.enabled()),
                       "fw_resumable": v.judged.scenario.switches.fw_resumable,
                       "devices": v.scenario.devices, "ok": v.ok,
                       "host_memory": {"page_size": v.scenario.page_size, "thp": v.scenario.host.thp,
                                       "thp_fallback": v.scenario.host.thp_fallback,
                                       "described": v.scenario.host.describe(v.scenario.page_size)},
                       "staircase": [p.label for p in v.steps], "budgets_hold_from": v.first_holding,
                       "seconds": v.seconds} for v in verdicts],
        "results": [{"scenario": c.scenario, "judged": c.judged, **c.result.to_json()} for c in cases],
        "budgets": {key: [{"name": ch.budget.name, "what": ch.budget.what, "per": ch.budget.per,
                           "phase": ch.budget.phase, "limit_ms": ch.budget.limit * MS,
                           "value_ms": None if ch.value is None else ch.value * MS, "worst": ch.at,
                           "ok": ch.ok, "broken_at": [[w, v * MS] for w, v in ch.broken_at]}
                          for ch in cs] for key, cs in checks.items()},
        "comparison": {key: [{"device": c.device, "window": c.window, "phase": c.phase,
                              "measured_ms": c.measured * MS, "priced_ms": c.priced * MS,
                              "difference": c.difference} for c in rows]
                       for key, rows in comparisons.items()},
        "sensitivity": {key: [{"key": r.key, "default": r.value, "factor": r.factor,
                               "downtime1": r.downtime1, "downtime2": r.downtime2,
                               "guest_visible": r.guest_visible} for r in srows]
                        for key, srows in sens.items()},
    }


def _charts(out: Path, profile: Profile, budgets: Sequence[Any], cases: Sequence[_Case],
            verdicts: Sequence[ScenarioVerdict]) -> list[Path]:
    from . import charts

    written = []
    if not verdicts:
        results = [c.result for c in cases]
        holds = [all(ch.ok for ch in check_all(list(budgets), r)) for r in results]
        title = f"profile {profile.name}"
        written.append(charts.staircase(results, out / "staircase.png", title,
                                        charts.budget_lines(budgets), holds))
        written.append(charts.phase_bars(results, out / "phases.png", title))
    for v in verdicts:
        written += charts.scenario_charts(v, out, profile.name, budgets)
    return written
