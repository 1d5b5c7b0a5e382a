# SPDX-License-Identifier: MIT
"""A live migration on the RTL pair: the model's Flows A, B and C under traffic, measured.

:func:`migrate` runs :class:`vdpa_model.migration.Migration` (QEMU's sequence, every switch, the
guest's traffic and every check of docs/migration.md) with the source NIC on device 0 of
``vdpa_nic_pair`` and the destination on device 1, both reaching the same guest memory, each
behind the RTL parent driver configured with the migration's own parent options
(``MigrationSetup.device_options``). The guest keeps TX and RX traffic going on every queue pair
through the whole migration, with a round in flight whenever a device stops (``in_flight``).

The trace carries simulation time on every record and device cycles on every unit of firmware
work the devices did. :func:`measure` turns it into what issue 6 asks for: the cycles of every
step, per device (the trace replayed as measured: top-level records, gaps between them not
counted, as the downtime model composes them) and per op (each op record's span), and the
network gap a probe such as mig_mon would see: from the last frame the source transmitted to
the first frame the destination transmitted. Python (QEMU, vhost-vdpa, the guest) takes no
simulated time, so every cycle here is the devices' and their parent drivers' register
traffic; the final RAM copy and the vCPUs' stop and start are not in the gap.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cocotb.utils import get_sim_time

from vdpa_model.dma import AccessLog
from vdpa_model.downtime.profile import load_profile
from vdpa_model.downtime.scheduler import PriceOptions, price
from vdpa_model.memory import GuestMemory, MiB
from vdpa_model.migration import Migration, MigrationResult, MigrationSetup, memory_size
from vdpa_model.ramlayout import RamLayout
from vdpa_model.switches import PRESETS, Switches, parse_switches
from vdpa_model.trace import STEP_IDS, Layer, Trace

from .buses import CLK_NS
from .nic_tb import Tb
from .parent import RtlParentDriver

#: guest RAM of the RTL migrations: the smallest q35 guest whose RAM leaves QEMU's allocator a
#: window for the guest's rings (vdpa_model.ramlayout), so every region build writes a few
#: thousand MTT pages, not millions
RAM = 32 * MiB
#: the simulation's clock (tb/hdl: CLK_PERIOD)
CLOCK_MHZ = 1000 / CLK_NS
_RANK = {p: i for i, p in enumerate(STEP_IDS)}


def now_ps() -> int:
    return int(get_sim_time("ps"))


def setup_for(switches: Switches, queue_pairs: int, **overrides: Any) -> MigrationSetup:
    """The migration the RTL pair runs: one NIC of the device's queue pairs, the guest's
    traffic with work in flight at every stop, every device traced."""
    base: dict[str, Any] = dict(devices=1, queue_pairs=queue_pairs, layout=RamLayout(RAM),
                                switches=switches, in_flight=True, frames=4)
    base.update(overrides)
    return MigrationSetup(**base)


@dataclasses.dataclass
class RtlMigration:
    """One migration on the pair: the model's result (trace, checks) and how long it took."""

    label: str
    result: MigrationResult
    source: RtlParentDriver
    destination: RtlParentDriver
    wall_s: float
    cycles: int

    @property
    def ok(self) -> bool:
        return self.result.report.ok


async def migrate(dut: Any, setup: MigrationSetup, label: str) -> RtlMigration:
    """Run ``setup`` with its source on device 0 and its destination on device 1 of the pair
    (``dut``: tb_vdpa_nic_pair); each device is reset, probed and added when the flows open it,
    as QEMU's side finds it."""
    if setup.devices != 1:
        raise ValueError(f"the pair holds one NIC's source and destination, not {setup.devices}")
    size = memory_size(setup.layout)
    first = Tb(dut, "d0_", guest_size=size)
    halves = {"src": first, "dst": Tb(dut, "d1_", start_clock=False, mem=first.mem)}
    drivers: dict[str, RtlParentDriver] = {}
    options = setup.device_options()

    async def factory(name: str, mem: GuestMemory, log: AccessLog, trace: Trace | None) -> Any:
        tb = halves[name[:3]]
        if mem is not tb.mem:
            raise ValueError("the migration must run on the pair's guest memory")
        tb.parent_options = options
        tb.target.access_log = log
        drivers[name[:3]] = drv = await tb.start(trace=trace)
        return drv

    t0, c0 = time.perf_counter(), now_ps()
    result = await Migration(setup, factory, mem=first.mem, clock=now_ps).run()
    return RtlMigration(label, result, drivers["src"], drivers["dst"],
                        time.perf_counter() - t0, (now_ps() - c0) // (CLK_NS * 1000))


def network_gap_cycles(m: RtlMigration) -> int | None:
    """From the last frame out of the source to the first frame out of the destination."""
    last, first = m.source.tx_last_ps, m.destination.tx_first_ps
    if last is None or first is None:
        return None
    return (first - last) // (CLK_NS * 1000)


def _cycles(seconds: float) -> int:
    return round(seconds * CLOCK_MHZ * 1e6)


def measure(m: RtlMigration) -> dict[str, Any]:
    """Cycles per step and device (the measured replay of the trace), per op and device (each
    op's span), the device cycles of the firmware work per step, and the network gap."""
    records = m.result.trace.records
    sched = price(records, load_profile("reference-rtl"),
                  PriceOptions(mode="measured", measured_clock_mhz=CLOCK_MHZ))
    phases: dict[str, dict[str, int]] = {}
    for sec in sched.sections:
        row = phases.setdefault(sec.device, {})
        for ph, t in sec.phases.items():
            row[ph] = row.get(ph, 0) + _cycles(t)
    ops: dict[str, dict[str, dict[str, int]]] = {}
    device_cycles: dict[str, dict[str, int]] = {}
    for r in records:
        if r.layer is Layer.OP and r.t_start_ps is not None and r.t_end_ps is not None:
            o = ops.setdefault(r.device, {}).setdefault(r.name, {"count": 0, "cycles": 0})
            o["count"] += 1
            o["cycles"] += (r.t_end_ps - r.t_start_ps) // (CLK_NS * 1000)
        if r.layer is Layer.FW and r.cycles:
            d = device_cycles.setdefault(r.device, {})
            d[r.phase] = d.get(r.phase, 0) + r.cycles
    return {
        "label": m.label,
        "switches": m.result.setup.switches.describe(),
        "ok": m.ok,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail}
                   for c in m.result.report.checks],
        "wall_seconds": round(m.wall_s, 2),
        "simulated_cycles": m.cycles,
        "clock_mhz": CLOCK_MHZ,
        "phases": {d: dict(sorted(p.items(), key=lambda kv: _RANK.get(kv[0], len(_RANK))))
                   for d, p in phases.items()},
        "device_cycles": device_cycles,
        "ops": ops,
        "network_gap_cycles": network_gap_cycles(m),
        "records": len(records),
    }


def render(summary: Mapping[str, Any]) -> str:
    """The per-step table of both devices, the costliest ops, the gap."""
    phases: dict[str, dict[str, int]] = summary["phases"]
    devs = sorted(phases, key=lambda d: (not d.startswith("src"), d))  # the source first
    steps = sorted({p for d in devs for p in phases[d]}, key=lambda p: _RANK.get(p, len(_RANK)))
    fw = summary["device_cycles"]
    head = f"  {'step':<9}" + "".join(f"{d + ' cycles':>14}{d + ' device':>13}" for d in devs)
    out = [f"{summary['label']}: measured on the RTL pair at {summary['clock_mhz']:g} MHz "
           f"(cycles: the step's simulated time; device: the cycles its commands' completions "
           f"report, summed, so overlapping commands count each)",
           head]
    for p in steps:
        row = f"  {p:<9}"
        for d in devs:
            c = phases[d].get(p)
            row += f"{c if c is not None else '.':>14}{fw.get(d, {}).get(p, '.'):>13}"
        out.append(row)
    for d in devs:
        windows: dict[str, int] = {}
        for p, c in phases[d].items():
            w = "A" if p.startswith("A") else "B" if p.startswith("B") else \
                "C4.1" if p.startswith("C4.1") else "C4.2" if p.startswith("C4.2") else "other"
            windows[w] = windows.get(w, 0) + c
        out.append(f"  {d}: " + ", ".join(f"{w} {c:,}" for w, c in windows.items()))
        top = sorted(summary["ops"].get(d, {}).items(), key=lambda kv: -kv[1]["cycles"])[:6]
        out.append(f"  {d} ops: " + ", ".join(f"{n} {v['cycles']:,} ({v['count']})"
                                              for n, v in top))
    gap = summary["network_gap_cycles"]
    out.append(f"  network gap (last frame out of the source to first frame out of the "
               f"destination): {gap:,} cycles" if gap is not None else "  network gap: no frame")
    out.append(f"  simulated {summary['simulated_cycles']:,} cycles in {summary['wall_seconds']} s "
               f"of wall time")
    return "\n".join(out)


def write(m: RtlMigration, out_dir: Path) -> dict[str, Any]:
    """The trace as JSON lines and the summary as JSON under ``out_dir``; returns the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    m.result.trace.write_jsonl(out_dir / f"rtl-{m.label}.jsonl")
    summary = measure(m)
    (out_dir / f"rtl-{m.label}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def preset_switches(name: str) -> Switches:
    """A preset of vdpa_model.switches.PRESETS, or switches as ``vdpa-dv migrate`` takes them."""
    return PRESETS[name] if name in PRESETS else parse_switches(name)
