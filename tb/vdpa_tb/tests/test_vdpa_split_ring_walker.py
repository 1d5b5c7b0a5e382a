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

Across chains (the walker's per-VQ state, docs/rtl-interface.md "Chains in flight"), chains are
walked one after another with the context carried and no drop between them unless a test
gives one; every bus read is counted by its access kind (AXI user sideband) and every IOTLB
request recorded (up to three earlier chains still held by the later stages: ``ahead``).
Avail entries and head descriptors read ahead serve the next chains with no
avail-ring read and one descriptor read for up to four heads in table order, ascending or
descending (a driver's last-in first-out free list hands heads out downwards); a read ahead
that faults (unmapped page, SLVERR) is retried as the one item, so only the chain that needs
it faults (a bus error: EIO with IOVA 0, as the engine's other stages report it, stated by
hand, the model knowing no bus errors); tr_flush and ctx_change drop all three; the completion
check's IOTLB requests come only for an element in a new page or straddling one. With the
move stage busy (``hold``) a chain refills them for the next chain while it waits, so that
chain's reads are counted with the chain before it; ``start_ready`` is sampled while the
refill outlives its chain.

What it does not cover (the device's benches do: lockstep, ring cases, UVM): EVENT_IDX's
avail_event write, E2BIG beyond MAX_SEGS, receive frames too big for a chain, a queue that
went to ERR while its chain waited (w_abandon), read-ahead across the ring's or the table's
end, several VQs interleaved, a chain started while a refill runs. The pytest entry is
tests/rtl/test_vdpa_split_ring_walker.py.
"""

from __future__ import annotations

import errno
import random
import struct
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly

from vdpa_model.datapath import RingError, SplitRing
from vdpa_model.dma import AccessLog, DmaPort
from vdpa_model.iotlb import AddressSpace
from vdpa_model.memory import GuestMemory
from vdpa_model.ops import IotlbRange
from vdpa_model.ops import VqObjectState as S
from vdpa_model.spec import (
    VHOST_ACCESS_RO,
    VHOST_ACCESS_RW,
    VRING_AVAIL_IDX_OFF,
    VRING_AVAIL_RING_OFF,
    VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    VRING_DESC_SIZE,
    VRING_DESC_STRUCT,
    VRING_USED_ELEM_SIZE,
    VRING_USED_RING_OFF,
)
from vdpa_tb.nic_tb import param
from vdpa_tb.regmap import REGMAP as RM

from .test_vdpa_ring_port import Iotlb, Range, SlverrRam, port_axi_bus

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
# access kinds of the AXI user sideband (vdpa_model.dma.AccessKind)
K_DESC, K_AVAIL, K_USED, K_INDIRECT = 0, 1, 2, 3
# what the engine's commands drop in a chain's start cycle: a VQ command, an IOTLB command
DROP_ALL = ("ctx_change", "tr_flush")


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
        self.ram = SlverrRam(port_axi_bus(dut, self.beat), dut.clk, dut.rst, MEM_SIZE, self.beat)
        self.ref = GuestMemory(MEM_SIZE)
        self.tlb = Iotlb(ASID, [Range(g, w, 0, MEM_SIZE, 0) for g in ASID for w in (False, True)])
        # the queue's areas and ring group (tests that need rings across pages move them)
        self.areas = (DESC, DRV, DEV)
        self.rgroup = RGROUP
        # the model's view of each group's table: None for identity (no hole planted)
        self.model_ranges: dict[int, list[IotlbRange] | None] = {g: None for g in ASID}
        self.cycle = 0
        self.got: dict[str, Any] = {}
        # the IOTLB's answer owed for the request of the cycle before; kept across chains,
        # as the walker's translation of the next buffer page ahead may be out when its chain
        # ends (answered in the next chain's first cycle)
        self.pending: Any = None
        # the IOTLB's stalls (walk's tr_stall), apart from the stimulus streams
        self.stall_rng = random.Random(0x7E57)

    def hole(self, group: int, at: int, length: int, writes_only: bool = False) -> None:
        """IOVAs [at, at + length) of ``group`` refused (only for writing: ``writes_only``),
        the rest mapped one to one, in the bench's IOTLB and the model's table alike."""
        end = at + length
        self.tlb.ranges = [r for r in self.tlb.ranges if r.group != group]
        for w in (False, True):
            self.tlb.ranges += [Range(group, w, 0, at, 0), Range(group, w, end, MEM_SIZE - end, end)]
        rs = [IotlbRange(0, at, 0, VHOST_ACCESS_RW), IotlbRange(end, MEM_SIZE - end, end,
                                                                VHOST_ACCESS_RW)]
        if writes_only:
            self.tlb.ranges.append(Range(group, False, at, length, at))
            rs.append(IotlbRange(at, length, at, VHOST_ACCESS_RO))
        self.model_ranges[group] = rs

    def map_all(self, group: int) -> None:
        """``group`` maps every IOVA one to one again (no hole)."""
        self.tlb.ranges = [r for r in self.tlb.ranges if r.group != group] + [
            Range(group, w, 0, MEM_SIZE, 0) for w in (False, True)]
        self.model_ranges[group] = None

    def space(self, group: int) -> AddressSpace:
        s = AddressSpace(ASID[group])
        rs = self.model_ranges[group]
        if rs is not None:
            s.leave_passthrough()
            for r in rs:
                s.table.add_range(r)
        return s

    async def reset(self) -> None:
        self.pending = None
        self.dut.tr_resp_valid.value = 0
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
        ring = DmaPort(self.ref, self.space(self.rgroup), 0, log)
        data = DmaPort(self.ref, self.space(DGROUP), 0, log)
        return SplitRing(ring, data, *self.areas, size, False)

    async def walk(self, size: int, last_avail: int, rx: bool, limit: int = 3000,
                   drop: tuple[str, ...] = DROP_ALL, used: int = 0, seen: int | None = None,
                   ahead: int = 0, hold: int = 0, late_drop: tuple[str, ...] = (),
                   asks: int | None = None, take_at_hand: bool = False,
                   beside: bool = False, tr_stall: float = 0.0) -> dict[str, Any]:
        """One chain: the context held (last_avail, used index, and avail.idx as last seen,
        or None), one start, the walker run back to idle, every event, every AXI access by
        kind (``ar``/``aw``: (kind, address, beats)), every IOTLB request (``tr``: (group,
        write, iova, length)), the fault or the hand-off, and the handed-over segment list
        read back. ``drop`` names the pulses (ctx_change, tr_flush) given in the start cycle:
        by default both, as the engine's commands give them when the ring was rewritten since
        the last chain; none lets the walker keep what it read ahead. ``ahead`` of the
        chains before this one are still held by the later stages: the context's last_avail
        and used index are that many behind the walker's. ``hold``: the move stage is busy
        (h_ready low) for that many cycles after the chain is offered, so the walker refills
        what it reads ahead meanwhile; ``late_drop`` names the pulses given in the cycle after
        the offer, while that refill is at the port. Once the chain is handed over, the run
        goes on while the walker is busy (a refill): each cycle ``start_ready`` is sampled for
        one of this queue's TX chain, another queue's and a received frame, in turn
        (``ready``: (vq, rx, start_ready); start_valid stays low). ``offer_after``: cycles
        from the start taken to the chain's first offer (h_valid); ``walk_reads``: the reads
        from the start up to that offer, the walk's own (a refill this chain starts comes
        after it; one started before it has ended, unless the walk went on ``beside`` it).
        ``asks``: until the hand-off the scheduler asks for that VQ's TX chain (start_valid
        high; the walker, busy, takes nothing), and in the hand-off's cycle it only looks:
        ``ready_at_hand`` is start_ready for that chain then, with start_valid low (whether
        the walker would start it with no E_IDLE between; ``take_at_hand``: it does, and the
        run ends in the next cycle, the walker in E_START; ``next_started`` says whether it
        did). ``beside``: return
        as soon as the chain is handed over while a refill runs that admits this queue's next
        chain in the same direction (``beside`` in the record), so the next walk starts beside
        it. ``tr_stall``:
        the IOTLB takes a request only in that share of cycles (at random), so a request may
        wait while another asks."""
        d = self.dut
        await FallingEdge(d.clk)
        d.ctx_state.value, d.ctx_size.value = S.RDY, size
        d.ctx_desc.value, d.ctx_drv.value, d.ctx_dev.value = self.areas
        d.ctx_avail.value = (last_avail - ahead) & 0xFFFF
        d.ctx_used.value, d.ahead.value = (used - ahead) & 0xFFFF, ahead
        d.ctx_seen.value, d.ctx_seen_ok.value = (0, 0) if seen is None else (seen, 1)
        d.ctx_dgroup.value, d.ctx_rgroup.value = DGROUP, self.rgroup
        d.back_idle.value, d.h_ready.value, d.tr_req_ready.value = 1, int(hold == 0), 1
        d.rx_need.value = 0
        got: dict[str, Any] = {"consume": 0, "seen": [], "ift_set": [], "ift_clr": [],
                               "fault": None, "hand": None, "ar": [], "aw": [], "tr": [],
                               "ready": [], "ready_at_hand": None, "next_started": False}
        started = False
        offered: int | None = None     # the cycle the chain was first offered (h_valid)
        got["beside"] = False
        probe = [(0, 0), (1, 0), (0, 1)]
        for _ in range(limit):
            await FallingEdge(d.clk)
            if got["hand"] is not None and take_at_hand and got["ready_at_hand"]:
                # the walker took the next chain at the hand-off: it is in E_START now
                got["next_started"] = int(d.ev_consume.value) == 1
                d.start_valid.value = 0
                break
            asking = asks is not None and started
            # the hand-off's cycle (the walker offers and the move stage takes): the start is
            # only looked at there, unless it is to be taken
            handing = (asking and got["hand"] is None and int(d.h_valid.value) == 1 and
                       (hold == 0 or (offered is not None and self.cycle + 1 >= offered + hold)))
            d.start_valid.value = int(not started or (asking and got["hand"] is None and
                                                      (take_at_hand or not handing)))
            # (self.cycle is the cycle last sampled; these inputs are for the next)
            late = offered is not None and self.cycle == offered
            for name in DROP_ALL:
                getattr(d, name).value = int((not started and name in drop) or
                                             (late and name in late_drop))
            d.h_ready.value = int(hold == 0 or (offered is not None and
                                                self.cycle + 1 >= offered + hold))
            d.start_vq.value, d.start_rx.value = (asks, 0) if asking else (0, int(rx))
            if got["hand"] is not None:
                d.start_vq.value, d.start_rx.value = probe[self.cycle % 3]
            d.tr_req_ready.value = int(self.stall_rng.random() >= tr_stall)
            if self.pending is not None:
                a = self.pending
                d.tr_resp_valid.value, d.tr_resp_ok.value = 1, int(a.ok)
                d.tr_resp_pa.value, d.tr_resp_len.value, d.tr_resp_asid.value = \
                    a.pa, a.length, a.asid
                self.pending = None
            else:
                d.tr_resp_valid.value = 0
            await ReadOnly()
            self.cycle += 1
            busy = int(d.busy.value)
            # (in the start cycle too: a refill beside this walk may ask then)
            if int(d.tr_req_valid.value) and int(d.tr_req_ready.value):
                got["tr"].append((int(d.tr_req_group.value), int(d.tr_req_write.value),
                                  int(d.tr_req_iova.value), int(d.tr_req_len.value)))
                self.pending = self.tlb.answer(int(d.tr_req_group.value), bool(int(d.tr_req_write.value)),
                                          int(d.tr_req_iova.value), int(d.tr_req_len.value))
            if not started:
                started = True
                start_cycle = self.cycle
                continue
            if not busy:
                break
            for ch in ("ar", "aw"):
                if int(getattr(d, f"axi_{ch}valid").value) and int(getattr(d, f"axi_{ch}ready").value):
                    got[ch].append((int(d.axi_user.value) >> 16 & 7,
                                    int(getattr(d, f"axi_{ch}addr").value),
                                    int(getattr(d, f"axi_{ch}len").value) + 1))
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
            if got["hand"] is not None:
                got["ready"].append((int(d.start_vq.value), int(d.start_rx.value),
                                     int(d.start_ready.value)))
                if (beside and int(d.refilling.value) and int(d.start_ready.value) and
                        (int(d.start_vq.value), int(d.start_rx.value)) == (0, int(rx))):
                    got["beside"] = True
                    break
            if int(d.h_valid.value) and offered is None:
                offered = self.cycle
                got["walk_reads"] = len(got["ar"])
            if int(d.h_valid.value) and int(d.h_ready.value):
                assert got["hand"] is None, "the chain was handed over twice"
                if asks is not None:
                    got["ready_at_hand"] = int(d.start_ready.value)
                got["hand"] = {"head": int(d.head.value), "rx": int(d.rx.value),
                               "bank": int(d.h_bank.value), "total": int(d.h_total.value),
                               "asid": int(d.h_asid.value)}
        else:
            raise AssertionError(f"the walker did not return to idle in {limit} cycles")
        if got["beside"]:
            # the refill goes on: nothing is answered or taken while the segments are read
            # back (an answer due is given in the next walk's first cycle)
            await FallingEdge(d.clk)
            d.tr_resp_valid.value, d.tr_req_ready.value = 0, 0
            d.start_valid.value = 0
        if offered is not None:
            got["offer_after"] = offered - start_cycle
        if got["hand"] is not None:
            got["segs"] = await self.segments(got["hand"]["bank"], got["hand"]["total"])
        if got["seen"]:
            got["last_seen"] = got["seen"][-1]
        return got

    @staticmethod
    def count(got: dict[str, Any], kind: int) -> int:
        """Bus reads of one access kind the chain made."""
        return sum(1 for k, _, _ in got["ar"] if k == kind)

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
            self.poke(self.areas[1] + VRING_AVAIL_RING_OFF + 2 * slot, struct.pack("<H", h))
        new = (last_avail + len(heads)) & 0xFFFF if idx is None else idx
        self.poke(self.areas[1] + VRING_AVAIL_IDX_OFF, struct.pack("<H", new))

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
        tb.desc(tb.areas[0], head, table, 16 * n, VRING_DESC_F_INDIRECT, 0)
        return head, True
    idx = [head, *rng.sample([i for i in range(size) if i != head], min(n, size) - 1)]
    for k, i in enumerate(idx):
        last = k == len(idx) - 1
        tb.desc(tb.areas[0], i, addrs[k], lens[k], flags | (0 if last else VRING_DESC_F_NEXT),
                0 if last else idx[k + 1])
    return head, False


async def check_chain(tb: TB, size: int, last_avail: int, rx: bool, what: str,
                      **walk: Any) -> str:
    """Walk the published chain on the DUT and on the model; compare. Returns the outcome
    (the walk's record is in ``tb.got``); ``walk`` goes to :meth:`TB.walk`."""
    model = tb.model_ring(size)
    want_err: int | None = None
    want_iova: int | None = None
    chain = None
    try:
        avail = model.avail_idx()
        if ((avail - last_avail) & 0xFFFF) > size:
            want_err = errno.EFAULT    # vhost_get_vq_desc: "Guest moved avail index"
        else:
            chain = model.walk(model.head_at(last_avail), allow_read=not rx, allow_write=rx)
            model.check_completion(walk.get("used", 0))
    except RingError as e:
        want_err = e.errno
        if e.fault is not None:
            want_iova = e.fault.iova
    got = tb.got = await tb.walk(size, last_avail, rx, **walk)
    assert got["consume"] == 1, f"{what}: {got['consume']} kicks consumed"
    if want_err is not None:
        assert got["hand"] is None, f"{what}: a chain the model refuses ({want_err}) moved on"
        assert got["fault"] is not None and got["fault"]["errno"] == want_err, \
            f"{what}: fault {got['fault']}, the model's errno {want_err}"
        if want_iova is not None:
            # a translation fault names the item the model's TranslationFault names
            assert (got["fault"]["iova"], got["fault"]["xlate"]) == (want_iova, 1), \
                f"{what}: fault {got['fault']}, the model's iova {want_iova:#x}"
        assert len(got["ift_clr"]) == 0 and len(got["ift_set"]) <= 1
        return "fault"
    assert chain is not None and got["fault"] is None, f"{what}: fault {got['fault']}"
    hand = got["hand"]
    assert hand is not None, f"{what}: nothing handed over: {got}"
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


# -- across chains: what the walker reads ahead or knows, kept and dropped -------------------
async def seeded(dut: Any, what: str) -> tuple[TB, random.Random, int]:
    """A bench out of reset and a random stream seeded from cocotb's (the seed logged as
    ``what``, so a failure names it)."""
    tb = TB(dut)
    await tb.reset()
    base = random.getrandbits(32)
    dut._log.info("%s: seed %d", what, base)
    return tb, random.Random(base), base


def used_area(tb: TB, size: int) -> tuple[int, int]:
    """The used ring's IOVAs: flags, idx and the elements."""
    dev = tb.areas[2]
    return dev, dev + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * size


def probes(tb: TB, got: dict[str, Any], size: int) -> int:
    """IOTLB requests the chain made for writing into the used ring (the completion check's
    translate-only requests; the walker writes nothing else there with EVENT_IDX off)."""
    lo, hi = used_area(tb, size)
    return sum(1 for g, w, iova, _ in got["tr"] if w and g == tb.rgroup and lo <= iova < hi)


async def run_chains(tb: TB, size: int, last: int, rx: bool, n: int, what: str,
                     drops: dict[int, tuple[str, ...]] | None = None, hold: int = 0,
                     late_drops: dict[int, tuple[str, ...]] | None = None,
                     asks: int | None = None, **walk: Any) -> list[tuple[str, Any]]:
    """``n`` published chains from ``last`` walked one after another as the engine serves a
    queue: the first on a freshly written ring (both drops), each later one with only the
    pulses ``drops`` names for it, the context carried (last_avail and the used index one
    further per chain handed over, as if each were completed at once; avail.idx as last
    seen; up to three of the chains before it still held by the later stages, at random).
    ``hold``, ``asks``, ``late_drops`` (by chain) and ``walk`` go to :meth:`TB.walk`. Each
    is compared with the model; stops at the first fault. Returns each chain's outcome and record."""
    out: list[tuple[str, Any]] = []
    seen: int | None = None
    for k in range(n):
        drop = DROP_ALL if k == 0 else (drops or {}).get(k, ())
        o = await check_chain(tb, size, (last + k) & 0xFFFF, rx, f"{what} chain {k}",
                              drop=drop, used=k, seen=seen, ahead=random.randrange(min(k, 3) + 1),
                              hold=hold, late_drop=(late_drops or {}).get(k, ()),
                              asks=asks, **walk)
        seen = tb.got.get("last_seen", seen)
        out.append((o, tb.got))
        if o == "fault":
            break
    return out


def one_buffer(tb: TB, rng: random.Random, i: int, rx: bool, nxt: int | None = None) -> None:
    """Descriptor ``i`` of the queue's table: one buffer, chaining to ``nxt`` if given."""
    tb.desc(tb.areas[0], i, BUFS + rng.randrange(0, MEM_SIZE - BUFS - 4 * PAGE),
            rng.choice([1, 64, 1500, PAGE + 7]),
            (VRING_DESC_F_WRITE if rx else 0) | (0 if nxt is None else VRING_DESC_F_NEXT),
            nxt or 0)


@cocotb.test()
async def test_read_ahead_across_chains(dut):
    """Avail entries and head descriptors read ahead serve the next chains of the queue.
    Eight chains published at once: the first reads avail.idx and the entries, the seven
    after it take their heads with no avail-ring access. Heads in table order (h, h+1, ...,
    or h+7, h+6, ..., h): one descriptor read brings four heads, so eight chains make two;
    heads out of order: a read of one descriptor each. Heads in order whose chains go on
    (NEXT) or are indirect still read their next descriptors and their tables. A chain
    refills at its hand-off (test_refill_while_move_stage_busy), so the reads move to the
    chain before: in table order, chain 2 reads on past chain 3's head, the last held, the
    three after it, and chain 5 reads chain 7's, the last published; out of order, each chain
    reads the next one's head. Every chain is the model's."""
    tb, rng, base = await seeded(dut, "walker read-ahead")
    size = 64
    for rnd in range(6):
        rx = rng.random() < 0.5
        # eight entries from a slot that leaves them all before the ring's end
        last = (rng.randrange(1 << 10) * size + rng.randrange(size - 7)) & 0xFFFF
        what = f"seed {base} round {rnd} ({'RX' if rx else 'TX'})"
        if rnd % 3 == 0:
            # round 0 ascending, round 3 descending
            h = rng.randrange(size - 7)
            heads = [h + k for k in range(8)][::-1 if rnd else 1]
            for i in heads:
                one_buffer(tb, rng, i, rx)
            tb.publish(size, last, heads)
            res = await run_chains(tb, size, last, rx, 8, what + " in order")
            assert [o for o, _ in res] == ["handed"] * 8, res
            assert [tb.count(g, K_AVAIL) for _, g in res] == [2] + [0] * 7, \
                (what, [g["ar"] for _, g in res])
            # (chain, the first of the heads its read brings, how many)
            runs_read = [(0, 0, 4), (2, 4, 3), (5, 7, 1)]
            want = [0] * 8
            for k, _, _ in runs_read:
                want[k] = 1
            assert [tb.count(g, K_DESC) for _, g in res] == want, \
                (what, [g["ar"] for _, g in res])
            for k, first, n in runs_read:
                (_, addr, beats), = [a for a in res[k][1]["ar"] if a[0] == K_DESC]
                lo = min(heads[first:first + n])
                assert addr <= DESC + 16 * lo and \
                    addr + beats * tb.beat >= DESC + 16 * (lo + n), (what, k, addr, beats)
        elif rnd % 3 == 1:
            # no head follows the one before it in the table
            heads = rng.sample(range(0, size, 2), 8)
            for i in heads:
                one_buffer(tb, rng, i, rx)
            tb.publish(size, last, heads)
            res = await run_chains(tb, size, last, rx, 8, what + " out of order")
            assert [o for o, _ in res] == ["handed"] * 8, res
            assert [tb.count(g, K_AVAIL) for _, g in res] == [2] + [0] * 7, what
            descs = [[a for a in g["ar"] if a[0] == K_DESC] for _, g in res]
            # the heads whose descriptor each chain reads: the first its own and the next
            # one's, each after it the next one's (its refill at the hand-off)
            want_heads = [heads[0:2] if k == 0 else heads[k + 1:k + 2] for k in range(8)]
            assert all(len(d) == len(hs) and all(
                a <= DESC + 16 * h and a + beats * tb.beat < DESC + 16 * h + 16 + tb.beat
                for (_, a, beats), h in zip(d, hs, strict=True))
                for d, hs in zip(descs, want_heads, strict=True)), (what, heads, descs)
        else:
            # h, h+1, h+2, h+3 read ahead together; h+1 chains on to a descriptor outside
            # them, h+2 is an indirect table of n
            h = rng.randrange(size - 12)
            j, n = h + 4 + rng.randrange(size - h - 4), rng.randrange(1, 5)
            one_buffer(tb, rng, h, rx)
            one_buffer(tb, rng, h + 1, rx, nxt=j)
            one_buffer(tb, rng, j, rx)
            table = TABLES + 16 * rng.randrange(64)
            for k in range(n):
                tb.desc(table, k, BUFS + rng.randrange(0, MEM_SIZE - BUFS - 4 * PAGE),
                        rng.choice([1, 64, 1500]),
                        (VRING_DESC_F_WRITE if rx else 0) |
                        (VRING_DESC_F_NEXT if k < n - 1 else 0), k + 1 if k < n - 1 else 0)
            tb.desc(DESC, h + 2, table, 16 * n, VRING_DESC_F_INDIRECT, 0)
            one_buffer(tb, rng, h + 3, rx)
            tb.publish(size, last, [h, h + 1, h + 2, h + 3])
            res = await run_chains(tb, size, last, rx, 4, what + " chained on")
            assert [o for o, _ in res] == ["handed"] * 4, res
            assert [tb.count(g, K_DESC) for _, g in res] == [1, 1, 0, 0], \
                (what, [g["ar"] for _, g in res])
            assert next(a[1] for a in res[1][1]["ar"] if a[0] == K_DESC) <= DESC + 16 * j, what
            assert [tb.count(g, K_INDIRECT) for _, g in res] == [0, 0, n, 0], \
                (what, [g["ar"] for _, g in res])


@cocotb.test()
async def test_refill_while_move_stage_busy(dut):
    """A chain whose hand-off waits (the move stage busy) reads, for the next chain of its
    queue, what that chain would read first, and that chain then reads nothing itself. With
    both held it reads again, from the next chain's, what would otherwise run out: the avail
    entries when those held end less than a run of four descriptors after the descriptors
    held (and more are published), else the head descriptors after the next chain's when
    its is the last of the run held (and the next heads follow it in the table: that one is
    kept, not read again). Heads in table order, twelve published: chain 2 reads the run on
    past chain 3's head (4..6) and then the entries from chain 3's (3..10), chain 5 the run
    past chain 6's (7..9) and the entries from chain 6's (to 11, the last published), chain
    8 the run past chain 9's (10, 11). Out of order: each
    chain's 16-byte head descriptor is read with the chain before it. Every chain is the
    model's. With the hand-off a cycle after the offer the refill outlives its chain, one
    refill a chain: chain 2 the run past chain 3's, chain 3 the entries from chain 4's, chain
    5 the run past chain 6's, chain 8 past chain 9's; each reads again what is held, so it
    admits the next chain of its queue (which finds its own items held), another queue's,
    and a received frame, whose walks go on beside it. A tr_flush or ctx_change pulse while
    the refill is at the port drops what it read: the next chain reads its entries and
    descriptors itself, unless its chain still waits and refills again. A receive chain
    refills as a transmit one does. With the move stage never busy, every chain refills at
    its hand-off all the same, whatever the scheduler asks for next: the next walk of the
    queue finds its items read ahead, as with the hand-off a cycle late."""
    tb, rng, base = await seeded(dut, "walker refill")
    size = 64

    def fresh(n: int, in_order: bool, rx: bool = False, down: bool = False
              ) -> tuple[int, list[int]]:
        """``n`` one-buffer chains published from a slot that leaves them all before the
        ring's end; heads h, h+1, ... (h+n-1, h+n-2, ... if ``down``) or all even (none
        follows another in the table)."""
        last = (rng.randrange(1 << 10) * size + rng.randrange(size - n + 1)) & 0xFFFF
        if in_order:
            h = rng.randrange(size - n + 1)
            heads = [h + k for k in range(n)][::-1 if down else 1]
        else:
            heads = rng.sample(range(0, size, 2), n)
        for i in heads:
            one_buffer(tb, rng, i, rx)
        tb.publish(size, last, heads)
        return last, heads

    def reads(res: list[tuple[str, Any]], kind: int) -> list[int]:
        assert [o for o, _ in res] == ["handed"] * len(res), res
        return [tb.count(g, kind) for _, g in res]

    def covers(got: dict[str, Any], first: int, n: int) -> bool:
        """The chain's last descriptor read spans descriptors first..first+n-1 (table order),
        no more than a beat beyond."""
        _, addr, beats = [a for a in got["ar"] if a[0] == K_DESC][-1]
        lo, hi = DESC + 16 * first, DESC + 16 * (first + n)
        return addr <= lo and hi <= addr + beats * tb.beat < hi + tb.beat

    # reads of each kind by chain, with the move stage holding every chain (held) or taking
    # it a cycle after its offer (one refill a chain)
    want_desc = [1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0]
    want_avail_held = [2, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    want_avail_quick = [2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    last, heads = fresh(12, True)
    res = await run_chains(tb, size, last, False, 12, f"seed {base} in order", hold=40)
    assert reads(res, K_DESC) == want_desc, [g["ar"] for _, g in res]
    assert reads(res, K_AVAIL) == want_avail_held, [g["ar"] for _, g in res]
    # chain 2's entry read comes after its run's, from chain 3's entry; each run read on
    # past the next chain's head, held, brings only the heads after it
    assert [a[0] for a in res[2][1]["ar"]] == [K_DESC, K_AVAIL], res[2][1]["ar"]
    assert covers(res[2][1], heads[4], 3) and covers(res[5][1], heads[7], 3) and \
        covers(res[8][1], heads[10], 2), [g["ar"] for _, g in res]

    # the same heads handed out downwards: each refill reads its run from the lowest
    last, heads = fresh(12, True, down=True)
    res = await run_chains(tb, size, last, False, 12, f"seed {base} descending", hold=40)
    assert reads(res, K_DESC) == want_desc, [g["ar"] for _, g in res]
    assert covers(res[2][1], heads[6], 3) and covers(res[5][1], heads[9], 3) and \
        covers(res[8][1], heads[11], 2), [g["ar"] for _, g in res]

    last, heads = fresh(8, False)
    res = await run_chains(tb, size, last, False, 8, f"seed {base} out of order", hold=40)
    assert reads(res, K_DESC) == [2, 1, 1, 1, 1, 1, 1, 0], [g["ar"] for _, g in res]
    assert all(covers(res[k][1], heads[k + 1], 1) for k in range(7)), \
        (heads, [g["ar"] for _, g in res])

    # the hand-off a cycle after the offer: the refill outlives its chain, and the one its
    # hand-off could not start (the entries from chain 3's) follows it before the next walk
    # (rf_late), so the reads are the held case's, chain by chain
    last, heads = fresh(12, True)
    res = await run_chains(tb, size, last, False, 12, f"seed {base} quick hand-off", hold=1)
    assert reads(res, K_DESC) == want_desc, [g["ar"] for _, g in res]
    assert reads(res, K_AVAIL) == want_avail_held, [g["ar"] for _, g in res]
    for k, g in enumerate(g for _, g in res):
        ready = g["ready"]
        if k not in (2, 5, 8):
            assert not ready, (k, ready)
            continue
        # every refill here reads again from the next chain's item, held: its head (chain 3's
        # re-read of the entries) or its head descriptor (the others' runs) is at hand, so
        # the walk beside the refill needs nothing of it, and any queue's chain is admitted
        for probe in ((0, 0), (1, 0), (0, 1)):
            seen = [r for vq, rx, r in ready if (vq, rx) == probe]
            assert seen and all(r == 1 for r in seen), (k, probe, ready)

    # a command while chain 2's refill is at the port: with the hand-off a cycle later,
    # chain 3 reads its entries and descriptors itself (3..6) and chain 5 reads the run
    # again from chain 6's; with the move stage still busy, chain 2 refills again, the
    # entries from chain 3's (not held now), then their run
    for pulse in DROP_ALL:
        last, heads = fresh(8, True)
        res = await run_chains(tb, size, last, False, 8, f"seed {base} {pulse} in the refill",
                               hold=1, late_drops={2: (pulse,)})
        assert reads(res, K_DESC) == [1, 0, 1, 1, 0, 1, 0, 0], [g["ar"] for _, g in res]
        assert reads(res, K_AVAIL) == [2, 0, 0, 1, 0, 0, 0, 0], [g["ar"] for _, g in res]
        last, heads = fresh(8, True)
        res = await run_chains(tb, size, last, False, 8, f"seed {base} {pulse} in the refill",
                               hold=40, late_drops={2: (pulse,)})
        assert reads(res, K_DESC) == [1, 0, 2, 0, 0, 1, 0, 0], [g["ar"] for _, g in res]
        assert reads(res, K_AVAIL) == [2, 0, 1, 0, 0, 0, 0, 0], [g["ar"] for _, g in res]

    last, heads = fresh(12, True, rx=True)
    res = await run_chains(tb, size, last, True, 12, f"seed {base} RX", hold=40)
    assert reads(res, K_DESC) == want_desc, [g["ar"] for _, g in res]
    assert reads(res, K_AVAIL) == want_avail_held, [g["ar"] for _, g in res]

    # the move stage never busy: a chain refills at its hand-off all the same, one refill a
    # chain as with the hand-off a cycle late, a receive chain (the next received frame's
    # walk goes on beside it) and a TX chain whatever the scheduler asks for meanwhile
    # (nothing, this queue's next chain or another queue's); a receive chain's hand-off starts
    # the next walk in its own cycle by the TX chains' rule below (the engine's scheduler shows
    # it the frame offered next then): every refill here reads what is held or descriptors
    last, heads = fresh(12, True, rx=True)
    res = await run_chains(tb, size, last, True, 12, f"seed {base} RX at once", asks=0)
    assert reads(res, K_DESC) == want_desc, [g["ar"] for _, g in res]
    assert reads(res, K_AVAIL) == want_avail_quick, [g["ar"] for _, g in res]
    assert [g["ready_at_hand"] for _, g in res] == [1] * 12, [g["ready_at_hand"] for _, g in res]
    for asks in (None, 0, 1):
        last, heads = fresh(12, True)
        res = await run_chains(tb, size, last, False, 12, f"seed {base} asks {asks}", asks=asks)
        assert reads(res, K_DESC) == want_desc, (asks, [g["ar"] for _, g in res])
        assert reads(res, K_AVAIL) == want_avail_quick, (asks, [g["ar"] for _, g in res])
        assert covers(res[2][1], heads[4], 3) and covers(res[5][1], heads[7], 3) and \
            covers(res[8][1], heads[10], 2), (asks, [g["ar"] for _, g in res])
        # the next TX chain would start in the hand-off's cycle: another queue's always, this
        # queue's unless the refill that starts there reads avail entries the walker does not
        # hold (the next walk needs them; here every refill reads what is held or descriptors)
        at_hand = [g["ready_at_hand"] for _, g in res]
        assert at_hand == ([None] * 12 if asks is None else [1] * 12), (asks, at_hand)


@cocotb.test()
async def test_start_at_handoff(dut):
    """A TX chain handed over starts the next TX chain the scheduler asks for in the same
    cycle, with no E_IDLE between: another queue's always; its own queue's unless the refill
    that starts there reads avail entries the walker does not hold, which that chain's walk
    would need (E_IDLE's rule for a walk beside a refill). A receive chain's hand-off starts
    one by the same rule (the engine's scheduler weighs the frame offered next in that cycle,
    not the one handed over). Heads out of table order,
    twelve published: every hand-off refills the next chain's head descriptor, but chain 7's
    refills the entries after the eight the first walk read, so chain 7 alone does not admit
    its queue's next chain. Each chain is the model's; taken, the next walk starts at once
    and is walked to its hand-off in turn."""
    tb, rng, base = await seeded(dut, "start at the hand-off")
    size = 64

    def fresh(rx: bool) -> int:
        last = (rng.randrange(1 << 10) * size + rng.randrange(size - 12 + 1)) & 0xFFFF
        heads = rng.sample(range(0, size, 2), 12)
        for i in heads:
            one_buffer(tb, rng, i, rx)
        tb.publish(size, last, heads)
        return last

    for asks, want in ((1, [1] * 12), (0, [1] * 7 + [0] + [1] * 4)):
        last = fresh(False)
        res = await run_chains(tb, size, last, False, 12, f"seed {base} asks {asks}", asks=asks)
        assert [o for o, _ in res] == ["handed"] * 12, (asks, res)
        assert [g["ready_at_hand"] for _, g in res] == want, \
            (asks, [g["ready_at_hand"] for _, g in res])
    # taken: the walker is in E_START (the kick consumed) the cycle after the hand-off
    for asks in (1, 0):
        last = fresh(False)
        assert await check_chain(tb, size, last, False, f"seed {base} take {asks}",
                                 asks=asks, take_at_hand=True) == "handed"
        assert tb.got["ready_at_hand"] == 1 and tb.got["next_started"], (asks, tb.got)
        # the chain it started (the context unchanged: the same avail position) is walked
        # and handed over in turn
        assert (await tb.walk(size, last, False, drop=()))["hand"] is not None, asks
    last = fresh(True)
    assert await check_chain(tb, size, last, True, f"seed {base} take after RX",
                             asks=0, take_at_hand=True) == "handed"
    assert tb.got["ready_at_hand"] == 1 and tb.got["next_started"], tb.got
    # the TX chain it started meets the receive ring's device-writable buffer: it faults,
    # hands nothing over, and the walker is idle again
    after = await tb.walk(size, last, False, drop=())
    assert after["hand"] is None and after["fault"] is not None, after


@cocotb.test()
async def test_walks_beside_a_refill(dut):
    """A chain started while the background refill of its own queue is still at the port
    (after a descriptor refill, or beside a re-read of avail entries or head descriptors it
    already holds) walks exactly as the model's, with the IOTLB taking a request only now and
    then, so that the refill's translation may wait while the walk's buffer page asks.
    Rounds of twelve chains, TX and RX in turn, heads in table order, each buffer on a page
    no chain used before (every walk misses in the buffer cache), a tr_flush at the fourth
    and eighth (the port's cache is emptied, so the refill after it translates too); the
    move stage takes each TX chain a cycle after its offer and each receive chain at once
    (it refills all the same), and the next walk starts as soon as the refill admits it. At
    least one chain a round starts beside a refill. A walk whose item did not wait for the refill's to
    leave the shared port (E_PORT taking the refill's done as its own) fails here and nowhere
    else in this bench. (Whether a starting walk waits for a refill at all is a matter of
    pace, not of what it reads: an item a walk needs that is not held yet it reads itself.)"""
    tb, rng, base = await seeded(dut, "walk beside a refill")
    size, n = 16, 12
    for rnd in range(8):
        rx = rnd % 2 == 1
        last = (rng.randrange(1 << 10) * size + rng.randrange(size - n + 1)) & 0xFFFF
        h = rng.randrange(size - n + 1)
        heads = [h + k for k in range(n)]
        for k, i in enumerate(heads):
            tb.desc(tb.areas[0], i, BUFS + PAGE * (n * rnd + k) + rng.randrange(PAGE - 0x40),
                    rng.choice([64, 76, 1500]), VRING_DESC_F_WRITE if rx else 0, 0)
        tb.publish(size, last, heads)
        res = await run_chains(tb, size, last, rx, n, f"seed {base} round {rnd}",
                               hold=0 if rx else 1,
                               drops={4: ("tr_flush",), 8: ("tr_flush",)}, beside=True,
                               tr_stall=0.5)
        assert [o for o, _ in res] == ["handed"] * n, (base, rnd, res)
        assert any(g["beside"] for _, g in res), (base, rnd)


@cocotb.test()
async def test_buffer_translation_cache(dut):
    """A buffer whose rest lies in a page the walker translated for an earlier chain of its
    queue is translated from its cache, with no IOTLB request, and every segment list is
    still the model's. A miss asks the IOTLB for the rest of the page, so later buffers in it
    hit; as each chain is offered, the page after its last buffer's end is asked for ahead
    unless the cache holds it, so a buffer running past its page takes both pieces from the
    cache; a tr_flush drops what it knows, and the next buffer there asks again. So: chain 0
    asks for its page and, ahead, the next (page 1); chain 1 nothing; chain 2, across the page
    end, nothing for itself and page 2 ahead (it ends in page 1); chain 3 nothing; chain 4,
    after the tr_flush, its page 1 and page 2 ahead again; chain 5 nothing."""
    tb, rng, base = await seeded(dut, "walker buffer cache")
    size = 16
    page = BUFS + PAGE * rng.randrange(64)
    # (offset from `page`, length): two in the page, one running into the next page, then
    # three further on in the next page (the fifth chain after a tr_flush)
    bufs = [(0x10, 64), (0x200, 76), (PAGE - 50, 150), (PAGE + 0x300, 64),
            (PAGE + 0x500, 1500), (PAGE + 0xB00, 12)]
    for i, (off, n) in enumerate(bufs):
        tb.desc(tb.areas[0], i, page + off, n, 0, 0)
    tb.publish(size, 0, list(range(len(bufs))))
    res = await run_chains(tb, size, 0, False, len(bufs), f"seed {base} buffers in two pages",
                           drops={4: ("tr_flush",)})
    assert [o for o, _ in res] == ["handed"] * len(bufs), res
    asks = [[(iova - page, n) for g, _, iova, n in got["tr"] if g == DGROUP] for _, got in res]
    ahead = (2 * PAGE, PAGE)
    assert asks == [[(0x10, PAGE - 0x10), (PAGE, PAGE)], [], [ahead], [],
                    [(PAGE + 0x500, PAGE - 0x500), ahead], []], (base, asks)


@cocotb.test()
async def test_buffers_posted_downward(dut):
    """A queue whose driver posts its buffers downward (each chain's buffer one step below the
    one before, as a driver recycling them last in, first out does) has the page its next
    buffer starts in translated ahead, whole, as each chain is offered, once the walker has
    seen the step: from the fourth chain on, no chain asks the IOTLB for its own buffer, even
    the ones that straddle two pages, and every request is a whole page ahead, the one the
    next chain starts in. 2 KiB buffers, the first at a random offset in either half of its
    page, so every other one straddles a page boundary (the first too, with the upper half),
    TX and RX; every chain is the model's. A walker that only looks upward (past the chain's
    end) misses on every page here, and one whose buffer cache keeps two answers a queue
    misses on every straddled page once the first buffer straddled."""
    tb, rng, base = await seeded(dut, "walker buffers downward")
    size, n, step = 16, 10, 0x800
    for rx in (False, True):
        for half in (0, 1):
            top = (BUFS + PAGE * rng.randrange(n, 64) + step * half +
                   0x10 * rng.randrange(1, step // 0x10))
            starts = [top - step * k for k in range(n)]
            for k, at in enumerate(starts):
                tb.desc(tb.areas[0], k, at, step, VRING_DESC_F_WRITE if rx else 0, 0)
            tb.publish(size, 0, list(range(n)))
            what = f"seed {base} rx={rx} first at {top % PAGE:#x} downward"
            res = await run_chains(tb, size, 0, rx, n, what)
            assert [o for o, _ in res] == ["handed"] * n, res
            asks = [[(iova, length) for g, _, iova, length in got["tr"] if g == DGROUP]
                    for _, got in res]
            for k in range(3, n):
                ahead = (starts[k] - step) & ~(PAGE - 1)
                assert asks[k] in ([], [(ahead, PAGE)]), (what, k, hex(starts[k]), asks)
            # each page the later chains start in was asked for ahead by the chain before them
            # (or was already held): at least one ahead request per two chains
            assert sum(len(a) for a in asks[3:]) >= (n - 3) // 2 - 1, (what, asks)


@cocotb.test()
async def test_read_ahead_chain_walk_cycles(dut):
    """A chain that needs no bus read and no translation (its avail entry and head descriptor
    read ahead, its one buffer in a page the buffer cache holds, its used element in the page
    last checked) is offered to the move stage three cycles after its start is taken: one
    cycle each in E_START (its head, read ahead, checked and taken into flight there) and
    E_DESC_CHK (the descriptor checked and its buffer, one cached piece, taken beside the
    check: handed over from there, with no E_BUF_XL or E_NEXT), then E_MOVE. A chain that
    reads or translates takes longer (the reads
    counted are the walk's own, up to its offer: a receive chain's refill at its hand-off is
    not). TX and RX, eight chains with heads in table order and their buffers in one page,
    so most need nothing; every chain is the model's."""
    tb, rng, base = await seeded(dut, "read-ahead walk cycles")
    size = 16
    for rx in (False, True):
        page = BUFS + PAGE * rng.randrange(64)
        first = rng.randrange(size - 8)
        for k in range(8):
            tb.desc(tb.areas[0], first + k, page + 0x200 * k + rng.randrange(0x80),
                    rng.choice([1, 64, 76, 0x100]), VRING_DESC_F_WRITE if rx else 0, 0)
        tb.publish(size, 0, [first + k for k in range(8)])
        res = await run_chains(tb, size, 0, rx, 8, f"seed {base} rx={rx} in one page")
        assert [o for o, _ in res] == ["handed"] * 8, res
        quiet = [not g["walk_reads"] and not g["tr"] for _, g in res]
        after = [g["offer_after"] for _, g in res]
        # chain 0 reads and translates everything, and TX chain 4 reads the descriptors of
        # 4..7 (RX chain 2 refills them behind it); the others need nothing (at least five of
        # eight, whatever the random ahead)
        assert sum(quiet) >= 5, (base, rx, quiet, after)
        assert all(a == 3 for a, q in zip(after, quiet, strict=True) if q), (base, rx, quiet, after)
        assert all(a > 3 for a, q in zip(after, quiet, strict=True) if not q), \
            (base, rx, quiet, after)


@cocotb.test()
async def test_read_ahead_faults_retried(dut):
    """A read ahead that faults is retried as the one item the chain needs: later avail
    entries or head descriptors on an unmapped page, or on a beat that answers SLVERR, do not
    fault the chains that do not need them (each is handed over as the model walks it); the
    chain that needs the item faults (unmapped: EFAULT naming the item, as the model; SLVERR:
    EIO, docs/rtl-interface.md "Ports"). Run with the move stage taking each chain at once and
    busy for 40 cycles after the offer: a refill that faults (the walker's background read of
    the next chain's items, E_MOVE) is forgotten, so the outcome is the same."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(random.getrandbits(32))
    for hold in (0, 40):
        await faults_retried(tb, rng, hold)


async def faults_retried(tb: TB, rng: random.Random, hold: int) -> None:
    """test_read_ahead_faults_retried with the move stage busy ``hold`` cycles a chain."""
    size = 8
    # avail entries: the ring from slot 6 on is in the next page, which is not mapped
    tb.areas = (DESC, 0x5FF0, DEV)
    tb.hole(RGROUP, 0x6000, PAGE)
    heads = rng.sample(range(size), size)
    for i in heads:
        one_buffer(tb, rng, i, False)
    tb.publish(size, 0, heads)
    res = await run_chains(tb, size, 0, False, size, "avail entries on an unmapped page",
                           hold=hold)
    assert [o for o, _ in res] == ["handed"] * 6 + ["fault"], res
    assert res[-1][1]["fault"]["iova"] == 0x5FF4 + 2 * 6, res[-1][1]["fault"]
    # head descriptors: the table from descriptor 4 on is in the next page, not mapped (RX;
    # TX with the move stage busy, so the refill reads them)
    rx = hold == 0
    tb.areas = (0x1FC0, DRV, DEV)
    tb.hole(RGROUP, 0x2000, PAGE)
    for i in range(size):
        one_buffer(tb, rng, i, rx)
    tb.publish(size, 0, [1, 2, 3, 4, 5])
    res = await run_chains(tb, size, 0, rx, 5, "descriptors on an unmapped page",
                           hold=hold)
    assert [o for o, _ in res] == ["handed"] * 3 + ["fault"], res
    assert res[-1][1]["fault"]["iova"] == 0x2000, res[-1][1]["fault"]
    # the same on beats that answer SLVERR: the model knows no bus errors, so the chain that
    # needs the bad beat is stated by hand (EIO, no hand-off)
    tb.areas = (DESC, DRV, DEV)
    tb.map_all(RGROUP)
    eio = RM.fault["EIO"]
    # head descriptors h..h+3, the beat of h+2 bad: h and h+1 in another beat at every width
    h = 2 + 4 * rng.randrange(size // 4 - 1)
    for i in range(size):
        one_buffer(tb, rng, i, False)
    tb.publish(size, 0, [h, h + 1, h + 2, h + 3])
    bad = (DESC + 16 * (h + 2)) // tb.beat * tb.beat
    tb.ram.bad = {bad}
    res = await run_chains(tb, size, 0, False, 2, "descriptors, SLVERR on a later head's",
                           hold=hold)
    assert [o for o, _ in res] == ["handed"] * 2, res
    got = await tb.walk(size, 2, False, drop=(), used=2, seen=res[-1][1].get("last_seen"),
                        hold=hold)
    assert got["hand"] is None and got["fault"] is not None and \
        (got["fault"]["errno"], got["fault"]["iova"]) == (eio, 0), got["fault"]
    tb.ram.bad = set()
    # avail entries 26..33 of a queue of 64, the beat from slot 30 on bad (64 bytes into the
    # driver area: a beat boundary at every width)
    size, last = 64, 26
    for i in range(size):
        one_buffer(tb, rng, i, False)
    tb.publish(size, last, rng.sample(range(size), 8))
    tb.ram.bad = {DRV + 64}
    res = await run_chains(tb, size, last, False, 4, "avail entries, SLVERR on a later one",
                           hold=hold)
    assert [o for o, _ in res] == ["handed"] * 4, res
    got = await tb.walk(size, last + 4, False, drop=(), used=4,
                        seen=res[-1][1].get("last_seen"), hold=hold)
    assert got["hand"] is None and got["fault"] is not None and \
        (got["fault"]["errno"], got["fault"]["iova"]) == (eio, 0), got["fault"]
    tb.ram.bad = set()


@cocotb.test()
async def test_flush_and_ctx_change_drop(dut):
    """What is read ahead or known is dropped by an IOTLB command (tr_flush) and by a VQ
    command (ctx_change) between chains: the next chain reads its avail entry and its head
    descriptor again and checks the completion's items again (IOTLB requests for writing the
    used ring); the chain after it is served from what that one read."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(random.getrandbits(32))
    size, last = 64, 0
    h = rng.randrange(size - 8)
    heads = [h + k for k in range(8)]
    for i in heads:
        one_buffer(tb, rng, i, False)
    tb.publish(size, last, heads)
    # a second ring group bound to another ASID, the same memory: the VQ command of chain 3
    # moves the rings to it, so the completion check must ask the IOTLB again
    tb.tlb.asid = {**ASID, 3: 5}
    tb.tlb.ranges += [Range(3, w, 0, MEM_SIZE, 0) for w in (False, True)]
    seen: int | None = None
    counts = []
    for k, drop in enumerate([DROP_ALL, ("tr_flush",), (), ("ctx_change",), ()]):
        if k == 3:
            tb.rgroup = 3
        got = await tb.walk(size, last + k, False, drop=drop, used=k, seen=seen)
        seen = got.get("last_seen", seen)
        assert got["hand"] is not None and got["hand"]["head"] == heads[k], (k, got)
        counts.append((tb.count(got, K_AVAIL), tb.count(got, K_DESC), probes(tb, got, size)))
    avail, desc, probe = zip(*counts, strict=True)
    assert avail[1] >= 1 and avail[3] >= 1 and avail[2] == avail[4] == 0, counts
    assert desc[1] == desc[3] == 1 and desc[2] == desc[4] == 0, counts
    assert probe[1] >= 1 and probe[3] >= 1 and probe[2] == probe[4] == 0, counts
    tb.rgroup = RGROUP


@cocotb.test()
async def test_completion_check_skipped(dut):
    """The completion check is skipped by the chains whose used element is in the page the
    last checked one was in: no IOTLB request for them. An element in a new page, or one that
    straddles a page end (offset 0xffc), is checked again; an element whose page refuses
    writes faults the chain EFAULT naming the element, as the model's check_completion, and
    nothing is handed over."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(random.getrandbits(32))
    size = 8
    for i in range(size):
        one_buffer(tb, rng, i, False)
    # elements at 0x...fe8, ff0, ff8, then 0x5000 (a new page), 0x5008 ...; then at 0x...fe4,
    # fec, ff4, ffc (straddling), 0x5004
    for dev, new_page in ((0x4FE4, 3), (0x4FE0, 3)):
        tb.areas = (DESC, DRV, dev)
        tb.publish(size, 0, rng.sample(range(size), 6))
        res = await run_chains(tb, size, 0, False, 6, f"used ring at {dev:#x}")
        assert [o for o, _ in res] == ["handed"] * 6, res
        n = [probes(tb, g, size) for _, g in res]
        assert n[0] >= 1 and n[1] == n[2] == 0 and n[new_page] >= 1, (hex(dev), n)
        if dev == 0x4FE4:
            assert n[4] == n[5] == 0, (hex(dev), n)
    # the element's new page refuses writes (read-only): that chain faults, moves nothing
    tb.areas = (DESC, DRV, 0x4FE4)
    tb.hole(RGROUP, 0x5000, PAGE, writes_only=True)
    tb.publish(size, 0, rng.sample(range(size), 6))
    res = await run_chains(tb, size, 0, False, 6, "element on a read-only page")
    assert [o for o, _ in res] == ["handed"] * 3 + ["fault"], res
    f = res[-1][1]["fault"]
    assert (f["errno"], f["iova"], f["write"], f["asid"]) == \
        (errno.EFAULT, 0x5000, 1, ASID[RGROUP]), f
