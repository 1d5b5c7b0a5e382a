# SPDX-License-Identifier: MIT
"""Tests of guest memory and the guest-physical allocator (vdpa_model.memory).

Guest RAM as the device sees it through its IOTLB: never-written memory reads as zero (fresh
guest pages), multi-byte ring fields are little-endian (virtio 1.2 §2.7 with VERSION_1), and an
access outside the guest is an error that names the address. Expected byte values are computed
here with ``int.to_bytes``, never through the helpers under test. Every behaviour is checked on
both backends: the sparse chunked memory and the flat buffer the RTL testbench shares with its
C++ bus models.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vdpa_model.lockstep import memory_differences
from vdpa_model.memory import Allocator, FlatGuestMemory, GiB, GuestMemory, GuestMemoryError

PAGE = 4096
CHUNK_SHIFT = 16
CHUNK = 1 << CHUNK_SHIFT

MemFactory = Callable[..., GuestMemory]
BACKENDS: dict[str, MemFactory] = {
    "sparse": GuestMemory,
    "flat": lambda size, chunk_shift=16: FlatGuestMemory.anonymous(size, chunk_shift),
}


@pytest.fixture(params=list(BACKENDS))
def make_mem(request: pytest.FixtureRequest) -> MemFactory:
    """A guest memory of either backend: ``make_mem(size=..., chunk_shift=...)``."""
    return BACKENDS[request.param]


# --- sparseness ----------------------------------------------------------------------------
def test_large_guest_allocates_only_touched_chunks(make_mem: MemFactory) -> None:
    """Design brief 'sparse guest-memory model': a 160 GiB guest that touches three pages far
    apart allocates exactly the three 2**chunk_shift chunks holding them, not the guest size."""
    mem = make_mem(size=160 * GiB, chunk_shift=CHUNK_SHIFT)
    assert mem.allocated_bytes == 0
    for addr in (0, 100 * GiB + 5 * PAGE, 160 * GiB - PAGE):
        mem.write(addr, b"\x5a" * PAGE)
    assert mem.allocated_bytes == 3 * CHUNK
    assert mem.read(100 * GiB + 5 * PAGE, PAGE) == b"\x5a" * PAGE


def test_reads_do_not_allocate(make_mem: MemFactory) -> None:
    """Reading never-written guest RAM must not create backing store (a 128 GiB+ guest is
    scanned by checkers without growing)."""
    mem = make_mem(size=128 * GiB, chunk_shift=CHUNK_SHIFT)
    assert mem.read(64 * GiB, 3 * CHUNK) == bytes(3 * CHUNK)
    assert mem.read_u64(127 * GiB) == 0
    assert mem.allocated_bytes == 0


def test_untouched_memory_reads_zero_next_to_written_bytes(make_mem: MemFactory) -> None:
    """Fresh guest pages are zero: bytes around a write, in the same chunk and in the next,
    read back as 0x00."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    mem.write(0x1800, b"\xff\xfe")
    assert mem.read(0x17FE, 6) == b"\x00\x00\xff\xfe\x00\x00"
    assert mem.read(0x2000, 16) == bytes(16)


# --- chunk boundaries ----------------------------------------------------------------------
def test_write_and_read_across_chunk_boundary(make_mem: MemFactory) -> None:
    """An access spanning two chunks is one contiguous range of guest RAM: the bytes written
    across the boundary read back in order, and both chunks are allocated."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    data = bytes(range(1, 11))
    mem.write(0x1000 - 4, data)
    assert mem.read(0x1000 - 4, 10) == data
    assert mem.read(0x1000, 6) == data[4:]
    assert mem.allocated_bytes == 2 * 0x1000


def test_read_spanning_written_and_unwritten_chunks(make_mem: MemFactory) -> None:
    """A read that starts in a written chunk and runs through never-written ones returns the
    written bytes followed by zeros."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    mem.write(0x0FFE, b"\xaa\xbb")
    assert mem.read(0x0FFE, 2 + 0x2000) == b"\xaa\xbb" + bytes(0x2000)
    assert mem.allocated_bytes == 0x1000


def test_write_spanning_many_chunks(make_mem: MemFactory) -> None:
    """A buffer larger than several chunks lands byte for byte (DMA of a large frame)."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    data = bytes((i * 7) & 0xFF for i in range(3 * 0x1000 + 123))
    mem.write(0x5123, data)
    assert mem.read(0x5123, len(data)) == data


@given(addr=st.integers(0, (1 << 20) - 64), data=st.binary(min_size=0, max_size=64))
def test_any_write_reads_back(addr: int, data: bytes) -> None:
    """Memory is memory: whatever is written at any address, chunk boundary or not, reads back."""
    for make in BACKENDS.values():
        mem = make(size=1 << 20, chunk_shift=12)
        mem.write(addr, data)
        assert mem.read(addr, len(data)) == data


# --- little-endian helpers -----------------------------------------------------------------
@pytest.mark.parametrize("addr", [0x100, 0x1000 - 1, 0x1000 - 3, 0x1000 - 7])
def test_word_helpers_are_little_endian_also_across_chunks(addr: int, make_mem: MemFactory) -> None:
    """virtio 1.2 §2.7 (VERSION_1): ring fields are little-endian; a field that straddles a
    chunk boundary is still one value."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    mem.write_u64(addr, 0x0102_0304_0506_0708)
    assert mem.read(addr, 8) == (0x0102_0304_0506_0708).to_bytes(8, "little")
    assert mem.read_u64(addr) == 0x0102_0304_0506_0708
    mem.write_u32(addr, 0xDEAD_BEEF)
    assert mem.read(addr, 4) == (0xDEAD_BEEF).to_bytes(4, "little")
    assert mem.read_u32(addr) == 0xDEAD_BEEF
    mem.write_u16(addr, 0xCAFE)
    assert mem.read(addr, 2) == b"\xfe\xca"
    assert mem.read_u16(addr) == 0xCAFE


def test_word_writes_truncate_to_field_width(make_mem: MemFactory) -> None:
    """u16 ring indices wrap (virtio 1.2 §2.7.13): writing 0x1_0005 stores 0x0005 and touches
    only two bytes."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    mem.write(0x200, b"\x11" * 4)
    mem.write_u16(0x200, 0x1_0005)
    assert mem.read(0x200, 4) == b"\x05\x00\x11\x11"


@pytest.mark.parametrize("addr", [0x40, 0x1000 - 6])
def test_pack_unpack_struct(addr: int, make_mem: MemFactory) -> None:
    """pack/unpack are struct.pack/unpack at a guest address (a descriptor: addr u64, len u32,
    flags u16, next u16; virtio 1.2 §2.7.5), including across a chunk boundary."""
    desc = struct.Struct("<QIHH")
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    mem.pack(desc, addr, 0x1234_5678_9ABC, 1500, 0x3, 7)
    expected = ((0x1234_5678_9ABC).to_bytes(8, "little") + (1500).to_bytes(4, "little")
                + (3).to_bytes(2, "little") + (7).to_bytes(2, "little"))
    assert mem.read(addr, 16) == expected
    assert mem.unpack(desc, addr) == (0x1234_5678_9ABC, 1500, 3, 7)


def test_unpack_of_untouched_memory_is_zero(make_mem: MemFactory) -> None:
    """A ring field never written by the driver reads as zero (fresh guest pages)."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    assert mem.unpack(struct.Struct("<HH"), 0x3000) == (0, 0)


# --- fill ----------------------------------------------------------------------------------
def test_fill_sets_exactly_the_range(make_mem: MemFactory) -> None:
    """fill() writes ``value`` over [addr, addr + length) only (guard patterns around rings),
    also across a chunk boundary."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    mem.fill(0x0FF0, 0x20, 0xAB)
    assert mem.read(0x0FF0, 0x20) == b"\xab" * 0x20
    assert mem.read(0x0FEF, 1) == b"\x00"
    assert mem.read(0x1010, 1) == b"\x00"


def test_fill_then_write_inside(make_mem: MemFactory) -> None:
    """A write inside a filled region replaces only its own bytes."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    mem.fill(0, 16, 0xEE)
    mem.write(4, b"\x01\x02")
    assert mem.read(0, 8) == b"\xee" * 4 + b"\x01\x02" + b"\xee" * 2


# --- bounds --------------------------------------------------------------------------------
SIZE = 1 << 24


@pytest.mark.parametrize("call", [
    lambda m: m.read(SIZE - 4, 8),
    lambda m: m.write(SIZE - 2, b"abcd"),
    lambda m: m.fill(SIZE - 1, 2, 0),
    lambda m: m.read_u32(SIZE - 2),
    lambda m: m.write_u64(SIZE - 4, 1),
    lambda m: m.unpack(struct.Struct("<I"), SIZE - 1),
    lambda m: m.pack(struct.Struct("<I"), SIZE - 3, 1),
], ids=["read", "write", "fill", "read_u32", "write_u64", "unpack", "pack"])
def test_access_past_end_is_refused_and_names_the_address(call: Callable[[GuestMemory], object],
                                                         make_mem: MemFactory) -> None:
    """An access beyond guest RAM is an error (no silent wrap or clamp) whose message gives the
    guest size in hex, so a failing run says which access was wrong."""
    mem = make_mem(size=SIZE, chunk_shift=12)
    with pytest.raises(GuestMemoryError) as info:
        call(mem)
    assert f"{SIZE:#x}" in str(info.value)
    assert mem.allocated_bytes == 0


def test_access_past_end_message_names_the_start_address(make_mem: MemFactory) -> None:
    """The error names the faulting start address."""
    mem = make_mem(size=SIZE, chunk_shift=12)
    with pytest.raises(GuestMemoryError, match=f"{SIZE - 4:#x}"):
        mem.read(SIZE - 4, 8)


def test_negative_address_is_refused(make_mem: MemFactory) -> None:
    """Guest-physical addresses are unsigned: a negative one is an error, not a Python index
    from the end."""
    mem = make_mem(size=SIZE, chunk_shift=12)
    with pytest.raises(GuestMemoryError, match="-0x10"):
        mem.read(-0x10, 4)
    with pytest.raises(GuestMemoryError):
        mem.write_u16(-2, 1)


def test_negative_length_is_refused(make_mem: MemFactory) -> None:
    """A negative length is a caller bug, reported with the address."""
    mem = make_mem(size=SIZE, chunk_shift=12)
    with pytest.raises(GuestMemoryError, match="0x100"):
        mem.read(0x100, -1)


def test_last_byte_is_accessible(make_mem: MemFactory) -> None:
    """The range is [0, size): the last byte is inside."""
    mem = make_mem(size=SIZE, chunk_shift=12)
    mem.write(SIZE - 1, b"\x7f")
    assert mem.read(SIZE - 1, 1) == b"\x7f"
    assert mem.read(SIZE, 0) == b""


@pytest.mark.parametrize(("size", "shift"), [(0, 16), (-1, 16), (1 << 20, 11), (1 << 20, 31)])
def test_bad_geometry_is_refused(size: int, shift: int) -> None:
    """A guest needs a positive size; chunks are between one 4 KiB page and 1 GiB."""
    with pytest.raises(GuestMemoryError):
        GuestMemory(size=size, chunk_shift=shift)
    with pytest.raises(GuestMemoryError):
        FlatGuestMemory(bytearray(max(size, 0)), bytearray(64), size, shift)


def test_flat_memory_refuses_a_buffer_or_dirty_map_too_small() -> None:
    """The flat backend checks its buffer covers the guest and its dirty map every chunk, and
    says which is short."""
    with pytest.raises(GuestMemoryError, match="smaller than the guest size 0x20000"):
        FlatGuestMemory(bytearray(0x1FFFF), bytearray(2), 0x20000)
    with pytest.raises(GuestMemoryError, match="cannot cover 2 chunks"):
        FlatGuestMemory(bytearray(0x20000), bytearray(1), 0x20000)


def test_flat_snapshot_sees_writes_of_another_writer_that_keeps_the_dirty_map() -> None:
    """The C++ bus models write the buffer directly and set the chunk's dirty byte: a snapshot
    holds that chunk, and a chunk written without its dirty byte is (by contract) not seen."""
    buf, dirty = bytearray(4 * CHUNK), bytearray(4)
    mem = FlatGuestMemory(buf, dirty, 4 * CHUNK)
    buf[2 * CHUNK + 5] = 0x77
    dirty[2] = 1
    buf[3 * CHUNK] = 0x55
    snap = mem.snapshot()
    assert list(snap) == [2 * CHUNK] and snap[2 * CHUNK][5] == 0x77
    assert mem.read(3 * CHUNK, 1) == b"\x55"
    assert mem.allocated_bytes == CHUNK


def test_flat_and_sparse_snapshots_compare_chunk_by_chunk() -> None:
    """The lockstep compares a flat DUT memory with the sparse reference memory: the same writes
    give no difference, one differing byte is named at its address."""
    flat = FlatGuestMemory.anonymous(1 * GiB)
    sparse = GuestMemory(size=1 * GiB)
    for mem in (flat, sparse):
        mem.write(0x10_0000, bytes(range(256)))
        mem.write_u16(0x3F_FFFF, 0xBEEF)
        mem.fill(0x20_0000, 3 * CHUNK, 0x11)
    assert memory_differences(flat, sparse) == []
    flat.write(0x20_0010, b"\x12")
    diff = memory_differences(flat, sparse)
    assert len(diff) == 1 and diff[0].startswith("[0x200010, 0x200010]")


def test_snapshot_holds_written_chunks_by_address(make_mem: MemFactory) -> None:
    """snapshot() maps each allocated chunk's guest address to its bytes (comparing two
    memories after a run)."""
    mem = make_mem(size=1 * GiB, chunk_shift=12)
    mem.write(0x3004, b"\x01")
    snap = mem.snapshot()
    assert list(snap) == [0x3000]
    assert snap[0x3000][4] == 1 and len(snap[0x3000]) == 0x1000


# --- allocator -----------------------------------------------------------------------------
def test_allocator_aligns_each_allocation() -> None:
    """Ring areas need the virtio 1.2 §2.7 alignments (desc 16, avail 2, used 4); page-aligned
    buffers need 4096: each address is a multiple of its alignment."""
    alloc = Allocator(0x1001, 0x100000)
    desc = alloc.alloc(16 * 256, align=16)
    avail = alloc.alloc(6 + 2 * 256, align=2)
    used = alloc.alloc(6 + 8 * 256, align=4)
    page = alloc.alloc(100, align=PAGE)
    assert desc == 0x1010
    assert avail == desc + 16 * 256
    assert used == (avail + 6 + 2 * 256 + 3) & ~3
    assert page % PAGE == 0 and page >= used + 6 + 8 * 256


@given(st.lists(st.tuples(st.integers(1, 5000), st.sampled_from([1, 2, 4, 16, 64, 4096])),
                min_size=1, max_size=30))
def test_allocations_never_overlap(reqs: list[tuple[int, int]]) -> None:
    """Allocations are aligned, inside the window and pairwise disjoint, whatever the order."""
    alloc = Allocator(0x10, 0x10 + (1 << 20))
    got = []
    for size, align in reqs:
        addr = alloc.alloc(size, align)
        assert addr % align == 0 and addr >= 0x10 and addr + size <= 0x10 + (1 << 20)
        got.append((addr, size))
    got.sort()
    for (a, n), (b, _) in itertools.pairwise(got):
        assert a + n <= b


@pytest.mark.parametrize("align", [0, -4, 3, 24])
def test_allocator_refuses_non_power_of_two_alignment(align: int) -> None:
    """Alignment must be a power of two; the error gives the value."""
    with pytest.raises(GuestMemoryError, match=str(align)):
        Allocator(0, 0x1000).alloc(16, align=align)


@pytest.mark.parametrize("size", [0, -1])
def test_allocator_refuses_empty_allocation(size: int) -> None:
    """A zero or negative size is refused, not given an address."""
    with pytest.raises(GuestMemoryError):
        Allocator(0, 0x1000).alloc(size)


def test_allocator_exhaustion_names_the_limit() -> None:
    """When the window is used up the error says which limit was hit; an exact fit still works."""
    alloc = Allocator(0x1000, 0x2000)
    assert alloc.alloc(0x800, align=16) == 0x1000
    assert alloc.alloc(0x800, align=16) == 0x1800
    with pytest.raises(GuestMemoryError, match="0x2000"):
        alloc.alloc(1, align=1)


def test_allocator_alignment_padding_counts_toward_exhaustion() -> None:
    """Padding to the alignment uses the window: 8 bytes left but misaligned for 4096 → refused."""
    alloc = Allocator(0x0, 0x2000)
    alloc.alloc(0x1FF8, align=1)
    with pytest.raises(GuestMemoryError):
        alloc.alloc(8, align=PAGE)


@pytest.mark.parametrize(("base", "limit"), [(0x1000, 0x1000), (0x2000, 0x1000), (-1, 0x1000)])
def test_allocator_refuses_empty_window(base: int, limit: int) -> None:
    """A window with no bytes (or a negative base) is refused at construction."""
    with pytest.raises(GuestMemoryError):
        Allocator(base, limit)
