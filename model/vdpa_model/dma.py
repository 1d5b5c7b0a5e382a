# SPDX-License-Identifier: MIT
"""Device DMA through an address space, with a log of every access for isolation checks.

Every byte the reference device reads or writes goes through a :class:`DmaPort`: it translates
through the ASID bound to the VQ's group (or descriptor group) and records a :class:`DmaAccess`.
:func:`check_access` re-validates one access against a table the *test* keeps independently
(for example vhost-vdpa's own per-AS table), so the check does not trust the device's IOTLB.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from collections.abc import Callable, Iterable, Sequence

from .iotlb import AddressSpace, TranslationFault, perm_allows
from .memory import GuestMemory
from .ops import IotlbRange


class AccessKind(enum.IntEnum):
    """What a DMA touched; rings go through the descriptor group, buffers through the data group."""

    DESC = 0
    AVAIL = 1
    USED = 2
    INDIRECT = 3
    BUFFER = 4

    @property
    def is_ring(self) -> bool:
        """Goes through the descriptor group. Indirect tables live in guest buffer memory and
        go through the data group, like the buffers they describe (docs/model.md)."""
        return self in (AccessKind.DESC, AccessKind.AVAIL, AccessKind.USED)


@dataclasses.dataclass(frozen=True, slots=True)
class DmaAccess:
    """One device memory access after translation: ``length`` bytes at ``pa``.

    ``iova`` is None when only the bus side is visible (an RTL device's AXI master reports the
    VQ, ASID and kind as sideband but not the IOVA it translated).
    """

    vq: int
    asid: int
    iova: int | None
    pa: int
    length: int
    write: bool
    kind: AccessKind


RawAccess = tuple[int, int, int | None, int, int, bool, int]


class AccessLog:
    """Append-only record of device DMA. Stored as tuples; :meth:`entries` builds records.

    A device whose bus side collects accesses elsewhere and hands them over in bulk (the RTL
    testbench's C++ bus models) registers a ``source``: the log calls it before it is read, so
    every reader sees every access made up to that moment, as if each had been appended live.
    """

    def __init__(self) -> None:
        self._raw: list[RawAccess] = []
        self._source: Callable[[], None] | None = None

    def __len__(self) -> int:
        self.sync()
        return len(self._raw)

    def set_source(self, flush: Callable[[], None] | None) -> None:
        """``flush()`` moves pending accesses in with :meth:`extend`; None detaches."""
        self._source = flush

    def sync(self) -> None:
        """Take in what the source holds (nothing to do without one)."""
        if self._source is not None:
            self._source()

    def append(self, vq: int, asid: int, iova: int | None, pa: int, length: int, write: bool,
               kind: AccessKind) -> None:
        self._raw.append((vq, asid, iova, pa, length, write, kind))

    def extend(self, rows: Iterable[RawAccess]) -> None:
        """Append many accesses at once, each ``(vq, asid, iova, pa, length, write, kind)``."""
        self._raw.extend(rows)

    def entries(self, start: int = 0) -> list[DmaAccess]:
        """Accesses from position ``start`` on (use ``len(log)`` as a bookmark)."""
        self.sync()
        return [DmaAccess(vq, asid, iova, pa, n, w, AccessKind(k))
                for vq, asid, iova, pa, n, w, k in self._raw[start:]]

    def clear(self) -> None:
        self.sync()
        self._raw.clear()


class DmaPort:
    """The device's view of memory for one (VQ, ASID): translate, check, log, then access."""

    __slots__ = ("asid", "log", "mem", "space", "vq")

    def __init__(self, mem: GuestMemory, space: AddressSpace, vq: int, log: AccessLog) -> None:
        self.mem = mem
        self.space = space
        self.asid = space.asid
        self.vq = vq
        self.log = log

    def translate(self, iova: int, length: int, write: bool) -> list[tuple[int, int]]:
        """Translate without accessing (raises :class:`TranslationFault`).

        A translation that lands outside guest RAM is a fault too: on an identity-mapped ASID
        nothing else stops the device from addressing past the end of RAM, and on real hardware
        such a DMA is refused by the host bridge/IOMMU, never served. Checking it here, where
        chains are translated whole before any byte moves (:meth:`SplitRing.walk`), keeps the
        "fault before any access" promise for it as for any other translation fault.
        """
        pieces = self.space.translate(iova, length, write)
        size = self.mem.size
        for pa, n in pieces:
            if pa + n > size:
                raise TranslationFault(iova, length, write,
                                       f"pa [{pa:#x}, {pa + n - 1:#x}] is outside guest RAM "
                                       f"({size:#x} bytes)")
        return pieces

    def read(self, iova: int, length: int, kind: AccessKind) -> bytes:
        pieces = self.translate(iova, length, False)
        out = []
        pos = iova
        for pa, n in pieces:
            self.log.append(self.vq, self.asid, pos, pa, n, False, kind)
            out.append(self.mem.read(pa, n))
            pos += n
        return out[0] if len(out) == 1 else b"".join(out)

    def read_translated(self, iova: int, pieces: list[tuple[int, int]], kind: AccessKind) -> bytes:
        """Read already-translated ``pieces`` (a chain validated up front)."""
        log, mem, vq, asid = self.log, self.mem, self.vq, self.asid
        if len(pieces) == 1:
            pa, n = pieces[0]
            log.append(vq, asid, iova, pa, n, False, kind)
            return mem.read(pa, n)
        out = []
        for pa, n in pieces:
            log.append(vq, asid, iova, pa, n, False, kind)
            out.append(mem.read(pa, n))
            iova += n
        return b"".join(out)

    def write(self, iova: int, data: bytes, kind: AccessKind) -> None:
        pieces = self.translate(iova, len(data), True)
        self.write_translated(iova, pieces, data, kind)

    def write_translated(self, iova: int, pieces: list[tuple[int, int]], data: bytes,
                         kind: AccessKind) -> None:
        """Write ``data`` to already-translated ``pieces`` (a chain validated up front)."""
        pos = 0
        for pa, n in pieces:
            self.log.append(self.vq, self.asid, iova + pos, pa, n, True, kind)
            self.mem.write(pa, data[pos:pos + n])
            pos += n

    def unpack(self, fmt: struct.Struct, iova: int, kind: AccessKind) -> tuple[int, ...]:
        space = self.space  # AddressSpace.contiguous inlined: one call less per access
        pa = (space.contiguous(iova, fmt.size, False) if space.passthrough
              else space.table.contiguous(iova, fmt.size, False))
        if pa is not None and pa + fmt.size <= self.mem.size:  # the common case: one mapping
            self.log.append(self.vq, self.asid, iova, pa, fmt.size, False, kind)
            return self.mem.unpack(fmt, pa)
        pieces = self.translate(iova, fmt.size, False)
        if len(pieces) == 1:
            pa = pieces[0][0]
            self.log.append(self.vq, self.asid, iova, pa, fmt.size, False, kind)
            return self.mem.unpack(fmt, pa)
        return fmt.unpack(self.read(iova, fmt.size, kind))

    def pack(self, fmt: struct.Struct, iova: int, kind: AccessKind, *values: int) -> None:
        space = self.space
        pa = (space.contiguous(iova, fmt.size, True) if space.passthrough
              else space.table.contiguous(iova, fmt.size, True))
        if pa is not None and pa + fmt.size <= self.mem.size:
            self.log.append(self.vq, self.asid, iova, pa, fmt.size, True, kind)
            self.mem.pack(fmt, pa, *values)
            return
        pieces = self.translate(iova, fmt.size, True)
        if len(pieces) == 1:
            pa = pieces[0][0]
            self.log.append(self.vq, self.asid, iova, pa, fmt.size, True, kind)
            self.mem.pack(fmt, pa, *values)
            return
        self.write_translated(iova, pieces, fmt.pack(*values), kind)


class BusError(Exception):
    """The host answered a device access with an error response (AXI SLVERR, a PCIe completer
    abort): a platform event, not a translation fault. The device reports EIO on the VQ."""

    def __init__(self, vq: int, pa: int, length: int, write: bool) -> None:
        super().__init__(f"bus error: {'write' if write else 'read'} of {length} bytes at pa "
                         f"{pa:#x} answered with an error")
        self.vq, self.pa, self.length, self.write = vq, pa, length, write


class PoisonedDmaPort(DmaPort):
    """A :class:`DmaPort` over host memory some of which answers with a bus error.

    Each access (each piece of a translated access, in order) is checked before it is made: the
    pieces before a poisoned one are made (and logged), the poisoned one and those after are
    not, as a device that stops at the first error response does. Only devices that were told
    of poisoned ranges use this port, so the plain port keeps its speed.
    """

    __slots__ = ("poison",)

    def __init__(self, mem: GuestMemory, space: AddressSpace, vq: int, log: AccessLog,
                 poison: Sequence[tuple[int, int]]) -> None:
        super().__init__(mem, space, vq, log)
        self.poison = poison

    def _check(self, pa: int, length: int, write: bool) -> None:
        if any(lo < pa + length and pa < hi for lo, hi in self.poison):
            raise BusError(self.vq, pa, length, write)

    def read(self, iova: int, length: int, kind: AccessKind) -> bytes:
        return self.read_translated(iova, self.translate(iova, length, False), kind)

    def read_translated(self, iova: int, pieces: list[tuple[int, int]], kind: AccessKind) -> bytes:
        out = []
        for pa, n in pieces:
            self._check(pa, n, False)
            self.log.append(self.vq, self.asid, iova, pa, n, False, kind)
            out.append(self.mem.read(pa, n))
            iova += n
        return b"".join(out)

    def write_translated(self, iova: int, pieces: list[tuple[int, int]], data: bytes,
                         kind: AccessKind) -> None:
        pos = 0
        for pa, n in pieces:
            self._check(pa, n, True)
            self.log.append(self.vq, self.asid, iova + pos, pa, n, True, kind)
            self.mem.write(pa, data[pos:pos + n])
            pos += n

    def unpack(self, fmt: struct.Struct, iova: int, kind: AccessKind) -> tuple[int, ...]:
        return fmt.unpack(self.read(iova, fmt.size, kind))

    def pack(self, fmt: struct.Struct, iova: int, kind: AccessKind, *values: int) -> None:
        self.write(iova, fmt.pack(*values), kind)


def check_access(access: DmaAccess, expected_asid: int,
                 ranges_of: Callable[[int], list[IotlbRange]]) -> str | None:
    """Why ``access`` breaks isolation, or None if it is allowed.

    ``expected_asid`` is the ASID the VQ's group (rings: descriptor group) was bound to;
    ``ranges_of(asid)`` returns the translations the test believes are in force. The access must
    use that ASID and lie wholly inside one range with the right permission, at the PA that
    range translates its IOVA to. Without an IOVA (a bus beat), every byte must lie inside the
    image of a range with the right permission: one range, or several that meet.
    """
    what = f"vq {access.vq} {access.kind.name} {'write' if access.write else 'read'} of {access.length} bytes"
    if access.asid != expected_asid:
        return f"{what} used asid {access.asid}, its group is bound to asid {expected_asid}"
    last_pa = access.pa + access.length - 1
    for r in ranges_of(access.asid):
        if access.iova is None:
            inside = r.pa <= access.pa and last_pa <= r.pa + r.size - 1
        else:
            inside = r.iova <= access.iova and access.iova + access.length - 1 <= r.last
        if not inside:
            continue
        if not perm_allows(r.perm, access.write):
            return f"{what} at pa {access.pa:#x} needs a permission mapping perm {r.perm:#x} lacks"
        if access.iova is not None and r.pa + (access.iova - r.iova) != access.pa:
            return (f"{what}: iova {access.iova:#x} went to pa {access.pa:#x}, mapping says "
                    f"{r.pa + (access.iova - r.iova):#x}")
        return None
    if access.iova is None and _covered(access.pa, last_pa, [
            (r.pa, r.pa + r.size - 1) for r in ranges_of(access.asid)
            if perm_allows(r.perm, access.write)]):
        # a bus beat across two mappings of the ASID that meet (a ring item split in two,
        # read by whole beats: vringh's copy_from_iotlb makes one iovec per range)
        return None
    where = f"pa {access.pa:#x}" if access.iova is None else f"iova {access.iova:#x}"
    return f"{what} at {where} is outside every mapping of asid {access.asid}"


def _covered(lo: int, hi: int, spans: list[tuple[int, int]]) -> bool:
    """Whether the inclusive spans cover every address of ``[lo, hi]``."""
    for a, b in sorted(spans):
        if a > lo:
            return False
        if b >= lo:
            lo = b + 1
            if lo > hi:
                return True
    return False


__all__ = ["AccessKind", "AccessLog", "BusError", "DmaAccess", "DmaPort", "PoisonedDmaPort",
           "RawAccess", "TranslationFault", "check_access"]
