# SPDX-License-Identifier: MIT
"""A guest virtio driver's side of one split virtqueue (virtio 1.2 §2.7), in guest memory.

Enough of a driver to feed the device: it lays out the three areas, writes descriptor chains
(direct or through an indirect table), publishes them in the avail ring and reads completions
back from the used ring. Addresses it hands out are guest-physical; with an IOMMU mapping the
test passes ``iova_of`` to turn them into what the device sees.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from vdpa_model import spec
from vdpa_model.memory import Allocator, GuestMemory


@dataclasses.dataclass(frozen=True)
class Seg:
    """One buffer of a chain: guest address, length, device-writable or not."""

    addr: int
    length: int
    write: bool


class GuestSplitQueue:
    """Driver side of a split ring of ``num`` entries."""

    def __init__(self, mem: GuestMemory, alloc: Allocator, num: int,
                 iova_of: Callable[[int], int] = lambda a: a) -> None:
        self.mem = mem
        self.alloc = alloc
        self.num = num
        self.iova_of = iova_of
        self.desc = alloc.alloc(spec.desc_table_size(num), 16)
        self.avail = alloc.alloc(spec.avail_ring_size(num), 2)
        self.used = alloc.alloc(spec.used_ring_size(num), 4)
        self.avail_idx = 0
        self.last_used = 0
        self.next_free = 0

    @property
    def areas(self) -> tuple[int, int, int]:
        """(desc, driver, device) area addresses as the device sees them."""
        return self.iova_of(self.desc), self.iova_of(self.avail), self.iova_of(self.used)

    def write_desc(self, table: int, i: int, addr: int, length: int, flags: int, nxt: int) -> None:
        self.mem.pack(spec.VRING_DESC_STRUCT, table + 16 * i, addr, length, flags, nxt)

    def add_chain(self, segs: Sequence[Seg], indirect: bool = False) -> int:
        """Write a chain and return its head; not yet visible to the device (see publish)."""
        if indirect:
            table = self.alloc.alloc(16 * len(segs), 16)
            for k, s in enumerate(segs):
                flags = (spec.VRING_DESC_F_WRITE if s.write else 0)
                if k + 1 < len(segs):
                    flags |= spec.VRING_DESC_F_NEXT
                self.write_desc(table, k, self.iova_of(s.addr), s.length, flags, k + 1)
            head = self._take(1)[0]
            self.write_desc(self.desc, head, self.iova_of(table), 16 * len(segs),
                            spec.VRING_DESC_F_INDIRECT, 0)
            return head
        ids = self._take(len(segs))
        for k, s in enumerate(segs):
            flags = (spec.VRING_DESC_F_WRITE if s.write else 0)
            nxt = ids[k + 1] if k + 1 < len(ids) else 0
            if k + 1 < len(segs):
                flags |= spec.VRING_DESC_F_NEXT
            self.write_desc(self.desc, ids[k], self.iova_of(s.addr), s.length, flags, nxt)
        return ids[0]

    def _take(self, n: int) -> list[int]:
        # descriptors are used round-robin; tests never keep more than num in flight
        ids = [(self.next_free + k) % self.num for k in range(n)]
        self.next_free = (self.next_free + n) % self.num
        return ids

    def publish(self, head: int) -> None:
        """Put ``head`` in the avail ring and advance avail.idx (u16 wrap)."""
        slot = self.avail + spec.VRING_AVAIL_RING_OFF + 2 * (self.avail_idx % self.num)
        self.mem.write_u16(slot, head)
        self.avail_idx = (self.avail_idx + 1) & spec.U16_MASK
        self.mem.write_u16(self.avail + spec.VRING_AVAIL_IDX_OFF, self.avail_idx)

    def set_avail_flags(self, flags: int) -> None:
        self.mem.write_u16(self.avail + spec.VRING_AVAIL_FLAGS_OFF, flags)

    def set_used_event(self, value: int) -> None:
        self.mem.write_u16(self.avail + spec.used_event_off(self.num), value & spec.U16_MASK)

    def used_idx(self) -> int:
        return self.mem.read_u16(self.used + spec.VRING_USED_IDX_OFF)

    def pop_used(self) -> list[tuple[int, int]]:
        """New used elements (id, len) since the last call."""
        out = []
        end = self.used_idx()
        while self.last_used != end:
            off = self.used + spec.VRING_USED_RING_OFF + 8 * (self.last_used % self.num)
            out.append(self.mem.unpack(spec.VRING_USED_ELEM_STRUCT, off))
            self.last_used = (self.last_used + 1) & spec.U16_MASK
        return [(int(i), int(n)) for i, n in out]

    def set_start(self, idx: int) -> None:
        """Start both indices at ``idx`` (to test u16 wrap); the device is told the same."""
        self.avail_idx = idx & spec.U16_MASK
        self.last_used = idx & spec.U16_MASK
        self.mem.write_u16(self.avail + spec.VRING_AVAIL_IDX_OFF, self.avail_idx)
        self.mem.write_u16(self.used + spec.VRING_USED_IDX_OFF, self.last_used)
