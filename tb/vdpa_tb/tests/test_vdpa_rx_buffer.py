# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_rx_buffer alone (the virtqueue engine's receive buffer).

The wire side is driven beat by beat with null bytes scattered through tkeep and idle cycles
between beats; the engine side (q_ready/q_wake, hold, take, tried, claim/free, flush, the read port) is
driven as vdpa_vq_engine drives it. Each frame is checked against what was sent: its length,
tdest, every byte through the read port at every offset a bus beat can start at, and the drop of
a frame too long or empty. With several slots (SLOTS) the bench holds a reference of the
block's documented behaviour at frame level (``RefBuffer``, from the module header, not from its
RTL): which frame is offered in every cycle (the oldest that is the oldest of its tdest and that
the engine would act on: fresh with q_ready, parked with q_wake, any tdest >= NVQ), that it stays
offered while `hold`, that take/tried act on the frame offered the cycle before, that a flush
drops every frame held the cycle before, and that the wire is held off exactly when every slot
holds a frame and no frame is under way. The pytest entry (tests/rtl/test_vdpa_rx_buffer.py)
sweeps SLOTS (1, 2, 4), the bus width (32, 64, 512, and 128) and the buffer size (the builds in
testplan/vdpa_nic_sim.yaml).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from vdpa_tb.nic_tb import param

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the wire is driven beat by beat with a tkeep pattern and idle cycles chosen per beat, and "
    "backpressure, the offered frame, the drop pulse and the read port are checked on exact "
    "edges against a frame-level reference stepped once a cycle; the block is a few frames of "
    "buffer and each test runs a few thousand cycles"
)

CLK_NS = 10

Beat = tuple[int, int, bool]


class TB:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.lanes = param("DATA_W", 64) // 8
        self.max_frame = param("MAX_FRAME", 2048)
        self.slots = param("SLOTS", 4)
        self.nvq = param("NVQ", 8)
        self.all_q = (1 << self.nvq) - 1
        self.drops = 0
        Clock(dut.clk, CLK_NS, unit="ns").start()
        dut.s_axis_rx_tvalid.value = 0
        dut.s_axis_rx_tdata.value = 0
        dut.s_axis_rx_tkeep.value = 0
        dut.s_axis_rx_tlast.value = 0
        dut.s_axis_rx_tdest.value = 0
        dut.q_ready.value = self.all_q
        dut.q_wake.value = self.all_q
        dut.hold.value = 0
        dut.take.value = 0
        dut.tried.value = 0
        dut.flush.value = 0
        dut.claim.value = 0
        dut.claim_next.value = 0
        dut.free.value = 0
        dut.free_slot.value = 0
        dut.rd_claimed.value = 0
        dut.rd_slot.value = 0
        dut.rd_base.value = 0
        cocotb.start_soon(self._count_drops())

    async def _count_drops(self) -> None:
        while True:
            await RisingEdge(self.dut.clk)
            await ReadOnly()
            if self.dut.drop.value:
                self.drops += 1

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    def beats(self, frame: bytes, rng: random.Random, sparse: bool) -> list[Beat]:
        """(tdata, tkeep, tlast) beats carrying ``frame``: each beat keeps a random number of
        bytes in random lanes (none at all now and then) when ``sparse``, else full beats."""
        out = []
        pos = 0
        while True:
            if sparse:
                n = min(rng.choice([0, 1, self.lanes, rng.randint(1, self.lanes)]), len(frame) - pos)
            else:
                n = min(self.lanes, len(frame) - pos)
            lanes = sorted(rng.sample(range(self.lanes), n)) if sparse else list(range(n))
            data = bytearray(rng.randbytes(self.lanes))  # null lanes carry garbage
            keep = 0
            for k, lane in enumerate(lanes):
                data[lane] = frame[pos + k]
                keep |= 1 << lane
            pos += n
            last = pos == len(frame)
            out.append((int.from_bytes(data, "little"), keep, last))
            if last:
                return out

    async def send(self, frame_beats: list[Beat], dest: int,
                   rng: random.Random, idle: float) -> None:
        """Drive the beats, holding each until it is taken; idle cycles between beats."""
        dut = self.dut
        await FallingEdge(dut.clk)
        for data, keep, last in frame_beats:
            while rng.random() < idle:
                dut.s_axis_rx_tvalid.value = 0
                await RisingEdge(dut.clk)
            dut.s_axis_rx_tdata.value = data
            dut.s_axis_rx_tkeep.value = keep
            dut.s_axis_rx_tlast.value = int(last)
            dut.s_axis_rx_tdest.value = dest
            dut.s_axis_rx_tvalid.value = 1
            while True:
                await RisingEdge(dut.clk)
                if dut.s_axis_rx_tready.value:
                    break
        dut.s_axis_rx_tvalid.value = 0

    async def read(self, base: int) -> bytes:
        """One beat of the offered frame from the read port, starting at frame byte ``base``."""
        await FallingEdge(self.dut.clk)
        self.dut.rd_base.value = base & 0xFFFF_FFFF
        await ReadOnly()
        return int(self.dut.rd_data.value).to_bytes(self.lanes, "little")

    async def pulse(self, name: str) -> None:
        await FallingEdge(self.dut.clk)
        getattr(self.dut, name).value = 1
        await FallingEdge(self.dut.clk)
        getattr(self.dut, name).value = 0

    async def set_queues(self, ready: int, wake: int) -> None:
        await FallingEdge(self.dut.clk)
        self.dut.q_ready.value = ready
        self.dut.q_wake.value = wake

    async def offered(self) -> tuple[int, int, int] | None:
        """(tdest, length, fresh) of the offered frame, or None when none is."""
        await ReadOnly()
        if not self.dut.full.value:
            return None
        return int(self.dut.vq.value), int(self.dut.len.value), int(self.dut.fresh.value)

    def q_bit(self, dest: int) -> int:
        return 1 << dest

    async def check_offered(self, frame: bytes, dest: int, fresh: int = 1) -> None:
        """``frame`` is the offered frame, in every cycle the read port is walked over it: flags,
        length, tdest and every byte (returns in the read-only phase, as :meth:`offered` does)."""
        dut = self.dut
        # every beat start a DMA write can have: header offsets push the frame off the lanes,
        # so the engine reads from any byte, including before the frame (the header's lanes)
        bases = sorted({0, len(frame) - 1, *(range(-self.lanes, len(frame), max(1, len(frame) // 7)))})
        for base in bases:
            got = await self.read(base)
            assert dut.full.value == 1, f"no frame offered, {len(frame)}-byte frame to {dest} expected"
            assert int(dut.fresh.value) == fresh, f"fresh {int(dut.fresh.value)}, {fresh} expected"
            assert int(dut.len.value) == len(frame), (int(dut.len.value), len(frame))
            assert int(dut.vq.value) == dest, (int(dut.vq.value), dest)
            for j in range(self.lanes):
                p = base + j
                if 0 <= p < len(frame):
                    assert got[j] == frame[p], f"byte {p} of {len(frame)}: {got[j]:#x} != {frame[p]:#x}"

    async def check_held(self, frame: bytes, dest: int, held: int = 1) -> None:
        """The only frame offered is ``frame`` as sent; ``held`` frames are held in all, so the
        wire is held off exactly when that is every slot."""
        await self.check_offered(frame, dest)
        assert self.dut.receiving.value == 0
        assert int(self.dut.s_axis_rx_tready.value) == int(held < self.slots), (
            f"tready {int(self.dut.s_axis_rx_tready.value)} with {held} of {self.slots} slots held")


def frame_lengths(tb: TB, rng: random.Random) -> list[int]:
    edges = [1, tb.lanes - 1, tb.lanes, tb.lanes + 1, tb.max_frame - 1, tb.max_frame]
    return [n for n in edges if n >= 1] + [rng.randint(1, tb.max_frame) for _ in range(16)]


@cocotb.test()
async def test_frames_held_and_read(dut):
    """Frames of every edge length, sparse and full tkeep, idle and back-to-back: each is held
    byte-exact with its tdest; tried parks it (fresh clears) and it is offered again only while
    its tdest is woken (a tdest >= NVQ always is); take frees the slot."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(1)
    for i, n in enumerate(frame_lengths(tb, rng)):
        frame = rng.randbytes(n)
        dest = rng.randrange(tb.nvq) if i % 3 else rng.randrange(256)
        sparse = i % 2 == 1
        await tb.send(tb.beats(frame, rng, sparse), dest, rng, idle=0.3 if i % 3 else 0.0)
        await tb.check_held(frame, dest)
        # with no wake for its tdest, the parked frame is not offered
        await tb.set_queues(tb.all_q, tb.all_q & ~(tb.q_bit(dest) if dest < tb.nvq else 0))
        await tb.pulse("tried")
        got = await tb.offered()
        if dest < tb.nvq:
            assert got is None, f"parked frame to {dest} offered without a wake: {got}"
            assert dut.s_axis_rx_tready.value == int(tb.slots > 1), "parked frame: slot still held"
            await tb.set_queues(tb.all_q, tb.all_q)
        await tb.check_offered(frame, dest, fresh=0)
        await tb.pulse("take")
        await ReadOnly()
        assert dut.full.value == 0 and dut.s_axis_rx_tready.value == 1, "take must free it"
    assert tb.drops == 0


@cocotb.test()
async def test_too_long_and_empty_frames_dropped(dut):
    """A frame one byte over MAX_FRAME, one far over, and one with no byte are each dropped at
    their tlast (one drop pulse, nothing held); the next frame is received whole."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(2)
    expected = 0
    for n, sparse in ((tb.max_frame + 1, False), (2 * tb.max_frame + 3, True), (0, False)):
        # the empty frame: one beat, no byte kept, tlast
        beats = (tb.beats(rng.randbytes(n), rng, sparse) if n
                 else [(rng.getrandbits(8 * tb.lanes), 0, True)])
        await tb.send(beats, 3, rng, idle=0.2)
        await ClockCycles(dut.clk, 2)
        await ReadOnly()
        expected += 1
        assert tb.drops == expected, f"{n}-byte frame: {tb.drops} drops, {expected} expected"
        assert dut.full.value == 0 and dut.receiving.value == 0
        await RisingEdge(dut.clk)
        frame = rng.randbytes(rng.randint(1, tb.max_frame))
        await tb.send(tb.beats(frame, rng, True), 5, rng, idle=0.0)
        await tb.check_held(frame, 5)
        await tb.pulse("take")
    assert tb.drops == expected


async def fill_slots(tb: TB, rng: random.Random, dests: list[int]) -> list[bytes]:
    """One short frame to each of ``dests``, none offered (no queue ready, all below NVQ)."""
    await tb.set_queues(0, 0)
    frames = []
    for d in dests:
        f = rng.randbytes(rng.randint(1, 3 * tb.lanes))
        await tb.send(tb.beats(f, rng, True), d, rng, idle=0.1)
        frames.append(f)
    return frames


@cocotb.test()
async def test_reset_mid_frame(dut):
    """A reset in the middle of a frame forgets its bytes: the next frame starts at byte 0;
    a reset with every slot full frees them all."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(3)
    half = tb.beats(rng.randbytes(tb.max_frame), rng, False)
    await tb.send(half[: len(half) // 2], 9, rng, idle=0.0)
    await ReadOnly()
    assert dut.receiving.value == 1
    await RisingEdge(dut.clk)
    await tb.cycle_reset()
    await ReadOnly()
    assert dut.receiving.value == 0 and dut.full.value == 0
    await RisingEdge(dut.clk)
    frame = rng.randbytes(3 * tb.lanes + 1)
    await tb.send(tb.beats(frame, rng, False), 7, rng, idle=0.0)
    await tb.check_held(frame, 7)
    await tb.pulse("take")
    # every slot full, then reset
    await fill_slots(tb, rng, [2 * (i % 3) for i in range(tb.slots)])
    await ReadOnly()
    assert dut.s_axis_rx_tready.value == 0, "every slot full: the wire must wait"
    await RisingEdge(dut.clk)
    await tb.cycle_reset()
    await tb.set_queues(tb.all_q, tb.all_q)
    assert await tb.offered() is None, "a frame held across a reset"
    assert dut.s_axis_rx_tready.value == 1
    await RisingEdge(dut.clk)
    await tb.send(tb.beats(frame, rng, False), 6, rng, idle=0.0)
    await tb.check_held(frame, 6)
    assert tb.drops == 0


@cocotb.test()
async def test_backpressure_only_when_every_slot_is_full(dut):
    """Frames nobody takes fill the slots one by one; the wire is held off only once all SLOTS
    hold one (and not while a frame is being taken in); one take lets the next frame in."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(4)
    await tb.set_queues(0, 0)
    frames = []
    for i in range(tb.slots):
        await ReadOnly()
        assert dut.s_axis_rx_tready.value == 1, f"wire held off with {i} of {tb.slots} slots held"
        f = rng.randbytes(rng.randint(tb.lanes + 1, 4 * tb.lanes))
        beats = tb.beats(f, rng, False)
        await tb.send(beats[:-1], 4, rng, idle=0.2)
        await ReadOnly()
        assert dut.s_axis_rx_tready.value == 1, "wire held off in the middle of a frame"
        await RisingEdge(dut.clk)
        await tb.send(beats[-1:], 4, rng, idle=0.0)
        frames.append(f)
    await ReadOnly()
    assert dut.s_axis_rx_tready.value == 0, f"all {tb.slots} slots held: the wire must wait"
    assert dut.full.value == 0, "no queue ready: nothing may be offered"
    # the queue opens: the oldest is offered and taken, and the wire may go on
    await tb.set_queues(tb.q_bit(4), 0)
    await tb.check_offered(frames[0], 4)
    assert dut.s_axis_rx_tready.value == 0
    await tb.pulse("take")
    await ReadOnly()
    assert dut.s_axis_rx_tready.value == 1, "one slot free: the wire must go on"
    if tb.slots > 1:
        await tb.check_offered(frames[1], 4)
    assert tb.drops == 0


#: the two receive queues of the parking tests: A's frames park, B's pass them
QA, QB = 2, 4


async def two_queues(dut: Any, seed: int) -> tuple[TB, random.Random, int]:
    """A reset bench with queues A and B ready for fresh frames and none woken; the bench, its
    random source and that ready mask."""
    tb = TB(dut)
    await tb.cycle_reset()
    ready = tb.q_bit(QA) | tb.q_bit(QB)
    await tb.set_queues(ready, 0)
    return tb, random.Random(seed), ready


@cocotb.test()
async def test_parked_frame_does_not_hold_up_another_tdest(dut):
    """A frame for queue A is offered and parked (no buffer); frames for B that come after it
    are offered and taken while it waits; a second frame for A waits behind the first; a wake
    of A offers the parked one again (not fresh), then the second, in order."""
    tb, rng, ready = await two_queues(dut, 5)
    qa, qb = QA, QB
    a1 = rng.randbytes(rng.randint(1, tb.max_frame))
    await tb.send(tb.beats(a1, rng, True), qa, rng, idle=0.1)
    await tb.check_offered(a1, qa)
    # the engine takes it up (hold), finds no buffer (tried) and lets go
    await FallingEdge(dut.clk)
    dut.hold.value = 1
    await ClockCycles(dut.clk, 3, rising=False)
    await tb.check_offered(a1, qa)
    await tb.pulse("tried")
    await FallingEdge(dut.clk)
    dut.hold.value = 0
    assert await tb.offered() is None, "a parked frame offered without a wake"
    if tb.slots == 1:
        # one slot: the parked frame holds the wire (the buffer before issue 10)
        assert dut.s_axis_rx_tready.value == 0
        return
    b_frames = []
    for _ in range(tb.slots - 1):
        b = rng.randbytes(rng.randint(1, tb.max_frame))
        await tb.send(tb.beats(b, rng, True), qb, rng, idle=0.1)
        b_frames.append(b)
        await tb.check_offered(b, qb)
        await tb.pulse("take")
    # a second frame for A is held behind the first, even though it is fresh and A is ready
    a2 = rng.randbytes(rng.randint(1, tb.max_frame))
    await tb.send(tb.beats(a2, rng, True), qa, rng, idle=0.1)
    assert await tb.offered() is None, "a frame offered ahead of an older one of its tdest"
    await tb.set_queues(ready, tb.q_bit(qa))
    await tb.check_offered(a1, qa, fresh=0)
    await tb.pulse("take")
    await tb.check_offered(a2, qa, fresh=1)
    await tb.pulse("take")
    assert await tb.offered() is None
    assert tb.drops == 0


@cocotb.test()
async def test_parked_frame_evicted_when_the_wire_waits(dut):
    """A queue with no buffer never holds up the wire. With every slot full and a frame waiting
    at the wire, the oldest parked frame whose tdest has no q_wake is dropped to let it in:
    `evict` pulses once with its tdest and arrival number. Not while that tdest is woken (its
    buffers came), and never a fresh frame: frames of a stopped queue (no q_ready) keep their
    slots and the wire waits."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(9)
    qa, qs = 2, 4  # qa: ready with no buffer; qs: stopped
    evicts: list[tuple[int, int]] = []

    async def log_evicts() -> None:
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.evict.value:
                evicts.append((int(dut.evict_vq.value), int(dut.evict_seq.value)))

    cocotb.start_soon(log_evicts())

    def frame() -> bytes:
        return rng.randbytes(rng.randint(1, 3 * tb.lanes))

    await tb.set_queues(tb.q_bit(qa), 0)
    a0 = frame()
    await tb.send(tb.beats(a0, rng, True), qa, rng, idle=0.1)  # arrival 0
    await tb.check_offered(a0, qa)
    await FallingEdge(dut.clk)
    dut.hold.value = 1
    await tb.pulse("tried")
    await FallingEdge(dut.clk)
    dut.hold.value = 0
    for _ in range(tb.slots - 1):  # arrivals 1 .. SLOTS-1, for the stopped queue
        await tb.send(tb.beats(frame(), rng, False), qs, rng, idle=0.0)
    await ReadOnly()
    assert dut.s_axis_rx_tready.value == 0, "every slot full: the wire must wait"
    # a frame waits at the wire while qa is woken: nothing is dropped, a0 is offered again
    await tb.set_queues(tb.q_bit(qa), tb.q_bit(qa))
    waiting = cocotb.start_soon(tb.send(tb.beats(frame(), rng, False), qs, rng, idle=0.0))
    await ClockCycles(dut.clk, 12)
    await tb.check_offered(a0, qa, fresh=0)
    assert dut.s_axis_rx_tready.value == 0 and evicts == [], \
        f"a frame of a woken queue dropped: {evicts}"
    # the wake goes (the kick was for nothing): a0 makes room
    await tb.set_queues(tb.q_bit(qa), 0)
    await waiting  # arrival SLOTS
    await ClockCycles(dut.clk, 2)
    assert evicts == [(qa, 0)], f"evictions {evicts}, a0's (tdest {qa}, arrival 0) expected"
    # every slot holds a fresh frame of the stopped queue: the wire waits, nothing is dropped
    blocked = cocotb.start_soon(tb.send(tb.beats(frame(), rng, False), qa, rng, idle=0.0))
    await ClockCycles(dut.clk, 20)
    await ReadOnly()
    assert dut.s_axis_rx_tready.value == 0 and evicts == [(qa, 0)], \
        f"a fresh frame was dropped or let the wire in: {evicts}"
    # the stopped queue starts: its oldest is offered, taken, and the wire goes on
    await tb.set_queues(tb.q_bit(qa) | tb.q_bit(qs), 0)
    offered = await tb.offered()
    assert offered is not None and offered[0] == qs
    await tb.pulse("take")
    await blocked
    assert tb.drops == 0 and evicts == [(qa, 0)]


async def read_claimed(tb: TB, slot: int, frame: bytes) -> None:
    """Every byte of ``frame``, claimed in ``slot``, through the read port (rd_claimed)."""
    dut = tb.dut
    for base in range(0, len(frame), tb.lanes):
        await FallingEdge(dut.clk)
        dut.rd_claimed.value = 1
        dut.rd_slot.value = slot
        dut.rd_base.value = base
        await ReadOnly()
        got = int(dut.rd_data.value).to_bytes(tb.lanes, "little")
        for j in range(tb.lanes):
            if base + j < len(frame):
                assert got[j] == frame[base + j], (
                    f"claimed slot {slot}, byte {base + j}: {got[j]:#x} != {frame[base + j]:#x}")
    await FallingEdge(dut.clk)
    dut.rd_claimed.value = 0


@cocotb.test()
async def test_claimed_frame_readable_until_freed(dut):
    """The pipelined engine's hand-off: a claimed frame leaves the offers at once (the next
    frame of the same tdest is offered while it is written out), keeps its bytes readable at its
    slot, keeps its slot from the wire until `free`, and a free of it lets the wire go on."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(8)
    q = 2
    await tb.set_queues(tb.q_bit(q), 0)
    frames = [rng.randbytes(rng.randint(1, tb.max_frame)) for _ in range(tb.slots)]
    for f in frames:
        await tb.send(tb.beats(f, rng, True), q, rng, idle=0.1)
    await ReadOnly()
    assert dut.s_axis_rx_tready.value == 0, f"all {tb.slots} slots held: the wire must wait"
    claimed: list[tuple[int, bytes]] = []
    for f in frames:
        await tb.check_offered(f, q)
        slot = int(dut.slot.value)
        assert slot not in [c[0] for c in claimed], f"slot {slot} offered while claimed"
        # the engine holds the offer, then claims it (one pulse, the offer frozen meanwhile)
        await FallingEdge(dut.clk)
        dut.hold.value = 1
        await tb.pulse("claim")
        await ReadOnly()
        assert dut.full.value == 0, "a claimed frame still offered under hold"
        await FallingEdge(dut.clk)
        dut.hold.value = 0
        claimed.append((slot, f))
    assert await tb.offered() is None, "a frame offered with every frame claimed"
    assert dut.s_axis_rx_tready.value == 0, "claimed slots refilled before they were freed"
    # each claimed frame is still there, byte for byte; freeing one lets one frame in
    for slot, f in claimed:
        await read_claimed(tb, slot, f)
    slot, f = claimed.pop(0)
    await FallingEdge(dut.clk)
    dut.free_slot.value = slot
    await tb.pulse("free")
    await ReadOnly()
    assert dut.s_axis_rx_tready.value == 1, "a freed slot must let the wire go on"
    nxt = rng.randbytes(rng.randint(1, tb.max_frame))
    await tb.send(tb.beats(nxt, rng, True), q, rng, idle=0.1)
    await tb.check_offered(nxt, q)
    for slot, f in claimed:
        await read_claimed(tb, slot, f)
    # a reset of the device frees the claimed slots too
    await tb.pulse("flush")
    assert await tb.offered() is None
    assert dut.s_axis_rx_tready.value == 1
    assert tb.drops == 0


async def next_offer(tb: TB) -> tuple[int, int] | None:
    """(tdest, fresh) of the frame the buffer says it offers once the held one is claimed
    (next_*), or None when it says none."""
    await ReadOnly()
    if not tb.dut.next_full.value:
        return None
    return int(tb.dut.next_vq.value), int(tb.dut.next_fresh.value)


async def claim_held(tb: TB, go_on: bool) -> None:
    """Claim the held frame; ``go_on``: with claim_next, so the hold stays on the next offer,
    else the hold falls after the claim."""
    dut = tb.dut
    await FallingEdge(dut.clk)
    dut.claim.value = 1
    dut.claim_next.value = int(go_on)
    await FallingEdge(dut.clk)
    dut.claim.value = 0
    dut.claim_next.value = 0
    if not go_on:
        dut.hold.value = 0


@cocotb.test()
async def test_next_offer_at_claim(dut):
    """The engine may start on the next frame in the cycle it claims one: under hold,
    next_* name the frame offered once the held one is claimed, by the offer's own rule with
    the held frame left out (oldest of its tdest, woken), and a claim with claim_next holds
    that frame from the next cycle (offered, byte for byte, with nothing else pulsed). A
    frame parked ahead of a fresh one of its tdest keeps that one out of next_* too, and once
    woken and held, next_* name the fresh one behind it."""
    tb, rng, ready = await two_queues(dut, 11)
    qa, qb = QA, QB

    def frame() -> bytes:
        return rng.randbytes(rng.randint(1, tb.max_frame))

    if tb.slots == 1:
        b1 = frame()
        await tb.send(tb.beats(b1, rng, True), qb, rng, idle=0.1)
        await FallingEdge(dut.clk)
        dut.hold.value = 1
        assert await next_offer(tb) is None, "next_full with the one slot held"
        await claim_held(tb, False)
        return
    parked = tb.slots >= 4
    a1 = frame()
    if parked:
        # A's first frame parked (tried): not woken, it keeps A's later frames out
        await tb.send(tb.beats(a1, rng, True), qa, rng, idle=0.1)
        await FallingEdge(dut.clk)
        dut.hold.value = 1
        await tb.pulse("tried")
        await FallingEdge(dut.clk)
        dut.hold.value = 0
    b1, a2, b2 = frame(), frame(), frame()
    sent = [(b1, qb), (a2, qa), (b2, qb)] if parked else [(b1, qb), (b2, qb)]
    for f, q in sent:
        await tb.send(tb.beats(f, rng, True), q, rng, idle=0.1)
    await tb.check_offered(b1, qb)
    slot_b1 = int(dut.slot.value)
    await FallingEdge(dut.clk)
    dut.hold.value = 1
    # B's second frame, not A's (behind A's parked one), though A's is older and fresh
    named = await next_offer(tb)
    assert named == (qb, 1), f"named next {named}, B's second frame (to {qb}, fresh) expected"
    await claim_held(tb, True)
    await tb.check_offered(b2, qb)
    assert int(dut.slot.value) != slot_b1, "the claimed frame's slot offered again"
    slot_b2 = int(dut.slot.value)
    await FallingEdge(dut.clk)
    # left: A's frames, the older parked and not woken (none at all with two slots)
    assert await next_offer(tb) is None, "a frame named next with only A's parked one ahead"
    await claim_held(tb, False)
    assert await tb.offered() is None, "a frame offered with A's parked and B's claimed"
    await read_claimed(tb, slot_b1, b1)
    await read_claimed(tb, slot_b2, b2)
    if not parked:
        return
    # A woken: its parked frame, then (named next while it is held) the fresh one behind it
    await tb.set_queues(ready, tb.q_bit(qa))
    await tb.check_offered(a1, qa, fresh=0)
    await FallingEdge(dut.clk)
    dut.hold.value = 1
    named = await next_offer(tb)
    assert named == (qa, 1), f"named next {named}, A's second frame (to {qa}, fresh) expected"
    await claim_held(tb, True)
    await tb.check_offered(a2, qa, fresh=1)
    await FallingEdge(dut.clk)
    assert await next_offer(tb) is None
    await claim_held(tb, False)
    assert await tb.offered() is None
    assert tb.drops == 0


@cocotb.test()
async def test_flush_with_slots_full_and_mid_frame(dut):
    """flush (a device reset) drops every held frame, parked or fresh, without a drop pulse;
    a frame under way is kept and held whole when its tlast comes."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(6)
    await fill_slots(tb, rng, [2 * (i % 2) for i in range(tb.slots)])
    await tb.set_queues(tb.all_q, 0)
    await ReadOnly()
    assert dut.s_axis_rx_tready.value == 0 and dut.full.value == 1
    await tb.pulse("flush")
    assert await tb.offered() is None, "a frame held across a flush"
    assert dut.s_axis_rx_tready.value == 1
    # all slots but one full, a frame under way, flush, then its tlast
    await fill_slots(tb, rng, [2] * (tb.slots - 1))
    frame = rng.randbytes(3 * tb.lanes + 2)
    beats = tb.beats(frame, rng, False)
    await tb.send(beats[:2], 6, rng, idle=0.0)
    await tb.pulse("flush")
    await tb.send(beats[2:], 6, rng, idle=0.0)
    await tb.set_queues(tb.all_q, tb.all_q)
    await tb.check_held(frame, 6)
    assert tb.drops == 0


# ---------------------------------------------------------------------------------------------
# The reference: the block's documented behaviour at frame level, stepped once a cycle
# ---------------------------------------------------------------------------------------------

@dataclass(eq=False)
class Frame:
    dest: int
    data: bytes
    done_edge: int = -1
    fresh: bool = True
    seq: int = -1  # arrival number: frames finished at the wire before it, kept or dropped


@dataclass
class RefBuffer:
    slots: int
    nvq: int
    held: list[Frame] = field(default_factory=list)  # in arrival order
    under_way: bool = False  # a beat of a frame taken, its tlast not yet
    lock: Frame | None = None  # the frame take/tried act on in this cycle

    def woken(self, f: Frame, ready: int, wake: int) -> bool:
        if f.dest >= self.nvq:
            return True
        return bool(((ready if f.fresh else wake) >> f.dest) & 1)

    def offer(self, hold: bool, ready: int, wake: int) -> Frame | None:
        if hold:
            return self.lock
        seen: set[int] = set()
        for f in self.held:
            if f.dest not in seen and self.woken(f, ready, wake):
                return f
            seen.add(f.dest)
        return None

    def tready(self) -> bool:
        return self.under_way or len(self.held) < self.slots

    def victim(self, valid: bool, hold: bool, pulses: bool, wake: int) -> Frame | None:
        """The frame dropped at this edge to let the wire in: a frame waits at the wire, none
        is under way, every slot is full and the engine neither holds nor pulses (this bench
        claims no frame: none is being written out); then the oldest frame that is the oldest
        of its tdest, parked, and whose tdest has no q_wake."""
        if not valid or self.under_way or len(self.held) < self.slots or hold or pulses:
            return None
        seen: set[int] = set()
        for f in self.held:
            if f.dest not in seen and not f.fresh and not self.woken(f, 0, wake):
                return f
            seen.add(f.dest)
        return None


@cocotb.test()
async def test_random_against_reference(dut):
    """Random frames to a few tdests (some >= NVQ, some too long or empty), q_ready/q_wake
    changing at random, an engine that takes frames up and holds them, delivers, parks, drops
    at once or ignores the offer, and now and then a flush: in every cycle the offered frame,
    its bytes and the backpressure are the reference's, and at the end every frame has left in
    the order it came per tdest (delivered, dropped or flushed, never twice)."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(7)
    ref = RefBuffer(tb.slots, tb.nvq)
    dests = [0, 2, 3, tb.nvq + 1, 6 % tb.nvq]
    small = min(tb.max_frame, 8 * tb.lanes)
    todo: list[tuple[int, bytes, list[Beat], bool]] = []
    for _ in range(30 * max(2, tb.slots)):
        d = rng.choice(dests)
        r = rng.random()
        n = (0 if r < 0.03 else tb.max_frame + rng.randint(1, tb.lanes) if r < 0.06
             else rng.randint(1, small))
        data = rng.randbytes(n)
        beats = tb.beats(data, rng, rng.random() < 0.5) if n else [(0, 0, True)]
        todo.append((d, data, beats, 1 <= n <= tb.max_frame))
    left: list[Frame] = []  # in the order frames left the buffer
    flushed: set[int] = set()
    evicted: list[Frame] = []
    arrivals = 0
    evict_due: Frame | None = None  # dropped at the last edge: its evict pulse is now
    sent: list[Frame] = []
    expect_drops = sum(1 for t in todo if not t[3])
    ready = wake = 0
    # engine: cycles it will keep holding, what it does at the end, cycles of hold after it
    hold = False
    hold_left = tail = 0
    end_action = ""
    take = tried = flush = False
    cur: tuple[int, bytes, list[Beat], bool] | None = None
    beat_i = 0
    t = 0
    draining = False
    while todo or cur is not None or ref.held or hold:
        t += 1
        assert t < 200_000, "the bench did not finish (frames stuck)"
        if not todo and cur is None and not draining:
            draining = True
        # ---- drive this cycle's inputs ----
        await FallingEdge(dut.clk)
        if draining:
            ready = wake = tb.all_q
        elif rng.random() < 0.02:
            ready = rng.getrandbits(tb.nvq)
            wake = rng.getrandbits(tb.nvq) & ready
        if cur is None and todo and rng.random() < 0.7:
            cur, beat_i = todo.pop(0), 0
        valid = cur is not None and rng.random() < 0.8
        if valid:
            assert cur is not None
            data, keep, last = cur[2][beat_i]
            dut.s_axis_rx_tdata.value = data
            dut.s_axis_rx_tkeep.value = keep
            dut.s_axis_rx_tlast.value = int(last)
            dut.s_axis_rx_tdest.value = cur[0]
        dut.s_axis_rx_tvalid.value = int(valid)
        dut.q_ready.value = ready
        dut.q_wake.value = wake
        dut.hold.value = int(hold)
        dut.take.value = int(take)
        dut.tried.value = int(tried)
        dut.flush.value = int(flush)
        offer = ref.offer(hold, ready, wake)
        if offer is not None and offer in ref.held:
            base = rng.randrange(-tb.lanes, len(offer.data))
            dut.rd_base.value = base & 0xFFFF_FFFF
        # ---- check the outputs ----
        await ReadOnly()
        assert int(dut.s_axis_rx_tready.value) == int(ref.tready()), (
            f"cycle {t}: tready {int(dut.s_axis_rx_tready.value)}, {len(ref.held)} of "
            f"{tb.slots} slots held, frame under way {ref.under_way}")
        got_evict = (int(dut.evict.value), int(dut.evict_vq.value) if dut.evict.value else 0,
                     int(dut.evict_seq.value) if dut.evict.value else 0)
        want_evict = ((1, evict_due.dest, evict_due.seq & 0xFFFF) if evict_due is not None
                      else (0, 0, 0))
        assert got_evict == want_evict, \
            f"cycle {t}: evict (pulse, tdest, arrival) {got_evict}, {want_evict} expected"
        if offer is None or offer not in ref.held:
            assert dut.full.value == 0, f"cycle {t}: a frame offered, none expected"
        else:
            assert dut.full.value == 1, f"cycle {t}: no frame offered, one to {offer.dest} expected"
            got = (int(dut.vq.value), int(dut.len.value), int(dut.fresh.value))
            want = (offer.dest, len(offer.data), int(offer.fresh))
            assert got == want, f"cycle {t}: offered (tdest, len, fresh) {got}, {want} expected"
            rd = int(dut.rd_data.value).to_bytes(tb.lanes, "little")
            for j in range(tb.lanes):
                p = base + j
                if 0 <= p < len(offer.data):
                    assert rd[j] == offer.data[p], f"cycle {t}: byte {p} of the offered frame"
        # ---- the edge: the reference steps as the documented behaviour says ----
        accepted = valid and ref.tready()
        evict_due = ref.victim(valid, hold, take or tried or flush, wake)
        if evict_due is not None:
            ref.held.remove(evict_due)
            left.append(evict_due)
            evicted.append(evict_due)
        if flush:
            for f in [f for f in ref.held if f.done_edge != t - 1]:
                ref.held.remove(f)
                flushed.add(id(f))
                left.append(f)
        if accepted:
            assert cur is not None
            ref.under_way = not cur[2][beat_i][2]
            beat_i += 1
            if beat_i == len(cur[2]):
                if cur[3]:
                    f = Frame(cur[0], cur[1], done_edge=t, seq=arrivals)
                    ref.held.append(f)
                    sent.append(f)
                arrivals += 1
                cur = None
        if tried:
            assert ref.lock is not None
            ref.lock.fresh = False
        if take:
            assert ref.lock is not None
            if ref.lock in ref.held:
                ref.held.remove(ref.lock)
                left.append(ref.lock)
        ref.lock = offer
        # ---- the engine decides the next cycle ----
        # (not on the frame it is dropping in this cycle: still offered, gone at this edge;
        # vdpa_vq_engine's E_IDLE has the same guard)
        taking = take
        take = tried = flush = False
        if hold:
            if hold_left > 0:
                hold_left -= 1
                if hold_left == 0:
                    take, tried = end_action == "take", end_action == "tried"
            elif tail > 0:
                tail -= 1
            else:
                hold = False
        elif (offer is not None and offer in ref.held and not taking
              and rng.random() < (1.0 if draining else 0.6)):
            if rng.random() < 0.3:
                take = True  # dropped from E_IDLE
            else:
                hold, hold_left, tail = True, rng.randint(1, 12), rng.randint(0, 3)
                end_action = "take" if draining or rng.random() < 0.6 else "tried"
        elif not draining and rng.random() < 0.004:
            flush = True
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, 2)
    assert tb.drops == expect_drops, f"{tb.drops} drop pulses, {expect_drops} expected"
    assert len(left) == len(sent) and {id(f) for f in left} == {id(f) for f in sent}, \
        "a frame left twice or never"
    for d in set(dests):
        assert [f for f in left if f.dest == d] == [f for f in sent if f.dest == d], \
            f"frames to tdest {d} left out of order"
    tb.dut._log.info("%d frames: %d delivered or dropped, %d flushed, %d parked at least once, "
                     "%d evicted", len(sent), len(sent) - len(flushed) - len(evicted),
                     len(flushed), sum(1 for f in sent if not f.fresh), len(evicted))
    assert len(flushed) < len(sent), "the flush took every frame: the test proves little"
    assert evicted, "no frame was evicted: the test proves nothing of the eviction"
