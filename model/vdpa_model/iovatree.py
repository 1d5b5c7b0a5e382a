# SPDX-License-Identifier: MIT
"""QEMU's IOVA allocator for vhost-vdpa: where the Shadow VirtQueue puts what it maps.

hw/virtio/vhost-iova-tree.c over util/iova-tree.c: every buffer QEMU maps for the device on
its own (shadow rings, control-queue buffers, and guest RAM sections while the data queues are
shadowed) gets an IOVA from one tree per device, shared by all its vhost_devs, allocated first
fit inside the device's IOVA range (iova_tree_alloc_map). The tree also answers the Shadow
VirtQueue's translation of a guest buffer to the IOVA the device must use
(vhost_svq_translate_addr → vhost_iova_tree_find_iova).

Addresses here are the ones the model's memory uses: ``addr`` is the guest-physical address of
guest RAM, or of QEMU's own allocations placed above guest RAM.
"""

from __future__ import annotations

import bisect
import dataclasses


class IovaTreeError(ValueError):
    """No room, an overlap, or an address the tree does not map."""


@dataclasses.dataclass(frozen=True, slots=True)
class IovaMap:
    """``[iova, iova + size)`` holds ``[addr, addr + size)``."""

    iova: int
    size: int
    addr: int

    @property
    def end(self) -> int:
        return self.iova + self.size


class IovaTree:
    """Non-overlapping IOVA maps inside ``[first, last]``, allocated first fit."""

    def __init__(self, first: int, last: int, align: int = 4096) -> None:
        if last <= first:
            raise IovaTreeError(f"empty IOVA range [{first:#x}, {last:#x}]")
        self.first = first
        self.last = last
        self.align = align
        self._maps: list[IovaMap] = []      # sorted by iova
        self._by_addr: list[IovaMap] = []   # sorted by addr

    def __len__(self) -> int:
        return len(self._maps)

    def maps(self) -> list[IovaMap]:
        return list(self._maps)

    def _insert(self, m: IovaMap) -> None:
        i = bisect.bisect_left([x.iova for x in self._maps], m.iova)
        if (i < len(self._maps) and self._maps[i].iova < m.end) or (i and self._maps[i - 1].end > m.iova):
            raise IovaTreeError(f"[{m.iova:#x}, {m.end:#x}) overlaps a mapped IOVA range")
        self._maps.insert(i, m)
        j = bisect.bisect_left([x.addr for x in self._by_addr], m.addr)
        self._by_addr.insert(j, m)

    def insert(self, iova: int, size: int, addr: int) -> IovaMap:
        """Record a map QEMU placed itself (guest RAM at its guest-physical address)."""
        m = IovaMap(iova, size, addr)
        self._insert(m)
        return m

    def alloc(self, size: int, addr: int) -> IovaMap:
        """iova_tree_alloc_map: the lowest aligned hole of ``size`` bytes (first fit)."""
        if size <= 0:
            raise IovaTreeError(f"cannot map {size} bytes")
        a = self.align
        pos = (self.first + a - 1) // a * a
        for m in self._maps:
            if pos + size <= m.iova:
                break
            pos = max(pos, (m.end + a - 1) // a * a)
        if pos + size - 1 > self.last:
            raise IovaTreeError(f"no IOVA hole of {size:#x} bytes in [{self.first:#x}, {self.last:#x}]")
        m = IovaMap(pos, size, addr)
        self._insert(m)
        return m

    def remove(self, iova: int) -> IovaMap:
        """vhost_iova_tree_remove of the map starting at ``iova``."""
        for i, m in enumerate(self._maps):
            if m.iova == iova:
                del self._maps[i]
                self._by_addr.remove(m)
                return m
        raise IovaTreeError(f"no map starts at IOVA {iova:#x}")

    def translate(self, addr: int, length: int) -> list[tuple[int, int]]:
        """``[addr, addr + length)`` as (iova, length) pieces, split where maps end
        (vhost_svq_translate_addr); an address no map holds is an error."""
        out: list[tuple[int, int]] = []
        keys = [m.addr for m in self._by_addr]
        pos, left = addr, length
        while left:
            i = bisect.bisect_right(keys, pos) - 1
            m = self._by_addr[i] if i >= 0 else None
            if m is None or pos >= m.addr + m.size:
                raise IovaTreeError(f"address {pos:#x} is not mapped for the device")
            n = min(left, m.addr + m.size - pos)
            out.append((m.iova + pos - m.addr, n))
            pos += n
            left -= n
        return out
