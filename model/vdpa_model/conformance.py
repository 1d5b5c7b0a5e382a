# SPDX-License-Identifier: MIT
"""The live-migration conformance scenario: one sequence, any device, a verdict per promise.

:func:`run_scenario` drives a device through what QEMU does to it around a live migration and
checks each promise of the contract on the way: traffic integrity, suspend stopping all work,
the state read after suspend, resume and migration losing and duplicating nothing, reset keeping
maps only with IOTLB_PERSIST, reset returning groups to ASID 0, rings in their own ASID, faults
on malformed rings, and no DMA outside the allowed mappings of the right ASID at any point.

The device comes from a factory, so the same scenario scores the reference device and, through
its parent driver, an RTL device.
"""

from __future__ import annotations

import dataclasses
import errno
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from . import ringcases
from .dma import AccessKind, AccessLog
from .flows import (
    MemoryRegion,
    kick_if_needed,
    map_guest_memory,
    open_device,
    receive,
    start_device,
    stop_device,
    transmit,
)
from .guest import GuestNetDriver
from .memory import Allocator, GiB, GuestMemory, MiB
from .ops import DeviceHarness, IotlbRange, TxPacket, VdpaOps
from .qemu import QemuVdpaNet, mq_set
from .ramlayout import RamLayout
from .report import Report
from .shadow import ContractShadow
from .spec import (
    VHOST_ACCESS_RW,
    VIRTIO_CONFIG_S_NEEDS_RESET,
    VIRTIO_NET_F_CTRL_VQ,
    VIRTIO_NET_F_MQ,
    bit,
)
from .svq import GuestRing
from .switches import Switches
from .vhost import VhostVdpa


class DeviceUnderTest(VdpaOps, DeviceHarness):
    """A device the scenario can drive: the kernel ops plus the harness hooks."""


class DeviceFactory(Protocol):
    def __call__(self, mem: GuestMemory, log: AccessLog) -> Awaitable[DeviceUnderTest]: ...


@dataclasses.dataclass(frozen=True)
class ScenarioConfig:
    queue_pairs: int = 4
    queue_size: int = 256
    frames_per_queue: int = 32
    seed: int = 1
    #: guest RAM as QEMU reports it on a PC: below and above the 4 GiB PCI hole.
    regions: tuple[MemoryRegion, ...] = (MemoryRegion(0, 2 * GiB), MemoryRegion(4 * GiB, 2 * GiB))
    #: the same 4 GiB guest as QEMU's memory listener sees it, for the migration phase
    layout: RamLayout = dataclasses.field(default_factory=lambda: RamLayout(4 * GiB))


#: Guest allocations start here; [UNMAPPED_PROBE, +1 MiB) lies outside every region above.
RING_BASE = 16 * MiB
UNMAPPED_PROBE = 3 * GiB
HOST_BASE = 7 * GiB


class Scenario:
    """State shared by the phases of one run."""

    def __init__(self, cfg: ScenarioConfig, factory: DeviceFactory, report: Report,
                 mem: GuestMemory | None = None) -> None:
        self.cfg = cfg
        self.factory = factory
        self.report = report
        self.rng = random.Random(cfg.seed)
        self.mem = mem if mem is not None else GuestMemory(size=8 * GiB)
        self.alloc = Allocator(RING_BASE, 2 * GiB)
        #: QEMU's own memory (shadow rings, control buffers), above every guest section
        self.host = Allocator(HOST_BASE, HOST_BASE + 256 * MiB)

    def frames(self, count: int) -> list[bytes]:
        sizes = [64, 128, 512, 1500]
        return [self.rng.randbytes(self.rng.choice(sizes)) for _ in range(count)]

    async def new_device(self, identity_asids: frozenset[int]) -> tuple[DeviceUnderTest, ContractShadow,
                                                                        VhostVdpa, AccessLog]:
        log = AccessLog()
        dev = await self.factory(self.mem, log)
        shadow = ContractShadow(dev, identity_asids)
        return dev, shadow, VhostVdpa(shadow, user_memory=self.mem.size), log

    def isolation(self, name: str, shadow: ContractShadow, log: AccessLog, start: int) -> int:
        """Check every access since ``start`` against the shadow; return the new bookmark."""
        bad = shadow.violations(log.entries(start))
        self.report.check(f"isolation: {name}", not bad,
                          f"{len(log) - start} accesses" if not bad else f"{len(bad)} bad, first: {bad[0]}")
        return len(log)


async def run_scenario(factory: DeviceFactory, cfg: ScenarioConfig | None = None,
                       identity_asids: frozenset[int] = frozenset({0}),
                       progress: Callable[[str], None] | None = None,
                       mem: GuestMemory | None = None) -> Report:
    """Run every phase; a phase that raises is recorded as a failed check and ends the run.

    ``mem`` is the guest memory the guest driver writes and ``factory`` receives (8 GiB sparse by
    default; a :class:`vdpa_model.lockstep.MirroredMemory` for lockstep runs).
    """
    cfg = cfg or ScenarioConfig()
    report = Report()
    sc = Scenario(cfg, factory, report, mem)
    phases: Sequence[Callable[[Scenario, frozenset[int]], Awaitable[None]]] = (
        _phase_traffic_suspend_migrate, _phase_reset_persist, _phase_desc_asid, _phase_bad_ring)
    for phase in phases:
        name = phase.__name__.removeprefix("_phase_")
        if progress:
            progress(name)
        try:
            await phase(sc, identity_asids)
        except Exception as e:
            report.check(f"{name}: completed", False, f"{type(e).__name__}: {e}")
            break
    return report


async def _qemu(sc: Scenario, name: str, ids: frozenset[int]
                ) -> tuple[DeviceUnderTest, ContractShadow, QemuVdpaNet, AccessLog]:
    """A device with QEMU's side over it (vdpa_model.qemu), opened and probed as QEMU opens it
    (C 4.1.1-3); the caller gives it the guest's rings."""
    dev, shadow, v, log = await sc.new_device(ids)
    q = QemuVdpaNet(name, v, dev, sc.mem, sc.cfg.layout, Switches(), [],
                    lambda size: sc.host.alloc(size, 4096))
    await q.probe()
    await q.probe_cvq_isolation()
    return dev, shadow, q, log


def _rings(sc: Scenario, driver: GuestNetDriver) -> list[GuestRing]:
    return [GuestRing(sc.mem, vq.index, vq.desc_gpa, vq.avail_gpa, vq.used_gpa, vq.num)
            for vq in driver.vqs]


async def _phase_traffic_suspend_migrate(sc: Scenario, ids: frozenset[int]) -> None:
    """Bring-up, traffic, suspend/resume, then a migration as QEMU runs it for a passthrough
    device (vdpa_model.qemu: the stop half of Flow A at the source, C 4.1-4.2 at the
    destination), with work in flight when the source stops."""
    r, cfg = sc.report, sc.cfg
    dev, shadow, q, log = await _qemu(sc, "src", ids)
    v = q.v
    features = q.features
    driver = GuestNetDriver(sc.mem, sc.alloc, queue_pairs=cfg.queue_pairs,
                            queue_size=cfg.queue_size, features=features)
    q.guest = _rings(sc, driver)
    await q.listener_register(shadow_data=False)
    await q.start_passthrough()
    r.equal("bring-up: status after DRIVER_OK", await v.get_status(), 0x0F)
    if features & bit(VIRTIO_NET_F_MQ):
        r.check("bring-up: queue pairs set through the shadowed control VQ",
                await q.guest_control(mq_set(cfg.queue_pairs)))
    mark = 0

    # TX and RX on every queue pair, with the layouts a Linux guest uses.
    for qp in range(cfg.queue_pairs):
        layout = {"split_header": qp % 2 == 1, "indirect": qp >= 2}
        sent = sc.frames(cfg.frames_per_queue)
        out = await transmit(v, dev, driver, qp, sent, **layout)
        r.equal(f"tx qp{qp} {_layout(layout)}: frames out in order", [p.data for p in out], sent)
        r.check(f"tx qp{qp}: from transmitq {driver.tx_index(qp)}",
                all(p.vq == driver.tx_index(qp) for p in out))
        wire = sc.frames(cfg.frames_per_queue)
        got = await receive(v, dev, driver, qp, wire, **layout)
        r.equal(f"rx qp{qp} {_layout(layout)}: frames delivered in order", got, wire)
    mark = sc.isolation("traffic", shadow, log, mark)

    # Suspend with work posted and kicked. A device may start on the kick at once (hardware
    # does) or wait (the reference device runs at settle points); either way nothing may be
    # processed once suspend has returned, and every frame must leave exactly once overall.
    pending = {qp: sc.frames(8) for qp in range(cfg.queue_pairs)}
    await _post_and_kick(v, driver, pending)
    bases = await stop_device(v, [vq.index for vq in driver.vqs])
    at_suspend = len(log)
    used_at_suspend = {vq.index: vq.used_idx for vq in driver.vqs}
    before_suspend = dev.take_tx()
    await dev.settle()
    r.equal("suspend: no DMA after suspend returned", len(log) - at_suspend, 0)
    r.equal("suspend: nothing transmitted after suspend returned", len(dev.take_tx()), 0)
    r.equal("suspend: used.idx frozen", {vq.index: vq.used_idx for vq in driver.vqs}, used_at_suspend)
    r.equal("get_vring_base after suspend == used.idx in guest memory", bases, used_at_suspend)

    # Resume: latched kicks replay; with what left before suspend, each frame goes out once.
    await v.resume()
    await dev.settle()
    out = before_suspend + dev.take_tx()
    r.equal("resume: pending frames sent exactly once", _by_queue(out), _expected(driver, pending))
    for qp in range(cfg.queue_pairs):
        driver.reap_tx(qp)
    mark = sc.isolation("suspend/resume", shadow, log, mark)

    # Migrate: work in flight at the source when it stops must be done once at the destination.
    inflight = {qp: sc.frames(4) for qp in range(cfg.queue_pairs)}
    await _post_and_kick(v, driver, inflight)
    src_tx: list[TxPacket] = []
    q.on_suspended = lambda: src_tx.extend(dev.take_tx())  # what left before the stop
    await q.stop_passthrough()
    state = q.snapshot()
    src_quiet = len(log)
    src_tx += dev.take_tx()
    r.equal("migration: ring positions read at suspend == used.idx in guest memory",
            state.last_avail, {vq.index: vq.used_idx for vq in driver.vqs})
    dst, dshadow, dq, dlog = await _qemu(sc, "dst", ids)
    dq.guest = _rings(sc, driver)
    await dq.start_passthrough(state)
    if hasattr(dst, "cur_queue_pairs"):
        r.equal("migration: queue pairs replayed through the destination's control VQ",
                dst.cur_queue_pairs, cfg.queue_pairs if features & bit(VIRTIO_NET_F_MQ) else 1)
    for qp in range(cfg.queue_pairs):
        await dq.v.kick(driver.tx_index(qp))  # the guest's next notification of every queue
    await dst.settle()
    await dev.settle()
    r.equal("migration: source silent after stop", len(log) - src_quiet, 0)
    r.equal("migration: in-flight frames sent exactly once", _by_queue(src_tx + dst.take_tx()),
            _expected(driver, inflight))
    for qp in range(cfg.queue_pairs):
        driver.reap_tx(qp)
        wire = sc.frames(4)
        got = await receive(dq.v, dst, driver, qp, wire)
        r.equal(f"migration: destination rx qp{qp}", got, wire)
    sc.isolation("destination", dshadow, dlog, 0)


async def _phase_reset_persist(sc: Scenario, ids: frozenset[int]) -> None:
    """Reset with IOTLB_PERSIST acked keeps the maps; without it, the parent default returns."""
    r, cfg = sc.report, sc.cfg
    for persist in (True, False):
        dev, shadow, v, log = await sc.new_device(ids)
        await open_device(v, persist=persist)
        await map_guest_memory(v, cfg.regions)
        await v.set_group_asid(2 if dev.ngroups > 2 else 0, 0)
        await v.set_status(0)  # reset: vdpa_reset with or without CLEAN_MAP
        features = await v.get_features()
        # A TX queue whose buffer sits outside every mapped region: a persistent map must fault,
        # a cleaned (identity) map must let it through.
        alloc = Allocator(UNMAPPED_PROBE, UNMAPPED_PROBE + MiB)
        driver = GuestNetDriver(sc.mem, sc.alloc, queue_pairs=1, queue_size=16, features=features)
        probe = alloc.alloc(64 + 12, 64)
        sc.mem.write(probe, bytes(12) + b"P" * 64)
        await start_device(v, driver.vqs, features=features)
        driver.tx_vq(0).post_iova_chain([(probe, 76, False)])
        await kick_if_needed(v, driver.tx_vq(0))
        await dev.settle()
        faults = dev.take_faults()
        out = dev.take_tx()
        what = "IOTLB_PERSIST acked" if persist else "no IOTLB_PERSIST (CLEAN_MAP)"
        if persist:
            r.check(f"reset, {what}: maps kept (unmapped buffer faults)",
                    len(faults) == 1 and faults[0].errno == errno.EFAULT and not out,
                    f"faults={faults} tx={len(out)}")
        else:
            r.check(f"reset, {what}: default identity map back (buffer reaches the wire)",
                    not faults and [p.data for p in out] == [b"P" * 64], f"faults={faults} tx={len(out)}")
        sc.isolation(f"reset {'persist' if persist else 'clean'}", shadow, log, 0)


async def _phase_desc_asid(sc: Scenario, ids: frozenset[int]) -> None:
    """Rings in their own ASID (descriptor group → ASID 1), buffers in ASID 0: as QEMU's SVQ
    with VHOST_BACKEND_F_DESC_ASID. Then reset must bring every group back to ASID 0."""
    r, cfg = sc.report, sc.cfg
    dev, shadow, v, log = await sc.new_device(ids)
    await open_device(v, persist=True)
    if not v.ops.has_op("get_vq_desc_group"):
        r.check("desc asid: parent has no descriptor group (skipped)", True)
        return
    await map_guest_memory(v, cfg.regions)
    features = await v.get_features()
    ring_window = Allocator(64 * MiB, 80 * MiB)
    ring_iova = 1 << 40  # the rings appear at a different IOVA in ASID 1, as SVQ maps them
    driver = GuestNetDriver(sc.mem, ring_window, queue_pairs=1, queue_size=64, features=features,
                            ring_iova_of=lambda gpa: gpa - 64 * MiB + ring_iova)
    await v.map(1, [IotlbRange(ring_iova, 16 * MiB, 64 * MiB, VHOST_ACCESS_RW)])
    await v.set_group_asid(await v.get_vring_desc_group(1), 1)
    await start_device(v, driver.vqs, features=features)
    sent = sc.frames(16)
    out = await transmit(v, dev, driver, 0, sent)
    r.equal("desc asid: tx with rings in ASID 1", [p.data for p in out], sent)
    got = await receive(v, dev, driver, 0, sent)
    r.equal("desc asid: rx with rings in ASID 1", got, sent)
    out = await transmit(v, dev, driver, 0, sent, indirect=True)
    r.equal("desc asid: indirect tables through the data ASID", [p.data for p in out], sent)
    ring_asids = {a.asid for a in log.entries() if a.kind.is_ring}
    buf_asids = {a.asid for a in log.entries() if a.kind is AccessKind.BUFFER}
    r.equal("desc asid: ring accesses used ASID 1 only", ring_asids, {1})
    r.equal("desc asid: buffer accesses used ASID 0 only", buf_asids, {0})
    sc.isolation("desc asid", shadow, log, 0)
    await v.set_status(0)
    r.equal("reset: every group back to ASID 0", shadow.group2asid, [0] * dev.ngroups)


async def _phase_bad_ring(sc: Scenario, ids: frozenset[int]) -> None:
    """A descriptor loop on one TX queue: that VQ goes to ERR, the device sets NEEDS_RESET,
    the other queue pair keeps working and nothing is written outside the mappings."""
    r, cfg = sc.report, sc.cfg
    dev, shadow, v, log = await sc.new_device(ids)
    await open_device(v, persist=True)
    await map_guest_memory(v, cfg.regions)
    features = await v.get_features() & ~(bit(VIRTIO_NET_F_MQ) | bit(VIRTIO_NET_F_CTRL_VQ))
    driver = GuestNetDriver(sc.mem, sc.alloc, queue_pairs=1, queue_size=16, features=features)
    await start_device(v, driver.vqs, features=features)
    tx = driver.tx_vq(0)
    loop = ringcases.case("chain_loop")
    ram = cfg.regions[0]
    await loop.build(ringcases.RingBench(sc.mem, sc.alloc, v, ringcases.RingLayout(
        ram.gpa, ram.size, sc.mem.size), driver.hdr_len), tx)
    await kick_if_needed(v, tx)
    await dev.settle()
    faults = dev.take_faults()
    # the scenario scores any device, so any parent's answer from the catalogue is right
    r.check("bad ring: descriptor loop faults with ELOOP",
            len(faults) == 1 and faults[0].errno in loop.errno.values() and faults[0].vq == 1,
            f"{faults}")
    r.check("bad ring: NEEDS_RESET set", bool(await v.get_status() & VIRTIO_CONFIG_S_NEEDS_RESET))
    got = await receive(v, dev, driver, 0, sc.frames(4))
    r.equal("bad ring: receiveq of the same device still works", len(got), 4)
    # ERR is observable without peeking into the device: a stopped VQ neither re-walks the bad
    # chain (no second fault) nor serves anything queued behind it after another doorbell.
    used = tx.used_idx
    driver.send(0, b"after the error" * 4, kick=False)
    await v.kick(tx.index)
    await dev.settle()
    r.check("bad ring: faulting VQ stays stopped (ERR) after another kick",
            not dev.take_faults() and not dev.take_tx() and tx.used_idx == used)
    sc.isolation("bad ring", shadow, log, 0)


async def _post_and_kick(v: VhostVdpa, driver: GuestNetDriver, frames: dict[int, list[bytes]]) -> None:
    """Post ``frames`` per queue pair on its transmitq and ring each doorbell once."""
    for qp, fs in frames.items():
        for f in fs:
            driver.send(qp, f, kick=False)
        await kick_if_needed(v, driver.tx_vq(qp))


def _by_queue(pkts: Sequence[TxPacket]) -> dict[int, list[bytes]]:
    """Frames per transmit queue in wire order (queues may interleave, each keeps ring order)."""
    out: dict[int, list[bytes]] = {}
    for p in pkts:
        out.setdefault(p.vq, []).append(p.data)
    return out


def _expected(driver: GuestNetDriver, frames: dict[int, list[bytes]]) -> dict[int, list[bytes]]:
    return {driver.tx_index(qp): list(fs) for qp, fs in frames.items() if fs}


def _layout(layout: dict[str, bool]) -> str:
    return "+".join(k for k, on in layout.items() if on) or "simple"
