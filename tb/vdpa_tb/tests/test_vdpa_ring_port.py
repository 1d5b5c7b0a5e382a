# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_ring_port alone (the virtqueue engine's ring-item port).

The bench plays the engine and the world around the port, as rtl/vdpa_vq_engine.sv does for
its two instances (walk_port_inst in E_PORT, done_port_inst in B_PORT): it raises req_valid
with req_* and holds them through the cycle of done or fault, and in the next either drops
req_valid or keeps it high with the next item's req_* (back to back, as the engine's
completion stage does).
It is the IOTLB (:class:`Iotlb`: a table of ranges per group and direction with the group's
ASID, answered after a configurable latency, never across a 4 KiB page on either side as
rtl/vdpa_iotlb.sv answers; what no range holds is refused, and chosen ranges answer length 0),
the flush pulses of IOTLB commands, and the memory: cocotbext-axi's AxiRam with every channel
stalled at random and chosen beats answering SLVERR (:class:`SlverrRam`).

The contract comes from drivers/vhost/vringh.c: copy_from_iotlb / copy_to_iotlb move a ring
item over the iovecs iotlb_translate splits it into (one per IOTLB range), and a translation
failure (-EFAULT there, the model's TranslationFault) moves nothing; the port translates every
piece before it touches the bus so that holds for a split item too. :class:`ItemRef` derives
each request's outcome from the IOTLB table and the memory alone, byte by byte:

- a read's rdata (byte k of the item in bits [8k +: 8]) equals memory at the byte's pa;
- a write changes exactly the item's bytes (the memory is compared whole after each write);
  each piece is ONE burst over the beats it spans: its strobes select the pa-contiguous bytes
  of the next piece of the item in order, each byte once, with their values, the W beats
  number the AW bursts' beats and wlast is up exactly on each burst's last beat; a piece lies
  in one IOTLB answer (one range, one page on either side): it ends where its translation
  does;
- a refusal or a zero-length answer anywhere in the item is fault_xlate with the group's ASID,
  and no bus access at all (not even for the pieces before it); a probe never touches the bus;
- before the first bus access every byte of the item has been translated: by an IOTLB answer
  of this request or one given since the last flush (the most the cache can hold);
- an SLVERR on a beat the item uses is a fault without fault_xlate (EIO), raised in the cycle
  the failing burst's last beat (read: every beat of the burst taken) or its response is
  taken, with nothing on the bus after it; a write's pieces before the failing one landed,
  and of the failing burst the beats the memory took (all but the failing one: AxiRam);
- exactly one done or fault per request, in its last cycle; nothing of it on the bus in the
  next; nothing on the bus, the IOTLB port or the outcome while no request is held;
- every burst, read or write, is aligned, within 4 KiB, and each of its beats holds bytes of
  the item;
- back to back, the next item is served exactly as it is alone (test_port_back_to_back runs
  the same items both ways and compares every bus access, answer and outcome), and nothing of
  it (IOTLB request, bus access) comes before the previous item's done or fault;
- presented with req_next in the cycle of the previous item's done (the random streams do
  it for half the items that follow a read or write), the next item rises in that cycle, may
  ask the IOTLB in it, and is otherwise served as back to back.

Item lengths follow the builds' ITEM_BYTES: reads of 2, 4, 8 and 16 bytes in every build, and
with ITEM_BYTES 64 (the walker's instance) up to eight avail entries (2 to 16 bytes, 2-aligned)
and two to four descriptors (32, 48, 64 bytes, 16-aligned) at once; writes of 2, 4 and 8
bytes (used.idx, avail_event; the used element, le32 id + le32 len, at 4 mod 8).

The translation cache inside is its own block's (test_vdpa_xlate_cache); here it is checked
through the port: a request in a page answered before hits (no IOTLB request, the bus
request out the cycle after req_valid rises, or in that cycle with ISSUE_AT_HIT), a flush
between makes it miss. Random streams draw their seed from cocotb's (COCOTB_RANDOM_SEED
reproduces a run); each stream's seed is logged and named in any failure. The pytest entry
is tests/rtl/test_vdpa_ring_port.py; the builds (DATA_W 32, 64, 512 x CACHE_ENTRIES 1, 4
with ITEM_BYTES 16; DATA_W 32, 64, 512 with CACHE_ENTRIES 4 and ITEM_BYTES 64; each shape
the engine builds with ISSUE_AT_HIT 1 as well) are in testplan/vdpa_nic_sim.yaml.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Event, FallingEdge, ReadOnly, RisingEdge, Timer
from cocotb.types import LogicArray
from cocotbext.axi import AxiBus, AxiRam

from vdpa_tb.nic_tb import param

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the bench is the engine's request side, the IOTLB answering after an exact latency and "
    "the flush pulses, and checks the port's one-cycle done and fault and the order of its "
    "translations and bus accesses in every cycle; the block is small and each test a few "
    "thousand cycles"
)

CLK_NS = 10
#: the memory the translations point into (AxiRam wraps addresses at its size)
MEM_SIZE = 1 << 16
PAGE = 4096
OKAY = 0
#: the ring items the engine reads (avail idx / entry 2, flags + idx 4, used element 8,
#: descriptor 16) and writes (used.idx / avail_event 2, a 4-byte field, the used element 8:
#: req_wdata is 64 bits); a probe checks any of them in either direction
READ_LENS = (2, 4, 8, 16)
WRITE_LENS = (2, 4, 8)
#: what a port of ITEM_BYTES 64 (the walker's) reads besides: avail entries read ahead (up to
#: eight, 2-aligned) and two to four descriptors at once (16-aligned)
AVAIL_RUN_LENS = (6, 10, 12, 14)
DESC_RUN_LENS = (32, 48, 64)


def read_lens(item_bytes: int) -> tuple[int, ...]:
    """The read lengths a port of ITEM_BYTES serves."""
    more = AVAIL_RUN_LENS + DESC_RUN_LENS if item_bytes >= 64 else ()
    return READ_LENS + tuple(n for n in more if n <= item_bytes)


def ring_align(n: int) -> int:
    """The alignment the ring gives an item of n bytes read at once: descriptors 16, the rest
    (avail entries and idx, used fields) 2."""
    return 16 if n > 16 else 2
GROUPS = (0, 1, 2)


class Tied:
    """A bus signal the port does not have, tied as the owner's arbiter ties it
    (rtl/vdpa_axi_arb.sv: the ID, a full-width size, INCR bursts); what the bus model drives
    on it (a response ID) goes nowhere."""

    def __init__(self, width: int, value: int) -> None:
        self._value = LogicArray.from_unsigned(value, width)

    def __len__(self) -> int:
        return len(self._value)

    @property
    def value(self) -> LogicArray:
        return self._value

    @value.setter
    def value(self, _: Any) -> None:
        pass

    def setimmediatevalue(self, _: Any) -> None:
        pass


def port_axi_bus(dut: Any, beat: int) -> AxiBus:
    """cocotbext-axi's view of the port's AXI registers, the signals it lacks tied."""
    bus = AxiBus.from_prefix(dut, "axi")
    ties = {"id": Tied(4, 0), "size": Tied(3, beat.bit_length() - 1), "burst": Tied(2, 1)}
    for ch, prefix in ((bus.write.aw, "aw"), (bus.write.b, "b"), (bus.read.ar, "ar"),
                       (bus.read.r, "r")):
        for what, tie in ties.items():
            name = prefix + what
            if getattr(ch, name, 0) is None:
                setattr(ch, name, tie)
                ch._signals[name] = tie
    return bus


class SlverrRam(AxiRam):
    """cocotbext-axi's AxiRam whose beats in ``bad`` (beat-aligned addresses) answer SLVERR:
    a read beat there returns zeros, a write beat there writes nothing (cocotbext-axi turns an
    exception of the backing store into SLVERR)."""

    def __init__(self, bus: AxiBus, clock: Any, reset: Any, size: int, beat: int) -> None:
        super().__init__(bus, clock, reset, size=size)
        self.beat = beat
        self.bad: set[int] = set()
        plain_read, plain_write = self.read_if._read, self.write_if._write

        async def read(address: int, length: int) -> bytes:
            self._check(address)
            return bytes(await plain_read(address, length))

        async def write(address: int, data: bytes) -> None:
            self._check(address)
            await plain_write(address, data)

        self.read_if._read = read
        self.write_if._write = write

    def _check(self, address: int) -> None:
        if address // self.beat * self.beat in self.bad:
            raise OSError(f"beat {address:#x} planted to answer SLVERR")

    def stall(self, rng: random.Random, chance: float) -> None:
        """Each channel stalls (ready or valid held low) in a cycle with ``chance``."""
        for ch in (self.write_if.aw_channel, self.write_if.w_channel, self.write_if.b_channel,
                   self.read_if.ar_channel, self.read_if.r_channel):
            r = random.Random(rng.getrandbits(32))
            ch.set_pause_generator(r.random() < chance for _ in itertools.count())


@dataclass(frozen=True)
class Range:
    """IOVAs [iova, iova + length) of one group and direction contiguous at pa; ``zero``: the
    IOTLB answers such IOVAs with length 0 (a bad table entry, a fault to the port)."""

    group: int
    write: bool
    iova: int
    length: int
    pa: int
    zero: bool = False

    def holds(self, group: int, write: bool, iova: int) -> bool:
        return (group, write) == (self.group, self.write) and \
            self.iova <= iova < self.iova + self.length


@dataclass
class Answer:
    ok: bool
    pa: int
    length: int
    asid: int


class Iotlb:
    """The translations in force: ranges per (group, direction), an ASID per group. An
    answer covers the rest of the range, of the request, and of the 4 KiB pages the IOVA and
    the pa are in (rtl/vdpa_iotlb.sv answers page by page, so neither side crosses one)."""

    def __init__(self, asid: dict[int, int], ranges: list[Range]) -> None:
        self.asid = asid
        self.ranges = ranges

    def find(self, group: int, write: bool, iova: int) -> Range | None:
        return next((r for r in self.ranges if r.holds(group, write, iova)), None)

    def answer(self, group: int, write: bool, iova: int, n: int) -> Answer:
        r = self.find(group, write, iova)
        if r is None:
            return Answer(False, 0xBAD0_0000_0000, 0x77, self.asid[group])
        if r.zero:
            return Answer(True, 0xBAD0_0000_0000, 0, self.asid[group])
        pa = r.pa + iova - r.iova
        return Answer(True, pa, min(r.iova + r.length - iova, n, PAGE - iova % PAGE,
                                    PAGE - pa % PAGE), self.asid[group])

    def pa_of(self, group: int, write: bool, iova: int) -> int | None:
        r = self.find(group, write, iova)
        return None if r is None or r.zero else r.pa + iova - r.iova


@dataclass(frozen=True)
class Item:
    group: int
    iova: int
    n: int
    write: bool = False
    probe: bool = False
    wdata: int = 0
    set: int = 0
    gap: int = 1       # idle cycles before req_valid rises
    b2b: bool = False  # presented in the cycle after the previous item's outcome, req_valid held
    # presented in the cycle of the previous item's done (req_next), or, if that one faults,
    # in the cycle after as b2b
    nxt: bool = False


@dataclass
class Seen:
    """What one request did, cycle by cycle (cycles counted from the bench's start)."""

    rise: int = -1
    end: int = -1
    done: bool = False
    fault: bool = False
    fault_xlate: bool = False
    fault_asid: int = 0
    rdata: bytes = b""
    tr_reqs: list[tuple[int, int, int, bool, int]] = field(default_factory=list)  # cyc,grp,iova,wr,len
    answers: list[tuple[int, int, int, bool]] = field(default_factory=list)  # grp,iova,len,wr
    first_bus: int = -1          # first cycle a valid of AR, AW or W is up
    first_bus_covered: bool = True
    bursts: list[tuple[int, bool, int, int]] = field(default_factory=list)  # cyc,write,addr,beats
    rbeats: list[tuple[int, int, int, bool]] = field(default_factory=list)  # cyc,data,resp,last
    wbeats: list[tuple[int, int, int, bool]] = field(default_factory=list)  # cyc,data,strb,last
    bresps: list[tuple[int, int]] = field(default_factory=list)       # cyc,resp
    bus_asids: list[int] = field(default_factory=list)
    outcomes: int = 0            # cycles with done or fault
    maybe_cached: set[tuple[int, int, int, bool]] = field(default_factory=set)  # grp,iova,len,wr
    # the reference and the memory as the request rose (a request back to back sees its
    # predecessor's writes)
    ref: ItemRef | None = None
    before: bytes = b""
    # ... and as it ended: taken in the cycle of its outcome, before a next item's write that
    # issues in that cycle (req_next with ISSUE_AT_HIT) lands
    after: bytes = b""

    def events(self) -> list[int]:
        """The cycles of everything the request did on the IOTLB port and the bus."""
        return [c for c, *_ in (*self.tr_reqs, *self.bursts, *self.rbeats, *self.wbeats,
                                *self.bresps)] + ([self.first_bus] if self.first_bus >= 0 else [])

    def shape(self, it: Item) -> tuple[Any, ...]:
        """What the request did, without its cycles: for comparing two runs of an item
        (fault_asid and rdata where they mean something)."""
        read = self.done and not it.write and not it.probe
        return (self.done, self.fault, self.fault_xlate,
                self.fault_asid if self.fault_xlate else None, self.rdata[:it.n] if read else b"",
                [t[1:] for t in self.tr_reqs], [b[1:] for b in self.bursts],
                [r[1:] for r in self.rbeats], [w[1:] for w in self.wbeats],
                [b[1:] for b in self.bresps], self.bus_asids)


class ItemRef:
    """The outcome of one request from the table and memory, byte by byte (module docstring)."""

    tlb: Iotlb

    def __init__(self, tlb: Iotlb, it: Item, bad: set[int], beat: int) -> None:
        self.tlb, self.bad = tlb, bad
        self.pas = [tlb.pa_of(it.group, it.write, it.iova + k) for k in range(it.n)]
        self.xlate_fault = None in self.pas
        self.asid = tlb.asid[it.group]
        pas = [p for p in self.pas if p is not None]
        # the first byte of the item (in order) in a beat planted to fail
        self.fail_at = next((k for k, p in enumerate(pas) if p // beat * beat in bad), None)
        self.eio = not self.xlate_fault and not it.probe and self.fail_at is not None


class TB:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.beat = len(dut.axi_wstrb)
        self.item_bytes = len(dut.rdata) // 8
        self.read_lens = read_lens(self.item_bytes)
        self.entries = param("CACHE_ENTRIES", 4)
        self.nsets = param("CACHE_SETS", 8)
        # a cache hit's bus request in the cycle of its lookup, not the one after
        self.issue_at_hit = param("ISSUE_AT_HIT", 0) != 0
        Clock(dut.clk, CLK_NS, unit="ns").start()
        for name in ("rst", "req_valid", "req_set", "req_group", "req_iova", "req_len",
                     "req_write", "req_probe", "req_wdata", "req_next", "tr_req_ready",
                     "tr_resp_valid",
                     "tr_resp_ok", "tr_resp_pa", "tr_resp_len", "tr_resp_asid", "flush"):
            getattr(dut, name).value = 0
        self.ram = SlverrRam(port_axi_bus(dut, self.beat), dut.clk, dut.rst, MEM_SIZE,
                             self.beat)
        self.tlb = Iotlb(dict.fromkeys(GROUPS, 0), [])
        self.rng = random.Random(0)
        self.latency = (1, 1)      # IOTLB answer latency range, cycles after the request
        self.tr_stall = 0.0        # chance tr_req_ready is low in a cycle
        self.flush_chance = 0.0    # chance of a spurious flush pulse in a cycle
        self.where = ""            # names the stream and its seed in a failure
        self.cycle = 0
        self.pending: deque[tuple[Item, Seen, Event]] = deque()
        self.flush_req = 0         # cycles of flush to drive from the next
        self.answered: set[tuple[int, int, int, bool]] = set()  # since the last flush
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "done", "split2", "split3", "xlate_refused", "xlate_zero",
             "xlate_later_piece", "eio_read", "eio_write", "eio_later_piece", "probe", "next",
             "hit", "flushes", "b2b", "write8", "long_read"), 0)

    async def reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        cocotb.start_soon(self.world())

    def memory(self) -> bytes:
        return bytes(self.ram.read(0, MEM_SIZE))

    # -- the world, one cycle at a time ----------------------------------------------------
    async def world(self) -> None:
        """Request side, IOTLB and flush: inputs driven on the falling edge from what was
        sampled before; every output and handshake sampled (ReadOnly) before the rising edge
        that takes it."""
        dut, rng = self.dut, self.rng
        cur: tuple[Item, Seen, Event] | None = None
        ended: tuple[Item, Seen, Event] | None = None   # the request whose outcome was last cycle
        next_up = False                           # the next item rose with that outcome
        idle = 0                                  # cycles req_valid has been low
        wbeat = 0                                 # W beats of the burst taken so far
        resp: tuple[int, Answer] | None = None    # the IOTLB's answer and its cycle
        asked: tuple[int, int, bool] | None = None
        prev_valid = {"ar": None, "aw": None, "w": None}
        while True:
            await FallingEdge(dut.clk)
            self.cycle += 1
            # -- request: a new one after its gap, held until its done or fault; or back to
            # back, in the cycle after the outcome of the one before; a flush asked for comes
            # before the next request rises (a lookup in the flush's own cycle still sees the
            # answers), unless that one is back to back
            if cur is None and self.pending and (
                    (ended is not None and (self.pending[0][0].b2b or self.pending[0][0].nxt)) or
                    (idle >= self.pending[0][0].gap and self.flush_req == 0)):
                cur = self.pending.popleft()
                self.present(cur)
            dut.req_valid.value = int(cur is not None)
            dut.req_next.value = 0
            # -- IOTLB: the answer in its cycle, junk otherwise (the port must not look)
            if resp is not None and resp[0] == self.cycle:
                a = resp[1]
                dut.tr_resp_valid.value, dut.tr_resp_ok.value = 1, int(a.ok)
                dut.tr_resp_pa.value, dut.tr_resp_len.value = a.pa, a.length
                dut.tr_resp_asid.value = a.asid
            else:
                dut.tr_resp_valid.value, dut.tr_resp_ok.value = 0, rng.getrandbits(1)
                dut.tr_resp_pa.value, dut.tr_resp_len.value = rng.getrandbits(64), rng.getrandbits(5)
                dut.tr_resp_asid.value = rng.getrandbits(8)
            dut.tr_req_ready.value = int(rng.random() >= self.tr_stall)
            flush = self.flush_req > 0 or rng.random() < self.flush_chance
            self.flush_req = max(0, self.flush_req - 1)
            dut.flush.value = int(flush)
            # the next item in the cycle of this one's done (req_next): done is from the bus,
            # so it is known once the inputs above are in
            nxt: tuple[Item, Seen, Event] | None = None
            if cur is not None and not cur[0].probe and self.pending and self.pending[0][0].nxt:
                await Timer(1, "ns")
                if int(dut.done.value):
                    nxt = self.pending.popleft()
                    self.present(nxt)
                    dut.req_next.value = 1
            await ReadOnly()
            s = {n: int(getattr(dut, n).value) for n in (
                "done", "fault", "fault_xlate", "tr_req_valid", "tr_req_ready", "axi_arvalid",
                "axi_arready", "axi_rvalid", "axi_rready", "axi_awvalid", "axi_awready",
                "axi_wvalid", "axi_wready", "axi_bvalid", "axi_bready")}
            at = f"{self.where}cycle {self.cycle}"
            if ended is not None:
                # rdata is valid from the cycle after the outcome; nothing of the finished
                # request is left on the bus (a request back to back is only being looked up,
                # or with ISSUE_AT_HIT may have its bus request out as it rises on a hit; one
                # presented with req_next may have its bus request out already)
                e_seen = ended[1]
                e_seen.rdata = int(dut.rdata.value).to_bytes(self.item_bytes, "little")
                if not next_up:
                    issued = self.issue_at_hit and cur is not None and cur[1].rise == self.cycle
                    for n in ("axi_arvalid", "axi_awvalid", "axi_wvalid", "axi_rready",
                              "axi_bready"):
                        assert not s[n] or (issued and n.endswith("valid")), \
                            f"{at}: {n} up the cycle after the outcome"
                ended[2].set()
                ended = None
            next_up = False
            if nxt is not None:
                nxt[1].maybe_cached |= self.answered
            if cur is not None:
                # what the cache may hold for this request's lookups: a lookup in a flush's
                # own cycle still sees the answers the flush drops
                cur[1].maybe_cached |= self.answered
            if flush:
                self.stats["flushes"] += 1
                self.answered.clear()
            answered_now = resp is not None and resp[0] == self.cycle
            if answered_now:
                assert resp is not None and asked is not None
                a = resp[1]
                if a.ok and a.length:
                    self.answered.add((asked[0], asked[1], a.length, asked[2]))
                if cur is not None:
                    cur[1].answers.append((asked[0], asked[1], a.length if a.ok else 0, asked[2]))
                resp = None
            bus_valid = s["axi_arvalid"] or s["axi_awvalid"] or s["axi_wvalid"]
            if cur is None:
                busy = {k: v for k, v in s.items() if v and k not in ("tr_req_ready",
                        "axi_arready", "axi_rvalid", "axi_awready", "axi_wready", "axi_bvalid")}
                assert not busy, f"{at}: no request held, yet {busy}"
                idle += 1
                continue
            it, seen, _ = cur
            # -- IOTLB request: one outstanding, for this item's group, direction and rest
            # (in a cycle of done with req_next, the next item's)
            t_it, t_seen = (nxt[0], nxt[1]) if nxt is not None else (it, seen)
            if s["tr_req_valid"]:
                assert resp is None, f"{at}: an IOTLB request while one is outstanding"
                iova, n = int(dut.tr_req_iova.value), int(dut.tr_req_len.value)
                grp, wr = int(dut.tr_req_group.value), bool(int(dut.tr_req_write.value))
                off = iova - t_it.iova
                assert (grp, wr) == (t_it.group, t_it.write) and 0 <= off < t_it.n, \
                    f"{at}: IOTLB request group {grp} write {wr} iova {iova:#x} for {t_it}"
                # the rest of the page, or of the item when it runs past the page
                want = max(PAGE - iova % PAGE, t_it.n - off)
                assert n == want, f"{at}: IOTLB request of {n} bytes at {iova:#x}, not {want}"
                if s["tr_req_ready"]:
                    t_seen.tr_reqs.append((self.cycle, grp, iova, wr, n))
                    lat = rng.randint(*self.latency)
                    resp = (self.cycle + lat, self.tlb.answer(grp, wr, iova, n))
                    asked = (grp, iova, wr)
            # -- the bus: R and B are this item's; in a cycle of done with req_next, AR, AW and
            # W are the next item's (with ISSUE_AT_HIT it may issue in that cycle; this one's
            # address and data are all taken by then)
            if bus_valid and t_seen.first_bus < 0:
                t_seen.first_bus = self.cycle
                t_seen.first_bus_covered = self.covered(t_it, t_seen)
            for ch in ("ar", "aw", "w"):
                if s[f"axi_{ch}valid"]:
                    pay = self.payload(ch)
                    if prev_valid[ch] is not None:
                        assert pay == prev_valid[ch], f"{at}: {ch} payload changed while valid"
                    prev_valid[ch] = None if s[f"axi_{ch}ready"] else pay
                else:
                    assert prev_valid[ch] is None, f"{at}: {ch}valid dropped before ready"
            if s["axi_arvalid"] and s["axi_arready"]:
                addr, beats = int(dut.axi_araddr.value), int(dut.axi_arlen.value) + 1
                t_seen.bursts.append((self.cycle, False, addr, beats))
                t_seen.bus_asids.append(int(dut.asid.value))
            if s["axi_rvalid"] and s["axi_rready"]:
                seen.rbeats.append((self.cycle, int(dut.axi_rdata.value),
                                    int(dut.axi_rresp.value), bool(int(dut.axi_rlast.value))))
            if s["axi_awvalid"] and s["axi_awready"]:
                addr, beats = int(dut.axi_awaddr.value), int(dut.axi_awlen.value) + 1
                t_seen.bursts.append((self.cycle, True, addr, beats))
                t_seen.bus_asids.append(int(dut.asid.value))
            if s["axi_wvalid"] and s["axi_wready"]:
                last = bool(int(dut.axi_wlast.value))
                t_seen.wbeats.append((self.cycle, int(dut.axi_wdata.value),
                                    int(dut.axi_wstrb.value), last))
                # judged here too, before the memory takes the beat: awlen is held through
                # the burst (its W beats may go before its AW)
                beats = int(dut.axi_awlen.value) + 1
                assert last == (wbeat + 1 == beats), \
                    f"{at}: wlast {int(last)} on W beat {wbeat + 1} of a {beats}-beat burst"
                wbeat = 0 if last else wbeat + 1
            if s["axi_bvalid"] and s["axi_bready"]:
                seen.bresps.append((self.cycle, int(dut.axi_bresp.value)))
            # -- the outcome: one pulse, ending the request
            assert not (s["done"] and s["fault"]), f"{at}: done and fault together"
            assert s["fault"] or not s["fault_xlate"], f"{at}: fault_xlate without fault"
            if s["done"] or s["fault"]:
                seen.outcomes += 1
                seen.done, seen.fault = bool(s["done"]), bool(s["fault"])
                seen.fault_xlate = bool(s["fault_xlate"])
                seen.fault_asid = int(dut.fault_asid.value)
                seen.end = self.cycle
                seen.after = self.memory()
                ended, cur, idle = cur, None, 0
                if nxt is not None:
                    assert seen.done, f"{at}: req_next taken in a cycle of fault"
                    self.stats["next"] += 1
                    cur, next_up = nxt, True
            else:
                assert nxt is None, f"{at}: an item presented with req_next without a done"

    def present(self, req: tuple[Item, Seen, Event]) -> None:
        """Drive an item's request (req_valid is the caller's)."""
        dut = self.dut
        it, seen, _ = req
        seen.rise = self.cycle
        seen.ref = ItemRef(self.tlb, it, set(self.ram.bad), self.beat)
        seen.before = self.memory()
        dut.req_set.value, dut.req_group.value = it.set, it.group
        dut.req_iova.value, dut.req_len.value = it.iova, it.n
        dut.req_write.value, dut.req_probe.value = int(it.write), int(it.probe)
        dut.req_wdata.value = it.wdata

    def payload(self, ch: str) -> tuple[int, ...]:
        d = self.dut
        if ch == "ar":
            return int(d.axi_araddr.value), int(d.axi_arlen.value)
        if ch == "aw":
            return int(d.axi_awaddr.value), int(d.axi_awlen.value)
        return int(d.axi_wdata.value), int(d.axi_wstrb.value)

    def covered(self, it: Item, seen: Seen) -> bool:
        """Every byte of the item translated by an answer of this request or one the cache
        may have held in some cycle of it (given since the flush before)."""
        spans = [a for a in [*seen.answers, *seen.maybe_cached]
                 if a[0] == it.group and a[3] == it.write]
        return all(any(g_iova <= it.iova + k < g_iova + n for _, g_iova, n, _ in spans)
                   for k in range(it.n))

    # -- one request -----------------------------------------------------------------------
    async def request(self, it: Item) -> Seen:
        """Hand the item to the port, wait for its outcome, and judge it (module docstring)."""
        return (await self.requests([it]))[0]

    async def requests(self, items: list[Item]) -> list[Seen]:
        """Hand the items to the port at once (those marked b2b follow their predecessor back
        to back), wait for every outcome, and judge each."""
        queued = [(it, Seen(), Event()) for it in items]
        self.pending.extend(queued)
        for it, seen, ev in queued:
            await ev.wait()
            self.judge(it, seen)
        for (_, a, _), (it, b, _) in itertools.pairwise(queued):
            at = f"{self.where}{it} (cycles {b.rise}..{b.end})"
            if it.b2b:
                self.stats["b2b"] += 1
                assert b.rise == a.end + 1, \
                    f"{at}: back to back after the outcome in cycle {a.end}, rose in {b.rise}"
            if it.nxt:
                # with the done before it (a fault: the cycle after, as back to back)
                want = a.end if a.done else a.end + 1
                assert b.rise == want, \
                    f"{at}: req_next after the outcome in cycle {a.end}, rose in {b.rise}"
            # presented with the done before it, it may ask the IOTLB in that cycle
            early = [c for c in b.events() if c < a.end or (c == a.end and b.rise > a.end)]
            assert not early, f"{at}: accesses in cycles {early}, before the outcome of the " \
                              f"request before in cycle {a.end}"
        return [seen for _, seen, _ in queued]

    def judge(self, it: Item, seen: Seen) -> None:
        at = f"{self.where}{it} (cycles {seen.rise}..{seen.end})"
        ref, before = seen.ref, seen.before
        assert ref is not None
        st = self.stats
        st["requests"] += 1
        assert seen.outcomes == 1, f"{at}: {seen.outcomes} done/fault pulses"
        early = [c for c in seen.events() if not seen.rise <= c <= seen.end]
        assert not early, f"{at}: accesses in cycles {early}, outside the request"
        accessed = bool(seen.bursts or seen.wbeats or seen.first_bus >= 0)
        if ref.xlate_fault:
            assert seen.fault and seen.fault_xlate, f"{at}: untranslatable, got {seen}"
            assert seen.fault_asid == ref.asid, f"{at}: fault_asid {seen.fault_asid}, not {ref.asid}"
            assert not accessed, f"{at}: a bus access for an item that does not translate"
            assert seen.after == before, f"{at}: memory changed"
            k = ref.pas.index(None)
            r = self.tlb.find(it.group, it.write, it.iova + k)
            st["xlate_zero" if r is not None else "xlate_refused"] += 1
            st["xlate_later_piece"] += int(k > 0)
            return
        assert seen.first_bus < 0 or seen.first_bus_covered, \
            f"{at}: on the bus in cycle {seen.first_bus} before every piece was translated " \
            f"(answers {seen.answers})"
        npieces = self.pieces(ref)
        st["split2"] += int(npieces == 2)
        st["split3"] += int(npieces >= 3)
        st["hit"] += int(not seen.tr_reqs)
        if it.probe:
            assert seen.done and not seen.fault, f"{at}: a probe that translates, got {seen}"
            assert not accessed, f"{at}: a probe touched the bus"
            st["probe"] += 1
            return
        if ref.eio:
            assert seen.fault and not seen.fault_xlate, f"{at}: EIO expected, got {seen}"
            ends = seen.bresps if it.write else seen.rbeats
            assert ends, f"{at}: EIO expected, and nothing was taken from the bus"
            last = ends[-1][0]
            assert seen.end == last, f"{at}: the fault in cycle {seen.end}, not {last} " \
                                     "(the failing burst's last beat or response)"
            st["eio_write" if it.write else "eio_read"] += 1
            assert ref.fail_at is not None
            st["eio_later_piece"] += int(self.piece_of(ref, ref.fail_at) > 0)
        else:
            assert seen.done and not seen.fault, f"{at}: done expected, got {seen}"
            st["done"] += 1
            st["write8"] += int(it.write and it.n == 8)
            st["long_read"] += int(not it.write and it.n > 16)
        assert accessed, f"{at}: no bus access"
        assert all(a == ref.asid for a in seen.bus_asids), \
            f"{at}: asid {seen.bus_asids} on the bus, the group's is {ref.asid}"
        self.check_bursts(it, ref, seen, at)
        if it.write:
            self.check_write(it, ref, seen, before, at)
        else:
            assert seen.after == before, f"{at}: a read changed memory"
            if not ref.eio:
                want = b"".join(before[p:p + 1] for p in ref.pas if p is not None)
                assert seen.rdata[:it.n] == want, \
                    f"{at}: rdata {seen.rdata[:it.n].hex()}, memory holds {want.hex()}"

    def pieces(self, ref: ItemRef) -> int:
        """Pieces the item has at least: runs of pa-contiguous bytes not crossing a page."""
        return 1 + sum(self.piece_of(ref, k) != self.piece_of(ref, k - 1)
                       for k in range(1, len(ref.pas)))

    @staticmethod
    def piece_of(ref: ItemRef, k: int) -> int:
        n = 0
        for j in range(1, k + 1):
            a, b = ref.pas[j - 1], ref.pas[j]
            n += int(a is None or b is None or b != a + 1 or b % PAGE == 0)
        return n

    def check_bursts(self, it: Item, ref: ItemRef, seen: Seen, at: str) -> None:
        """Bursts aligned, inside 4 KiB, every beat holding item bytes; reads take every beat
        of each burst, writes give every beat of each with wlast on its last; nothing on the
        bus after a failing burst."""
        beat = self.beat
        item_beats = {p // beat * beat for p in ref.pas if p is not None}
        for _, _, addr, beats in seen.bursts:
            assert addr % beat == 0, f"{at}: burst address {addr:#x} not beat aligned"
            assert addr // PAGE == (addr + beats * beat - 1) // PAGE, \
                f"{at}: burst at {addr:#x} of {beats} beats crosses 4 KiB"
            span = {addr + j * beat for j in range(beats)}
            assert span <= item_beats, \
                f"{at}: burst at {addr:#x} ({beats} beats) on beats without item bytes"
        if not it.write:
            lasts = [c for c, _, _, last in seen.rbeats if last]
            assert len(seen.rbeats) == sum(b for *_, b in seen.bursts) and \
                len(lasts) == len(seen.bursts), f"{at}: R beats {seen.rbeats} for {seen.bursts}"
            taken = {p // beat * beat for _, _, a, b in seen.bursts
                     for p in range(a, a + b * beat, beat)}
            bad = [c for c, _, resp, _ in seen.rbeats if resp != OKAY]
            if bad:
                # the burst that failed is the last one
                assert seen.rbeats[-1][0] >= bad[0] and not any(
                    c > bad[0] for c, *_ in seen.bursts), f"{at}: a burst after the error"
            elif not ref.eio:
                assert item_beats <= taken, f"{at}: item beats {item_beats} not all read"
        else:
            assert len(seen.bresps) == len(seen.bursts), \
                f"{at}: AW {seen.bursts}, B {seen.bresps}"
            assert len(seen.wbeats) == sum(b for *_, b in seen.bursts), \
                f"{at}: {len(seen.wbeats)} W beats for AW {seen.bursts}"
            ends = list(itertools.accumulate(b for *_, b in seen.bursts))
            lasts = [i + 1 for i, (*_, last) in enumerate(seen.wbeats) if last]
            assert lasts == ends, \
                f"{at}: wlast on W beats {lasts} (from 1), the bursts {seen.bursts} end on {ends}"
            errs = [c for c, r in seen.bresps if r != OKAY]
            if errs:
                assert not any(c > errs[0] for c, *_ in seen.bursts), \
                    f"{at}: a write after the error response"

    def check_write(self, it: Item, ref: ItemRef, seen: Seen, before: bytes, at: str) -> None:
        """Each burst is one piece: its strobed bytes are the next bytes of the item in order,
        pa-contiguous, with their values, each strobed once, inside one IOTLB answer, and its
        beats exactly those they span; every byte of the item is written (up to the failing
        burst); memory changed at the strobed bytes only (and not on a failing beat)."""
        beat = self.beat
        k = k_last = 0                             # item bytes written by the bursts before
        landed: dict[int, int] = {}
        beats = iter(seen.wbeats)
        for (_, _, addr, nbeats) in seen.bursts:
            piece: list[tuple[int, int]] = []      # pa, value
            for j in range(nbeats):
                _, data, strb, _ = next(beats)
                piece += [(addr + j * beat + lane, (data >> (8 * lane)) & 0xFF)
                          for lane in range(beat) if strb >> lane & 1]
            assert piece, f"{at}: a write burst at {addr:#x} strobes no byte"
            first, m = piece[0][0], len(piece)
            want = [(ref.pas[i], (it.wdata >> (8 * i)) & 0xFF) for i in range(k, min(k + m, it.n))]
            assert piece == want, \
                f"{at}: burst at {addr:#x} writes {[(hex(a), hex(v)) for a, v in piece]}, the " \
                f"item's bytes {k}.. are {[(hex(a), hex(v)) for a, v in want]}"
            assert addr == first // beat * beat and nbeats == (first + m - 1) // beat - first // beat + 1, \
                f"{at}: burst at {addr:#x} of {nbeats} beats for bytes {first:#x}..+{m}"
            # a piece ends where its translation does: one range, one page on either side
            iovas = (it.iova + k, it.iova + k + m - 1)
            rs = [ref.tlb.find(it.group, True, v) for v in iovas]
            assert rs[0] is rs[1] and iovas[0] // PAGE == iovas[1] // PAGE and \
                first // PAGE == (first + m - 1) // PAGE, \
                f"{at}: a write burst over item bytes {k}..{k + m - 1} crosses a translation"
            landed.update(piece)
            k_last, k = k, k + m
        if not ref.eio:
            assert k == it.n, f"{at}: {k} of the item's {it.n} bytes written"
        else:
            # the failing burst (the last) holds the first byte on a failing beat; the pieces
            # before it landed, and of it the beats the memory took
            assert ref.fail_at is not None and k_last <= ref.fail_at < k, \
                f"{at}: the failing burst writes item bytes {k_last}..{k - 1}, not the first " \
                f"on a failing beat, {ref.fail_at}"
        expect = bytearray(before)
        for pa, v in landed.items():
            if pa // beat * beat not in ref.bad:
                expect[pa] = v
        after = seen.after
        if after != bytes(expect):
            diff = [i for i in range(MEM_SIZE) if after[i] != expect[i]][:8]
            raise AssertionError(f"{at}: memory differs from the reference at {diff} "
                                 f"(the strobed bytes, not on a failing beat, only)")


async def start(dut: Any, seed: int = 0) -> TB:
    tb = TB(dut)
    tb.rng.seed(seed)
    rng = random.Random(seed + 1)
    tb.ram.write(0, rng.randbytes(MEM_SIZE))
    await tb.reset()
    return tb


# ---------------------------------------------------------------------------------------
# directed tests
# ---------------------------------------------------------------------------------------

def whole(pa_base: int = 0x8000) -> list[Range]:
    """Both directions of every group mapped over the first 8 KiB at pa_base + iova."""
    return [Range(g, w, 0x1_0000_0000, 0x2000, pa_base + 0x1000 * g)
            for g in GROUPS for w in (False, True)]


@cocotb.test()
async def test_port_read_write_probe(dut):
    """Every item length read, written and probed at every offset in a beat of the first
    page (up to 34; writes at every lane of the widest beat too): reads equal memory, writes
    change exactly the item in one burst over the beats it spans, probes touch nothing; under
    random AXI stalls and IOTLB latency."""
    tb = await start(dut, 11)
    tb.tlb = Iotlb({0: 5, 1: 6, 2: 7}, whole())
    tb.ram.stall(random.Random(1), 0.3)
    tb.latency = (1, 4)
    base = 0x1_0000_0000 + 0x100
    for off in range(tb.beat + 2):
        if off < min(tb.beat, 32) + 2:
            for n in tb.read_lens:
                await tb.request(Item(off % 3, base + off, n, gap=1 + off % 3))
                await tb.request(Item(off % 3, base + off, n, probe=True, write=bool(off % 2)))
        for n in WRITE_LENS:
            await tb.request(Item(2, base + off, n, write=True,
                                  wdata=0x0102030405060708 * (off + 1) ^ 0xA1B2C3D4))
    assert tb.stats["done"] > 0 and tb.stats["probe"] > 0 and tb.stats["write8"] >= tb.beat


def split_table(iova: int, cuts: list[int], pas: list[int], group: int = 0,
                drop: int | None = None, zero: bool = False) -> list[Range]:
    """Ranges of both directions meeting at iova + each cut, piece i at pas[i]; piece
    ``drop`` unmapped (refused), or answered with length 0 if ``zero``."""
    bounds = [0, *cuts, 64]
    out = []
    for w in (False, True):
        for i, (a, b, pa) in enumerate(zip(bounds[:-1], bounds[1:], pas, strict=True)):
            if i != drop:
                out.append(Range(group, w, iova + a, b - a, pa))
            elif zero:
                out.append(Range(group, w, iova + a, b - a, 0, zero=True))
    return out


@cocotb.test()
async def test_port_split_items(dut):
    """An item across two and three IOTLB ranges: a boundary inside a bus beat and one
    across beats, pieces at distant or adjacent pa (a short answer), reads and writes; each
    piece is translated before the bus is touched, bytes land and read at each piece's pa."""
    tb = await start(dut, 12)
    tb.ram.stall(random.Random(2), 0.2)
    tb.latency = (1, 3)
    iova = 0x2_0000_0040
    beat = tb.beat
    shapes = [
        ([1], [0x3001, 0x5000]),                       # 2 pieces, boundary after byte 1
        ([2], [0x3002 + beat, 0x3004 + beat]),         # contiguous pa: a short answer
        ([3], [0x4003, 0x4003 + beat + 1]),            # second piece in another beat
        ([1, 3], [0x6001, 0x7003, 0x9000 + beat - 3]),  # 3 pieces, last straddling a beat
        ([5, 11], [0x2005, 0x2100 + 5, 0x6ff0 + 11]),  # 3 pieces
    ]
    for cuts, pas in shapes:
        tb.tlb = Iotlb({0: 9, 1: 9, 2: 9}, split_table(iova, cuts, pas))
        tb.flush_req = 1
        for n in tb.read_lens + WRITE_LENS:
            if n <= cuts[0]:
                continue
            write = n in WRITE_LENS and tb.rng.random() < 0.5
            seen = await tb.request(Item(0, iova, n, write=write, wdata=0x99AABBCC11223344))
            # one translation a piece before the first bus access (the port translates each
            # piece again as it moves it; from the cache when the answer holds the rest)
            want = 1 + sum(c < n for c in cuts)
            before = sum(c < seen.first_bus for c, *_ in seen.tr_reqs)
            assert before >= want, \
                f"{cuts}: {before} translations before the bus access, {want} pieces"
            tb.flush_req = 1
            await tb.request(Item(0, iova, n, write=not write and n in WRITE_LENS,
                                  wdata=0x55667788DDEEFF00))
            tb.flush_req = 1
    assert tb.stats["split2"] > 0 and tb.stats["split3"] > 0


@cocotb.test()
async def test_port_write_bursts(dut):
    """Writes of 2, 4 and 8 bytes at every lane of a beat the ring allows them (2-aligned
    u16, 4-aligned 4 and 8-byte fields: the used element at 4 mod 8 spans beats at DATA_W 32
    and 64), whole and split in 2 by the translation at every byte inside, the second piece
    at a distant pa or adjacent (a short answer: the piece still ends there); one burst a
    piece over the beats it spans, wlast on its last beat, each item byte strobed once."""
    tb = await start(dut, 16)
    tb.ram.stall(random.Random(6), 0.3)
    tb.latency = (1, 3)
    beat = tb.beat
    iova = 0x5_0000_0000
    for n in WRITE_LENS:
        align = 2 if n == 2 else 4
        for lane in range(0, beat, align):
            pa0 = 0x3000 + lane
            wdata = int.from_bytes(bytes((lane * 8 + k + 1) & 0xFF for k in range(8)), "little")
            tb.tlb = Iotlb({0: 4, 1: 5, 2: 6}, split_table(iova + lane, [], [pa0]))
            tb.flush_req = 1
            await tb.request(Item(0, iova + lane, n, write=True, wdata=wdata))
            for cut in range(1, n):
                for pa1 in (0x5000 + beat - 1 - lane % 3, pa0 + cut):
                    tb.tlb = Iotlb({0: 4, 1: 5, 2: 6},
                                   split_table(iova + lane, [cut], [pa0, pa1]))
                    tb.flush_req = 1
                    seen = await tb.request(Item(0, iova + lane, n, write=True,
                                                 wdata=wdata ^ (cut << 60)))
                    assert len(seen.bursts) == 2, \
                        f"a write split at byte {cut} of {n} in {len(seen.bursts)} bursts"
    assert tb.stats["write8"] >= beat // 4 * 15 and tb.stats["split2"] > 0


@cocotb.test()
async def test_port_back_to_back(dut):
    """The owner keeps req_valid high and presents the next item in the cycle after done or
    fault: a sequence of reads (up to ITEM_BYTES), writes of 2, 4 and 8 bytes, probes,
    split items, cache hits (a probe hitting is done in the cycle it rises), a refused
    translation and SLVERR on a read and a write, run once with a gap before each item and
    once back to back from the same memory and an empty cache: every item does the same
    (IOTLB requests, bursts, beats, strobes, responses, outcome, rdata), and no access of an
    item comes before the outcome of the one before."""
    tb = await start(dut, 17)
    tb.latency = (1, 3)
    beat = tb.beat
    tb.ram.stall(random.Random(7), 0.25)
    iova = 0x6_0000_0000
    ranges = [Range(g, w, iova, 0x1000, 0x8000 + 0x1000 * g) for g in GROUPS
              for w in (False, True)]
    # group 1: the page split at +0x105 (distant pa) and refused from +0x800
    ranges = [r for r in ranges if r.group != 1] + [
        Range(1, w, iova + a, b - a, pa) for w in (False, True)
        for a, b, pa in ((0, 0x105, 0x4000), (0x105, 0x800, 0xC105))]
    tb.tlb = Iotlb({0: 0x10, 1: 0x11, 2: 0x12}, ranges)
    top = max(tb.read_lens)
    items = [
        Item(0, iova + 0x40, 16),
        Item(0, iova + 0x50, 16),                                  # the next descriptor: a hit
        Item(0, iova + 0x60, top),
        Item(0, iova + 0x14, 8, write=True, wdata=0x1111_2222_3333_4444),  # used element
        Item(0, iova + 0x12, 2, write=True, wdata=0xBEEF),
        Item(0, iova + 0x40, 4, probe=True),                       # done as it rises
        Item(0, iova + 0x44, 4, probe=True, write=True),
        Item(1, iova + 0x100, 8, write=True, wdata=0x5555_6666_7777_8888),  # split 5 + 3
        Item(1, iova + 0x100, top),                                # split read
        Item(1, iova + 0x7FC, 8, write=True, wdata=1),             # refused second piece
        Item(2, iova + beat - 2, 4, write=True, wdata=0xA5A5_5A5A),  # across a beat
        Item(2, iova + 0x200, 2),
        Item(2, iova + 0x300, top),                                # SLVERR (planted below)
        Item(2, iova + 0x404, 8, write=True, wdata=0x0123_4567_89AB_CDEF),  # SLVERR
        Item(2, iova + 0x500, 8, write=True, wdata=0xFEDC_BA98_7654_3210),
        Item(0, iova + 0x14, 8),                                   # reads back the element
    ]
    tb.ram.bad = {(0xA000 + 0x300 + top - 1) // beat * beat, (0xA000 + 0x404) // beat * beat}
    memory = tb.memory()
    runs = []
    for b2b in (False, True):
        tb.ram.write(0, memory)
        tb.flush_req = 1
        run = [replace(it, b2b=b2b and k > 0, gap=1 + k % 2) for k, it in enumerate(items)]
        runs.append([seen.shape(it) for it, seen in zip(run, await tb.requests(run),
                                                          strict=True)])
        runs[-1].append(tb.memory())
    alone, together = runs
    for it, a, b in zip([*items, "memory after"], alone, together, strict=True):
        assert a == b, f"{it}: back to back {b}, alone {a}"
    assert tb.stats["b2b"] == len(items) - 1 and tb.stats["eio_read"] == 2 and \
        tb.stats["eio_write"] == 2 and tb.stats["xlate_refused"] == 2


@cocotb.test()
async def test_port_translation_faults(dut):
    """A refusal or a zero-length answer on the first, second or third piece: fault and
    fault_xlate with the group's ASID, and no bus access at all (the earlier pieces are not
    moved), for reads, writes and probes; the next request starts clean."""
    tb = await start(dut, 13)
    tb.ram.stall(random.Random(3), 0.2)
    tb.latency = (1, 5)
    iova = 0x3_0000_0ff8      # 8 bytes before a page: a descriptor read splits there too
    for bad_piece in range(3):
        for zero in (False, True):
            for write, probe in ((False, False), (True, False), (False, True), (True, True)):
                n = 4 if write and not probe else 16
                cuts = [1, 2] if n == 4 else [5, 8]
                pas = [0x1001, 0x2102, 0x3000]
                tb.tlb = Iotlb({0: 1, 1: 0xA5, 2: 3},
                               split_table(iova, cuts, pas, 1, drop=bad_piece, zero=zero))
                tb.flush_req = 1
                seen = await tb.request(Item(1, iova, n, write, probe, 0xDEADBEEF))
                assert seen.fault_xlate and seen.fault_asid == 0xA5
                # then the same item with the table whole again: it moves from its first byte
                tb.tlb = Iotlb({0: 1, 1: 0xA5, 2: 3}, split_table(iova, cuts, pas, 1))
                tb.flush_req = 1
                seen = await tb.request(Item(1, iova, n, write, probe, 0xCAFEF00D))
                assert seen.done and seen.tr_reqs[0][2] == iova, \
                    f"after a fault the next request did not start at its first byte: {seen.tr_reqs}"
    assert tb.stats["xlate_later_piece"] >= 8 and tb.stats["xlate_zero"] >= 8


@cocotb.test()
async def test_port_bus_errors(dut):
    """SLVERR on the beat of the first or a later piece, reading and writing: a fault
    without fault_xlate in the cycle the failing burst ends (every beat of a read burst taken),
    nothing on the bus after it, a write's earlier pieces landed; the next request is whole."""
    tb = await start(dut, 14)
    tb.ram.stall(random.Random(4), 0.3)
    tb.latency = (1, 2)
    iova = 0x4_0000_0100
    beat = tb.beat
    pas = [0x1000 + beat - 2, 0x5000 + 3 * beat - 1, 0x7000]
    tb.tlb = Iotlb({0: 1, 1: 2, 2: 3}, split_table(iova, [2, 3], pas, group=2))
    for piece in range(3):
        for write in (False, True):
            n = 4 if write else 16
            tb.ram.bad = {pas[piece] // beat * beat}
            seen = await tb.request(Item(2, iova, n, write, wdata=0x0BADF00D))
            assert seen.fault and not seen.fault_xlate
            tb.ram.bad = set()
            seen = await tb.request(Item(2, iova, n, write, wdata=0x600DF00D))
            assert seen.done
    # a burst of two beats (the item starts at a beat's last byte) failing on its first:
    # the second is still taken before the fault
    tb.tlb = Iotlb({0: 1, 1: 2, 2: 3}, [Range(0, False, iova, 64, 0x2000 + beat - 1)])
    tb.flush_req = 1
    tb.ram.bad = {0x2000}
    seen = await tb.request(Item(0, iova, 16))
    assert seen.fault and len(seen.rbeats) == seen.bursts[0][3] > 1, seen.rbeats
    tb.ram.bad = set()
    assert tb.stats["eio_read"] >= 3 and tb.stats["eio_write"] >= 2 and \
        tb.stats["eio_later_piece"] >= 2


@cocotb.test()
async def test_port_translation_cache(dut):
    """A second item in a page answered before hits: no IOTLB request, and the bus request is
    out the cycle after req_valid rises (with ISSUE_AT_HIT, in that cycle); a flush between
    makes it miss; another set (the engine: another VQ), group or direction misses; ENTRIES
    pages are held per set and one more replaces the oldest."""
    tb = await start(dut, 15)
    tb.tlb = Iotlb({0: 1, 1: 2, 2: 3}, whole())
    tb.latency = (3, 3)
    base = 0x1_0000_0000
    tb.flush_req = 1
    s1 = await tb.request(Item(0, base + 0x10, 4))
    assert len(s1.tr_reqs) == 1
    s2 = await tb.request(Item(0, base + 0x80, 16, gap=2))
    assert not s2.tr_reqs, "a second item in an answered page asked the IOTLB"
    assert s2.first_bus == s2.rise + (0 if tb.issue_at_hit else 1), \
        f"on a hit the bus request is out in cycle {s2.first_bus}, req_valid rose in {s2.rise}"
    tb.flush_req = 1
    s3 = await tb.request(Item(0, base + 0x80, 16, gap=3))
    assert len(s3.tr_reqs) == 1, "a flush between did not make the next item miss"
    for other in (Item(0, base + 0x80, 4, write=True, wdata=1), Item(1, base + 0x80, 4)):
        s = await tb.request(other)
        assert len(s.tr_reqs) == 1, f"{other} hit another group's or direction's answer"
    if tb.nsets > 1:
        s = await tb.request(Item(0, base + 0x80, 4, set=1))
        assert len(s.tr_reqs) == 1, "set 1 hit set 0's answer"
    # ENTRIES pages in set 2, then each again: all hit; one more page replaces the first
    # ranges of half a page, so each answer is its own entry
    pages = [base + 0x800 * i for i in range(tb.entries + 1)]
    tb.tlb = Iotlb({0: 1, 1: 2, 2: 3}, [
        Range(2, False, p, 0x800, 0x8000 + i * 0x800) for i, p in enumerate(pages)])
    tb.flush_req = 1
    for p in pages[:tb.entries]:
        assert len((await tb.request(Item(2, p, 2, set=2 % tb.nsets))).tr_reqs) == 1
    for p in pages[:tb.entries]:
        assert not (await tb.request(Item(2, p + 2, 2, set=2 % tb.nsets))).tr_reqs
    await tb.request(Item(2, pages[-1], 2, set=2 % tb.nsets))
    s = await tb.request(Item(2, pages[0] + 4, 2, set=2 % tb.nsets))
    assert len(s.tr_reqs) == 1, "the oldest of ENTRIES + 1 answers still hit"


# ---------------------------------------------------------------------------------------
# randomised streams
# ---------------------------------------------------------------------------------------

def draw_table(rng: random.Random, beat: int) -> Iotlb:
    """Per group and direction a few runs of ranges in a 3-page IOVA window: ranges of 1 byte
    to a page meeting at any byte, at distant or adjacent pa (a short answer), holes (refused)
    and now and then a zero-length answer."""
    asid = {g: rng.randrange(256) for g in GROUPS}
    ranges: list[Range] = []
    for g in GROUPS:
        for w in (False, True):
            pos = 0x10_0000_0000 * (g + 1) + (0x1000 if w else 0)
            end = pos + 3 * PAGE
            while pos < end:
                n = rng.choice([1, 2, 3, 5, 7, beat - 1, beat + 1, 24, 100, 0x800, PAGE])
                n = max(1, min(n, end - pos))
                roll = rng.random()
                if roll < 0.06:
                    pass                                               # a hole: refused
                elif roll < 0.1:
                    ranges.append(Range(g, w, pos, n, 0, zero=True))
                else:
                    prev = ranges[-1] if ranges and ranges[-1].group == g and \
                        ranges[-1].write == w and ranges[-1].iova + ranges[-1].length == pos \
                        and not ranges[-1].zero else None
                    if prev is not None and rng.random() < 0.3:
                        pa = prev.pa + prev.length                  # a short answer
                    else:
                        pa = rng.randrange(0, MEM_SIZE - 2 * PAGE)
                    if pa + n > MEM_SIZE:
                        pa = rng.randrange(0, MEM_SIZE - n)
                    ranges.append(Range(g, w, pos, n, pa))
                pos += n
    return Iotlb(asid, ranges)


def draw_item(rng: random.Random, tlb: Iotlb, nsets: int, lens: tuple[int, ...]) -> Item:
    """An item near a range edge (so it splits or faults often), a page edge, or anywhere;
    reads of ``lens``, those longer than a descriptor or between the ring's item sizes at the
    alignment the ring gives them (ring_align)."""
    g = rng.choice(GROUPS)
    probe = rng.random() < 0.12
    write = rng.random() < 0.4
    n = rng.choice(WRITE_LENS if write and not probe else lens)
    mine = [r for r in tlb.ranges if r.group == g and r.write == write]
    if mine and rng.random() < 0.8:
        r = rng.choice(mine)
        iova = rng.choice([r.iova + r.length - rng.randrange(1, n + 1), r.iova,
                           r.iova + rng.randrange(r.length)])
    else:
        base = 0x10_0000_0000 * (g + 1) + (0x1000 if write else 0)
        iova = base + rng.choice([PAGE - rng.randrange(1, n + 1), rng.randrange(3 * PAGE)])
    if n not in READ_LENS:
        iova -= iova % ring_align(n)
    return Item(g, iova, n, write, probe, rng.getrandbits(64), rng.randrange(min(nsets, 3)),
                rng.choice([1, 1, 1, 2, 4]))


async def run_stream(tb: TB, seed: int, requests: int, b2b: float = 0.0) -> dict[str, int]:
    """``requests`` items judged one by one; with chance ``b2b`` an item starts a run of 2 to
    4 the owner presents back to back (req_valid held from one to the next), over the same
    table and failing beat."""
    rng = random.Random(seed)
    tb.rng.seed(seed ^ 0x5EED)   # the IOTLB's latencies and stalls: from the stream's seed too
    tb.where = f"stream seed {seed}: "
    tb.ram.stall(rng, rng.choice([0.0, 0.2, 0.5]))
    tb.latency = rng.choice([(1, 1), (1, 4), (2, 12)])
    tb.tr_stall = rng.choice([0.0, 0.3])
    tb.flush_chance = rng.choice([0.0, 0.005, 0.03])
    tb.tlb = draw_table(rng, tb.beat)
    tb.flush_req = 1
    tb.ram.bad = set()
    last: Item | None = None
    left = requests
    while left > 0:
        if rng.random() < 0.04:
            # an IOTLB command changed the translations: the IOTLB flushes the cache
            tb.tlb = draw_table(rng, tb.beat)
            tb.flush_req = rng.randint(1, 3)
        batch: list[Item] = []
        for k in range(min(left, rng.randint(2, 4) if rng.random() < b2b else 1)):
            if last is not None and rng.random() < 0.3:
                # the next entry of the same ring, as the engine reads them: often a cache hit
                it = replace(last, iova=last.iova + last.n, wdata=rng.getrandbits(64))
            else:
                it = draw_item(rng, tb.tlb, tb.nsets, tb.read_lens)
            # after a read or write (whose done is from the bus) half of them with req_next
            nxt = k > 0 and not batch[-1].probe and rng.random() < 0.5
            batch.append(replace(it, b2b=k > 0 and not nxt, nxt=nxt))
            last = it
        left -= len(batch)
        it = batch[0]
        # a beat of the item fails: of a later piece's when the item splits (the earlier
        # pieces must not be moved, or for a write must have landed)
        pas = [tb.tlb.pa_of(it.group, it.write, it.iova + k) for k in range(it.n)]
        later = [] if None in pas else [p for p in pas if p // tb.beat != pas[0] // tb.beat]
        pa = rng.choice(later) if later and rng.random() < 0.5 else rng.choice(pas)
        if pa is not None and rng.random() < (0.25 if later else 0.06):
            # a beat of this item fails (and stays failing for a while)
            tb.ram.bad = {pa // tb.beat * tb.beat}
        elif rng.random() < 0.1:
            tb.ram.bad = set()
        await tb.requests(batch)
    return dict(tb.stats)


@cocotb.test()
async def test_port_random_streams(dut):
    """Seeded streams of reads, writes and probes at range and page edges over random
    tables (holes, zero-length answers, short answers), SLVERR beats, AXI stalls, IOTLB
    latency 1..12 and stalls, spurious flushes and table changes with their flush, each request
    judged against the reference; the streams together must have split items in 2 and 3
    pieces, refused and zero-length translations on later pieces, read and write errors on
    later pieces, probes and cache hits; the second and third stream present runs of items
    back to back, half of them with req_next in the cycle of the done before; with ITEM_BYTES
    64, reads longer than a descriptor."""
    base = random.getrandbits(32)
    tb = await start(dut, base)
    for i, b2b in enumerate((0.0, 0.3, 0.7)):
        seed = base + i
        dut._log.info("ring port stream %d: seed %d, back to back %.1f", i, seed, b2b)
        await run_stream(tb, seed, 250, b2b)
    dut._log.info("ring port streams %d..%d: %s", base, base + 2, tb.stats)
    need = ("split2", "split3", "xlate_refused", "xlate_zero", "xlate_later_piece", "eio_read",
            "eio_write", "eio_later_piece", "probe", "hit", "done", "flushes", "b2b", "next",
            "write8") + (("long_read",) if tb.item_bytes > 16 else ())
    thin = [k for k in need if tb.stats[k] < 3]
    assert not thin, f"stream seeds {base}..{base + 2}: too few {thin} ({tb.stats})"
