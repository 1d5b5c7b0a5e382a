# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_split_ring_walker alone (the virtqueue engine's first stage).

The bench plays the engine around the walker: the scheduler (one start a chain), the VQ
context (vdpa_vq_ctx's walker read port, held for the chain, and its events recorded), later
stages that are idle and a move stage that takes the hand-off at once, and the IOTLB (the ring
port bench's :class:`Iotlb`: an answer per 4 KiB page, what no range holds refused). The rings
and buffers live in cocotbext-axi's AxiRam behind the walker's ring port.

Every chain is compared with the model's split-ring walk on a copy of the same memory
(vdpa_model.datapath.SplitRing: avail_idx, head_at, walk): a well-formed chain must be handed
over with the model's segment list (as bytes of host memory in order: the walker splits a
buffer where the IOTLB answers do, the model where its ranges do, so both lists are compared
merged into runs), its head, direction and length; a malformed one must fault with the
model's errno (RingError.errno) and never be handed over; the walker's own checks (avail.idx
moved by more than the queue size: vhost_get_vq_desc's "Guest moved avail index", errno
EFAULT; a translation refused: EFAULT with the IOVA of the whole buffer and the group's ASID)
are stated by hand. The events the contexts see are checked per chain: one consume, the
avail.idx seen, the head into flight once and never given back (a chain handed over or a
fault keeps it: the completion or a reset frees it).

What it does not cover (the device's benches do: lockstep, ring cases, UVM): the avail entries
read ahead across chains, EVENT_IDX's avail_event write, E2BIG beyond MAX_SEGS, bus errors on
the ring port, receive frames too big for a chain, a queue that went to ERR while its chain
waited (w_abandon), flushes. The pytest entry is tests/rtl/test_vdpa_split_ring_walker.py.
"""

from __future__ import annotations

import errno
import random
import struct
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly
from cocotbext.axi import AxiRam

from vdpa_model.datapath import RingError, SplitRing
from vdpa_model.dma import AccessLog, DmaPort
from vdpa_model.iotlb import AddressSpace
from vdpa_model.memory import GuestMemory
from vdpa_model.ops import VqObjectState as S
from vdpa_model.spec import (
    VRING_AVAIL_IDX_OFF,
    VRING_AVAIL_RING_OFF,
    VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    VRING_DESC_SIZE,
    VRING_DESC_STRUCT,
)
from vdpa_tb.nic_tb import param
from vdpa_tb.regmap import REGMAP as RM

from .test_vdpa_ring_port import Iotlb, Range, port_axi_bus

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the bench is the IOTLB and the move stage beside the walker, answering its translation "
    "requests and its hand-off in their cycle and recording every context event as it pulses; "
    "the block walks one chain in a few dozen cycles and each test runs a few thousand"
)

CLK_NS = 10
MEM_SIZE = 1 << 20
PAGE = 4096
DGROUP, RGROUP = 0, 2
# the data group's ASID differs from the ring group's, so the hand-off's and a fault's ASID
# say which group was asked
ASID = {0: 1, 1: 0, 2: 0}
# the queue's areas (the split ring's layout of a queue of up to 256 entries fits between them)
DESC, DRV, DEV = 0x1000, 0x3000, 0x4000
# indirect tables and buffers
TABLES, BUFS = 0x8000, 0x10000


def runs(pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(pa, length)`` pieces merged where one ends where the next begins; empty ones out."""
    out: list[tuple[int, int]] = []
    for pa, n in pieces:
        if n == 0:
            continue
        if out and out[-1][0] + out[-1][1] == pa:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((pa, n))
    return out


class TB:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.beat = param("DATA_W", 64) // 8
        self.max_segs = param("MAX_SEGS", 32)
        Clock(dut.clk, CLK_NS, unit="ns").start()
        for name in ("rst", "event_idx", "back_idle", "ctx_change", "tr_flush", "start_valid",
                     "start_vq", "start_rx", "ctx_state", "ctx_size", "ctx_desc", "ctx_drv",
                     "ctx_dev", "ctx_avail", "ctx_used", "ctx_seen", "ctx_seen_ok", "ctx_dgroup",
                     "ctx_rgroup", "ctx_in_flight", "ahead", "rx_need", "h_ready", "seg_rd",
                     "tr_req_ready", "tr_resp_valid", "tr_resp_ok", "tr_resp_pa", "tr_resp_len",
                     "tr_resp_asid"):
            getattr(dut, name).value = 0
        self.ram = AxiRam(port_axi_bus(dut, self.beat), dut.clk, dut.rst, size=MEM_SIZE)
        self.ref = GuestMemory(MEM_SIZE)
        self.tlb = Iotlb(ASID, [Range(g, w, 0, MEM_SIZE, 0) for g in ASID for w in (False, True)])
        self.cycle = 0

    async def reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(3):
            await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await FallingEdge(self.dut.clk)

    def poke(self, addr: int, data: bytes) -> None:
        """The same bytes into the bus memory and the model's."""
        self.ram.write(addr, data)
        self.ref.write(addr, data)

    def model_ring(self, size: int) -> SplitRing:
        log = AccessLog()
        ring = DmaPort(self.ref, AddressSpace(ASID[RGROUP]), 0, log)
        data = DmaPort(self.ref, AddressSpace(ASID[DGROUP]), 0, log)
        return SplitRing(ring, data, DESC, DRV, DEV, size, False)

    async def walk(self, size: int, last_avail: int, rx: bool, limit: int = 3000
                   ) -> dict[str, Any]:
        """One chain: the context held, one start, the walker run back to idle, every event,
        the fault or the hand-off, and the handed-over segment list read back."""
        d = self.dut
        await FallingEdge(d.clk)
        d.ctx_state.value, d.ctx_size.value = S.RDY, size
        d.ctx_desc.value, d.ctx_drv.value, d.ctx_dev.value = DESC, DRV, DEV
        d.ctx_avail.value, d.ctx_used.value = last_avail, 0
        d.ctx_dgroup.value, d.ctx_rgroup.value = DGROUP, RGROUP
        d.back_idle.value, d.h_ready.value, d.tr_req_ready.value = 1, 1, 1
        d.rx_need.value = 0
        got: dict[str, Any] = {"consume": 0, "seen": [], "ift_set": [], "ift_clr": [],
                               "fault": None, "hand": None}
        pending = None
        started = False
        for _ in range(limit):
            await FallingEdge(d.clk)
            # each chain is on a ring rewritten since the last: in the start cycle a VQ command
            # and an IOTLB command drop the entries read ahead and the cached translations,
            # as the engine's commands do
            d.start_valid.value = d.ctx_change.value = d.tr_flush.value = int(not started)
            d.start_vq.value, d.start_rx.value = 0, int(rx)
            if pending is not None:
                a = pending
                d.tr_resp_valid.value, d.tr_resp_ok.value = 1, int(a.ok)
                d.tr_resp_pa.value, d.tr_resp_len.value, d.tr_resp_asid.value = \
                    a.pa, a.length, a.asid
                pending = None
            else:
                d.tr_resp_valid.value = 0
            await ReadOnly()
            self.cycle += 1
            busy = int(d.busy.value)
            if not started:
                started = True
                continue
            if not busy:
                break
            if int(d.tr_req_valid.value):
                pending = self.tlb.answer(int(d.tr_req_group.value), bool(int(d.tr_req_write.value)),
                                          int(d.tr_req_iova.value), int(d.tr_req_len.value))
            got["consume"] += int(d.ev_consume.value)
            if int(d.ev_seen.value):
                got["seen"].append(int(d.ev_seen_idx.value))
            if int(d.ev_ift_set.value):
                got["ift_set"].append(int(d.head.value))
            if int(d.ev_ift_clr.value):
                got["ift_clr"].append(int(d.head.value))
            if int(d.f_valid.value):
                assert got["fault"] is None, "two faults for one chain"
                got["fault"] = {k: int(getattr(d, f"f_{k}").value)
                                for k in ("errno", "iova", "xlate", "write", "asid")}
            if int(d.h_valid.value):
                assert got["hand"] is None, "the chain was handed over twice"
                got["hand"] = {"head": int(d.head.value), "rx": int(d.rx.value),
                               "bank": int(d.h_bank.value), "total": int(d.h_total.value),
                               "asid": int(d.h_asid.value)}
        else:
            raise AssertionError(f"the walker did not return to idle in {limit} cycles")
        if got["hand"] is not None:
            got["segs"] = await self.segments(got["hand"]["bank"], got["hand"]["total"])
        return got

    async def segments(self, bank: int, total: int) -> list[tuple[int, int]]:
        """The handed-over bank's segments, read through the mover's port, up to ``total``
        bytes (the walker fills one segment per IOTLB answer)."""
        d = self.dut
        out, n = [], 0
        for i in range(self.max_segs):
            if n >= total:
                break
            await FallingEdge(d.clk)
            d.seg_rd.value = bank * self.max_segs + i
            await ReadOnly()
            pa, ln = int(d.seg_rd_pa.value), int(d.seg_rd_len.value)
            out.append((pa, ln))
            n += ln
        assert n == total, f"segments hold {n} bytes, the chain {total}"
        return out

    # -- ring building -------------------------------------------------------------------
    def publish(self, size: int, last_avail: int, heads: list[int], idx: int | None = None
                ) -> None:
        for k, h in enumerate(heads):
            slot = (last_avail + k) & (size - 1)
            self.poke(DRV + VRING_AVAIL_RING_OFF + 2 * slot, struct.pack("<H", h))
        new = (last_avail + len(heads)) & 0xFFFF if idx is None else idx
        self.poke(DRV + VRING_AVAIL_IDX_OFF, struct.pack("<H", new))

    def desc(self, table: int, i: int, addr: int, length: int, flags: int, nxt: int) -> None:
        self.poke(table + VRING_DESC_SIZE * i, VRING_DESC_STRUCT.pack(addr, length, flags, nxt))


def draw_chain(rng: random.Random, tb: TB, size: int, rx: bool) -> tuple[int, bool]:
    """A well-formed chain of 1..5 buffers at a random head, directly in the table or in an
    indirect table; buffers anywhere in the buffer area, across pages, some empty. Returns the
    head and whether it is indirect."""
    n = rng.randrange(1, 6)
    indirect = rng.random() < 0.35
    head = rng.randrange(size)
    flags = VRING_DESC_F_WRITE if rx else 0
    lens = [rng.choice([0, 1, 12, 64, 1500, PAGE - 1, PAGE + 7, rng.randrange(1, 3 * PAGE)])
            for _ in range(n)]
    if not any(lens):
        lens[0] = 64
    addrs = [BUFS + rng.randrange(0, MEM_SIZE - BUFS - 4 * PAGE) for _ in range(n)]
    if indirect:
        table = TABLES + 16 * rng.randrange(64)
        for k in range(n):
            last = k == n - 1
            tb.desc(table, k, addrs[k], lens[k], flags | (0 if last else VRING_DESC_F_NEXT),
                    0 if last else k + 1)
        tb.desc(DESC, head, table, 16 * n, VRING_DESC_F_INDIRECT, 0)
        return head, True
    idx = [head, *rng.sample([i for i in range(size) if i != head], min(n, size) - 1)]
    for k, i in enumerate(idx):
        last = k == len(idx) - 1
        tb.desc(DESC, i, addrs[k], lens[k], flags | (0 if last else VRING_DESC_F_NEXT),
                0 if last else idx[k + 1])
    return head, False


async def check_chain(tb: TB, size: int, last_avail: int, rx: bool, what: str) -> str:
    """Walk the published chain on the DUT and on the model; compare. Returns the outcome."""
    model = tb.model_ring(size)
    want_err: int | None = None
    chain = None
    try:
        avail = model.avail_idx()
        if ((avail - last_avail) & 0xFFFF) > size:
            want_err = errno.EFAULT    # vhost_get_vq_desc: "Guest moved avail index"
        else:
            chain = model.walk(model.head_at(last_avail), allow_read=not rx, allow_write=rx)
    except RingError as e:
        want_err = e.errno
    got = await tb.walk(size, last_avail, rx)
    assert got["consume"] == 1, f"{what}: {got['consume']} kicks consumed"
    if want_err is not None:
        assert got["hand"] is None, f"{what}: a chain the model refuses ({want_err}) moved on"
        assert got["fault"] is not None and got["fault"]["errno"] == want_err, \
            f"{what}: fault {got['fault']}, the model's errno {want_err}"
        assert len(got["ift_clr"]) == 0 and len(got["ift_set"]) <= 1
        return "fault"
    assert chain is not None and got["fault"] is None, f"{what}: fault {got['fault']}"
    hand = got["hand"]
    assert hand is not None, f"{what}: nothing handed over"
    assert got["ift_set"] == [chain.head] and not got["ift_clr"], (what, got)
    assert (hand["head"], hand["rx"]) == (chain.head, int(rx)), (what, hand)
    segs = chain.writable if rx else chain.readable
    want = runs([p for _, pieces in segs for p in pieces])
    assert hand["total"] == (chain.write_len if rx else chain.read_len), (what, hand)
    assert runs(got["segs"]) == want, f"{what}: segments {got['segs']}, model {want}"
    assert not got["seen"] or got["seen"] == [model.avail_idx()], (what, got["seen"])
    if hand["total"]:
        assert hand["asid"] == ASID[DGROUP], (what, hand)
    return "handed"


@cocotb.test()
async def test_walks_against_model(dut):
    """Well-formed TX and RX chains (direct and indirect, 1..5 buffers across pages, some
    empty) at avail indices across the u16 wrap: each handed over with the model's segment
    list, head, direction and length, one consume, the head into flight once."""
    tb = TB(dut)
    await tb.reset()
    base = random.getrandbits(32)
    dut._log.info("walker chains: seed %d", base)
    rng = random.Random(base)
    outcomes: dict[str, int] = {}
    for k in range(60):
        size = rng.choice([2, 8, 64, 256])
        rx = rng.random() < 0.5
        last = rng.choice([0, 0xFFFF, rng.randrange(1 << 16)])
        head, indirect = draw_chain(rng, tb, size, rx)
        tb.publish(size, last, [head])
        o = await check_chain(tb, size, last, rx, f"seed {base} chain {k} (size {size}, "
                              f"{'RX' if rx else 'TX'}, {'indirect' if indirect else 'direct'})")
        outcomes[o] = outcomes.get(o, 0) + 1
    assert outcomes == {"handed": 60}, outcomes


@cocotb.test()
async def test_bad_rings_fault_as_model(dut):
    """Malformed rings fault with the model's errno and move nothing: a head past the queue,
    a next past the table, a loop, an indirect table of a bad length, in an indirect table,
    with NEXT, a writable buffer on TX, a readable one on RX, a readable after a writable,
    avail.idx moved by more than the queue size; a buffer the IOTLB refuses faults EFAULT
    naming the buffer, the direction and the group's ASID."""
    tb = TB(dut)
    await tb.reset()
    size, last = 8, 5
    W, N, IND = VRING_DESC_F_WRITE, VRING_DESC_F_NEXT, VRING_DESC_F_INDIRECT
    cases: list[tuple[str, bool, list[tuple[int, int, int, int, int, int]], list[int], int | None]]
    # (name, rx, [(table, i, addr, len, flags, next)], heads, avail.idx or None)
    cases = [
        ("head past the queue", False, [], [size + 3], None),
        ("next past the table", False, [(DESC, 1, BUFS, 64, N, size)], [1], None),
        ("loop", False, [(DESC, 2, BUFS, 64, N, 3), (DESC, 3, BUFS, 64, N, 2)], [2], None),
        ("indirect length not a multiple of 16", False, [(DESC, 0, TABLES, 24, IND, 0)],
         [0], None),
        ("indirect length zero", False, [(DESC, 0, TABLES, 0, IND, 0)], [0], None),
        ("indirect with next", False, [(DESC, 0, TABLES, 16, IND | N, 1)], [0], None),
        ("indirect in indirect", False, [(DESC, 0, TABLES, 16, IND, 0),
                                         (TABLES, 0, TABLES + 64, 16, IND, 0)], [0], None),
        ("writable on TX", False, [(DESC, 4, BUFS, 64, W, 0)], [4], None),
        ("readable on RX", True, [(DESC, 4, BUFS, 64, 0, 0)], [4], None),
        ("readable after writable", True, [(DESC, 5, BUFS, 64, W | N, 6),
                                           (DESC, 6, BUFS + 64, 64, 0, 0)], [5], None),
        ("avail index moved too far", False, [(DESC, 1, BUFS, 64, 0, 0)], [1],
         (last + size + 1) & 0xFFFF),
    ]
    for name, rx, descs, heads, idx in cases:
        for table, i, addr, ln, flags, nxt in descs:
            tb.desc(table, i, addr, ln, flags, nxt)
        tb.publish(size, last, heads, idx)
        assert await check_chain(tb, size, last, rx, name) == "fault", name
    # a buffer in no IOTLB range: the walker's translation fault (the model's TranslationFault)
    hole = BUFS + 7 * PAGE
    tb.tlb.ranges = [r for r in tb.tlb.ranges if r.group != DGROUP] + [
        Range(DGROUP, w, 0, hole, 0) for w in (False, True)]
    for rx in (False, True):
        tb.desc(DESC, 3, hole - 16, 64, W if rx else 0, 0)
        tb.publish(size, last, [3])
        got = await tb.walk(size, last, rx)
        assert got["hand"] is None and got["fault"] == {
            "errno": RM.fault["EFAULT"], "iova": hole - 16, "xlate": 1, "write": int(rx),
            "asid": ASID[DGROUP]}, got["fault"]
    assert RM.fault["EFAULT"] == errno.EFAULT
