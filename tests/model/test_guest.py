# SPDX-License-Identifier: MIT
"""Tests of the guest split-ring and virtio-net driver model (vdpa_model.guest).

The test plays the device: it finds ring fields with the virtio 1.2 §2.7 offsets written out
again here (never through the implementation's helpers), walks chains itself and writes used
entries straight into guest memory.
"""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vdpa_model.guest import (
    BadCompletionError,
    GuestNetDriver,
    GuestVirtqueue,
    QueueBrokenError,
    QueueFullError,
    RawDesc,
    RxFrameError,
)
from vdpa_model.memory import Allocator, GuestMemory

# --- the spec, restated (virtio 1.2 §2.7.5, §2.7.6, §2.7.8; virtio_ring.h) -------------------
DESC = struct.Struct("<QIHH")       # addr, len, flags, next
USED_ELEM = struct.Struct("<II")    # id, len
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
AVAIL_F_NO_INTERRUPT = 1
USED_F_NO_NOTIFY = 1
FEAT_INDIRECT, FEAT_EVENT_IDX, FEAT_VERSION_1, FEAT_MRG_RXBUF = 28, 29, 32, 15

IOVA_OFFSET = 0x7_0000_0000        # a non-identity translation, so GPA and IOVA differ


def desc_size(n: int) -> int:
    return 16 * n


def avail_size(n: int) -> int:
    return 2 + 2 + 2 * n + 2        # flags, idx, ring[n], used_event


def used_size(n: int) -> int:
    return 2 + 2 + 8 * n + 2        # flags, idx, ring[n], avail_event


def to_iova(gpa: int) -> int:
    return gpa + IOVA_OFFSET


def to_gpa(iova: int) -> int:
    return iova - IOVA_OFFSET


def u16(mem: GuestMemory, addr: int) -> int:
    return int.from_bytes(mem.read(addr, 2), "little")


def put_u16(mem: GuestMemory, addr: int, value: int) -> None:
    mem.write(addr, (value & 0xFFFF).to_bytes(2, "little"))


def desc(mem: GuestMemory, vq: GuestVirtqueue, i: int) -> tuple[int, int, int, int]:
    return DESC.unpack(mem.read(vq.desc_gpa + 16 * i, 16))


def avail_entry(mem: GuestMemory, vq: GuestVirtqueue, slot: int) -> int:
    return u16(mem, vq.avail_gpa + 4 + 2 * slot)


def avail_idx_mem(mem: GuestMemory, vq: GuestVirtqueue) -> int:
    return u16(mem, vq.avail_gpa + 2)


def used_event_mem(mem: GuestMemory, vq: GuestVirtqueue) -> int:
    return u16(mem, vq.avail_gpa + 4 + 2 * vq.num)


def set_avail_event(mem: GuestMemory, vq: GuestVirtqueue, value: int) -> None:
    put_u16(mem, vq.used_gpa + 4 + 8 * vq.num, value)


class Device:
    """The test as device: reads avail, walks chains and writes used entries by hand."""

    def __init__(self, mem: GuestMemory, vq: GuestVirtqueue, start: int = 0) -> None:
        self.mem, self.vq = mem, vq
        self.last_avail = start
        self.used = start

    def take_heads(self) -> list[int]:
        idx = avail_idx_mem(self.mem, self.vq)
        heads = []
        while self.last_avail != idx:
            heads.append(avail_entry(self.mem, self.vq, self.last_avail % self.vq.num))
            self.last_avail = (self.last_avail + 1) & 0xFFFF
        return heads

    def walk(self, head: int) -> list[tuple[int, int, bool]]:
        """(gpa, len, writable) of each buffer segment of the chain at ``head``."""
        out: list[tuple[int, int, bool]] = []
        addr, length, flags, nxt = desc(self.mem, self.vq, head)
        if flags & F_INDIRECT:
            table = to_gpa(addr)
            for k in range(length // 16):
                a, n, f, _ = DESC.unpack(self.mem.read(table + 16 * k, 16))
                out.append((to_gpa(a), n, bool(f & F_WRITE)))
            return out
        while True:
            out.append((to_gpa(addr), length, bool(flags & F_WRITE)))
            if not flags & F_NEXT:
                return out
            addr, length, flags, nxt2 = desc(self.mem, self.vq, nxt)
            nxt = nxt2

    def complete(self, entries: list[tuple[int, int]]) -> None:
        """Write used.ring entries then used.idx (u16 wrap)."""
        for head, length in entries:
            slot = self.used % self.vq.num
            self.mem.write(self.vq.used_gpa + 4 + 8 * slot, USED_ELEM.pack(head, length))
            self.used = (self.used + 1) & 0xFFFF
        put_u16(self.mem, self.vq.used_gpa + 2, self.used)

    def fill(self, head: int, data: bytes) -> int:
        """Write ``data`` into the writable segments of ``head``; return bytes written."""
        pos = 0
        for gpa, n, w in self.walk(head):
            if w and pos < len(data):
                part = data[pos:pos + n]
                self.mem.write(gpa, part)
                pos += len(part)
        return pos


@pytest.fixture
def mem() -> GuestMemory:
    return GuestMemory(size=1 << 40)


@pytest.fixture
def alloc() -> Allocator:
    return Allocator(0x10_0000, 1 << 39)


def make_vq(mem: GuestMemory, alloc: Allocator, num: int = 8, **kw: object) -> GuestVirtqueue:
    return GuestVirtqueue(mem, alloc, 3, num, iova_of=to_iova, **kw)  # type: ignore[arg-type]


# --- layout -----------------------------------------------------------------------------------

@pytest.mark.parametrize("num", [1, 2, 256, 32768])
def test_layout_alignment_sizes_and_iovas(mem: GuestMemory, alloc: Allocator, num: int) -> None:
    mem.fill(0x10_0000, 1 << 20, 0xAA)  # dirty memory: the driver must zero its areas
    vq = make_vq(mem, alloc, num)
    assert vq.desc_gpa % 16 == 0 and vq.avail_gpa % 2 == 0 and vq.used_gpa % 4 == 0
    areas = sorted([(vq.desc_gpa, desc_size(num)), (vq.avail_gpa, avail_size(num)),
                    (vq.used_gpa, used_size(num))])
    for (a, n), (b, _) in itertools.pairwise(areas):
        assert a + n <= b, "ring areas overlap"
    for a, n in areas:
        assert mem.read(a, n) == bytes(n)
    assert (vq.desc_area, vq.driver_area, vq.device_area) == (
        vq.desc_gpa + IOVA_OFFSET, vq.avail_gpa + IOVA_OFFSET, vq.used_gpa + IOVA_OFFSET)


def test_ring_iova_of_is_separate_from_buffer_iova(mem: GuestMemory, alloc: Allocator) -> None:
    """Ring areas use ring_iova_of; indirect tables sit in buffer memory and use iova_of, as the
    descriptor group covers only the table and the driver/device areas (include/linux/vdpa.h:
    get_vq_desc_group)."""
    vq = GuestVirtqueue(mem, alloc, 0, 4, iova_of=to_iova, ring_iova_of=lambda g: g + 0x100)
    assert vq.desc_area == vq.desc_gpa + 0x100
    vq.add_buffer([b"x"], [], indirect=True)
    table_iova = desc(mem, vq, 0)[0]
    (buf_iova, *_rest) = DESC.unpack(mem.read(to_gpa(table_iova), 16))
    assert mem.read(to_gpa(buf_iova), 1) == b"x"


@pytest.mark.parametrize("num", [0, 3, 65536, -4])
def test_rejects_bad_queue_size(mem: GuestMemory, alloc: Allocator, num: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        GuestVirtqueue(mem, alloc, 0, num)


def test_start_idx_initialises_both_indices(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 4, start_idx=0xFFFE, event_idx=True)
    assert avail_idx_mem(mem, vq) == 0xFFFE and u16(mem, vq.used_gpa + 2) == 0xFFFE
    assert used_event_mem(mem, vq) == 0xFFFE
    assert vq.avail_idx == vq.last_used_idx == 0xFFFE
    head = vq.add_buffer([b"a"], [])
    assert avail_entry(mem, vq, 0xFFFE % 4) == head


# --- adding buffers ---------------------------------------------------------------------------

def test_chain_layout_readable_then_writable(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    head = vq.add_buffer([b"abc", b"defgh"], [100, 7], token="t")
    assert head == 0
    d = [desc(mem, vq, i) for i in range(4)]
    assert [x[1] for x in d] == [3, 5, 100, 7]
    assert [x[2] for x in d] == [F_NEXT, F_NEXT, F_NEXT | F_WRITE, F_WRITE]
    assert [x[3] for x in d[:3]] == [1, 2, 3]
    assert d[3][3] == 4  # Linux leaves the free-list link in a last descriptor's next
    assert mem.read(to_gpa(d[0][0]), 3) == b"abc"
    assert mem.read(to_gpa(d[1][0]), 5) == b"defgh"
    assert avail_entry(mem, vq, 0) == head
    assert avail_idx_mem(mem, vq) == 0, "add must not publish"
    assert vq.pending_publish == 1
    assert vq.publish() == 1
    assert avail_idx_mem(mem, vq) == 1 and vq.published_avail_idx == 1
    assert vq.num_free == 4 and vq.num_outstanding == 1


def test_segments_do_not_overlap_outstanding_buffers(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 16)
    dev = Device(mem, vq)
    heads = [vq.add_buffer([b"q" * 70], [200, 1]) for _ in range(5)]
    segs = sorted((g, n) for h in heads for g, n, _ in dev.walk(h))
    assert len(segs) == 15
    for (a, n), (b, _) in itertools.pairwise(segs):
        assert a + n <= b
    assert dev.take_heads() == []  # nothing published yet


def test_add_rejects_empty_and_full(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 4)
    with pytest.raises(ValueError):
        vq.add_buffer([], [])
    with pytest.raises(ValueError):
        vq.add_buffer([b""], [])
    vq.add_buffer([b"a", b"b", b"c"], [])
    with pytest.raises(QueueFullError):
        vq.add_buffer([b"a"], [1])
    vq.add_buffer([b"a", b"b"], [4], indirect=True)  # one slot is enough for an indirect chain
    assert vq.num_free == 0


def test_indirect_table_contents(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    head = vq.add_buffer([b"hdr", b"payload"], [64, 16], indirect=True)
    addr, length, flags, _ = desc(mem, vq, head)
    assert flags == F_INDIRECT and length == 4 * 16 and to_gpa(addr) % 16 == 0
    table = [DESC.unpack(mem.read(to_gpa(addr) + 16 * k, 16)) for k in range(4)]
    assert [t[1] for t in table] == [3, 7, 64, 16]
    assert [t[2] for t in table] == [F_NEXT, F_NEXT, F_NEXT | F_WRITE, F_WRITE]
    assert [t[3] for t in table] == [1, 2, 3, 4]  # alloc_indirect_split: next = i + 1
    assert mem.read(to_gpa(table[0][0]), 3) == b"hdr"
    assert mem.read(to_gpa(table[1][0]), 7) == b"payload"
    assert vq.num_free == 7


# --- u16 wrap ---------------------------------------------------------------------------------

def test_avail_and_used_idx_wrap_after_65536_posts(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 4)
    dev = Device(mem, vq)
    total = 65536 + 4 * 37
    seen_wrap = False
    for i in range(0, total, 4):
        heads = [vq.add_buffer([bytes([i & 0xFF])], [], token=i + k) for k in range(4)]
        vq.publish()
        assert avail_idx_mem(mem, vq) == (i + 4) & 0xFFFF
        assert dev.take_heads() == heads
        dev.complete([(h, 0) for h in heads])
        done = vq.reap()
        assert [c.token for c in done] == [i + k for k in range(4)]
        assert vq.last_used_idx == (i + 4) & 0xFFFF
        seen_wrap |= vq.avail_idx < 4
    assert seen_wrap
    assert vq.avail_idx == total & 0xFFFF and vq.num_free == 4


# --- reaping ----------------------------------------------------------------------------------

def test_reap_hand_written_used_ring(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8, poison=0xEE)
    dev = Device(mem, vq)
    h0 = vq.add_buffer([], [8, 8], token="a")
    h1 = vq.add_buffer([b"req"], [4], token="b")
    h2 = vq.add_buffer([], [32], token="c")
    h3 = vq.add_buffer([b"tx"], [], token="d")
    h4 = vq.add_buffer([], [4, 4], token="e")
    vq.publish()
    assert dev.take_heads() == [h0, h1, h2, h3, h4]
    assert dev.fill(h0, bytes(range(16))) == 16
    dev.fill(h1, b"WXYZ")
    dev.fill(h2, b"0123456789")
    dev.fill(h4, b"ABCDEFGH")
    # out of order; len spanning two segments; zero; truncated; one byte into the second
    dev.complete([(h2, 10), (h0, 12), (h3, 0), (h1, 2), (h4, 5)])
    done = vq.reap()
    assert [(c.head, c.token, c.len) for c in done] == [
        (h2, "c", 10), (h0, "a", 12), (h3, "d", 0), (h1, "b", 2), (h4, "e", 5)]
    assert [c.data for c in done] == [b"0123456789", bytes(range(12)), b"", b"WX", b"ABCDE"]
    assert vq.reap() == [] and vq.num_free == 8 and vq.num_outstanding == 0


def test_reap_shows_bytes_the_device_did_not_write(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 2, poison=0xEE)
    dev = Device(mem, vq)
    h = vq.add_buffer([], [8])
    vq.publish()
    dev.fill(h, b"ab")
    dev.complete([(h, 4)])
    assert vq.reap()[0].data == b"ab\xee\xee"


def test_reap_limit_and_wrap_of_used_ring(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 4, start_idx=0xFFFE)
    dev = Device(mem, vq, start=0xFFFE)
    heads = [vq.add_buffer([b"x"], [], token=k) for k in range(4)]
    vq.publish()
    dev.complete([(h, 0) for h in reversed(heads)])
    assert [c.token for c in vq.reap(limit=3)] == [3, 2, 1]
    assert vq.last_used_idx == 1
    assert [c.token for c in vq.reap()] == [0]
    assert vq.last_used_idx == 2


@pytest.mark.parametrize("same_batch", [True, False])
def test_double_completion_names_the_head(mem: GuestMemory, alloc: Allocator,
                                          same_batch: bool) -> None:
    vq = make_vq(mem, alloc, 8)
    dev = Device(mem, vq)
    h0 = vq.add_buffer([b"a"], [])
    h1 = vq.add_buffer([b"b"], [])
    vq.publish()
    if same_batch:
        dev.complete([(h1, 0), (h1, 0)])
    else:
        dev.complete([(h1, 0)])
        assert [c.head for c in vq.reap()] == [h1]
        dev.complete([(h1, 0)])
    with pytest.raises(BadCompletionError, match=f"head\\) {h1}: .*not an outstanding") as ei:
        vq.reap()
    assert ei.value.head == h1 and ei.value.vq == 3
    assert [c.head for c in ei.value.completed] == ([h1] if same_batch else [])
    assert vq.broken
    with pytest.raises(QueueBrokenError):
        vq.reap()
    with pytest.raises(QueueBrokenError):
        vq.add_buffer([b"c"], [])
    assert h0 in vq.outstanding_heads


def test_completion_of_out_of_range_id(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    vq.add_buffer([b"a"], [])
    vq.publish()
    Device(mem, vq).complete([(9, 0)])
    with pytest.raises(BadCompletionError, match="out of range") as ei:
        vq.reap()
    assert ei.value.head == 9


def test_completion_len_larger_than_writable_space(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    dev = Device(mem, vq)
    rx = vq.add_buffer([b"hdr"], [10, 6])
    tx = vq.add_buffer([b"frame"], [])
    vq.publish()
    dev.complete([(rx, 16), (tx, 1)])
    with pytest.raises(BadCompletionError, match="len 1 exceeds the 0 writable") as ei:
        vq.reap()
    assert ei.value.head == tx and [c.len for c in ei.value.completed] == [16]
    vq2 = make_vq(mem, alloc, 8)
    h = vq2.add_buffer([], [10, 6])
    vq2.publish()
    Device(mem, vq2).complete([(h, 17)])
    with pytest.raises(BadCompletionError, match="len 17 exceeds the 16"):
        vq2.reap()


def test_used_idx_running_ahead_of_the_ring(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 4)
    put_u16(mem, vq.used_gpa + 2, 5)
    with pytest.raises(BadCompletionError, match="more than the queue size") as ei:
        vq.reap()
    assert ei.value.head is None


# --- free list --------------------------------------------------------------------------------

def test_free_list_reuse_matches_virtio_ring(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    dev = Device(mem, vq)
    a = vq.add_buffer([b"1", b"2", b"3"], [])   # slots 0,1,2
    b = vq.add_buffer([b"4"], [5])              # slots 3,4
    c = vq.add_buffer([b"6"], [])               # slot 5
    assert (a, b, c) == (0, 3, 5) and vq.num_free == 2
    vq.publish()
    dev.complete([(b, 0)])
    vq.reap()
    assert vq.num_free == 4
    # detach_buf_split pushes the freed chain on the front: 3 -> 4 -> 6 -> 7
    assert vq.peek_free(4) == [3, 4, 6, 7]
    d = vq.add_buffer([b"7", b"8", b"9"], [])
    assert d == 3 and [desc(mem, vq, i)[3] for i in (3, 4)] == [4, 6]
    assert vq.peek_free(1) == [7]
    with pytest.raises(QueueFullError):
        vq.add_buffer([b"x"], [1])
    vq.publish()
    dev.complete([(a, 0), (c, 0), (d, 0)])
    vq.reap()
    assert vq.num_free == 8 and sorted(vq.peek_free(8)) == list(range(8))


def test_pooled_buffers_are_reused(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 2)
    dev = Device(mem, vq)
    h = vq.add_buffer([b"x" * 100], [])
    first = desc(mem, vq, h)[0]
    vq.publish()
    dev.complete([(h, 0)])
    vq.reap()
    h = vq.add_buffer([b"y" * 90], [])
    assert desc(mem, vq, h)[0] == first


# --- notifications ----------------------------------------------------------------------------

def test_kick_without_event_idx_follows_no_notify(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 4)
    vq.add_buffer([b"a"], [])
    vq.publish()
    assert vq.kick_needed()
    put_u16(mem, vq.used_gpa, USED_F_NO_NOTIFY)
    vq.add_buffer([b"a"], [])
    vq.publish()
    assert not vq.kick_needed()
    put_u16(mem, vq.used_gpa, 0)
    assert vq.kick_needed()


def in_window(event: int, old: int, new: int) -> bool:
    """``event`` is one of old, old+1, ..., new-1 (mod 2^16): the spec's rule, restated."""
    return any((old + k) & 0xFFFF == event for k in range((new - old) & 0xFFFF))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.one_of(st.integers(0xFFF0, 0xFFFF), st.integers(0, 0xFFFF)),
       adds=st.integers(0, 8), event=st.one_of(st.integers(0, 0xFFFF), st.integers(0xFFF0, 0xFFFF),
                                               st.integers(0, 8)))
def test_event_idx_kick_decision(start: int, adds: int, event: int) -> None:
    mem = GuestMemory(size=1 << 30)
    vq = GuestVirtqueue(mem, Allocator(0x1000, 1 << 29), 0, 8, event_idx=True, start_idx=start)
    for _ in range(adds):
        vq.add_buffer([b"p"], [])
    vq.publish()
    set_avail_event(mem, vq, event)
    assert vq.kick_needed() == in_window(event, start, (start + adds) & 0xFFFF)
    assert not vq.kick_needed()  # nothing new since the last decision


def test_event_idx_kick_across_wrap_examples(mem: GuestMemory, alloc: Allocator) -> None:
    cases = {0xFFFE: True, 0xFFFF: True, 0: True, 1: False, 0xFFFD: False}
    for event, expected in cases.items():
        vq = make_vq(mem, alloc, 4, event_idx=True, start_idx=0xFFFE)
        for _ in range(3):
            vq.add_buffer([b"a"], [])
        vq.publish()   # old = 0xFFFE, new = 1
        set_avail_event(mem, vq, event)
        assert vq.kick_needed() is expected, hex(event)


def test_interrupt_suppression_without_event_idx(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 4)
    vq.disable_interrupts()
    assert u16(mem, vq.avail_gpa) == AVAIL_F_NO_INTERRUPT
    assert vq.enable_interrupts()
    assert u16(mem, vq.avail_gpa) == 0
    h = vq.add_buffer([b"a"], [])
    vq.publish()
    Device(mem, vq).complete([(h, 0)])
    assert not vq.enable_interrupts()  # pending used entry: the caller must poll again


def test_interrupt_suppression_with_event_idx(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 4, event_idx=True)
    dev = Device(mem, vq)
    heads = [vq.add_buffer([b"a"], []) for _ in range(3)]
    vq.publish()
    dev.complete([(heads[0], 0), (heads[1], 0)])
    vq.reap()
    assert used_event_mem(mem, vq) == 2   # get_buf advances used_event while enabled
    vq.disable_interrupts()
    assert used_event_mem(mem, vq) == 0 and u16(mem, vq.avail_gpa) == 0
    dev.complete([(heads[2], 0)])
    vq.reap()
    assert used_event_mem(mem, vq) == 0   # not advanced while disabled
    assert vq.enable_interrupts()
    assert used_event_mem(mem, vq) == 3
    vq.set_used_event(0x1234)
    assert used_event_mem(mem, vq) == 0x1234


# --- malformed builders -----------------------------------------------------------------------

def test_raw_head_out_of_range(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    vq.post_raw_head(8 + 3)
    assert avail_entry(mem, vq, 0) == 11 and avail_idx_mem(mem, vq) == 0
    vq.publish()
    assert avail_idx_mem(mem, vq) == 1 and vq.num_free == 8


def test_raw_chain_loop_exact_bytes(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    s = vq.peek_free(2)
    descs = [RawDesc(0x1000, 64, F_NEXT, s[1]), RawDesc(0x2000, 64, F_NEXT, s[0])]
    head = vq.post_raw_chain(descs, token="loop")
    assert head == s[0]
    raw = mem.read(vq.desc_gpa + 16 * s[0], 32)
    assert raw == (struct.pack("<QIHH", 0x1000, 64, 1, s[1]) +
                   struct.pack("<QIHH", 0x2000, 64, 1, s[0]))
    assert avail_entry(mem, vq, 0) == head and vq.num_free == 6
    vq.publish()
    Device(mem, vq).complete([(head, 0)])
    assert [(c.head, c.token, c.data) for c in vq.reap()] == [(head, "loop", b"")]
    assert vq.num_free == 8


def test_raw_chain_at_explicit_slots(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    head = vq.post_raw_chain([RawDesc(0xAB, 1, 0, 0)], slots=[5])
    assert head == 5 and desc(mem, vq, 5) == (0xAB, 1, 0, 0)
    assert 5 not in vq.peek_free(7)
    with pytest.raises(ValueError, match="in use"):
        vq.post_raw_chain([RawDesc(0, 1)], slots=[5])


def test_indirect_len_not_multiple_of_16(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    iova, length = vq.write_raw_indirect([RawDesc(0x5000, 10, 0, 0), RawDesc(0x6000, 10)],
                                         length=24)
    assert length == 24 and to_gpa(iova) % 16 == 0
    head = vq.post_raw_chain([RawDesc(iova, length, F_INDIRECT, 0)])
    assert desc(mem, vq, head) == (iova, 24, F_INDIRECT, 0)
    assert mem.read(to_gpa(iova), 32) == (struct.pack("<QIHH", 0x5000, 10, 0, 0) +
                                          struct.pack("<QIHH", 0x6000, 10, 0, 0))


def test_indirect_inside_indirect(mem: GuestMemory, alloc: Allocator) -> None:
    vq = make_vq(mem, alloc, 8)
    inner, inner_len = vq.write_raw_indirect([RawDesc(0x7000, 32, F_WRITE, 0)])
    outer, outer_len = vq.write_raw_indirect([RawDesc(inner, inner_len, F_INDIRECT, 0)])
    head = vq.post_raw_chain([RawDesc(outer, outer_len, F_INDIRECT, 0)])
    assert desc(mem, vq, head) == (outer, 16, F_INDIRECT, 0)
    assert DESC.unpack(mem.read(to_gpa(outer), 16)) == (inner, 16, F_INDIRECT, 0)
    assert DESC.unpack(mem.read(to_gpa(inner), 16)) == (0x7000, 32, F_WRITE, 0)


@pytest.mark.parametrize("indirect", [False, True])
def test_readable_after_writable_and_foreign_iovas(mem: GuestMemory, alloc: Allocator,
                                                   indirect: bool) -> None:
    vq = make_vq(mem, alloc, 8)
    segs = [(0xDEAD_0000, 128, True), (0xBEEF_0000, 64, False)]   # writable, then readable
    head = vq.post_iova_chain(segs, indirect=indirect)
    if indirect:
        addr, length, flags, _ = desc(mem, vq, head)
        assert (length, flags) == (32, F_INDIRECT)
        table = mem.read(to_gpa(addr), 32)
    else:
        table = mem.read(vq.desc_gpa + 16 * head, 16) + mem.read(
            vq.desc_gpa + 16 * desc(mem, vq, head)[3], 16)
    nxt = 1 if indirect else desc(mem, vq, head)[3]
    assert table[:16] == struct.pack("<QIHH", 0xDEAD_0000, 128, F_WRITE | F_NEXT, nxt)
    assert table[16:][:14] == struct.pack("<QIH", 0xBEEF_0000, 64, 0)
    assert avail_idx_mem(mem, vq) == 0


# --- virtio-net driver ------------------------------------------------------------------------

def net(mem: GuestMemory, alloc: Allocator, features: int, **kw: object) -> GuestNetDriver:
    return GuestNetDriver(mem, alloc, queue_pairs=2, queue_size=8, features=features,
                          iova_of=to_iova, **kw)  # type: ignore[arg-type]


def test_net_queue_numbering(mem: GuestMemory, alloc: Allocator) -> None:
    drv = net(mem, alloc, 1 << FEAT_VERSION_1)
    assert [vq.index for vq in drv.vqs] == [0, 1, 2, 3]
    assert (drv.rx_index(1), drv.tx_index(1), drv.rx_index(0), drv.tx_index(0)) == (2, 3, 0, 1)
    assert drv.rx_vq(1) is drv.vqs[2] and drv.tx_vq(1) is drv.vqs[3]
    drv.send(1, b"frame")
    assert avail_idx_mem(mem, drv.vqs[3]) == 1
    assert all(avail_idx_mem(mem, drv.vqs[i]) == 0 for i in (0, 1, 2))
    drv.post_rx(0, 2, 256)
    assert avail_idx_mem(mem, drv.vqs[0]) == 2
    with pytest.raises(IndexError):
        drv.send(2, b"x")


@pytest.mark.parametrize(("features", "hdr"), [
    (1 << FEAT_VERSION_1, 12), (0, 10), (1 << FEAT_MRG_RXBUF, 12)])
@pytest.mark.parametrize("split", [False, True])
def test_net_send_header(mem: GuestMemory, alloc: Allocator, features: int, hdr: int,
                         split: bool) -> None:
    drv = net(mem, alloc, features)
    vq = drv.tx_vq(0)
    drv.send(0, b"\x01\x02\x03", split_header=split)
    segs = Device(mem, vq).walk(Device(mem, vq).take_heads()[0])
    assert [(n, w) for _, n, w in segs] == ([(hdr, False), (3, False)] if split
                                            else [(hdr + 3, False)])
    data = b"".join(mem.read(g, n) for g, n, _ in segs)
    assert data == bytes(hdr) + b"\x01\x02\x03"


def test_net_indirect_needs_feature(mem: GuestMemory, alloc: Allocator) -> None:
    with pytest.raises(ValueError, match="INDIRECT_DESC"):
        net(mem, alloc, 1 << FEAT_VERSION_1).send(0, b"x", indirect=True)
    drv = net(mem, alloc, (1 << FEAT_VERSION_1) | (1 << FEAT_INDIRECT))
    head = drv.send(0, b"x", indirect=True, split_header=True)
    assert desc(mem, drv.tx_vq(0), head)[1:3] == (32, F_INDIRECT)


def test_net_tx_rx_round_trip_and_counters(mem: GuestMemory, alloc: Allocator) -> None:
    kicks: list[int] = []
    drv = net(mem, alloc, (1 << FEAT_VERSION_1) | (1 << FEAT_EVENT_IDX), notify=kicks.append)
    assert drv.event_idx
    tx, rx = drv.tx_vq(1), drv.rx_vq(1)
    txd, rxd = Device(mem, tx), Device(mem, rx)
    drv.send(1, b"A" * 60)
    drv.send(1, b"B" * 61, split_header=True)
    assert kicks == [3]   # avail_event = 0: kick for the first, not for the second
    heads = txd.take_heads()
    txd.complete([(h, 0) for h in heads])
    assert [c.token for c in drv.reap_tx(1)] == [b"A" * 60, b"B" * 61]
    drv.post_rx(1, 3, 128, split_header=True)
    rheads = rxd.take_heads()
    assert [(n, w) for _, n, w in rxd.walk(rheads[0])] == [(12, True), (116, True)]
    hdr = bytes(10) + struct.pack("<H", 1)
    for h, frame in zip(rheads, [b"x" * 20, b"y" * 116], strict=False):
        rxd.fill(h, hdr + frame)
    rxd.complete([(rheads[0], 32), (rheads[1], 128)])
    assert drv.reap_rx(1) == [b"x" * 20, b"y" * 116]
    assert drv.counters[3].frames == 2 and drv.counters[3].bytes == 121
    assert drv.counters[3].completed == 2 and drv.counters[3].kicks == 1
    assert drv.counters[2].posted == 3 and drv.counters[2].frames == 2
    assert drv.counters[2].bytes == 136


@pytest.mark.parametrize(("num_buffers", "length"), [(2, 20), (0, 20), (1, 11)])
def test_net_rx_rejects_bad_header(mem: GuestMemory, alloc: Allocator, num_buffers: int,
                                   length: int) -> None:
    drv = net(mem, alloc, 1 << FEAT_VERSION_1)
    rx = drv.rx_vq(0)
    dev = Device(mem, rx)
    (h,) = drv.post_rx(0, 1, 64)
    dev.take_heads()
    dev.fill(h, bytes(10) + struct.pack("<H", num_buffers) + b"z" * 8)
    dev.complete([(h, length)])
    with pytest.raises(RxFrameError, match=f"head {h}"):
        drv.reap_rx(0)


def test_net_rx_raw_post_completion_is_kept_unparsed(mem: GuestMemory, alloc: Allocator) -> None:
    """A chain posted with post_iova_chain has no buffer the driver can parse: reap_rx returns
    the frames of its own buffers, in order, and keeps the raw completion (head, len) apart
    instead of failing on a header it cannot read."""
    drv = net(mem, alloc, 1 << FEAT_VERSION_1)
    rx = drv.rx_vq(0)
    dev = Device(mem, rx)
    (h1,) = drv.post_rx(0, 1, 64)
    raw_head = rx.post_iova_chain([(to_iova(alloc.alloc(256)), 256, True)])
    rx.publish()
    (h2,) = drv.post_rx(0, 1, 64)
    assert dev.take_heads() == [h1, raw_head, h2]
    hdr = bytes(10) + struct.pack("<H", 1)
    dev.fill(h1, hdr + b"first")
    dev.fill(h2, hdr + b"second")
    dev.complete([(h1, 17), (raw_head, 40), (h2, 18)])
    assert drv.reap_rx(0) == [b"first", b"second"]
    assert [(c.head, c.len, c.raw) for c in drv.raw_completions[0]] == [(raw_head, 40, True)]
    assert drv.counters[0].completed == 3 and drv.counters[0].frames == 2


def test_net_legacy_header_has_no_num_buffers(mem: GuestMemory, alloc: Allocator) -> None:
    drv = net(mem, alloc, 0)
    dev = Device(mem, drv.rx_vq(0))
    (h,) = drv.post_rx(0, 1, 64)
    dev.take_heads()
    dev.fill(h, bytes(10) + b"\x05\x00frame")
    dev.complete([(h, 17)])
    assert drv.reap_rx(0) == [b"\x05\x00frame"]


# --- random traffic ---------------------------------------------------------------------------

op = st.one_of(
    st.tuples(st.just("add"), st.lists(st.binary(min_size=1, max_size=40), max_size=3),
              st.lists(st.integers(1, 300), max_size=3), st.booleans()),
    st.tuples(st.just("complete"), st.randoms(use_true_random=False)),
)


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(op, max_size=40), num=st.sampled_from([1, 2, 4, 16]),
       start=st.sampled_from([0, 0xFFFA]))
def test_random_traffic_keeps_ring_invariants(ops: list[tuple[object, ...]], num: int,
                                              start: int) -> None:
    mem = GuestMemory(size=1 << 40)
    vq = GuestVirtqueue(mem, Allocator(0x1000, 1 << 39), 0, num, iova_of=to_iova,
                        start_idx=start, poison=0x5A)
    dev = Device(mem, vq, start=start)
    posted: dict[int, tuple[int, list[bytes], int]] = {}   # token -> (head, outs, wspace)
    in_dev: list[tuple[int, int]] = []                     # (head, token)
    token = 0
    for o in ops:
        if o[0] == "add":
            outs, ins, indirect = o[1], o[2], o[3]
            assert isinstance(outs, list) and isinstance(ins, list)
            if not outs and not ins:
                continue
            need = 1 if indirect else len(outs) + len(ins)
            if need > vq.num_free:
                with pytest.raises(QueueFullError):
                    vq.add_buffer(outs, ins, indirect=bool(indirect))
                continue
            head = vq.add_buffer(outs, ins, indirect=bool(indirect), token=token)
            assert head not in [h for h, _, _ in posted.values()]
            posted[token] = (head, outs, sum(ins))
            vq.publish()
            taken = dev.take_heads()
            assert taken == [head]
            segs = dev.walk(head)
            assert [w for _, _, w in segs] == [False] * len(outs) + [True] * len(ins)
            assert [mem.read(g, n) for g, n, w in segs if not w] == outs
            in_dev.append((head, token))
            token += 1
        elif in_dev:
            rnd = o[1]
            rnd.shuffle(in_dev)  # type: ignore[attr-defined]
            k = rnd.randint(1, len(in_dev))  # type: ignore[attr-defined]
            batch, in_dev = in_dev[:k], in_dev[k:]
            entries = []
            expect = {}
            for head, tok in batch:
                wspace = posted[tok][2]
                n = rnd.randint(0, wspace)  # type: ignore[attr-defined]
                payload = bytes((tok + j) & 0xFF for j in range(n))
                assert dev.fill(head, payload) == n
                entries.append((head, n))
                expect[tok] = payload
            dev.complete(entries)
            done = vq.reap()
            assert [c.token for c in done] == [t for _, t in batch]
            for c in done:
                assert c.data == expect[c.token]   # type: ignore[index]
                del posted[c.token]                # type: ignore[arg-type]
        used_descs = sum(1 if len(dev.walk(h)) and desc(mem, vq, h)[2] & F_INDIRECT
                         else len(dev.walk(h)) for h, _, _ in posted.values())
        assert vq.num_free == num - used_descs
        assert vq.num_outstanding == len(posted)
        assert vq.last_used_idx == dev.used
