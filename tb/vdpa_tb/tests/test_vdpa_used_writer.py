# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_used_writer alone (the virtqueue engine's completion writer).

The bench plays the engine: it owns the VQ context (and applies the writer's commit to it, as
vdpa_vq_engine does), and it is the ring-item port, moving each item to and from the model's
guest memory (vdpa_model.memory, vdpa_model.dma.DmaPort) with a latency drawn per item, from
free at once to tens of cycles. Each completion is checked against the model's own completion
writer, vdpa_model.datapath.SplitRing.complete and need_notify, run on a copy of the same
memory: the bytes of the used element and used.idx, the kinds of the accesses, the element
written before used.idx and used_event / avail.flags read after it, the notification
decision, the commit and the new used index. The block has no RTL parameter but MUTANT, so
the sweep is over the ring: queue sizes 2..32768, EVENT_IDX on and off, used indices at the
u16 wrap, TX and RX, port latency and done backpressure, and a notification field that answers
with an error (the model's port poisoned there too). The pytest entry is
tests/rtl/test_vdpa_used_writer.py.
"""

from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from vdpa_model.datapath import SplitRing
from vdpa_model.dma import AccessKind, AccessLog, DmaPort, PoisonedDmaPort
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

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the bench is the ring-item port and the context owner: it takes each item on its exact "
    "handshake edge, holds the port busy for a latency drawn per item and applies the commit "
    "pulse in its cycle; the block is a few registers and each test runs a few thousand cycles"
)

CLK_NS = 10
MEM_SIZE = 1 << 32
VQ_ASID = 0


class TB:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        Clock(dut.clk, CLK_NS, unit="ns").start()
        for name in ("req_valid", "req_head", "req_rx", "req_written", "req_vq", "ctx_drv",
                     "ctx_dev", "ctx_size", "ctx_used", "ctx_group", "event_idx", "item_ready",
                     "item_rdata", "item_error", "cancel", "done_ready"):
            getattr(dut, name).value = 0
        self.mem = GuestMemory(MEM_SIZE)
        self.log = AccessLog()
        self.port = DmaPort(self.mem, AddressSpace(VQ_ASID), 0, self.log)
        self.latency: list[int] = [0]
        self.done_hold = 0.0
        self.rng = random.Random(0)
        self.commits: list[int] = []
        self.irqs: list[int] = []
        self.items = 0
        self.dones = 0
        # the notification field answers with an error (the port's fault on the read)
        self.note_error = False

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def port_and_owner(self) -> None:
        """The ring-item port, the context owner and the done/irq monitor, one edge at a time."""
        dut = self.dut
        busy = 0
        await FallingEdge(dut.clk)
        dut.item_ready.value = 1
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            took = bool(dut.item_valid.value) and bool(dut.item_ready.value)
            commit = bool(dut.commit.value)
            done = bool(dut.done_valid.value) and bool(dut.done_ready.value)
            if done:
                self.dones += 1
            if bool(dut.irq_valid.value):
                self.irqs.append(int(dut.irq_vq.value))
            assert commit == (took and not int(dut.item_write.value)), \
                "commit must pulse exactly when the port takes the used_event/avail.flags read"
            item = None
            if took:
                item = (int(dut.item_iova.value), int(dut.item_len.value),
                        bool(int(dut.item_write.value)), int(dut.item_wdata.value),
                        AccessKind(int(dut.item_kind.value)), int(dut.item_group.value))
                new_used = int(dut.new_used.value)
            await FallingEdge(dut.clk)
            if item is not None:
                iova, n, write, wdata, kind, group = item
                assert group == self.group, f"item through group {group}, not the ring group"
                # u16 ring indices, and the used element (le32 id, le32 len) whole, 4-aligned
                # as the used ring is (virtio 1.2 §2.7)
                assert (n, iova % min(n, 4)) in ((2, 0), (8, 0)), f"item of {n} bytes at {iova:#x}"
                if write:
                    self.port.write(iova, wdata.to_bytes(8, "little")[:n], kind)
                    dut.item_error.value = 0
                elif self.note_error:
                    # the read ends with an error (the owner frees the port as for its end)
                    dut.item_rdata.value = 0
                    dut.item_error.value = 1
                else:
                    dut.item_rdata.value = int.from_bytes(self.port.read(iova, n, kind), "little")
                    dut.item_error.value = 0
                self.items += 1
                busy = self.rng.choice(self.latency)
            else:
                busy = max(0, busy - 1)
            if commit:
                # the engine's context update: used index, last_avail, the head's in-flight bit
                self.commits.append(new_used)
                dut.ctx_used.value = new_used
            del done
            ready = int(busy == 0)
            dut.item_ready.value = ready
            # the owner holds done off now and then (done_ready is the port being free)
            dut.done_ready.value = ready and int(self.rng.random() >= self.done_hold)

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
        self.note_error = c.get("note_error", False)
        if self.note_error:
            # both notification fields answer with a bus error in the model's memory
            ref = PoisonedDmaPort(ref_mem, AddressSpace(VQ_ASID), 0, ref_log,
                                  [(c["drv"], c["drv"] + 2),
                                   (c["drv"] + used_event_off(c["size"]),
                                    c["drv"] + used_event_off(c["size"]) + 2)])
        else:
            ref = DmaPort(ref_mem, AddressSpace(VQ_ASID), 0, ref_log)
        for a, n in ((c["drv"] + used_event_off(c["size"]), 2), (c["drv"], 2)):
            ref_mem.write(a, self.mem.read(a, n))
        ref_log.clear()
        model = self.ring(ref, c)
        new = model.complete(c["used"], c["head"], c["written"] if c["rx"] else 0)
        irq = model.need_notify(c["used"], new)

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
        assert dut.req_ready.value == 1, "writer not idle between completions"
        await FallingEdge(dut.clk)
        dut.req_valid.value = 1
        dut.req_head.value = c["head"]
        dut.req_rx.value = int(c["rx"])
        dut.req_written.value = c["written"]
        dut.req_vq.value = c["vq"]
        await FallingEdge(dut.clk)
        dut.req_valid.value = 0
        start_log, commits, irqs = len(self.log), len(self.commits), len(self.irqs)
        for _ in range(2000):
            await RisingEdge(dut.clk)
            await ReadOnly()
            # idle (req_ready without done_valid): the done has been taken
            if dut.req_ready.value == 1 and dut.done_valid.value == 0:
                break
        else:
            raise AssertionError("completion did not finish in 2000 cycles")
        # the notification field is in item_rdata in the cycle after the done, and irq_valid
        # pulses in the one after that
        await ClockCycles(dut.clk, 2)
        await FallingEdge(dut.clk)

        assert self.commits[commits:] == [new], (self.commits[commits:], new)
        assert self.irqs[irqs:] == ([c["vq"]] if irq else []), \
            f"notification {self.irqs[irqs:]}, model says {irq} ({c})"
        for a, n, what in ((elem, 8, "used element"), (idx, 2, "used.idx")):
            got, want = self.mem.read(a, n), ref_mem.read(a, n)
            assert got == want, f"{what}: {got.hex()} != model {want.hex()} ({c})"
        # the same ring areas, in the model's order: element, then used.idx, then the read
        dut_acc = [(e.write, e.kind, e.pa, e.length) for e in self.log.entries(start_log)]
        ref_acc = [(e.write, e.kind, e.pa, e.length) for e in ref_log.entries()]
        if self.note_error:
            # the bench's port made no access for the failed read (nor did the model's)
            assert [(w, k) for w, k, _, _ in dut_acc] == [(True, AccessKind.USED)] * 2, dut_acc
        else:
            assert [(w, k) for w, k, _, _ in dut_acc] == [(True, AccessKind.USED)] * 2 + \
                [(False, AccessKind.AVAIL)], dut_acc
        # the element is one access of eight bytes, as the model writes it
        assert [a[2:] for a in dut_acc] == [a[2:] for a in ref_acc], (dut_acc, ref_acc)


async def run_completions(dut: Any, seed: int, latency: list[int], done_hold: float,
                          count: int, sizes: list[int] | None = None,
                          note_errors: float = 0.0) -> None:
    tb = TB(dut)
    tb.latency, tb.done_hold = latency, done_hold
    tb.rng = random.Random(seed + 1000)
    await tb.cycle_reset()
    cocotb.start_soon(tb.port_and_owner())
    rng = random.Random(seed)
    for i in range(count):
        size = sizes[i % len(sizes)] if sizes else None
        c = tb.draw(rng, size)
        c["note_error"] = rng.random() < note_errors
        await tb.complete(c)


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
async def test_notification_read_error(dut):
    """Completions whose notification read fails (item_error) half the time, against the model
    with that field poisoned: the chain commits as usual, and there is no notification and no
    cancel (__vringh_need_notify's error is not a fault of the queue); the next completion is
    whole."""
    await run_completions(dut, 3, [0, 1, 5], 0.2, 80, note_errors=0.5)


@cocotb.test()
async def test_cancel_mid_completion(dut):
    """A cancel (the engine's fault on an item) at every step returns the writer to idle at
    once, with no commit and no notification; the next completion is whole."""
    tb = TB(dut)
    tb.rng = random.Random(7)
    tb.latency = [6]
    await tb.cycle_reset()
    cocotb.start_soon(tb.port_and_owner())
    rng = random.Random(3)
    # items: the used element, used.idx, the notification read
    for after_items in range(1, 4):
        c = tb.draw(rng)
        tb.group = c["group"]
        await FallingEdge(dut.clk)
        dut.ctx_drv.value, dut.ctx_dev.value = c["drv"], c["dev"]
        dut.ctx_size.value, dut.ctx_used.value = c["size"], c["used"]
        dut.ctx_group.value, dut.event_idx.value = c["group"], int(c["event_idx"])
        dut.req_valid.value = 1
        dut.req_head.value, dut.req_rx.value = c["head"], int(c["rx"])
        dut.req_written.value, dut.req_vq.value = c["written"], c["vq"]
        await FallingEdge(dut.clk)
        dut.req_valid.value = 0
        commits, irqs, items = len(tb.commits), len(tb.irqs), tb.items
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
        # used.idx is written before the read of step 3 starts: cancelled there, it committed
        assert len(tb.commits) - commits == int(after_items == 3) and len(tb.irqs) == irqs
        await tb.complete(tb.draw(rng))
