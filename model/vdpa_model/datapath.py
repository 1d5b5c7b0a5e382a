# SPDX-License-Identifier: MIT
"""The device side of a split virtqueue: fetch heads, walk chains, complete, decide notifications.

Steps follow virtio 1.2 §2.7 and the error behaviour follows drivers/vhost/vringh.c, the
kernel's own device-side ring walker (vdpa-semantics.md §5):

* ``__vringh_get_head``: a head >= queue size is -EINVAL;
* ``__vringh_iov`` / ``move_to_indirect``: indirect inside indirect, an indirect length that is not
  a multiple of 16, and a chained index beyond the table are -EINVAL; a readable descriptor after
  a writable one is -EINVAL; a descriptor of the wrong direction for the queue is -EPROTO; more
  descriptors than the table holds is -ELOOP (per table, as fixed by "vringh: Fix loop
  descriptors check in the indirect cases");
* ``__vringh_complete``: the used element is written before ``used.idx``;
* ``__vringh_need_notify``: NO_INTERRUPT without EVENT_IDX, ``vring_need_event`` with it; a
  notification field that cannot be read means no notification, not a ring error.

The ring-format boundary (the seam of the RTL engine, docs/rtl-interface.md "Data path
blocks"): a ring walker reads a format's rings and hands on a :class:`Chain`, the translated
segment list of one buffer, which says nothing of the format it came from; the
:class:`SegmentMover` moves bytes over a chain (TX: gather, RX: scatter) and knows nothing of
rings. :class:`SplitRing` is the split-ring walker and completion writer (virtio 1.2 §2.7); a
packed-ring walker (§2.8) produces the same ``Chain`` and reuses the mover unchanged.

Two deliberate choices where the kernel is silent or lax (docs/model.md lists them):

* The whole chain, including every buffer translation and the used-ring slot it will complete
  into, is validated before any byte of data moves, so a faulting chain makes no data access at
  all (the RTL does the same).
* INDIRECT together with NEXT (forbidden to drivers by virtio 1.2 §2.7.5.3.1) and an empty
  indirect table are refused with -EINVAL instead of being followed as vringh does.
"""

from __future__ import annotations

import dataclasses
import errno
import struct

from .dma import AccessKind, BusError, DmaPort
from .iotlb import TranslationFault
from .spec import (
    U16_MASK,
    VRING_AVAIL_F_NO_INTERRUPT,
    VRING_AVAIL_FLAGS_OFF,
    VRING_AVAIL_IDX_OFF,
    VRING_AVAIL_RING_OFF,
    VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    VRING_DESC_SIZE,
    VRING_DESC_STRUCT,
    VRING_USED_ELEM_SIZE,
    VRING_USED_ELEM_STRUCT,
    VRING_USED_IDX_OFF,
    VRING_USED_RING_OFF,
    avail_event_off,
    used_event_off,
    vring_need_event,
)

_U16 = struct.Struct("<H")
# Enum members bound once: a class-attribute lookup on an Enum costs more than the rest of a
# ring access on CPython 3.11, and the engine makes several per descriptor.
_DESC, _AVAIL, _USED = AccessKind.DESC, AccessKind.AVAIL, AccessKind.USED
_INDIRECT, _BUFFER = AccessKind.INDIRECT, AccessKind.BUFFER

Pieces = list[tuple[int, int]]


class RingError(Exception):
    """A malformed ring or a failed translation: the VQ goes to ERR, the device to NEEDS_RESET."""

    def __init__(self, err: int, reason: str, fault: TranslationFault | None = None,
                 asid: int | None = None) -> None:
        super().__init__(reason)
        self.errno = err
        self.reason = reason
        self.fault = fault
        self.asid = asid


@dataclasses.dataclass(slots=True)
class Chain:
    """The segment list of one buffer, as a ring walker hands it to the mover: translated
    readable and writable segments, in order, each ``(iova, [(pa, length), ...])``. ``head``
    is the id its completion carries (the split ring's head index); ``descriptors`` how many
    ring entries described it."""

    head: int
    readable: list[tuple[int, Pieces]]
    writable: list[tuple[int, Pieces]]
    read_len: int
    write_len: int
    descriptors: int


class SegmentMover:
    """The data mover: bytes to and from a :class:`Chain`'s segments through ``data`` (the VQ
    group's ASID). Ring-format independent: it sees segments, never descriptors."""

    __slots__ = ("data",)

    def __init__(self, data: DmaPort) -> None:
        self.data = data

    def pull(self, chain: Chain) -> bytes:
        """All readable bytes of ``chain``, in order (TX)."""
        read = self.data.read_translated
        return b"".join([read(iova, pieces, _BUFFER) for iova, pieces in chain.readable])

    def push(self, chain: Chain, payload: bytes) -> None:
        """Scatter ``payload`` (<= chain.write_len) over the writable segments (RX)."""
        data = self.data
        pos, total = 0, len(payload)
        for iova, pieces in chain.writable:
            for pa, n in pieces:
                if pos >= total:
                    return
                take = min(n, total - pos)
                data.write_translated(iova, [(pa, take)], payload[pos:pos + take], _BUFFER)
                pos += take
                iova += n


class SplitRing:
    """The split-ring walker and completion writer of one VQ (the ring-format side of the
    boundary): rings through ``ring`` (the descriptor group's ASID); buffers and indirect tables
    are translated through ``data`` (the VQ group's ASID), which the VQ's mover shares."""

    __slots__ = ("data", "desc_area", "device_area", "driver_area", "event_idx", "num", "ring")

    def __init__(self, ring: DmaPort, data: DmaPort, desc_area: int, driver_area: int,
                 device_area: int, num: int, event_idx: bool) -> None:
        self.ring = ring
        self.data = data
        self.desc_area = desc_area
        self.driver_area = driver_area
        self.device_area = device_area
        self.num = num
        self.event_idx = event_idx

    # -- guarded accessors: a translation fault on a ring access is a ring error ----------
    def _ring_u16(self, iova: int, kind: AccessKind) -> int:
        try:
            return self.ring.unpack(_U16, iova, kind)[0]
        except TranslationFault as f:
            raise RingError(errno.EFAULT, str(f), f, self.ring.asid) from None

    def _ring_put_u16(self, iova: int, value: int) -> None:
        try:
            self.ring.pack(_U16, iova, _USED, value & U16_MASK)
        except TranslationFault as f:
            raise RingError(errno.EFAULT, str(f), f, self.ring.asid) from None

    # -- virtio 1.2 §2.7.13 steps -------------------------------------------------------
    def avail_idx(self) -> int:
        return self._ring_u16(self.driver_area + VRING_AVAIL_IDX_OFF, _AVAIL)

    def head_at(self, last_avail: int) -> int:
        """``avail.ring[last_avail % num]`` checked against the queue size (__vringh_get_head)."""
        slot = last_avail & (self.num - 1)
        head = self._ring_u16(self.driver_area + VRING_AVAIL_RING_OFF + 2 * slot, _AVAIL)
        if head >= self.num:
            raise RingError(errno.EINVAL, f"avail.ring[{slot}] head {head} >= queue size {self.num}")
        return head

    def walk(self, head: int, allow_read: bool, allow_write: bool) -> Chain:
        """Read and validate the chain at ``head``; translate every segment (nothing moves yet)."""
        port, kind = self.ring, _DESC
        table, table_max = self.desc_area, self.num
        in_indirect = False
        i, count = head, 0
        readable: list[tuple[int, Pieces]] = []
        writable: list[tuple[int, Pieces]] = []
        read_len = write_len = descriptors = 0
        unpack = VRING_DESC_STRUCT
        while True:
            if count == table_max:
                where = "indirect table" if in_indirect else "descriptor table"
                raise RingError(errno.ELOOP, f"chain from head {head} exceeds its {where} of "
                                             f"{table_max} descriptors (loop)")
            count += 1
            try:
                addr, length, flags, nxt = port.unpack(unpack, table + VRING_DESC_SIZE * i, kind)
            except TranslationFault as f:
                raise RingError(errno.EFAULT, str(f), f, port.asid) from None
            descriptors += 1
            if flags & VRING_DESC_F_INDIRECT:
                if in_indirect:
                    raise RingError(errno.EINVAL, f"indirect descriptor {i} inside an indirect table")
                if flags & VRING_DESC_F_NEXT:
                    raise RingError(errno.EINVAL, f"descriptor {i} sets both INDIRECT and NEXT")
                if length == 0 or length % VRING_DESC_SIZE:
                    raise RingError(errno.EINVAL,
                                    f"indirect table length {length} is not a positive multiple of 16")
                port, kind = self.data, _INDIRECT
                table, table_max = addr, length // VRING_DESC_SIZE
                in_indirect, i, count = True, 0, 0
                continue
            write = bool(flags & VRING_DESC_F_WRITE)
            if write and not allow_write:
                raise RingError(errno.EPROTO, f"unexpected writable descriptor {i} on a device-read queue")
            if not write:
                if writable:
                    raise RingError(errno.EINVAL, f"readable descriptor {i} after a writable one")
                if not allow_read:
                    raise RingError(errno.EPROTO,
                                    f"unexpected readable descriptor {i} on a device-write queue")
            try:
                pieces = self.data.translate(addr, length, write)
            except TranslationFault as f:
                raise RingError(errno.EFAULT, str(f), f, self.data.asid) from None
            if write:
                writable.append((addr, pieces))
                write_len += length
            else:
                readable.append((addr, pieces))
                read_len += length
            if not flags & VRING_DESC_F_NEXT:
                return Chain(head, readable, writable, read_len, write_len, descriptors)
            i = nxt
            if i >= table_max:
                raise RingError(errno.EINVAL, f"chained index {i} >= table size {table_max}")

    def check_completion(self, used_idx: int) -> None:
        """Fail now if the used element or used.idx could not be written, so that a chain whose
        completion would fault moves no data either (see the module docstring)."""
        slot = used_idx & (self.num - 1)
        elem = self.device_area + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * slot
        idx = self.device_area + VRING_USED_IDX_OFF
        space = self.ring.space
        try:
            # contiguous() answers the common case without building pieces; translate() is
            # the general check (it raises the fault).
            if space.contiguous(elem, VRING_USED_ELEM_SIZE, True) is None:
                self.ring.translate(elem, VRING_USED_ELEM_SIZE, True)
            if space.contiguous(idx, 2, True) is None:
                self.ring.translate(idx, 2, True)
        except TranslationFault as f:
            raise RingError(errno.EFAULT, str(f), f, self.ring.asid) from None

    def complete(self, used_idx: int, head: int, length: int) -> int:
        """Write ``used.ring[used_idx % num] = {head, length}``, then ``used.idx``; return new idx."""
        slot = used_idx & (self.num - 1)
        try:
            self.ring.pack(VRING_USED_ELEM_STRUCT,
                           self.device_area + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * slot,
                           _USED, head, length)
        except TranslationFault as f:
            raise RingError(errno.EFAULT, str(f), f, self.ring.asid) from None
        new = (used_idx + 1) & U16_MASK
        self._ring_put_u16(self.device_area + VRING_USED_IDX_OFF, new)
        return new

    def need_notify(self, old_used: int, new_used: int) -> bool:
        """__vringh_need_notify for completions ``old_used`` .. ``new_used``.

        A notification field that cannot be read (avail.flags, or used_event with EVENT_IDX:
        a translation fault or a bus error) means no notification, and the queue goes on:
        drivers/vhost/vringh.c: __vringh_need_notify returns the error ("Failed to get used
        event idx") and drivers/vdpa/vdpa_sim/vdpa_sim_net.c: vdpasim_net_complete notifies
        only on a positive answer; nothing stops the queue. The chain is complete by then
        (used.idx is written), so there is nothing to undo either. (drivers/vhost/vhost.c:
        vhost_notify also goes on, but notifies.)"""
        try:
            if not self.event_idx:
                flags = self.ring.unpack(_U16, self.driver_area + VRING_AVAIL_FLAGS_OFF,
                                         _AVAIL)[0]
                return not flags & VRING_AVAIL_F_NO_INTERRUPT
            used_event = self.ring.unpack(_U16, self.driver_area + used_event_off(self.num),
                                          _AVAIL)[0]
        except (TranslationFault, BusError):
            return False
        return vring_need_event(used_event, new_used, old_used)

    def publish_avail_event(self, last_avail: int) -> None:
        """Ask for a kick at the next buffer (__vringh_notify_enable with EVENT_IDX)."""
        if self.event_idx:
            self._ring_put_u16(self.device_area + avail_event_off(self.num), last_avail)
