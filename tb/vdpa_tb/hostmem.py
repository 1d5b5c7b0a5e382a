# SPDX-License-Identifier: MIT
"""Guest memory behind the device's AXI4 master, with every DMA logged and checked.

One target per bus model, both with the same face to tests and checkers (``log``,
``violations``, ``bytes_read``/``bytes_written``, ``poison``, ``access_log``, ``check``):

:class:`HostMemoryTarget`
    The ``target`` of a cocotbext-axi ``AxiSlave``: each beat the slave model serves becomes a
    read or write of :class:`vdpa_model.memory.GuestMemory`, recorded as it happens.
:class:`DpiMemoryTarget`
    The C++ host library serves the beats (tb/hdl/tb_nic_host.sv) in the shared flat guest
    memory and records them; the records wait there and move over in bulk.

Records are judged in bulk when they are drained: at every settle, before the parent's
mappings change (:class:`MappingCheck`), and whenever anybody reads the log. Each is checked
against the mappings the parent driver had in force when it was made, so a device that reaches
outside an allowed mapping fails the test that caused it. A record carries the {kind, ASID, VQ}
user sideband of its burst; an attached :class:`vdpa_model.dma.AccessLog` receives every one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from vdpa_model.dma import AccessKind, AccessLog
from vdpa_model.memory import GuestMemory

from .hostlib import DMA_BUS_ERROR, DMA_RECORD, DMA_WRITE, HostDevice

U64_MAX = (1 << 64) - 1


@dataclasses.dataclass(frozen=True)
class DmaRecord:
    """One bus access: guest-physical address, length, direction, whether it was allowed, and
    the VQ, ASID and kind of its burst; ``bus_error`` if it was answered with SLVERR."""

    pa: int
    length: int
    write: bool
    allowed: bool
    vq: int = 0
    asid: int = 0
    kind: int = 0
    bus_error: bool = False


class DmaLog:
    """Every access a target served, in order, kept as numpy columns (a TX of a 1500-byte
    frame is ~200 beats; objects are built only for the records somebody iterates)."""

    def __init__(self) -> None:
        self._recs: list[np.ndarray] = []
        self._ok: list[np.ndarray] = []
        self._len = 0

    def add(self, recs: np.ndarray, ok: np.ndarray) -> None:
        if len(recs):
            self._recs.append(recs)
            self._ok.append(ok)
            self._len += len(recs)

    def __len__(self) -> int:
        return self._len

    def columns(self) -> tuple[np.ndarray, np.ndarray]:
        """All records (:data:`vdpa_tb.hostlib.DMA_RECORD`) and their allowed flags."""
        if len(self._recs) > 1:
            self._recs = [np.concatenate(self._recs)]
            self._ok = [np.concatenate(self._ok)]
        if not self._recs:
            return np.empty(0, dtype=DMA_RECORD), np.empty(0, dtype=bool)
        return self._recs[0], self._ok[0]

    def __iter__(self) -> Iterator[DmaRecord]:
        recs, ok = self.columns()
        for r, a in zip(recs.tolist(), ok.tolist(), strict=True):
            yield _record(r, a)

    def by_kind(self, start: int = 0) -> dict[tuple[bool, AccessKind], int]:
        """Records from position ``start`` on (``len(log)`` as a bookmark), counted by
        (write, kind); kinds with none are left out. A record is one bus beat of a read, or
        one run of strobed bytes of a written beat."""
        recs = self.columns()[0][start:]
        write = (recs["flags"] & DMA_WRITE) != 0
        counts: dict[tuple[bool, AccessKind], int] = {}
        for w in (False, True):
            kinds, n = np.unique(recs["kind"][write == w], return_counts=True)
            counts.update({(w, AccessKind(int(k))): int(c) for k, c in zip(kinds, n, strict=True)})
        return counts

    def touching(self, lo: int, hi: int, write: bool | None = None) -> int:
        """How many records share a byte with guest-physical ``[lo, hi)`` (only writes or only
        reads if ``write`` says so)."""
        recs, _ = self.columns()
        hit = (recs["pa"] < hi) & (recs["pa"] + recs["len"] > lo)
        if write is not None:
            hit &= ((recs["flags"] & DMA_WRITE) != 0) == write
        return int(np.count_nonzero(hit))


def _record(r: tuple[int, ...], allowed: bool) -> DmaRecord:
    pa, n, vq, asid, kind, flags = r
    return DmaRecord(pa, n, bool(flags & DMA_WRITE), allowed, vq, asid, kind,
                     bool(flags & DMA_BUS_ERROR))


class MappingCheck:
    """The guest-physical ranges the parent driver believes the device may reach, per
    direction, cached between mapping changes.

    ``ranges_of(write)`` gives the ``(lo, hi)`` ranges of every mapping in force with the needed
    permission (RtlParentDriver.allowed_ranges). They are rebuilt only after
    :meth:`invalidate`, which the testbench calls when a command that changes the mappings
    completes, after judging what was logged before it. Reads arrive a whole bus word at a time
    (the bus models read full words), so reads are judged against the ranges rounded out to
    ``word_bytes``; writes are judged exactly, byte strobes already applied.
    """

    def __init__(self, ranges_of: Callable[[bool], Iterable[tuple[int, int]]],
                 word_bytes: int) -> None:
        self.ranges_of = ranges_of
        self.word_bytes = word_bytes
        self._cache: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        self.rebuilds = 0

    def invalidate(self) -> None:
        self._cache.clear()

    def _intervals(self, write: bool) -> tuple[np.ndarray, np.ndarray]:
        """Disjoint sorted ``[first, last]`` byte intervals (inclusive, so 2**64 - 1 fits)."""
        got = self._cache.get(write)
        if got is None:
            self.rebuilds += 1
            w = self.word_bytes
            spans = []
            for lo, hi in self.ranges_of(write):
                if not write:
                    lo, hi = lo & ~(w - 1), (hi + w - 1) & ~(w - 1)
                spans.append((lo, min(hi, U64_MAX + 1) - 1))
            merged: list[list[int]] = []
            for first, last in sorted(spans):
                if merged and first <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], last)
                else:
                    merged.append([first, last])
            got = (np.array([m[0] for m in merged], dtype=np.uint64),
                   np.array([m[1] for m in merged], dtype=np.uint64))
            self._cache[write] = got
        return got

    def allowed(self, recs: np.ndarray) -> np.ndarray:
        """Per record: every byte inside one mapping in force with the needed permission."""
        ok = np.zeros(len(recs), dtype=bool)
        is_write = (recs["flags"] & DMA_WRITE) != 0
        for write in (False, True):
            sel = np.flatnonzero(is_write == write)
            if not len(sel):
                continue
            firsts, lasts = self._intervals(write)
            if not len(firsts):
                continue
            pa = recs["pa"][sel]
            last = pa + recs["len"][sel].astype(np.uint64) - np.uint64(1)
            i = np.searchsorted(firsts, pa, side="right") - 1
            inside = i >= 0
            ok[sel[inside]] = last[inside] <= lasts[i[inside]]
        return ok


class DmaTarget:
    """What both targets share: the log, its bulk judging, the access-log feed."""

    def __init__(self, mem: GuestMemory, word_bytes: int) -> None:
        self._mem = mem
        self.word_bytes = word_bytes
        #: the mappings DMA is judged against; None judges nothing (every access allowed)
        self.check: MappingCheck | None = None
        self.violations: list[DmaRecord] = []
        self._log = DmaLog()
        self._access_log: AccessLog | None = None

    @property
    def mem(self) -> GuestMemory:
        return self._mem

    @property
    def access_log(self) -> AccessLog | None:
        """The model's access log (VQ, ASID, kind per access), for checkers such as the
        contract shadow; it drains this target whenever it is read."""
        return self._access_log

    @access_log.setter
    def access_log(self, log: AccessLog | None) -> None:
        self.drain()
        if self._access_log is not None:
            self._access_log.set_source(None)
        self._access_log = log
        if log is not None:
            log.set_source(self.drain)

    def _take_pending(self) -> np.ndarray:
        raise NotImplementedError

    def drain(self) -> int:
        """Move the records made since the last drain into the log, judged; return how many
        were not allowed."""
        recs = self._take_pending()
        if not len(recs):
            return 0
        ok = np.ones(len(recs), dtype=bool) if self.check is None else self.check.allowed(recs)
        self._log.add(recs, ok)
        if self._access_log is not None:
            self._access_log.extend(
                (vq, asid, None, pa, n, bool(flags & DMA_WRITE), AccessKind(kind))
                for pa, n, vq, asid, kind, flags in recs.tolist())
        bad = np.flatnonzero(~ok)
        self.violations.extend(_record(r, False) for r in recs[bad].tolist())
        return len(bad)

    @property
    def log(self) -> DmaLog:
        """Every access so far (drained first, so nothing made up to now is missing)."""
        self.drain()
        return self._log

    @property
    def bytes_read(self) -> int:
        raise NotImplementedError

    @property
    def bytes_written(self) -> int:
        raise NotImplementedError

    def poison(self, lo: int, hi: int) -> None:
        """Guest-physical ``[lo, hi)`` answers with a bus error (SLVERR) from now on."""
        raise NotImplementedError


class HostMemoryTarget(DmaTarget):
    """AXI slave target of cocotbext-axi over guest memory that logs every access.

    ``sideband(write)`` names the {kind, asid, vq} user sideband of the burst the slave model
    is serving (the bus model keeps it from the burst's address, vdpa_tb.buses), so each
    access is recorded with its own VQ, ASID and kind however many bursts the device has in
    flight.
    """

    def __init__(self, mem: GuestMemory, word_bytes: int,
                 sideband: Callable[[bool], tuple[int, int, int]] | None = None) -> None:
        super().__init__(mem, word_bytes)
        # (vq, asid, kind) of the access in progress, from the AXI user sideband
        self.sideband = sideband
        self._pending: list[tuple[int, int, int, int, int, int]] = []
        self._bytes_read = 0
        self._bytes_written = 0
        self._poison: list[tuple[int, int]] = []

    def poison(self, lo: int, hi: int) -> None:
        self._poison.append((lo, hi))

    @property
    def bytes_read(self) -> int:
        return self._bytes_read

    @property
    def bytes_written(self) -> int:
        return self._bytes_written

    def _record(self, pa: int, length: int, write: bool) -> None:
        vq, asid, kind = self.sideband(write) if self.sideband is not None else (0, 0, 0)
        bad = any(pa < hi and lo < pa + length for lo, hi in self._poison)
        self._pending.append((pa, length, vq, asid, kind,
                              (DMA_WRITE if write else 0) | (DMA_BUS_ERROR if bad else 0)))
        if bad:
            raise OSError(f"bus error at {pa:#x}")

    def _take_pending(self) -> np.ndarray:
        out = np.array(self._pending, dtype=DMA_RECORD)
        self._pending = []
        return out

    async def read(self, address: int, length: int) -> bytes:
        self._record(address, length, False)
        self._bytes_read += length
        return self._mem.read(address, length)

    async def write(self, address: int, data: bytes) -> None:
        self._record(address, len(data), True)
        self._bytes_written += len(data)
        self._mem.write(address, data)


class DpiMemoryTarget(DmaTarget):
    """The C++ host library's AXI4 slave over the shared flat guest memory (one device)."""

    def __init__(self, dev: HostDevice, mem: GuestMemory, word_bytes: int) -> None:
        super().__init__(mem, word_bytes)
        self.dev = dev

    def poison(self, lo: int, hi: int) -> None:
        self.dev.poison(lo, hi)

    @property
    def bytes_read(self) -> int:
        return self.dev.bytes_read

    @property
    def bytes_written(self) -> int:
        return self.dev.bytes_written

    def _take_pending(self) -> np.ndarray:
        return self.dev.take_dma()


def describe(rec: DmaRecord) -> str:
    """A violation as a person reads it."""
    what = "write" if rec.write else "read"
    kinds = {k.value: k.name for k in AccessKind}
    kind = kinds.get(rec.kind, f"kind {rec.kind}")
    return (f"vq {rec.vq} {kind} {what} of {rec.length} bytes at pa {rec.pa:#x} "
            f"(asid {rec.asid})")
