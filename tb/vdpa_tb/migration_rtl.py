# SPDX-License-Identifier: MIT
"""A live migration on the RTL pair: the model's Flows A, B and C under traffic, measured.

:func:`migrate` runs :class:`vdpa_model.migration.Migration` (QEMU's sequence, every switch, the
guest's traffic and every check of docs/migration.md) with the source NIC on device 0 of
``vdpa_nic_pair`` and the destination on device 1, both reaching the same guest memory, each
behind the RTL parent driver configured with the migration's own parent options
(``MigrationSetup.device_options``). The guest keeps TX and RX traffic going on every queue pair
through the whole migration, with a round in flight whenever a device stops (``in_flight``).

The trace carries simulation time on every record and device cycles on every unit of firmware
work the devices did; each transmitted frame, the cycle it left its device on.
:func:`summary` turns them into what issue 6 asks for (vdpa_model.downtime.measured: cycles
per step, device and op, and the network gap from the last frame the source transmitted to the
first frame the destination transmitted). Python (QEMU, vhost-vdpa, the guest) takes no
simulated time, so every cycle here is the devices' and their parent drivers' register
traffic; the final RAM copy and the vCPUs' stop and start are not in the gap.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from cocotb.utils import get_sim_time

from vdpa_model.dma import AccessLog
from vdpa_model.downtime.measured import summarize
from vdpa_model.downtime.profile import load_profile
from vdpa_model.hostmem import HostMemory
from vdpa_model.memory import GuestMemory, MiB
from vdpa_model.migration import Migration, MigrationResult, MigrationSetup, memory_size
from vdpa_model.ramlayout import RamLayout
from vdpa_model.switches import PRESETS, Switches, parse_switches
from vdpa_model.trace import Trace

from .buses import CLK_NS
from .nic_tb import Tb
from .parent import RtlParentDriver

#: guest RAM of the RTL migrations: the smallest q35 guest whose RAM leaves QEMU's allocator a
#: window for the guest's rings (vdpa_model.ramlayout), so every region build writes a few
#: thousand MTT pages, not millions; in 4 KiB runs (THP off), the RTL's MTT granule, so the
#: model's translation entries of a region are the pages the device writes
RAM = 32 * MiB
HOST = HostMemory(thp=False)
#: the simulation's clock (tb/hdl: CLK_PERIOD)
CLOCK_MHZ = 1000 / CLK_NS


def now_ps() -> int:
    return int(get_sim_time("ps"))


def setup_for(switches: Switches, queue_pairs: int, **overrides: Any) -> MigrationSetup:
    """The migration the RTL pair runs: one NIC of the device's queue pairs, the guest's
    traffic with work in flight at every stop, every device traced."""
    base: dict[str, Any] = dict(devices=1, queue_pairs=queue_pairs,
                                layout=RamLayout(RAM, host=HOST), switches=switches,
                                in_flight=True, frames=4)
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


def summary(m: RtlMigration) -> dict[str, Any]:
    """The migration measured (vdpa_model.downtime.measured): cycles per step, device and op,
    the network gap; with its checks and how long it took to simulate."""
    return summarize(m.result.trace.records, load_profile("reference-rtl"), CLOCK_MHZ,
                     tx_last_ps=m.source.tx_last_ps, tx_first_ps=m.destination.tx_first_ps,
                     source_last_frame_ps=m.source.tx_last_ps,
                     destination_first_frame_ps=m.destination.tx_first_ps,
                     label=m.label, switches=m.result.setup.switches.describe(), ok=m.ok,
                     in_flight=m.result.setup.in_flight,
                     device_features=m.source.device_features,
                     max_queue_size=m.source.max_qsize, queue_pairs=m.source.hw_vqs // 2,
                     checks=[{"name": c.name, "ok": c.ok, "detail": c.detail}
                             for c in m.result.report.checks],
                     wall_seconds=round(m.wall_s, 2), simulated_cycles=m.cycles)


def write(m: RtlMigration, out_dir: Path) -> dict[str, Any]:
    """The trace as JSON lines and the summary as JSON under ``out_dir``; returns the summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    m.result.trace.write_jsonl(out_dir / f"rtl-{m.label}.jsonl")
    out = summary(m)
    (out_dir / f"rtl-{m.label}.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def preset_switches(name: str) -> Switches:
    """A preset of vdpa_model.switches.PRESETS, or switches as ``vdpa-dv migrate`` takes them."""
    return PRESETS[name] if name in PRESETS else parse_switches(name)
