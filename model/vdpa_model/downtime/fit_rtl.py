# SPDX-License-Identifier: MIT
"""``vdpa-dv fit-rtl``: the reference-rtl cost profile, fitted from the RTL's own benchmarks.

Inputs (``make bench`` writes both):

* ``bench/results/rtl_vdpa_nic_top.json``, the default build: every mailbox command's device
  cycles and wall cycles at idle (the parent's register accesses around the device's own
  cycles), the cycles of one register read and write, an idle settle, the MAP, UNMAP and
  CREATE_VQ sweeps, and the DRIVER_OK sweep;
* ``bench/results/rtl_commands.json``, the command sweeps over builds: execution slots 1 to 8,
  MTT write ports 1 to 4, firmware latency per command class and none, and rounds of MODIFY and
  QUERY submitted together and one by one.
* ``bench/results/suspend_inflight.json``, SUSPEND's device cycles by the work in flight when
  it is issued (chains of 0 to 60000 bytes on 1, 2 and 4 queues): what the suspend's MODIFY
  adds for the work it waits for, fitted ``per.drain_bytes`` and ``per.drain_chains`` on
  ``fw.vq_modify`` (an idle MODIFY, without those drivers, costs what it did).

The RTL parent carries out the model's plan (docs/rtl-interface.md, Writing a parent driver),
so the profile prices the model's fw kinds by the commands each becomes (:data:`UNIT_COMMANDS`),
an op's own commands as that op (:data:`OP_COMMANDS`), and what the RTL does in software (the
link notifier, steering, the CVQ's table copy) as nothing. Per kind:

* run: the command's device cycles, from the build without firmware latency (CREATE_VQ by queue
  size and MAP by pages and write ports fitted ``fixed + rate * ceil(driver / step)`` by least
  squares, power-of-two steps tried), plus the stated latency of its class;
* issue: the parent's argument writes and submit, and the completion's reads, from the register
  access cycles; the pool's wait is the CMD_STATUS read that starts a collection. A round's
  accesses share one bus: short commands make every submission and completion read the
  parent's time (bus-bound: both in the issue); a command that outlasts a round's worth of the
  shorter kind of access is paced by the longer one, the shorter one trailing the last command
  (latency-bound: the longer in the issue, the shorter in the run).

A MAP run alone uses one write port, in a round (``parallel_mkey``) every port, a case of
its own (``grouped``). The profile is written at a stated clock frequency and firmware latency
per class (``--clock-mhz``, ``--fw-latency CLASS=CYCLES``; the default device has none). The
command prints every fit with its residuals, the latency of each class in each build measured
against the one set, the rounds of every build priced against their measurement, and the
DRIVER_OK sweep: the model's own plan for that bring-up priced against the measured wall
cycles.

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..fwmodel import Mlx5Firmware
from ..options import DeviceOptions
from ..trace import FW_KINDS, Layer, Trace
from .profile import PROFILE_DIR, Profile, load_profile
from .scheduler import price
from .tomlfile import InputError

BENCH_DIR = Path("bench/results")
DEFAULT_BENCH = BENCH_DIR / "rtl_vdpa_nic_top.json"
DEFAULT_SWEEPS = BENCH_DIR / "rtl_commands.json"
DEFAULT_OUT = PROFILE_DIR / "reference-rtl.toml"
DEFAULT_DRAIN = BENCH_DIR / "suspend_inflight.json"
SOURCE = "bench/results/rtl_vdpa_nic_top.json"
SWEEPS = "bench/results/rtl_commands.json"
DRAIN = "bench/results/suspend_inflight.json"
#: the suspend bench's figures for one point, and the cost drivers they become
_DRAIN_ROW = ("suspend_cycles", "drained_bytes", "drained_chains")

#: How the RTL parent carries out a unit of the model's plan: its mailbox command (the register
#: map's ``fw_kind`` column; tests/rtl/test_regmap.py checks the two agree). Units not here take
#: no command: the RTL has no link notifier, steering, RQT or 1:1 key to manage, and TABLE_FREE
#: releases a table's direct keys with it.
UNIT_COMMANDS: dict[str, str] = {
    "vq_create": "CREATE_VQ", "vq_destroy": "DESTROY_VQ", "vq_modify": "MODIFY_VQ",
    "vq_query": "QUERY_VQ", "mkey_create": "MAP", "mr_indirect_create": "TABLE_NEW",
    "mr_table_switch": "TABLE_SWITCH", "mr_indirect_destroy": "TABLE_FREE",
    "mr_dma_destroy": "TABLE_FREE",
}
#: Ops in which the region a unit destroys is released by the op's own command (RESET with
#: CLEAN_MAP, RESET_MAP), not by a TABLE_FREE.
RELEASED_BY_OP = ("compat_reset", "reset", "reset_map")
#: Units the model's plan submits in rounds (modify_virtqueues, query_virtqueues,
#: create_direct_keys): priced in a pool; the others are always issued one at a time.
ROUNDS = ("vq_modify", "vq_query", "mkey_create")
#: The command an op issues for itself on the RTL, whatever the plan (docs/rtl-interface.md).
OP_COMMANDS: dict[str, str] = {
    "set_status": "SET_STATUS", "set_driver_features": "SET_FEATURES", "compat_reset": "RESET",
    "reset": "RESET", "set_group_asid": "SET_GROUP_ASID", "reset_map": "RESET_MAP",
    "dma_map": "MAP", "dma_unmap": "UNMAP",
}
#: Completion registers read per command (CPL_HEAD, CPL_CYCLES, CPL_DATA0..3), and the write that
#: pops it (RtlCommandPort._collect).
CPL_READS = 6
CPL_WRITES = 1
#: The bench's idle commands, as the cost drivers of their kind's records.
_IDLE_ARGS: dict[str, dict[str, int]] = {"CREATE_VQ": {"qsize": 256}, "MAP": {"entries": 1}}


@dataclasses.dataclass
class Observation:
    command: str
    args: dict[str, int]
    cycles: float
    what: str


@dataclasses.dataclass
class Fit:
    """``fixed + rate * ceil(driver / step)`` device cycles of one command (or a MAP with
    ``writers`` ports), and how well it reproduces its observations."""

    command: str
    what: str
    fixed: float
    terms: list[tuple[str, float, int]]
    observations: list[Observation]
    fitted: list[float]

    @property
    def max_residual(self) -> float:
        pairs = zip(self.fitted, self.observations, strict=True)
        return max((abs(f - o.cycles) for f, o in pairs), default=0.0)


def _need(d: Mapping[str, Any], keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in d]
    if missing:
        raise InputError(f"{what} lack {', '.join(missing)}: rerun `make bench`")


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
        raise InputError(f"{obs[0].command}: more than one driver varies ({varying})")
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


def _hardware_build(sweeps: Mapping[str, Any]) -> dict[str, Any]:
    """The sweeps' build without firmware latency (its device cycles are the hardware's)."""
    builds = sweeps.get("builds", {})
    for b in builds.values():
        if not any(b.get("fw_latency", {}).values()):
            return dict(b)
    raise InputError(f"{SWEEPS} has no build without firmware latency: rerun `make bench` "
                     "(BENCH_RECORD=1 measures every build)")


def fit_all(bench: Mapping[str, Any], sweeps: Mapping[str, Any]) -> dict[str, Fit]:
    """Device cycles of every command at no firmware latency: MAP by pages per write-port count
    (``MAP/w``), CREATE_VQ by queue size, every other command at idle."""
    _need(bench, ("cycles_per_command", "create_vq_cycles_by_size", "wall_cycles_per_command",
                  "command_args", "command_classes", "cmd_slots", "mtt_writers", "clock_ns",
                  "axil_read_cycles", "axil_write_cycles", "settle_cycles"),
          f"{SOURCE}'s figures")
    hw = _hardware_build(sweeps)
    _need(hw, ("map", "cycles_per_command"), f"{SWEEPS}'s hardware build")
    out: dict[str, Fit] = {}
    for cmd, cycles in bench["cycles_per_command"].items():
        if cmd in ("MAP", "CREATE_VQ"):
            continue
        obs = [Observation(cmd, {}, float(cycles), "idle")]
        f, terms, fitted = fit(obs)
        out[cmd] = Fit(cmd, "idle", f, terms, obs, fitted)
    obs = [Observation("CREATE_VQ", {"qsize": int(s)}, float(c), f"size {s}")
           for s, c in bench["create_vq_cycles_by_size"].items()]
    f, terms, fitted = fit(obs)
    out["CREATE_VQ"] = Fit("CREATE_VQ", "by queue size", f, terms, obs, fitted)
    for w, by_pages in hw["map"]["cycles"].items():
        obs = [Observation("MAP", {"entries": int(p)}, float(c), f"{p} pages, {w} port(s)")
               for p, c in by_pages.items()]
        f, terms, fitted = fit(obs)
        out[f"MAP/{w}"] = Fit("MAP", f"{w} write port(s)", f, terms, obs, fitted)
    return out


@dataclasses.dataclass
class DrainFit:
    """SUSPEND device cycles = ``fixed + per_byte * drained bytes + per_chain * drained chains``
    over the suspend bench's points, and how well it reproduces them. ``fixed`` is the idle
    suspend as measured (the least of the points with nothing in flight), not fitted: the
    profile prices a suspend as its idle MODIFY plus the two rates, so the rates are fitted
    (least squares) to what each point costs beyond the idle suspend, and the residuals are
    the profile's own errors."""

    fixed: float
    per_byte: float
    per_chain: float
    rows: list[dict[str, Any]]
    fitted: list[float]

    @property
    def max_residual(self) -> float:
        return max((abs(f - r["suspend_cycles"]) for f, r in zip(self.fitted, self.rows,
                                                                  strict=True)), default=0.0)


def fit_drain(drain: Mapping[str, Any]) -> DrainFit:
    """The suspend's cost by the work it waited for, from ``suspend_inflight.json``."""
    _need(drain, ("rows",), f"{DRAIN}'s figures")
    rows = [dict(r) for r in drain["rows"]]
    for i, r in enumerate(rows):
        _need(r, _DRAIN_ROW, f"{DRAIN}: rows[{i}]")
    if not any(r["drained_chains"] for r in rows) or all(r["drained_chains"] for r in rows):
        raise InputError(f"{DRAIN}: the fit needs idle points and points with a chain in flight: "
                         "rerun `python bench/bench_suspend_inflight.py`")
    fixed = float(min(r["suspend_cycles"] for r in rows if not r["drained_chains"]))
    xs = [[float(r["drained_bytes"]), float(r["drained_chains"])] for r in rows]
    (per_byte, per_chain), _ = _lstsq(xs, [float(r["suspend_cycles"]) - fixed for r in rows])
    fitted = [fixed + per_byte * x[0] + per_chain * x[1] for x in xs]
    return DrainFit(fixed, per_byte, per_chain, rows, fitted)


def _drain_lines(d: DrainFit) -> list[str]:
    """``fw.vq_modify``'s drain terms: what a suspend's MODIFY adds for the work it waits for
    (the idle part is the MODIFY's own fixed cost)."""
    src = (f"{DRAIN}: least-squares fit of SUSPEND device cycles = {_g(d.fixed)} (the idle "
           f"suspend) + per byte x drained bytes + per chain x drained chains over "
           f"{len(d.rows)} points, largest residual {_g(d.max_residual)} cycles")
    return [f'per.drain_bytes = {{ value = {_g(d.per_byte)}, source = "{src}" }}',
            f'per.drain_chains = {{ value = {_g(d.per_chain)}, source = "{src}" }}']


def _parse_latency(spec: Mapping[str, int] | None, classes: Sequence[str]) -> dict[str, int]:
    lat = {c: 0 for c in classes}
    for c, v in (spec or {}).items():
        if c not in lat:
            raise InputError(f"--fw-latency: no command class {c!r} (classes: {', '.join(lat)})")
        if v < 0:
            raise InputError(f"--fw-latency {c}={v}: a latency cannot be negative")
        lat[c] = int(v)
    return lat


# ---------------------------------------------------------------------------------------------
def _g(x: float) -> str:
    return f"{x:.6g}"


@dataclasses.dataclass
class _Costs:
    """What one command costs the parent and the device, in cycles."""

    submit: float     # argument writes and the submit
    collect: float    # the completion's reads and its pop
    wall: float       # measured, run alone at no firmware latency
    run: float        # device cycles at idle, with the stated latency


def _costs(bench: Mapping[str, Any], fits: Mapping[str, Fit], lat: Mapping[str, int],
           cmd: str) -> _Costs:
    axr, axw = float(bench["axil_read_cycles"]), float(bench["axil_write_cycles"])
    run = (fits[cmd].fixed if cmd in fits else float(bench["cycles_per_command"][cmd]))
    return _Costs(axw * (bench["command_args"][cmd] + 1), axr * CPL_READS + axw * CPL_WRITES,
                  float(bench["wall_cycles_per_command"][cmd]),
                  run + lat[bench["command_classes"][cmd]])


def profile_text(bench: Mapping[str, Any], sweeps: Mapping[str, Any],
                 clock_mhz: float | None = None,
                 fw_latency: Mapping[str, int] | None = None,
                 drain: Mapping[str, Any] | None = None) -> str:
    """The reference-rtl profile as TOML text; with ``drain`` (the suspend bench's figures) a
    suspend's MODIFY is priced by the work in flight too."""
    fits = fit_all(bench, sweeps)
    drain_fit = fit_drain(drain) if drain is not None else None
    classes = sorted(set(bench["command_classes"].values()))
    lat = _parse_latency(fw_latency, classes)
    clock = clock_mhz or 1e3 / float(bench["clock_ns"])
    slots = int(bench["cmd_slots"])
    writers = int(bench["mtt_writers"])
    wait = float(bench["axil_read_cycles"])
    stated = ", ".join(f"{c} {v}" for c, v in lat.items() if v) or "none"

    def c(cmd: str) -> _Costs:
        return _costs(bench, fits, lat, cmd)

    lines = [
        "# SPDX-License-Identifier: MIT",
        "# Cost profile of the reference RTL device as a simulation measures it.",
        f"# GENERATED by `vdpa-dv fit-rtl` from {SOURCE}, {SWEEPS}"
        + (f" and {DRAIN}" if drain_fit else "") + "; do not edit:",
        "# change the RTL or the benchmarks, run `make bench`, then `vdpa-dv fit-rtl`",
        "# (tests/model/test_downtime_fit_rtl.py fails while this file is stale). Stated clock and",
        "# firmware latencies are the fit's inputs.",
        "",
        "[profile]",
        "format = 1",
        'name = "reference-rtl"',
        f'description = "vdpa_nic_top at {clock:g} MHz, firmware latency {stated}, as simulated '
        f'(host work takes no simulated time)"',
        'time_unit = "cycles"',
        f'clock_mhz = {{ value = {clock:g}, source = "stated clock (vdpa-dv fit-rtl --clock-mhz; '
        f'the benchmark runs a {float(bench["clock_ns"]):g} ns clock)" }}',
        "",
        "[devices]",
        'parallel = { value = 1, source = "migration-sequence.md §1 item 11: QEMU stops and starts '
        'devices one after another" }',
        "",
        "[pool.vq_unit]",
        f'slots = {{ value = {slots}, source = "{SOURCE}: cmd_slots, the commands the parent keeps '
        f'outstanding (min of the free FIFO slots and CAPS4 execution slots)" }}',
        f'workers = {{ value = {slots}, source = "docs/rtl-interface.md, Command mailbox item 3: '
        f'each slot waits its firmware latency on its own; the VQ unit\'s own part is a few '
        f'cycles" }}',
        'issue = { value = 0, source = "each kind\'s issue.fixed: its own register accesses" }',
        f'wait = {{ value = {_g(wait)}, source = "{SOURCE}: axil_read_cycles, the CMD_STATUS read '
        f'that starts a collection (RtlCommandPort._collect), once per wait" }}',
        "",
        "[pool.iotlb_unit]",
        f'slots = {{ value = {slots}, source = "{SOURCE}: cmd_slots" }}',
        'workers = { value = 1, source = "docs/rtl-interface.md, Command mailbox item 3: the IOTLB '
        'unit runs one command at a time, a table build\'s MAPs write the MTT one after another" }',
        'issue = { value = 0, source = "each kind\'s issue.fixed: its own register accesses" }',
        f'wait = {{ value = {_g(wait)}, source = "{SOURCE}: axil_read_cycles, the CMD_STATUS read '
        f'that starts a collection" }}',
        "",
    ]

    def split(k: _Costs) -> tuple[float, float, str]:
        """(run, issue, how) of a command in a pool. A round's accesses share one bus: when the
        commands are short, every submission and every completion read is the parent's time
        (bus-bound); when each outlasts a round's worth of the shorter of the two, the longer
        one paces the round and the shorter one trails the last command (latency-bound)."""
        short, long_ = sorted((k.submit, k.collect))
        if k.run >= slots * short:
            return k.run + short, long_, "latency-bound: the shorter accesses follow its end"
        return k.run, k.submit + k.collect, "bus-bound: the completions are read after the round"

    def command_lines(cmd: str, why: str) -> list[str]:
        k = c(cmd)
        run, issue, how = split(k)
        f = fits.get(cmd)
        latency = lat[bench["command_classes"][cmd]]
        src = (f"{SOURCE}: {cmd} " + (f"{f.what}, fitted" if f else "idle") + " device cycles"
               + (f" + {latency} firmware latency" if latency else "")
               + (f" + {_g(k.collect)} completion reads ({how})" if run != k.run else ""))
        out = [f'fixed = {{ value = {_g(run)}, source = "{src} ({why})" }}']
        for d, rate, step in (f.terms if f else []):
            out.append(f'per.{d} = {{ value = {_g(rate)}, step = {step}, source = "{SOURCE}: '
                       f'least-squares slope per {step} {d}, step of least error" }}')
        out.append(f'issue.fixed = {{ value = {_g(issue)}, source = "{SOURCE}: '
                   f'{bench["command_args"][cmd]} argument writes and the submit'
                   + (f", the completion's {CPL_READS} reads and pop ({how})" if issue != k.submit
                      else "") + " at axil_write_cycles / axil_read_cycles each; measured alone "
                   f'{_g(k.wall)} cycles with the wait" }}')
        return out

    def alone_lines(cmd: str, why: str) -> list[str]:
        """A unit the plan never puts in a round: its command's measured wall, no pool."""
        k = c(cmd)
        latency = lat[bench["command_classes"][cmd]]
        f = fits.get(cmd)
        idle = float(bench["cycles_per_command"][cmd])
        out = [f'fixed = {{ value = {_g(k.wall - idle + k.run)}, source = "{SOURCE}: '
               f'wall_cycles_per_command {cmd}, run alone (its register accesses, the device\'s '
               f'{_g(idle)} cycles at idle and the collection)'
               + (f" + {latency} firmware latency" if latency else "") + f' ({why})" }}']
        for d, rate, step in (f.terms if f else []):
            out.append(f'per.{d} = {{ value = {_g(rate)}, step = {step}, source = "{SOURCE}: '
                       f'least-squares slope per {step} {d}, step of least error" }}')
        return out

    for kind in FW_KINDS:
        lines.append(f"[fw.{kind}]")
        cmd = UNIT_COMMANDS.get(kind)
        if cmd is None:
            lines += ['fixed = { value = 0, source = "the RTL parent does this in software or not at '
                      'all (docs/rtl-interface.md, Writing a parent driver): no simulated time" }', ""]
            continue
        if kind not in ROUNDS:
            lines += alone_lines(cmd, f"the command that carries out {kind}, never in a round")
        else:
            lines.append(f'pool = "{"iotlb" if bench["command_units"][cmd] == "iotlb" else "vq"}_unit"')
        if kind == "mkey_create":
            lines += _map_lines(bench, fits, lat, writers, split, c("MAP"))
            lines.append("")
            continue
        if kind in ROUNDS:
            own = command_lines(cmd, f"the command that carries out {kind}")
            if kind == "vq_modify" and drain_fit is not None:
                own[-1:-1] = _drain_lines(drain_fit)
            lines += own
        if kind == "mr_table_switch":
            both = sum(c(x).wall + lat[bench["command_classes"][x]]
                       for x in ("TABLE_NEW", "TABLE_SWITCH"))
            lines += ["", "[[fw.mr_table_switch.case]]", "flags = 1",
                      f'fixed = {{ value = {_g(both)}, source = "{SOURCE}: wall_cycles_per_command '
                      f'TABLE_NEW and TABLE_SWITCH, an empty table put in force (the ASID left '
                      f'without a region)" }}']
        if kind in ("mr_indirect_destroy", "mr_dma_destroy"):
            for op in RELEASED_BY_OP:
                lines += ["", f"[[fw.{kind}.case]]", f'within = "{op}"',
                          f'fixed = {{ value = 0, source = "the region is released by {op}\'s own '
                          f'command, priced as the op (docs/rtl-interface.md)" }}']
        lines.append("")
    axw, axr = float(bench["axil_write_cycles"]), float(bench["axil_read_cycles"])
    lines += [
        '[host."*"]',
        'fixed = { value = 0, source = "QEMU and kernel host work is Python in the simulation: no '
        'simulated time" }',
        "",
        "[host.cvq_command]",
        f'fixed = {{ value = {_g(float(bench["settle_cycles"]))}, source = "{SOURCE}: '
        f'settle_cycles, QEMU\'s wait for the answer (vhost_svq_poll: the testbench\'s quiet '
        f'point); the kick and the device\'s work are its children" }}',
        "",
        "[[host.cvq_command.case]]",
        "grouped = true",
        'fixed = { value = 0, source = "commands sent together (parallel_cvq_load): QEMU waits '
        'once after them, outside any record" }',
        "",
        '[ioctl."*"]',
        'fixed = { value = 0, source = "vhost-vdpa (VhostVdpa) is Python in the simulation: no '
        'simulated time" }',
        "",
        '[op."*"]',
        'fixed = { value = 0, source = "the RTL parent\'s own work is Python (no simulated time); '
        'the commands of its plan are fw records" }',
        "",
        "[op.kick_vq]",
        f'fixed = {{ value = {_g(axw)}, source = "{SOURCE}: axil_write_cycles, the DOORBELL write" }}',
        "",
        "[[op.kick_vq.case]]",
        'within = "cvq_command"',
        'fixed = { value = 0, source = "the control VQ is the parent\'s software: no doorbell" }',
        "",
        "[op.get_status]",
        f'fixed = {{ value = {_g(axr)}, source = "{SOURCE}: axil_read_cycles, the DEV_STATUS read" }}',
        "",
    ]
    for op, cmd in OP_COMMANDS.items():
        k = c(cmd)
        latency = lat[bench["command_classes"][cmd]]
        lines += [f"[op.{op}]",
                  f'fixed = {{ value = {_g(k.wall + latency)}, source = "{SOURCE}: '
                  f'wall_cycles_per_command {cmd}, the command the op issues for itself'
                  + (f" + {latency} firmware latency" if latency else "") + '" }', ""]
    return "\n".join(lines)


def _map_lines(bench: Mapping[str, Any], fits: Mapping[str, Fit], lat: Mapping[str, int],
               writers: int, split: Any, k: _Costs) -> list[str]:
    """MAP: one write port alone, every port in a round (parallel_mkey)."""
    out = []
    for grouped, w in ((False, 1), (True, writers)):
        f = fits.get(f"MAP/{w}")
        if f is None:
            raise InputError(f"{SWEEPS} has no MAP sweep with {w} write port(s)")
        latency = lat[bench["command_classes"]["MAP"]]
        run, issue, how = split(dataclasses.replace(k, run=f.fixed + latency))
        if grouped:
            out += ["", "[[fw.mkey_create.case]]", "grouped = true"]
        out.append(f'fixed = {{ value = {_g(run)}, source = "{SWEEPS}: MAP with {w} write port(s) '
                   f'at no firmware latency, {_g(f.fixed)} cycles'
                   + (f" + {latency} firmware latency" if latency else "")
                   + (f" + {_g(k.collect)} completion reads ({how})" if run != f.fixed + latency
                      else "") + '" }')
        for d, rate, step in f.terms:
            out.append(f'per.{d} = {{ value = {_g(rate)}, step = {step}, source = "{SWEEPS}: '
                       f'least-squares slope per {step} {d} with {w} write port(s)" }}')
        out.append(f'issue.fixed = {{ value = {_g(issue)}, source = "{SOURCE}: '
                   f'{bench["command_args"]["MAP"]} argument writes and the submit'
                   + (f", the completion's reads and pop ({how})" if issue != k.submit else "")
                   + '" }')
    return out


# ---------------------------------------------------------------------------------------------
def latency_check(sweeps: Mapping[str, Any]) -> list[tuple[str, str, str, int, int]]:
    """Per build and command: (build, command, class, measured minus hardware, set latency)."""
    hw = _hardware_build(sweeps)["cycles_per_command"]
    out = []
    for name, b in sorted(sweeps.get("builds", {}).items()):
        for cmd, cycles in sorted(b["cycles_per_command"].items()):
            cls = b.get("command_classes", {}).get(cmd)
            if cls is None or cmd not in hw:
                continue
            out.append((name, cmd, cls, cycles - hw[cmd], b["fw_latency"][cls]))
    return out


def _round_trace(kind: str, n: int, grouped: bool) -> Trace:
    t = Trace()
    with t.in_phase("B1", "dev"), t.span(Layer.OP, "suspend"):
        g = t.new_group() if grouped else None
        for v in range(n):
            t.add(Layer.FW, kind, group=g, vq=v)
    return t


def rounds_check(bench: Mapping[str, Any], sweeps: Mapping[str, Any]
                 ) -> list[tuple[str, str, int, str, float, float]]:
    """Every build's rounds (MODIFY, QUERY over n VQs, together and one by one) priced by the
    profile fitted at that build's latencies and slots: (build, kind, n, how, measured,
    priced)."""
    out = []
    for name, b in sorted(sweeps.get("builds", {}).items()):
        if "rounds" not in b:
            continue
        bb = {**bench, "cmd_slots": b["caps"]["slots"]}
        prof = _load_text(profile_text(bb, sweeps, fw_latency=b["fw_latency"]))
        for kind, rounds in b["rounds"].items():
            fw = {"modify": "vq_modify", "query": "vq_query"}[kind]
            for n, r in rounds.items():
                for how in ("parallel", "serial"):
                    sched = price(_round_trace(fw, int(n), how == "parallel").records, prof)
                    cyc = sched.sections[0].duration * prof.clock_mhz * 1e6 if prof.clock_mhz else 0
                    out.append((name, kind, int(n), how, float(r[how]["round_cycles"]), cyc))
    return out


def _load_text(text: str) -> Profile:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "reference-rtl.toml"
        p.write_text(text)
        return load_profile(p)


def driver_ok_check(bench: Mapping[str, Any], profile: Profile) -> list[tuple[int, float, float]]:
    """The benchmark's DRIVER_OK sweep against the model's own plan for that bring-up (mlx5's,
    the RTL parent's options at their defaults: every provisioned VQ created, the enabled ones
    readied), priced: (enabled VQs, measured, priced) wall cycles."""
    out = []
    nvq = int(bench.get("nvq", 8))
    features = int(bench.get("device_features", DeviceOptions().device_features))
    for vqs, fig in sorted(bench.get("driver_ok_cycles_by_vqs", {}).items(), key=lambda x: int(x[0])):
        t = Trace()
        fw = Mlx5Firmware(DeviceOptions(), nvq, features, trace=None)
        fw.device_add()
        fw.set_driver_features(features)
        for i in range(int(vqs)):
            fw.set_vq_num(i, 256)
            fw.set_vq_address(i)
            fw.set_vq_ready(i, True)
        fw.trace = t
        with t.in_phase("C4.2.9", "dev"), t.span(Layer.OP, "set_status", status=0x0F):
            fw.set_status(0x0F)
        sched = price(t.records, profile)
        cycles = sched.sections[0].duration * profile.clock_mhz * 1e6 if profile.clock_mhz else 0.0
        out.append((int(vqs), float(fig["wall_cycles"]), cycles))
    return out


def report(bench: Mapping[str, Any], sweeps: Mapping[str, Any], profile_path: Path,
           drain: Mapping[str, Any] | None = None) -> str:
    fits = fit_all(bench, sweeps)
    out = ["device cycles at no firmware latency (fitted = fixed + rate x ceil(driver / step))",
           f"  {'command':<26}{'observation':<26}{'measured':>10}{'fitted':>10}{'residual':>10}"]
    for name, f in fits.items():
        for o, y in zip(f.observations, f.fitted, strict=True):
            out.append(f"  {name:<26}{o.what:<26}{o.cycles:>10g}{y:>10.3f}{y - o.cycles:>+10.3f}")
    out.append(f"  largest residual: {max(f.max_residual for f in fits.values()):.3f} cycles")
    if drain is not None:
        d = fit_drain(drain)
        out.append(f"SUSPEND by the work in flight ({DRAIN}): {d.fixed:.3f} + {d.per_byte:.5f} x "
                   f"drained bytes + {d.per_chain:.3f} x drained chains")
        out.append(f"  {'bytes x queues':<16}{'drained B':>10}{'chains':>7}{'measured':>10}"
                   f"{'fitted':>10}{'residual':>10}")
        for r, y in zip(d.rows, d.fitted, strict=True):
            what = f"{r.get('frame_bytes', '?')} x {r.get('queues', '?')}"
            out.append(f"  {what:<16}{r['drained_bytes']:>10}{r['drained_chains']:>7}"
                       f"{r['suspend_cycles']:>10g}{y:>10.1f}{y - r['suspend_cycles']:>+10.1f}")
    lat = latency_check(sweeps)
    if lat:
        bad = [x for x in lat if x[3] != x[4]]
        out.append(f"firmware latency per class: {len(lat)} (build, command) pairs, measured minus "
                   f"hardware equals the class's set latency in {len(lat) - len(bad)}"
                   + (f"; differs: {bad[:4]}" if bad else ""))
    rounds = rounds_check(bench, sweeps)
    if rounds:
        out.append("rounds of the command sweeps (their builds' slots and latencies), round cycles "
                   "with the parent's register accesses:")
        for name, kind, n, how, measured, priced_ in rounds:
            out.append(f"  {name:<14}{kind:<8}{n:>3} VQs {how:<9} measured {measured:>7g}  priced "
                       f"{priced_:>8.1f}  residual {100 * (priced_ - measured) / measured:+.1f} %")
    checks = driver_ok_check(bench, load_profile(profile_path))
    if checks:
        out.append("DRIVER_OK sweep (the model's plan: every VQ created, the enabled ones readied "
                   "in two MODIFYs, then SET_STATUS), wall cycles:")
        for vqs, measured, priced_ in checks:
            out.append(f"  {vqs:>3} VQs enabled: measured {measured:>8g}  priced {priced_:>10.1f}  "
                       f"residual {100 * (priced_ - measured) / measured:+.1f} %")
    return "\n".join(out)


def _latency_arg(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: expected CLASS=CYCLES") from None
    return out


def add_parser(sub: Any) -> None:
    p = sub.add_parser("fit-rtl", help="fit the reference-rtl cost profile from the RTL benchmarks",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", type=Path, default=DEFAULT_BENCH,
                   help=f"the default build's figures (default {DEFAULT_BENCH})")
    p.add_argument("--sweeps", type=Path, default=DEFAULT_SWEEPS,
                   help=f"the command sweeps (default {DEFAULT_SWEEPS})")
    p.add_argument("--drain", type=Path, default=DEFAULT_DRAIN,
                   help=f"the suspend-in-flight figures (default {DEFAULT_DRAIN})")
    p.add_argument("--clock-mhz", type=float, default=None,
                   help="stated clock of the profile (default: the benchmark's clock)")
    p.add_argument("--fw-latency", type=_latency_arg, default=None, metavar="CLASS=CYCLES,...",
                   help="stated firmware latency per command class (VQ_CREATE, VQ_DESTROY, "
                        "VQ_MODIFY, MAP, UNMAP, RESET, OTHER; default none)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"profile to write (default {DEFAULT_OUT})")
    p.add_argument("--check", action="store_true", help="only check that --out is what the fit gives")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        bench = json.loads(Path(args.bench).read_text())
        sweeps = json.loads(Path(args.sweeps).read_text())
        drain = json.loads(Path(args.drain).read_text())
        text = profile_text(bench, sweeps, args.clock_mhz, args.fw_latency, drain)
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
    print(report(bench, sweeps, args.out, drain))
    print(f"wrote {args.out}")
    return 0
