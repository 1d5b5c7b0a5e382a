# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_dma_mover alone (the virtqueue engine's DMA mover).

The bench plays the walker and the world around the mover: it hands over a translated segment
list and a length (the segment port answers the index the mover shows), is the RX source
stream, the AXI slave over the model's guest memory (vdpa_model.memory) and the AXI-Stream sink,
each channel stalling at random. Every transfer is checked against the model's mover,
vdpa_model.datapath.SegmentMover, run on a copy of the same memory: TX, the stream's bytes
(tkeep lanes in place, tlast on the last) against SegmentMover.pull; RX, every byte in and
around the segments against SegmentMover.push. Bus errors are planted at one byte of a
transfer and the outcome is derived from the AXI rules and the block's documented burst rule,
not from the RTL: TX delivers the bytes before the failing beat, closes a frame already under
way with one byte carrying tlast and tuser, and reports one fault; RX has written every burst
up to and including the failing one and nothing after it. Each AR/AW burst is checked against
the rule (aligned, at most MAX_BURST beats, inside one MAX_BURST-beat block of at most 4 KiB,
inside one segment) and to carry the AxUSER of the request whose segments it reads or writes,
and the bus is quiet whenever the mover is not busy (the engine's mux relies on it). The
read-ahead (a TX request offered while the mover is busy or the owner holds it back has its
first burst read early) is checked for its outcome: a request taken after it streams its own
bytes, and one withdrawn after it leaves nothing on the stream. The pytest entry is
tests/rtl/test_vdpa_dma_mover.py; the builds (DATA_W 32, 64 with AXI3's 16-beat bursts, 512;
64 and 512 with ISSUE_AT_TAKE, 64 with TX_DONE_AT_READ, 512 with both, the engine's) are in
testplan/vdpa_nic_sim.yaml.
"""

from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge, Timer

from vdpa_model.datapath import Chain, SegmentMover
from vdpa_model.dma import AccessLog, DmaPort
from vdpa_model.iotlb import AddressSpace
from vdpa_model.memory import GuestMemory
from vdpa_tb.nic_tb import param

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the bench is the segment port and the RX source, both answered in the cycle the mover "
    "asks, and an AXI slave and stream sink that stall each channel per cycle at random and "
    "plant an error response on one beat; the block is small and each test a few tens of "
    "thousands of cycles"
)

CLK_NS = 10
MEM_SIZE = 1 << 32
OKAY, SLVERR = 0, 2
# the RTL's default MAX_BURST (AXI4's INCR limit); a build may pass a smaller one
MAX_BURST_DEFAULT = 256
AXI_BOUNDARY = 4096


def burst_end(pos: int, pa: int, seg_end: int, total: int, block: int) -> int:
    """Chain position where the burst holding position ``pos`` (at ``pa``) ends: the block's
    documented rule, at the segment's end, the transfer's end or the next MAX_BURST-beat block
    (at most 4 KiB)."""
    return min(seg_end, total, pos + block - pa % block)


class TB:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.nbytes = len(dut.axi_wstrb)
        self.max_burst = param("MAX_BURST", MAX_BURST_DEFAULT)
        self.block = min(self.max_burst * self.nbytes, AXI_BOUNDARY)
        self.max_segs = 1 << len(dut.seg_idx)
        Clock(dut.clk, CLK_NS, unit="ns").start()
        for name in ("req_valid", "req_hold", "req_rx", "req_len", "req_seg_pa", "req_seg_len",
                     "req_user", "seg_pa", "seg_len", "src_data",
                     "done_ready", "axi_awready", "axi_wready", "axi_bresp", "axi_bvalid",
                     "axi_arready", "axi_rdata", "axi_rresp", "axi_rlast", "axi_rvalid",
                     "m_axis_tready"):
            getattr(dut, name).value = 0
        self.mem = GuestMemory(MEM_SIZE)
        self.rng = random.Random(0)
        self.stall = 0.0           # chance a channel (or the stream) is not ready in a cycle
        self.done_hold = 0.0
        self.segs: list[tuple[int, int]] = [(0, 0)]
        # the request offered: its segment 0 answers req_seg_pa/req_seg_len
        self.req_segs: list[tuple[int, int]] = [(0, 0)]
        # the AxUSER each segment list's bursts must carry (the request's req_user)
        self.users: list[tuple[list[tuple[int, int]], int]] = []
        self.src = b""
        self.err_at: int | None = None
        self.stream: list[tuple[bytes, int, int, int]] = []  # (data, keep, last, user)
        self.dones = self.faults = self.err_sets = 0
        self.w_before_aw = 0       # write beats taken before their burst's address
        self.bursts: list[tuple[bool, int, int]] = []        # (write, address, beats)
        self.next_user = 0x100

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    def ready(self) -> int:
        return int(self.rng.random() >= self.stall)

    def beat_err(self, addr: int) -> bool:
        return self.err_at is not None and addr <= self.err_at < addr + self.nbytes

    async def world(self) -> None:
        """Segment port, RX source, AXI slave and stream sink, one cycle at a time: inputs are
        driven on the falling edge, and every handshake is sampled just before the rising
        edge that takes it (the mover's done, fault and err_set answer the inputs at once)."""
        dut, nb = self.dut, self.nbytes
        rd: list[tuple[int, int]] = []   # read beats to return: (address, last)
        # write bursts whose address is taken: [address of the next beat, beats left, error]
        wr: list[list[Any]] = []
        # write beats taken before their burst's address (AXI4 §A3.3.1 lets a slave take W
        # before AW): (data, strobe, last), written once the address comes
        w_early: list[tuple[int, int, int]] = []
        b_due: list[bool] = []           # write responses owed: error?
        r_on = b_on = False              # a read beat / write response presented
        names = ("arvalid", "arready", "araddr", "arlen", "aruser", "rvalid", "rready",
                 "awvalid", "awready", "awaddr", "awlen", "awuser", "wvalid", "wready", "wdata",
                 "wstrb", "wlast", "bvalid", "bready")
        await FallingEdge(dut.clk)
        while True:
            self.answer_ports()
            dut.axi_arready.value = self.ready()
            dut.axi_awready.value = self.ready()
            dut.axi_wready.value = self.ready()
            dut.m_axis_tready.value = self.ready()
            dut.done_ready.value = int(self.rng.random() >= self.done_hold)
            # a valid once raised is held until taken (AXI A3.2.1)
            if rd and (r_on or self.ready()):
                addr, last = rd[0]
                r_on = True
                dut.axi_rvalid.value = 1
                dut.axi_rdata.value = int.from_bytes(self.mem.read(addr, nb), "little")
                dut.axi_rresp.value = SLVERR if self.beat_err(addr) else OKAY
                dut.axi_rlast.value = last
            else:
                dut.axi_rvalid.value = 0
            if b_due and (b_on or self.ready()):
                b_on = True
                dut.axi_bvalid.value = 1
                dut.axi_bresp.value = SLVERR if b_due[0] else OKAY
            else:
                dut.axi_bvalid.value = 0
            # the source position follows a request in the cycle it is made (a first write
            # beat is read as the request is taken): answer again once the request is driven
            await Timer(1, "ns")
            self.answer_ports()
            await Timer(CLK_NS // 4, "ns")
            await ReadOnly()
            s = {n: int(getattr(dut, "axi_" + n).value) for n in names}
            if int(dut.m_axis_tvalid.value) and int(dut.m_axis_tready.value):
                keep = int(dut.m_axis_tkeep.value)
                data = int(dut.m_axis_tdata.value).to_bytes(nb, "little")
                self.stream.append((data, keep, int(dut.m_axis_tlast.value),
                                    int(dut.m_axis_tuser.value)))
            self.dones += int(dut.done_valid.value) and int(dut.done_ready.value)
            self.faults += int(dut.fault.value)
            self.err_sets += int(dut.err_set.value)
            if not int(dut.busy.value):
                quiet = not (s["arvalid"] or s["awvalid"] or s["wvalid"] or s["rready"] or
                             s["bready"])
                assert quiet, f"the bus is driven while the mover is not busy: {s}"
            if int(dut.tx_tail.value):
                assert int(dut.m_axis_tvalid.value) and int(dut.m_axis_tlast.value), \
                    "tx_tail high with no frame's last beat on the stream"
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
            if s["arvalid"] and s["arready"]:
                self.check_burst(False, s["araddr"], s["arlen"] + 1, s["aruser"])
                rd += [(s["araddr"] + k * nb, int(k == s["arlen"])) for k in range(s["arlen"] + 1)]
            if s["rvalid"] and s["rready"]:
                rd.pop(0)
                r_on = False
            if s["awvalid"] and s["awready"]:
                self.check_burst(True, s["awaddr"], s["awlen"] + 1, s["awuser"])
                wr.append([s["awaddr"], s["awlen"] + 1, False])
            if s["wvalid"] and s["wready"]:
                self.w_before_aw += not wr
                w_early.append((s["wdata"], s["wstrb"], s["wlast"]))
            while w_early and wr:
                data_i, strb, last = w_early.pop(0)
                burst = wr[0]
                addr = burst[0]
                burst[2] = burst[2] or self.beat_err(addr)
                data = data_i.to_bytes(nb, "little")
                for j in range(nb):
                    if strb >> j & 1:
                        self.mem.write(addr + j, data[j:j + 1])
                burst[0] += nb
                burst[1] -= 1
                assert bool(last) == (burst[1] == 0), "wlast not on the burst's last beat"
                if burst[1] == 0:
                    wr.pop(0)
                    b_due.append(burst[2])
            if s["bvalid"] and s["bready"]:
                b_due.pop(0)
                b_on = False

    def answer_ports(self) -> None:
        """The segment and source ports answer what the mover asks now."""
        dut, nb = self.dut, self.nbytes
        # src_pos is below 0 for lanes before the stream's first byte (u32 arithmetic)
        seg_idx, src_pos = int(dut.seg_idx.value), int(dut.src_pos.value)
        src_pos -= (src_pos >> 31) << 32
        pa, n = self.segs[seg_idx] if seg_idx < len(self.segs) else (0xDEAD0000, 0x5A5A)
        dut.seg_pa.value = pa
        dut.seg_len.value = n
        dut.req_seg_pa.value, dut.req_seg_len.value = self.req_segs[0]
        # lanes beyond the stream carry junk: the mover must not write them
        dut.src_data.value = int.from_bytes(bytes(
            self.src[p] if 0 <= p < len(self.src) else 0xA5
            for p in range(src_pos, src_pos + nb)), "little")

    def check_burst(self, write: bool, addr: int, beats: int, user: int) -> None:
        assert addr % self.nbytes == 0, f"burst address {addr:#x} not beat aligned"
        assert 1 <= beats <= self.max_burst, f"burst of {beats} beats"
        assert addr // self.block == (addr + beats * self.nbytes - 1) // self.block, \
            f"burst at {addr:#x} of {beats} beats crosses a {self.block}-byte block"
        owners = [u for segs, u in self.users
                  if any(pa // self.nbytes * self.nbytes <= addr and
                         addr + beats * self.nbytes <= -(-(pa + n) // self.nbytes) * self.nbytes
                         for pa, n in segs if n)]
        assert owners, f"burst at {addr:#x} outside every segment"
        assert user in owners, \
            f"burst at {addr:#x} carries AxUSER {user:#x}, its request's is {owners[0]:#x}"
        self.bursts.append((write, addr, beats))

    def offer(self, rx: bool, length: int, segs: list[tuple[int, int]]) -> None:
        """Drive a request's fields (the next AxUSER) for ``segs``; req_valid is the caller's."""
        dut = self.dut
        self.next_user += 1
        self.users = [*self.users[-3:], (segs, self.next_user)]
        self.req_segs = segs
        dut.req_rx.value = int(rx)
        dut.req_len.value = length
        dut.req_user.value = self.next_user

    # -- stimulus --------------------------------------------------------------------------
    def draw_segs(self, rng: random.Random, total: int) -> list[tuple[int, int]]:
        """Up to MAX_SEGS segments of ``total`` bytes at random alignments, apart in memory,
        with a zero-length one now and then."""
        count = min(self.max_segs, rng.choice([1, 1, 2, 3, 5, self.max_segs]), max(1, total))
        cuts = sorted(rng.sample(range(1, total), count - 1)) if count > 1 else []
        lens = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        if count < self.max_segs and rng.random() < 0.2:
            lens.insert(rng.randrange(len(lens) + 1), 0)
        segs = []
        base = rng.randrange(1 << 20, 1 << 30)
        for n in lens:
            # in place alignment: any byte offset, often at a beat's or block's edge
            base += rng.choice([0, 1, self.nbytes - 1, self.block - 1, rng.randrange(4096)])
            segs.append((base, n))
            base += n + rng.randrange(1, 3 * self.block)
        return segs

    def chain(self, segs: list[tuple[int, int]], rx: bool) -> Chain:
        parts = [(pa, [(pa, n)]) for pa, n in segs if n]
        total = sum(n for _, n in segs)
        return Chain(0, [] if rx else parts, parts if rx else [], 0 if rx else total,
                     total if rx else 0, len(parts))

    def fill(self, segs: list[tuple[int, int]], mems: list[GuestMemory],
             rng: random.Random) -> list[tuple[int, int]]:
        """Random bytes in and around every segment, the same in each memory."""
        spans = [(pa - self.block, n + 2 * self.block) for pa, n in segs]
        for a, n in spans:
            data = rng.randbytes(n)
            for m in mems:
                m.write(a, data)
        return spans

    async def transfer(self, rx: bool, length: int, segs: list[tuple[int, int]],
                       limit: int = 400000) -> None:
        """Request one transfer and wait for its done or fault."""
        dut = self.dut
        self.segs = segs
        dones, faults = self.dones, self.faults
        await FallingEdge(dut.clk)
        await ReadOnly()
        assert int(dut.req_ready.value) == 1, "mover not idle between transfers"
        await FallingEdge(dut.clk)
        dut.req_valid.value = 1
        self.offer(rx, length, segs)
        await FallingEdge(dut.clk)
        dut.req_valid.value = 0
        for _ in range(limit):
            if self.dones != dones or self.faults != faults:
                break
            await FallingEdge(dut.clk)
        else:
            raise AssertionError(f"transfer of {length} bytes did not end in {limit} cycles")
        await self.at_rest()
        assert (self.dones - dones) + (self.faults - faults) == 1, "one done or one fault"

    async def at_rest(self, limit: int = 1000) -> None:
        """Wait until the mover is not busy: a TX transfer done as its last beat was read
        (TX_DONE_AT_READ) still has that beat on the stream until the sink takes it."""
        for _ in range(limit):
            await FallingEdge(self.dut.clk)
            await ReadOnly()
            if not int(self.dut.busy.value):
                await FallingEdge(self.dut.clk)
                return
        raise AssertionError(f"the mover still busy {limit} cycles after its transfer ended")

    async def one(self, rng: random.Random, rx: bool, total: int, err: bool = False) -> None:
        """One transfer on the DUT and on the model; every observable compared."""
        # an RX chain usually holds more than the frame: the mover writes the frame's bytes only
        room = total + (rng.choice([0, 1, self.nbytes, rng.randrange(3000)]) if rx else 0)
        segs = self.draw_segs(rng, room) if room else [(rng.randrange(1 << 30), 0)]
        ref_mem = GuestMemory(MEM_SIZE)
        spans = self.fill(segs, [self.mem, ref_mem], rng)
        ref = SegmentMover(DmaPort(ref_mem, AddressSpace(0), 0, AccessLog()))
        chain = self.chain(segs, rx)
        # the chain position of each byte, to place the planted error and predict its effect
        where = [(pa + k, i) for i, (pa, n) in enumerate(segs) for k in range(n)]
        seg_end = [sum(n for _, n in segs[:i + 1]) for i in range(len(segs))]
        self.err_at, pos = None, None
        if err and total:
            self.err_at = where[rng.randrange(total)][0]  # a byte the transfer moves
            # the first byte of the chain in the failing beat (an earlier segment may end in it)
            beat = self.err_at // self.nbytes * self.nbytes
            pos = next(p for p, (pa, _) in enumerate(where) if beat <= pa < beat + self.nbytes)
        self.stream, self.bursts = [], []
        err_sets, faults = self.err_sets, self.faults
        if rx:
            self.src = rng.randbytes(total)
            await self.transfer(True, total, segs)
            moved = total
            if pos is not None:
                # every burst up to the failing one is written; nothing after it
                pa, i = where[pos]
                moved = burst_end(pos, pa, seg_end[i], total, self.block)
            ref.push(chain, self.src[:moved])
            for a, n in spans:
                got, want = self.mem.read(a, n), ref_mem.read(a, n)
                assert got == want, (f"memory [{a:#x}, +{n}) differs from SegmentMover.push at "
                                     f"byte {next(k for k in range(n) if got[k] != want[k])} "
                                     f"(segments {segs}, {moved} of {total} bytes; got {got[120:140].hex()}, "
                                     f"model {want[120:140].hex()})")
        else:
            await self.transfer(False, total, segs)
            want = ref.pull(chain)
            if pos is not None:
                # the beats before the failing one go out; none from it on
                want = want[:pos]
            beats = self.stream
            aborted = pos is not None and len(want) > 0
            if aborted:
                assert beats and beats[-1][1:] == (1, 1, 1) and beats[-1][0][0] == 0, \
                    f"a frame cut by a bus error must end in one byte with tlast and tuser: " \
                    f"{beats[-1:]}"
                beats = beats[:-1]
            got = bytearray()
            for data, keep, last, user in beats:
                assert user == 0, "tuser on a good beat"
                lanes = [j for j in range(self.nbytes) if keep >> j & 1]
                assert lanes and lanes == list(range(lanes[0], lanes[-1] + 1)), \
                    f"tkeep {keep:#x} is not one run of lanes"
                # bytes in place: the lane is the byte's address within the beat
                assert lanes[0] == where[len(got)][0] % self.nbytes, \
                    f"byte {len(got)} in lane {lanes[0]}, not at its address's lane"
                got += bytes(data[j] for j in lanes)
                assert bool(last) == (len(got) == total and pos is None), \
                    f"tlast {last} after {len(got)} of {total} bytes"
            common = min(len(got), len(want))
            first = next((k for k in range(common) if got[k] != want[k]), common)
            assert bytes(got) == want, (f"stream differs from SegmentMover.pull at byte {first} "
                                        f"({len(got)} vs {len(want)} bytes, segments {segs})")
        if pos is not None:
            assert self.faults - faults == 1, "a bus error must end the transfer in a fault"
            assert self.err_sets - err_sets >= 1, "err_set must pulse on the error response"
        else:
            assert self.faults == faults and self.err_sets == err_sets, "fault without error"
        assert all(w == rx for w, _, _ in self.bursts), "a burst in the wrong direction"


LENGTHS = [1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 255, 256, 1023, 1500, 1514, 4096, 4097,
           9000]


def watch_handshakes(dut: Any, channels: dict[str, tuple[str, str, str | None]]
                     ) -> list[tuple[int, str, int | None]]:
    """Record every handshake of ``channels`` (name: (valid, ready, payload signal or None)) as
    (cycle, name, payload), counting cycles from the call; the list fills in the background
    (the caller clears it between transfers)."""
    events: list[tuple[int, str, int | None]] = []

    async def watch() -> None:
        cyc = 0
        while True:
            await FallingEdge(dut.clk)
            await Timer(CLK_NS // 4, "ns")
            await ReadOnly()
            for name, (valid, ready, payload) in channels.items():
                if int(getattr(dut, valid).value) and int(getattr(dut, ready).value):
                    events.append((cyc, name, None if payload is None
                                   else int(getattr(dut, payload).value)))
            cyc += 1

    cocotb.start_soon(watch())
    return events


async def run_sweep(dut: Any, seed: int, stall: float, done_hold: float, count: int,
                    err: bool = False) -> TB:
    tb = TB(dut)
    tb.stall, tb.done_hold = stall, done_hold
    tb.rng = random.Random(seed + 1000)
    await tb.cycle_reset()
    cocotb.start_soon(tb.world())
    rng = random.Random(seed)
    for i in range(count):
        total = LENGTHS[i % len(LENGTHS)] if i < len(LENGTHS) else rng.randrange(1, 9001)
        await tb.one(rng, rx=bool(i & 1) if i >= len(LENGTHS) else bool(i % 3 == 1),
                     total=total, err=err)
    return tb


@cocotb.test()
async def test_tx_rx_against_model(dut):
    """Every edge length 1..9000 and random ones, TX and RX, over 1..MAX_SEGS segments at
    random alignments, on a bus and stream that never stall: stream bytes and memory as the
    model's SegmentMover says."""
    await run_sweep(dut, 1, 0.0, 0.0, 40)


@cocotb.test()
async def test_tx_rx_stalls(dut):
    """The same with every AXI channel and the stream stalling at random and done held off:
    the mover waits, never drops or repeats a beat; the slave takes some write beats before
    their burst's address (the mover's address still pending after its data)."""
    tb = await run_sweep(dut, 2, 0.4, 0.5, 40)
    assert tb.w_before_aw > 0, "no write beat was taken before its address: that path untested"


@cocotb.test()
async def test_zero_length_transfer(dut):
    """A request of 0 bytes (a TX chain the engine drops) moves nothing and is done at once."""
    tb = TB(dut)
    await tb.cycle_reset()
    cocotb.start_soon(tb.world())
    for rx in (False, True):
        tb.stream, tb.bursts = [], []
        await tb.transfer(rx, 0, [(0x1000, 64)], limit=4)
        assert not tb.stream and not tb.bursts, "a 0-byte transfer moved data"


@cocotb.test()
async def test_bus_error_mid_transfer(dut):
    """An error response on one beat anywhere in a transfer, TX and RX, with stalls: TX passes
    the bytes before the failing beat and closes the frame as bad, RX has written up to the
    failing burst and nothing after; one fault either way, and the next transfer is whole."""
    tb = TB(dut)
    tb.stall, tb.done_hold = 0.3, 0.3
    tb.rng = random.Random(44)
    await tb.cycle_reset()
    cocotb.start_soon(tb.world())
    rng = random.Random(4)
    for i in range(24):
        total = rng.choice([1, 17, 64, 200, 1500, 4097, 9000])
        await tb.one(rng, rx=bool(i & 1), total=total, err=True)
        await tb.one(rng, rx=bool(i & 2), total=rng.randrange(1, 2000))


@cocotb.test()
async def test_back_to_back(dut):
    """Requests held ready, TX then RX, so each after the first is taken in the cycle the one
    before is done (req_ready is high then, and seg_idx 0 for the new request's first segment;
    an RX transfer's done comes with its last write response), on a bus and stream that never
    stall and on one that stalls. TX: every frame whole, in order, as the model's SegmentMover
    pulls it. RX: each transfer writes a new frame, from stream position 0 (the source changes
    as each request is taken): at each done (before the next transfer's first beat) memory is
    SegmentMover.push of that transfer's frame, so a middle transfer that wrote stale bytes is
    seen before the next overwrites them. Every later request taken with the done before it."""
    tb = TB(dut)
    tb.rng = random.Random(77)
    await tb.cycle_reset()
    cocotb.start_soon(tb.world())
    rng = random.Random(7)
    frames = 6
    for rx in (False, True):
        for stall in (0.0, 0.3):
            tb.stall = stall
            total = rng.choice([1, 64, 76, 200, 1514])
            segs = tb.draw_segs(rng, total)
            ref_mem = GuestMemory(MEM_SIZE)
            spans = tb.fill(segs, [tb.mem, ref_mem], rng)
            ref = SegmentMover(DmaPort(ref_mem, AddressSpace(0), 0, AccessLog()))
            srcs = [rng.randbytes(total) for _ in range(frames)]
            tb.segs, tb.stream, tb.err_at = segs, [], None
            dones = tb.dones
            taken = with_done = cur = 0
            at_done: list[list[bytes]] = []   # the spans as each transfer's done saw them
            await FallingEdge(dut.clk)
            tb.src = srcs[0]
            tb.offer(rx, total, segs)
            dut.req_valid.value = 1
            for _ in range(200000):
                await Timer(CLK_NS // 4, "ns")
                await ReadOnly()
                if int(dut.req_valid.value) and int(dut.req_ready.value):
                    taken += 1
                    with_done += int(dut.done_valid.value) and int(dut.done_ready.value)
                if rx and int(dut.done_valid.value) and int(dut.done_ready.value):
                    at_done.append([tb.mem.read(a, n) for a, n in spans])
                await FallingEdge(dut.clk)
                if taken == frames:
                    dut.req_valid.value = 0
                if cur < taken < frames and int(dut.moved.value) == total:
                    # the transfer under way has read its last byte from the source: the next
                    # one reads the next frame's, from its request's cycle on
                    cur = taken
                    tb.src = srcs[cur]
                if tb.dones - dones == frames:
                    break
            else:
                raise AssertionError(f"{frames} transfers of {total} bytes did not end")
            await tb.at_rest()
            what = f"{'RX' if rx else 'TX'} {total} B, stall {stall}"
            assert with_done == frames - 1, \
                f"{what}: {with_done} of {frames - 1} later requests taken with the done before them"
            if rx:
                assert len(at_done) == frames, f"{what}: {len(at_done)} dones for {frames}"
                for k, seen in enumerate(at_done):
                    ref.push(tb.chain(segs, True), srcs[k])
                    assert seen == [ref_mem.read(a, n) for a, n in spans], \
                        f"{what}: memory at transfer {k}'s done is not SegmentMover.push of its frame"
                continue
            want = ref.pull(tb.chain(segs, False))
            got, frame = [], bytearray()
            for data, keep, last, user in tb.stream:
                assert user == 0, "tuser on a good beat"
                frame += bytes(data[j] for j in range(tb.nbytes) if keep >> j & 1)
                if last:
                    got.append(bytes(frame))
                    frame = bytearray()
            assert not frame and got == [want] * frames, \
                f"{what}: {len(got)} frames, {sum(g == want for g in got)} as the model's"


@cocotb.test()
async def test_rx_pace(dut):
    """On a bus that never stalls an RX transfer loses no cycle between its bursts' handshakes:
    the first burst's address goes out in the cycle after the request is taken, each burst's
    first data beat with its address (then one a cycle), and done
    comes with the last burst's write response. Transfers of one to several bursts (segments
    apart, 4 KiB blocks crossed), each also checked against SegmentMover.push."""
    tb = TB(dut)
    tb.rng = random.Random(5)
    await tb.cycle_reset()
    cocotb.start_soon(tb.world())
    events = watch_handshakes(dut, {
        "req": ("req_valid", "req_ready", None), "aw": ("axi_awvalid", "axi_awready", None),
        "w": ("axi_wvalid", "axi_wready", None), "b": ("axi_bvalid", "axi_bready", None),
        "done": ("done_valid", "done_ready", None)})
    rng = random.Random(11)
    for total in (1, 64, 76, 1500, 4097, 9000):
        events.clear()
        await tb.one(rng, rx=True, total=total)
        at = {n: [c for c, m, _ in events if m == n] for n in ("req", "aw", "w", "b", "done")}
        assert len(at["req"]) == 1 and len(at["done"]) == 1, (total, at)
        assert at["aw"] and at["aw"][0] == at["req"][0] + 1, \
            f"{total} B: first AW at {at['aw'][:1]}, the request taken at {at['req']}"
        for c in at["aw"]:
            assert c in at["w"], f"{total} B: AW at cycle {c}, no W beat with it ({at})"
        assert at["done"][0] == at["b"][-1], \
            f"{total} B: done at {at['done']}, the last write response at {at['b'][-1:]}"


@cocotb.test()
async def test_tx_first_read(dut):
    """On a bus that never stalls, a TX transfer's first read address goes out in the cycle
    after the request is taken, or (ISSUE_AT_TAKE) in that same cycle, carrying the request's
    AxUSER either way. Transfers of one to several bursts, each also checked against
    SegmentMover.pull."""
    tb = TB(dut)
    tb.rng = random.Random(7)
    await tb.cycle_reset()
    cocotb.start_soon(tb.world())
    at_take = param("ISSUE_AT_TAKE", 0) != 0
    events = watch_handshakes(dut, {"req": ("req_valid", "req_ready", "req_user"),
                                    "ar": ("axi_arvalid", "axi_arready", "axi_aruser")})
    rng = random.Random(13)
    for total in (1, 64, 76, 1500, 4097):
        events.clear()
        await tb.one(rng, rx=False, total=total)
        req = [(c, u) for c, n, u in events if n == "req"]
        ar = [(c, u) for c, n, u in events if n == "ar"]
        assert len(req) == 1 and ar, (total, events)
        want = req[0][0] + (0 if at_take else 1)
        assert ar[0] == (want, req[0][1]), \
            f"{total} B: first AR (cycle, user) {ar[0]}, the request taken at {req[0]}: " \
            f"want cycle {want} (ISSUE_AT_TAKE {int(at_take)})"


@cocotb.test()
async def test_tx_done(dut):
    """When a TX transfer is done, on a bus and stream that never stall: with TX_DONE_AT_READ
    in the cycle its last beat is read (that R handshake), the beat leaving on the stream in
    the next cycle with tx_tail high until it has; without, in the cycle the stream takes that
    beat (tlast), tx_tail never high. Transfers of one to several bursts, each also checked
    against SegmentMover.pull (and, under stalls, by every sweep: tx_tail only ever over a
    last beat on the stream, the bench's world checks)."""
    tb = TB(dut)
    tb.rng = random.Random(8)
    await tb.cycle_reset()
    cocotb.start_soon(tb.world())
    at_read = param("TX_DONE_AT_READ", 0) != 0
    events = watch_handshakes(dut, {"r": ("axi_rvalid", "axi_rready", None),
                                    "last": ("m_axis_tvalid", "m_axis_tlast", "m_axis_tready"),
                                    "tail": ("tx_tail", "tx_tail", None),
                                    "done": ("done_valid", "done_ready", None)})
    rng = random.Random(17)
    for total in (1, 64, 76, 1500, 4097):
        events.clear()
        await tb.one(rng, rx=False, total=total)
        at = {n: [c for c, m, _ in events if m == n] for n in ("r", "done", "tail")}
        taken = [c for c, m, ready in events if m == "last" and ready]
        assert len(at["done"]) == 1 and len(taken) == 1 and at["r"], (total, events)
        done, last = at["done"][0], taken[0]
        if at_read:
            assert done == at["r"][-1] and last == done + 1 and at["tail"] == [last], \
                f"{total} B: done at {done}, last read at {at['r'][-1]}, last beat taken at " \
                f"{last}, tx_tail at {at['tail']} (want done at the last read, the beat " \
                f"and tx_tail in the next cycle)"
        else:
            assert done == last and not at["tail"], \
                f"{total} B: done at {done}, last beat taken at {last}, tx_tail at {at['tail']}"


@cocotb.test()
async def test_read_ahead(dut):
    """A TX request offered while the mover moves the one before it and held back by its owner
    (req_hold, as the engine holds a chain while the move stage is busy) has its first burst
    read ahead: its address goes out before the request is taken. Taken, it streams its own
    bytes after the frame before it; withdrawn (req_valid low for a cycle), its burst is taken
    off the bus and dropped, and the request offered after it streams its own bytes, not the
    withdrawn one's. Each frame is checked against the model's SegmentMover, with and without
    stalls, and each burst carries its own request's AxUSER. Every third round the read-ahead
    request's data has an error response on one beat (its first, or one further on): taken,
    it ends as a bus error on a transfer's own read does (the bytes before the failing beat,
    a frame under way closed with one tlast + tuser byte, one fault, no done); withdrawn, it
    is dropped without a fault and the next request is whole."""
    tb = TB(dut)
    tb.rng = random.Random(91)
    await tb.cycle_reset()
    cocotb.start_soon(tb.world())
    rng = random.Random(9)

    def frame(total: int) -> tuple[list[tuple[int, int]], bytes]:
        # segment 0 not empty, as a walker hands over (an empty one is skipped, not read ahead)
        segs = tb.draw_segs(rng, total)
        while not segs[0][1]:
            segs = tb.draw_segs(rng, total)
        ref_mem = GuestMemory(MEM_SIZE)
        tb.fill(segs, [tb.mem, ref_mem], rng)
        ref = SegmentMover(DmaPort(ref_mem, AddressSpace(0), 0, AccessLog()))
        return segs, ref.pull(tb.chain(segs, False))

    async def until(cond: Any, what: str, limit: int = 100000) -> None:
        for _ in range(limit):
            await ReadOnly()
            if cond():
                return
            await FallingEdge(dut.clk)
        raise AssertionError(f"{what} not within {limit} cycles")

    # rounds by i: stalls on odd ones, withdrawn when bit 1 is set, an error response every
    # third, so every pairing of the three comes up (a taken failing one at i = 5, 8, 17, 20;
    # a withdrawn failing one at 2, 11, 14, 23)
    for i in range(24):
        tb.stall = (0.0, 0.3)[i % 2]
        withdraw = bool(i & 2)
        (segs_a, want_a), (segs_b, want_b) = frame(rng.choice([1, 64, 76, 300, 1514])), \
            frame(rng.choice([1, 64, 76, 300, 1514]))
        segs_c, want_c = frame(rng.choice([1, 64, 76, 300])) if withdraw else (segs_b, want_b)
        tb.stream, tb.err_at = [], None
        pos = None                            # B's first byte in its failing beat
        if i % 3 == 2:
            # a byte of B: its first, or one a few beats on (past the landing buffer, often)
            k = rng.choice([0, min(len(want_b) - 1, rng.randrange(4 * tb.nbytes))])
            where = [(pa + j) for pa, n in segs_b for j in range(n)]
            tb.err_at = where[k]
            beat = tb.err_at // tb.nbytes * tb.nbytes
            pos = next(p for p, pa in enumerate(where) if beat <= pa < beat + tb.nbytes)
        dones, faults = tb.dones, tb.faults
        # A, taken at once
        await FallingEdge(dut.clk)
        tb.segs = segs_a
        tb.offer(False, len(want_a), segs_a)
        dut.req_valid.value, dut.req_hold.value = 1, 0
        await until(lambda: int(dut.req_ready.value), "request A taken")
        await FallingEdge(dut.clk)
        # B offered and held back while A moves (and after: the owner's stage still busy)
        tb.offer(False, len(want_b), segs_b)
        dut.req_hold.value = 1
        n_bursts = len(tb.bursts)

        def b_read(segs: list[tuple[int, int]], since: int) -> bool:
            return any(not w and any(pa // tb.nbytes * tb.nbytes <= a < pa + n
                                     for pa, n in segs if n)
                       for w, a, _ in tb.bursts[since:])

        await until(lambda d=dones, sb=segs_b, n=n_bursts: tb.dones - d == 1 and b_read(sb, n),
                    "A done and B's burst read ahead")
        await FallingEdge(dut.clk)
        if withdraw:
            dut.req_valid.value = 0
            await FallingEdge(dut.clk)
            await FallingEdge(dut.clk)
            tb.offer(False, len(want_c), segs_c)
            dut.req_valid.value = 1
        tb.segs = segs_c
        dut.req_hold.value = 0
        await until(lambda: int(dut.req_ready.value), "request after A taken")
        await FallingEdge(dut.clk)
        dut.req_valid.value = 0
        ended = dones + faults + 2
        await until(lambda e=ended: tb.dones + tb.faults == e and not int(dut.busy.value),
                    "the second request ended and the mover at rest")
        b_failed = pos is not None and not withdraw
        assert tb.faults - faults == int(b_failed), \
            f"round {i}: {tb.faults - faults} faults; B's data {'had' if pos is not None else 'had no'} " \
            f"error response and was {'withdrawn' if withdraw else 'taken'}"
        frames = [want_a, want_c]
        if b_failed:
            frames = [want_a] + ([want_b[:pos]] if pos else [])
        got, cur = [], bytearray()
        for data, keep, last, user in tb.stream:
            if user:
                # a frame cut by the bus error: one byte with tlast and tuser closes it
                assert b_failed and last and keep == 1 and data[0] == 0, \
                    f"round {i}: tuser on a beat that does not close a cut frame"
                got.append(bytes(cur))
                cur = bytearray()
                continue
            cur += bytes(data[j] for j in range(tb.nbytes) if keep >> j & 1)
            if last:
                got.append(bytes(cur))
                cur = bytearray()
        what = f"round {i} ({'withdrawn' if withdraw else 'taken'}, stall {tb.stall})"
        assert not cur and got == frames, \
            f"{what}: frames of {[len(g) for g in got]} bytes, want {[len(f) for f in frames]}; " \
            f"as the model's: {[g == w for g, w in zip(got, frames, strict=False)]}"
