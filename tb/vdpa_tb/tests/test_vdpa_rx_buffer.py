# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_rx_buffer alone (the virtqueue engine's receive buffer).

The wire side is driven beat by beat with null bytes scattered through tkeep and idle cycles
between beats; the engine side (take, tried, the read port) is driven as vdpa_vq_engine drives
it. Each frame is checked against what was sent: its length, tdest, every byte through the read
port at every offset a bus beat can start at, backpressure while it is held, and the drop of a
frame too long or empty. The pytest entry (tests/rtl/test_vdpa_rx_buffer.py) sweeps the bus
width and the buffer size (the builds in testplan/vdpa_nic_sim.yaml).
"""

from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from vdpa_tb.nic_tb import param

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the wire is driven beat by beat with a tkeep pattern and idle cycles chosen per beat, and "
    "backpressure, the drop pulse and the read port are checked on exact edges; the block is "
    "one frame of buffer and each test runs a few thousand cycles"
)

CLK_NS = 10


class TB:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.lanes = param("DATA_W", 64) // 8
        self.max_frame = param("MAX_FRAME", 2048)
        self.drops = 0
        Clock(dut.clk, CLK_NS, unit="ns").start()
        dut.s_axis_rx_tvalid.value = 0
        dut.s_axis_rx_tdata.value = 0
        dut.s_axis_rx_tkeep.value = 0
        dut.s_axis_rx_tlast.value = 0
        dut.s_axis_rx_tdest.value = 0
        dut.take.value = 0
        dut.tried.value = 0
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

    def beats(self, frame: bytes, rng: random.Random, sparse: bool) -> list[tuple[int, int, bool]]:
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

    async def send(self, frame_beats: list[tuple[int, int, bool]], dest: int,
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
        """One beat of the held frame from the read port, starting at frame byte ``base``."""
        await FallingEdge(self.dut.clk)
        self.dut.rd_base.value = base & 0xFFFF_FFFF
        await ReadOnly()
        return int(self.dut.rd_data.value).to_bytes(self.lanes, "little")

    async def pulse(self, name: str) -> None:
        await FallingEdge(self.dut.clk)
        getattr(self.dut, name).value = 1
        await FallingEdge(self.dut.clk)
        getattr(self.dut, name).value = 0

    async def check_held(self, frame: bytes, dest: int) -> None:
        """The frame is held as sent: flags, length, tdest and every byte; the wire is held off."""
        dut = self.dut
        await ReadOnly()
        assert dut.full.value == 1 and dut.fresh.value == 1, "frame not held after its tlast"
        assert dut.s_axis_rx_tready.value == 0, "wire not held off while a frame is held"
        assert dut.receiving.value == 0
        assert int(dut.len.value) == len(frame), (int(dut.len.value), len(frame))
        assert int(dut.vq.value) == dest
        # every beat start a DMA write can have: header offsets push the frame off the lanes,
        # so the engine reads from any byte, including before the frame (the header's lanes)
        bases = sorted({0, len(frame) - 1, *(range(-self.lanes, len(frame), max(1, len(frame) // 7)))})
        for base in bases:
            got = await self.read(base)
            for j in range(self.lanes):
                p = base + j
                if 0 <= p < len(frame):
                    assert got[j] == frame[p], f"byte {p} of {len(frame)}: {got[j]:#x} != {frame[p]:#x}"


def frame_lengths(tb: TB, rng: random.Random) -> list[int]:
    edges = [1, tb.lanes - 1, tb.lanes, tb.lanes + 1, tb.max_frame - 1, tb.max_frame]
    return [n for n in edges if n >= 1] + [rng.randint(1, tb.max_frame) for _ in range(16)]


@cocotb.test()
async def test_frames_held_and_read(dut):
    """Frames of every edge length, sparse and full tkeep, idle and back-to-back: each is held
    byte-exact with its tdest, the wire is held off until take, tried clears fresh only."""
    tb = TB(dut)
    await tb.cycle_reset()
    rng = random.Random(1)
    for i, n in enumerate(frame_lengths(tb, rng)):
        frame = rng.randbytes(n)
        dest = rng.randrange(256)
        sparse = i % 2 == 1
        await tb.send(tb.beats(frame, rng, sparse), dest, rng, idle=0.3 if i % 3 else 0.0)
        await tb.check_held(frame, dest)
        # a waiting frame stays held and keeps the wire off
        dut_next = tb.beats(rng.randbytes(4), rng, False)
        await FallingEdge(dut.clk)
        dut.s_axis_rx_tdata.value, dut.s_axis_rx_tkeep.value, _ = dut_next[0]
        dut.s_axis_rx_tlast.value = 0
        dut.s_axis_rx_tvalid.value = 1
        await tb.pulse("tried")
        await ReadOnly()
        assert dut.full.value == 1 and dut.fresh.value == 0, "tried must clear fresh, keep full"
        assert dut.s_axis_rx_tready.value == 0
        await FallingEdge(dut.clk)
        dut.s_axis_rx_tvalid.value = 0
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


@cocotb.test()
async def test_reset_mid_frame(dut):
    """A reset in the middle of a frame forgets its bytes: the next frame starts at byte 0."""
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
    assert tb.drops == 0
