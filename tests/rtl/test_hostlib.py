# SPDX-License-Identifier: MIT
"""The C++ host library of the fast bus models (tb/csrc/vdpa_tb_host.cpp), without a simulator.

Its HDL-side functions are called here the way tb/hdl/tb_nic_host.sv calls them (one beat at a
time), its Python side through vdpa_tb.hostlib, and the two must agree: the same guest memory,
every access logged with its sideband, frames assembled and split as the cocotbext models do,
AXI-Lite accesses completed in order. Expected values are written out here, never read back
through the function under test.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from vdpa_model.dma import AccessKind
from vdpa_tb.hostlib import DMA_BUS_ERROR, DMA_WRITE, HostLib, host_lib
from vdpa_tb.hostmem import DmaTarget, DpiMemoryTarget, MappingCheck

DEV = 5  # a device index no other test uses
SIZE = 1 << 24


@pytest.fixture
def lib() -> HostLib:
    lib = host_lib()
    lib.open_memory(SIZE)
    lib.device(DEV).reset()
    return lib


def word(data: bytes = b"") -> ctypes.Array[ctypes.c_uint32]:
    """A 512-bit DPI word (svBitVecVal[16], the widest bus) holding ``data`` from byte lane 0."""
    w = (ctypes.c_uint32 * 16)()
    ctypes.memmove(w, data, len(data))
    return w


def user(vq: int, asid: int, kind: AccessKind) -> int:
    """The AXI user sideband of vdpa_vq_engine: {kind, asid, vq}."""
    return int(kind) << 16 | asid << 8 | vq


def test_memory_is_shared_between_python_and_the_bus(lib: HostLib) -> None:
    """What the guest driver writes through FlatGuestMemory is what an AXI read beat returns,
    and a write beat lands where Python reads it, marked dirty for the lockstep's snapshot."""
    mem = lib.memory
    mem.write(0x1000, bytes(range(8)))
    out = word()
    err = lib.c.vtb_mem_read(DEV, 0x1000, 8, user(3, 1, AccessKind.DESC), out)
    assert err == 0 and bytes(out)[:8] == bytes(range(8))
    assert lib.c.vtb_mem_write(DEV, 0x20_0000, 8, word(b"ABCDEFGH"), 0xFF, 0) == 0
    assert mem.read(0x20_0000, 8) == b"ABCDEFGH"
    assert sorted(mem.snapshot()) == [0, 0x20_0000]
    lib.open_memory(SIZE)
    assert mem.read(0x20_0000, 8) == bytes(8) and mem.snapshot() == {}, "reopen wipes"


def test_every_beat_is_logged_with_its_sideband(lib: HostLib) -> None:
    """A read beat is one record of the whole word; a write beat one record per run of enabled
    strobes (as cocotbext's AxiSlave splits it); poisoned or out-of-range beats answer SLVERR
    and are logged too, flagged."""
    dev = lib.device(DEV)
    u = user(7, 1, AccessKind.USED)
    lib.c.vtb_mem_read(DEV, 0x3000, 8, u, word())
    assert lib.c.vtb_mem_write(DEV, 0x3008, 8, word(b"abcdefgh"), 0b1100_0110, u) == 0
    dev.poison(0x4000, 0x4010)
    assert lib.c.vtb_mem_read(DEV, 0x4008, 8, u, word()) == 1
    assert lib.c.vtb_mem_write(DEV, SIZE - 4, 8, word(b"12345678"), 0xFF, u) == 1
    recs = dev.take_dma()
    got = [(r["pa"], r["len"], r["vq"], r["asid"], r["kind"], r["flags"]) for r in recs]
    k = int(AccessKind.USED)
    assert got == [(0x3000, 8, 7, 1, k, 0),
                   (0x3009, 2, 7, 1, k, DMA_WRITE), (0x300E, 2, 7, 1, k, DMA_WRITE),
                   (0x4008, 8, 7, 1, k, DMA_BUS_ERROR),
                   (SIZE - 4, 8, 7, 1, k, DMA_WRITE | DMA_BUS_ERROR)]
    assert lib.memory.read(0x3008, 8) == b"\0bc\0\0\0gh"
    assert dev.bytes_read == 8 and dev.bytes_written == 4
    assert len(dev.take_dma()) == 0, "taken records are gone"


def test_tx_frames_keep_the_bytes_tkeep_marks(lib: HostLib) -> None:
    """Beats assemble into frames: tkeep selects bytes, tdest of the first beat names the queue,
    tuser on the last beat marks an aborted frame; a frame still arriving stays for later."""
    dev = lib.device(DEV)
    lib.c.vtb_tx_beat(DEV, word(b"01234567"), 0xFF, 0, 0, 3)
    lib.c.vtb_tx_beat(DEV, word(b"89abcdef"), 0x07, 1, 0, 3)
    lib.c.vtb_tx_beat(DEV, word(b"XY"), 0x03, 1, 1, 5)
    lib.c.vtb_tx_beat(DEV, word(b"partial!"), 0xFF, 0, 0, 1)
    assert dev.take_tx() == [(3, False, b"0123456789a", 0), (5, True, b"XY", 0)]
    # each frame is stamped with the device's cycle its last beat left on
    for _ in range(7):
        lib.c.vtb_cycle(DEV)
    assert dev.cycles() == 7
    lib.c.vtb_tx_beat(DEV, word(b"end"), 0x07, 1, 0, 1)
    assert dev.take_tx() == [(1, False, b"partial!end", 7)]


def test_rx_frames_are_split_into_beats(lib: HostLib) -> None:
    """A pushed frame comes out as full beats then a last one with tkeep for what is left; the
    destination rides on every beat; an empty frame is refused by name."""
    dev = lib.device(DEV)
    dev.push_rx(4, b"0123456789")
    out, keep, last, dest = word(), ctypes.c_longlong(), ctypes.c_uint8(), ctypes.c_int()
    beats = []
    while lib.c.vtb_rx_beat(DEV, 8, out, ctypes.byref(keep), ctypes.byref(last),
                            ctypes.byref(dest)):
        beats.append((bytes(out)[:8], keep.value, last.value, dest.value))
    assert beats == [(b"01234567", 0xFF, 0, 4), (b"89" + bytes(6), 0x03, 1, 4)]
    assert dev.rx_pending == 0
    with pytest.raises(ValueError, match="empty frame"):
        dev.push_rx(4, b"")


def test_512_bit_beats_use_every_lane(lib: HostLib) -> None:
    """On the widest bus (64 lanes) tkeep and the write strobe reach lane 63: a received frame's
    full beat keeps all 64 bytes, a transmitted beat keeps lane 63, a write strobes lane 63."""
    dev = lib.device(DEV)
    frame = bytes(range(100))
    dev.push_rx(2, frame)
    out, keep, last, dest = word(), ctypes.c_longlong(), ctypes.c_uint8(), ctypes.c_int()
    beats = []
    while lib.c.vtb_rx_beat(DEV, 64, out, ctypes.byref(keep), ctypes.byref(last),
                            ctypes.byref(dest)):
        beats.append((bytes(out)[:64], keep.value & (1 << 64) - 1, last.value))
    assert beats == [(frame[:64], (1 << 64) - 1, 0), (frame[64:] + bytes(28), (1 << 36) - 1, 1)]
    lib.c.vtb_tx_beat(DEV, word(bytes(63) + b"Z"), 1 << 63 | 1, 1, 0, 7)
    assert dev.take_tx() == [(7, False, b"\x00Z", 0)]
    assert lib.c.vtb_mem_write(DEV, 0x5000, 64, word(bytes(63) + b"Q"), -(1 << 63), 0) == 0
    got = word()
    lib.c.vtb_mem_read(DEV, 0x5000, 64, 0, got)
    assert bytes(got)[63:64] == b"Q"


def test_axil_accesses_complete_in_order_and_report_the_drain(lib: HostLib) -> None:
    """Python posts a batch; the HDL master takes one access at a time and says when the queue
    ran dry (the single event Python waits on); results come back by ticket."""
    dev = lib.device(DEV)
    t1 = dev.post(True, 0x100, 0xDEAD_BEEF)
    t2 = dev.post(False, 0x104)
    w, a, d = ctypes.c_uint8(), ctypes.c_int(), ctypes.c_int()
    assert lib.c.vtb_axil_next(DEV, ctypes.byref(w), ctypes.byref(a), ctypes.byref(d))
    assert (w.value, a.value, d.value & 0xFFFF_FFFF) == (1, 0x100, 0xDEAD_BEEF)
    assert not lib.c.vtb_axil_next(DEV, ctypes.byref(w), ctypes.byref(a), ctypes.byref(d)), \
        "one access in flight at a time"
    assert lib.c.vtb_axil_complete(DEV, 0, 0) == 0, "the queue is not dry yet"
    assert lib.c.vtb_axil_next(DEV, ctypes.byref(w), ctypes.byref(a), ctypes.byref(d))
    assert (w.value, a.value) == (0, 0x104)
    assert lib.c.vtb_axil_complete(DEV, 0x1234, 2) == 1
    assert dev.completed == t2 == t1 + 1
    assert dev.result(t2) == (0x1234, 2)
    t3 = dev.post(False, 0x108)
    assert lib.c.vtb_axil_next(DEV, ctypes.byref(w), ctypes.byref(a), ctypes.byref(d))
    dev.restart()  # the HDL master was reset with the read in flight: it is issued again
    assert lib.c.vtb_axil_next(DEV, ctypes.byref(w), ctypes.byref(a), ctypes.byref(d))
    assert (w.value, a.value) == (0, 0x108)
    assert lib.c.vtb_axil_complete(DEV, 7, 0) == 1 and dev.result(t3) == (7, 0)
    dev.post(True, 0x10C, 1)
    lib.c.vtb_axil_next(DEV, ctypes.byref(w), ctypes.byref(a), ctypes.byref(d))
    dev.reset()
    assert lib.c.vtb_axil_complete(DEV, 0, 0) == 0, "a completion across a reset is ignored"


def test_stall_patterns_and_settle_requests_come_once_per_cycle(lib: HostLib) -> None:
    """vtb_cycle gives the HDL this cycle's stall bit per channel (pattern repeated), the settle
    request once, whether accesses are still queued and, apart, whether received frames are
    (the quiet point treats a frame the idle device refuses as quiet)."""
    dev = lib.device(DEV)
    dev.set_stall("aw", [1, 1, 1, 0])
    dev.set_stall("rx", [0, 1])
    aw, rx = 1 << lib.c.vtb_channel(b"aw"), 1 << lib.c.vtb_channel(b"rx")
    bits = [lib.c.vtb_cycle(DEV) for _ in range(8)]
    assert [bool(b & aw) for b in bits] == [True, True, True, False] * 2
    assert [bool(b & rx) for b in bits] == [False, True] * 4
    dev.settle_arm()
    dev.push_rx(0, b"x")
    first, second = lib.c.vtb_cycle(DEV), lib.c.vtb_cycle(DEV)
    assert first & (1 << 8) and not second & (1 << 8)
    assert first & (1 << 10) and second & (1 << 10) and not first & (1 << 9)
    dev.post(True, 0x10C, 1)
    assert lib.c.vtb_cycle(DEV) & (1 << 9)
    with pytest.raises(ValueError, match="unknown stall channel 'bus'"):
        dev.set_stall("bus", [1])


def test_interrupts_and_protocol_errors(lib: HostLib) -> None:
    dev = lib.device(DEV)
    for vq in (1, 1, 3):
        lib.c.vtb_irq(DEV, vq)
    assert dev.irq_counts() == {1: 2, 3: 1}
    assert dev.protocol_errors() == (0, "")
    lib.c.vtb_protocol_error(DEV, b"AXI4 read: burst type 3")
    assert dev.protocol_errors() == (1, "AXI4 read: burst type 3")


def test_dma_judged_in_bulk_against_the_mappings_in_force(lib: HostLib) -> None:
    """The DPI target drains the log, judges each access against the parent's ranges (reads at
    bus-word granularity, writes exactly), keeps the outside ones as violations, and rebuilds
    its ranges only when told the mappings changed."""
    ranges = {False: [(0x1004, 0x1010)], True: [(0x2000, 0x2010)]}
    check = MappingCheck(lambda write: ranges[write], 8)
    target: DmaTarget = DpiMemoryTarget(lib.device(DEV), lib.memory, 8)
    target.check = check
    u = user(1, 0, AccessKind.BUFFER)
    lib.c.vtb_mem_read(DEV, 0x1000, 8, u, word())               # word around an allowed read
    lib.c.vtb_mem_read(DEV, 0x1010, 8, u, word())               # next word: outside
    lib.c.vtb_mem_write(DEV, 0x2008, 8, word(bytes(8)), 0xFF, u)  # inside
    lib.c.vtb_mem_write(DEV, 0x2010, 8, word(bytes(8)), 0x01, u)  # one byte past the end
    assert target.drain() == 2
    assert [(v.pa, v.write) for v in target.violations] == [(0x1010, False), (0x2010, True)]
    assert [r.allowed for r in target.log] == [True, False, True, False]
    ranges[True] = [(0x2000, 0x3000)]
    lib.c.vtb_mem_write(DEV, 0x2010, 8, word(bytes(8)), 0x01, u)
    assert target.drain() == 1 and check.rebuilds == 2, "cached until invalidated"
    check.invalidate()
    lib.c.vtb_mem_write(DEV, 0x2010, 8, word(bytes(8)), 0x01, u)
    assert target.drain() == 0
    assert target.log.touching(0x2010, 0x2011, write=True) == 3


def test_identity_mapping_allows_everything_up_to_the_last_byte() -> None:
    """An ASID in passthrough maps [0, 2**64): the inclusive bounds keep the top byte in."""
    check = MappingCheck(lambda write: [(0, 1 << 64)], 16)
    recs = np.zeros(2, dtype=[("pa", "<u8"), ("len", "<u4"), ("vq", "u1"), ("asid", "u1"),
                              ("kind", "u1"), ("flags", "u1")])
    recs["pa"] = [0, (1 << 64) - 16]
    recs["len"] = [16, 16]
    recs["flags"] = [0, DMA_WRITE]
    assert check.allowed(recs).tolist() == [True, True]
