# SPDX-License-Identifier: MIT
"""The lockstep scoreboard: agreeing devices pass the whole scenario, each kind of disagreement
is caught at the op or settle point where it first shows."""

from __future__ import annotations

import errno

import pytest

from vdpa_model.conformance import ScenarioConfig, run_scenario
from vdpa_model.datapath import Chain, SplitRing
from vdpa_model.device import ReferenceDevice, Virtqueue
from vdpa_model.dma import AccessLog
from vdpa_model.errors import VdpaError, fail
from vdpa_model.lockstep import Divergence, Lockstep, MirroredMemory
from vdpa_model.memory import GiB, GuestMemory
from vdpa_model.ops import VqState
from vdpa_model.options import DeviceOptions
from vdpa_model.sync import run

SMALL = ScenarioConfig(queue_pairs=4, frames_per_queue=8)


def lockstep_factory(dut_cls: type[ReferenceDevice]):  # type: ignore[no-untyped-def]
    async def make(mem: GuestMemory, log: AccessLog) -> Lockstep:
        assert isinstance(mem, MirroredMemory)
        return Lockstep(dut_cls(mem.dut, DeviceOptions()), ReferenceDevice(mem.ref, DeviceOptions(), log),
                        mem.dut, mem.ref)
    return make


def scenario(dut_cls: type[ReferenceDevice]):  # type: ignore[no-untyped-def]
    mem = MirroredMemory(GuestMemory(8 * GiB), GuestMemory(8 * GiB))
    return run(run_scenario(lockstep_factory(dut_cls), SMALL, mem=mem))


def test_identical_devices_pass_the_whole_scenario() -> None:
    """Two reference devices agree on every op, memory byte, frame and fault."""
    report = scenario(ReferenceDevice)
    assert report.ok, report.render()
    assert len(report.checks) > 30


class WrongStateAfterSuspend(ReferenceDevice):
    """Reports last_avail + 1: a device whose state read would lose a buffer on migration."""

    async def get_vq_state(self, idx: int) -> VqState:
        state = await super().get_vq_state(idx)
        return VqState((state.avail_index + 1) & 0xFFFF)


class TruncatesFrames(ReferenceDevice):
    """Transmits one byte short (a DMA length bug)."""

    def _transmit(self, vq: Virtqueue, ring: SplitRing, chain: Chain) -> int:
        n = super()._transmit(vq, ring, chain)
        if self._tx:
            last = self._tx.pop()
            self._tx.append(type(last)(last.vq, last.header, last.data[:-1]))
        return n


class RxLenOffByOne(ReferenceDevice):
    """Writes used.len one larger than the bytes written."""

    def _receive(self, vq: Virtqueue, ring: SplitRing, chain: Chain) -> int:
        n = super()._receive(vq, ring, chain)
        return n + 1 if n > 0 else n


class WrongErrno(ReferenceDevice):
    """Refuses an out-of-range reset_map with EPERM instead of the kernel's EINVAL."""

    async def reset_map(self, asid: int) -> None:
        if asid >= self.nas:
            raise fail(errno.EPERM, "reset_map", "bad asid")
        await super().reset_map(asid)


@pytest.mark.parametrize(("dut_cls", "what"), [
    (WrongStateAfterSuspend, "get_vq_state"),
    (TruncatesFrames, "transmitted frames differ"),
    (RxLenOffByOne, "guest memory differs"),
])
def test_each_divergence_is_reported(dut_cls: type[ReferenceDevice], what: str) -> None:
    """A buggy DUT fails the scenario with a Divergence naming what differed."""
    report = scenario(dut_cls)
    assert not report.ok
    first = report.failures()[0]
    assert "Divergence" in first.detail and what in first.detail, first


def test_errno_mismatch_is_a_divergence_and_agreement_reraises() -> None:
    """Both refusing with the same errno re-raises it; different errnos are a divergence."""
    mems = GuestMemory(), GuestMemory()
    same = Lockstep(ReferenceDevice(mems[0]), ReferenceDevice(mems[1]), *mems)
    with pytest.raises(VdpaError) as e:
        run(same.reset_map(7))
    assert e.value.errno == errno.EINVAL
    odd = Lockstep(WrongErrno(mems[0]), ReferenceDevice(mems[1]), *mems)
    with pytest.raises(Divergence, match="reset_map"):
        run(odd.reset_map(7))


def test_mirrored_memory_writes_both_and_reads_the_dut() -> None:
    dut, ref = GuestMemory(), GuestMemory()
    m = MirroredMemory(dut, ref)
    m.write(0x1000, b"abc")
    m.write_u32(0x2000, 0xDEADBEEF)
    assert dut.read(0x1000, 3) == ref.read(0x1000, 3) == b"abc"
    assert ref.read_u32(0x2000) == 0xDEADBEEF
    dut.write(0x1000, b"x")
    assert m.read(0x1000, 1) == b"x"


class _LateUsedCheck(SplitRing):
    __slots__ = ()

    def check_completion(self, used_idx: int) -> None:
        """Checks nothing: the completion's translation is found bad only when written."""


class SendsBeforeUsedCheck(ReferenceDevice):
    """Transmits a chain before finding that its completion cannot be written (the ordering
    bug the ring catalogue's unmapped-used-ring entries caught in the RTL)."""

    def _make_ring(self, vq: Virtqueue) -> SplitRing:
        r = super()._make_ring(vq)
        return _LateUsedCheck(r.ring, r.data, r.desc_area, r.driver_area, r.device_area, r.num,
                              r.event_idx)


def test_settle_divergence_names_every_effect_and_carries_both_sides() -> None:
    """A settle that finds several differences names them all and hands each device's faults
    and frames to the caller (a test that expects a known divergence checks the DUT's side)."""
    from vdpa_model.flows import open_device, start_device
    from vdpa_model.guest import GuestNetDriver
    from vdpa_model.memory import Allocator, MiB
    from vdpa_model.ringcases import RingBench, RingLayout, case
    from vdpa_model.vhost import VhostVdpa

    dut_mem, ref_mem = GuestMemory(GiB), GuestMemory(GiB)
    lock = Lockstep(SendsBeforeUsedCheck(dut_mem), ReferenceDevice(ref_mem), dut_mem, ref_mem)
    mem = MirroredMemory(dut_mem, ref_mem)
    layout = RingLayout(MiB, 8 * MiB, GiB)
    v = VhostVdpa(lock)
    run(open_device(v))
    run(v.map(0, layout.ranges()))
    alloc = Allocator(MiB, 9 * MiB)
    net = GuestNetDriver(mem, alloc, queue_pairs=1, queue_size=16,
                         features=run(v.get_features()))
    run(start_device(v, net.vqs, features=net.features))
    q = net.tx_vq(0)
    run(case("unmapped_used_ring_tx").build(RingBench(mem, alloc, v, layout, net.hdr_len), q))
    run(v.kick(q.index))
    with pytest.raises(Divergence) as e:
        run(lock.settle())
    assert "transmitted frames differ" in str(e.value)
    assert [(f.vq, f.errno) for f in e.value.dut_faults] == [(1, errno.EFAULT)]
    assert [(f.vq, f.errno) for f in e.value.ref_faults] == [(1, errno.EFAULT)]
    assert "faults differ" not in str(e.value)
    assert len(e.value.dut_tx) == 1 and e.value.ref_tx == []


def _two_devices_with_traffic(frames: int) -> tuple[Lockstep, object, object, MirroredMemory]:
    from vdpa_model.flows import MemoryRegion, map_guest_memory, open_device, start_device
    from vdpa_model.guest import GuestNetDriver
    from vdpa_model.memory import Allocator, MiB
    from vdpa_model.vhost import VhostVdpa

    dut_mem, ref_mem = GuestMemory(GiB), GuestMemory(GiB)
    lock = Lockstep(ReferenceDevice(dut_mem), ReferenceDevice(ref_mem), dut_mem, ref_mem)
    mem = MirroredMemory(dut_mem, ref_mem)
    v = VhostVdpa(lock)
    run(open_device(v))
    run(map_guest_memory(v, [MemoryRegion(MiB, 8 * MiB)]))
    net = GuestNetDriver(mem, Allocator(MiB, 9 * MiB), queue_pairs=1, queue_size=16,
                         features=run(v.get_features()))
    run(start_device(v, net.vqs, features=net.features))
    for k in range(frames):
        net.send(0, bytes([k]) * 64, kick=False)
    run(v.kick(1))
    return lock, v, net, mem


@pytest.mark.parametrize("ahead", [0, 2, 5])
def test_dut_first_lets_an_op_race_traffic(ahead: int) -> None:
    """A suspend issued with work in flight: the DUT (here a second reference device run
    ahead by hand) got ``ahead`` chains done first; the catch-up completes as many on the
    reference, so the vring base both report and everything compared at the next settle
    agree, and the held work drains after resume."""
    lock, v, net, mem = _two_devices_with_traffic(5)
    dut, ref = lock.dut, lock.ref
    dut.process(budget=ahead)

    async def catch_up() -> None:
        for i, q in enumerate(net.vqs):
            ref.catch_up(i, mem.dut.read_u16(q.used_gpa + 2))

    lock.dut_first("suspend", catch_up)
    run(v.suspend())
    assert lock.races == 1
    assert run(v.get_vring_base(1)) == ahead == net.tx_vq(0).used_idx
    run(lock.settle())
    assert [p.data[0] for p in lock.take_tx()] == list(range(ahead))
    run(v.resume())
    run(lock.settle())
    assert [p.data[0] for p in lock.take_tx()] == list(range(ahead, 5))


def test_dut_first_without_catch_up_diverges() -> None:
    """The same race with a catch-up that does nothing: the reference reports a different
    vring base (the lockstep catches it at the op) — the race mechanism cannot hide a DUT that
    ran ahead."""
    lock, v, _, _ = _two_devices_with_traffic(5)
    lock.dut.process(budget=3)

    async def nothing() -> None:
        return None

    lock.dut_first("suspend", nothing)
    run(v.suspend())
    with pytest.raises(Divergence, match="get_vq_state"):
        run(v.get_vring_base(1))


def test_bus_error_is_eio_and_keeps_what_moved_before() -> None:
    """A poisoned host range (the platform answering with an error): a TX buffer there faults
    the VQ with EIO (nothing sent, nothing completed); an RX chain whose second segment is
    poisoned keeps the header written to its first segment; other queues go on."""
    from vdpa_model.flows import MemoryRegion, map_guest_memory, open_device, start_device
    from vdpa_model.guest import GuestNetDriver
    from vdpa_model.memory import Allocator, MiB
    from vdpa_model.vhost import VhostVdpa

    mem = GuestMemory(GiB)
    dev = ReferenceDevice(mem, DeviceOptions(queue_pairs=2))
    v = VhostVdpa(dev)
    run(open_device(v))
    run(map_guest_memory(v, [MemoryRegion(MiB, 8 * MiB)]))
    alloc = Allocator(MiB, 8 * MiB)
    net = GuestNetDriver(mem, alloc, queue_pairs=2, queue_size=16, features=run(v.get_features()))
    run(start_device(v, net.vqs, features=net.features))
    bad = 8 * MiB
    dev.poison(bad, bad + 0x1000)
    mem.write(bad, bytes(12) + b"x" * 60)
    net.tx_vq(0).post_iova_chain([(bad, 72, False)])
    net.tx_vq(0).publish()
    hdr = alloc.alloc(64, 64)
    net.rx_vq(1).post_iova_chain([(hdr, 12, True), (bad + 0x800, 1024, True)])
    net.rx_vq(1).publish()
    run(dev.inject_rx(2, bytes(range(50))))
    net.send(1, b"fine" * 20, kick=False)
    for i in (1, 2, 3):
        run(v.kick(i))
    dev.process()
    assert sorted((f.vq, f.errno, f.iova) for f in dev.take_faults()) == [
        (1, errno.EIO, None), (2, errno.EIO, None)]
    assert [p.data for p in dev.take_tx()] == [b"fine" * 20]
    assert mem.read(hdr, 12) == bytes(10) + b"\x01\x00"       # written before the error
    assert mem.read(bad + 0x800, 64) == bytes(64)              # nothing past it
    assert net.tx_vq(0).used_idx == 0 and net.rx_vq(1).used_idx == 0


class DropsUnknownFrame(ReferenceDevice):
    """Reports dropping received frame #5 of receiveq0, which never arrived."""

    def take_rx_evicted(self) -> list[tuple[int, int]]:
        return [(0, 5)]


def test_dut_dropping_a_frame_the_reference_does_not_hold_is_a_divergence() -> None:
    """A DUT may drop a received frame held for a queue with no buffer (take_rx_evicted), and
    the reference forgets it; a frame the reference does not hold on that queue is a loss the
    contract does not allow, named at the settle."""
    mems = GuestMemory(), GuestMemory()
    lock = Lockstep(DropsUnknownFrame(mems[0]), ReferenceDevice(mems[1]), *mems)
    with pytest.raises(Divergence, match="frame #5 of vq 0"):
        run(lock.settle())
