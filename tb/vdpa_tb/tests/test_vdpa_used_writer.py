# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_used_writer alone (the virtqueue engine's completion writer).

The bench plays the engine and the notifier: it owns the VQ context (and applies the writer's
commit to it, as vdpa_vq_engine does), it is the ring-item port, moving each item to and from
the model's guest memory (vdpa_model.memory, vdpa_model.dma.DmaPort) with a latency drawn per
item, from free at once to tens of cycles, and it takes the notes the notifier would, with the
room it says it has drawn at random. Each completion is checked against the model's own
completion writer, vdpa_model.datapath.SplitRing.complete, run on a copy of the same memory:
the bytes of the used element and used.idx, the kinds and order of the accesses (the element
written before used.idx), the commit and the new used index, and the note: where the
notification field the model's need_notify reads is (used_event or avail.flags, virtio 1.2
§2.7.10), with the queue, group and new index. The notification decision itself is the
notifier's (test_vdpa_notifier). Batches (BATCH chains under one used.idx write) are checked
the same way against the model completing the same chains one at a time: the used ring and
used.idx as the model leaves them, each commit's index and chain count, one note per batch
naming its old and new index, used.idx held back exactly while the bench says more is coming,
and a refused element ending the batch before its chain, which is then completed alone. The
builds sweep BATCH (1: one chain at a time, and the engine's 4); the tests sweep the ring:
queue sizes 2..32768, EVENT_IDX on and off, used indices at the u16 wrap, TX and RX, port
latency, done backpressure and a notifier short of room. The pytest entry is
tests/rtl/test_vdpa_used_writer.py.
"""

from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from vdpa_model.datapath import SplitRing
from vdpa_model.dma import AccessKind, AccessLog, DmaPort
from vdpa_model.iotlb import AddressSpace
from vdpa_model.memory import GuestMemory
from vdpa_model.spec import (
    VRING_AVAIL_FLAGS_OFF,
    VRING_USED_ELEM_SIZE,
    VRING_USED_IDX_OFF,
    VRING_USED_RING_OFF,
    used_event_off,
    used_ring_size,
)
from vdpa_tb.nic_tb import param

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the bench is the ring-item port, the context owner and the notifier: it takes each item "
    "on its exact handshake edge, holds the port busy for a latency drawn per item, applies "
    "the commit pulse in its cycle and takes the note in the same one; the block is a few "
    "registers and each test runs a few thousand cycles"
)

CLK_NS = 10
MEM_SIZE = 1 << 32
#: notes the bench's notifier holds (the smallest vdpa_notifier DEPTH)
NOTE_DEPTH = 2
VQ_ASID = 0


class TB:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        Clock(dut.clk, CLK_NS, unit="ns").start()
        for name in ("req_valid", "req_head", "req_rx", "req_written", "req_vq", "ctx_drv",
                     "ctx_dev", "ctx_size", "ctx_used", "ctx_group", "event_idx", "item_ready",
                     "cancel", "done_ready", "note_room", "more", "refuse"):
            getattr(dut, name).value = 0
        self.mem = GuestMemory(MEM_SIZE)
        self.log = AccessLog()
        self.port = DmaPort(self.mem, AddressSpace(VQ_ASID), 0, self.log)
        self.latency: list[int] = [0]
        self.done_hold = 0.0
        self.rng = random.Random(0)
        self.batch = param("BATCH", 4)
        self.commits: list[int] = []
        #: (chains, head freed) of each commit, beside its index in `commits`
        self.commit_chains: list[tuple[int, bool]] = []
        self.notes: list[tuple[int, int, int, bool, int]] = []
        #: (old, new) used index of each note
        self.note_range: list[tuple[int, int]] = []
        self.absorbs = 0
        self.elems_at_request = 0   # elements the port took in their request's cycle
        # chance that the port refuses an element of a batch's later chain (the engine's
        # `refuse`), and the refusals made
        self.refuse_p = 0.0
        self.refusals = 0
        # used.idx writes taken while `more` was high and the batch not full (must be none)
        self.idx_while_more = 0
        self.items = 0
        self.dones = 0
        # how often the notifier leaves a note it holds undrained for a cycle
        self.short_room = 0.0

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def port_and_owner(self) -> None:
        """The ring-item port, the context owner, the notifier and the done monitor. Each
        cycle it sets its inputs at the falling edge, then reads what will be taken at the
        next rising edge (ReadOnly), so what it records is what the block does."""
        dut = self.dut
        busy = 0
        occupancy = 0
        commit_used: int | None = None
        refusing = False
        while True:
            await FallingEdge(dut.clk)
            if commit_used is not None:
                # the engine's context update: used index, last_avail, the head's in-flight bit
                dut.ctx_used.value = commit_used
                commit_used = None
            busy = max(0, busy - 1)
            ready = int(busy == 0)
            # a refused element ends with the refusal instead of a done: the port is free
            # from the next cycle
            dut.refuse.value = int(refusing and ready)
            if refusing and ready:
                ready, refusing = 0, False
                refused_now = True
            else:
                refused_now = False
            dut.item_ready.value = ready
            # the owner holds done off now and then (done_ready is the port being free)
            dut.done_ready.value = ready and int(self.rng.random() >= self.done_hold)
            # the notifier: a queue of NOTE_DEPTH notes it drains one at a time, now and then
            # (slowly when short of room); only the writer fills it
            if occupancy and self.rng.random() >= self.short_room:
                occupancy -= 1
            room = int(occupancy + 1 <= NOTE_DEPTH) | int(occupancy + 2 <= NOTE_DEPTH) << 1
            dut.note_room.value = room
            await ReadOnly()
            took = bool(dut.item_valid.value) and bool(dut.item_ready.value)
            commit = bool(dut.commit.value)
            done = bool(dut.done_valid.value) and bool(dut.done_ready.value)
            taken = bool(dut.req_valid.value) and bool(dut.req_ready.value)
            assert commit == done, "commit must pulse exactly when the done is taken"
            assert bool(dut.note_valid.value) == done, "the note goes with the done"
            if refused_now:
                assert dut.retry_ok.value == 1, "refused an item the writer cannot retry"
                self.refusals += 1
            absorbed = bool(dut.absorb.value)
            if absorbed:
                assert taken, "absorb without the request taken"
                self.absorbs += 1
            n_held = int(dut.chains.value)
            if took and int(dut.item_len.value) == 2 and bool(dut.more.value) \
                    and n_held < self.batch and not bool(dut.keep.value):
                self.idx_while_more += 1
            if taken:
                assert room == 3 or (room == 1 and not done), \
                    f"request taken with note room {room:02b}: its note might find none"
                # a free port takes the chain's element in the request's own cycle
                assert took or not ready, "request taken with the port free, its element not"
                if took:
                    self.elems_at_request += 1
            if done:
                assert room & 1, "a note handed to a notifier without room"
                occupancy += 1
                self.dones += 1
                self.notes.append((int(dut.note_vq.value), int(dut.note_iova.value),
                                   int(dut.note_group.value), bool(int(dut.note_event_idx.value)),
                                   int(dut.note_used.value)))
                self.note_range.append((int(dut.note_old.value), int(dut.note_used.value)))
            if commit:
                commit_used = int(dut.new_used.value)
                self.commits.append(commit_used)
                # the chains it covers, and whether the last one's head leaves flight with it
                self.commit_chains.append((int(dut.chains.value), not bool(dut.keep.value)))
                assert 1 <= self.commit_chains[-1][0] <= self.batch, self.commit_chains[-1]
            if took:
                iova, n = int(dut.item_iova.value), int(dut.item_len.value)
                wdata, group = int(dut.item_wdata.value), int(dut.item_group.value)
                assert group == self.group, f"item through group {group}, not the ring group"
                # u16 ring indices, and the used element (le32 id, le32 len) whole, 4-aligned
                # as the used ring is (virtio 1.2 §2.7)
                assert (n, iova % min(n, 4)) in ((2, 0), (8, 0)), f"item of {n} bytes at {iova:#x}"
                # the port is busy from the next cycle for the item's latency
                busy = 1 + self.rng.choice(self.latency)
                self.items += 1
                # an element of a batch's later chain may be refused (written nowhere)
                if n == 8 and n_held > 1 and self.rng.random() < self.refuse_p:
                    refusing = True
                    continue
                # every item is a write to the used ring (the engine's port writes it so)
                self.port.write(iova, wdata.to_bytes(8, "little")[:n], AccessKind.USED)

    def ring(self, mem_port: DmaPort, c: dict[str, Any]) -> SplitRing:
        return SplitRing(mem_port, mem_port, 0, c["drv"], c["dev"], c["size"], c["event_idx"])

    def draw(self, rng: random.Random, size: int | None = None) -> dict[str, Any]:
        size = size or 1 << rng.randrange(1, 16)
        used = rng.choice([0, 0xFFFF, 0xFFFE, size - 1, rng.randrange(1 << 16)])
        dev = rng.randrange(0, (MEM_SIZE - used_ring_size(size) - 64) // 4) * 4
        drv = rng.randrange(0, (MEM_SIZE - used_event_off(size) - 64) // 2) * 2
        return {"size": size, "used": used, "dev": dev, "drv": drv,
                "event_idx": rng.random() < 0.5, "head": rng.randrange(size),
                "rx": rng.random() < 0.5, "written": rng.randrange(1 << 32),
                "vq": rng.randrange(256), "group": rng.randrange(256),
                # used_event right at, before and after the new index; NO_INTERRUPT on and off
                "used_event": rng.choice([used, (used + 1) & 0xFFFF, (used - 1) & 0xFFFF,
                                          rng.randrange(1 << 16)]),
                "flags": rng.randrange(1 << 16)}

    async def until_taken(self) -> bool:
        """Hold the request raised until the writer takes it (it takes nothing while the
        notifier has no room); at the falling edge after. True if it went with a done."""
        dut = self.dut
        for _ in range(2000):
            await ReadOnly()
            taken = dut.req_ready.value == 1
            with_done = taken and dut.done_valid.value == 1
            await FallingEdge(dut.clk)
            if taken:
                return bool(with_done)
        raise AssertionError("request not taken in 2000 cycles")

    async def complete(self, c: dict[str, Any]) -> None:
        """One completion on the DUT and on the model; every observable compared."""
        dut = self.dut
        self.group = c["group"]
        p = self.port
        p.write(c["drv"] + used_event_off(c["size"]), c["used_event"].to_bytes(2, "little"),
                AccessKind.AVAIL)
        p.write(c["drv"] + VRING_AVAIL_FLAGS_OFF, c["flags"].to_bytes(2, "little"),
                AccessKind.AVAIL)
        # the model's expectation, on a copy of the rings' bytes
        slot = c["used"] & (c["size"] - 1)
        elem = c["dev"] + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * slot
        idx = c["dev"] + VRING_USED_IDX_OFF
        ref_mem = GuestMemory(MEM_SIZE)
        ref_log = AccessLog()
        ref = DmaPort(ref_mem, AddressSpace(VQ_ASID), 0, ref_log)
        for a, n in ((c["drv"] + used_event_off(c["size"]), 2), (c["drv"], 2)):
            ref_mem.write(a, self.mem.read(a, n))
        ref_log.clear()
        model = self.ring(ref, c)
        new = model.complete(c["used"], c["head"], c["written"] if c["rx"] else 0)
        n_writes = len(ref_log)
        model.need_notify(c["used"], new)
        # where the model reads the notification field: what the note must name
        (field,) = [e.pa for e in ref_log.entries(n_writes)]

        await FallingEdge(dut.clk)
        dut.ctx_drv.value = c["drv"]
        dut.ctx_dev.value = c["dev"]
        dut.ctx_size.value = c["size"]
        dut.ctx_used.value = c["used"]
        dut.ctx_group.value = c["group"]
        dut.event_idx.value = int(c["event_idx"])
        await ReadOnly()
        assert int(dut.elem_iova.value) == elem, "elem_iova is not the used element's address"
        assert int(dut.idx_iova.value) == idx, "idx_iova is not used.idx's address"
        start_log, commits, notes, dones = len(self.log), len(self.commits), len(self.notes), self.dones
        await FallingEdge(dut.clk)
        dut.req_valid.value = 1
        dut.req_head.value = c["head"]
        dut.req_rx.value = int(c["rx"])
        dut.req_written.value = c["written"]
        dut.req_vq.value = c["vq"]
        await self.until_taken()
        dut.req_valid.value = 0
        for _ in range(2000):
            await FallingEdge(dut.clk)
            if self.dones > dones:
                break
        else:
            raise AssertionError("completion did not finish in 2000 cycles")
        # the monitor records the commit and the note at the falling edge of the done's cycle
        await FallingEdge(dut.clk)

        assert self.commits[commits:] == [new], (self.commits[commits:], new)
        assert self.commit_chains[commits:] == [(1, True)], self.commit_chains[commits:]
        assert self.note_range[notes:] == [(c["used"], new)], self.note_range[notes:]
        assert self.notes[notes:] == [(c["vq"], field, c["group"], c["event_idx"], new)], \
            f"note {self.notes[notes:]}: the model reads {field:#x} for index {new} ({c})"
        for a, n, what in ((elem, 8, "used element"), (idx, 2, "used.idx")):
            got, want = self.mem.read(a, n), ref_mem.read(a, n)
            assert got == want, f"{what}: {got.hex()} != model {want.hex()} ({c})"
        # the same ring areas, in the model's order: element, then used.idx
        dut_acc = [(e.write, e.kind, e.pa, e.length) for e in self.log.entries(start_log)]
        ref_acc = [(e.write, e.kind, e.pa, e.length) for e in ref_log.entries()][:n_writes]
        assert [(w, k) for w, k, _, _ in dut_acc] == [(True, AccessKind.USED)] * 2, dut_acc
        # the element is one access of eight bytes, as the model writes it
        assert [a[2:] for a in dut_acc] == [a[2:] for a in ref_acc], (dut_acc, ref_acc)


async def run_completions(dut: Any, seed: int, latency: list[int], done_hold: float,
                          count: int, sizes: list[int] | None = None,
                          short_room: float = 0.0) -> None:
    tb = TB(dut)
    tb.latency, tb.done_hold, tb.short_room = latency, done_hold, short_room
    tb.rng = random.Random(seed + 1000)
    await tb.cycle_reset()
    cocotb.start_soon(tb.port_and_owner())
    rng = random.Random(seed)
    for i in range(count):
        size = sizes[i % len(sizes)] if sizes else None
        await tb.complete(tb.draw(rng, size))


@cocotb.test()
async def test_completions_against_model(dut):
    """Random completions (every queue size, EVENT_IDX on and off, TX and RX, used index at
    the wrap) through a port that is free at once: each matches the model's completion."""
    await run_completions(dut, 1, [0], 0.0, 120, [2, 4, 256, 32768])


@cocotb.test()
async def test_completions_slow_port(dut):
    """The same against a port that takes 1 to 40 cycles an item and an owner that holds done
    off now and then: the writer waits, never offers the next item early, commits once."""
    await run_completions(dut, 2, [0, 1, 2, 7, 40], 0.3, 120)


@cocotb.test()
async def test_notifier_short_of_room(dut):
    """The notifier has room for one note or none now and then: the writer takes a request
    only when the note it will hand over, and the one it hands over in the same cycle, fit;
    every note still goes with its done."""
    await run_completions(dut, 3, [0, 1, 5], 0.2, 80, short_room=0.9)


async def run_stream(tb: TB, seed: int, count: int, gap: list[int] | None = None,
                     more: bool = False) -> dict[str, Any]:
    """``count`` chains of one queue (used index across the u16 wrap) requested in order: held
    ready one after the other (``gap`` None), or each after a gap of cycles drawn from ``gap``
    with ``more`` high from each request to the next (the engine's move stage writing the
    next chain). Checks every batch: the chains of the commits add up, each commit's index
    follows the one before by its chains, its note names both indices, and the used ring and
    used.idx end as the model's after the same chains completed one at a time."""
    dut = tb.dut
    rng = random.Random(seed)
    c = tb.draw(rng, 64)
    c["used"] = 0xFFF0
    tb.group = c["group"]
    chains = [(rng.randrange(c["size"]), rng.randrange(1 << 32)) for _ in range(count)]
    ref_mem = GuestMemory(MEM_SIZE)
    model = tb.ring(DmaPort(ref_mem, AddressSpace(VQ_ASID), 0, AccessLog()), c)
    used = c["used"]
    for head, written in chains:
        used = model.complete(used, head, written if c["rx"] else 0)
    await FallingEdge(dut.clk)
    dut.ctx_drv.value, dut.ctx_dev.value = c["drv"], c["dev"]
    dut.ctx_size.value, dut.ctx_used.value = c["size"], c["used"]
    dut.ctx_group.value, dut.event_idx.value = c["group"], int(c["event_idx"])
    dut.req_rx.value, dut.req_vq.value = int(c["rx"]), c["vq"]
    commits, notes, b2b, absorbs = len(tb.commits), len(tb.notes), 0, tb.absorbs
    for k, (head, written) in enumerate(chains):
        if gap is not None:
            for _ in range(rng.choice(gap)):
                await FallingEdge(dut.clk)
        dut.req_valid.value = 1
        dut.req_head.value, dut.req_written.value = head, written
        b2b += await tb.until_taken()
        if gap is not None:
            dut.req_valid.value = 0
            dut.more.value = int(more and k + 1 < count)
    dut.req_valid.value = 0
    dut.more.value = 0
    for _ in range(4000):
        await FallingEdge(dut.clk)
        if sum(n for n, _ in tb.commit_chains[commits:]) >= count:
            break
    await ClockCycles(dut.clk, 2)
    got = list(zip(tb.commits[commits:], tb.commit_chains[commits:], strict=True))
    assert sum(n for _, (n, _) in got) == count, got
    prev = c["used"]
    for (new, (n, _)), rng_note in zip(got, tb.note_range[notes:], strict=True):
        assert new == (prev + n) & 0xFFFF, f"commit {new} after {prev} with {n} chains"
        assert rng_note == (prev, new), f"note {rng_note}, batch {prev}..{new}"
        prev = new
    ring = c["dev"] + VRING_USED_RING_OFF
    for a, n, what in ((ring, VRING_USED_ELEM_SIZE * c["size"], "used ring"),
                       (c["dev"] + VRING_USED_IDX_OFF, 2, "used.idx")):
        assert tb.mem.read(a, n) == ref_mem.read(a, n), f"{what} differs from the model's"
    return {"batches": [n for _, (n, _) in got], "free": [f for _, (_, f) in got],
            "b2b": b2b, "absorbs": tb.absorbs - absorbs}


@cocotb.test()
async def test_back_to_back_same_queue(dut):
    """Requests of one queue held ready (as the engine's move stage hands chains over): with
    BATCH 1 each is taken in the cycle the one before is done, its used index following the
    one just committed (whose commit reaches the context at that same edge); with a larger
    BATCH each joins the open batch as the element before it is written, up to BATCH a
    used.idx. Every element whose request is taken while the port is free goes to the port in
    that cycle (no idle cycle after the item before). A notifier short of room holds the next
    batch back rather than lose a note; the used ring ends as the model's, with one note per
    batch in order."""
    tb = TB(dut)
    tb.rng = random.Random(11)
    tb.latency, tb.done_hold, tb.short_room = [0, 0, 1, 3], 0.2, 0.6
    await tb.cycle_reset()
    cocotb.start_soon(tb.port_and_owner())
    count = 40
    r = await run_stream(tb, 5, count)
    if tb.batch == 1:
        assert r["absorbs"] == 0 and set(r["batches"]) == {1}, r
        assert r["b2b"] > count // 4, f"only {r['b2b']} of {count} requests taken with a done"
    else:
        assert max(r["batches"]) == tb.batch and r["absorbs"] == count - len(r["batches"]), r
    assert all(r["free"]), "a commit kept its head with nothing refused"
    assert tb.elems_at_request > count // 4, \
        f"only {tb.elems_at_request} of {count} elements taken in their request's cycle"


@cocotb.test()
async def test_more_holds_used_idx(dut):
    """Chains of one queue arrive with gaps of up to 30 cycles while `more` says the next is
    on its way: the writer holds used.idx for it, so every batch but the last is BATCH chains
    and no used.idx is written while more is high and the batch has room; the last goes out
    when more falls."""
    tb = TB(dut)
    tb.rng = random.Random(13)
    tb.latency = [0, 1, 4]
    await tb.cycle_reset()
    cocotb.start_soon(tb.port_and_owner())
    count = 4 * tb.batch + 1
    r = await run_stream(tb, 6, count, gap=[0, 1, 3, 30], more=True)
    assert tb.idx_while_more == 0, f"{tb.idx_while_more} used.idx writes while more was high"
    assert r["batches"][:-1] == [tb.batch] * (len(r["batches"]) - 1), r
    # without more the same arrivals are completed as they come, mostly alone
    r = await run_stream(tb, 7, count, gap=[3, 30], more=False)
    assert r["batches"].count(1) > count // 2, r


@cocotb.test()
async def test_refused_element_ends_the_batch(dut):
    """The port refuses elements of chains after a batch's first, at random: the batch's
    used.idx covers the chains before the refused one, that commit keeps the refused chain's
    head in flight, and the refused chain is completed again on its own; the used ring ends
    as the model's (a refusal writes nothing). With BATCH 1 there is nothing to refuse."""
    tb = TB(dut)
    tb.rng = random.Random(17)
    tb.latency, tb.refuse_p = [0, 2, 5], 0.5
    await tb.cycle_reset()
    cocotb.start_soon(tb.port_and_owner())
    r = await run_stream(tb, 8, 40)
    kept = r["free"].count(False)
    assert kept == tb.refusals, (kept, tb.refusals)
    if tb.batch > 1:
        assert tb.refusals > 3, f"only {tb.refusals} refusals drawn"
    else:
        assert tb.refusals == 0


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def test_cancel_mid_completion(dut):
    """A cancel (the engine's fault on an item) while either item moves returns the writer to
    idle at once, with no commit and no note; the next completion is whole."""
    tb = TB(dut)
    tb.rng = random.Random(7)
    tb.latency = [6]
    await tb.cycle_reset()
    cocotb.start_soon(tb.port_and_owner())
    rng = random.Random(3)
    # items: the used element, used.idx
    for after_items in range(1, 3):
        c = tb.draw(rng)
        tb.group = c["group"]
        await FallingEdge(dut.clk)
        dut.ctx_drv.value, dut.ctx_dev.value = c["drv"], c["dev"]
        dut.ctx_size.value, dut.ctx_used.value = c["size"], c["used"]
        dut.ctx_group.value, dut.event_idx.value = c["group"], int(c["event_idx"])
        # counted from before the request: a free port takes the element in its cycle
        commits, notes, items = len(tb.commits), len(tb.notes), tb.items
        dut.req_valid.value = 1
        dut.req_head.value, dut.req_rx.value = c["head"], int(c["rx"])
        dut.req_written.value, dut.req_vq.value = c["written"], c["vq"]
        await FallingEdge(dut.clk)
        dut.req_valid.value = 0
        # the engine cancels only while the port is moving an item (its fault on it)
        while tb.items - items < after_items or dut.item_ready.value == 1:
            await FallingEdge(dut.clk)
        dut.cancel.value = 1
        await FallingEdge(dut.clk)
        dut.cancel.value = 0
        await ReadOnly()
        assert dut.req_ready.value == 1 and dut.item_valid.value == 0, "cancel did not idle it"
        await ClockCycles(dut.clk, 60)
        assert tb.items - items == after_items, "an item was offered after the cancel"
        # the commit and the note come only as used.idx's write ends
        assert len(tb.commits) == commits and len(tb.notes) == notes
        await tb.complete(tb.draw(rng))
