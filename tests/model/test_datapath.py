# SPDX-License-Identifier: MIT
"""Unit tests of the reference device's data path (vdpa-semantics.md §5, §6 items 19 and 24).

Rings are filled by the guest driver model; malformed ones come from the catalogue
(:mod:`vdpa_model.ringcases`, whose builders use the driver's raw builders); the device runs
behind :class:`VhostVdpa` after :func:`open_device`/:func:`start_device`. Every catalogue case
checks the errno (drivers/vhost/vringh.c), the VQ going to ERR, the
device asking for a reset, the fault record, that the other queues keep working and that no byte
of guest memory changes outside the used ring of the healthy queue. Ring offsets and the
notification formula are restated here from virtio 1.2 §2.7 and virtio_ring.h.
"""

from __future__ import annotations

import errno
import itertools

import numpy as np
import pytest

from vdpa_model.device import ReferenceDevice
from vdpa_model.dma import AccessKind, AccessLog
from vdpa_model.flows import kick_if_needed, open_device, receive, start_device
from vdpa_model.guest import GuestNetDriver, GuestVirtqueue
from vdpa_model.memory import Allocator, GiB, GuestMemory, MiB
from vdpa_model.ops import VqObjectState
from vdpa_model.options import DeviceOptions, Parent
from vdpa_model.ringcases import (
    CATALOGUE,
    GUARD,
    PROBE_FRAME,
    TX_PAYLOAD,
    Expect,
    RingBench,
    RingCase,
    RingLayout,
    restore_rings,
)
from vdpa_model.sync import run
from vdpa_model.vhost import VhostVdpa

# --- restated from virtio 1.2 / virtio_ring.h / virtio_net.h ---------------------------------
AVAIL_F_NO_INTERRUPT = 1
F_MRG_RXBUF, F_CTRL_VQ, F_MQ, F_EVENT_IDX, F_VERSION_1 = 15, 17, 22, 29, 32
S_ACK, S_DRIVER, S_DRIVER_OK, S_FEATURES_OK, S_NEEDS_RESET = 0x1, 0x2, 0x4, 0x8, 0x40
CTRL_MAC, CTRL_MAC_ADDR_SET, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET = 1, 1, 4, 0
NET_OK, NET_ERR = 0, 1

#: ASID 0 maps [0, 128 MiB) read/write and the catalogue's windows above it
LAYOUT = RingLayout(0, 128 * MiB, GiB)
QSIZE = 16


def bit(n: int) -> int:
    return 1 << n


def u16(mem: GuestMemory, addr: int) -> int:
    return int.from_bytes(mem.read(addr, 2), "little")


def used_ring_bytes(num: int) -> int:
    return 4 + 8 * num + 2          # flags, idx, ring[num], avail_event


def used_elem(mem: GuestMemory, vq: GuestVirtqueue, slot: int) -> tuple[int, int]:
    raw = mem.read(vq.used_gpa + 4 + 8 * slot, 8)
    return int.from_bytes(raw[:4], "little"), int.from_bytes(raw[4:], "little")


def need_event(event: int, new: int, old: int) -> bool:
    """virtio_ring.h vring_need_event, written out again."""
    return ((new - event - 1) & 0xFFFF) < ((new - old) & 0xFFFF)


class Bench:
    """A device behind vhost-vdpa with a guest net driver; CVQ at 2*max_qps (MQ) or 2."""

    def __init__(self, parent: Parent = Parent.MLX5, *, drop: int = 0, mapped: bool = True,
                 start_idx: int = 0, **opts: object) -> None:
        self.mem = GuestMemory(size=GiB)
        self.alloc = Allocator(MiB, 64 * MiB)
        self.log = AccessLog()
        self.dev = ReferenceDevice(self.mem, DeviceOptions.for_parent(parent, **opts), self.log)
        self.v = VhostVdpa(self.dev)
        run(open_device(self.v))
        if mapped:
            run(self.v.map(0, LAYOUT.ranges()))
        self.features = run(self.v.get_features()) & ~drop
        max_qps = self.dev.options.queue_pairs
        mq = bool(self.features & bit(F_MQ))
        self.driver = GuestNetDriver(self.mem, self.alloc, queue_pairs=max_qps if mq else 1,
                                     queue_size=QSIZE, features=self.features, start_idx=start_idx)
        self.hdr = self.driver.hdr_len
        self.vqs: list[GuestVirtqueue] = list(self.driver.vqs)
        self.cvq: GuestVirtqueue | None = None
        if self.features & bit(F_CTRL_VQ):
            self.cvq = GuestVirtqueue(self.mem, self.alloc, 2 * max_qps if mq else 2, QSIZE,
                                      event_idx=bool(self.features & bit(F_EVENT_IDX)))
            self.vqs.append(self.cvq)
        run(start_device(self.v, self.vqs, features=self.features))

        #: what the catalogue's builders write with (guarded buffers, ring moves, windows)
        self.rings = RingBench(self.mem, self.alloc, self.v, LAYOUT, self.hdr)

    def guarded(self, size: int) -> int:
        return self.rings.guarded(size)

    def kick_process(self, *idx: int) -> None:
        for i in idx:
            run(self.v.kick(i))
        self.dev.process()

    def notifications(self, idx: int) -> int:
        return self.dev.vqs[idx].notifications


def changed_addresses(before: dict[int, bytes], after: dict[int, bytes]) -> list[int]:
    out: list[int] = []
    for base, data in after.items():
        old = before.get(base, bytes(len(data)))
        diff = np.nonzero(np.frombuffer(data, np.uint8) != np.frombuffer(old, np.uint8))[0]
        out.extend(base + int(i) for i in diff)
    return out


# ============================================================================================
# malformed rings and faults: every entry of the catalogue (vdpa_model.ringcases), both parents
# ============================================================================================
@pytest.mark.parametrize("parent", [Parent.MLX5, Parent.SIM])
@pytest.mark.parametrize("case", CATALOGUE, ids=[c.name for c in CATALOGUE])
def test_ring_case(parent: Parent, case: RingCase) -> None:
    """Each catalogue entry on each parent. A refused ring (vringh.c error classes, §5 step 2,
    §6 item 19; translation faults; an identity address past guest RAM) gets its errno; the VQ
    object goes to ERR, status gets NEEDS_RESET with one config-change notification (virtio
    1.2 §2.1.2, DRIVER_OK is set); the fault names vq/asid/iova/direction for a failed
    translation; the faulting chain makes no buffer access; no byte of guest memory changes
    except the used ring of the healthy queue, which keeps working, as does the rest. An
    accepted ring completes like any other."""
    b = Bench(parent, queue_pairs=2, mapped=case.mapped)
    err = case.expected_errno(parent)
    if err is None:
        check_ring_accepted(b, case)
    else:
        check_ring_error(b, case, err)


def post_case(b: Bench, case: RingCase) -> tuple[GuestVirtqueue, Expect]:
    q = b.vqs[1 if case.queue == "tx" else 0]
    expect = run(case.build(b.rings, q))
    q.publish()
    if case.queue == "rx":
        run(b.dev.inject_rx(0, PROBE_FRAME))
    return q, expect


def check_ring_accepted(b: Bench, case: RingCase) -> None:
    q, _ = post_case(b, case)
    b.kick_process(q.index)
    assert b.dev.take_faults() == []
    assert b.dev.vqs[q.index].state is VqObjectState.RDY
    assert not run(b.v.get_status()) & S_NEEDS_RESET
    if case.queue == "tx":
        assert [(p.vq, p.data) for p in b.dev.take_tx()] == [(q.index, TX_PAYLOAD)]
    # the used ring where the device has it (an entry may have moved it; IOVA = GPA there)
    assert u16(b.mem, b.dev.vqs[q.index].device_area + 2) == 1

    # Back on the driver's own rings, the queue goes on from where the entry left it: later
    # traffic must not meet moved copies the driver no longer writes
    run(restore_rings(b.rings, q))
    assert (b.dev.vqs[q.index].desc_area, b.dev.vqs[q.index].driver_area,
            b.dev.vqs[q.index].device_area) == (q.desc_area, q.driver_area, q.device_area)
    if case.queue == "tx":
        b.driver.reap_tx(0)
        b.driver.send(0, b"after" * 20, kick=False)
        b.kick_process(q.index)
        assert [p.data for p in b.dev.take_tx()] == [b"after" * 20]
        assert u16(b.mem, q.used_gpa + 2) == 2
    else:
        b.driver.reap_rx(0)
        assert run(receive(b.v, b.dev, b.driver, 0, [b"in" * 40])) == [b"in" * 40]


def check_ring_error(b: Bench, case: RingCase, err: int) -> None:
    healthy = b.vqs[3]                           # transmitq of queue pair 1
    q, expect = post_case(b, case)
    bad = q.index
    b.driver.send(1, b"good-1" * 10, kick=False)
    notes = b.dev.config_notifications
    mark, before = len(b.log), b.mem.snapshot()
    b.kick_process(bad, 3)
    after = b.mem.snapshot()

    (fault,) = b.dev.take_faults()
    assert (fault.vq, fault.errno) == (bad, err), fault.reason
    if expect.site is not None:
        s = expect.site
        assert (fault.asid, fault.iova, fault.write) == (s.asid, s.iova, s.write)
    assert b.dev.vqs[bad].state is VqObjectState.ERR
    assert run(b.v.get_status()) & S_NEEDS_RESET
    assert b.dev.config_notifications == notes + 1
    accesses = b.log.entries(mark)
    assert not [a for a in accesses if a.vq == bad and a.kind is AccessKind.BUFFER]
    if expect.max_indirect_reads is not None:
        reads = [a for a in accesses if a.vq == bad and a.kind is AccessKind.INDIRECT]
        assert 0 < len(reads) <= expect.max_indirect_reads
    lo, hi = healthy.used_gpa, healthy.used_gpa + used_ring_bytes(healthy.num)
    stray = [a for a in changed_addresses(before, after) if not lo <= a < hi]
    assert not stray, f"{len(stray)} bytes changed outside the healthy used ring, first {stray[0]:#x}"
    assert [(p.vq, p.data) for p in b.dev.take_tx()] == [(3, b"good-1" * 10)]

    # The rest of the device keeps working; the faulting VQ stays silent.
    b.driver.send(1, b"good-2" * 10, kick=False)
    b.kick_process(3)
    assert [p.data for p in b.dev.take_tx()] == [b"good-2" * 10]
    assert run(receive(b.v, b.dev, b.driver, 1, [b"in" * 40])) == [b"in" * 40]
    used_bad = u16(b.mem, q.used_gpa + 2)
    mark = len(b.log)
    if case.queue == "tx":
        b.driver.send(0, b"late" * 20, kick=False)
    else:
        b.driver.post_rx(0, 1, 2048, kick=False)
        run(b.dev.inject_rx(0, b"late" * 20))
    b.kick_process(bad)
    assert not [a for a in b.log.entries(mark) if a.vq == bad]
    assert u16(b.mem, q.used_gpa + 2) == used_bad
    assert b.dev.take_tx() == [] and b.dev.take_faults() == []


@pytest.mark.parametrize("case", [c for c in CATALOGUE if c.prefix_ok],
                         ids=[c.name for c in CATALOGUE if c.prefix_ok])
def test_ring_case_after_healthy_chains(case: RingCase) -> None:
    """The catalogue's ``prefix_ok`` entries behind two healthy chains on the same queue (the
    UVM ring-mix sequence posts them so): the healthy ones complete first, in order, then the
    entry gets exactly the answer it gets alone."""
    b = Bench(Parent.MLX5, queue_pairs=2, mapped=case.mapped)
    healthy = [b"first" * 20, b"second" * 20]
    if case.queue == "tx":
        for f in healthy:
            b.driver.send(0, f, kick=False)
    else:
        b.driver.post_rx(0, len(healthy), 2048, kick=False)
        for f in healthy:
            run(b.dev.inject_rx(0, f))
    q, expect = post_case(b, case)
    b.kick_process(q.index)
    err = case.expected_errno(Parent.MLX5)
    if case.queue == "tx":
        accepted = [TX_PAYLOAD] if err is None else []
        assert [p.data for p in b.dev.take_tx()] == healthy + accepted
        b.driver.reap_tx(0)
    else:
        assert b.driver.reap_rx(0) == healthy
    faults = b.dev.take_faults()
    if err is None:
        assert faults == []
        return
    assert [(f.vq, f.errno) for f in faults] == [(q.index, err)]
    if expect.site is not None:
        assert (faults[0].asid, faults[0].iova, faults[0].write) == \
            (expect.site.asid, expect.site.iova, expect.site.write)


def test_catalogue_names_are_coverage_bins() -> None:
    """The catalogue is the one list of ring cases: names are unique, lower_snake (they are
    coverage bins), and every case says which function its expectation follows."""
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE)
    for c in CATALOGUE:
        assert c.name == c.name.lower() and " " not in c.name, c.name
        assert c.follows and set(c.errno) == {Parent.MLX5, Parent.SIM}, c.name
        if c.rtl_divergence is not None:
            assert c.rtl_divergence.reason, c.name


def test_catalogue_layout_windows_are_disjoint() -> None:
    """The windows a layout derives from RAM never overlap each other or RAM, and the split
    window's two ranges meet at an odd IOVA, so every naturally aligned ring item of 2 bytes
    or more that starts at the page boundary before it (a descriptor, an avail entry, a used
    element's id) lies across both."""
    lay = RingLayout(MiB, 2 * MiB, GiB)
    spans = sorted((r.iova, r.iova + r.size) for r in lay.ranges())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert lay.split % 2 == 1 and (lay.split - 1) % 4096 == 0
    assert lay.read_only[0] + lay.read_only[1] < lay.split_window[0] < lay.unmapped < lay.past_ram
    with pytest.raises(ValueError, match="past the unmapped IOVA"):
        RingLayout(0, 600 * MiB, GiB)


def test_ring_error_waits_for_driver_ok() -> None:
    """virtio 1.2 §2.1.2/§3.1: the device consumes no buffer before DRIVER_OK, so a malformed
    ring on an enabled VQ faults nothing until DRIVER_OK; then it faults once, with NEEDS_RESET
    and one configuration-change notification (DRIVER_OK now set)."""
    b = Bench(Parent.MLX5)
    run(b.v.set_status(0))
    q = GuestVirtqueue(b.mem, b.alloc, 1, QSIZE)
    run(b.v.set_status(S_ACK | S_DRIVER))
    run(b.v.set_features(b.features))
    run(b.v.set_status(S_ACK | S_DRIVER | S_FEATURES_OK))
    run(b.v.set_vring_num(1, QSIZE))
    run(b.v.set_vring_addr(1, q.desc_area, q.driver_area, q.device_area))
    run(b.v.set_vring_base(1, 0))
    run(b.v.set_vring_enable(1, True))
    q.post_raw_head(QSIZE)
    q.publish()
    run(b.v.kick(1))
    assert b.dev.process() == 0
    assert b.dev.take_faults() == [] and b.dev.config_notifications == 0
    assert not run(b.v.get_status()) & S_NEEDS_RESET
    run(b.v.set_status(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK))
    run(b.v.kick(1))
    b.dev.process()
    assert [(f.vq, f.errno) for f in b.dev.take_faults()] == [(1, errno.EINVAL)]
    assert b.dev.config_notifications == 1
    assert run(b.v.get_status()) & S_NEEDS_RESET


def test_ring_fault_through_desc_group_asid() -> None:
    """§4: ring accesses go through the descriptor group's ASID (mlx5 desc_group_mkey). With
    group 2 bound to ASID 1, which has no MR on mlx5, the first ring read faults in ASID 1. A
    TX queue reads avail.idx on entering RDY (kick_on_start), so every transmitq faults at
    DRIVER_OK; receive queues only touch their ring when a frame arrives."""
    b = Bench(Parent.MLX5)
    run(b.v.set_status(0))
    run(b.v.set_group_asid(2, 1))
    run(start_device(b.v, b.vqs, features=b.features))
    b.dev.process()
    faults = b.dev.take_faults()
    tx = [vq for vq in b.driver.vqs if vq.index % 2]
    assert sorted((f.vq, f.errno, f.asid, f.iova, f.write) for f in faults) == [
        (q.index, errno.EFAULT, 1, q.driver_area + 2, False) for q in tx]


# ============================================================================================
# TX
# ============================================================================================
@pytest.mark.parametrize("layout", [{}, {"split_header": True}, {"indirect": True},
                                    {"split_header": True, "indirect": True}])
def test_tx_header_stripped(layout: dict[str, bool]) -> None:
    """virtio 1.2 §5.1.6: each TX buffer is a virtio_net_hdr (12 bytes with VERSION_1) then the
    frame; the frame alone leaves, from its transmitq; used len is 0 (nothing written)."""
    b = Bench()
    frames = [bytes([i]) * (64 + 7 * i) for i in range(5)]
    for f in frames:
        b.driver.send(1, f, kick=False, **layout)
    b.kick_process(3)
    out = b.dev.take_tx()
    assert [(p.vq, p.header, p.data) for p in out] == [(3, bytes(12), f) for f in frames]
    assert [(c.token, c.len) for c in b.driver.reap_tx(1)] == [(f, 0) for f in frames]


def test_tx_chain_shorter_than_header_dropped() -> None:
    """vdpasim_net_work / receive_filter: a TX buffer shorter than the header is dropped and still
    completed with len 0; no fault, the queue keeps going."""
    b = Bench()
    q = b.vqs[1]
    head = q.post_iova_chain([(b.guarded(6), 6, False)])
    q.publish()
    b.driver.send(0, b"next" * 20, kick=False)
    b.kick_process(1)
    assert [p.data for p in b.dev.take_tx()] == [b"next" * 20]
    assert b.dev.take_faults() == []
    assert u16(b.mem, q.used_gpa + 2) == 2
    assert used_elem(b.mem, q, 0) == (head, 0)


# ============================================================================================
# RX
# ============================================================================================
@pytest.mark.parametrize("legacy", [False, True])
def test_rx_header_and_used_len(legacy: bool) -> None:
    """virtio 1.2 §5.1.6.4: the device writes the header, with num_buffers = 1 in the 12-byte
    VERSION_1 layout (10 bytes for a legacy driver without VERSION_1/MRG_RXBUF), then the frame;
    used len = header + frame (§2.7.8.2); bytes past it are untouched."""
    b = Bench(drop=bit(F_VERSION_1) | bit(F_MRG_RXBUF) if legacy else 0)
    hdr = 10 if legacy else 12
    q = b.vqs[0]
    buf = b.guarded(2048)
    head = q.post_iova_chain([(buf, 2048, True)])
    q.publish()
    frame = bytes(range(200))
    run(b.dev.inject_rx(0, frame))
    b.dev.process()
    assert used_elem(b.mem, q, 0) == (head, hdr + len(frame))
    want_hdr = bytes(10) + (b"\x01\x00" if not legacy else b"")
    assert b.mem.read(buf, hdr + len(frame)) == want_hdr + frame
    assert b.mem.read(buf + hdr + len(frame), 64) == bytes([GUARD]) * 64


def test_rx_frame_too_large_dropped_buffer_kept() -> None:
    """virtio 1.2 §5.1.6.3/§5.1.6.4: without MRG_RXBUF a packet must fit one buffer; a larger
    frame is dropped without writing, and the buffer serves the next frame."""
    b = Bench(drop=bit(F_MRG_RXBUF))
    q = b.vqs[0]
    buf = b.guarded(256)
    head = q.post_iova_chain([(buf, 256, True)])
    q.publish()
    run(b.dev.inject_rx(0, b"L" * 1000))
    run(b.dev.inject_rx(0, b"s" * 100))
    snap_mark = len(b.log)
    b.dev.process()
    assert u16(b.mem, q.used_gpa + 2) == 1
    assert used_elem(b.mem, q, 0) == (head, 12 + 100)
    assert b.mem.read(buf + 12, 100) == b"s" * 100
    assert b.mem.read(buf + 112, 144) == bytes([GUARD]) * 144
    assert b.dev.take_faults() == []
    assert sum(a.length for a in b.log.entries(snap_mark) if a.kind is AccessKind.BUFFER) == 112


@pytest.mark.parametrize("indirect", [False, True])
def test_rx_split_across_segments(indirect: bool) -> None:
    """virtio 1.2 §2.7.4: the device writes writable segments in chain order (vringh push over
    the iov), through a chain or an indirect table; each segment gets its slice only."""
    b = Bench()
    q = b.vqs[0]
    sizes = [5, 20, 2048]
    bufs = [b.guarded(n) for n in sizes]
    head = q.post_iova_chain([(a, n, True) for a, n in zip(bufs, sizes, strict=True)],
                             indirect=indirect)
    q.publish()
    frame = bytes((7 * i) & 0xFF for i in range(100))
    run(b.dev.inject_rx(0, frame))
    b.dev.process()
    payload = bytes(10) + b"\x01\x00" + frame
    assert used_elem(b.mem, q, 0) == (head, len(payload))
    assert b.mem.read(bufs[0], 5) == payload[:5]
    assert b.mem.read(bufs[1], 20) == payload[5:25]
    assert b.mem.read(bufs[2], len(payload) - 25) == payload[25:]
    for a, n in zip(bufs[:2], sizes[:2], strict=True):
        assert b.mem.read(a + n, 64) == bytes([GUARD]) * 64
    assert b.mem.read(bufs[2] + len(payload) - 25, 64) == bytes([GUARD]) * 64


def test_rx_frame_without_driver_ok_dropped() -> None:
    """virtio 1.2 §2.1: no buffer is used before DRIVER_OK. A frame arriving while DRIVER_OK is
    clear (here: after a reset, with frames still queued for the old driver) has no driver to
    go to and is dropped; the next driver gets only what arrives after its DRIVER_OK."""
    b = Bench()
    run(b.dev.inject_rx(0, b"old" * 30))            # queued: no buffer posted yet
    run(b.v.set_status(0))
    run(b.dev.inject_rx(0, b"stale" * 30))          # DRIVER_OK clear: dropped
    assert b.dev.vqs[0].rx_dropped == 1 and not b.dev.vqs[0].rx_frames
    drv = GuestNetDriver(b.mem, b.alloc, queue_pairs=1, queue_size=QSIZE, features=b.features)
    run(start_device(b.v, drv.vqs, features=b.features))
    assert run(receive(b.v, b.dev, drv, 0, [b"new" * 30])) == [b"new" * 30]


def test_rx_frame_the_device_dropped_is_forgotten() -> None:
    """DeviceHarness.take_rx_evicted: a device under test may drop a frame it holds for a
    receive queue with no buffer (vdpa_sim_net.c: vdpasim_net_work counts it in rx_drops).
    Told which one by its arrival number (every frame offered counted from 0, a frame dropped
    for DRIVER_OK clear too), the reference drops exactly that frame in its turn, counts it
    once, and delivers the others in order. A frame the reference dropped itself (at arrival, at a
    reset) agrees; one it delivered, or never had, is refused."""
    b = Bench()
    run(b.v.set_status(0))
    run(b.dev.inject_rx(0, b"stale" * 30))          # arrival 0, DRIVER_OK clear: dropped
    run(start_device(b.v, b.driver.vqs, features=b.features))
    frames = [bytes([i]) * (60 + 10 * i) for i in range(4)]
    for f in frames:                                 # arrivals 1..4, no buffer posted yet
        run(b.dev.inject_rx(0, f))
    assert b.dev.rx_evicted(0, 2)
    assert b.dev.rx_evicted(0, 2), "a frame dropped already: the drops agree"
    assert b.dev.rx_evicted(0, 0), "a frame dropped at arrival: the drops agree"
    assert not b.dev.rx_evicted(0, 9), "a frame never offered forgotten"
    assert b.dev.vqs[0].rx_dropped == 1, "a dropped frame counted before its turn"
    assert run(receive(b.v, b.dev, b.driver, 0, [])) == []
    assert b.dev.vqs[0].rx_dropped == 1, "a dropped frame served ahead of an older one"
    b.driver.post_rx(0, 3, 2048, kick=False)
    run(kick_if_needed(b.v, b.driver.rx_vq(0)))
    run(b.dev.settle())
    assert b.driver.reap_rx(0) == [frames[0], frames[2], frames[3]]
    assert b.dev.vqs[0].rx_dropped == 2, "a dropped frame not counted once in its turn"
    assert not b.dev.rx_evicted(0, 1), "a frame already delivered forgotten"
    run(b.dev.inject_rx(0, b"held" * 20))           # arrival 5, held at the reset below
    run(b.v.set_status(0))
    assert b.dev.rx_evicted(0, 5), "a frame a reset dropped: the drops agree"


@pytest.mark.parametrize("layout", [{"split_header": True}, {"indirect": True}])
def test_rx_driver_layouts(layout: dict[str, bool]) -> None:
    """virtio_net.c add_recvbuf_* layouts (header apart, or indirect): frames arrive intact."""
    b = Bench()
    frames = [bytes([i]) * (60 + 30 * i) for i in range(6)]
    assert run(receive(b.v, b.dev, b.driver, 0, frames, **layout)) == frames


# ============================================================================================
# u16 wrap and notifications
# ============================================================================================
def test_tx_u16_wrap() -> None:
    """virtio 1.2 §2.7.6/§2.7.8: avail.idx and used.idx are free-running u16; started at 0xfffe
    (SET_VRING_BASE), five buffers go out in order and used.idx wraps to 3."""
    b = Bench(start_idx=0xFFFE)
    frames = [bytes([i]) * 70 for i in range(5)]
    for f in frames:
        b.driver.send(0, f, kick=False)
    b.kick_process(1)
    assert [p.data for p in b.dev.take_tx()] == frames
    assert u16(b.mem, b.vqs[1].used_gpa + 2) == 3
    assert [c.token for c in b.driver.reap_tx(0)] == frames


def test_rx_u16_wrap() -> None:
    """As above for a receiveq: slots (0xfffe + k) % N, used.idx wraps."""
    b = Bench(start_idx=0xFFFE)
    frames = [bytes([i]) * 90 for i in range(5)]
    assert run(receive(b.v, b.dev, b.driver, 0, frames)) == frames
    assert u16(b.mem, b.vqs[0].used_gpa + 2) == 3


@pytest.mark.parametrize("start,used_event", [(0, 0), (0xFFFD, 0), (0xFFFD, 0xFFFF), (0xFFFE, 0xFFFE),
                                              (5, 7)])
def test_event_idx_notification_per_completion(start: int, used_event: int) -> None:
    """__vringh_need_notify with EVENT_IDX: notify iff vring_need_event(used_event, new, old)
    per completion (§5 step 4, §6 item 24): used_event = 0 notifies after the first completion
    only; the window wraps at u16."""
    b = Bench(start_idx=start)
    q = b.vqs[1]
    q.set_used_event(used_event)
    for i in range(5):
        b.driver.send(0, bytes([i]) * 64, kick=False)
    run(b.v.kick(1))
    got, want = [], []
    for k in range(5):
        before = b.notifications(1)
        assert b.dev.process(budget=1) == 1
        got.append(b.notifications(1) - before)
        want.append(int(need_event(used_event, (start + k + 1) & 0xFFFF, (start + k) & 0xFFFF)))
    assert got == want
    assert sum(want) == 1


def test_event_idx_ignores_no_interrupt_flag() -> None:
    """virtio 1.2 §2.7.7.2: with EVENT_IDX the device ignores avail.flags; only used_event
    decides (here: notify on the first completion)."""
    b = Bench()
    q = b.vqs[1]
    b.mem.write(q.avail_gpa, AVAIL_F_NO_INTERRUPT.to_bytes(2, "little"))
    q.set_used_event(0)
    b.driver.send(0, b"x" * 64, kick=False)
    b.kick_process(1)
    assert b.notifications(1) == 1


def test_avail_event_written_when_ring_drains() -> None:
    """__vringh_notify_enable with EVENT_IDX: once the ring is empty the device writes
    avail_event = last_avail at used ring offset 4 + 8N (§5 step 5), here across the wrap."""
    b = Bench(start_idx=0xFFFE)
    q = b.vqs[1]
    for i in range(3):
        b.driver.send(0, bytes([i]) * 64, kick=False)
    b.kick_process(1)
    assert u16(b.mem, q.used_gpa + 4 + 8 * q.num) == 1


def test_no_interrupt_without_event_idx() -> None:
    """__vringh_need_notify without EVENT_IDX: notify iff !(avail.flags & NO_INTERRUPT), per
    completion."""
    b = Bench(drop=bit(F_EVENT_IDX))
    q = b.vqs[1]
    q.disable_interrupts()
    assert u16(b.mem, q.avail_gpa) & AVAIL_F_NO_INTERRUPT
    for i in range(3):
        b.driver.send(0, bytes([i]) * 64, kick=False)
    b.kick_process(1)
    assert b.notifications(1) == 0
    b.driver.reap_tx(0)
    q.enable_interrupts()
    for i in range(2):
        b.driver.send(0, bytes([i]) * 64, kick=False)
    b.kick_process(1)
    assert b.notifications(1) == 2


# ============================================================================================
# control virtqueue
# ============================================================================================
def cvq_command(b: Bench, cls: int, cmd: int, body: bytes, ack: bool = True) -> None:
    assert b.cvq is not None
    b.cvq.add_buffer([bytes([cls, cmd]), body] if body else [bytes([cls, cmd])],
                     [1] if ack else [])
    b.cvq.publish()
    b.kick_process(b.cvq.index)


def cvq_ack(b: Bench) -> tuple[int, int]:
    assert b.cvq is not None
    (c,) = b.cvq.reap()
    return c.len, c.data[0]


@pytest.mark.parametrize("mq", [True, False])
def test_cvq_mac_addr_set(mq: bool) -> None:
    """mlx5_vnet.c handle_ctrl_mac (virtio 1.2 §5.1.6.5.2): MAC_ADDR_SET is acked VIRTIO_NET_OK
    and the config mac (offset 0) changes; the CVQ is vq 2*max_qps with MQ, 2 without."""
    b = Bench(drop=0 if mq else bit(F_MQ))
    mac = b"\x02\xaa\xbb\xcc\xdd\xee"
    cvq_command(b, CTRL_MAC, CTRL_MAC_ADDR_SET, mac)
    assert cvq_ack(b) == (1, NET_OK)
    assert run(b.dev.get_config(0, 6)) == mac


@pytest.mark.parametrize("pairs,ok", [(2, True), (1, True), (0, False), (5, False)])
def test_cvq_mq_vq_pairs_set(pairs: int, ok: bool) -> None:
    """handle_ctrl_mq (virtio 1.2 §5.1.6.5.5): VQ_PAIRS_SET in 1..max_virtqueue_pairs (4) is
    acked OK and applied; outside it is acked VIRTIO_NET_ERR and nothing changes."""
    b = Bench()
    cvq_command(b, CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, pairs.to_bytes(2, "little"))
    assert cvq_ack(b) == (1, NET_OK if ok else NET_ERR)
    assert b.dev.cur_queue_pairs == (pairs if ok else 1)


def test_cvq_unknown_command_acked_err() -> None:
    """mlx5_cvq_kick_handler: an unknown class is acked VIRTIO_NET_ERR, no fault."""
    b = Bench()
    cvq_command(b, 0x7F, 0, b"\x00")
    assert cvq_ack(b) == (1, NET_ERR)
    assert b.dev.take_faults() == []


def test_cvq_command_without_ack_byte() -> None:
    """vringh: a CVQ chain with no writable descriptor has nowhere to put the ack; the device
    reports a protocol error (-EPROTO) on the CVQ, which goes to ERR; data queues keep going."""
    b = Bench()
    assert b.cvq is not None
    cvq_command(b, CTRL_MAC, CTRL_MAC_ADDR_SET, b"\x02\x00\x00\x00\x00\x01", ack=False)
    (fault,) = b.dev.take_faults()
    assert (fault.vq, fault.errno) == (b.cvq.index, errno.EPROTO)
    assert b.dev.vqs[b.cvq.index].state is VqObjectState.ERR
    assert run(b.dev.get_config(0, 6)) == b.dev.options.mac
    b.driver.send(0, b"x" * 64, kick=False)
    b.kick_process(1)
    assert [p.data for p in b.dev.take_tx()] == [b"x" * 64]
