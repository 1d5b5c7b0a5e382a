# SPDX-License-Identifier: MIT
"""Downtimes from a priced trace, with the breakdowns that say where the time went.

The three downtimes of ``../shared/reference/calibration-figures.md``:

downtime #1
    Flow A (the switch of a running device to the Shadow VirtQueue), per device: every step
    A1..A21 of that device, during which its NIC is silent. Devices are switched one after
    another, so each device has its own figure; the largest and the sum are reported too.
downtime #2
    Source teardown (Flow B) plus destination start (C 4.2) inside the stop-and-copy window,
    summed over devices: the wall time of the source-stop block plus that of the destination-
    start block. Per device it is source device k's B plus destination device k's C 4.2, the
    k-th source paired with the k-th destination in trace order.
guest-visible downtime
    From the start of the last suspend on the source (the last device's B1) to the end of the
    last queue enable on the destination (the end of the C 4.2 block): the rest of that
    device's teardown, the final RAM and device-state copy, and every destination start. The
    final RAM copy is a scenario input (``ram_copy_s``; QEMU sizes it to its downtime limit,
    300 ms by default, H5); vCPU pause and resume and the device-state transfer are not traced
    and not included.

The destination's work before the window (C 4.1: early pinning and mapping) is reported apart,
in no downtime. The probe view rounds the guest-visible downtime up to a probe interval, as a
mig_mon-style prober reports the largest gap between replies (H6).

Windows are composed from the priced sections (:mod:`.scheduler`): in each window the devices'
sections run in trace order, as many at once as the profile's device parallelism allows (one:
devices are serial), each device standing for its number of copies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

from .scheduler import WINDOWS, Schedule, SectionTiming, lane_schedule

MS = 1e3
#: devices and device pairs the text table lists (the costliest); the JSON has them all
LISTED = 8


def _ms(x: float) -> float:
    return round(x * MS, 6)


def phase_key(phase: str) -> tuple[Any, ...]:
    """Sort key of step ids: A2 < A10, C4.2.9 < C4.2.10, "" last."""
    if not phase:
        return (1,)
    parts: list[Any] = []
    for chunk in phase.replace(".", " ").split():
        head = chunk.rstrip("0123456789")
        num = chunk[len(head):]
        parts.append((head, int(num) if num else -1))
    return (0, *parts)


@dataclasses.dataclass
class PhaseRow:
    window: str
    phase: str
    seconds: float                      # summed over devices and their copies
    per_device: dict[str, float]        # one copy of each device


@dataclasses.dataclass
class KindRow:
    layer: str
    name: str
    count: int                          # summed over devices and copies
    busy: float
    span: float


@dataclasses.dataclass
class DeviceRow:
    device: str
    copies: int
    windows: dict[str, float]           # one copy, per window
    shared_with: str | None


@dataclasses.dataclass
class PairRow:
    """Source device k's teardown and destination device k's start (``count`` such pairs)."""

    source: str
    destination: str
    count: int
    teardown: float
    startup: float

    @property
    def total(self) -> float:
        return self.teardown + self.startup


@dataclasses.dataclass
class TopRecord:
    device: str
    phase: str
    layer: str
    name: str
    args: dict[str, int]
    seconds: float


@dataclasses.dataclass
class Result:
    """Downtimes and breakdowns of one priced trace."""

    label: str
    profile: str
    mode: str
    ram_copy: float
    probe_interval: float | None
    downtime1: dict[str, float]
    downtime2: float
    source_stop: float
    destination_start: float
    destination_prepare: float
    guest_visible: float | None
    last_suspend_offset: float
    pairs: list[PairRow]
    phases: list[PhaseRow]
    kinds: list[KindRow]
    devices: list[DeviceRow]
    top: list[TopRecord]
    warnings: list[str]
    records: int
    priced_sections: int

    @property
    def downtime1_max(self) -> float:
        return max(self.downtime1.values(), default=0.0)

    @property
    def downtime1_sum(self) -> float:
        copies = {d.device: d.copies for d in self.devices}
        return sum(v * copies.get(k, 1) for k, v in self.downtime1.items())

    @property
    def probe_view(self) -> float | None:
        if self.guest_visible is None or not self.probe_interval:
            return None
        return math.ceil(self.guest_visible / self.probe_interval - 1e-9) * self.probe_interval

    def phases_in(self, windows: Iterable[str], device: str | None = None) -> list[tuple[str, float]]:
        """(phase, seconds) of some windows, all devices (or one copy of ``device``), costliest first."""
        ws = set(windows)
        rows = [(p.phase, p.per_device.get(device, 0.0) if device is not None else p.seconds)
                for p in self.phases if p.window in ws]
        return sorted((r for r in rows if r[1] > 0), key=lambda r: -r[1])

    # -- output ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label, "profile": self.profile, "mode": self.mode,
            "inputs": {"final_ram_copy_ms": _ms(self.ram_copy),
                       "probe_interval_ms": _ms(self.probe_interval) if self.probe_interval else None},
            "downtime_ms": {
                "downtime1_per_device": {k: _ms(v) for k, v in self.downtime1.items()},
                "downtime1_max": _ms(self.downtime1_max),
                "downtime1_sum": _ms(self.downtime1_sum),
                "downtime2": _ms(self.downtime2),
                "source_stop": _ms(self.source_stop),
                "destination_start": _ms(self.destination_start),
                "guest_visible": None if self.guest_visible is None else _ms(self.guest_visible),
                "probe_view": None if self.probe_view is None else _ms(self.probe_view),
                "destination_prepare_before_window": _ms(self.destination_prepare),
            },
            "device_pairs": [{"source": p.source, "destination": p.destination, "count": p.count,
                              "teardown_ms": _ms(p.teardown), "startup_ms": _ms(p.startup),
                              "total_ms": _ms(p.total)} for p in self.pairs],
            "devices": [{"device": d.device, "copies": d.copies, "shared_schedule_with": d.shared_with,
                         "windows_ms": {w: _ms(v) for w, v in d.windows.items()}} for d in self.devices],
            "phases": [{"window": p.window, "phase": p.phase, "total_ms": _ms(p.seconds),
                        "per_device_ms": {k: _ms(v) for k, v in p.per_device.items()}} for p in self.phases],
            "kinds": [{"layer": k.layer, "name": k.name, "count": k.count, "busy_ms": _ms(k.busy),
                       "span_ms": _ms(k.span)} for k in self.kinds],
            "top_records": [{"device": t.device, "phase": t.phase, "layer": t.layer, "name": t.name,
                             "args": t.args, "ms": _ms(t.seconds)} for t in self.top],
            "records": self.records, "priced_sections": self.priced_sections,
            "warnings": self.warnings,
        }


def _window_wall(sections: Sequence[SectionTiming], lanes: int) -> tuple[list[tuple[Any, float]], float]:
    streams = [((s, k), s.duration) for s in sections for k in range(s.copies)]
    return lane_schedule(streams, lanes)


def compose(schedule: Schedule, label: str = "", ram_copy: float = 0.0,
            probe_interval: float | None = None) -> Result:
    """Downtimes and breakdowns of ``schedule``; ``ram_copy`` is the final RAM and device-state
    copy in seconds (a scenario input), ``probe_interval`` a prober's interval (H6)."""
    lanes = schedule.profile.device_parallelism
    by_window: dict[str, list[SectionTiming]] = {w: [] for w in WINDOWS}
    for s in schedule.sections:
        by_window[s.window].append(s)

    downtime1 = {s.device: s.duration for s in by_window["A"]}
    b_starts, b_wall = _window_wall(by_window["B"], lanes)
    _, c_wall = _window_wall(by_window["C4.2"], lanes)
    _, prep_wall = _window_wall(by_window["C4.1"], lanes)
    last_suspend = max(((start + s.phase_start.get("B1", 0.0)) for (s, _), start in b_starts), default=0.0)
    guest: float | None = None
    if by_window["B"] or by_window["C4.2"]:
        guest = (b_wall - last_suspend) + ram_copy + c_wall

    src = [s for s in by_window["B"] for _ in range(s.copies)]
    dst = [s for s in by_window["C4.2"] for _ in range(s.copies)]
    pairs: list[PairRow] = []
    for i in range(max(len(src), len(dst))):
        b = src[i] if i < len(src) else None
        c = dst[i] if i < len(dst) else None
        row = PairRow(b.device if b else "-", c.device if c else "-", 1,
                      b.duration if b else 0.0, c.duration if c else 0.0)
        last = pairs[-1] if pairs else None
        if last and (last.source, last.destination) == (row.source, row.destination):
            last.count += 1
        else:
            pairs.append(row)

    phase_rows: dict[tuple[str, str], PhaseRow] = {}
    kinds: dict[tuple[str, str], KindRow] = {}
    devices: dict[str, DeviceRow] = {}
    top: list[TopRecord] = []
    for s in schedule.sections:
        for ph, t in s.phases.items():
            prow = phase_rows.setdefault((s.window, ph), PhaseRow(s.window, ph, 0.0, {}))
            prow.seconds += t * s.copies
            prow.per_device[s.device] = prow.per_device.get(s.device, 0.0) + t
        for (layer, name), st in s.kinds.items():
            k = kinds.setdefault((layer, name), KindRow(layer, name, 0, 0.0, 0.0))
            k.count += st.count * s.copies
            k.busy += st.busy * s.copies
            k.span += st.span * s.copies
        d = devices.setdefault(s.device, DeviceRow(s.device, s.copies, {}, s.shared_with))
        d.windows[s.window] = d.windows.get(s.window, 0.0) + s.duration
        for dur, i in s.top:
            r = s.records[i]
            top.append(TopRecord(s.device, r.phase, str(r.layer), r.name, dict(r.args), dur))
    top.sort(key=lambda t: -t.seconds)
    order = {w: i for i, w in enumerate(WINDOWS)}
    phases = sorted(phase_rows.values(), key=lambda p: (order[p.window], phase_key(p.phase)))
    return Result(label, schedule.profile.name, schedule.mode, ram_copy, probe_interval, downtime1,
                  b_wall + c_wall, b_wall, c_wall, prep_wall, guest, last_suspend, pairs, phases,
                  sorted(kinds.values(), key=lambda k: -k.busy), list(devices.values()), top[:25],
                  list(schedule.warnings), schedule.records, schedule.priced_sections)


# ---------------------------------------------------------------------------------------------
def fmt_ms(x: float | None) -> str:
    """Seconds as milliseconds for tables."""
    return "-" if x is None else f"{x * MS:,.3f}"


def render(result: Result, *, kinds: int = 15, top: int = 8) -> str:
    """The breakdown table of one result, as text."""
    r = result
    out = [f"downtime of {r.label or 'trace'}: profile {r.profile}, {r.mode}, {r.records:,} records, "
           f"{r.priced_sections} section(s) scheduled"]
    copies = {d.device: d.copies for d in r.devices}
    w = 44
    out.append("  figure" + " " * (w - 6) + "        ms")
    worst = sorted(r.downtime1.items(), key=lambda x: -x[1])
    for dev, v in worst[:LISTED]:
        n = copies.get(dev, 1)
        out.append(f"  {'downtime #1, ' + dev + (f' (x{n})' if n > 1 else ''):<{w}}{fmt_ms(v):>12}")
    if len(worst) > LISTED:
        out.append(f"  ... {len(worst) - LISTED} more devices in the JSON")
    if r.downtime1:
        out.append(f"  {'downtime #1, largest':<{w}}{fmt_ms(r.downtime1_max):>12}")
    out.append(f"  {'downtime #2 (B + C4.2, all devices)':<{w}}{fmt_ms(r.downtime2):>12}"
               f"   = source stop {fmt_ms(r.source_stop)} + destination start {fmt_ms(r.destination_start)}")
    pairs = sorted(r.pairs, key=lambda p: -p.total)
    for pair in pairs[:LISTED]:
        label = (f"  per device {pair.source} -> {pair.destination}"
                 + (f" (x{pair.count})" if pair.count > 1 else ""))
        out.append(f"{label:<{w + 2}}{fmt_ms(pair.total):>12}   = {fmt_ms(pair.teardown)} + "
                   f"{fmt_ms(pair.startup)}")
    if len(pairs) > LISTED:
        out.append(f"  ... {len(pairs) - LISTED} more device pairs in the JSON")
    out.append(f"  {'guest-visible (last suspend -> last enable)':<{w}}{fmt_ms(r.guest_visible):>12}"
               f"   incl. final RAM copy {fmt_ms(r.ram_copy)}")
    if r.probe_view is not None:
        label = f"probe view (interval {fmt_ms(r.probe_interval)} ms)"
        out.append(f"  {label:<{w}}{fmt_ms(r.probe_view):>12}")
    if r.destination_prepare:
        out.append(f"  {'destination before the window (C4.1)':<{w}}{fmt_ms(r.destination_prepare):>12}")

    out.append("  per phase (all devices)                    ms   per device (one copy)")
    for p in r.phases:
        per = ", ".join(f"{d} {fmt_ms(v)}" for d, v in list(p.per_device.items())[:4])
        if len(p.per_device) > 4:
            per += f", ... (largest {fmt_ms(max(p.per_device.values()))})"
        out.append(f"    {p.window:<5} {p.phase or '(none)':<10} {fmt_ms(p.seconds):>24}   {per}")
    out.append("  per op / fw kind (busy = summed time of its records; span = time one was running)")
    out.append(f"    {'layer':<6}{'name':<28}{'count':>10}{'busy ms':>14}{'span ms':>14}")
    for k in r.kinds[:kinds]:
        out.append(f"    {k.layer:<6}{k.name:<28}{k.count:>10,}{fmt_ms(k.busy):>14}{fmt_ms(k.span):>14}")
    if len(r.kinds) > kinds:
        out.append(f"    ... {len(r.kinds) - kinds} more in the JSON")
    out.append("  costliest records (every step, before the window and device creation included)")
    for t in r.top[:top]:
        args = " ".join(f"{k}={v}" for k, v in t.args.items())
        out.append(f"    {fmt_ms(t.seconds):>12} ms  {t.device} {t.phase} {t.layer} {t.name} {args}")
    out.extend(f"  warning: {w_}" for w_ in r.warnings)
    return "\n".join(out)


def render_staircase(results: Sequence[Result]) -> str:
    """One line per result: the optimisation staircase as text."""
    w = max([len(r.label) for r in results] + [5])
    out = [f"  {'step':<{w}}  {'#1 max ms':>12}{'#2 ms':>12}{'guest ms':>12}"]
    for r in results:
        out.append(f"  {r.label:<{w}}  {fmt_ms(r.downtime1_max):>12}{fmt_ms(r.downtime2):>12}"
                   f"{fmt_ms(r.guest_visible):>12}")
    return "\n".join(out)
