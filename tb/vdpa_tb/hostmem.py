# SPDX-License-Identifier: MIT
"""Guest memory behind the device's AXI4 master, with every DMA logged and checked.

``HostMemoryTarget`` is the ``target`` of a cocotbext-axi ``AxiSlave``: each burst beat the
device issues becomes a read or write of :class:`vdpa_model.memory.GuestMemory`. Each access
is logged and checked against ``allowed(pa, length, write)``, a callback the parent driver
provides from the mappings in force, so a device that reaches outside an allowed mapping fails
the test that caused it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from vdpa_model.dma import AccessKind, AccessLog
from vdpa_model.memory import GuestMemory


@dataclasses.dataclass(frozen=True)
class DmaRecord:
    """One bus access: guest-physical address, length, direction, and whether it was allowed."""

    pa: int
    length: int
    write: bool
    allowed: bool


class HostMemoryTarget:
    """AXI slave target over guest memory that logs and checks every access.

    The device keeps one AXI transaction outstanding and holds its user sideband
    ({kind, asid, vq}) until the transaction's last beat or write response, so sampling the
    sideband while the slave model performs the access names the right VQ, ASID and kind.

    Reads arrive a whole bus word at a time (the AXI slave model reads full words), so a read is
    checked after rounding the allowed ranges out to ``word_bytes``; writes are checked exactly,
    byte strobes already applied.
    """

    def __init__(self, mem: GuestMemory, word_bytes: int,
                 allowed: Callable[[int, int, bool, int], bool] | None = None,
                 sideband: Callable[[bool], tuple[int, int, int]] | None = None) -> None:
        self.mem = mem
        self.word_bytes = word_bytes
        self.allowed = allowed
        # (vq, asid, kind) of the access in progress, from the AXI user sideband
        self.sideband = sideband
        # the model's access log, for checkers that need VQ, ASID and kind per access
        self.access_log: AccessLog | None = None
        self.log: list[DmaRecord] = []
        self.violations: list[DmaRecord] = []
        self.bytes_read = 0
        self.bytes_written = 0
        # [lo, hi) guest-physical ranges that answer with a bus error (SLVERR)
        self.poison: list[tuple[int, int]] = []

    def _check_poison(self, pa: int, length: int) -> None:
        for lo, hi in self.poison:
            if pa < hi and lo < pa + length:
                raise OSError(f"bus error at {pa:#x}")

    def _record(self, pa: int, length: int, write: bool) -> None:
        if self.access_log is not None and self.sideband is not None:
            vq, asid, kind = self.sideband(write)
            self.access_log.append(vq, asid, None, pa, length, write, AccessKind(kind))
        ok = True if self.allowed is None else self.allowed(pa, length, write, self.word_bytes)
        rec = DmaRecord(pa, length, write, ok)
        self.log.append(rec)
        if not ok:
            self.violations.append(rec)

    async def read(self, address: int, length: int) -> bytes:
        self._record(address, length, False)
        self._check_poison(address, length)
        self.bytes_read += length
        return self.mem.read(address, length)

    async def write(self, address: int, data: bytes) -> None:
        self._record(address, len(data), True)
        self._check_poison(address, len(data))
        self.bytes_written += len(data)
        self.mem.write(address, data)

    def take_log(self) -> list[DmaRecord]:
        out, self.log = self.log, []
        return out
