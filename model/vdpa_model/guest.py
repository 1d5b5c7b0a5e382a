# SPDX-License-Identifier: MIT
"""The guest side of the rings: a virtio split-ring driver and a virtio-net driver on top of it.

:class:`GuestVirtqueue` is what ``drivers/virtio/virtio_ring.c`` does for one split virtqueue
(virtio 1.2 §2.7): it lays the three areas out in :class:`~vdpa_model.memory.GuestMemory`, builds
descriptor chains (direct or indirect) from a free list, makes heads available, decides whether
the device needs a kick, and reaps the used ring. :class:`GuestNetDriver` is the part of
``drivers/net/virtio_net.c`` that matters to a device: queue numbering, the virtio-net header,
TX posting and RX buffer refill.

Both are deliberately strict about what the *device* writes: a used id that is not an
outstanding head, a ``len`` larger than the writable space or a used index that runs ahead of
the ring raise :class:`BadCompletionError` naming the head, and the queue is marked broken as
virtio_ring.c's ``BAD_RING`` does. On the other side, the ``post_raw_*``/``write_raw_*`` builders
write exactly the malformed bytes a negative test asks for and check nothing.

Addresses: buffers and rings are allocated guest-physical (GPA). The device is given IOVAs:
``iova_of(gpa)`` for data buffers and indirect tables, ``ring_iova_of(gpa)`` for the three ring
areas (which a device with a separate descriptor group reads through that group's ASID; the
descriptor group covers the descriptor table and the driver and device areas only, so indirect
tables, which live in buffer memory, go through the data group: docs/model.md). Both default to
the identity, which is what a device without any map sees.

Speed matters (benchmarks push >100k descriptors/s through the reference device): descriptors
are packed with one precompiled :class:`struct.Struct` each, buffers come from per-size free
lists instead of fresh allocations, and the used ring is read in at most two bulk reads.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
from collections.abc import Callable, Sequence

from .memory import Allocator, GuestMemory
from .spec import (
    U16_MASK,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_HDR_NUM_BUFFERS_STRUCT,
    VIRTIO_NET_HDR_STRUCT,
    VIRTIO_RING_F_EVENT_IDX,
    VIRTIO_RING_F_INDIRECT_DESC,
    VIRTQUEUE_MAX_SIZE,
    VRING_AVAIL_ALIGN,
    VRING_AVAIL_F_NO_INTERRUPT,
    VRING_AVAIL_FLAGS_OFF,
    VRING_AVAIL_IDX_OFF,
    VRING_AVAIL_RING_OFF,
    VRING_DESC_ALIGN,
    VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    VRING_DESC_SIZE,
    VRING_DESC_STRUCT,
    VRING_USED_ALIGN,
    VRING_USED_ELEM_SIZE,
    VRING_USED_ELEM_STRUCT,
    VRING_USED_F_NO_NOTIFY,
    VRING_USED_FLAGS_OFF,
    VRING_USED_IDX_OFF,
    VRING_USED_RING_OFF,
    avail_event_off,
    avail_ring_size,
    bit,
    desc_table_size,
    net_hdr_len,
    used_event_off,
    used_ring_size,
    vring_need_event,
)

_U16 = struct.Struct("<H")
# Smallest buffer handed out by the pool and the alignment of every pooled buffer (a cache line).
_POOL_MIN = 64
_POOL_ALIGN = 64
# virtqueue_add_split forces a kick when this many buffers were added without one (u16 window).
_KICK_WINDOW = 1 << 16


def identity(gpa: int) -> int:
    """The default address translation: the device's IOVA equals the guest-physical address."""
    return gpa


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class GuestDriverError(Exception):
    """Base class of everything the guest driver model refuses."""


class QueueFullError(GuestDriverError):
    """Not enough free descriptors for the chain (virtqueue_add_split returns -ENOSPC)."""


class QueueBrokenError(GuestDriverError):
    """The queue saw a bad used entry earlier and is unusable, as after virtio_ring.c BAD_RING."""


class BadCompletionError(GuestDriverError):
    """The device wrote a used entry the driver cannot accept (virtio_ring.c BAD_RING).

    ``head`` is the used ``id`` at fault (None when the used index itself is wrong), ``slot``
    the used-ring position it was read from, and ``completed`` the good completions reaped
    before it in the same :meth:`GuestVirtqueue.reap` call (they are not lost).
    """

    def __init__(self, vq: int, head: int | None, slot: int, reason: str,
                 completed: list[Completion] | None = None) -> None:
        self.vq = vq
        self.head = head
        self.slot = slot
        self.reason = reason
        self.completed = [] if completed is None else completed
        what = "used.idx" if head is None else f"used id (head) {head}"
        super().__init__(f"vq {vq}: bad completion at used slot {slot}: {what}: {reason}")


class RxFrameError(GuestDriverError):
    """A received buffer whose virtio-net header or length is not acceptable."""


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Completion:
    """One reaped used entry: ``head`` (used id), caller's ``token``, device ``len`` and data.

    ``data`` is the first ``len`` bytes of the writable buffers, concatenated in chain order
    (empty for raw posts, whose buffer layout the driver does not know: ``raw`` says so).
    """

    head: int
    token: object
    len: int
    data: bytes
    raw: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class RawDesc:
    """One descriptor exactly as written: ``struct vring_desc`` (virtio 1.2 §2.7.5)."""

    addr: int
    len: int
    flags: int = 0
    next: int = 0

    def pack(self) -> bytes:
        """The 16 little-endian bytes of this descriptor."""
        return VRING_DESC_STRUCT.pack(self.addr, self.len, self.flags, self.next)


class _Inflight:
    """Driver-private state of one outstanding head (virtio_ring.c: vring_desc_state_split)."""

    __slots__ = ("bufs", "count", "first", "last", "token", "wsegs", "wspace")

    def __init__(self, token: object, first: int, last: int, count: int,
                 bufs: list[tuple[int, int]], wsegs: list[tuple[int, int]] | None,
                 wspace: int) -> None:
        self.token = token
        self.first = first          # first descriptor-table slot taken for this buffer
        self.last = last            # last slot (its free-list link continues the free list)
        self.count = count          # main-table descriptors used
        self.bufs = bufs            # pooled (size class, gpa) to return on completion
        self.wsegs = wsegs          # writable (gpa, size) in chain order; None for raw posts
        self.wspace = wspace        # total writable bytes (limit for used.len)


class _BufferPool:
    """Guest buffers by power-of-two size class, recycled on completion (like page_frag)."""

    __slots__ = ("_alloc", "_free")

    def __init__(self, alloc: Allocator) -> None:
        self._alloc = alloc
        self._free: dict[int, list[int]] = {}

    def get(self, size: int) -> tuple[int, int]:
        cls = max(_POOL_MIN, 1 << (size - 1).bit_length())
        free = self._free.get(cls)
        if free:
            return cls, free.pop()
        return cls, self._alloc.alloc(cls, _POOL_ALIGN)

    def put(self, cls: int, gpa: int) -> None:
        free = self._free.get(cls)
        if free is None:
            self._free[cls] = [gpa]
        else:
            free.append(gpa)


# --------------------------------------------------------------------------------------------
# Split virtqueue
# --------------------------------------------------------------------------------------------


class GuestVirtqueue:
    """One split virtqueue as the driver sees it (virtio 1.2 §2.7; virtio_ring.c vring_*_split).

    The descriptor table (16-aligned), driver area (2-aligned) and device area (4-aligned) are
    three separate allocations from ``alloc`` (vring_alloc_queue_split may place them anywhere;
    a vDPA driver gives each address to ``set_vq_address``). They are zeroed here.

    ``start_idx`` starts the ring as if ``start_idx`` buffers had already gone round: avail.idx
    and used.idx are both written as ``start_idx``. The device must then be given
    ``set_vq_state(VqState(start_idx))``. It reaches u16 wrap without 65536 round trips.

    ``poison``: when set, writable buffers are filled with that byte before being posted, so a
    device that claims a ``len`` it did not write is visible in :attr:`Completion.data`.
    """

    def __init__(self, mem: GuestMemory, alloc: Allocator, index: int, num: int, *,
                 event_idx: bool = False, iova_of: Callable[[int], int] = identity,
                 ring_iova_of: Callable[[int], int] | None = None, start_idx: int = 0,
                 poison: int | None = None) -> None:
        if not 1 <= num <= VIRTQUEUE_MAX_SIZE or num & (num - 1):
            raise ValueError(
                f"vq {index}: queue size {num} must be a power of two in 1..{VIRTQUEUE_MAX_SIZE}"
                " (virtio 1.2 §2.7)")
        if not 0 <= start_idx <= U16_MASK:
            raise ValueError(f"vq {index}: start_idx {start_idx} is not a u16")
        self.mem = mem
        self.index = index
        self.num = num
        self.event_idx = event_idx
        self.poison = poison
        self._mask = num - 1
        self._iova_of = iova_of
        self._ring_iova_of = iova_of if ring_iova_of is None else ring_iova_of
        self._pool = _BufferPool(alloc)
        self.alloc = alloc

        self.desc_gpa = alloc.alloc(desc_table_size(num), VRING_DESC_ALIGN)
        self.avail_gpa = alloc.alloc(avail_ring_size(num), VRING_AVAIL_ALIGN)
        self.used_gpa = alloc.alloc(used_ring_size(num), VRING_USED_ALIGN)
        mem.write(self.desc_gpa, bytes(desc_table_size(num)))
        mem.write(self.avail_gpa, bytes(avail_ring_size(num)))
        mem.write(self.used_gpa, bytes(used_ring_size(num)))
        self._avail_ring = self.avail_gpa + VRING_AVAIL_RING_OFF
        self._avail_idx_addr = self.avail_gpa + VRING_AVAIL_IDX_OFF
        self._used_event_addr = self.avail_gpa + used_event_off(num)
        self._used_ring = self.used_gpa + VRING_USED_RING_OFF
        self._used_idx_addr = self.used_gpa + VRING_USED_IDX_OFF
        self._avail_event_addr = self.used_gpa + avail_event_off(num)

        # Free list threaded through the descriptors (virtio_ring.c: desc_extra[i].next).
        self._next = [i + 1 for i in range(num - 1)] + [0]
        self._free_head = 0
        self._num_free = num
        self._outstanding: dict[int, _Inflight] = {}

        self._avail_shadow = start_idx          # next avail.idx (split.avail_idx_shadow)
        self._published = start_idx            # avail.idx as last written to memory
        self._kick_old = start_idx              # published idx at the last kick decision
        self._unkicked = 0                      # buffers published since then (num_added)
        self._last_used = start_idx             # last_used_idx
        self._flags_shadow = 0                  # split.avail_flags_shadow
        self.broken = False
        mem.write_u16(self._avail_idx_addr, start_idx)
        mem.write_u16(self._used_idx_addr, start_idx)
        if event_idx:
            mem.write_u16(self._used_event_addr, start_idx)

    # -- addresses --------------------------------------------------------------------------
    @property
    def desc_area(self) -> int:
        """IOVA of the descriptor table, for ``set_vq_address(desc_area=...)``."""
        return self._ring_iova_of(self.desc_gpa)

    @property
    def driver_area(self) -> int:
        """IOVA of the available ring, for ``set_vq_address(driver_area=...)``."""
        return self._ring_iova_of(self.avail_gpa)

    @property
    def device_area(self) -> int:
        """IOVA of the used ring, for ``set_vq_address(device_area=...)``."""
        return self._ring_iova_of(self.used_gpa)

    # -- state ------------------------------------------------------------------------------
    @property
    def num_free(self) -> int:
        """Free descriptors in the main table (virtqueue.num_free)."""
        return self._num_free

    @property
    def num_outstanding(self) -> int:
        """Heads made available and not yet reaped (tracked posts only)."""
        return len(self._outstanding)

    @property
    def outstanding_heads(self) -> list[int]:
        """The outstanding heads, in posting order."""
        return list(self._outstanding)

    @property
    def avail_idx(self) -> int:
        """The avail index the next added buffer gets (u16; includes unpublished adds)."""
        return self._avail_shadow

    @property
    def published_avail_idx(self) -> int:
        """avail.idx as last written to guest memory by :meth:`publish`."""
        return self._published

    @property
    def pending_publish(self) -> int:
        """Buffers added but not yet published."""
        return (self._avail_shadow - self._published) & U16_MASK

    @property
    def last_used_idx(self) -> int:
        """The used index up to which the driver has reaped (u16)."""
        return self._last_used

    @property
    def used_idx(self) -> int:
        """used.idx as the device last wrote it."""
        return self.mem.read_u16(self._used_idx_addr)

    @property
    def used_flags(self) -> int:
        return self.mem.read_u16(self.used_gpa + VRING_USED_FLAGS_OFF)

    @property
    def avail_flags(self) -> int:
        return self.mem.read_u16(self.avail_gpa + VRING_AVAIL_FLAGS_OFF)

    @property
    def avail_event(self) -> int:
        """``avail_event`` from the device area (meaningful with EVENT_IDX)."""
        return self.mem.read_u16(self._avail_event_addr)

    @property
    def used_event(self) -> int:
        """``used_event`` in the driver area as currently written."""
        return self.mem.read_u16(self._used_event_addr)

    def _usable(self) -> None:
        if self.broken:
            raise QueueBrokenError(f"vq {self.index} is broken by an earlier bad completion")

    # -- buffers ----------------------------------------------------------------------------
    def alloc_buffer(self, size: int) -> int:
        """A fresh guest-physical buffer of ``size`` bytes, for hand-built chains."""
        return self.alloc.alloc(size, _POOL_ALIGN)

    def add_buffer(self, out_bufs: Sequence[bytes], in_sizes: Sequence[int], *,
                   indirect: bool = False, token: object = None) -> int:
        """Post one buffer: readable ``out_bufs`` then writable ``in_sizes``; return the head.

        virtio_ring.c virtqueue_add_split: descriptors come from the free list, the chain is
        linked with NEXT and device-writable parts carry WRITE (virtio 1.2 §2.7.5); with
        ``indirect`` the chain goes into a separate table referenced by one INDIRECT
        descriptor (§2.7.5.3, alloc_indirect_split). As in Linux, ``next`` of a last
        descriptor keeps the free-list link (main table) or ``i + 1`` (indirect table), with
        NEXT clear. The head is placed in avail.ring; :meth:`publish` makes it visible.
        """
        if self.broken:
            self._usable()
        n_out = len(out_bufs)
        total = n_out + len(in_sizes)
        if total == 0:
            raise ValueError(f"vq {self.index}: a buffer needs at least one segment")
        needed = 1 if indirect else total
        if needed > self._num_free:
            raise QueueFullError(
                f"vq {self.index}: {needed} descriptors needed, {self._num_free} free")
        mem = self.mem
        pool = self._pool
        iova_of = self._iova_of
        bufs: list[tuple[int, int]] = []
        segs: list[tuple[int, int, int]] = []
        for data in out_bufs:
            size = len(data)
            if size == 0:
                raise ValueError(f"vq {self.index}: empty readable segment")
            cls, gpa = pool.get(size)
            mem.write(gpa, data)
            bufs.append((cls, gpa))
            segs.append((iova_of(gpa), size, 0))
        wsegs: list[tuple[int, int]] = []
        wspace = 0
        poison = self.poison
        for size in in_sizes:
            if size <= 0:
                raise ValueError(f"vq {self.index}: writable segment size {size} must be > 0")
            cls, gpa = pool.get(size)
            if poison is not None:
                mem.fill(gpa, size, poison)
            bufs.append((cls, gpa))
            wsegs.append((gpa, size))
            wspace += size
            segs.append((iova_of(gpa), size, VRING_DESC_F_WRITE))

        pack = VRING_DESC_STRUCT.pack
        head = self._free_head
        nxt = self._next
        base = self.desc_gpa
        if indirect:
            # next = k + 1 everywhere, NEXT cleared on the last one (alloc_indirect_split).
            end = total - 1
            table = b"".join([pack(a, n, f | VRING_DESC_F_NEXT if k < end else f, k + 1)
                              for k, (a, n, f) in enumerate(segs)])
            cls, tgpa = pool.get(len(table))
            mem.write(tgpa, table)
            bufs.append((cls, tgpa))
            mem.pack(VRING_DESC_STRUCT, base + VRING_DESC_SIZE * head,
                     self._iova_of(tgpa), len(table), VRING_DESC_F_INDIRECT, nxt[head])
            last = head
        else:
            i = head
            desc_struct = VRING_DESC_STRUCT
            for a, n, f in segs[:-1]:
                mem.pack(desc_struct, base + VRING_DESC_SIZE * i, a, n, f | VRING_DESC_F_NEXT,
                         nxt[i])
                i = nxt[i]
            a, n, f = segs[-1]
            mem.pack(desc_struct, base + VRING_DESC_SIZE * i, a, n, f, nxt[i])
            last = i
        self._free_head = nxt[last]
        self._num_free -= needed
        self._outstanding[head] = _Inflight(token, head, last, needed, bufs, wsegs, wspace)
        self._put_avail(head)
        return head

    def _put_avail(self, head: int) -> None:
        shadow = self._avail_shadow
        self.mem.pack(_U16, self._avail_ring + 2 * (shadow & self._mask), head & U16_MASK)
        self._avail_shadow = (shadow + 1) & U16_MASK

    def publish(self) -> int:
        """Write avail.idx so the device sees every added head; return how many were new.

        The ring entries were written by the adds, so this store comes after them: the
        virtio_wmb() ordering of virtqueue_add_split (virtio 1.2 §2.7.13.3). u16 wrap.
        """
        self._usable()
        n = (self._avail_shadow - self._published) & U16_MASK
        if n:
            self.mem.pack(_U16, self._avail_idx_addr, self._avail_shadow)
            self._published = self._avail_shadow
            self._unkicked += n
        return n

    def kick_needed(self) -> bool:
        """Whether to notify the device about what was published (virtqueue_kick_prepare_split).

        Without EVENT_IDX: unless the device set used.flags NO_NOTIFY. With EVENT_IDX:
        ``vring_need_event(avail_event, new, old)`` where ``old`` is avail.idx at the previous
        call (virtio 1.2 §2.7.10). After 65536 or more unkicked buffers the u16 window is
        ambiguous; Linux kicks unconditionally then, and so does this.
        """
        self._usable()
        new = self._published
        old = self._kick_old
        unkicked = self._unkicked
        self._kick_old = new
        self._unkicked = 0
        if self.event_idx:
            if unkicked >= _KICK_WINDOW:
                return True
            return vring_need_event(self.avail_event, new, old)
        return not self.used_flags & VRING_USED_F_NO_NOTIFY

    # -- interrupts (used-buffer notifications) ---------------------------------------------
    def disable_interrupts(self) -> None:
        """Ask the device not to interrupt (virtqueue_disable_cb_split).

        Sets NO_INTERRUPT in avail.flags without EVENT_IDX; with EVENT_IDX the flags field is
        not used and Linux writes used_event = 0 instead (virtio 1.2 §2.7.7, §2.7.10).
        """
        if not self._flags_shadow & VRING_AVAIL_F_NO_INTERRUPT:
            self._flags_shadow |= VRING_AVAIL_F_NO_INTERRUPT
            if self.event_idx:
                self.mem.write_u16(self._used_event_addr, 0)
            else:
                self.mem.write_u16(self.avail_gpa + VRING_AVAIL_FLAGS_OFF, self._flags_shadow)

    def enable_interrupts(self) -> bool:
        """Re-enable interrupts; True if the used ring is empty (virtqueue_enable_cb).

        Clears NO_INTERRUPT (without EVENT_IDX) and writes used_event = last_used_idx, then
        re-reads used.idx to close the race (virtqueue_enable_cb_prepare_split + poll).
        """
        if self._flags_shadow & VRING_AVAIL_F_NO_INTERRUPT:
            self._flags_shadow &= ~VRING_AVAIL_F_NO_INTERRUPT
            if not self.event_idx:
                self.mem.write_u16(self.avail_gpa + VRING_AVAIL_FLAGS_OFF, self._flags_shadow)
        if self.event_idx:
            self.mem.write_u16(self._used_event_addr, self._last_used)
        return not self.poll()

    def set_used_event(self, idx: int) -> None:
        """Write ``used_event`` directly (virtio 1.2 §2.7.10): interrupt when used.idx passes it."""
        self.mem.write_u16(self._used_event_addr, idx & U16_MASK)

    def poll(self) -> bool:
        """True if the device has used buffers not yet reaped (virtqueue_poll / more_used)."""
        return self.mem.read_u16(self._used_idx_addr) != self._last_used

    # -- used ring --------------------------------------------------------------------------
    def reap(self, limit: int | None = None) -> list[Completion]:
        """Take every new used entry (at most ``limit``), free its descriptors, return them.

        virtqueue_get_buf_ctx_split: read used.idx, then entries from last_used_idx (u16 wrap);
        each id must be an outstanding head (else "id %u is not a head!") and ``len`` must fit
        the writable space (virtio 1.2 §2.7.8.2: len is what the device wrote). Descriptors go
        back to the front of the free list (detach_buf_split). With EVENT_IDX and interrupts on,
        used_event is advanced to the new last_used_idx.
        """
        self._usable()
        mem = self.mem
        used_idx = mem.read_u16(self._used_idx_addr)
        last = self._last_used
        n = (used_idx - last) & U16_MASK
        if not n:
            return []
        if n > self.num:
            self.broken = True
            raise BadCompletionError(
                self.index, None, last & self._mask,
                f"used.idx {used_idx} is {n} entries past last_used_idx {last}, "
                f"more than the queue size {self.num}")
        if limit is not None:
            n = min(n, limit)
        start = last & self._mask
        first_part = min(n, self.num - start)
        raw = mem.read(self._used_ring + VRING_USED_ELEM_SIZE * start,
                       VRING_USED_ELEM_SIZE * first_part)
        if first_part < n:
            raw += mem.read(self._used_ring, VRING_USED_ELEM_SIZE * (n - first_part))
        out: list[Completion] = []
        outstanding = self._outstanding
        nxt = self._next
        put = self._pool.put
        for k, (head, length) in enumerate(VRING_USED_ELEM_STRUCT.iter_unpack(raw)):
            rec = outstanding.get(head)
            if rec is None or (rec.wsegs is not None and length > rec.wspace):
                self._last_used = (last + k) & U16_MASK
                self.broken = True
                if rec is None:
                    why = (f"id {head} is out of range (queue size {self.num})"
                           if head >= self.num else
                           f"id {head} is not an outstanding head (double completion, or "
                           "never made available)")
                else:
                    why = (f"len {length} exceeds the {rec.wspace} writable bytes posted "
                           "with this head")
                raise BadCompletionError(self.index, head, (last + k) & self._mask, why, out)
            del outstanding[head]
            wsegs = rec.wsegs
            if not length or not wsegs:
                data = b""
            elif length <= wsegs[0][1]:
                data = mem.read(wsegs[0][0], length)
            else:
                parts = []
                remaining = length
                for gpa, size in wsegs:
                    take = min(size, remaining)
                    parts.append(mem.read(gpa, take))
                    remaining -= take
                    if not remaining:
                        break
                data = b"".join(parts)
            for cls, gpa in rec.bufs:
                put(cls, gpa)
            if rec.count:
                nxt[rec.last] = self._free_head
                self._free_head = rec.first
                self._num_free += rec.count
            out.append(Completion(head, rec.token, length, data, wsegs is None))
        self._last_used = (last + n) & U16_MASK
        if self.event_idx and not self._flags_shadow & VRING_AVAIL_F_NO_INTERRUPT:
            mem.write_u16(self._used_event_addr, self._last_used)
        return out

    # -- malformed / hand-built rings (negative tests; nothing is checked) -------------------
    def peek_free(self, count: int) -> list[int]:
        """The descriptor slots the next ``count`` allocations would take, in order."""
        if count > self._num_free:
            raise QueueFullError(f"vq {self.index}: {count} descriptors asked, "
                                 f"{self._num_free} free")
        out = []
        i = self._free_head
        for _ in range(count):
            out.append(i)
            i = self._next[i]
        return out

    def write_raw_desc(self, slot: int, desc: RawDesc) -> None:
        """Write ``desc`` into main-table slot ``slot`` verbatim (free-list state untouched)."""
        self.mem.write(self.desc_gpa + VRING_DESC_SIZE * slot, desc.pack())

    def write_raw_indirect(self, descs: Sequence[RawDesc], *,
                           length: int | None = None) -> tuple[int, int]:
        """Write ``descs`` verbatim as an indirect table; return ``(iova, len)`` to refer to it.

        ``len`` is ``16 * len(descs)`` unless ``length`` says otherwise (e.g. not a multiple
        of 16). Use the result in a :class:`RawDesc` with INDIRECT, including inside another
        indirect table (indirect-in-indirect).
        """
        table = b"".join(d.pack() for d in descs)
        gpa = self.alloc.alloc(max(len(table), VRING_DESC_SIZE), VRING_DESC_ALIGN)
        self.mem.write(gpa, table)
        return self._iova_of(gpa), len(table) if length is None else length

    def post_raw_head(self, head: int, *, token: object = None) -> None:
        """Put ``head`` (any u16, e.g. >= num) in the next avail.ring slot; not published.

        No descriptors are taken. A head that is in range and not outstanding is tracked so
        that a device completing it does not break the queue; otherwise it is untracked.
        """
        self._track_raw(head, token, [])
        self._put_avail(head)

    def post_raw_chain(self, descs: Sequence[RawDesc], *, slots: Sequence[int] | None = None,
                       head: int | None = None, token: object = None) -> int:
        """Write ``descs`` verbatim into ``slots`` and post ``head``; not published.

        ``slots`` defaults to :meth:`peek_free` (so ``next`` fields built from peek_free
        agree); ``head`` defaults to ``slots[0]``. The slots leave the free list and come back
        when the head is reaped. Loops, readable-after-writable, INDIRECT with NEXT, bad
        lengths and unmapped or read-only IOVAs are all written as given.
        """
        if slots is None:
            slots = self.peek_free(len(descs))
        if len(slots) != len(descs):
            raise ValueError(f"vq {self.index}: {len(descs)} descriptors for {len(slots)} slots")
        for slot, desc in zip(slots, descs, strict=True):
            self.write_raw_desc(slot, desc)
        if head is None:
            head = slots[0]
        self._track_raw(head, token, list(slots))
        self._put_avail(head)
        return head

    def post_iova_chain(self, segments: Sequence[tuple[int, int, bool]], *,
                        indirect: bool = False, token: object = None) -> int:
        """Post a well-formed chain over caller-chosen IOVAs: ``(iova, len, writable)`` each.

        Nothing is allocated or written in the buffers, and the IOVAs need not be mapped,
        writable or even translatable: this is how a test points the device at an unmapped or
        read-only range. Segment order is kept as given (a writable segment before a
        readable one is the caller's choice). Not published.
        """
        flags = [VRING_DESC_F_WRITE if w else 0 for _, _, w in segments]
        if indirect:
            table = [RawDesc(a, n, f | (VRING_DESC_F_NEXT if k + 1 < len(segments) else 0),
                             k + 1)
                     for k, ((a, n, _), f) in enumerate(zip(segments, flags, strict=True))]
            iova, length = self.write_raw_indirect(table)
            return self.post_raw_chain([RawDesc(iova, length, VRING_DESC_F_INDIRECT, 0)],
                                       token=token)
        slots = self.peek_free(len(segments))
        descs = [RawDesc(a, n, f | (VRING_DESC_F_NEXT if k + 1 < len(segments) else 0),
                         slots[k + 1] if k + 1 < len(segments) else 0)
                 for k, ((a, n, _), f) in enumerate(zip(segments, flags, strict=True))]
        return self.post_raw_chain(descs, slots=slots, token=token)

    def _track_raw(self, head: int, token: object, slots: list[int]) -> None:
        if slots:
            self._take_slots(slots)
        if head >= self.num or head in self._outstanding:
            return  # untracked: a device completing it is reported as a bad completion
        if not slots:
            self._outstanding[head] = _Inflight(token, head, head, 0, [], None, 0)
            return
        self._outstanding[head] = _Inflight(token, slots[0], slots[-1], len(slots), [], None, 0)

    def _take_slots(self, slots: list[int]) -> None:
        """Remove ``slots`` from the free list and link them in order (for later release)."""
        taken = set(slots)
        if len(taken) != len(slots) or not all(0 <= s < self.num for s in slots):
            raise ValueError(f"vq {self.index}: slots {slots} must be distinct and < {self.num}")
        free = self.peek_free(self._num_free)
        busy = taken.difference(free)
        if busy:
            raise ValueError(f"vq {self.index}: slots {sorted(busy)} are in use")
        remaining = [s for s in free if s not in taken]
        for a, b in itertools.pairwise(remaining):
            self._next[a] = b
        if remaining:
            self._next[remaining[-1]] = 0
            self._free_head = remaining[0]
        self._num_free = len(remaining)
        for a, b in itertools.pairwise(slots):
            self._next[a] = b


# --------------------------------------------------------------------------------------------
# virtio-net
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class QueueCounters:
    """Per-virtqueue traffic counters kept by :class:`GuestNetDriver`."""

    posted: int = 0        # buffers made available
    completed: int = 0     # buffers reaped
    frames: int = 0        # frames sent (tx) or received (rx)
    bytes: int = 0         # frame bytes, header excluded
    kicks: int = 0         # notifications sent to the device


class GuestNetDriver:
    """The virtio-net driver's data path over :class:`GuestVirtqueue` (drivers/net/virtio_net.c).

    Queue pair ``i`` uses receiveq ``2*i`` and transmitq ``2*i + 1`` (virtio 1.2 §5.1.2). Every
    buffer starts with a ``struct virtio_net_hdr`` of :func:`~vdpa_model.spec.net_hdr_len`
    bytes (§5.1.6); TX headers are all zero (no offloads). ``event_idx`` defaults to whether
    ``features`` has VIRTIO_RING_F_EVENT_IDX; pass it explicitly only to model a mismatch.

    ``notify(vq_index)`` is called when a kick is needed after :meth:`send`/:meth:`post_rx`
    (virtqueue_notify); without it, callers decide with ``vq.kick_needed()`` themselves.
    """

    def __init__(self, mem: GuestMemory, alloc: Allocator, *, queue_pairs: int, queue_size: int,
                 features: int, event_idx: bool | None = None,
                 iova_of: Callable[[int], int] = identity,
                 ring_iova_of: Callable[[int], int] | None = None,
                 notify: Callable[[int], None] | None = None, start_idx: int = 0,
                 poison: int | None = None) -> None:
        if queue_pairs < 1:
            raise ValueError(f"queue_pairs must be >= 1, got {queue_pairs}")
        self.features = features
        self.hdr_len = net_hdr_len(features)
        self.event_idx = bool(features & bit(VIRTIO_RING_F_EVENT_IDX)) if event_idx is None \
            else event_idx
        self.queue_pairs = queue_pairs
        self.notify = notify
        self.vqs = [GuestVirtqueue(mem, alloc, i, queue_size, event_idx=self.event_idx,
                                   iova_of=iova_of, ring_iova_of=ring_iova_of,
                                   start_idx=start_idx, poison=poison)
                    for i in range(2 * queue_pairs)]
        self.counters = [QueueCounters() for _ in self.vqs]
        #: Per VQ index: completions of raw-posted chains reaped by :meth:`reap_rx`.
        self.raw_completions: list[list[Completion]] = [[] for _ in self.vqs]
        self._tx_hdr = bytes(self.hdr_len)
        self._has_num_buffers = self.hdr_len > VIRTIO_NET_HDR_STRUCT.size
        self._mrg_rxbuf = bool(features & bit(VIRTIO_NET_F_MRG_RXBUF))

    @staticmethod
    def rx_index(qp: int) -> int:
        """Virtqueue index of receiveq ``qp`` (virtio 1.2 §5.1.2)."""
        return 2 * qp

    @staticmethod
    def tx_index(qp: int) -> int:
        """Virtqueue index of transmitq ``qp`` (virtio 1.2 §5.1.2)."""
        return 2 * qp + 1

    def rx_vq(self, qp: int) -> GuestVirtqueue:
        return self.vqs[self._qp(qp)]

    def tx_vq(self, qp: int) -> GuestVirtqueue:
        return self.vqs[self._qp(qp) + 1]

    def _qp(self, qp: int) -> int:
        if not 0 <= qp < self.queue_pairs:
            raise IndexError(f"queue pair {qp} out of range 0..{self.queue_pairs - 1}")
        return 2 * qp

    def _check_indirect(self, indirect: bool) -> None:
        if indirect and not self.features & bit(VIRTIO_RING_F_INDIRECT_DESC):
            raise ValueError("indirect descriptors need VIRTIO_RING_F_INDIRECT_DESC in features")

    def kick(self, vq_index: int) -> bool:
        """Publish, then notify the device if :meth:`GuestVirtqueue.kick_needed` says so."""
        vq = self.vqs[vq_index]
        vq.publish()
        if vq.kick_needed():
            self.counters[vq_index].kicks += 1
            if self.notify is not None:
                self.notify(vq_index)
            return True
        return False

    def send(self, qp: int, frame: bytes, *, split_header: bool = False, indirect: bool = False,
             kick: bool = True, token: object = None) -> int:
        """Transmit ``frame`` on transmitq ``qp``; return the head (start_xmit + xmit_skb).

        The buffer is header + frame in one readable descriptor, or two with ``split_header``
        (header and data apart, as without VIRTIO_F_ANY_LAYOUT). It is published at once, as
        virtqueue_add_split does; with ``kick`` and a ``notify`` callback the device is
        notified when needed. ``token`` defaults to the frame.
        """
        if not frame:
            raise ValueError("cannot send an empty frame")
        self._check_indirect(indirect)
        index = self._qp(qp) + 1
        vq = self.vqs[index]
        bufs = [self._tx_hdr, frame] if split_header else [self._tx_hdr + frame]
        head = vq.add_buffer(bufs, (), indirect=indirect,
                             token=frame if token is None else token)
        vq.publish()
        c = self.counters[index]
        c.posted += 1
        c.frames += 1
        c.bytes += len(frame)
        if kick and self.notify is not None:
            self.kick(index)
        return head

    def post_rx(self, qp: int, count: int, buf_size: int, *, split_header: bool = False,
                indirect: bool = False, kick: bool = True) -> list[int]:
        """Add ``count`` receive buffers of ``buf_size`` bytes (header included) to receiveq.

        One writable descriptor each, or header and data apart with ``split_header``
        (add_recvbuf_small / add_recvbuf_big). Published at once; returns the heads.
        """
        if buf_size <= self.hdr_len:
            raise ValueError(f"rx buffer of {buf_size} bytes leaves no room after the "
                             f"{self.hdr_len}-byte virtio-net header")
        self._check_indirect(indirect)
        index = self._qp(qp)
        vq = self.vqs[index]
        sizes = [self.hdr_len, buf_size - self.hdr_len] if split_header else [buf_size]
        heads = [vq.add_buffer((), sizes, indirect=indirect) for _ in range(count)]
        vq.publish()
        self.counters[index].posted += count
        if kick and self.notify is not None and count:
            self.kick(index)
        return heads

    def reap_tx(self, qp: int) -> list[Completion]:
        """Reap transmitq ``qp`` (free_old_xmit); tokens are the frames sent."""
        index = self._qp(qp) + 1
        done = self.vqs[index].reap()
        self.counters[index].completed += len(done)
        return done

    def reap_rx(self, qp: int) -> list[bytes]:
        """Reap receiveq ``qp`` and return the frames with the virtio-net header stripped.

        receive_buf: a used ``len`` shorter than the header is an error, and where the header
        has ``num_buffers`` it must be 1 (no mergeable buffers spanning several; virtio 1.2
        §5.1.6.4). Buffers are not re-posted; call :meth:`post_rx` again.

        Chains posted raw (:meth:`GuestVirtqueue.post_iova_chain`, ``post_raw_chain``) have no
        buffer the driver knows to parse a header from: their completions are kept, unparsed,
        in :attr:`raw_completions` and yield no frame.
        """
        index = self._qp(qp)
        done = self.vqs[index].reap()
        c = self.counters[index]
        c.completed += len(done)
        frames = []
        hdr_len = self.hdr_len
        for comp in done:
            if comp.raw:
                self.raw_completions[index].append(comp)
                continue
            if comp.len < hdr_len:
                raise RxFrameError(f"vq {index} head {comp.head}: used len {comp.len} is shorter "
                                   f"than the {hdr_len}-byte virtio-net header")
            if self._has_num_buffers:
                (nbufs,) = VIRTIO_NET_HDR_NUM_BUFFERS_STRUCT.unpack_from(
                    comp.data, VIRTIO_NET_HDR_STRUCT.size)
                if nbufs != 1:
                    raise RxFrameError(
                        f"vq {index} head {comp.head}: num_buffers is {nbufs}, expected 1"
                        + (" (merging several buffers is not modelled)"
                           if self._mrg_rxbuf else ""))
            frame = comp.data[hdr_len:]
            frames.append(frame)
            c.bytes += len(frame)
        c.frames += len(frames)
        return frames


__all__ = [
    "BadCompletionError",
    "Completion",
    "GuestDriverError",
    "GuestNetDriver",
    "GuestVirtqueue",
    "QueueBrokenError",
    "QueueCounters",
    "QueueFullError",
    "RawDesc",
    "RxFrameError",
    "identity",
]
