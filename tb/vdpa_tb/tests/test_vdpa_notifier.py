# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_notifier alone (the virtqueue engine's used-buffer notifier).

The bench plays the completion writer and the notifier's ring-item port. As the writer, it
hands over notes (queue, field address, group, EVENT_IDX, the used index before and after the
completion: one chain, or a batch of up to four) the way vdpa_used_writer does: only with
room (note_room), at random gaps or back to back. As the port, it answers each request after
a latency drawn per request, from the next cycle to tens of cycles, with the field read from
the model's guest memory, or refuses it (the port's fault: a refused translation or a bus
error). Each note is drawn as a completion of a ring of its own (queue sizes 2..32768,
EVENT_IDX on and off, used_event at, before and after the new index and at both ends of and
just before a batch's range, NO_INTERRUPT on and off, indices at the u16 wrap), and the
notifications are checked against the model's vdpa_model.datapath.SplitRing.need_notify on a
copy of the memory, poisoned where the bench refuses: the queues notified, in the order of the
notes, and none for a refused read. Every cycle `held` and `busy` are checked against the
notes the bench has handed over and not yet seen decided. The pytest entry is
tests/rtl/test_vdpa_notifier.py.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge

from vdpa_model.datapath import SplitRing
from vdpa_model.dma import AccessKind, AccessLog, DmaPort, PoisonedDmaPort
from vdpa_model.iotlb import AddressSpace
from vdpa_model.memory import GuestMemory
from vdpa_model.spec import VRING_AVAIL_FLAGS_OFF, used_event_off
from vdpa_tb.nic_tb import param

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the bench is the notifier's ring-item port and its producer: it answers each request on "
    "its exact edge after a latency drawn per request, hands notes over only with the room the "
    "block says it has and checks `held` every cycle; the block is a few registers and each "
    "test runs a few thousand cycles"
)

CLK_NS = 10
MEM_SIZE = 1 << 32
VQ_ASID = 0


class TB:
    def __init__(self, dut: Any, seed: int) -> None:
        self.dut = dut
        self.nvq = param("NVQ", 8)
        Clock(dut.clk, CLK_NS, unit="ns").start()
        for name in ("note_valid", "note_vq", "note_iova", "note_group", "note_event_idx",
                     "note_old", "note_used", "port_done", "port_fault", "port_rdata"):
            getattr(dut, name).value = 0
        self.rng = random.Random(seed)
        self.mem = GuestMemory(MEM_SIZE)
        self.port = DmaPort(self.mem, AddressSpace(VQ_ASID), 0, AccessLog())
        self.latency: list[int] = [0]
        self.refuse = 0.0
        #: notes handed over and not yet decided: (vq, iova, group, refused)
        self.pending: deque[tuple[int, int, int, bool]] = deque()
        self.decided = 0
        self.irqs: list[int] = []

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def port_and_monitor(self) -> None:
        """The ring-item port and the irq/held monitor, one cycle at a time: a request is
        answered (done, or fault if its note is to be refused) after its lookup cycle and a
        latency drawn for it, as vdpa_ring_port answers at the earliest; the field is on
        port_rdata from the answer on, until the next answer (the port keeps the last read's
        bytes until it takes another read's)."""
        dut = self.dut
        serving = False
        left = 0
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            # the signals of the cycle just begun
            if int(dut.irq_valid.value):
                self.irqs.append(int(dut.irq_vq.value))
            held = int(dut.held.value)
            want = 0
            for vq, _, _, _ in self.pending:
                want |= 1 << (vq % self.nvq)
            assert held & want == want, f"held {held:b} misses pending queues {want:b}"
            assert int(dut.busy.value) or not self.pending, "busy low with notes pending"
            req = int(dut.port_req_valid.value)
            got = (int(dut.port_req_vq.value), int(dut.port_req_iova.value),
                   int(dut.port_req_group.value))
            await FallingEdge(dut.clk)
            if int(dut.port_done.value) or int(dut.port_fault.value):
                # answered in the cycle before
                dut.port_done.value = 0
                dut.port_fault.value = 0
                serving = False
            if not serving:
                if not req:
                    continue
                assert self.pending, f"a request {got} with no note pending"
                vq, iova, group, _ = self.pending[0]
                assert got == (vq, iova, group), \
                    f"request {got} is not the oldest note's {(vq, iova, group)}"
                serving = True
                left = 1 + self.rng.choice(self.latency)
            else:
                assert req, "request dropped before its answer"
                assert self.pending and got == self.pending[0][:3], \
                    "request changed before its answer"
                left -= 1
            if left == 0:
                # answered in this cycle: the note is decided, and need not be held after it
                _, iova, _, refused = self.pending.popleft()
                self.decided += 1
                if refused:
                    dut.port_fault.value = 1
                else:
                    dut.port_done.value = 1
                    dut.port_rdata.value = int.from_bytes(
                        self.port.read(iova, 2, AccessKind.AVAIL), "little")

    def draw(self) -> dict[str, Any]:
        rng = self.rng
        size = 1 << rng.randrange(1, 16)
        used = rng.choice([1, 0, 0xFFFF, size, rng.randrange(1 << 16)])
        drv = rng.randrange(0, (MEM_SIZE - used_event_off(size) - 64) // 2) * 2
        event_idx = rng.random() < 0.5
        # chains completed under this used.idx: one, or a batch (vdpa_used_writer BATCH <= 7)
        chains = rng.choice([1, 1, 2, 3, 4])
        old = (used - chains) & 0xFFFF
        return {"size": size, "used": used, "old": old, "drv": drv, "event_idx": event_idx,
                "vq": rng.randrange(256), "group": rng.randrange(256),
                # the ends of [old, used - 1] and the indices just outside it
                "used_event": rng.choice([(used - 1) & 0xFFFF, used, old, (old - 1) & 0xFFFF,
                                          rng.randrange(1 << 16)]),
                "flags": rng.randrange(1 << 16), "refused": rng.random() < self.refuse}

    def model_notifies(self, c: dict[str, Any]) -> tuple[int, bool]:
        """Write the note's fields, and ask the model (its port poisoned where the bench will
        refuse): the field's address it reads and whether it notifies."""
        field_ue = c["drv"] + used_event_off(c["size"])
        field_fl = c["drv"] + VRING_AVAIL_FLAGS_OFF
        self.mem.write(field_ue, c["used_event"].to_bytes(2, "little"))
        self.mem.write(field_fl, c["flags"].to_bytes(2, "little"))
        ref_mem = GuestMemory(MEM_SIZE)
        for a in (field_ue, field_fl):
            ref_mem.write(a, self.mem.read(a, 2))
        log = AccessLog()
        if c["refused"]:
            ref = PoisonedDmaPort(ref_mem, AddressSpace(VQ_ASID), 0, log,
                                  [(field_ue, field_ue + 2), (field_fl, field_fl + 2)])
        else:
            ref = DmaPort(ref_mem, AddressSpace(VQ_ASID), 0, log)
        ring = SplitRing(ref, ref, 0, c["drv"], 0, c["size"], c["event_idx"])
        notify = ring.need_notify(c["old"], c["used"])
        field = field_ue if c["event_idx"] else field_fl
        return field, notify

    async def hand_over(self, count: int, gap: list[int]) -> list[tuple[int, bool]]:
        """``count`` notes, each after a gap drawn from ``gap`` (0: back to back), only with
        room; returns (vq, model notifies) per note in order."""
        dut = self.dut
        out = []
        for _ in range(count):
            c = self.draw()
            field, notify = self.model_notifies(c)
            for _ in range(self.rng.choice(gap)):
                await FallingEdge(dut.clk)
            # the writer looks at the room first (it checks it when it takes the chain)
            for _ in range(1000):
                await ReadOnly()
                if int(dut.note_room.value) & 1:
                    break
                await FallingEdge(dut.clk)
            else:
                raise AssertionError("no room for a note in 1000 cycles")
            await FallingEdge(dut.clk)
            dut.note_valid.value = 1
            dut.note_vq.value = c["vq"]
            dut.note_iova.value = field
            dut.note_group.value = c["group"]
            dut.note_event_idx.value = int(c["event_idx"])
            dut.note_old.value = c["old"]
            dut.note_used.value = c["used"]
            self.pending.append((c["vq"], field, c["group"], c["refused"]))
            out.append((c["vq"], notify))
            await FallingEdge(dut.clk)
            dut.note_valid.value = 0
        return out

    async def drain(self, count: int) -> None:
        for _ in range(4000):
            await FallingEdge(self.dut.clk)
            if self.decided >= count:
                break
        else:
            raise AssertionError(f"{count - self.decided} notes never decided")
        await ClockCycles(self.dut.clk, 3)
        await ReadOnly()
        assert not int(self.dut.busy.value) and not int(self.dut.held.value), \
            "busy or held with every note decided"


async def run(dut: Any, seed: int, count: int, latency: list[int], gap: list[int],
              refuse: float) -> None:
    tb = TB(dut, seed)
    tb.latency, tb.refuse = latency, refuse
    await tb.cycle_reset()
    cocotb.start_soon(tb.port_and_monitor())
    want = await tb.hand_over(count, gap)
    await tb.drain(count)
    expected = [vq for vq, notify in want if notify]
    assert tb.irqs == expected, f"notified {tb.irqs}, model says {expected}"
    assert any(n for _, n in want) and not all(n for _, n in want), \
        "the draw should give both outcomes"


@cocotb.test()
async def test_notes_against_model(dut):
    """Notes one at a time through a port that answers at once: each notification is the
    model's need_notify (used_event with EVENT_IDX, else NO_INTERRUPT), in order."""
    await run(dut, 1, 150, [0], [4], 0.0)


@cocotb.test()
async def test_notes_back_to_back_slow_port(dut):
    """Notes handed over back to back while the port takes 0 to 40 cycles a read: they queue
    (note_room says when not), none is lost or reordered, `held` covers every pending queue."""
    await run(dut, 2, 150, [0, 1, 3, 12, 40], [0, 0, 1], 0.0)


@cocotb.test()
async def test_refused_reads(dut):
    """Reads refused at random (the port's fault: translation refused, bus error): no
    notification for them, nothing else changes (__vringh_need_notify's error)."""
    await run(dut, 3, 150, [0, 2, 7], [0, 2], 0.4)
