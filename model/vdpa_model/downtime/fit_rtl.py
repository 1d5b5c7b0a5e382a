# SPDX-License-Identifier: MIT
"""``vdpa-dv fit-rtl``: the reference-rtl cost profile, fitted from the RTL's own measured cycles.

Input: the RTL benchmark's figures (``bench/results/rtl_vdpa_nic_top.json``, written by
``make bench`` from ``tb/vdpa_tb/tests/bench_vdpa_nic_top.py``): the device cycles of every
mailbox command at idle, MAP and UNMAP swept over pages, CREATE_VQ swept over queue sizes,
SUSPEND_ALL idle and draining a chain, the wall cycles of each command (the parent driver's
register accesses around the device's cycles), the command FIFO depth and execution units.

Each mailbox command is one ``fw`` record of the RTL parent driver's trace (:data:`RTL_COMMANDS`
says which kind, and in which op when that op's command costs differently). Per kind the fit
finds ``fixed + rate * ceil(driver / step)`` by least squares, trying power-of-two steps for the
driver that varies (the queue-size sweep straddles the 64-head clearing step, so the step is seen,
not assumed); the submission cost per command is its wall cycles minus its device cycles. The
command prints every observation with its fitted value and residual, and the DRIVER_OK sweep
priced by the fitted profile against its measured wall cycles, so a vendor sees how well the
profile extrapolates. The profile is written at a stated clock frequency and firmware latency
(``--clock-mhz``, ``--fw-latency-cycles``: the RTL adds that latency to every command; the
benchmark's own latency, normally 0, is taken out first).

Host and ioctl work take no simulated time (QEMU and vhost-vdpa are Python in the simulation),
so this profile prices what a simulation of the RTL measures; a real host's costs are in the
mlx5 profile's host section.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..trace import FW_KINDS, Layer, Trace
from .profile import PROFILE_DIR, load_profile
from .scheduler import price
from .tomlfile import InputError

DEFAULT_BENCH = Path("bench/results/rtl_vdpa_nic_top.json")
DEFAULT_OUT = PROFILE_DIR / "reference-rtl.toml"
SOURCE = "bench/results/rtl_vdpa_nic_top.json"

#: Mailbox command -> (fw kind of vdpa_model.trace.FW_KINDS, the op the RTL parent driver issues
#: it in when that op's command costs differently from the kind's others, else None). Follows the
#: op -> command table of docs/rtl-interface.md ("Writing a parent driver"). The RTL parent's
#: trace must use the same kinds; a measured trace then checks this table record by record.
RTL_COMMANDS: dict[str, tuple[str, str | None]] = {
    "NOP": ("dev_command", None),
    "QUERY_DEV": ("dev_command", None),
    "SET_FEATURES": ("dev_command", "set_driver_features"),
    "SET_STATUS": ("dev_command", "set_status"),
    "SET_GROUP_ASID": ("dev_command", "set_group_asid"),
    "QUERY_GROUP": ("dev_command", "get_vq_group"),
    "CREATE_VQ": ("vq_create", None),
    "DESTROY_VQ": ("vq_destroy", None),
    "MODIFY_VQ": ("vq_modify", None),
    "QUERY_VQ": ("vq_query", None),
    "SUSPEND_ALL": ("vq_modify", "suspend"),
    "RESUME_ALL": ("vq_modify", "resume"),
    "MAP": ("mkey_create", None),
    "UNMAP": ("mkey_destroy", None),
    "RESET_MAP": ("mkey_destroy", "reset_map"),
    "RESET": ("dev_reset", None),
}

#: Arguments of the benchmark's fixed-argument commands, as trace cost drivers.
_IDLE_ARGS: dict[str, dict[str, int]] = {"CREATE_VQ": {"qsize": 256}, "MAP": {"entries": 1},
                                         "UNMAP": {"entries": 1}}


@dataclasses.dataclass
class Observation:
    command: str
    kind: str
    within: str | None
    args: dict[str, int]
    cycles: float
    what: str


@dataclasses.dataclass
class Fit:
    kind: str
    within: str | None
    fixed: float
    terms: list[tuple[str, float, int]]
    issue: float | None
    observations: list[Observation]
    fitted: list[float]

    @property
    def max_residual(self) -> float:
        pairs = zip(self.fitted, self.observations, strict=True)
        return max((abs(f - o.cycles) for f, o in pairs), default=0.0)


def observations(bench: dict[str, Any]) -> list[Observation]:
    """Every device-cycle figure of the benchmark as (kind, context, drivers, cycles)."""
    need = ("cycles_per_command", "map_cycles_by_pages", "unmap_cycles_by_pages", "create_vq_cycles_by_size",
            "wall_cycles_per_command", "suspend_cycles", "cmd_slots", "command_units", "clock_ns",
            "axil_read_cycles", "axil_write_cycles")
    missing = [k for k in need if k not in bench]
    if missing:
        raise InputError(f"benchmark results lack {', '.join(missing)}: rerun `make bench` "
                         f"(tb/vdpa_tb/tests/bench_vdpa_nic_top.py records them)")
    out = []
    for cmd, cycles in bench["cycles_per_command"].items():
        if cmd not in RTL_COMMANDS:
            raise InputError(f"benchmark command {cmd!r} has no fw kind in fit_rtl.RTL_COMMANDS")
        kind, within = RTL_COMMANDS[cmd]
        out.append(Observation(cmd, kind, within, _IDLE_ARGS.get(cmd, {}), float(cycles), "idle"))
    for pages, cycles in bench["map_cycles_by_pages"].items():
        out.append(Observation("MAP", "mkey_create", None, {"entries": int(pages)}, float(cycles),
                               f"{pages} pages"))
    for pages, cycles in bench["unmap_cycles_by_pages"].items():
        out.append(Observation("UNMAP", "mkey_destroy", None, {"entries": int(pages)}, float(cycles),
                               f"{pages} pages"))
    for size, cycles in bench["create_vq_cycles_by_size"].items():
        out.append(Observation("CREATE_VQ", "vq_create", None, {"qsize": int(size)}, float(cycles),
                               f"size {size}"))
    return out


def _lstsq(xs: list[list[float]], ys: list[float]) -> tuple[list[float], float]:
    a = np.array(xs, dtype=float)
    y = np.array(ys, dtype=float)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    sse = float(np.sum((a @ coef - y) ** 2))
    return [float(c) for c in coef], sse


def fit(obs: Sequence[Observation]) -> tuple[float, list[tuple[str, float, int]], list[float]]:
    """``fixed + rate * ceil(driver / step)`` for the one driver that varies (least squares,
    power-of-two steps tried, the smallest step of least error kept); a mean if none varies."""
    drivers = sorted({k for o in obs for k in o.args})
    varying = [d for d in drivers if len({o.args.get(d, 0) for o in obs}) > 1]
    ys = [o.cycles for o in obs]
    if not varying:
        mean = sum(ys) / len(ys)
        return mean, [], [mean] * len(ys)
    if len(varying) > 1:
        raise InputError(f"{obs[0].kind}: more than one driver varies ({varying}); fit them one at a time")
    d = varying[0]
    best: tuple[float, int, list[float]] | None = None
    for step in (2 ** i for i in range(11)):
        coef, sse = _lstsq([[1.0, float(math.ceil(o.args.get(d, 0) / step))] for o in obs], ys)
        if best is None or sse < best[0] - 1e-9:
            best = (sse, step, coef)
    assert best is not None
    _, step, (fixed, rate) = best
    if abs(rate) < 1e-9:
        return fixed, [], [fixed] * len(ys)
    fitted = [fixed + rate * math.ceil(o.args.get(d, 0) / step) for o in obs]
    return fixed, [(d, rate, step)], fitted


def fit_all(bench: dict[str, Any]) -> list[Fit]:
    """One fit per (kind, context), contexts only where they differ from the kind's default."""
    obs = observations(bench)
    walls: dict[str, float] = {k: float(v) for k, v in bench["wall_cycles_per_command"].items()}
    idle = {k: float(v) for k, v in bench["cycles_per_command"].items()}
    groups: dict[tuple[str, str | None], list[Observation]] = {}
    for o in obs:
        groups.setdefault((o.kind, o.within), []).append(o)
    fits: list[Fit] = []
    for (kind, within), members in sorted(groups.items(), key=lambda x: (x[0][0], x[0][1] or "")):
        fixed, terms, fitted = fit(members)
        cmds = sorted({o.command for o in members})
        issue = [walls[c] - idle[c] for c in cmds if c in walls]
        mean_issue = sum(issue) / len(issue) if issue else None
        fits.append(Fit(kind, within, fixed, terms, mean_issue, members, fitted))
    return fits


# ---------------------------------------------------------------------------------------------
def _g(x: float) -> str:
    return f"{x:.6g}"


def _obs_text(f: Fit) -> str:
    return ", ".join(f"{o.command} {o.what} {o.cycles:g}" for o in f.observations)


def profile_text(bench: dict[str, Any], clock_mhz: float | None = None, fw_latency: int = 0,
                 drain_share: float = 0.5) -> str:
    """The reference-rtl profile as TOML text."""
    fits = fit_all(bench)
    bench_clock = 1e3 / float(bench["clock_ns"])
    clock = clock_mhz or bench_clock
    bench_latency = int(bench.get("params", {}).get("FW_LATENCY_CYCLES", 0))
    lat_shift = fw_latency - bench_latency
    units = bench["command_units"]
    slots = int(bench["cmd_slots"])
    by_kind: dict[str, list[Fit]] = {}
    for f in fits:
        by_kind.setdefault(f.kind, []).append(f)
    wait = float(bench["axil_read_cycles"])
    idle = bench["suspend_cycles"]["idle"]
    drain = bench["suspend_cycles"]["draining_one_1500B_chain"] - idle

    lines = [
        "# SPDX-License-Identifier: MIT",
        "# Cost profile of the reference RTL device as a simulation measures it.",
        f"# GENERATED by `vdpa-dv fit-rtl` from {SOURCE}; do not edit: change the RTL or the",
        "# benchmark, run `make bench`, then `vdpa-dv fit-rtl` (tests/model/test_downtime_fit_rtl.py",
        "# fails while this file is stale). Stated clock and firmware latency are the fit's inputs.",
        "",
        "[profile]",
        "format = 1",
        'name = "reference-rtl"',
        f'description = "vdpa_nic_top at {clock:g} MHz, FW_LATENCY_CYCLES = {fw_latency}, '
        f'as simulated (host work takes no simulated time)"',
        'time_unit = "cycles"',
        f'clock_mhz = {{ value = {clock:g}, source = "stated clock (vdpa-dv fit-rtl --clock-mhz; '
        f'the benchmark runs a {float(bench["clock_ns"]):g} ns clock)" }}',
        "",
        "[devices]",
        'parallel = { value = 1, source = "migration-sequence.md §1 item 11: QEMU stops and starts '
        'devices one after another" }',
        "",
    ]
    pools = sorted({u for u in units.values() if u != "all"})
    for u in pools:
        lines += [
            f"[pool.{u}_unit]",
            f'slots = {{ value = {slots}, source = "{SOURCE}: cmd_slots, free command FIFO slots at '
            f'idle (docs/rtl-interface.md, Command mailbox item 2)" }}',
            'workers = { value = 1, source = "docs/rtl-interface.md, Command mailbox item 3: commands '
            f'to one unit run in submission order; the {u} unit runs one at a time" }}',
            'issue = { value = 0, source = "the parent\'s register accesses differ per command: each '
            "kind's issue.fixed\" }",
            f'wait = {{ value = {_g(wait)}, source = "{SOURCE}: axil_read_cycles, the CPL_HEAD read '
            f'that finds no further completion, once per wait (parent.py: RtlCommandPort._collect)" }}',
            "",
        ]
    fw_cmd = {kind: cmd for cmd, (kind, _) in RTL_COMMANDS.items()}
    for kind in FW_KINDS:
        lines.append(f"[fw.{kind}]")
        if kind not in by_kind:
            lines.append('fixed = { value = 0, source = "no RTL command does this: the RTL parent '
                         'does it in software or not at all (docs/rtl-interface.md, Writing a parent '
                         'driver); software takes no simulated time" }')
            lines.append("")
            continue
        unit = units[fw_cmd[kind]]
        if unit != "all":
            lines.append(f'pool = "{unit}_unit"')
        for f in sorted(by_kind[kind], key=lambda f: f.within is not None):
            if f.within is not None:
                lines.append("")
                lines.append(f"[[fw.{kind}.case]]")
                lines.append(f'within = "{f.within}"')
            obs = _obs_text(f)
            if kind == "vq_modify" and f.within == "suspend":
                value = f.fixed + lat_shift + drain_share * drain
                lines.append(
                    f'fixed = {{ value = {_g(value)}, assumed = "SUSPEND_ALL measured {idle:g} idle '
                    f'({SOURCE}: suspend_cycles) plus the expected drain of the chain in flight: '
                    f'{drain_share:g} x the measured {drain:g}-cycle drain of a 1500-byte TX chain '
                    f'(a suspend lands on average half way through a chain under steady traffic)" }}')
            else:
                lines.append(f'fixed = {{ value = {_g(f.fixed + lat_shift)}, source = "{SOURCE}: fit '
                             f'over {obs}' + (f"; + {lat_shift} firmware latency" if lat_shift else "")
                             + '" }')
            for d, rate, step in f.terms:
                lines.append(f'per.{d} = {{ value = {_g(rate)}, step = {step}, source = "{SOURCE}: '
                             f'least-squares slope per {step} {d}, step chosen by least error" }}')
            if f.issue is not None:
                # a command run alone (unit "all": no pool) pays its own wait
                pooled = unit != "all"
                lines.append(f'issue.fixed = {{ value = {_g(f.issue - (wait if pooled else 0))}, source = '
                             f'"{SOURCE}: wall_cycles_per_command minus cycles_per_command'
                             + (" minus the pool's wait" if pooled else "")
                             + ' (the parent\'s argument writes, submit and completion reads)" }')
        lines.append("")
    axw = float(bench["axil_write_cycles"])
    axr = float(bench["axil_read_cycles"])
    lines += [
        '[host."*"]',
        'fixed = { value = 0, source = "QEMU and kernel host work is Python in the simulation: no '
        'simulated time" }',
        "",
        '[ioctl."*"]',
        'fixed = { value = 0, source = "vhost-vdpa (VhostVdpa) is Python in the simulation: no '
        'simulated time" }',
        "",
        '[op."*"]',
        'fixed = { value = 0, source = "the RTL parent\'s own work is Python (no simulated time); '
        'its commands are fw records" }',
        "",
        "[op.kick_vq]",
        f'fixed = {{ value = {_g(axw)}, source = "{SOURCE}: axil_write_cycles, the DOORBELL write" }}',
        "",
        "[op.get_status]",
        f'fixed = {{ value = {_g(axr)}, source = "{SOURCE}: axil_read_cycles, the DEV_STATUS read" }}',
        "",
    ]
    return "\n".join(lines)


def driver_ok_check(bench: dict[str, Any], profile_path: Path) -> list[tuple[int, float, float]]:
    """The benchmark's DRIVER_OK sweep priced by the profile: (VQs, measured, priced) wall cycles.
    The trace is what the RTL parent does without pre-created VQs (mlx5_vnet.c: setup_vq, one
    VQ at a time): each VQ created, then readied by a MODIFY, then SET_STATUS."""
    prof = load_profile(profile_path)
    out = []
    for vqs, fig in sorted(bench.get("driver_ok_cycles_by_vqs", {}).items(), key=lambda x: int(x[0])):
        t = Trace()
        with t.in_phase("C4.2.9", "dev"), t.span(Layer.OP, "set_status", status=0x0F):
            for _ in range(int(vqs)):
                t.add(Layer.FW, "vq_create", qsize=256)
                t.add(Layer.FW, "vq_modify", vqs=1)
            t.add(Layer.FW, "dev_command")
        sched = price(t.records, prof)
        cycles = sched.sections[0].duration * prof.clock_mhz * 1e6 if prof.clock_mhz else 0.0
        out.append((int(vqs), float(fig["wall_cycles"]), cycles))
    return out


def report(bench: dict[str, Any], profile_path: Path) -> str:
    fits = fit_all(bench)
    out = ["fit of the RTL's measured device cycles (fitted = fixed + rate x ceil(driver / step))",
           f"  {'kind':<14}{'context':<22}{'observation':<22}{'measured':>10}{'fitted':>10}{'residual':>10}"]
    for f in fits:
        for o, y in zip(f.observations, f.fitted, strict=True):
            out.append(f"  {f.kind:<14}{f.within or '-':<22}{o.command + ' ' + o.what:<22}"
                       f"{o.cycles:>10g}{y:>10.3f}{y - o.cycles:>+10.3f}")
    out.append(f"  largest residual: {max(f.max_residual for f in fits):.3f} cycles")
    checks = driver_ok_check(bench, profile_path)
    if checks:
        out.append("DRIVER_OK sweep (CREATE then MODIFY per VQ, then SET_STATUS), wall cycles with "
                   "the parent's register accesses:")
        for vqs, measured, priced_ in checks:
            out.append(f"  {vqs:>3} VQs: measured {measured:>8g}  priced {priced_:>10.1f}  "
                       f"residual {100 * (priced_ - measured) / measured:+.1f} %")
    return "\n".join(out)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fit-rtl", help="fit the reference-rtl cost profile from the RTL benchmark",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", type=Path, default=DEFAULT_BENCH,
                   help=f"benchmark figures (default {DEFAULT_BENCH})")
    p.add_argument("--clock-mhz", type=float, default=None,
                   help="stated clock of the profile (default: the benchmark's clock)")
    p.add_argument("--fw-latency-cycles", type=int, default=0,
                   help="stated firmware latency added to every command (FW_LATENCY_CYCLES; default 0)")
    p.add_argument("--drain-share", type=float, default=0.5,
                   help="share of a measured chain drain a suspend is expected to wait (default 0.5)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"profile to write (default {DEFAULT_OUT})")
    p.add_argument("--check", action="store_true", help="only check that --out is what the fit gives")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        bench = json.loads(Path(args.bench).read_text())
        text = profile_text(bench, args.clock_mhz, args.fw_latency_cycles, args.drain_share)
    except (OSError, ValueError) as e:
        print(f"vdpa-dv fit-rtl: {e}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"vdpa-dv fit-rtl: {args.out} is stale; regenerate with `vdpa-dv fit-rtl`", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(report(bench, args.out))
    print(f"wrote {args.out}")
    return 0
