# SPDX-License-Identifier: MIT
"""What a simulation measured of a migration, step by step: the numbers issue 6 asks of the RTL.

A trace a simulation wrote carries simulation time on every record and device cycles on the
firmware work (the RTL pair's, tb/vdpa_tb/migration_rtl.py). :func:`summarize` turns it into:

* cycles per step and device: the trace replayed as measured (:func:`.scheduler.price` with
  ``mode="measured"``: top-level records, the gaps between them not counted, as the downtime
  model composes steps into windows);
* cycles per op and device: each op record's span;
* device cycles per step: what the completions of the step's commands reported, summed
  (commands that overlap in the device count each);
* the network gap a probe such as mig_mon sees: from the last frame out of the source to the
  first frame out of the destination, given the frames' times.

Work that takes no simulated time (QEMU, vhost-vdpa and the guest are software beside the
simulator) adds no cycles; so the gap holds no RAM copy and no vCPU stop or start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..trace import Layer, TraceRecord
from .profile import Profile
from .report import phase_key
from .scheduler import PriceOptions, price, window_of


def _cycles(ps: int | float, clock_mhz: float) -> int:
    return round(ps * clock_mhz * 1e-6)


def summarize(records: Sequence[TraceRecord], profile: Profile, clock_mhz: float, *,
              tx_last_ps: int | None = None, tx_first_ps: int | None = None,
              **extra: Any) -> dict[str, Any]:
    """The measured migration in cycles of a ``clock_mhz`` clock; ``tx_last_ps`` (the source's
    last frame) and ``tx_first_ps`` (the destination's first) give the network gap. ``extra``
    goes into the summary as it is (a label, the checks, wall time)."""
    sched = price(records, profile, PriceOptions(mode="measured", measured_clock_mhz=clock_mhz))
    phases: dict[str, dict[str, int]] = {}
    for sec in sched.sections:
        row = phases.setdefault(sec.device, {})
        for ph, t in sec.phases.items():
            row[ph] = row.get(ph, 0) + _cycles(t * 1e12, clock_mhz)
    ops: dict[str, dict[str, dict[str, int]]] = {}
    device: dict[str, dict[str, int]] = {}
    for r in records:
        if r.layer is Layer.OP and r.t_start_ps is not None and r.t_end_ps is not None:
            o = ops.setdefault(r.device, {}).setdefault(r.name, {"count": 0, "cycles": 0})
            o["count"] += 1
            o["cycles"] += _cycles(r.t_end_ps - r.t_start_ps, clock_mhz)
        if r.layer is Layer.FW and r.cycles:
            d = device.setdefault(r.device, {})
            d[r.phase] = d.get(r.phase, 0) + r.cycles
    gap = (None if tx_last_ps is None or tx_first_ps is None
           else _cycles(tx_first_ps - tx_last_ps, clock_mhz))
    return {
        **extra,
        "clock_mhz": clock_mhz,
        "phases": {d: dict(sorted(p.items(), key=lambda kv: phase_key(kv[0])))
                   for d, p in phases.items()},
        "windows": {d: _windows(p) for d, p in phases.items()},
        "device_cycles": device,
        "ops": ops,
        "network_gap_cycles": gap,
        "records": len(records),
    }


def _windows(phases: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for ph, c in phases.items():
        w = window_of(ph)
        out[w] = out.get(w, 0) + c
    return out


def _devices(summary: Mapping[str, Any]) -> list[str]:
    return sorted(summary["phases"], key=lambda d: (not d.startswith("src"), d))


def render(summary: Mapping[str, Any], ops: int = 6) -> str:
    """The per-step table of every device (the source first), each device's windows and
    costliest ops, the network gap."""
    phases: dict[str, dict[str, int]] = summary["phases"]
    devs = _devices(summary)
    steps = sorted({p for d in devs for p in phases[d]}, key=phase_key)
    fw = summary["device_cycles"]
    out = [f"{summary.get('label', 'migration')}: cycles at {summary['clock_mhz']:g} MHz per step "
           f"(the step's simulated time; device: its commands' completions, summed, so "
           f"overlapping commands count each)",
           f"  {'step':<9}" + "".join(f"{d:>12}{d + ' device':>14}" for d in devs)]
    for p in steps:
        out.append(f"  {p:<9}" + "".join(
            f"{phases[d].get(p, '.'):>12}{fw.get(d, {}).get(p, '.'):>14}" for d in devs))
    for d in devs:
        out.append(f"  {d}: " + ", ".join(f"{w} {c:,}" for w, c in summary["windows"][d].items()))
        top = sorted(summary["ops"].get(d, {}).items(), key=lambda kv: -kv[1]["cycles"])[:ops]
        out.append(f"  {d} ops: " + ", ".join(f"{n} {v['cycles']:,} ({v['count']})"
                                              for n, v in top))
    gap = summary["network_gap_cycles"]
    out.append("  network gap, last frame out of the source to first frame out of the "
               f"destination: {gap:,} cycles" if gap is not None else
               "  network gap: no frame out of one of the devices")
    return "\n".join(out)
