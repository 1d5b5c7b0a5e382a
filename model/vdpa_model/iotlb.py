# SPDX-License-Identifier: MIT
"""IOVA → guest-physical translation tables with the kernel's semantics.

:class:`Iotlb` is ``struct vhost_iotlb`` (drivers/vhost/iotlb.c): a set of non-overlapping
ranges. :class:`AddressSpace` is one ASID of a parent device: an :class:`Iotlb` plus the
"identity until the first map" default that both parents have (drivers/vdpa/vdpa_sim/vdpa_sim.c:
``iommu_pt``; drivers/vdpa/mlx5/core/mr.c: the ASID 0 DMA MR).
"""

from __future__ import annotations

import bisect
import dataclasses
import errno
from collections.abc import Iterable, Iterator

from .errors import fail
from .ops import IotlbRange
from .spec import VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_WO

U64_MAX = (1 << 64) - 1


@dataclasses.dataclass(frozen=True)
class TranslationFault(Exception):
    """A translation that must not happen: no entry, or an entry without the needed permission."""

    iova: int
    length: int
    write: bool
    reason: str

    def __str__(self) -> str:
        kind = "write" if self.write else "read"
        return f"IOTLB fault: {kind} of {self.length} bytes at iova {self.iova:#x}: {self.reason}"


def perm_allows(perm: int, write: bool) -> bool:
    """Whether VHOST_ACCESS_* ``perm`` allows a device write (or read)."""
    return bool(perm & (VHOST_ACCESS_WO if write else VHOST_ACCESS_RO))


def check_perm(perm: int, op: str) -> None:
    if perm not in (VHOST_ACCESS_RO, VHOST_ACCESS_WO, VHOST_ACCESS_RW):
        raise fail(errno.EINVAL, op, f"permission {perm:#x} is not RO, WO or RW")


class Iotlb:
    """Non-overlapping IOVA ranges, sorted by start (drivers/vhost/iotlb.c)."""

    def __init__(self, ranges: Iterable[IotlbRange] = ()) -> None:
        self._starts: list[int] = []
        self._entries: list[IotlbRange] = []
        for r in ranges:
            self.add_range(r)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[IotlbRange]:
        return iter(list(self._entries))

    def ranges(self) -> list[IotlbRange]:
        return list(self._entries)

    def clear(self) -> None:
        self._starts.clear()
        self._entries.clear()

    def _first_overlap(self, iova: int, last: int) -> int:
        """Index of the first entry that overlaps ``[iova, last]`` or the insertion point."""
        i = bisect.bisect_right(self._starts, iova) - 1
        if i >= 0 and self._entries[i].last >= iova:
            return i
        return i + 1

    def overlapping(self, iova: int, size: int) -> list[IotlbRange]:
        """Entries that share at least one byte with ``[iova, iova + size)``."""
        last = iova + size - 1
        i = self._first_overlap(iova, last)
        out = []
        while i < len(self._entries) and self._entries[i].iova <= last:
            out.append(self._entries[i])
            i += 1
        return out

    def add_range(self, r: IotlbRange, op: str = "iotlb_add_range") -> None:
        """Insert ``r``; an overlap is refused with EEXIST (drivers/vhost/vdpa.c:
        vhost_vdpa_process_iotlb_update → vhost_iotlb_itree_first)."""
        if r.size <= 0:
            raise fail(errno.EINVAL, op, f"size {r.size} of range at iova {r.iova:#x} is not positive")
        if r.iova < 0 or r.last > U64_MAX or r.pa < 0 or r.pa + r.size - 1 > U64_MAX:
            raise fail(errno.EINVAL, op, f"range iova {r.iova:#x} size {r.size:#x} wraps 64 bits")
        check_perm(r.perm, op)
        i = self._first_overlap(r.iova, r.last)
        if i < len(self._entries) and self._entries[i].iova <= r.last:
            other = self._entries[i]
            raise fail(errno.EEXIST, op,
                       f"[{r.iova:#x}, {r.last:#x}] overlaps mapped [{other.iova:#x}, {other.last:#x}]")
        self._starts.insert(i, r.iova)
        self._entries.insert(i, r)

    def del_range(self, iova: int, size: int) -> list[IotlbRange]:
        """Remove every entry overlapping ``[iova, iova + size)`` *whole*, including bytes outside
        the range, and return them (drivers/vhost/vdpa.c: vhost_vdpa_pa_unmap; §6 item 7)."""
        last = iova + size - 1
        i = self._first_overlap(iova, last)
        j = i
        while j < len(self._entries) and self._entries[j].iova <= last:
            j += 1
        removed = self._entries[i:j]
        del self._entries[i:j]
        del self._starts[i:j]
        return removed

    def lookup(self, iova: int) -> IotlbRange | None:
        """The entry containing ``iova``, if any."""
        i = bisect.bisect_right(self._starts, iova) - 1
        if i >= 0:
            e = self._entries[i]
            if e.last >= iova:
                return e
        return None

    def contiguous(self, iova: int, length: int, write: bool) -> int | None:
        """The PA of ``[iova, iova + length)`` when one entry holds all of it with the needed
        permission, else None (then :meth:`translate` splits it or says why it faults)."""
        i = bisect.bisect_right(self._starts, iova) - 1
        if i >= 0 and length > 0:
            e = self._entries[i]
            off = iova - e.iova
            if off + length <= e.size and e.perm & (VHOST_ACCESS_WO if write else VHOST_ACCESS_RO):
                return e.pa + off
        return None

    def translate(self, iova: int, length: int, write: bool) -> list[tuple[int, int]]:
        """Split ``[iova, iova + length)`` at entry boundaries into (pa, length) pieces.

        Raises :class:`TranslationFault` if any byte is unmapped or lacks the permission
        (drivers/vhost/vringh.c: iotlb_translate returns -EINVAL on a miss, -EPERM on perms;
        both are device faults here). ``length`` 0 translates to nothing.
        """
        if length < 0 or iova < 0 or iova + length - 1 > U64_MAX:
            raise TranslationFault(iova, length, write, "address range wraps 64 bits")
        # Fast path (same result as the loop below): the whole range inside one entry that has
        # the permission. Anything else, faults included, takes the general loop.
        pa = self.contiguous(iova, length, write)
        if pa is not None:
            return [(pa, length)]
        out: list[tuple[int, int]] = []
        pos, remaining = iova, length
        while remaining:
            e = self.lookup(pos)
            if e is None:
                raise TranslationFault(iova, length, write, f"no mapping for iova {pos:#x}")
            if not perm_allows(e.perm, write):
                raise TranslationFault(iova, length, write,
                                       f"mapping [{e.iova:#x}, {e.last:#x}] has perm {e.perm:#x}")
            n = min(remaining, e.last - pos + 1)
            pa = e.pa + (pos - e.iova)
            if out and out[-1][0] + out[-1][1] == pa:
                out[-1] = (out[-1][0], out[-1][1] + n)
            else:
                out.append((pa, n))
            pos += n
            remaining -= n
        return out


class AddressSpace:
    """One ASID of a parent: identity (passthrough) until the first map, then a table.

    drivers/vdpa/vdpa_sim/vdpa_sim.c: vdpasim_create sets every AS to one RW range
    [0, ULONG_MAX] with ``iommu_pt``; the first set_map/dma_map/dma_unmap drops it
    (vdpasim_set_map, vdpasim_dma_map; vdpa-semantics.md §6 item 12). ``reset_map`` restores it
    (vdpasim_reset_map).
    """

    def __init__(self, asid: int, identity: bool = True) -> None:
        self.asid = asid
        self.default_identity = identity
        self.passthrough = identity
        self.table = Iotlb()

    def leave_passthrough(self) -> None:
        """The first explicit map operation on this AS replaces the default identity mapping."""
        if self.passthrough:
            self.passthrough = False
            self.table.clear()

    def restore_default(self) -> None:
        """reset_map / compat_reset(CLEAN_MAP): back to the parent's default mapping."""
        self.table.clear()
        self.passthrough = self.default_identity

    def contiguous(self, iova: int, length: int, write: bool) -> int | None:
        """PA of the whole range in one piece, or None (see :meth:`Iotlb.contiguous`)."""
        if self.passthrough:
            return iova if length > 0 and iova >= 0 and iova + length - 1 <= U64_MAX else None
        return self.table.contiguous(iova, length, write)

    def translate(self, iova: int, length: int, write: bool) -> list[tuple[int, int]]:
        if self.passthrough:
            if iova < 0 or iova + length - 1 > U64_MAX:
                raise TranslationFault(iova, length, write, "address range wraps 64 bits")
            return [(iova, length)] if length else []
        return self.table.translate(iova, length, write)

    def ranges(self) -> list[IotlbRange]:
        """The translations in force (a single RW identity range while in passthrough)."""
        if self.passthrough:
            return [IotlbRange(0, U64_MAX + 1, 0, VHOST_ACCESS_RW)]
        return self.table.ranges()
