# SPDX-License-Identifier: MIT
"""Guest memory: the one memory both the reference device and the RTL's DMA port see.

:class:`GuestMemory` holds memory in fixed-size numpy chunks created on first write, so a
128 GiB (or larger) guest costs only what is touched. Reads of never-written bytes return zeros,
as fresh guest RAM does. Accesses that cross chunk boundaries are split here, so callers never
see chunks.

:class:`FlatGuestMemory` is the same API over one flat buffer that something else may own and
write too (the RTL testbench's C++ bus models, through DPI-C): no copies between the two sides,
and a byte per chunk, set by every writer, says which chunks a snapshot must hold.
"""

from __future__ import annotations

import mmap
import struct
import sys
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

GiB = 1 << 30
MiB = 1 << 20
KiB = 1 << 10

# Linux's MAP_NORESERVE (mmap only names it from Python 3.13): no swap is reserved for the guest
# size, so a 128 GiB guest maps on a small machine and costs only the pages it touches
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform == "linux" else 0)

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class GuestMemoryError(ValueError):
    """An access outside the guest's address range or with a bad length."""


class GuestMemory:
    """Guest-physical memory of ``size`` bytes, allocated lazily in ``2**chunk_shift`` chunks.

    Addresses are guest-physical (what an IOTLB translates to). Little-endian helpers exist
    for the ring fields; ``struct``-based access avoids per-byte Python work on the hot path.
    """

    def __init__(self, size: int = 256 * GiB, chunk_shift: int = 16) -> None:
        if size <= 0:
            raise GuestMemoryError(f"guest memory size must be positive, got {size}")
        if not 12 <= chunk_shift <= 30:
            raise GuestMemoryError(f"chunk_shift must be in 12..30, got {chunk_shift}")
        self.size = size
        self._shift = chunk_shift
        self._chunk = 1 << chunk_shift
        self._mask = self._chunk - 1
        self._chunks: dict[int, npt.NDArray[np.uint8]] = {}
        self._views: dict[int, memoryview] = {}

    # -- bookkeeping ----------------------------------------------------------------------
    @property
    def allocated_bytes(self) -> int:
        """Bytes of backing store actually allocated."""
        return len(self._chunks) * self._chunk

    def _check(self, addr: int, length: int) -> None:
        if length < 0:
            raise GuestMemoryError(f"negative length {length} at {addr:#x}")
        if addr < 0 or addr + length > self.size:
            raise GuestMemoryError(
                f"access [{addr:#x}, {addr + length:#x}) outside guest memory [0, {self.size:#x})")

    def _view(self, index: int) -> memoryview:
        view = self._views.get(index)
        if view is None:
            array = np.zeros(self._chunk, dtype=np.uint8)
            self._chunks[index] = array
            view = memoryview(array)  # type: ignore[arg-type]
            self._views[index] = view
        return view

    def _pieces(self, addr: int, length: int) -> Iterator[tuple[int, int, int]]:
        """Yield (chunk index, offset in chunk, length) covering ``[addr, addr + length)``."""
        while length:
            index, off = addr >> self._shift, addr & self._mask
            n = min(length, self._chunk - off)
            yield index, off, n
            addr += n
            length -= n

    # -- bulk access ----------------------------------------------------------------------
    def read(self, addr: int, length: int) -> bytes:
        """Return ``length`` bytes at ``addr`` (zeros where never written)."""
        self._check(addr, length)
        off = addr & self._mask
        if off + length <= self._chunk:
            view = self._views.get(addr >> self._shift)
            return bytes(length) if view is None else bytes(view[off:off + length])
        parts = []
        for index, off, n in self._pieces(addr, length):
            view = self._views.get(index)
            parts.append(bytes(n) if view is None else bytes(view[off:off + n]))
        return b"".join(parts)

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        """Store ``data`` at ``addr``."""
        length = len(data)
        self._check(addr, length)
        off = addr & self._mask
        if off + length <= self._chunk:
            self._view(addr >> self._shift)[off:off + length] = data
            return
        src = memoryview(data)
        pos = 0
        for index, off, n in self._pieces(addr, length):
            self._view(index)[off:off + n] = src[pos:pos + n]
            pos += n

    def fill(self, addr: int, length: int, value: int) -> None:
        """Set ``length`` bytes at ``addr`` to ``value`` (guard patterns, poisoning)."""
        self._check(addr, length)
        for index, off, n in self._pieces(addr, length):
            self._view(index)  # allocates the chunk if needed
            self._chunks[index][off:off + n] = value

    # -- structured access ----------------------------------------------------------------
    def unpack(self, fmt: struct.Struct, addr: int) -> tuple[int, ...]:
        """``fmt.unpack`` of the bytes at ``addr``."""
        off = addr & self._mask
        if addr >= 0 and addr + fmt.size <= self.size and off + fmt.size <= self._chunk:
            view = self._views.get(addr >> self._shift)
            if view is None:
                return fmt.unpack(bytes(fmt.size))
            return fmt.unpack_from(view, off)
        return fmt.unpack(self.read(addr, fmt.size))

    def pack(self, fmt: struct.Struct, addr: int, *values: int) -> None:
        """Write ``fmt.pack(*values)`` at ``addr``."""
        off = addr & self._mask
        if addr >= 0 and addr + fmt.size <= self.size and off + fmt.size <= self._chunk:
            view = self._views.get(addr >> self._shift)  # _view() only to allocate a chunk
            fmt.pack_into(self._view(addr >> self._shift) if view is None else view, off, *values)
            return
        self.write(addr, fmt.pack(*values))

    def read_u16(self, addr: int) -> int:
        return self.unpack(_U16, addr)[0]

    def read_u32(self, addr: int) -> int:
        return self.unpack(_U32, addr)[0]

    def read_u64(self, addr: int) -> int:
        return self.unpack(_U64, addr)[0]

    def write_u16(self, addr: int, value: int) -> None:
        self.pack(_U16, addr, value & 0xFFFF)

    def write_u32(self, addr: int, value: int) -> None:
        self.pack(_U32, addr, value & 0xFFFF_FFFF)

    def write_u64(self, addr: int, value: int) -> None:
        self.pack(_U64, addr, value & 0xFFFF_FFFF_FFFF_FFFF)

    def snapshot(self) -> dict[int, bytes]:
        """Copy of every allocated chunk (for comparing two memories after a run)."""
        return {i << self._shift: a.tobytes() for i, a in self._chunks.items()}


class FlatGuestMemory(GuestMemory):
    """Guest memory in one flat, writable buffer of at least ``size`` bytes, zero where unwritten.

    ``dirty`` has a byte per ``2**chunk_shift`` chunk; every write through this object sets the
    bytes of the chunks it touches, and any other writer of ``buffer`` must do the same (the
    RTL testbench's host library does, vdpa_tb_host.cpp). :meth:`snapshot` then copies only
    those chunks, keyed like :meth:`GuestMemory.snapshot`, so :func:`vdpa_model.lockstep.
    memory_differences` compares the two kinds chunk by chunk. Untouched pages of an anonymous
    mapping cost nothing, so the buffer may be as large as the guest.
    """

    def __init__(self, buffer: memoryview | bytearray | mmap.mmap | npt.NDArray[np.uint8],
                 dirty: memoryview | bytearray | npt.NDArray[np.uint8], size: int,
                 chunk_shift: int = 16) -> None:
        super().__init__(size, chunk_shift)
        self._mem = memoryview(buffer).cast("B")  # type: ignore[arg-type]
        self._dirty = memoryview(dirty).cast("B")  # type: ignore[arg-type]
        if len(self._mem) < size:
            raise GuestMemoryError(f"buffer of {len(self._mem)} bytes is smaller than the "
                                   f"guest size {size:#x}")
        self._nchunks = (size + self._chunk - 1) >> chunk_shift
        if len(self._dirty) < self._nchunks:
            raise GuestMemoryError(f"dirty map of {len(self._dirty)} entries cannot cover "
                                   f"{self._nchunks} chunks")

    @classmethod
    def anonymous(cls, size: int, chunk_shift: int = 16) -> FlatGuestMemory:
        """A private anonymous mapping of ``size`` bytes (pages cost nothing until written)."""
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE)
        return cls(buf, bytearray((size >> chunk_shift) + 1), size, chunk_shift)

    @property
    def allocated_bytes(self) -> int:
        """Bytes of the chunks written so far (what a snapshot holds)."""
        return int(np.count_nonzero(self._dirty_array())) * self._chunk

    def _dirty_array(self) -> npt.NDArray[np.uint8]:
        return np.frombuffer(self._dirty, dtype=np.uint8, count=self._nchunks)

    def _mark(self, addr: int, length: int) -> None:
        first = addr >> self._shift
        last = (addr + length - 1) >> self._shift
        if first == last:
            self._dirty[first] = 1
        else:
            self._dirty[first:last + 1] = b"\x01" * (last + 1 - first)

    def read(self, addr: int, length: int) -> bytes:
        if addr < 0 or length < 0 or addr + length > self.size:
            self._check(addr, length)
        return bytes(self._mem[addr:addr + length])

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        length = len(data)
        if addr < 0 or addr + length > self.size:
            self._check(addr, length)
        if length:
            self._mem[addr:addr + length] = data
            self._mark(addr, length)

    def fill(self, addr: int, length: int, value: int) -> None:
        self._check(addr, length)
        if length:
            np.frombuffer(self._mem, dtype=np.uint8, count=length, offset=addr)[:] = value
            self._mark(addr, length)

    def unpack(self, fmt: struct.Struct, addr: int) -> tuple[int, ...]:
        if addr < 0 or addr + fmt.size > self.size:
            self._check(addr, fmt.size)
        return fmt.unpack_from(self._mem, addr)

    def pack(self, fmt: struct.Struct, addr: int, *values: int) -> None:
        if addr < 0 or addr + fmt.size > self.size:
            self._check(addr, fmt.size)
        fmt.pack_into(self._mem, addr, *values)
        self._dirty[addr >> self._shift] = 1
        self._dirty[(addr + fmt.size - 1) >> self._shift] = 1

    def snapshot(self) -> dict[int, bytes]:
        """Copy of every chunk written so far (by any writer that keeps the dirty map)."""
        out = {}
        for i in np.flatnonzero(self._dirty_array()).tolist():
            base = i << self._shift
            end = min(base + self._chunk, self.size)
            # a last, partial chunk is padded as the sparse memory's chunk would be
            out[base] = bytes(self._mem[base:end]) + bytes(base + self._chunk - end)
        return out


class Allocator:
    """Bump allocator of guest-physical ranges for rings and buffers.

    Allocations are naturally aligned to ``align`` and never reused, which keeps a test's
    layout deterministic and makes any stray device write land somewhere recognisable.
    """

    def __init__(self, base: int, limit: int) -> None:
        if base < 0 or limit <= base:
            raise GuestMemoryError(f"allocator window [{base:#x}, {limit:#x}) is empty")
        self.base = base
        self.limit = limit
        self._next = base

    def alloc(self, size: int, align: int = 16) -> int:
        """Return the address of ``size`` fresh bytes aligned to ``align`` (a power of two)."""
        if size <= 0:
            raise GuestMemoryError(f"allocation size must be positive, got {size}")
        if align <= 0 or align & (align - 1):
            raise GuestMemoryError(f"alignment must be a power of two, got {align}")
        addr = (self._next + align - 1) & ~(align - 1)
        if addr + size > self.limit:
            raise GuestMemoryError(
                f"allocator exhausted: {size} bytes at {addr:#x} exceed limit {self.limit:#x}")
        self._next = addr + size
        return addr
