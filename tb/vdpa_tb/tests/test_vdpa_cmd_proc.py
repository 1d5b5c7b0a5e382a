# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_cmd_proc alone: the command FIFO head and the completion stream are
driven by stream models, and the IOTLB and VQ execution units are Python models that answer each
command after the number of cycles its argument word 1 asks for and log when it ran. The pytest
entry (tests/rtl/test_vdpa_cmd_proc.py) sweeps the slot count and the firmware latencies.

Timing of one command that finds its unit free (cycles counted as the completion reports them):
dispatch at edge D, the firmware latency L of its class counts down on the next L edges, the
slot hands the command to its unit at edge D+L+1, the unit answers h cycles later and the slot
sees the answer at the next edge, so a completion reports L + h + 3 cycles; a device-unit
command completes in its slot and reports L + 2.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.axi.stream import define_stream

from vdpa_tb.nic_tb import param
from vdpa_tb.regmap import REGMAP as RM

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the execution units are modelled in Python against the block's own ports, so a unit "
    "answers on an exact clock edge and the cycle counts are checked to the cycle; the block is "
    "a few hundred flops and each test runs a few thousand cycles"
)

CmdBus, CmdTransaction, CmdSource, _, _ = define_stream(
    "Cmd", signals=["valid", "data", "ready"])
CplBus, _, _, CplSink, _ = define_stream("Cpl", signals=["valid", "data", "ready"])

CLK_NS = 10
NARGS = RM.reg_count["CMD_ARG0"]
US = "us"


def now() -> int:
    """Simulation time in clock cycles."""
    return int(get_sim_time("ns")) // CLK_NS


def latency(op: str) -> int:
    """The firmware latency the build gives ``op``'s class."""
    return param(RM.fw_class[RM.cmd[op].fw_class].param, 0)


@dataclasses.dataclass
class UnitRun:
    """One command an execution unit ran: its op, argument words and [start, end] cycles."""

    op: int
    args: int
    start: int
    end: int

    @property
    def tag(self) -> int:
        return (self.args >> 64) & 0xFF  # argument word 2 carries the tag in these tests


class UnitModel:
    """An execution unit seen from the command processor: one command per go pulse, answered
    after ``word 1 & 0xFFFF`` cycles (at least 1) with status ``word 0 >> 8`` and data = the first
    four argument words. It fails the test if a second command arrives while it is busy or if the
    op or arguments change before it answers."""

    def __init__(self, dut: Any, prefix: str) -> None:
        self.clk = dut.clk
        self.valid = getattr(dut, f"{prefix}_cmd_valid")
        self.op = getattr(dut, f"{prefix}_cmd_op")
        self.args = getattr(dut, f"{prefix}_cmd_args")
        self.done = getattr(dut, f"{prefix}_done_valid")
        self.status = getattr(dut, f"{prefix}_done_status")
        self.data = getattr(dut, f"{prefix}_done_data")
        self.name = prefix
        self.log: list[UnitRun] = []
        self.done.value = 0
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        while True:
            await RisingEdge(self.valid)
            start = now()
            op, args = int(self.op.value), int(self.args.value)
            hw = max(1, (args >> 32) & 0xFFFF)
            second = RisingEdge(self.valid)
            fired = await First(ClockCycles(self.clk, hw), second)
            assert fired is not second, f"{self.name} unit got a second command while busy"
            assert (int(self.op.value), int(self.args.value)) == (op, args), \
                f"{self.name} unit: op or arguments changed before the command completed"
            self.status.value = (args >> 8) & 0xFF
            self.data.value = args & ((1 << 128) - 1)
            self.done.value = 1
            await RisingEdge(self.clk)
            self.done.value = 0
            self.log.append(UnitRun(op, args, start, now()))


@dataclasses.dataclass
class Cmd:
    """A command as the tests write it: op name, the object (VQ or ASID) in word 0, the cycles
    its unit takes (word 1), the status the unit answers, any other words."""

    op: str
    obj: int = 0
    hw: int = 1
    status: int = 0
    words: dict[int, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Result:
    cmd: Cmd
    tag: int
    status: int
    cycles: int
    data: int
    completed: int

    @property
    def dispatched(self) -> int:
        # the completion reports the cycles from dispatch; the stream took it at `completed`
        return self.completed - self.cycles


class CmdProcTb:
    """Clock, reset, the two stream models and the two unit models."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.slots = param("SLOTS", 8)
        Clock(dut.clk, CLK_NS, unit="ns").start()
        self.source = CmdSource(CmdBus.from_prefix(dut, "cmd"), dut.clk, dut.rst)
        self.sink = CplSink(CplBus.from_prefix(dut, "cpl"), dut.clk, dut.rst)
        self.iotlb = UnitModel(dut, "iotlb")
        self.vq = UnitModel(dut, "vq")
        dut.needs_reset.value = 0
        self._tag = 0

    async def cycle_reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 4)

    def runs(self, r: Result) -> list[UnitRun]:
        """What the units ran for this command (RESET runs on both)."""
        return [x for x in self.iotlb.log + self.vq.log
                if x.tag == r.tag and r.dispatched <= x.start <= r.completed]

    async def run(self, cmds: list[Cmd]) -> list[Result]:
        """Submit every command at once (one a cycle), collect every completion."""
        tags = []
        for c in cmds:
            tag = self._tag
            self._tag = (self._tag + 1) & 0xFF
            words = [0] * NARGS
            words[0] = (c.status << 8) | c.obj
            words[1] = c.hw
            words[2] = tag
            for i, w in c.words.items():
                words[i] = w
            args = sum(w << (32 * i) for i, w in enumerate(words))
            await self.source.send(CmdTransaction(data=(args << 16) | (tag << 8) | RM.cmd[c.op].opcode))
            tags.append(tag)
        got: dict[int, Result] = {}
        by_tag = dict(zip(tags, cmds, strict=True))
        for _ in cmds:
            tr = await self.sink.recv()
            d = int(tr.data)
            tag = d & 0xFF
            assert tag in by_tag and tag not in got, f"completion with tag {tag} unexpected"
            assert (d >> 8) & 0xFF == RM.cmd[by_tag[tag].op].opcode, "completion opcode"
            got[tag] = Result(by_tag[tag], tag, (d >> 16) & 0xFF, (d >> 24) & 0xFFFFFFFF, d >> 56,
                              now())
        return [got[t] for t in tags]


def unit_of(op: str) -> str:
    return RM.cmd[op].unit


def check_answer(r: Result) -> None:
    """The completion carries what this command's unit answered, not another command's."""
    args = r.cmd.status << 8 | r.cmd.obj | r.cmd.hw << 32 | r.tag << 64
    assert r.status == r.cmd.status and r.data == args, \
        f"{r.cmd.op} tag {r.tag}: completion ({r.status}, {r.data:#x}) is not its own answer"


def max_concurrency(results: list[Result]) -> int:
    """The most commands held in slots at once, from [dispatch, completion) intervals."""
    edges = sorted([(r.dispatched, 1) for r in results] + [(r.completed, -1) for r in results],
                   key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in edges:
        cur += d
        best = max(best, cur)
    return best


# =========================================================================================
@cocotb.test(timeout_time=2000, timeout_unit=US)
async def test_fw_latency_per_class(dut):
    """Goal: each command class waits its own firmware latency, and the completion's cycles
    are dispatch to completion. Stimulus: every command alone, units answering in 5 cycles.
    Check: cycles = L(class) + 5 + 3 on a unit, L + 2 in the device unit, L + 5 + 4 for RESET
    (both units); the unit started exactly L + 1 cycles after dispatch."""
    tb = CmdProcTb(dut)
    await tb.cycle_reset()
    hw = 5
    for name, cmd in RM.cmd.items():
        (r,) = await tb.run([Cmd(name, obj=1, hw=hw)])
        lat = latency(name)
        runs = tb.runs(r)
        if cmd.unit == "dev":
            assert r.cycles == lat + 2 and not runs, (name, r.cycles, lat)
            continue
        if cmd.unit == "all":
            assert r.cycles == lat + hw + 4, (name, r.cycles, lat)
            assert len(runs) == 2 and runs[0].start == runs[1].start, runs
        else:
            assert r.cycles == lat + hw + 3, (name, r.cycles, lat)
            check_answer(r)
            assert [x.op for x in runs] == [cmd.opcode], (name, runs)
            assert (tb.iotlb if cmd.unit == "iotlb" else tb.vq).log[-1] is runs[0]
        assert runs[0].start - r.dispatched == lat + 1, (name, runs[0].start, r.dispatched)

    tb.dut._log.info("Test an unknown opcode")
    await tb.source.send(CmdTransaction(data=(0x7F << 8) | 0x7E))
    d = int((await tb.sink.recv()).data)
    assert (d >> 16) & 0xFF == RM.status["BAD_OPCODE"].code
    assert (d >> 24) & 0xFFFFFFFF == param("FW_LAT_OTHER", 0) + 2


@cocotb.test(timeout_time=4000, timeout_unit=US)
async def test_overlap_and_slots_full(dut):
    """Goal: independent commands overlap up to the slot count, never beyond.
    Stimulus: 2 * SLOTS + 1 QUERY_VQ on different VQs, then as many MAPs on different ASIDs.
    Check: at most SLOTS held at once and SLOTS reached; command SLOTS+1 is dispatched only
    once one completed; the run takes between ceil(N / SLOTS) latencies and that many waves of
    latency + the unit's serial work."""
    tb = CmdProcTb(dut)
    await tb.cycle_reset()
    s = tb.slots
    n = 2 * s + 1
    for op in ("QUERY_VQ", "MAP"):
        hw = 3
        res = await tb.run([Cmd(op, obj=i, hw=hw) for i in range(n)])
        for r in res:
            check_answer(r)
        conc = max_concurrency(res)
        assert conc == s, f"{op}: {conc} commands held at once with {s} slots"
        first_done = min(r.completed for r in res)
        dispatched = sorted(r.dispatched for r in res)
        assert dispatched[s] >= first_done, \
            f"{op}: command {s + 1} dispatched at {dispatched[s]} before any slot freed ({first_done})"
        lat = latency(op)
        waves = math.ceil(n / s)
        span = max(r.completed for r in res) - min(r.dispatched for r in res)
        assert span >= waves * lat, (op, span, waves, lat)
        assert span <= waves * (lat + hw + 6) + n * (hw + 2), (op, span, waves, lat)
        # the unit ran them one at a time, oldest first when several were waiting
        unit = tb.iotlb if unit_of(op) == "iotlb" else tb.vq
        runs = [x for r in res for x in tb.runs(r)]
        runs.sort(key=lambda x: x.start)
        assert len(runs) == n and all(x in unit.log for x in runs)
        assert all(a.end < b.start for a, b in itertools.pairwise(runs)), runs
        assert [x.tag for x in runs] == [r.tag for r in sorted(res, key=lambda r: r.dispatched)]


@cocotb.test(timeout_time=4000, timeout_unit=US)
async def test_same_object_in_order(dut):
    """Goal: commands on the same VQ or ASID run in order, independent ones around them overlap.
    Stimulus: a slow MODIFY of VQ 1 followed by a QUERY of VQ 2 and a QUERY of VQ 1; a slow MAP
    of ASID 0, a MAP of ASID 1, an UNMAP of ASID 0; two MAPs into a table under construction of
    ASID 2 then its TABLE_SWITCH; SUSPEND_ALL after a VQ query; SET_GROUP_ASID after MAPs.
    Check: each ordered command starts on its unit after its predecessor ended there (and is
    dispatched after it completed); the independent ones were dispatched before it completed
    when slots allow."""
    tb = CmdProcTb(dut)
    await tb.cycle_reset()
    s = tb.slots
    table = RM.arg_index("MAP", "TABLE")

    def run_of(r: Result) -> UnitRun:
        (x,) = tb.runs(r)
        return x

    tb.dut._log.info("Test VQ objects")
    m1, q2, q1 = await tb.run([Cmd("MODIFY_VQ", obj=1, hw=40), Cmd("QUERY_VQ", obj=2),
                               Cmd("QUERY_VQ", obj=1)])
    assert run_of(q1).start > run_of(m1).end and q1.dispatched >= m1.completed
    if s >= 2:
        assert q2.dispatched < m1.completed, "a query of another VQ waited for the MODIFY"

    tb.dut._log.info("Test address spaces and a table under construction")
    a0, a1, u0 = await tb.run([Cmd("MAP", obj=0, hw=40), Cmd("MAP", obj=1), Cmd("UNMAP", obj=0)])
    assert run_of(u0).start > run_of(a0).end and u0.dispatched >= a0.completed
    if s >= 2:
        assert a1.dispatched < a0.completed, "a MAP of another ASID waited"
    b1, b2, sw = await tb.run([Cmd("MAP", obj=2, hw=30, words={table: 5}),
                               Cmd("MAP", obj=2, hw=30, words={table: 5}),
                               Cmd("TABLE_SWITCH", obj=2)])
    assert run_of(sw).start > max(run_of(b1).end, run_of(b2).end)
    assert sw.dispatched >= max(b1.completed, b2.completed)
    if s >= 2:
        assert b2.dispatched < b1.completed, "two MAPs into a table under construction did not overlap"
    c1, c2 = await tb.run([Cmd("MAP", obj=3, hw=30), Cmd("MAP", obj=3, hw=5, words={table: 6})])
    assert c2.dispatched >= c1.completed, "a MAP into the table in force overlapped a build"

    tb.dut._log.info("Test unit-wide commands")
    q3, sus, q4 = await tb.run([Cmd("QUERY_VQ", obj=3, hw=30), Cmd("SUSPEND_ALL"),
                                Cmd("QUERY_VQ", obj=4)])
    assert sus.dispatched >= q3.completed and q4.dispatched >= sus.completed
    m5, m6, grp = await tb.run([Cmd("MAP", obj=5, hw=20), Cmd("MAP", obj=6, hw=20),
                                Cmd("SET_GROUP_ASID", obj=0)])
    assert grp.dispatched >= max(m5.completed, m6.completed)
    for r in (m1, q2, q1, a0, a1, u0, b1, b2, sw, c1, c2, q3, sus, q4, m5, m6, grp):
        check_answer(r)


@cocotb.test(timeout_time=4000, timeout_unit=US)
async def test_reset_barrier(dut):
    """Goal: RESET waits for everything before it and nothing after it starts early.
    Stimulus: SET_STATUS, a slow MODIFY, a slow MAP, RESET, then a QUERY_VQ, a NOP and a
    QUERY_DEV, all submitted at once. Check: RESET dispatched after the earlier commands
    completed and run on both units at once after both finished; the later commands dispatched
    after RESET completed; status reads 0 after it."""
    tb = CmdProcTb(dut)
    await tb.cycle_reset()
    res = await tb.run([Cmd("SET_STATUS", obj=0x0F), Cmd("MODIFY_VQ", obj=1, hw=50),
                        Cmd("MAP", obj=0, hw=40), Cmd("RESET", hw=7), Cmd("QUERY_VQ", obj=2),
                        Cmd("NOP"), Cmd("QUERY_DEV")])
    st, mod, mp, rst, q2, nop, qd = res
    before = (st, mod, mp)
    assert rst.dispatched >= max(r.completed for r in before)
    runs = tb.runs(rst)
    assert len(runs) == 2 and runs[0].start == runs[1].start, runs
    assert runs[0].start > max(x.end for r in (mod, mp) for x in tb.runs(r))
    for r in (q2, nop, qd):
        assert r.dispatched >= rst.completed, f"{r.cmd.op} was dispatched before RESET completed"
    assert qd.data & 0xFF == 0, f"status {qd.data & 0xFF:#x} after RESET"
    check_answer(mod)
    check_answer(mp)
    check_answer(q2)


@cocotb.test(timeout_time=2000, timeout_unit=US)
async def test_device_commands(dut):
    """Goal: the device unit's commands keep the status and features the data path reads.
    Stimulus: SET_FEATURES, SET_STATUS, QUERY_DEV with and without NEEDS_RESET from the
    engine; NOPs overlapping a slow VQ command. Check: QUERY_DEV answers what was set (with
    0x40 ORed in); NOPs are ordered with nothing."""
    tb = CmdProcTb(dut)
    await tb.cycle_reset()
    await tb.run([Cmd("SET_FEATURES", words={0: 0x2000_0000, 1: 0x3}),
                  Cmd("SET_STATUS", obj=0x0B)])
    assert int(dut.drv_features.value) == 0x3_2000_0000 and int(dut.dev_status.value) == 0x0B
    (q,) = await tb.run([Cmd("QUERY_DEV")])
    assert q.data & 0xFFFFFFFF == 0x0B and (q.data >> 32) == 0x3_2000_0000
    dut.needs_reset.value = 1
    (q,) = await tb.run([Cmd("QUERY_DEV")])
    assert q.data & 0xFF == 0x4B
    dut.needs_reset.value = 0
    slow, *nops = await tb.run([Cmd("MODIFY_VQ", obj=1, hw=60)] + [Cmd("NOP")] * 3)
    if tb.slots >= 2:
        assert all(n.completed < slow.completed for n in nops), "NOPs waited for a VQ command"
