# SPDX-License-Identifier: MIT
"""The catalogue of malformed (and awkward) rings: one place for every ring a device must refuse.

Each :class:`RingCase` names one way a guest can hand a device a bad ring: a builder that writes
it through the guest driver model's raw builders (:class:`vdpa_model.guest.GuestVirtqueue`), the
errno each kernel parent gives it, what the fault record must say when a translation failed
(ASID, IOVA, direction), and the kernel function (or spec section) the expectation follows.
Everything that exercises bad rings iterates this catalogue: the model's data-path tests
(tests/model/test_datapath.py, both parents), the RTL tests (one device life per entry, in
lockstep with the reference device), the UVM bad-ring sequences and the ``ring_case_cg``
coverage bins, and the conformance scenario's loop.

A case that a device cannot do yet is not dropped: :attr:`RingCase.rtl_divergence` says why the
reference RTL (rtl/) answers differently and what it reports instead. The RTL test then expects
exactly that divergence, and fails once the RTL is fixed so the mark is removed.

Addresses come from a :class:`RingLayout`: where a bench put guest RAM, and the windows the
cases need around it (read-only, unmapped, two IOTLB ranges meeting inside a descriptor, past
the end of guest memory). A bench maps :meth:`RingLayout.ranges` into ASID 0 (IOVA = GPA)
unless the case runs on the identity default (:attr:`RingCase.mapped` False).
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Literal, Protocol

from .guest import GuestVirtqueue, RawDesc
from .memory import Allocator, GuestMemory
from .ops import IotlbRange
from .options import Parent
from .spec import (
    VHOST_ACCESS_RO,
    VHOST_ACCESS_RW,
    VRING_AVAIL_IDX_OFF,
    VRING_AVAIL_RING_OFF,
    VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    VRING_DESC_SIZE,
    VRING_USED_ELEM_SIZE,
    VRING_USED_IDX_OFF,
    VRING_USED_RING_OFF,
    avail_ring_size,
    used_ring_size,
)

F_NEXT, F_WRITE, F_INDIRECT = VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VRING_DESC_F_INDIRECT
#: IOTLB page (the reference RTL's PAGE_SHIFT default, and the host's page)
PAGE = 4096
#: byte a builder fills buffers with, so a stray device write shows up
GUARD = 0xA5
#: the frame offered to a receive queue under test, and the payload of a transmit buffer
PROBE_FRAME = bytes(range(100))
TX_PAYLOAD = b"x" * 60
#: queue sizes up to this keep a moved descriptor table inside the split window
MAX_SPLIT_QSIZE = PAGE // VRING_DESC_SIZE


class RingAddressControl(Protocol):
    """The vhost-vdpa calls a builder makes to move a ring (VhostVdpa has them)."""

    async def suspend(self) -> None: ...

    async def resume(self) -> None: ...

    async def set_vring_addr(self, idx: int, desc: int, avail: int, used: int,
                             log: int = 0) -> None: ...


@dataclasses.dataclass(frozen=True)
class RingLayout:
    """Guest RAM ``[ram_base, ram_base + ram_size)`` mapped read/write at IOVA = GPA, and the
    windows the catalogue derives from it:

    * a read-only window of 64 KiB at the next 64 KiB boundary after RAM;
    * one unmapped page, then the *split window*: two pages mapped as two IOTLB ranges that
      meet at :attr:`split`, one byte past a page boundary, so that a descriptor, an avail ring
      entry and a used element's id field, each naturally aligned, can lie across it;
    * :attr:`unmapped`, half way up guest memory, never mapped;
    * :attr:`past_ram`, twice the guest memory size: identity-mapped nowhere.
    """

    ram_base: int
    ram_size: int
    guest_size: int

    def __post_init__(self) -> None:
        if self.ram_base < 0 or self.ram_size <= 0:
            raise ValueError(f"RingLayout: RAM [{self.ram_base:#x}, +{self.ram_size:#x}) is empty")
        if self.split_window[0] + self.split_window[1] > self.unmapped:
            raise ValueError(f"RingLayout: the windows above RAM end at "
                             f"{self.split_window[0] + self.split_window[1]:#x}, past the "
                             f"unmapped IOVA {self.unmapped:#x} (guest size {self.guest_size:#x})")

    @property
    def ram_end(self) -> int:
        return self.ram_base + self.ram_size

    @property
    def read_only(self) -> tuple[int, int]:
        """(base, size) of the read-only window."""
        return (self.ram_end + 0xFFFF) & ~0xFFFF, 0x1_0000

    @property
    def split_window(self) -> tuple[int, int]:
        """(base, size) of the window mapped as two ranges; an unmapped page lies before it."""
        ro, size = self.read_only
        return ro + size + PAGE, 2 * PAGE

    @property
    def split(self) -> int:
        """IOVA where the split window's two ranges meet: byte 1 of the descriptor slot, avail
        ring entry and used element that start at the page boundary before it."""
        return self.split_window[0] + PAGE + 1

    @property
    def unmapped(self) -> int:
        return self.guest_size // 2

    @property
    def past_ram(self) -> int:
        return 2 * self.guest_size

    def ranges(self) -> list[IotlbRange]:
        """The ASID 0 mappings of a mapped case, IOVA = GPA."""
        ro, ro_size = self.read_only
        win, win_size = self.split_window
        return [IotlbRange(self.ram_base, self.ram_size, self.ram_base, VHOST_ACCESS_RW),
                IotlbRange(ro, ro_size, ro, VHOST_ACCESS_RO),
                IotlbRange(win, self.split - win, win, VHOST_ACCESS_RW),
                IotlbRange(self.split, win + win_size - self.split, self.split, VHOST_ACCESS_RW)]


@dataclasses.dataclass
class RingBench:
    """What a builder writes with: guest memory, an allocator inside mapped RAM, the vhost-vdpa
    fd (to move rings while suspended), the layout and the virtio-net header length."""

    mem: GuestMemory
    alloc: Allocator
    v: RingAddressControl
    layout: RingLayout
    hdr_len: int
    #: the rings a builder moved each VQ onto (desc, driver, device), by VQ index
    moved: dict[int, tuple[int, int, int]] = dataclasses.field(default_factory=dict)

    def guarded(self, size: int) -> int:
        """A buffer of ``size`` bytes with 64 guard bytes either side, all :data:`GUARD`."""
        addr = self.alloc.alloc(size + 128, 64) + 64
        self.mem.fill(addr - 64, size + 128, GUARD)
        return addr

    def tx_buffer(self, payload: bytes = TX_PAYLOAD) -> int:
        """A transmit buffer: a zero virtio-net header, then ``payload``."""
        addr = self.alloc.alloc(self.hdr_len + len(payload), 64)
        self.mem.write(addr, bytes(self.hdr_len) + payload)
        return addr


@dataclasses.dataclass(frozen=True)
class FaultSite:
    """Where a failed translation must be reported: the IOVA, the direction, the ASID."""

    iova: int
    write: bool
    asid: int = 0


@dataclasses.dataclass(frozen=True)
class Expect:
    """What a builder promises beyond the errno: the fault site of a translation fault, and a
    bound on the indirect-table reads a loop may cost (T9: bounded by the table, not N)."""

    site: FaultSite | None = None
    max_indirect_reads: int | None = None


@dataclasses.dataclass(frozen=True)
class RtlDivergence:
    """Why the reference RTL answers a case differently from the model, and what it reports
    instead: ``errno`` on the same VQ, or None when it completes the chain without a fault."""

    reason: str
    errno: int | None


Builder = Callable[[RingBench, GuestVirtqueue], Awaitable[Expect]]
Queue = Literal["tx", "rx"]
Straddle = Literal["desc", "avail", "used"]


@dataclasses.dataclass(frozen=True)
class RingCase:
    """One catalogue entry. ``errno`` maps each parent to the errno of the fault on the queue
    under test, or None when that parent accepts the ring (the chain completes)."""

    name: str
    queue: Queue
    build: Builder
    errno: Mapping[Parent, int | None]
    follows: str
    mapped: bool = True
    rtl_divergence: RtlDivergence | None = None
    #: healthy chains may sit ahead of it on its queue (False where the builder moves the
    #: rings or rewrites avail.idx: chains ahead would meet that first)
    prefix_ok: bool = True
    #: the ring item the entry puts across two IOTLB ranges ("desc", "avail", "used"), so that
    #: one access must be split in two (vringh: copy_from_iotlb / copy_to_iotlb); None if none
    straddles: Straddle | None = None

    def expected_errno(self, parent: Parent) -> int | None:
        return self.errno[parent]


def both(err: int | None) -> dict[Parent, int | None]:
    """The same answer from both parents."""
    return {Parent.MLX5: err, Parent.SIM: err}


# ---------------------------------------------------------------------------------------------
# builders: each writes one ring into queue ``q`` (not published; the bench publishes and kicks)
# ---------------------------------------------------------------------------------------------
async def _head_ge_size(b: RingBench, q: GuestVirtqueue) -> Expect:
    q.post_raw_head(q.num)
    return Expect()


async def _next_ge_size(b: RingBench, q: GuestVirtqueue) -> Expect:
    q.post_raw_chain([RawDesc(b.tx_buffer(), b.hdr_len + len(TX_PAYLOAD), F_NEXT, q.num)])
    return Expect()


async def _chain_loop(b: RingBench, q: GuestVirtqueue) -> Expect:
    buf = b.tx_buffer()
    s = q.peek_free(2)
    q.post_raw_chain([RawDesc(buf, 16, F_NEXT, s[1]), RawDesc(buf, 16, F_NEXT, s[0])], slots=s)
    return Expect()


async def _indirect_loop(b: RingBench, q: GuestVirtqueue) -> Expect:
    buf = b.tx_buffer()
    table = [RawDesc(buf, 16, F_NEXT, 1), RawDesc(buf, 16, F_NEXT, 0),
             RawDesc(buf, 16), RawDesc(buf, 16)]
    iova, length = q.write_raw_indirect(table)
    q.post_raw_chain([RawDesc(iova, length, F_INDIRECT)])
    return Expect(max_indirect_reads=len(table))


def _indirect_len(length: int) -> Builder:
    async def build(b: RingBench, q: GuestVirtqueue) -> Expect:
        iova, _ = q.write_raw_indirect([RawDesc(b.tx_buffer(), b.hdr_len + len(TX_PAYLOAD))] * 2)
        q.post_raw_chain([RawDesc(iova, length, F_INDIRECT)])
        return Expect()
    return build


async def _indirect_in_indirect(b: RingBench, q: GuestVirtqueue) -> Expect:
    inner = q.write_raw_indirect([RawDesc(b.tx_buffer(), b.hdr_len + len(TX_PAYLOAD))])
    outer = q.write_raw_indirect([RawDesc(inner[0], inner[1], F_INDIRECT)])
    q.post_raw_chain([RawDesc(outer[0], outer[1], F_INDIRECT)])
    return Expect()


async def _indirect_with_next(b: RingBench, q: GuestVirtqueue) -> Expect:
    buf = b.tx_buffer()
    iova, length = q.write_raw_indirect([RawDesc(buf, b.hdr_len + len(TX_PAYLOAD))])
    s = q.peek_free(2)
    q.post_raw_chain([RawDesc(iova, length, F_INDIRECT | F_NEXT, s[1]), RawDesc(buf, 16)],
                     slots=s)
    return Expect()


async def _readable_after_writable(b: RingBench, q: GuestVirtqueue) -> Expect:
    q.post_iova_chain([(b.guarded(256), 256, True), (b.guarded(64), 64, False)])
    return Expect()


async def _writable_on_tx(b: RingBench, q: GuestVirtqueue) -> Expect:
    q.post_iova_chain([(b.tx_buffer(), b.hdr_len + len(TX_PAYLOAD), False),
                       (b.guarded(64), 64, True)])
    return Expect()


async def _readable_on_rx(b: RingBench, q: GuestVirtqueue) -> Expect:
    q.post_iova_chain([(b.guarded(2048), 2048, False)])
    return Expect()


async def _unmapped_buffer(b: RingBench, q: GuestVirtqueue) -> Expect:
    iova = b.layout.unmapped
    q.post_iova_chain([(iova, 64, False)])
    return Expect(FaultSite(iova, False))


async def _unmapped_second_segment(b: RingBench, q: GuestVirtqueue) -> Expect:
    iova = b.layout.unmapped + 64
    q.post_iova_chain([(b.tx_buffer(), b.hdr_len + len(TX_PAYLOAD), False), (iova, 64, False)])
    return Expect(FaultSite(iova, False))


async def _buffer_crosses_mapping_end(b: RingBench, q: GuestVirtqueue) -> Expect:
    ro, size = b.layout.read_only
    iova = ro + size - 32
    q.post_iova_chain([(iova, 64, False)])
    return Expect(FaultSite(iova, False))


async def _read_only_rx_buffer(b: RingBench, q: GuestVirtqueue) -> Expect:
    ro, _ = b.layout.read_only
    q.post_iova_chain([(ro, 2048, True)])
    return Expect(FaultSite(ro, True))


async def _read_only_rx_second_segment(b: RingBench, q: GuestVirtqueue) -> Expect:
    iova = b.layout.read_only[0] + 256
    q.post_iova_chain([(b.guarded(64), 64, True), (iova, 2048, True)])
    return Expect(FaultSite(iova, True))


def _one_chain(b: RingBench, q: GuestVirtqueue) -> int:
    """A healthy chain for ``q``, published (as virtio_net.c does at once): a transmit buffer,
    or a receive buffer. Returns the head. A device may read the ring as soon as it runs, so a
    chain that must be there when its rings move is published before they do."""
    head = q.add_buffer([bytes(b.hdr_len) + TX_PAYLOAD], ()) if q.index % 2 else \
        q.add_buffer((), [2048])
    q.publish()
    return head


async def _move_rings(b: RingBench, q: GuestVirtqueue, desc: int, driver: int,
                      device: int) -> None:
    """Give ``q`` new ring addresses the way vhost-vdpa allows it while running: suspend,
    VHOST_SET_VRING_ADDR, resume (drivers/vhost/vdpa.c refuses it in DRIVER_OK otherwise)."""
    await b.v.suspend()
    await b.v.set_vring_addr(q.index, desc, driver, device)
    await b.v.resume()
    if (desc, driver, device) == (q.desc_area, q.driver_area, q.device_area):
        b.moved.pop(q.index, None)
    else:
        b.moved[q.index] = (desc, driver, device)


async def restore_rings(b: RingBench, q: GuestVirtqueue) -> None:
    """Put ``q`` back on the guest driver's own rings after an entry that moved them and
    completed without a fault, so that later traffic on ``q`` meets the rings the driver
    writes (the moved copies would go stale: the device would find nothing new on them).
    The used ring the device wrote while moved is copied back first; the driver's areas hold
    the same entries in both places (a builder publishes before it moves). Suspended, as
    :func:`_move_rings`. Nothing to do if no builder moved ``q``."""
    moved = b.moved.get(q.index)
    if moved is None:
        return
    device = moved[2]
    if device != q.device_area:
        b.mem.write(q.used_gpa, b.mem.read(device, used_ring_size(q.num)))
    await _move_rings(b, q, q.desc_area, q.driver_area, q.device_area)


async def _unmapped_avail_ring(b: RingBench, q: GuestVirtqueue) -> Expect:
    _one_chain(b, q)
    u = b.layout.unmapped
    await _move_rings(b, q, u, u + PAGE, u + 2 * PAGE)
    return Expect(FaultSite(u + PAGE + VRING_AVAIL_IDX_OFF, False))  # avail.idx is read first


async def _unmapped_desc_table(b: RingBench, q: GuestVirtqueue) -> Expect:
    head = _one_chain(b, q)
    u = b.layout.unmapped
    await _move_rings(b, q, u, q.driver_area, q.device_area)
    return Expect(FaultSite(u + VRING_DESC_SIZE * head, False))


async def _unmapped_used_ring(b: RingBench, q: GuestVirtqueue) -> Expect:
    """Only the device area moves out of the mappings: the chain is fine, but its completion
    would fault, so no byte of the buffer may move either (the used slot is checked first)."""
    _one_chain(b, q)
    u = b.layout.unmapped
    await _move_rings(b, q, q.desc_area, q.driver_area, u)
    return Expect(FaultSite(u + VRING_USED_RING_OFF, True))


async def _avail_idx_too_far(b: RingBench, q: GuestVirtqueue) -> Expect:
    b.mem.write_u16(q.avail_gpa + VRING_AVAIL_IDX_OFF, (q.avail_idx + q.num + 1) & 0xFFFF)
    return Expect()


async def _past_ram_buffer(b: RingBench, q: GuestVirtqueue) -> Expect:
    iova = b.layout.past_ram
    q.post_iova_chain([(iova, 64, False)])
    return Expect(FaultSite(iova, False))


async def _past_ram_rx_second_segment(b: RingBench, q: GuestVirtqueue) -> Expect:
    iova = b.layout.guest_size - 1024
    q.post_iova_chain([(b.guarded(64), 64, True), (iova, 2048, True)])
    return Expect(FaultSite(iova, True))


async def _past_ram_rings(b: RingBench, q: GuestVirtqueue) -> Expect:
    _one_chain(b, q)
    p = b.layout.past_ram
    await _move_rings(b, q, p, p + PAGE, p + 2 * PAGE)
    return Expect(FaultSite(p + PAGE + VRING_AVAIL_IDX_OFF, False))


def _straddle_check(name: str, q: GuestVirtqueue) -> None:
    if q.num > MAX_SPLIT_QSIZE:
        raise ValueError(f"{name} needs a queue of at most {MAX_SPLIT_QSIZE} entries, "
                         f"vq {q.index} has {q.num}")


async def _desc_straddles_ranges(b: RingBench, q: GuestVirtqueue) -> Expect:
    """A healthy chain whose head descriptor lies across the two ranges of the split window:
    the descriptor table is copied there (IOVA = GPA) and the VQ moved onto it."""
    _straddle_check("desc_straddles_iotlb_ranges", q)
    head = _one_chain(b, q)
    desc = b.layout.split - 1 - VRING_DESC_SIZE * head
    b.mem.write(desc, b.mem.read(q.desc_gpa, VRING_DESC_SIZE * q.num))
    await _move_rings(b, q, desc, q.driver_area, q.device_area)
    return Expect()


async def _avail_straddles_ranges(b: RingBench, q: GuestVirtqueue) -> Expect:
    """A healthy chain whose avail ring entry (2 bytes) lies across the two ranges of the split
    window: the driver area is copied there and the VQ moved onto it."""
    _straddle_check("avail_ring_straddles_iotlb_ranges", q)
    _one_chain(b, q)
    slot = (q.published_avail_idx - 1) % q.num
    driver = b.layout.split - 1 - VRING_AVAIL_RING_OFF - 2 * slot
    b.mem.write(driver, b.mem.read(q.avail_gpa, avail_ring_size(q.num)))
    await _move_rings(b, q, q.desc_area, driver, q.device_area)
    return Expect()


async def _used_straddles_ranges(b: RingBench, q: GuestVirtqueue) -> Expect:
    """A healthy chain whose used element's id (4 bytes) lies across the two ranges of the
    split window: the device area is copied there and the VQ moved onto it, so the completion
    is written in two pieces."""
    _straddle_check("used_ring_straddles_iotlb_ranges", q)
    _one_chain(b, q)
    slot = b.mem.read_u16(q.used_gpa + VRING_USED_IDX_OFF) % q.num
    device = b.layout.split - 1 - VRING_USED_RING_OFF - VRING_USED_ELEM_SIZE * slot
    b.mem.write(device, b.mem.read(q.used_gpa, used_ring_size(q.num)))
    await _move_rings(b, q, q.desc_area, q.driver_area, device)
    return Expect()


# ---------------------------------------------------------------------------------------------
# the catalogue
# ---------------------------------------------------------------------------------------------
_PAST_RAM_ON_RTL = RtlDivergence(
    "the reference RTL does not bound an identity-mapped ASID: an address past guest RAM goes "
    "out on the bus, the host answers SLVERR and the RTL reports a bus error (EIO) where the "
    "model reports a translation fault (EFAULT) before any access", errno.EIO)

CATALOGUE: tuple[RingCase, ...] = (
    RingCase("head_ge_size", "tx", _head_ge_size, both(errno.EINVAL),
             "drivers/vhost/vringh.c: __vringh_get_head"),
    RingCase("next_ge_size", "tx", _next_ge_size, both(errno.EINVAL),
             "drivers/vhost/vringh.c: __vringh_iov (\"Chained index\")"),
    RingCase("chain_loop", "tx", _chain_loop, both(errno.ELOOP),
             "drivers/vhost/vringh.c: __vringh_iov (count > desc_max)"),
    RingCase("indirect_loop", "tx", _indirect_loop, both(errno.ELOOP),
             "vringh: Fix loop descriptors check in the indirect cases (desc_max = len / 16)"),
    RingCase("indirect_len_not_16", "tx", _indirect_len(24), both(errno.EINVAL),
             "drivers/vhost/vringh.c: move_to_indirect"),
    RingCase("indirect_len_zero", "tx", _indirect_len(0), both(errno.EINVAL),
             "virtio 1.2 §2.7.5.3.1 (model choice: vringh would read an empty table)"),
    RingCase("indirect_in_indirect", "tx", _indirect_in_indirect, both(errno.EINVAL),
             "drivers/vhost/vringh.c: __vringh_iov (\"Indirect in indirect\")"),
    RingCase("indirect_with_next", "tx", _indirect_with_next, both(errno.EINVAL),
             "virtio 1.2 §2.7.5.3.1 (model choice: vringh resumes the main chain)"),
    RingCase("readable_after_writable", "rx", _readable_after_writable, both(errno.EINVAL),
             "drivers/vhost/vringh.c: __vringh_iov (\"Readable desc after writable\")"),
    RingCase("writable_on_tx", "tx", _writable_on_tx, both(errno.EPROTO),
             "drivers/vhost/vringh.c: __vringh_iov (\"Unexpected writable desc\")"),
    RingCase("readable_on_rx", "rx", _readable_on_rx, both(errno.EPROTO),
             "drivers/vhost/vringh.c: __vringh_iov (\"Unexpected readable desc\")"),
    RingCase("unmapped_buffer", "tx", _unmapped_buffer, both(errno.EFAULT),
             "drivers/vhost/vringh.c: iotlb_translate (no map)"),
    RingCase("unmapped_second_segment", "tx", _unmapped_second_segment, both(errno.EFAULT),
             "drivers/vhost/vringh.c: iotlb_translate, every segment before data moves"),
    RingCase("buffer_crosses_mapping_end", "tx", _buffer_crosses_mapping_end, both(errno.EFAULT),
             "drivers/vhost/vringh.c: iotlb_translate (the tail has no map)"),
    RingCase("read_only_rx_buffer", "rx", _read_only_rx_buffer, both(errno.EFAULT),
             "drivers/vhost/vringh.c: iotlb_translate (perm lacks VHOST_MAP_WO)"),
    RingCase("read_only_rx_second_segment", "rx", _read_only_rx_second_segment,
             both(errno.EFAULT), "drivers/vhost/vringh.c: iotlb_translate, per segment"),
    RingCase("unmapped_avail_ring", "tx", _unmapped_avail_ring, both(errno.EFAULT),
             "drivers/vhost/vringh.c: vringh_getdesc_iotlb (avail.idx read through the IOTLB)",
             prefix_ok=False),
    RingCase("unmapped_desc_table", "tx", _unmapped_desc_table, both(errno.EFAULT),
             "drivers/vhost/vringh.c: __vringh_iov (descriptor read through the IOTLB)",
             prefix_ok=False),
    RingCase("avail_idx_too_far", "tx", _avail_idx_too_far, both(errno.EFAULT),
             "drivers/vhost/vhost.c: vhost_get_vq_desc (\"Guest moved avail index\")",
             prefix_ok=False),
    RingCase("unmapped_used_ring_tx", "tx", _unmapped_used_ring, both(errno.EFAULT),
             "drivers/vhost/vringh.c: __vringh_complete (used ring through the IOTLB)",
             prefix_ok=False),
    RingCase("unmapped_used_ring_rx", "rx", _unmapped_used_ring, both(errno.EFAULT),
             "drivers/vhost/vringh.c: __vringh_complete (used ring through the IOTLB)",
             prefix_ok=False),
    RingCase("past_ram_buffer", "tx", _past_ram_buffer, both(errno.EFAULT),
             "identity default past guest RAM: a translation fault (docs/model.md)",
             mapped=False, rtl_divergence=_PAST_RAM_ON_RTL),
    RingCase("past_ram_rx_second_segment", "rx", _past_ram_rx_second_segment, both(errno.EFAULT),
             "identity default past guest RAM: a translation fault (docs/model.md)",
             mapped=False, rtl_divergence=RtlDivergence(
                 "the reference RTL does not bound an identity-mapped ASID and touches only the "
                 "bytes a frame needs: the second segment crosses the end of guest RAM, but the "
                 "header and frame written lie below it, so the RTL completes the chain where "
                 "the model refuses the whole segment (EFAULT) before any access", None)),
    RingCase("past_ram_rings", "tx", _past_ram_rings, both(errno.EFAULT),
             "identity default past guest RAM: a translation fault (docs/model.md)",
             mapped=False, rtl_divergence=_PAST_RAM_ON_RTL,
             prefix_ok=False),
    RingCase("desc_straddles_iotlb_ranges", "tx", _desc_straddles_ranges, both(None),
             "drivers/vhost/vringh.c: copy_from_iotlb (an access split across IOTLB ranges)",
             prefix_ok=False, straddles="desc"),
    RingCase("avail_ring_straddles_iotlb_ranges", "tx", _avail_straddles_ranges, both(None),
             "drivers/vhost/vringh.c: getu16_iotlb -> copy_from_iotlb (split across ranges)",
             prefix_ok=False, straddles="avail"),
    RingCase("used_ring_straddles_iotlb_ranges_tx", "tx", _used_straddles_ranges, both(None),
             "drivers/vhost/vringh.c: putused_iotlb -> copy_to_iotlb (split across ranges)",
             prefix_ok=False, straddles="used"),
    RingCase("used_ring_straddles_iotlb_ranges_rx", "rx", _used_straddles_ranges, both(None),
             "drivers/vhost/vringh.c: putused_iotlb -> copy_to_iotlb (split across ranges)",
             prefix_ok=False, straddles="used"),
)

BY_NAME: dict[str, RingCase] = {c.name: c for c in CATALOGUE}
if len(BY_NAME) != len(CATALOGUE):
    raise AssertionError("ring case names must be unique")


def case(name: str) -> RingCase:
    """The catalogue entry called ``name`` (KeyError naming the known ones otherwise)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no ring case {name!r}; the catalogue has {sorted(BY_NAME)}") from None


def straddle_cases() -> tuple[RingCase, ...]:
    """The entries that put a ring item across two IOTLB ranges."""
    return tuple(c for c in CATALOGUE if c.straddles is not None)


def lockstep_cases() -> Iterator[RingCase]:
    """The entries the reference RTL runs in lockstep with the model (no divergence mark)."""
    return (c for c in CATALOGUE if c.rtl_divergence is None)


__all__ = [
    "BY_NAME",
    "CATALOGUE",
    "GUARD",
    "PROBE_FRAME",
    "Expect",
    "FaultSite",
    "RingBench",
    "RingCase",
    "RingLayout",
    "RtlDivergence",
    "case",
    "lockstep_cases",
    "straddle_cases",
]
