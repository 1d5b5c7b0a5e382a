# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_axi_arb alone (the data path's AXI4 master arbiter).

The bench plays the NM masters (the engine's walker and completion ring-item ports and its DMA
mover) and the memory behind the shared port. Each master keeps AXI's rules on its own side: a
valid and its payload are held until the handshake, W may come before, with or after its AW,
the next AW may be offered while the last write's data still flows, and RREADY / BREADY are
drawn at random. The memory is either cocotbext-axi's ``AxiRam`` with every channel paused at
random (in order, one burst at a time), or :class:`ReorderingMemory`, a slave of the bench's
own that answers reads and write responses of different IDs out of order with the read beats
of several IDs interleaved (AXI4 §A5.3 orders responses per ID only), and, where the ID width
leaves room, responses with an ID no master issued.

Every cycle is checked against :class:`ArbRef`, the arbiter's contract (rtl/vdpa_axi_arb.sv
header): who owns AR and AW/W (round robin among the masters asking, except that master
AW_FIRST, when it asks, gets the next write grant; an AR grant held while ARVALID waits, a
write grant from its AW to its last W beat, AW and W of one write in either
order), that the shared side shows exactly the owner's payload with ID = the owner's index, its
handshakes happen in the cycle of the owner's and of no other master's, R and B beats go to the
master their ID names (unknown IDs taken at once and shown to nobody), and the shared side
keeps AXI's rules (a valid's payload steady until ready; size, INCR, protection as set). The
masters check end to end what they get back: every read beat is the memory's bytes at its
address with the memory's response, in order per master; every write response is the
memory's for that write, in order per master; after the run every written byte is in memory
(strobes honoured) and nothing else changed. The waits are bounded (NM - 1 other grants before
a master asking gets its own, grants to AW_FIRST not counted) and, with one master asking,
its handshakes on every channel are the shared port's in the same cycle: no added latency. A
reset with reads and writes in flight (the masters and the memory reset with the arbiter, as
in the device) leaves nothing valid and no grant, and the traffic after it passes the same
checks from a fresh start.

Stimulus is seeded from cocotb's per-test random (COCOTB_RANDOM_SEED reproduces a run); each
stream logs its seed and any failure names it (AXI_ARB_SEED=<seed> replays that stream). The pytest entry is
tests/rtl/test_vdpa_axi_arb.py; the builds (NM 1..4, DATA_W 32 and 512, ID_W 2 and 4) are in
testplan/vdpa_nic_sim.yaml.
"""

from __future__ import annotations

import itertools
import os
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly
from cocotbext.axi import AxiBus, AxiRam

from vdpa_tb.nic_tb import param

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the bench is NM AXI masters and a reordering AXI slave, each handshake drawn per cycle, "
    "and compares the arbiter's grant, routing and pass-through with its contract in every "
    "cycle; the block is combinational but for a few registers and each test a few thousand "
    "cycles"
)

CLK_NS = 10
OKAY, SLVERR = 0, 2
INCR = 0b01
#: AxPROT the arbiter sets for every master: unprivileged, non-secure, data
PROT = 0b010
#: memory behind the shared port: a read-only region the reads come from, then one write
#: region per master, each write to fresh bytes (so the final image says what every write did)
MEM_SIZE = 1 << 23
READ_REGION = 1 << 20
PAGE = 4096                # an INCR burst never crosses one (AXI4 §A3.4.1)
#: cycles without any handshake anywhere before a run is called hung
HANG_CYCLES = 2000


def rr_pick(asking: set[int], last: int | None, nm: int) -> set[int]:
    """The masters a round-robin grant may go to: the first asking after ``last`` in cyclic
    order (``last`` itself last); before the first grant any of them (where round robin starts
    is not part of the contract)."""
    if last is None:
        return set(asking)
    for k in range(1, nm + 1):
        if (last + k) % nm in asking:
            return {(last + k) % nm}
    return set()


@dataclass
class Burst:
    """One transaction of one master: the AR or AW payload and, for a write, its beats."""

    master: int
    seq: int
    addr: int
    len: int                          # AxLEN: beats - 1
    user: int
    data: list[int] = field(default_factory=list)
    strb: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# memories behind the shared port
# ---------------------------------------------------------------------------------------

class Memory:
    """The bytes behind the shared port and the responses the memory gives: what the masters'
    expectations and the final image are computed from."""

    def __init__(self, rng: random.Random, nbytes: int) -> None:
        self.nbytes = nbytes
        self.image = bytearray(rng.randbytes(MEM_SIZE))
        self.initial = bytes(self.image)

    def beat(self, addr: int) -> int:
        return int.from_bytes(self.image[addr:addr + self.nbytes], "little")

    def rresp(self, addr: int) -> int:
        return OKAY

    def bresp(self, b: Burst) -> int:
        return OKAY

    def apply(self, b: Burst, beat: int, data: int, strb: int) -> None:
        addr = b.addr + beat * self.nbytes
        raw = data.to_bytes(self.nbytes, "little")
        for i in range(self.nbytes):
            if strb >> i & 1:
                self.image[addr + i] = raw[i]

    def final_image(self) -> bytes:
        return bytes(self.image)

    def rebase(self) -> None:
        """After a reset: the bytes as they are (a write cut by the reset may have landed in
        part) are what the writes after it are checked against."""
        self.initial = self.final_image()


class RamMemory(Memory):
    """cocotbext-axi's AxiRam on the shared port, every channel paused at random: in order,
    one burst at a time, OKAY always."""

    def __init__(self, rng: random.Random, nbytes: int, dut: Any, pause: float) -> None:
        super().__init__(rng, nbytes)
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=MEM_SIZE)
        self.ram.write(0, self.initial)
        prng = random.Random(rng.getrandbits(32))

        def pauses() -> Iterator[bool]:
            while True:
                yield prng.random() < pause

        for ch in (self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                   self.ram.write_if.b_channel, self.ram.read_if.ar_channel,
                   self.ram.read_if.r_channel):
            ch.set_pause_generator(pauses())

    def final_image(self) -> bytes:
        return bytes(self.ram.read(0, MEM_SIZE))


class ReorderingMemory(Memory):
    """The bench's own slave, driven in the bench's cycle: AR, AW and W taken at random; read
    beats of every ID with reads pending interleaved beat by beat in a random order (in order
    within an ID), write responses of different IDs out of order; SLVERR on some beats and
    writes (a fixed function of the address, so the masters know what to expect); with
    ``stray`` > 0, R bursts and B responses with IDs no master issued mixed in."""

    def __init__(self, rng: random.Random, nbytes: int, nm: int, id_w: int) -> None:
        super().__init__(rng, nbytes)
        self.rng = random.Random(rng.getrandbits(32))
        self.nm = nm
        self.unknown_ids = list(range(nm, 1 << id_w))
        self.ready = 0.7      # chance AR / AW / W are ready in a cycle
        self.answer = 0.7     # chance an R / B is offered in a cycle when one can be
        self.stray = 0.0      # chance an offered response is one with an unknown ID
        self.reads: dict[int, deque[list[int]]] = {}   # id -> [addr, len, next beat]
        self.aws: deque[tuple[int, Burst]] = deque()   # AWs taken whose data is not all in
        self.wbeats: deque[tuple[int, int, int]] = deque()  # (data, strb, last) not yet placed
        self.bq: dict[int, deque[int]] = {}            # id -> bresp of writes complete
        self.r_cur: tuple[int, int, int, int] | None = None  # (id, data, resp, last) offered
        self.b_cur: tuple[int, int] | None = None
        self.stray_r: dict[int, int] = {}              # unknown id -> beats left
        self.stray_sent = 0
        self.placed = 0

    def reset(self) -> None:
        """Reset with the arbiter, as the device's slave is: every transaction in flight
        forgotten (its image keeps what was written)."""
        self.reads.clear()
        self.aws.clear()
        self.wbeats.clear()
        self.bq.clear()
        self.r_cur = self.b_cur = None
        self.stray_r.clear()
        self.placed = 0
        self.rebase()

    def drive_reset(self, dut: Any) -> None:
        """In reset: no response offered (AXI4 §A3.1.2), ready on every channel, so anything
        the arbiter offered would be taken."""
        dut.m_axi_arready.value = dut.m_axi_awready.value = dut.m_axi_wready.value = 1
        dut.m_axi_rvalid.value = dut.m_axi_bvalid.value = 0
        dut.m_axi_rid.value = self.rng.randrange(1 << len(dut.m_axi_rid))
        dut.m_axi_bid.value = self.rng.randrange(1 << len(dut.m_axi_bid))

    def rresp(self, addr: int) -> int:
        return SLVERR if (addr // self.nbytes) % 29 == 3 else OKAY

    def bresp(self, b: Burst) -> int:
        return SLVERR if b.user % 13 == 5 else OKAY

    def idle(self) -> bool:
        return not (any(self.reads.values()) or self.aws or self.wbeats or any(self.bq.values())
                    or self.r_cur or self.b_cur or self.stray_r)

    def drive(self, dut: Any) -> None:
        rng = self.rng
        dut.m_axi_arready.value = int(rng.random() < self.ready)
        dut.m_axi_awready.value = int(rng.random() < self.ready)
        dut.m_axi_wready.value = int(rng.random() < self.ready)
        if self.r_cur is None and rng.random() < self.answer:
            if self.unknown_ids and rng.random() < self.stray and not self.stray_r:
                self.stray_r[rng.choice(self.unknown_ids)] = rng.randrange(1, 4)
            ids = [i for i, q in self.reads.items() if q] + list(self.stray_r)
            if ids:
                rid = rng.choice(ids)
                if rid in self.stray_r:
                    self.stray_r[rid] -= 1
                    last = self.stray_r[rid] == 0
                    if last:
                        del self.stray_r[rid]
                    self.r_cur = (rid, rng.getrandbits(8 * self.nbytes), rng.randrange(4),
                                  int(last))
                else:
                    addr, alen, k = self.reads[rid][0]
                    a = addr + k * self.nbytes
                    self.r_cur = (rid, self.beat(a), self.rresp(a), int(k == alen))
        if self.b_cur is None and rng.random() < self.answer:
            if self.unknown_ids and rng.random() < self.stray:
                self.b_cur = (rng.choice(self.unknown_ids), rng.randrange(4))
            else:
                ids = [i for i, q in self.bq.items() if q]
                if ids:
                    bid = rng.choice(ids)
                    self.b_cur = (bid, self.bq[bid][0])
        r = self.r_cur or (rng.randrange(1 << len(dut.m_axi_rid)), 0, 0, 0)
        dut.m_axi_rvalid.value = int(self.r_cur is not None)
        dut.m_axi_rid.value, dut.m_axi_rdata.value = r[0], r[1]
        dut.m_axi_rresp.value, dut.m_axi_rlast.value = r[2], r[3]
        b = self.b_cur or (rng.randrange(1 << len(dut.m_axi_bid)), 0)
        dut.m_axi_bvalid.value = int(self.b_cur is not None)
        dut.m_axi_bid.value, dut.m_axi_bresp.value = b

    def took_ar(self, arid: int, addr: int, alen: int) -> None:
        self.reads.setdefault(arid, deque()).append([addr, alen, 0])

    def took_aw(self, awid: int, b: Burst) -> None:
        self.aws.append((awid, b))
        self._place()

    def took_w(self, data: int, strb: int, last: int) -> None:
        self.wbeats.append((data, strb, last))
        self._place()

    def _place(self) -> None:
        """W data before its AW is allowed (AXI4 §A3.3.1): beats wait for their address."""
        while self.aws and self.wbeats:
            awid, b = self.aws[0]
            data, strb, last = self.wbeats.popleft()
            self.apply(b, self.placed, data, strb)
            self.placed += 1
            if last:
                self.aws.popleft()
                self.placed = 0
                self.bq.setdefault(awid, deque()).append(self.bresp(b))

    def sent_r(self) -> None:
        assert self.r_cur is not None
        rid = self.r_cur[0]
        if rid < self.nm:
            self.reads[rid][0][2] += 1
            if self.reads[rid][0][2] > self.reads[rid][0][1]:
                self.reads[rid].popleft()
        else:
            self.stray_sent += 1
        self.r_cur = None

    def sent_b(self) -> None:
        assert self.b_cur is not None
        if self.b_cur[0] < self.nm:
            self.bq[self.b_cur[0]].popleft()
        else:
            self.stray_sent += 1
        self.b_cur = None


# ---------------------------------------------------------------------------------------
# the masters
# ---------------------------------------------------------------------------------------

class Master:
    """One master: its reads and writes drawn up front, offered with random gaps, each valid
    and payload held until its handshake; AW and W walk the same list of writes on their own
    (W may lead its AW); RREADY / BREADY at random. It checks what comes back against the
    memory's bytes and responses, in order."""

    def __init__(self, idx: int, rng: random.Random, nbytes: int, mem: Memory) -> None:
        self.idx = idx
        self.rng = rng
        self.nbytes = nbytes
        self.mem = mem
        self.reads: deque[Burst] = deque()
        self.writes: list[Burst] = []
        self.gap = 0.3          # chance a channel idles a cycle before its next offer
        self.ready = 0.7        # chance RREADY / BREADY are up in a cycle
        self.ar: Burst | None = None
        self.aw_i = 0           # next write whose AW is offered
        self.aw_on = False
        self.w_i = 0            # write whose data is offered
        self.w_beat = 0
        self.w_on = False
        self.r_expect: deque[list[Any]] = deque()   # [burst, next beat]
        self.b_expect: deque[Burst] = deque()
        self.rready = self.bready = 0
        self.write_ptr = READ_REGION + idx * ((MEM_SIZE - READ_REGION) // 4)
        self.write_end = self.write_ptr + (MEM_SIZE - READ_REGION) // 4
        self.seq = 0
        self.hold_aw = False    # offer W but keep the AW back (W before its AW, AXI4 §A3.3.1)

    # -- stimulus -------------------------------------------------------------------------
    def draw_len(self, short: bool = False) -> int:
        most = PAGE // self.nbytes - 1
        most = min(most, 255)
        if short:
            return 0
        return self.rng.choice([0, 0, 1, 3, self.rng.randrange(16), self.rng.randrange(most + 1)])

    def add_read(self, alen: int | None = None) -> None:
        alen = self.draw_len() if alen is None else alen
        span = (alen + 1) * self.nbytes
        page = self.rng.randrange(READ_REGION // PAGE) * PAGE
        off = self.rng.randrange((PAGE - span) // self.nbytes + 1) * self.nbytes
        self.reads.append(Burst(self.idx, self.seq, page + off, alen, self.rng.getrandbits(24)))
        self.seq += 1

    def add_write(self, alen: int | None = None) -> None:
        alen = self.draw_len() if alen is None else alen
        span = (alen + 1) * self.nbytes
        if self.write_ptr // PAGE != (self.write_ptr + span - 1) // PAGE:
            self.write_ptr = (self.write_ptr // PAGE + 1) * PAGE
        assert self.write_ptr + span <= self.write_end, "bench: master write region used up"
        full = (1 << self.nbytes) - 1
        strb = [full if self.rng.random() < 0.7 else self.rng.getrandbits(self.nbytes)
                for _ in range(alen + 1)]
        data = [self.rng.getrandbits(8 * self.nbytes) for _ in range(alen + 1)]
        self.writes.append(Burst(self.idx, self.seq, self.write_ptr, alen,
                                 self.rng.getrandbits(24), data, strb))
        self.write_ptr += span
        self.seq += 1

    def busy(self) -> bool:
        return bool(self.reads or self.ar or self.aw_i < len(self.writes)
                    or self.w_i < len(self.writes) or self.r_expect or self.b_expect)

    # -- the cycle --------------------------------------------------------------------------
    def step(self) -> None:
        """Before the cycle: offers taken up, readies drawn."""
        rng = self.rng
        if self.ar is None and self.reads and rng.random() >= self.gap:
            self.ar = self.reads.popleft()
        if not self.aw_on and not self.hold_aw and self.aw_i < len(self.writes) and \
                rng.random() >= self.gap:
            self.aw_on = True
        if not self.w_on and self.w_i < len(self.writes) and rng.random() >= self.gap:
            self.w_on = True
        self.rready = int(rng.random() < self.ready)
        self.bready = int(rng.random() < self.ready)

    @property
    def aw(self) -> Burst | None:
        return self.writes[self.aw_i] if self.aw_on else None

    @property
    def w(self) -> tuple[int, int, int] | None:
        if not self.w_on:
            return None
        b = self.writes[self.w_i]
        return b.data[self.w_beat], b.strb[self.w_beat], int(self.w_beat == b.len)

    def took_ar(self) -> None:
        assert self.ar is not None
        self.r_expect.append([self.ar, 0])
        self.ar = None

    def took_aw(self) -> None:
        self.b_expect.append(self.writes[self.aw_i])
        self.aw_i += 1
        self.aw_on = False

    def took_w(self) -> None:
        self.w_beat += 1
        if self.w_beat > self.writes[self.w_i].len:
            self.w_i, self.w_beat = self.w_i + 1, 0
        # AXI lets a master drop WVALID between beats; this one does so now and then
        self.w_on = self.w_i < len(self.writes) and self.rng.random() >= self.gap / 2

    def got_r(self, data: int, resp: int, last: int, where: str) -> None:
        assert self.r_expect, f"{where}: master {self.idx} got a read beat it never asked for"
        b, k = self.r_expect[0]
        a = b.addr + k * self.nbytes
        want = (self.mem.beat(a), self.mem.rresp(a), int(k == b.len))
        assert (data, resp, last) == want, \
            f"{where}: master {self.idx} read {b.seq} beat {k} at {a:#x}: got data " \
            f"{data:#x} resp {resp} last {last}, the memory has {want[0]:#x} resp {want[1]} " \
            f"last {want[2]}"
        self.r_expect[0][1] += 1
        if k == b.len:
            self.r_expect.popleft()

    def got_b(self, resp: int, where: str) -> None:
        assert self.b_expect, f"{where}: master {self.idx} got a write response it never asked for"
        b = self.b_expect.popleft()
        assert resp == self.mem.bresp(b), \
            f"{where}: master {self.idx} write {b.seq} at {b.addr:#x}: bresp {resp}, the " \
            f"memory answered {self.mem.bresp(b)}"


# ---------------------------------------------------------------------------------------
# the contract, cycle by cycle
# ---------------------------------------------------------------------------------------

@dataclass
class Sample:
    """One cycle's signals, both sides, as integers (packed master vectors split)."""

    s_arvalid: int
    s_arready: int
    s_awvalid: int
    s_awready: int
    s_wvalid: int
    s_wready: int
    s_rvalid: int
    s_rready: int
    s_bvalid: int
    s_bready: int
    s_rdata: int
    s_rresp: int
    s_rlast: int
    s_bresp: int
    m: dict[str, int]


class ArbRef:
    """The arbiter's contract (module docstring), checked on each cycle's sample; counts what
    the stimulus exercised."""

    def __init__(self, nm: int, nbytes: int, id_w: int, aw_first: int = -1) -> None:
        self.nm = nm
        self.aw_first = aw_first
        self.nbytes = nbytes
        self.id_w = id_w
        self.ar_held: int | None = None     # AR shown and not taken: its master keeps it
        self.ar_last: int | None = None
        self.w_owner: int | None = None     # a write under way at the shared port
        self.w_aw_done = self.w_done = False
        self.w_aw_seq = self.w_w_seq = -1
        self.w_last: int | None = None
        self.prev: dict[str, Any] = {}
        self.wait = {ch: [0] * nm for ch in ("ar", "aw")}
        self.stats: dict[str, int] = dict.fromkeys(
            ("ar", "aw", "w", "r", "b", "contended_ar", "contended_aw", "max_wait_ar",
             "max_wait_aw", "ar_held", "w_before_aw", "aw_waits_w", "r_interleaved",
             "r_out_of_order", "b_out_of_order", "stray_r", "stray_b", "alone_ar", "alone_aw",
             "alone_w", "alone_r", "alone_b", "first_aw"), 0)
        self.r_open: set[int] = set()       # IDs with a read burst part way through
        self.ar_order: deque[int] = deque()  # IDs of reads taken, in order (for out-of-order)
        self.aw_order: deque[int] = deque()
        self.last_r_id: int | None = None

    def check(self, s: Sample, masters: list[Master], where: str) -> None:
        nm, m = self.nm, s.m
        bit = lambda v, i: v >> i & 1  # noqa: E731
        # -- constants of every AR / AW (AXI4 §A3.4.1): full-width INCR, unprivileged data --
        for ch in ("ar", "aw"):
            if m[f"{ch}valid"]:
                assert (m[f"{ch}size"], m[f"{ch}burst"], m[f"{ch}prot"]) == \
                    (self.nbytes.bit_length() - 1, INCR, PROT), \
                    f"{where}: {ch.upper()} size/burst/prot {m[ch + 'size']}/" \
                    f"{m[ch + 'burst']}/{m[ch + 'prot']}"
        # -- the shared side keeps AXI's rules: a valid and its payload held until ready ---
        for ch, keys in (("ar", ("arid", "araddr", "arlen", "aruser")),
                         ("aw", ("awid", "awaddr", "awlen", "awuser")),
                         ("w", ("wdata", "wstrb", "wlast"))):
            p = self.prev.get(ch)
            now = tuple(m[k] for k in keys)
            if p is not None:
                assert m[f"{ch}valid"] and now == p, \
                    f"{where}: shared {ch.upper()} changed under VALID without READY: " \
                    f"{p} -> {now if m[ch + 'valid'] else 'valid dropped'}"
            self.prev[ch] = now if m[f"{ch}valid"] and not m[f"{ch}ready"] else None

        # -- AR: owner, payload, handshake in the owner's cycle only ------------------------
        asking = {i for i in range(nm) if bit(s.s_arvalid, i)}
        s_hs = s.s_arvalid & s.s_arready
        if not asking:
            assert not m["arvalid"], f"{where}: ARVALID with no master asking"
            assert s_hs == 0
        else:
            may = {self.ar_held} if self.ar_held is not None else \
                rr_pick(asking, self.ar_last, nm)
            owner = m["arid"]
            assert m["arvalid"] and owner in may, \
                f"{where}: AR to ID {owner} (valid {m['arvalid']}), masters asking " \
                f"{sorted(asking)}, the grant is {'held by' if self.ar_held is not None else 'due to'} " \
                f"{sorted(may)}"
            b = masters[owner].ar
            assert b is not None and (m["araddr"], m["arlen"], m["aruser"]) == \
                (b.addr, b.len, b.user), \
                f"{where}: AR of master {owner} shown as addr {m['araddr']:#x} len " \
                f"{m['arlen']} user {m['aruser']:#x}, it offers {b}"
            want_hs = (1 << owner) if m["arready"] else 0
            assert s_hs == want_hs and s.s_arready & ~(1 << owner) == 0, \
                f"{where}: ARREADY {m['arready']} to master {owner}, masters see arready " \
                f"{s.s_arready:#x}"
            if len(asking) > 1:
                self.stats["contended_ar"] += 1
            elif m["arready"] == bit(s.s_arready, owner):
                self.stats["alone_ar"] += 1
            if m["arready"]:
                self.stats["ar"] += 1
                self.ar_last, self.ar_held = owner, None
                self.ar_order.append(owner)
            else:
                self.stats["ar_held"] += self.ar_held is not None
                self.ar_held = owner
            self._waits("ar", asking, owner if m["arready"] else None, where)

        # -- AW / W: one write at a time, from its AW to its last beat ----------------------
        awask = {i for i in range(nm) if bit(s.s_awvalid, i)}
        aw_hs = s.s_awvalid & s.s_awready
        w_hs = s.s_wvalid & s.s_wready
        if self.w_owner is None and awask:
            first = self.aw_first in awask
            may = {self.aw_first} if first else rr_pick(awask, self.w_last, nm)
            assert m["awvalid"] and m["awid"] in may, \
                f"{where}: write grant to ID {m['awid']} (AWVALID {m['awvalid']}), masters " \
                f"asking {sorted(awask)}, due to {sorted(may)}"
            self.w_owner = m["awid"]
            self.w_aw_done = self.w_done = False
            self.w_aw_seq = self.w_w_seq = -1
            if len(awask) > 1:
                self.stats["contended_aw"] += 1
                self.stats["first_aw"] += first
        owner = self.w_owner
        if owner is None:
            assert not m["awvalid"] and not m["wvalid"], \
                f"{where}: AWVALID {m['awvalid']} WVALID {m['wvalid']} with no write granted " \
                f"(W without AW must wait)"
            assert aw_hs == 0 and w_hs == 0, f"{where}: a master's AW/W taken with no grant"
        else:
            mo = masters[owner]
            aw_want = int(not self.w_aw_done and bit(s.s_awvalid, owner))
            w_want = int(not self.w_done and bit(s.s_wvalid, owner))
            assert (m["awvalid"], m["wvalid"]) == (aw_want, w_want), \
                f"{where}: write of master {owner} under way (AW done {self.w_aw_done}, W " \
                f"done {self.w_done}): AWVALID/WVALID {m['awvalid']}/{m['wvalid']}, its " \
                f"master offers {bit(s.s_awvalid, owner)}/{bit(s.s_wvalid, owner)}"
            if m["awvalid"]:
                assert m["awid"] == owner
                b = mo.aw
                assert b is not None and (m["awaddr"], m["awlen"], m["awuser"]) == \
                    (b.addr, b.len, b.user), \
                    f"{where}: AW of master {owner} shown as addr {m['awaddr']:#x} len " \
                    f"{m['awlen']} user {m['awuser']:#x}, it offers {b}"
            if m["wvalid"]:
                w = mo.w
                assert w is not None and (m["wdata"], m["wstrb"], m["wlast"]) == w, \
                    f"{where}: W of master {owner} shown as data {m['wdata']:#x} strb " \
                    f"{m['wstrb']:#x} last {m['wlast']}, it offers {w}"
            awr = int(not self.w_aw_done and m["awready"])
            wr = int(not self.w_done and m["wready"])
            assert s.s_awready == awr << owner and s.s_wready == wr << owner, \
                f"{where}: master {owner} owns the write: s_awready {s.s_awready:#x} " \
                f"s_wready {s.s_wready:#x}, shared AWREADY {m['awready']} WREADY {m['wready']}"
            if aw_want and not mo.w_i < mo.aw_i and len(awask) == 1:
                self.stats["alone_aw"] += 1
            if w_want and len(awask | {owner}) == 1:
                self.stats["alone_w"] += 1
            if m["awvalid"] and m["awready"]:
                self.stats["aw"] += 1
                self.w_aw_done, self.w_aw_seq = True, mo.aw_i
                self.aw_order.append(owner)
                if self.w_w_seq >= 0:
                    assert self.w_aw_seq == self.w_w_seq
            if m["wvalid"] and m["wready"]:
                self.stats["w"] += 1
                if self.w_w_seq < 0:
                    self.w_w_seq = mo.w_i
                    self.stats["w_before_aw"] += not self.w_aw_done
                assert mo.w_i == self.w_w_seq, \
                    f"{where}: W beat of master {owner}'s write {mo.w_i} in the grant of its " \
                    f"write {self.w_w_seq}"
                if self.w_aw_done:
                    assert self.w_aw_seq == self.w_w_seq, \
                        f"{where}: W of master {owner}'s write {self.w_w_seq} after the AW " \
                        f"of its write {self.w_aw_seq}"
                self.w_done = bool(m["wlast"])
            if bit(s.s_awvalid, owner) and self.w_aw_done and not self.w_done:
                self.stats["aw_waits_w"] += 1
            if self.w_aw_done and self.w_done:
                # (a first grant leaves the round robin where it was)
                if owner != self.aw_first:
                    self.w_last = owner
                self.w_owner = None
        granted = owner if (m["awvalid"] and m["awready"]) else None
        if granted is None or granted != self.aw_first:
            self._waits("aw", awask, granted, where)

        # -- R and B: by ID, unknown IDs taken at once and shown to nobody -----------------
        for ch in ("r", "b"):
            valid, xid = m[f"{ch}valid"], m[f"{ch}id"]
            s_valid = s.s_rvalid if ch == "r" else s.s_bvalid
            s_ready = s.s_rready if ch == "r" else s.s_bready
            to = (1 << xid) if valid and xid < nm else 0
            assert s_valid == to, \
                f"{where}: {ch.upper()}VALID {valid} ID {xid}: masters see valid " \
                f"{s_valid:#x}, the ID names {to:#x}"
            ready = int(valid and (xid >= nm or bool(s_ready >> xid & 1)))
            assert m[f"{ch}ready"] == ready, \
                f"{where}: {ch.upper()}READY {m[ch + 'ready']} under {ch.upper()}VALID {valid} " \
                f"ID {xid} (masters' ready {s_ready:#x}); an unknown ID is taken at once"
            if valid and xid < nm and m[f"{ch}ready"]:
                self.stats[f"alone_{ch}"] += int(not any(
                    masters[i].busy() for i in range(nm) if i != xid))
        if m["rvalid"]:
            assert (s.s_rdata, s.s_rresp, s.s_rlast) == (m["rdata"], m["rresp"], m["rlast"])
        if m["bvalid"]:
            assert s.s_bresp == m["bresp"]
        if m["rvalid"] and m["rready"]:
            rid = m["rid"]
            if rid >= nm:
                self.stats["stray_r"] += 1
            else:
                self.stats["r"] += 1
                if any(i != rid for i in self.r_open):
                    self.stats["r_interleaved"] += 1
                if rid not in self.r_open:
                    self.r_open.add(rid)
                    if self.ar_order and self.ar_order[0] != rid:
                        self.stats["r_out_of_order"] += 1
                    self.ar_order.remove(rid)
                if m["rlast"]:
                    self.r_open.remove(rid)
        if m["bvalid"] and m["bready"]:
            bid = m["bid"]
            if bid >= nm:
                self.stats["stray_b"] += 1
            else:
                self.stats["b"] += 1
                if self.aw_order and self.aw_order[0] != bid:
                    self.stats["b_out_of_order"] += 1
                self.aw_order.remove(bid)

    def _waits(self, ch: str, asking: set[int], granted: int | None, where: str) -> None:
        """Fairness: a master asking sees at most NM - 1 grants of others before its own."""
        for i in range(self.nm):
            if i == granted or i not in asking:
                self.wait[ch][i] = 0
            elif granted is not None:
                self.wait[ch][i] += 1
                assert self.wait[ch][i] <= self.nm - 1, \
                    f"{where}: master {i} asking on {ch.upper()} passed over " \
                    f"{self.wait[ch][i]} times in a row"
                self.stats[f"max_wait_{ch}"] = max(self.stats[f"max_wait_{ch}"],
                                                   self.wait[ch][i])


# ---------------------------------------------------------------------------------------
# the bench
# ---------------------------------------------------------------------------------------

MASTER_IN = ("s_araddr", "s_arlen", "s_aruser", "s_arvalid", "s_rready", "s_awaddr", "s_awlen",
             "s_awuser", "s_awvalid", "s_wdata", "s_wstrb", "s_wlast", "s_wvalid", "s_bready")
SHARED_OUT = ("awid", "awaddr", "awlen", "awsize", "awburst", "awprot", "awuser", "awvalid",
              "wdata", "wstrb", "wlast", "wvalid", "bready", "arid", "araddr", "arlen",
              "arsize", "arburst", "arprot", "aruser", "arvalid", "rready")
SHARED_IN = ("awready", "wready", "bid", "bresp", "bvalid", "arready", "rid", "rdata", "rresp",
             "rlast", "rvalid")


class TB:
    def __init__(self, dut: Any, seed: int, memory: str, pause: float = 0.3) -> None:
        self.dut = dut
        self.nm = param("NM", 3)
        self.id_w = param("ID_W", 4)
        self.aw_first = param("AW_FIRST", -1)
        self.nbytes = len(dut.m_axi_wstrb)
        self.addr_w = len(dut.m_axi_araddr)
        self.user_w = len(dut.m_axi_aruser)
        self.seed = seed
        rng = random.Random(seed)
        Clock(dut.clk, CLK_NS, unit="ns").start()
        for name in MASTER_IN:
            getattr(dut, name).value = 0
        self.mem: Memory
        if memory == "ram":
            self.mem = RamMemory(rng, self.nbytes, dut, pause)
            self.slave: ReorderingMemory | None = None
        else:
            self.slave = ReorderingMemory(rng, self.nbytes, self.nm, self.id_w)
            self.mem = self.slave
            for name in SHARED_IN:
                getattr(dut, "m_axi_" + name).value = 0
        self.masters = [Master(i, random.Random(rng.getrandbits(32)), self.nbytes, self.mem)
                        for i in range(self.nm)]
        self.ref = ArbRef(self.nm, self.nbytes, self.id_w, self.aw_first)
        self.cycles = 0
        self.where = f"seed {seed} ({memory}), "
        self.out = {n: getattr(dut, n) for n in
                    ("s_arready", "s_awready", "s_wready", "s_rvalid", "s_bvalid", "s_rdata",
                     "s_rresp", "s_rlast", "s_bresp")}
        self.shared = {n: getattr(dut, "m_axi_" + n) for n in SHARED_OUT + SHARED_IN}

    async def reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(3):
            await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    def pack(self, values: list[int], width: int) -> int:
        return sum(v << (i * width) for i, v in enumerate(values))

    def drive(self) -> None:
        dut, ms = self.dut, self.masters
        for mo in ms:
            mo.step()
        w = [mo.w for mo in ms]
        # a payload no valid qualifies is noise, so nothing can lean on it
        rnd = ms[0].rng.getrandbits
        for ch, offers in (("ar", [mo.ar for mo in ms]), ("aw", [mo.aw for mo in ms])):
            getattr(dut, f"s_{ch}valid").value = self.pack([int(b is not None) for b in offers], 1)
            getattr(dut, f"s_{ch}addr").value = self.pack(
                [b.addr if b else rnd(self.addr_w) for b in offers], self.addr_w)
            getattr(dut, f"s_{ch}len").value = self.pack(
                [b.len if b else rnd(8) for b in offers], 8)
            getattr(dut, f"s_{ch}user").value = self.pack(
                [b.user if b else rnd(self.user_w) for b in offers], self.user_w)
        dut.s_wvalid.value = self.pack([int(x is not None) for x in w], 1)
        dut.s_wdata.value = self.pack([x[0] if x else rnd(8 * self.nbytes) for x in w],
                                      8 * self.nbytes)
        dut.s_wstrb.value = self.pack([x[1] if x else rnd(self.nbytes) for x in w], self.nbytes)
        dut.s_wlast.value = self.pack([x[2] if x else rnd(1) for x in w], 1)
        dut.s_rready.value = self.pack([mo.rready for mo in ms], 1)
        dut.s_bready.value = self.pack([mo.bready for mo in ms], 1)
        if self.slave is not None:
            self.slave.drive(dut)

    def sample(self) -> Sample:
        o = {k: int(v.value) for k, v in self.out.items()}
        m = {k: int(v.value) for k, v in self.shared.items()}
        ms = self.masters
        return Sample(
            s_arvalid=self.pack([int(mo.ar is not None) for mo in ms], 1),
            s_arready=o["s_arready"],
            s_awvalid=self.pack([int(mo.aw is not None) for mo in ms], 1),
            s_awready=o["s_awready"],
            s_wvalid=self.pack([int(mo.w is not None) for mo in ms], 1),
            s_wready=o["s_wready"],
            s_rvalid=o["s_rvalid"], s_rready=self.pack([mo.rready for mo in ms], 1),
            s_bvalid=o["s_bvalid"], s_bready=self.pack([mo.bready for mo in ms], 1),
            s_rdata=o["s_rdata"], s_rresp=o["s_rresp"], s_rlast=o["s_rlast"],
            s_bresp=o["s_bresp"], m=m)

    def settle(self, s: Sample) -> bool:
        """The cycle's handshakes, as the clock edge will take them; True if any."""
        where = f"{self.where}cycle {self.cycles}"
        self.ref.check(s, self.masters, where)
        m, any_hs = s.m, False
        for i, mo in enumerate(self.masters):
            if (s.s_arvalid & s.s_arready) >> i & 1:
                mo.took_ar()
                any_hs = True
            if s.s_awvalid >> i & 1 and s.s_awready >> i & 1:
                mo.took_aw()
                any_hs = True
            if s.s_wvalid >> i & 1 and s.s_wready >> i & 1:
                mo.took_w()
                any_hs = True
            if s.s_rvalid >> i & 1 and mo.rready:
                mo.got_r(s.s_rdata, s.s_rresp, s.s_rlast, where)
                any_hs = True
            if s.s_bvalid >> i & 1 and mo.bready:
                mo.got_b(s.s_bresp, where)
                any_hs = True
        if self.slave is not None:
            sl = self.slave
            if m["arvalid"] and m["arready"]:
                sl.took_ar(m["arid"], m["araddr"], m["arlen"])
            if m["awvalid"] and m["awready"]:
                mo = self.masters[m["awid"]]
                sl.took_aw(m["awid"], mo.writes[mo.aw_i - 1])
            if m["wvalid"] and m["wready"]:
                sl.took_w(m["wdata"], m["wstrb"], m["wlast"])
            if m["rvalid"] and m["rready"]:
                sl.sent_r()
                any_hs = True
            if m["bvalid"] and m["bready"]:
                sl.sent_b()
                any_hs = True
        else:
            any_hs = any_hs or bool((m["rvalid"] and m["rready"]) or (m["bvalid"] and m["bready"]))
        return any_hs

    async def step(self) -> bool:
        """One cycle: drive, sample, check against the contract, settle; True if any handshake."""
        await FallingEdge(self.dut.clk)
        self.drive()
        await ReadOnly()
        hs = self.settle(self.sample())
        self.cycles += 1
        return hs

    async def run(self, max_cycles: int = 200_000) -> None:
        """Cycles until every master has all its answers and the memory is idle; a run with no
        handshake for HANG_CYCLES cycles fails (the arbiter must never hang)."""
        quiet = 0
        while any(mo.busy() for mo in self.masters) or \
                (self.slave is not None and not self.slave.idle()):
            quiet = 0 if await self.step() else quiet + 1
            assert quiet < HANG_CYCLES, \
                f"{self.where}cycle {self.cycles}: no handshake for {HANG_CYCLES} cycles; " \
                f"masters still want {[mo.busy() for mo in self.masters]}"
            assert self.cycles < max_cycles, f"{self.where}: run longer than {max_cycles} cycles"

    def in_flight(self) -> dict[str, bool]:
        """What is under way now, as a reset would cut it: reads taken whose data is not all
        back, writes taken whose response is not back, a write part way through the port (its
        AW or some of its W beats passed, not both whole), an AR waiting for ARREADY."""
        ref = self.ref
        return {
            "reads": any(mo.r_expect for mo in self.masters),
            "writes": any(mo.b_expect for mo in self.masters),
            "write_part_way": ref.w_owner is not None and (ref.w_aw_done or ref.w_w_seq >= 0),
            "ar_held": ref.ar_held is not None,
        }

    def check_idle(self, where: str, grants_cleared: bool) -> None:
        """Nothing valid toward the masters (RVALID, BVALID) or the slave (ARVALID, AWVALID,
        WVALID), no RREADY/BREADY; with ``grants_cleared`` (once a reset edge has passed) no
        AR/AW/W ready offered to any master either, though the slave is ready on every channel:
        a write grant left over from before the reset would show there."""
        o = {k: int(v.value) for k, v in self.out.items()}
        m = {k: int(v.value) for k, v in self.shared.items()}
        bad = {f"s_{k}": o[f"s_{k}"] for k in ("rvalid", "bvalid") if o[f"s_{k}"]}
        bad |= {f"m_axi_{k}": m[k] for k in ("arvalid", "awvalid", "wvalid", "rready", "bready")
                if m[k]}
        if grants_cleared:
            bad |= {f"s_{k}": o[f"s_{k}"] for k in ("arready", "awready", "wready")
                    if o[f"s_{k}"]}
        assert not bad, f"{where}: the arbiter is not idle: {bad}"

    async def reset_in_flight(self, rng: random.Random, cycles: int = 3,
                              idle_after: int = 8) -> None:
        """Reset as the device resets: rst with the masters and the slave reset too (their
        valids and readies low, AXI4 §A3.1.2; the slave ready on every channel) for ``cycles``
        clock edges, then ``idle_after`` cycles with nothing offered on either side; the
        arbiter checked idle in every one. Then fresh masters, a fresh reference of the
        contract (round robin may start anywhere again) and the memory's image rebased."""
        dut, sl = self.dut, self.slave
        assert sl is not None
        for k in range(cycles + idle_after):
            await FallingEdge(dut.clk)
            dut.rst.value = int(k < cycles)
            for name in MASTER_IN:
                getattr(dut, name).value = 0
            sl.drive_reset(dut)
            await ReadOnly()
            self.check_idle(f"{self.where}cycle {self.cycles} ({'in' if k < cycles else 'after'} "
                            f"reset, {k})", grants_cleared=k > 0)
            self.cycles += 1
        sl.reset()
        self.masters = [Master(i, random.Random(rng.getrandbits(32)), self.nbytes, self.mem)
                        for i in range(self.nm)]
        self.ref = ArbRef(self.nm, self.nbytes, self.id_w, self.aw_first)

    def check_image(self) -> None:
        """Every write's bytes where its strobes say and nothing else changed."""
        want = bytearray(self.mem.initial)
        for mo in self.masters:
            for b in mo.writes:
                for k in range(b.len + 1):
                    raw = b.data[k].to_bytes(self.nbytes, "little")
                    base = b.addr + k * self.nbytes
                    for i in range(self.nbytes):
                        if b.strb[k] >> i & 1:
                            want[base + i] = raw[i]
        got = self.mem.final_image()
        if got != want:
            at = next(i for i in range(MEM_SIZE) if got[i] != want[i])
            raise AssertionError(f"{self.where}memory at {at:#x}: {got[at]:#04x}, the writes "
                                 f"make it {want[at]:#04x}")


def draw_traffic(tb: TB, n: int, who: list[int] | None = None) -> None:
    """``n`` transactions for each master in ``who`` (all by default), reads and writes
    mixed."""
    for i in who if who is not None else range(tb.nm):
        mo = tb.masters[i]
        for _ in range(n):
            if mo.rng.random() < 0.5:
                mo.add_read()
            else:
                mo.add_write()


def shape(tb: TB, rng: random.Random, memory_eager: bool | None = None) -> str:
    """A phase's rates: masters and memory each eager or reluctant (the memory as
    ``memory_eager`` says when given)."""
    eager_m, eager_s = rng.random() < 0.5, rng.random() < 0.5
    eager_s = eager_s if memory_eager is None else memory_eager
    for mo in tb.masters:
        mo.gap = rng.choice([0.0, 0.1]) if eager_m else rng.choice([0.4, 0.7])
        mo.ready = rng.choice([1.0, 0.9]) if eager_m else rng.choice([0.3, 0.6])
    if tb.slave is not None:
        tb.slave.ready = rng.choice([1.0, 0.9]) if eager_s else rng.choice([0.3, 0.6])
        tb.slave.answer = rng.choice([1.0, 0.9]) if eager_s else rng.choice([0.3, 0.6])
    return f"masters {'eager' if eager_m else 'reluctant'}, memory " \
           f"{'eager' if eager_s else 'reluctant'}"


async def start(dut: Any, memory: str, pause: float = 0.3) -> TB:
    # AXI_ARB_SEED replays one stream's seed as a failure names it
    seed = int(os.environ["AXI_ARB_SEED"]) if "AXI_ARB_SEED" in os.environ else random.getrandbits(32)
    dut._log.info("axi arb %s: seed %d", memory, seed)
    tb = TB(dut, seed, memory, pause)
    await tb.reset()
    return tb


# ---------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------

@cocotb.test()
async def test_random_traffic_reordering_memory(dut):
    """Every master reads and writes at random through a memory that answers IDs out of order,
    interleaves read beats of several IDs and mixes in responses with IDs nobody issued, in
    phases of eager and reluctant masters and memory; each cycle against the contract, every
    answer against the memory, the final image against the writes. The run must have
    contended, held an AR grant, made an AW wait for its write's data, taken W before AW,
    interleaved and reordered answers and, where the ID width allows, dropped strays (a
    master alone is test_one_master_alone_no_added_latency's)."""
    tb = await start(dut, "reorder")
    assert tb.slave is not None
    rng = random.Random(tb.seed ^ 0x5A5A)
    need = ["ar", "aw", "w", "r", "b", "ar_held", "w_before_aw"]
    if tb.nm > 1:
        need += ["contended_ar", "contended_aw", "aw_waits_w", "r_interleaved",
                 "r_out_of_order", "b_out_of_order"]
    if tb.slave.unknown_ids:
        need += ["stray_r", "stray_b"]
    if tb.aw_first >= 0 and tb.nm > 1:
        need += ["first_aw"]
    # six phases, then more (up to eighteen) while a case the run must have met is still rare:
    # the traffic is random, and a seed that meets one of them twice only is not a failure of
    # the arbiter (seed 3842567406 reordered only two write responses in six phases, seed
    # 4262004997 at DATA_W 512 only two in twelve)
    phases, slow_seen, phase = 6, False, 0
    st = tb.ref.stats
    while phase < phases or (phase < 4 * phases and any(st[k] < 3 for k in need)):
        # at least one phase with a reluctant memory, or no AR grant need ever be held (with
        # an eager one in every phase, one seed in 32 held none: a seed-dependent failure)
        how = shape(tb, rng, False if phase == phases - 1 and not slow_seen else None)
        slow_seen = slow_seen or "memory reluctant" in how
        tb.slave.stray = 0.15 if phase % 2 else 0.0
        draw_traffic(tb, 25)
        dut._log.info("phase %d: %s, stray %.2f", phase, how, tb.slave.stray)
        await tb.run()
        phase += 1
    tb.check_image()
    dut._log.info("axi arb reorder: %d cycles, %d phases, %s", tb.cycles, phase, st)
    thin = [k for k in need if st[k] < 3]
    assert not thin, f"{tb.where}too few {thin} to mean anything ({st})"
    if tb.nm > 1:
        assert st["max_wait_ar"] >= 1 and st["max_wait_aw"] >= 1, st


@cocotb.test()
async def test_random_traffic_axi_ram(dut):
    """The same traffic against cocotbext-axi's AxiRam with all five channels paused at random
    (in order, one burst at a time): everything lands and comes back intact and in order."""
    tb = await start(dut, "ram", pause=0.35)
    rng = random.Random(tb.seed ^ 0xA5A5)
    for phase in range(4):
        how = shape(tb, rng)
        draw_traffic(tb, 20)
        dut._log.info("phase %d: %s", phase, how)
        await tb.run()
    tb.check_image()
    st = tb.ref.stats
    dut._log.info("axi arb ram: %d cycles, %s", tb.cycles, st)
    thin = [k for k in ("ar", "aw", "w", "r", "b", "ar_held") +
            (("contended_ar", "contended_aw") if tb.nm > 1 else ()) if st[k] < 3]
    assert not thin, f"{tb.where}too few {thin} ({st})"


@cocotb.test()
async def test_one_master_alone_no_added_latency(dut):
    """Each master alone (the others idle), memory always ready: back-to-back single-beat
    reads are taken one a cycle, and single-beat writes with AW and W together one a cycle,
    exactly as if the master held the port (the grant is combinational and a write's grant is
    given back at the edge that takes its last beat). Then each alone under random
    backpressure, every cycle's handshakes the shared port's (the per-cycle contract)."""
    tb = await start(dut, "reorder")
    sl = tb.slave
    assert sl is not None
    n = 24
    for i, mo in enumerate(tb.masters):
        mo.gap, mo.ready = 0.0, 1.0
        sl.ready = sl.answer = 1.0
        for kind in ("read", "write"):
            for _ in range(n):
                (mo.add_read if kind == "read" else mo.add_write)(0)
            before = dict(tb.ref.stats)
            first = last = None
            while mo.reads or mo.ar or mo.aw_i < len(mo.writes):
                await FallingEdge(dut.clk)
                tb.drive()
                await ReadOnly()
                tb.settle(tb.sample())
                tb.cycles += 1
                took = tb.ref.stats["ar" if kind == "read" else "aw"] > \
                    before["ar" if kind == "read" else "aw"]
                if took:
                    first = tb.cycles if first is None else first
                    last = tb.cycles
                    before = dict(tb.ref.stats)
                assert tb.cycles < 100_000
            await tb.run()
            assert first is not None and last is not None
            span = last - first + 1
            dut._log.info("master %d alone: %d %ss in %d cycles", i, n, kind, span)
            assert span == n, \
                f"{tb.where}master {i} alone, memory always ready: {n} single-beat {kind}s " \
                f"took {span} cycles, one a cycle expected"
    rng = random.Random(tb.seed ^ 0x3C3C)
    for i in range(tb.nm):
        shape(tb, rng)
        draw_traffic(tb, 20, [i])
        await tb.run()
    tb.check_image()
    st = tb.ref.stats
    dut._log.info("axi arb alone: %s", st)
    thin = [k for k in ("alone_ar", "alone_aw", "alone_w", "alone_r", "alone_b") if st[k] < 20]
    assert not thin, f"{tb.where}too few {thin} ({st})"
    assert st["contended_ar"] == st["contended_aw"] == 0


@cocotb.test()
async def test_all_asking_round_robin(dut):
    """Every master asks all the time on AR and AW (bursts of 1, 4 and 8 beats), the memory
    ready at random: grants go round in order (the contract's round robin, checked each
    grant), each master waits at most NM - 1 grants of others, and over the run every master
    gets its share (within one grant of the others')."""
    tb = await start(dut, "reorder")
    sl = tb.slave
    assert sl is not None
    sl.ready, sl.answer = 0.6, 0.8
    for mo in tb.masters:
        mo.gap, mo.ready = 0.0, 1.0
        for _ in range(12):
            mo.add_read(tb.masters[0].rng.choice([0, 3, 7]))
            mo.add_write(tb.masters[0].rng.choice([0, 3, 7]))
    grants: dict[str, list[int]] = {"ar": [], "aw": []}
    while any(mo.busy() for mo in tb.masters) or not sl.idle():
        await FallingEdge(dut.clk)
        tb.drive()
        await ReadOnly()
        s = tb.sample()
        all_ask = [all(s.s_arvalid >> i & 1 for i in range(tb.nm)),
                   all(s.s_awvalid >> i & 1 for i in range(tb.nm))]
        if s.m["arvalid"] and s.m["arready"] and all_ask[0]:
            grants["ar"].append(s.m["arid"])
        if s.m["awvalid"] and s.m["awready"] and all_ask[1]:
            grants["aw"].append(s.m["awid"])
        tb.settle(s)
        tb.cycles += 1
        assert tb.cycles < 100_000
    tb.check_image()
    st = tb.ref.stats
    dut._log.info("axi arb all asking: AR %s, AW %s, %s", grants["ar"], grants["aw"], st)
    if tb.aw_first >= 0:
        # while it asks, the first master takes every write grant
        assert grants["aw"] and set(grants["aw"]) == {tb.aw_first}, \
            f"{tb.where}AW grants with every master asking: {grants['aw']}, not all to " \
            f"AW_FIRST {tb.aw_first}"
        del grants["aw"]
    for ch, g in grants.items():
        assert len(g) >= 3 * tb.nm, f"{tb.where}only {len(g)} {ch.upper()} grants with all asking"
        for a, b in itertools.pairwise(g):
            assert b == (a + 1) % tb.nm, \
                f"{tb.where}{ch.upper()} grants with every master asking: {g} is not round robin"
        share = [g.count(i) for i in range(tb.nm)]
        assert max(share) - min(share) <= 1, \
            f"{tb.where}{ch.upper()} grants per master with every master asking: {share}"
    if tb.nm > 1:
        assert st["max_wait_ar"] == tb.nm - 1, st
        assert tb.aw_first >= 0 or st["max_wait_aw"] == tb.nm - 1, st


@cocotb.test()
async def test_reset_with_traffic_in_flight(dut):
    """Reset while the masters have reads and writes outstanding, in rounds: slow memory and
    eager masters pile work up (reads whose data has not all come back, writes whose
    response has not, a write part way through the port, an AR waiting), then rst with the
    masters and the memory reset too, as the device resets them together. In reset and for
    8 cycles after it, the memory ready on every channel and nothing offered: no valid toward
    the masters or the memory, no RREADY/BREADY, and from the first reset edge no ready to
    any master (no grant survives). Then fresh masters offer W before their AW (held back a
    few cycles) and one master, not the one whose AR waited, reads: no W passes without its
    grant, the AR is that master's. Then a fresh random stream against a fresh reference of
    the contract: every answer a master gets is one it asked for after the reset, with the
    memory's bytes, and the memory image is the post-reset image plus the new writes.

    The slave side's contract across a reset: the arbiter keeps no record of transactions in
    flight (it holds grants, not transactions), so the slave must be reset with it, as every
    AXI slave in the device is. A response to a transaction from before the reset would be
    routed by its ID to whichever master now uses that ID."""
    tb = await start(dut, "reorder")
    sl = tb.slave
    assert sl is not None
    rng = random.Random(tb.seed ^ 0x7E57)
    rounds = 8
    cut = dict.fromkeys(("reads", "writes", "write_part_way", "ar_held"), 0)
    for rnd in range(rounds):
        for mo in tb.masters:
            mo.gap, mo.ready = rng.choice([0.0, 0.2]), rng.choice([0.3, 0.7])
        sl.ready, sl.answer, sl.stray = rng.choice([0.3, 0.6]), rng.choice([0.2, 0.4]), 0.0
        draw_traffic(tb, 12)
        for mo in tb.masters:       # at least one of each, so both are in flight
            mo.add_read()
            mo.add_write(rng.randrange(2, 8))
        # even rounds cut a write part way through the port, odd ones an AR waiting for
        # ARREADY beside writes whose responses are due; reads in flight in every round
        want = ("reads", "write_part_way") if rnd % 2 == 0 else ("reads", "writes", "ar_held")
        start_cycle = tb.cycles
        while True:
            await tb.step()
            now = tb.in_flight()
            if all(now[k] for k in want):
                break
            if not any(mo.busy() for mo in tb.masters):
                # the traffic drained before the cut it waits for came about (a seed whose
                # memory answered too eagerly: 121603459, 2617813950): more of it, with the
                # memory reluctant so an AR waits beside writes whose responses are due
                sl.ready = 0.3
                draw_traffic(tb, 12)
                for mo in tb.masters:
                    mo.add_read()
                    mo.add_write(rng.randrange(2, 8))
            assert tb.cycles - start_cycle < 20_000, \
                f"{tb.where}round {rnd}: never {want} in flight at once ({now})"
        for k, v in now.items():
            cut[k] += v
        held = tb.ref.ar_held
        dut._log.info("round %d: reset at cycle %d with %s in flight", rnd, tb.cycles,
                      [k for k, v in now.items() if v])
        await tb.reset_in_flight(rng)
        # fresh masters: W first with AW held back, and one read by a master other than the
        # one whose AR waited at the reset
        for mo in tb.masters:
            mo.gap, mo.ready, mo.hold_aw = 0.0, 1.0, True
            mo.add_write(rng.randrange(4))
        reader = (held + 1) % tb.nm if held is not None else rng.randrange(tb.nm)
        tb.masters[reader].add_read(0)
        sl.ready = sl.answer = 1.0
        for _ in range(6):
            await tb.step()
        assert tb.ref.stats["w"] == 0 and tb.ref.stats["ar"] == 1, \
            f"{tb.where}round {rnd}: with every AW held back after the reset, {tb.ref.stats['w']} " \
            f"W beats passed and {tb.ref.stats['ar']} ARs (master {reader}'s one read expected)"
        for mo in tb.masters:
            mo.hold_aw = False
        shape(tb, rng)
        draw_traffic(tb, 10)
        await tb.run()
        tb.check_image()
        st = tb.ref.stats
        asked = sum(len(mo.writes) for mo in tb.masters)
        assert st["b"] == asked, \
            f"{tb.where}round {rnd}: {st['b']} write responses after the reset, {asked} writes"
    dut._log.info("axi arb reset: %d rounds, in flight at the resets: %s", rounds, cut)
    assert cut["reads"] == rounds and cut["write_part_way"] >= rounds // 2 and \
        cut["ar_held"] >= rounds // 2, cut


@cocotb.test()
async def test_unknown_ids_dropped(dut):
    """Responses with every ID no master issued (ID_W leaves 2^ID_W - NM of them), read
    bursts of 1..3 beats and write responses, between and among real answers: each is taken in
    the cycle it is offered, whatever the masters' readiness, no master sees it, and the real
    answers around it still reach their masters whole and in order. Where NM fills the ID
    space there is no such ID and the test says so."""
    tb = await start(dut, "reorder")
    sl = tb.slave
    assert sl is not None
    if not sl.unknown_ids:
        dut._log.info("NM %d fills the %d-bit ID space: no unknown ID to send", tb.nm, tb.id_w)
        assert 1 << tb.id_w == tb.nm
        return
    sl.stray, sl.ready, sl.answer = 0.5, 0.8, 0.8
    for mo in tb.masters:
        mo.ready = 0.2          # masters slow to take theirs: the strays must not wait on them
    draw_traffic(tb, 30)
    await tb.run()
    # strays alone with nothing in flight
    sl.stray = 1.0
    for _ in range(40):
        await FallingEdge(dut.clk)
        tb.drive()
        await ReadOnly()
        tb.settle(tb.sample())
        tb.cycles += 1
    sl.stray = 0.0
    await tb.run()
    tb.check_image()
    st = tb.ref.stats
    dut._log.info("axi arb strays: %d sent, %s", sl.stray_sent, st)
    assert st["stray_r"] + st["stray_b"] == sl.stray_sent and st["stray_r"] >= 20 and \
        st["stray_b"] >= 20, f"{tb.where}strays {st['stray_r']}/{st['stray_b']} of " \
        f"{sl.stray_sent}"
