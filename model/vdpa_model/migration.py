# SPDX-License-Identifier: MIT
"""A live migration of a guest with vhost-vdpa NICs: Flows A, B and C under traffic, traced.

:class:`Migration` builds, for every NIC, a source and a destination device (the reference
device by default, any :class:`VdpaOps` + :class:`DeviceHarness` from a factory otherwise), the
kernel's vhost-vdpa over each, and QEMU's side (:class:`~vdpa_model.qemu.QemuVdpaNet`), and runs
what a migration runs (migration-sequence.md §1 item 11: devices one after another, per-device
costs add up):

1. boot: each source QEMU opens and probes its device, maps guest RAM, starts the data queues in
   passthrough with the control VQ shadowed; the guest brings its NICs up and sends its control
   commands (queue pairs in use, VLAN filter) through QEMU;
2. guest traffic, then **Flow A** on each source device in turn (switch to the Shadow
   VirtQueue; with ``resumable_vqs`` by suspend and resume instead of reset), traffic between
   and after (now through the shadow rings);
3. **C 4.1** on each destination: QEMU starting with ``-incoming`` opens and probes its device
   (and maps RAM early with ``early_map_dest``);
4. the VM stops: **Flow B** on each source device (stop-and-copy), then the device state
   migrates (QEMU's ring positions, MAC, queue pairs, VLANs), frames still arriving on the wire
   go nowhere;
5. **C 4.2** on each destination device, then traffic on the destination and a drain.

Every step runs under its step id, so the trace says which step each ioctl, op, firmware
command and piece of host work belongs to; guest traffic is not traced. With
``MigrationSetup.trace_devices = 1`` only the first NIC's devices are traced: NICs of one shape
yield the same per-device trace, so a 256-device VM is priced from one device's records times
its count (:attr:`MigrationResult.device_count`).

The run is also a check (:attr:`MigrationResult.report`): every posted buffer completed once
and every frame accounted for as :mod:`vdpa_model.traffic` says the contract allows, no DMA
outside the mappings in force of the right ASID at any moment (judged at every settle against an
independent :class:`~vdpa_model.shadow.ContractShadow`), the destination device's control state
equal to the source's, the source silent after stop-and-copy, no device fault.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from .device import ReferenceDevice
from .dma import AccessLog
from .guest import GuestNetDriver
from .memory import Allocator, GiB, GuestMemory, MiB
from .options import MLX5_NET_FEATURES, SIM_NET_FEATURES, DeviceOptions, Parent
from .qemu import NetState, QemuVdpaNet, mac_set, mq_set, vlan
from .ramlayout import RamLayout
from .report import Report
from .shadow import ContractShadow
from .spec import VIRTIO_NET_F_CTRL_VLAN, VIRTIO_NET_F_MQ, bit
from .svq import GuestRing
from .switches import Switches
from .trace import STEP_IDS, Layer, Trace, TraceRecord
from .tracing import TracingOps
from .traffic import Nic, Traffic
from .vhost import VhostOptions, VhostVdpa

#: Makes one device: (name, guest memory, DMA log to fill, trace for its parent's work or None).
DeviceFactory = Callable[[str, GuestMemory, AccessLog, "Trace | None"], Awaitable[Any]]

#: QEMU's own allocations (shadow rings, control buffers) live here, above guest RAM.
HOST_AREA = 256 * MiB


@dataclasses.dataclass(frozen=True)
class MigrationSetup:
    """One migration: the VM, its NICs, the switches, the traffic."""

    parent: Parent = Parent.MLX5
    #: NICs of the VM (each a source and a destination device)
    devices: int = 1
    #: provisioned queue pairs per NIC (QEMU configures all of them)
    queue_pairs: int = 4
    #: queue pairs the guest uses (its MQ command); None: all
    active_pairs: int | None = None
    queue_size: int = 256
    layout: RamLayout = dataclasses.field(default_factory=lambda: RamLayout(8 * GiB))
    switches: Switches = dataclasses.field(default_factory=Switches)
    #: the guest's VLAN filter (sent only if CTRL_VLAN is negotiated)
    vlans: tuple[int, ...] = (100, 200)
    #: a MAC the guest sets through the control VQ, or None to keep the device's
    guest_mac: bytes | None = None
    traffic: bool = True
    #: before each device stops (Flow A, Flow B), the guest posts a round the device has not
    #: been let to finish: work in flight when the suspend arrives (a simulated device takes it
    #: on beside the flow; the reference device leaves it to be rewound)
    in_flight: bool = False
    frames: int = 4
    seed: int = 1
    #: NICs whose devices are traced (None: all)
    trace_devices: int | None = None
    #: the kernel modelled; the default is one without the 2026 SET_GROUP_ASID -EBUSY check,
    #: as the kernels the optimisations were measured on (~v6.8-v6.12)
    vhost: VhostOptions = dataclasses.field(
        default_factory=lambda: VhostOptions(group_asid_busy_after_driver_ok=False))

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise ValueError(f"devices must be at least 1, got {self.devices}")
        if self.parent is Parent.SIM and self.queue_pairs != 1:
            raise ValueError(f"queue_pairs={self.queue_pairs}: the sim parent (vdpa_sim_net) has "
                             "one queue pair and no multiqueue")
        if self.active_pairs is not None and not 1 <= self.active_pairs <= self.queue_pairs:
            raise ValueError(f"active_pairs={self.active_pairs} outside 1..{self.queue_pairs}")

    @property
    def pairs_in_use(self) -> int:
        return self.active_pairs or self.queue_pairs

    def device_options(self) -> DeviceOptions:
        """The reference device for this setup: the parent's own feature set, and on mlx5 the
        first queue pair started by DRIVER_OK, the others by the MQ command."""
        if self.parent is Parent.MLX5:
            return self.switches.device_options(
                self.parent, queue_pairs=self.queue_pairs, device_features=MLX5_NET_FEATURES,
                driver_ok_first_qp_only=True)
        return self.switches.device_options(self.parent, device_features=SIM_NET_FEATURES)


def reference_factory(setup: MigrationSetup, **overrides: Any) -> DeviceFactory:
    """Reference devices for ``setup``; the firmware-work model takes the region geometry from
    the layout's host memory (:attr:`RamLayout.backing`). ``overrides`` replace DeviceOptions
    fields that no switch sets (e.g. ``keep_link_notifier`` for a firmware generation between
    two switches)."""
    options = dataclasses.replace(setup.device_options(), **overrides)

    async def make(name: str, mem: GuestMemory, log: AccessLog, trace: Trace | None) -> Any:
        return ReferenceDevice(mem, options, log, trace=trace, backing=setup.layout.backing)
    return make


@dataclasses.dataclass
class Endpoint:
    """One device of one side, with everything stacked on it."""

    name: str
    device: Any
    shadow: ContractShadow
    log: AccessLog
    qemu: QemuVdpaNet

    def judge(self) -> None:
        """Isolation: the DMA since the shadow last judged, against the mappings in force now
        (the shadow judges what came before and during each mapping change by itself)."""
        self.shadow.judge()

    @property
    def violations(self) -> list[str]:
        return self.shadow.found


_STEP_RANK = {p: i for i, p in enumerate(STEP_IDS)}

#: The columns of the per-step table: (heading, what it counts).
TABLE_COLUMNS: tuple[tuple[str, Callable[[TraceRecord], int]], ...] = (
    ("ioctl", lambda r: r.layer is Layer.IOCTL),
    ("op", lambda r: r.layer is Layer.OP),
    ("fw", lambda r: (r.layer is Layer.FW) * r.args.get("count", 1)),
    ("host", lambda r: r.layer is Layer.HOST),
    ("set_map", lambda r: r.name == "set_map"),
    ("mkeys", lambda r: r.args.get("count", 1) if r.name == "mkey_create" else 0),
    ("MTT", lambda r: r.args["entries"] * r.args.get("count", 1) if r.name == "mkey_create" else 0),
    ("pin MiB", lambda r: r.args["bytes"] // MiB if r.name == "pin" else 0),
    ("vq_create", lambda r: r.name == "vq_create"),
    ("vq_destroy", lambda r: r.name == "vq_destroy"),
    ("modify", lambda r: r.name == "vq_modify"),
    ("query", lambda r: r.name == "vq_query"),
)


@dataclasses.dataclass
class MigrationResult:
    setup: MigrationSetup
    report: Report
    trace: Trace
    #: wall-clock seconds per flow and device, e.g. ("A", "src0")
    timings: dict[tuple[str, str], float]
    #: devices whose records are in the trace; the others have the same trace
    traced: list[str]

    @property
    def device_count(self) -> int:
        return self.setup.devices

    def records(self, device: str | None = None) -> list[TraceRecord]:
        return [r for r in self.trace.records if device is None or r.device == device]

    def phase_counts(self, device: str | None = None) -> dict[str, Counter[str]]:
        """Per step id, how many records of each ``layer:name``."""
        out: dict[str, Counter[str]] = {}
        for r in self.records(device):
            out.setdefault(r.phase or "-", Counter())[f"{r.layer}:{r.name}"] += 1
        return out

    def step_table(self, device: str) -> list[tuple[str, list[int]]]:
        """Per step of ``device`` in flow order, the :data:`TABLE_COLUMNS` totals."""
        rows: dict[str, list[int]] = {}
        for r in self.records(device):
            row = rows.setdefault(r.phase or "-", [0] * len(TABLE_COLUMNS))
            for i, (_, f) in enumerate(TABLE_COLUMNS):
                row[i] += int(f(r))
        return sorted(rows.items(), key=lambda kv: _STEP_RANK.get(kv[0], len(STEP_IDS)))

    def render_table(self, device: str) -> str:
        heads = ["step"] + [h for h, _ in TABLE_COLUMNS]
        body = [[step] + [f"{v:,}" if v else "." for v in vals] for step, vals in self.step_table(device)]
        widths = [max(len(row[i]) for row in [heads, *body]) for i in range(len(heads))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                           enumerate(zip(row, widths, strict=True))) for row in [heads, *body]]
        return "\n".join(lines)


def host_base(layout: RamLayout) -> int:
    """Where QEMU's own allocations start: the first GiB above guest RAM."""
    return (layout.top + GiB - 1) // GiB * GiB


def memory_size(layout: RamLayout) -> int:
    """Guest memory a migration of this guest reaches: its RAM and QEMU's allocations."""
    return host_base(layout) + HOST_AREA


class Migration:
    """Runs :class:`MigrationSetup` end to end (see the module docstring)."""

    def __init__(self, setup: MigrationSetup, factory: DeviceFactory | None = None, *,
                 mem: GuestMemory | None = None, clock: Callable[[], int] | None = None) -> None:
        """``mem``: the guest memory the devices reach (a simulation's), at least
        :meth:`memory_size` bytes; ``clock``: the trace's time in picoseconds (a simulation's;
        none on the reference device)."""
        self.setup = setup
        self.factory = factory or reference_factory(setup)
        layout = setup.layout
        self.host_base = host_base(layout)
        size = self.host_base + HOST_AREA
        if mem is not None and mem.size < size:
            raise ValueError(f"guest memory of {mem.size:#x} bytes; this guest needs {size:#x} "
                             f"(RAM up to {layout.top:#x}, QEMU's own allocations above)")
        self.mem = mem if mem is not None else GuestMemory(size=size)
        self.host = Allocator(self.host_base, self.host_base + HOST_AREA)
        lo, hi = layout.ram_window()
        self.guest_alloc = Allocator(lo, hi)
        self.trace = Trace(clock)
        self.report = Report()
        self.timings: dict[tuple[str, str], float] = {}

    def _host_alloc(self, size: int) -> int:
        return self.host.alloc(size, 4096)

    def _traced(self, index: int) -> bool:
        n = self.setup.trace_devices
        return n is None or index < n

    async def _endpoint(self, name: str, index: int, driver: GuestNetDriver | None) -> Endpoint:
        trace = self.trace if self._traced(index) else None
        log = AccessLog()
        with self.trace.in_phase("add", device=name):
            dev = await self.factory(name, self.mem, log, trace)
        identity = getattr(getattr(dev, "options", None), "identity_asids", frozenset({0}))
        shadow = ContractShadow(dev, identity, log)
        tops = TracingOps(shadow, trace)
        v = VhostVdpa(tops, self.setup.vhost, trace=trace, backing=self.setup.layout.backing)
        rings: list[GuestRing] = []
        if driver is not None:
            rings = [GuestRing(self.mem, q.index, q.desc_gpa, q.avail_gpa, q.used_gpa, q.num)
                     for q in driver.vqs]
        traced = [v, tops] + ([dev] if hasattr(dev, "trace") else [])
        qemu = QemuVdpaNet(name, v, dev, self.mem, self.setup.layout, self.setup.switches, rings,
                           self._host_alloc, trace=trace, traced=traced)
        ep = Endpoint(name, dev, shadow, log, qemu)
        qemu.on_settle = ep.judge
        return ep

    def _wire_on_stop(self, ep: Endpoint, traffic: Traffic, nic: Nic) -> None:
        """Read the wire as soon as a stop's suspend returned (see QemuVdpaNet.on_suspended)."""
        ep.qemu.on_suspended = lambda: traffic.wire(nic.name, ep.device.take_tx(), nic.driver)

    async def _collect_garbage(self, ep: Endpoint) -> None:
        """mlx5's MR collector, MLX5_VDPA_MR_GC_TRIGGER_MS after the flow: outside any window.
        A parent driver whose collector talks to its device (the RTL's) has it as a coroutine."""
        collect = getattr(ep.device, "collect_garbage", None)
        if collect is not None:
            with ep.qemu.step("GC"):
                done = collect()
                if inspect.isawaitable(done):
                    await done

    async def _timed(self, flow: str, ep: Endpoint, work: Awaitable[Any]) -> Any:
        t0 = time.perf_counter()
        out = await work
        self.timings[(flow, ep.name)] = time.perf_counter() - t0
        return out

    async def run(self) -> MigrationResult:
        s = self.setup
        sources: list[Endpoint] = []
        nics: list[Nic] = []
        # -- 1. boot -----------------------------------------------------------------------
        for i in range(s.devices):
            ep, nic = await self.boot_source(i)
            sources.append(ep)
            nics.append(nic)
        traffic = Traffic(nics, s.frames, s.seed)
        for ep, nic in zip(sources, nics, strict=True):
            self._wire_on_stop(ep, traffic, nic)

        destinations: list[Endpoint] = []

        async def guest_traffic(rounds: int = 1) -> None:
            if s.traffic:
                with _untraced_all(sources + destinations):
                    for _ in range(rounds):
                        await traffic.round()

        async def in_flight() -> None:
            if s.traffic and s.in_flight:
                with _untraced_all(sources + destinations):
                    await traffic.round(pump=False)

        await guest_traffic(2)
        # -- 2. Flow A on each source, the guest running ------------------------------------
        for ep, nic in zip(sources, nics, strict=True):
            await in_flight()
            with _untraced_all([ep]):
                traffic.stopping(nic)
            await self._timed("A", ep, self._flow_a(ep))
            await self._collect_garbage(ep)
            await guest_traffic()
        await guest_traffic(2)
        # -- 3. the destination QEMUs start (-incoming) --------------------------------------
        for i, nic in enumerate(nics):
            ep = await self._endpoint(f"dst{i}", i, nic.driver)
            await self._timed("C4.1", ep, self._flow_c1(ep))
            destinations.append(ep)
        await guest_traffic()
        # -- 4. stop-and-copy -----------------------------------------------------------------
        states: list[NetState] = []
        before: list[dict[str, Any]] = []
        await in_flight()
        for ep, nic in zip(sources, nics, strict=True):
            with _untraced_all([ep]):
                traffic.stopping(nic)
            before.append(_device_control_state(ep.device))
            states.append(await self._timed("B", ep, ep.qemu.stop_shadowed()))
            await self._collect_garbage(ep)
        silent = [(len(ep.log), ep) for ep in sources]
        if s.traffic:
            for nic in nics:  # frames on the wire during the blackout reach the stopped source
                for qp in range(nic.pairs):
                    await traffic.offer(nic, qp)
        # -- 5. the destination devices start ------------------------------------------------
        for ep, state, nic in zip(destinations, states, nics, strict=True):
            await self._timed("C4.2", ep, ep.qemu.start_passthrough(copy.deepcopy(state)))
            await self._collect_garbage(ep)
            traffic.collect(nic)  # whatever the source sent last
            nic.qemu, nic.harness = ep.qemu, ep.device
        await guest_traffic(2)
        if s.traffic:
            with _untraced_all(destinations):
                await traffic.drain()
        self._check(sources, destinations, states, before, silent, traffic)
        traced = [ep.name for ep in sources + destinations if self._traced(int(ep.name[3:]))]
        return MigrationResult(s, self.report, self.trace, self.timings, traced)

    async def boot_source(self, i: int) -> tuple[Endpoint, Nic]:
        """Source NIC ``i`` as a running guest has it, untraced: QEMU opens and probes its
        device, maps guest RAM, starts the data queues in passthrough with the control VQ
        shadowed, and the guest sends its control commands. Its records from here on are
        traced (when NIC ``i`` is)."""
        s = self.setup
        probe = await self._endpoint(f"src{i}", i, None)
        with probe.qemu.untraced():
            await probe.qemu.probe()
        features = probe.qemu.features
        driver = GuestNetDriver(self.mem, self.guest_alloc, queue_pairs=probe.qemu.max_qps,
                                queue_size=s.queue_size, features=features)
        probe.qemu.guest = [GuestRing(self.mem, q.index, q.desc_gpa, q.avail_gpa, q.used_gpa,
                                      q.num) for q in driver.vqs]
        q = probe.qemu
        with q.untraced():
            await q.probe_cvq_isolation()
            await q.listener_register(shadow_data=False)
            await q.start_passthrough()
            if q.has_cvq:
                await self._guest_commands(q)
            await self._collect_garbage(probe)  # what boot freed is not the migration's work
        return probe, Nic(probe.name, driver, min(s.pairs_in_use, q.max_qps), q, probe.device)

    async def _guest_commands(self, q: QemuVdpaNet) -> None:
        """The guest's control commands at boot: queue pairs in use, MAC, VLANs."""
        s = self.setup
        if q.features & bit(VIRTIO_NET_F_MQ):
            await q.guest_control(mq_set(min(s.pairs_in_use, q.max_qps)))
        if s.guest_mac is not None:
            await q.guest_control(mac_set(s.guest_mac))
        if q.features & bit(VIRTIO_NET_F_CTRL_VLAN):
            for vid in s.vlans:
                await q.guest_control(vlan(vid))

    async def _flow_a(self, ep: Endpoint) -> None:
        q = ep.qemu
        if self.setup.switches.resumable_vqs:
            await q.switch_resumable()
        else:
            await q.stop_passthrough()
            await q.start_shadowed()

    async def _flow_c1(self, ep: Endpoint) -> None:
        q = ep.qemu
        await q.probe()
        await q.probe_cvq_isolation()
        if self.setup.switches.early_map_dest:
            with q.step("C4.1.4"):
                await q.listener_register(shadow_data=False)
        # C4.1.5: with pre-creation the blank VQs exist since device add (the "add" records)

    def _check(self, sources: list[Endpoint], destinations: list[Endpoint], states: list[NetState],
               before: list[dict[str, Any]], silent: list[tuple[int, Endpoint]],
               traffic: Traffic) -> None:
        r = self.report
        if self.setup.traffic:
            for name, ok, detail in traffic.ledger.checks(traffic.outstanding()):
                r.check(name, ok, detail)
        for ep in sources + destinations:
            ep.judge()
            r.check(f"isolation: {ep.name}: every DMA inside the mappings of its ASID",
                    not ep.violations, f"{len(ep.log)} accesses" if not ep.violations
                    else f"{len(ep.violations)} bad, first: {ep.violations[0]}")
            faults = ep.device.take_faults()
            r.check(f"{ep.name}: no device fault", not faults, str(faults[:2]) if faults else "")
        for (mark, ep) in silent:
            r.equal(f"{ep.name}: no DMA after stop-and-copy", len(ep.log) - mark, 0)
        for dst, state, was in zip(destinations, states, before, strict=True):
            q = dst.qemu.net
            r.equal(f"{dst.name}: QEMU's control state migrated",
                    (q.mac, q.curr_queue_pairs, sorted(q.vlans)),
                    (state.mac, state.curr_queue_pairs, sorted(state.vlans)))
            r.equal(f"{dst.name}: device control state equals the source's",
                    _device_control_state(dst.device), was)


class _untraced_all:
    """Nothing recorded for any of ``endpoints`` inside the block."""

    def __init__(self, endpoints: list[Endpoint]) -> None:
        self._cms = [ep.qemu.untraced() for ep in endpoints]

    def __enter__(self) -> None:
        for cm in self._cms:
            cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        for cm in reversed(self._cms):
            cm.__exit__(None, None, None)


def _device_control_state(dev: Any) -> dict[str, Any]:
    """What the device's control VQ set, as far as the device shows it (a parent driver
    without a VLAN table shows MAC and queue pairs)."""
    out: dict[str, Any] = {}
    for name in ("mac", "cur_queue_pairs"):
        if hasattr(dev, name):
            out[name] = getattr(dev, name)
    if hasattr(dev, "vlans"):
        out["vlans"] = sorted(dev.vlans)
    return out


async def migrate(setup: MigrationSetup, factory: DeviceFactory | None = None) -> MigrationResult:
    """Run ``setup`` (see :class:`Migration`)."""
    return await Migration(setup, factory).run()


def fw_records(result: MigrationResult, phase: str, device: str) -> list[TraceRecord]:
    """The firmware work of one step of one device."""
    return [r for r in result.trace.records if r.layer is Layer.FW and r.phase == phase
            and r.device == device]
