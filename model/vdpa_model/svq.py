# SPDX-License-Identifier: MIT
"""The Shadow VirtQueue: QEMU between the guest's ring and the device's, buffer by buffer.

During a migration QEMU stops letting the device read the guest's rings (it could not see
which pages the device dirties) and gives the device rings of its own: the Shadow VirtQueue
(hw/virtio/vhost-shadow-virtqueue.c). Three pieces, each a class here:

* :class:`GuestRing`: QEMU's view of the guest's split ring (hw/virtio/virtio.c: VirtQueue),
  read and written by QEMU directly in guest memory: ``pop`` an available element (chains and
  indirect tables flattened into segments), ``fill``/``flush`` used entries, ``unpop`` one;
* :class:`ShadowRing`: a split ring in QEMU's own memory that the device reads through its
  IOTLB: the descriptor table and available ring in one page-rounded area, the used ring in
  another (vhost_svq_driver_area_size, vhost_svq_device_area_size), each mapped at an IOVA the
  caller chose;
* :class:`ShadowVirtqueue`: the forwarding. A guest kick pops every new element, translates its
  buffers to IOVAs and adds them to the shadow ring (vhost_handle_guest_kick, vhost_svq_add);
  a device call hands every shadow used entry back to the guest as a used entry of the
  original element (vhost_svq_flush); stop hands back what is used and puts every element
  still in flight back on the guest's ring (vhost_svq_stop: virtqueue_unpop), so the next
  device resubmits it.

QEMU's accesses to guest memory are not device DMA and are not logged; the device's accesses to
the shadow rings are, through its IOTLB, and are checked like any other.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

from .memory import GuestMemory
from .spec import (
    U16_MASK,
    VRING_AVAIL_IDX_OFF,
    VRING_AVAIL_RING_OFF,
    VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    VRING_DESC_SIZE,
    VRING_DESC_STRUCT,
    VRING_USED_ELEM_SIZE,
    VRING_USED_ELEM_STRUCT,
    VRING_USED_F_NO_NOTIFY,
    VRING_USED_FLAGS_OFF,
    VRING_USED_IDX_OFF,
    VRING_USED_RING_OFF,
    avail_event_off,
    avail_ring_size,
    desc_table_size,
    used_ring_size,
    vring_need_event,
)

PAGE = 4096
_U16 = struct.Struct("<H")

#: One buffer segment: (address, length, device-writable).
Segment = tuple[int, int, bool]


class RingFormatError(ValueError):
    """The guest's ring holds something QEMU refuses (virtqueue_pop's virtio_error)."""


def _round_page(n: int) -> int:
    return (n + PAGE - 1) // PAGE * PAGE


@dataclasses.dataclass(slots=True)
class Element:
    """One popped guest buffer (VirtQueueElement): its head and its segments in order."""

    head: int
    segments: list[Segment]


class GuestRing:
    """QEMU's VirtQueue over a guest split ring at ``desc``/``avail``/``used`` (guest-physical)."""

    def __init__(self, mem: GuestMemory, index: int, desc: int, avail: int, used: int,
                 num: int) -> None:
        self.mem = mem
        self.index = index
        self.desc, self.avail, self.used, self.num = desc, avail, used, num
        self.last_avail_idx = 0
        self.used_idx = 0
        self.inuse = 0
        #: used-buffer notifications QEMU sent the guest (svq_call)
        self.notifications = 0

    def sync(self, last_avail_idx: int) -> None:
        """After a device stopped: restart from ``last_avail_idx`` (virtio_queue_set_last_avail_idx)
        and take used.idx from guest memory (virtio_queue_update_used_idx)."""
        self.last_avail_idx = last_avail_idx & U16_MASK
        self.used_idx = self.mem.read_u16(self.used + VRING_USED_IDX_OFF)
        self.inuse = 0

    def avail_idx(self) -> int:
        return self.mem.read_u16(self.avail + VRING_AVAIL_IDX_OFF)

    def pop(self) -> Element | None:
        """virtqueue_pop: the next available element, chains and indirect tables followed."""
        if self.avail_idx() == self.last_avail_idx:
            return None
        slot = self.last_avail_idx & (self.num - 1)
        head = self.mem.read_u16(self.avail + VRING_AVAIL_RING_OFF + 2 * slot)
        if head >= self.num:
            raise RingFormatError(f"vq {self.index}: avail.ring[{slot}] = {head} >= size {self.num}")
        segs: list[Segment] = []
        table, size, i, seen = self.desc, self.num, head, 0
        while True:
            if seen == size:
                raise RingFormatError(f"vq {self.index}: descriptor loop from head {head}")
            seen += 1
            addr, length, flags, nxt = self.mem.unpack(VRING_DESC_STRUCT, table + VRING_DESC_SIZE * i)
            if flags & VRING_DESC_F_INDIRECT:
                if table != self.desc or length % VRING_DESC_SIZE or not length:
                    raise RingFormatError(f"vq {self.index}: bad indirect descriptor {i}")
                table, size, i, seen = addr, length // VRING_DESC_SIZE, 0, 0
                continue
            segs.append((addr, length, bool(flags & VRING_DESC_F_WRITE)))
            if not flags & VRING_DESC_F_NEXT:
                break
            i = nxt
            if i >= size:
                raise RingFormatError(f"vq {self.index}: chained index {i} >= {size}")
        self.last_avail_idx = (self.last_avail_idx + 1) & U16_MASK
        self.inuse += 1
        return Element(head, segs)

    def unpop(self) -> None:
        """virtqueue_unpop: the last popped element goes back to the available ring."""
        self.last_avail_idx = (self.last_avail_idx - 1) & U16_MASK
        self.inuse -= 1

    def fill(self, elem: Element, length: int, offset: int) -> None:
        """virtqueue_fill: the used entry, ``offset`` entries after used_idx (not yet visible)."""
        slot = (self.used_idx + offset) & (self.num - 1)
        self.mem.pack(VRING_USED_ELEM_STRUCT,
                      self.used + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * slot, elem.head, length)

    def flush(self, count: int) -> None:
        """virtqueue_flush: ``count`` filled entries become visible (used.idx after the entries)."""
        if count:
            self.used_idx = (self.used_idx + count) & U16_MASK
            self.mem.write_u16(self.used + VRING_USED_IDX_OFF, self.used_idx)
            self.inuse -= count
            self.notifications += 1


class ShadowRing:
    """A split ring in QEMU memory the device reads: the driver area (descriptors and available
    ring) and the device area (used ring), each page-rounded, at addresses ``alloc`` returns."""

    def __init__(self, mem: GuestMemory, alloc: Callable[[int], int], num: int,
                 event_idx: bool = False) -> None:
        self.mem = mem
        self.num = num
        self.event_idx = event_idx
        self.driver_size = _round_page(desc_table_size(num) + avail_ring_size(num))
        self.device_size = _round_page(used_ring_size(num))
        self.desc_pa = alloc(self.driver_size)
        self.used_pa = alloc(self.device_size)
        mem.write(self.desc_pa, bytes(self.driver_size))
        mem.write(self.used_pa, bytes(self.device_size))
        self.avail_pa = self.desc_pa + desc_table_size(num)
        #: IOVAs the device is given; set once the areas are mapped
        self.desc_iova = 0
        self.used_iova = 0
        self._next = [*range(1, num), 0]
        self._free_head = 0
        self.num_free = num
        self._chain: dict[int, list[int]] = {}
        self.avail_idx = 0
        self._published = 0
        self._kicked_at = 0
        self.last_used = 0

    @property
    def driver_iova(self) -> int:
        return self.desc_iova + desc_table_size(self.num)

    @property
    def in_flight(self) -> list[int]:
        return list(self._chain)

    def add(self, segs: list[Segment]) -> int | None:
        """Write a chain of ``segs`` (device addresses) and make it available; None if there
        are not enough free descriptors (the caller keeps the element for later)."""
        if not segs or len(segs) > self.num_free:
            return None
        slots = []
        i = self._free_head
        for _ in segs:
            slots.append(i)
            i = self._next[i]
        self._free_head = i
        self.num_free -= len(segs)
        for k, (addr, length, write) in enumerate(segs):
            last = k == len(segs) - 1
            flags = (VRING_DESC_F_WRITE if write else 0) | (0 if last else VRING_DESC_F_NEXT)
            self.mem.pack(VRING_DESC_STRUCT, self.desc_pa + VRING_DESC_SIZE * slots[k], addr, length,
                          flags, 0 if last else slots[k + 1])
        head = slots[0]
        self._chain[head] = slots
        slot = self.avail_idx & (self.num - 1)
        self.mem.pack(_U16, self.avail_pa + VRING_AVAIL_RING_OFF + 2 * slot, head)
        self.avail_idx = (self.avail_idx + 1) & U16_MASK
        return head

    def publish(self) -> None:
        """avail.idx after the entries (vhost_svq_add's smp_wmb)."""
        self.mem.write_u16(self.avail_pa + VRING_AVAIL_IDX_OFF, self.avail_idx)
        self._published = self.avail_idx

    def kick_needed(self) -> bool:
        """vhost_svq_kick: the device's NO_NOTIFY flag, or its avail_event with EVENT_IDX."""
        new, old = self._published, self._kicked_at
        self._kicked_at = new
        if new == old:
            return False
        if self.event_idx:
            event = self.mem.read_u16(self.used_pa + avail_event_off(self.num))
            return vring_need_event(event, new, old)
        return not self.mem.read_u16(self.used_pa + VRING_USED_FLAGS_OFF) & VRING_USED_F_NO_NOTIFY

    def take_used(self) -> list[tuple[int, int]]:
        """vhost_svq_get_buf: every new used entry (head, len); their descriptors are freed."""
        used_idx = self.mem.read_u16(self.used_pa + VRING_USED_IDX_OFF)
        out = []
        while self.last_used != used_idx:
            slot = self.last_used & (self.num - 1)
            head, length = self.mem.unpack(
                VRING_USED_ELEM_STRUCT, self.used_pa + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * slot)
            slots = self._chain.pop(head, None)
            if slots is None:
                raise RingFormatError(f"device used id {head}, which is not in flight")
            self._next[slots[-1]] = self._free_head
            self._free_head = slots[0]
            self.num_free += len(slots)
            out.append((head, length))
            self.last_used = (self.last_used + 1) & U16_MASK
        return out


class ShadowVirtqueue:
    """One data VQ forwarded between the guest's ring and a :class:`ShadowRing`.

    ``translate(gpa, length)`` gives the IOVA pieces of a guest buffer (the IOVA tree while
    guest RAM is mapped at translated addresses; the identity with a descriptor-group ASID).
    """

    def __init__(self, guest: GuestRing, ring: ShadowRing,
                 translate: Callable[[int, int], list[tuple[int, int]]]) -> None:
        self.guest = guest
        self.ring = ring
        self.translate = translate
        self._state: dict[int, Element] = {}
        self._next_elem: Element | None = None
        self.forwarded = 0
        self.completed = 0

    @property
    def in_flight(self) -> int:
        return len(self._state) + (self._next_elem is not None)

    def handle_guest_kick(self) -> bool:
        """vhost_handle_guest_kick: move every new guest element to the shadow ring. True when
        the device must be kicked."""
        added = 0
        while True:
            elem = self._next_elem or self.guest.pop()
            self._next_elem = None
            if elem is None:
                break
            segs: list[Segment] = [(iova, n, write) for gpa, length, write in elem.segments
                                   for iova, n in self.translate(gpa, length)]
            head = self.ring.add(segs)
            if head is None:
                self._next_elem = elem  # shadow ring full: retried after the next flush
                break
            self._state[head] = elem
            added += 1
        if not added:
            return False
        self.forwarded += added
        self.ring.publish()
        return self.ring.kick_needed()

    def flush(self) -> int:
        """vhost_svq_flush: every shadow used entry becomes a used entry of its guest element."""
        used = self.ring.take_used()
        for k, (head, length) in enumerate(used):
            self.guest.fill(self._state.pop(head), length, k)
        self.guest.flush(len(used))
        self.completed += len(used)
        return len(used)

    def stop(self) -> int:
        """vhost_svq_stop: flush, then every element still in flight back to the guest's
        available ring (virtqueue_unpop, "ok for networking"); returns how many."""
        self.flush()
        rewound = len(self._state)
        for _ in self._state:
            self.guest.unpop()
        self._state.clear()
        if self._next_elem is not None:
            self.guest.unpop()
            self._next_elem = None
            rewound += 1
        return rewound
