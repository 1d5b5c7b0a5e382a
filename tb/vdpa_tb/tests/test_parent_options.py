# SPDX-License-Identifier: MIT
"""cocotb tests of the RTL parent driver's mlx5 options (tb/vdpa_tb/parent_policy.py) on
vdpa_nic_top: each switch changes what the device is told to do, and what the device does then
keeps every promise of the contract under traffic.

The fw records of the op trace (tb/vdpa_tb/fwtrace.py) are what these tests observe: which
firmware work ran, in which rounds (``group``), with how many write ports, and how long it took
in simulated time. The pytest entry (tests/rtl/test_parent_options.py) runs them on a build
whose command classes have firmware latencies large enough to tell a parallel round from a
serial one.
"""

from __future__ import annotations

import errno
import functools
import itertools
from collections import Counter
from typing import Any

import cocotb
from cocotb.utils import get_sim_time

from vdpa_model import flows, spec
from vdpa_model.errors import VdpaError
from vdpa_model.guest import GuestNetDriver, GuestVirtqueue
from vdpa_model.memory import Allocator
from vdpa_model.ops import IotlbRange
from vdpa_model.spec import VHOST_IOTLB_INVALIDATE
from vdpa_model.trace import Layer, Trace, TraceRecord, read_jsonl
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.nic_tb import Tb, param
from vdpa_tb.parent_policy import ParentOptions
from vdpa_tb.regmap import REGMAP as RM

US = "us"
RAM_BASE = 0x10_0000
RAM_SIZE = 0x20_0000
EXTRA = IotlbRange(0x4000_0000, 0x4_0000, 0x3000_0000, spec.VHOST_ACCESS_RO)
NVQ = param("NVQ", 8)


def now_ps() -> int:
    return int(get_sim_time("ps"))


class Env:
    """One device with its parent driver and a trace of its firmware work; ``bring_up`` adds a
    guest driver and starts the device."""

    def __init__(self, tb: Tb, v: VhostVdpa, trace: Trace) -> None:
        self.tb, self.v, self.trace = tb, v, trace
        assert tb.drv is not None
        self.drv = tb.drv
        self.alloc = Allocator(RAM_BASE, RAM_BASE + RAM_SIZE)
        self.net: GuestNetDriver
        self.cvq: GuestVirtqueue | None = None

    def since(self, mark: int) -> list[TraceRecord]:
        return [r for r in self.trace.records[mark:] if r.layer is Layer.FW]

    def names(self, mark: int) -> list[str]:
        return [r.name for r in self.since(mark)]

    def span_ps(self, mark: int) -> int:
        recs = self.since(mark)
        return max(r.t_end_ps or 0 for r in recs) - min(r.t_start_ps or 0 for r in recs)

    async def bring_up(self, queue_size: int = 64, with_cvq: bool = False) -> None:
        """A guest driver for every queue pair (and the CVQ), started as QEMU starts it."""
        self.net = GuestNetDriver(self.tb.mem, self.alloc, queue_pairs=NVQ // 2,
                                  queue_size=queue_size, features=self.drv.device_features)
        if with_cvq:
            self.cvq = GuestVirtqueue(self.tb.mem, self.alloc, NVQ, 16, event_idx=self.net.event_idx)
        await flows.start_device(self.v, [*self.net.vqs, *([self.cvq] if self.cvq else [])],
                                 features=self.net.features)


async def open_env(dut: Any, options: ParentOptions, tb: Tb | None = None) -> Env:
    """A fresh device life (on ``tb`` again if given), opened, with guest RAM mapped."""
    tb = tb or Tb(dut)
    tb.parent_options = options
    drv = await tb.start()
    trace = Trace(clock=now_ps)
    tb.port.trace = trace
    v = VhostVdpa(drv)
    await flows.open_device(v)
    await flows.map_guest_memory(v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    return Env(tb, v, trace)


async def make_env(dut: Any, options: ParentOptions, tb: Tb | None = None) -> Env:
    env = await open_env(dut, options, tb)
    await env.bring_up()
    return env


def hw_states(env: Env) -> list[int]:
    return list(env.drv.hw_state)


async def query_states(env: Env) -> list[int]:
    return [(await env.drv.query_vq(i))["state"] for i in range(env.drv.hw_vqs)]


async def traffic_around(env: Env, qps: list[int], count: int, during: Any) -> None:
    """Post ``count`` frames on each queue pair, kick, run ``during`` while they are in flight,
    then check every frame left exactly once, in order, with no fault and no stray DMA."""
    sent = {qp: [bytes([qp, k]) * 300 for k in range(count)] for qp in qps}
    for qp in qps:
        for f in sent[qp]:
            env.net.send(qp, f, kick=False)
        await flows.kick_if_needed(env.v, env.net.tx_vq(qp))
    await env.tb.cycles(300)
    await during()
    await env.drv.settle()
    got: dict[int, list[bytes]] = {qp: [] for qp in qps}
    for p in env.drv.take_tx():
        got[(p.vq - 1) // 2].append(p.data)
    for qp in qps:
        assert got[qp] == sent[qp], f"qp {qp}: {len(got[qp])} of {count} frames, or not in order"
        env.net.reap_tx(qp)
    assert not env.drv.take_faults()
    env.tb.assert_dma_clean()


async def mark_after(env: Env, call: Any) -> int:
    mark = len(env.trace.records)
    await call()
    return mark


def groups_of(recs: list[TraceRecord], name: str) -> list[int | None]:
    return [r.group for r in recs if r.name == name]


# =========================================================================================
@cocotb.test(timeout_time=200000, timeout_unit=US)
@cocotb.parametrize(options=[ParentOptions(), ParentOptions(parallel_fw_cmds=False),
                             ParentOptions(parallel_mkey=False, deferred_mr_free=False)])
async def test_set_map_switches_under_traffic(dut, options):
    """Goal: set_map builds the ASID's table beside the one in force and switches to it through
    the map-change path while traffic runs, never losing, repeating or misdirecting a frame.
    Stimulus: TX bursts on every queue pair in flight when a second range is mapped into
    ASID 0 (one set_map of the whole table), under three option sets.
    Check: every frame leaves once, in order, no fault, every DMA inside a mapping; the fw
    records are TABLE_NEW, a MAP per range (write ports and one group per parallel_mkey), a
    suspend MODIFY round and a QUERY round (one group each with parallel_fw_cmds), the switch,
    a resume round, and the old table freed now or only when the collector runs."""
    env = await make_env(dut, options)
    rdy = [i for i, s in enumerate(hw_states(env)) if s == RM.vq_state["RDY"]]
    assert len(rdy) == NVQ, rdy
    retired_before = len(env.drv.retired)
    mark = len(env.trace.records)
    await traffic_around(env, list(range(NVQ // 2)), 12, lambda: env.v.map(0, [EXTRA]))
    recs = env.since(mark)
    names = [r.name for r in recs if r.name != "cvq_iotlb_update"]
    n = len(rdy)
    free = [] if options.deferred_mr_free else ["mr_indirect_destroy"]
    assert names == (["mr_indirect_create"] + ["mkey_create"] * 2 + ["vq_modify"] * n
                     + ["vq_query"] * n + ["mr_table_switch"] + ["vq_modify"] * n + free), names
    maps = [r for r in recs if r.name == "mkey_create"]
    writers = param("MTT_WRITERS", 4) if options.parallel_mkey else 1
    assert [r.args["writers"] for r in maps] == [writers, writers]
    g = groups_of(recs, "mkey_create")
    assert (g[0] is not None and g[0] == g[1]) == options.parallel_mkey, g
    mods = groups_of(recs, "vq_modify")
    assert (len(set(mods[:n])) == 1 and mods[0] is not None) == options.parallel_fw_cmds, mods
    assert all(r.errno == 0 and r.cycles is not None for r in recs if r.name != "cvq_iotlb_update")
    retired = list(env.drv.retired)
    assert len(retired) == retired_before + options.deferred_mr_free, retired
    mark = await mark_after(env, env.drv.collect_garbage)
    assert env.names(mark) == ["mr_indirect_destroy"] * len(retired)
    if options.deferred_mr_free:
        # the last retired table is the one the switch replaced: guest RAM, one range
        last = env.since(mark)[-1]
        assert last.args["keys"] == 1 and last.args["entries"] == RAM_SIZE >> param("PAGE_SHIFT", 12)

    env.tb.log.info("Test traffic after the switch, through both ranges")
    await traffic_around(env, [0], 4, functools.partial(env.tb.cycles, 1))


@cocotb.test(timeout_time=200000, timeout_unit=US)
async def test_map_change_without_resumable_fw(dut):
    """Goal: without resumable firmware the parent offers no resume and a map change destroys
    every VQ, re-creating it only if the device runs.
    Stimulus: fw_resumable off; a set_map under traffic on a running device; then suspend and a
    set_map while suspended; then the QEMU restart (reset, start).
    Check: no resume op, no VHOST_BACKEND_F_RESUME; the running map change is suspend round,
    query round, a destroy per VQ, the switch, a create per VQ and the ready MODIFYs; frames
    leave once and continue from the right index; while suspended the VQs are destroyed and
    not re-created, get_vq_state still answers their index; the restart creates them again."""
    env = await make_env(dut, ParentOptions(fw_resumable=False))
    assert not env.drv.has_op("resume")
    assert not await env.v.get_backend_features() & spec.bit(spec.VHOST_BACKEND_F_RESUME)
    try:
        await env.drv.resume()
    except VdpaError as e:
        assert e.errno == errno.EOPNOTSUPP
    else:
        raise AssertionError("resume was accepted without resumable firmware")
    mark = len(env.trace.records)
    await traffic_around(env, [0, 1], 8, lambda: env.v.map(0, [EXTRA]))
    c = Counter(env.names(mark))
    assert c["vq_destroy"] == NVQ and c["vq_create"] == NVQ and c["mr_table_switch"] == 1, c
    assert c["vq_query"] == NVQ and c["vq_modify"] == 2 * NVQ, c
    await traffic_around(env, [0, 1], 4, functools.partial(env.tb.cycles, 1))

    env.tb.log.info("Test a map change while suspended: destroyed, not re-created")
    await env.v.suspend()
    used = [(await env.v.get_vring_base(i)) for i in range(NVQ)]
    mark = len(env.trace.records)
    await env.v.map(0, [IotlbRange(0x5000_0000, 0x1000, 0x3100_0000, spec.VHOST_ACCESS_RW)])
    c = Counter(env.names(mark))
    assert c["vq_destroy"] == NVQ and c["vq_create"] == 0, c
    assert all(s == RM.vq_state["NONE"] for s in hw_states(env))
    assert [(await env.drv.get_vq_state(i)).avail_index for i in range(NVQ)] == used
    assert used[1] == 12 and used[3] == 12, used

    env.tb.log.info("Test the restart creates them")
    await env.v.set_status(0)
    await flows.start_device(env.v, env.net.vqs, features=env.net.features,
                             bases={i: used[i] for i in range(NVQ)})
    assert all(s == RM.vq_state["RDY"] for s in await query_states(env))
    await traffic_around(env, [0], 3, functools.partial(env.tb.cycles, 1))


@cocotb.test(timeout_time=200000, timeout_unit=US)
async def test_precreated_vqs(dut):
    """Goal: with pre-created VQs, objects exist from device add, DRIVER_OK readies the first
    queue pair only and the MQ command the rest, a reset after running re-creates them, and
    C11's conditions undo the pre-creation.
    Stimulus: precreated_vqs on; bring-up with the objects' own ring size and MQ; TX on the
    second pair before and after MQ_VQ_PAIRS_SET; reset after DRIVER_OK, reset again; a
    bring-up with a smaller ring.
    Check: fw records and object states step by step: no vq_create at DRIVER_OK, two MODIFY
    rounds for the first pair; the second pair INIT (its frames wait) until the MQ command
    readies it; reset = a destroy and a blank create per VQ, the second reset keeps them
    (KEEP_VQS); a smaller ring makes DRIVER_OK destroy and create every VQ."""
    env = await open_env(dut, ParentOptions(precreated_vqs=True))
    tb, drv, v, trace = env.tb, env.drv, env.v, env.trace
    assert all(s == RM.vq_state["INIT"] for s in drv.hw_state), drv.hw_state
    mark = len(trace.records)
    # the objects' own ring size, and every feature offered: nothing undoes the pre-creation
    await env.bring_up(queue_size=param("MAX_QSIZE", 256), with_cvq=True)
    net, cvq = env.net, env.cvq
    assert cvq is not None
    c = Counter(env.names(mark))
    assert c["vq_create"] == 0 and c["vq_destroy"] == 0 and c["vq_modify"] == 4, c
    states = await query_states(env)
    assert states[:2] == [RM.vq_state["RDY"]] * 2, states
    assert states[2:] == [RM.vq_state["INIT"]] * (NVQ - 2), states

    tb.log.info("Test the second queue pair waits for the MQ command")
    frames = [bytes([9, k]) * 100 for k in range(3)]
    for f in frames:
        net.send(1, f, kick=False)
    await flows.kick_if_needed(v, net.tx_vq(1))
    await drv.settle()
    assert drv.take_tx() == []
    mark = len(trace.records)
    cvq.add_buffer([bytes([spec.VIRTIO_NET_CTRL_MQ, spec.VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET])
                    + (NVQ // 2).to_bytes(2, "little")], [1])
    await flows.kick_if_needed(v, cvq)
    await drv.settle()
    assert [x.data[0] for x in cvq.reap()] == [spec.VIRTIO_NET_OK]
    c = Counter(env.names(mark))
    assert c["vq_modify"] == 2 * (NVQ - 2) and c["cvq_command"] == 1 and c["vq_create"] == 0, c
    assert [p.data for p in drv.take_tx()] == frames, "the second pair did not start on MQ"
    assert all(s == RM.vq_state["RDY"] for s in await query_states(env))

    tb.log.info("Test a reset after DRIVER_OK re-creates the objects blank")
    mark = len(trace.records)
    await v.set_status(0)
    names = env.names(mark)
    assert names == ["vq_destroy"] * NVQ + ["dev_reset"] + ["vq_create"] * NVQ, names
    assert all(s == RM.vq_state["INIT"] for s in await query_states(env))
    mark = len(trace.records)
    await v.set_status(0)
    recs = env.since(mark)
    assert [r.name for r in recs] == ["dev_reset"], [r.name for r in recs]
    assert recs[0].args["flags"] & 2, "an untouched device's reset must keep the objects"
    assert all(s == RM.vq_state["INIT"] for s in await query_states(env))

    tb.log.info("Test a smaller ring undoes the pre-creation at DRIVER_OK (C11)")
    small = GuestNetDriver(tb.mem, env.alloc, queue_pairs=NVQ // 2, queue_size=64,
                           features=drv.device_features)
    mark = len(trace.records)
    await flows.start_device(v, small.vqs, features=small.features)
    c = Counter(env.names(mark))
    assert c["vq_destroy"] == NVQ and c["vq_create"] == NVQ, c
    sent = [b"\x07" * 200]
    small.send(0, sent[0], kick=False)
    await flows.kick_if_needed(v, small.tx_vq(0))
    await drv.settle()
    assert [p.data for p in drv.take_tx()] == sent
    tb.assert_dma_clean()


@cocotb.test(timeout_time=200000, timeout_unit=US)
async def test_parallel_rounds_are_faster(dut):
    """Goal: parallel_fw_cmds and parallel_mkey make the device overlap the firmware latency
    of a round; without them the work is the same, one command at a time.
    Stimulus: the same suspend, resume and 4-range set_map on two device lives, with and
    without both options (firmware latencies of this build: hundreds of cycles a class).
    Check: the same fw records either way; rounds grouped only with the options; the parallel
    suspend, resume and table build take well under the serial time."""
    spans: dict[bool, dict[str, int]] = {}
    ranges = [IotlbRange(0x6000_0000 + k * 0x10_0000, 0x4_0000, 0x3000_0000 + k * 0x4_0000,
                         spec.VHOST_ACCESS_RO) for k in range(4)]
    recorded: dict[bool, list[str]] = {}
    tb = Tb(dut)
    for parallel in (True, False):
        env = await make_env(dut, ParentOptions(parallel_fw_cmds=parallel, parallel_mkey=parallel),
                             tb)
        spans[parallel] = {}
        mark = await mark_after(env, env.v.suspend)
        spans[parallel]["suspend"] = env.span_ps(mark)
        names = env.names(mark)
        mark = await mark_after(env, env.v.resume)
        spans[parallel]["resume"] = env.span_ps(mark)
        names += env.names(mark)
        mark = await mark_after(env, lambda env=env: env.v.map(1, ranges))
        spans[parallel]["build"] = env.span_ps(mark)
        recs = env.since(mark)
        names += [r.name for r in recs]
        recorded[parallel] = names
        grouped = {r.group for r in recs if r.name == "mkey_create"}
        assert (len(grouped) == 1 and None not in grouped) == parallel, grouped
    env.tb.log.info("sim time (ps), parallel vs serial: %s", spans)
    assert recorded[True] == recorded[False], "the options changed what work is done"
    for what, t in spans[True].items():
        assert t < 0.6 * spans[False][what], f"{what}: parallel {t} ps vs serial {spans[False][what]}"


@cocotb.test(timeout_time=200000, timeout_unit=US)
async def test_deferred_free_and_collection(dut):
    """Goal: with deferred_mr_free replaced tables wait for the collector, which also runs when
    the device runs out of tables; without it each is freed inside set_map.
    Stimulus: five unbatched map / unmap pairs in ASID 0 on a running device (each message a
    whole-table rebuild through the map-change path, as QEMU's ring maps and unmaps on a
    set_map parent), with and without the option.
    Check: with it, no mr_indirect_destroy until the tables run out, then every retired one freed before
    that build goes on (its refused TABLE_NEW in the trace), no op fails; without it one
    mr_indirect_destroy per set_map, after its switch; traffic still runs through the last table."""
    tb = Tb(dut)
    tables, nas = param("IOTLB_TABLES", 8), param("NAS", 2)
    for deferred in (True, False):
        env = await make_env(dut, ParentOptions(deferred_mr_free=deferred), tb)
        # opening the device replaced ASID 0's identity table: one retired already if deferred
        assert len(env.drv.retired) == int(deferred)
        mark = len(env.trace.records)
        for k in range(5):
            # a ring mapped and unmapped, one message each: two rebuilds of the whole table
            iova = 0x7000_0000 + k * 0x10_0000
            await env.v.map(0, [IotlbRange(iova, 0x1000, 0x2000_0000, spec.VHOST_ACCESS_RO)],
                            batch=False)
            await env.v.process_iotlb_msg(0, VHOST_IOTLB_INVALIDATE, iova, 0x1000)
        names = env.names(mark)
        switches = [i for i, n in enumerate(names) if n == "mr_table_switch"]
        frees = [i for i, n in enumerate(names) if n == "mr_indirect_destroy"]
        assert len(switches) == 10, names
        if deferred:
            # a build needs a free table: with every ASID's table in force and the retired ones
            # holding the rest, build number tables - nas makes the collector run first
            first = tables - nas - 1
            assert switches[first - 1] < frees[0] < switches[first], (frees, switches)
            assert names[frees[0]:frees[0] + tables - nas] == ["mr_indirect_destroy"] * (tables - nas)
            assert len(env.drv.retired) < tables - nas
        else:
            assert len(frees) == 10 and env.drv.retired == []
            bounds = [-1, *switches[1:], len(names)]
            for a, b in itertools.pairwise(bounds):
                assert sum(a < f < b for f in frees) == 1, (frees, switches)
        failed = [(i, r.name, r.errno) for i, r in enumerate(env.since(mark)) if r.errno]
        if deferred:
            # the TABLE_NEW that found no table is in the trace, right before the collection
            assert failed == [(frees[0] - 1, "mr_indirect_create", errno.ENOSPC)], failed
        else:
            assert not failed, failed
        env.tb.log.info("Test traffic still runs through the last table")
        await traffic_around(env, [0], 2, functools.partial(env.tb.cycles, 1))


@cocotb.test(timeout_time=100000, timeout_unit=US)
async def test_fw_trace_records(dut):
    """Goal: the trace has one fw record per command, named by the register map's trace kind,
    with the device's cycles, its time span and errno, and a group per submission round.
    Stimulus: a bring-up and a set_map with a trace attached; a command the device refuses;
    the trace written as JSON lines and read back.
    Check: records match the port's completions one to one (kind, cycles, errno);
    start <= end; commands of one execute_many share a group; the file reads back equal."""
    env = await make_env(dut, ParentOptions())
    port = env.tb.port
    mark_hist = len(port.history)
    mark = len(env.trace.records)
    await env.v.map(0, [EXTRA])
    bad = await port.execute_many([("MODIFY_VQ", {"VQ": NVQ - 1, "MASK": 1, "STATE": 9}),
                                   ("QUERY_VQ", {"VQ": 0})])
    assert not bad[0].ok and bad[1].ok
    recs = [r for r in env.since(mark) if r.name != "cvq_iotlb_update"]
    done = port.history[mark_hist:]
    assert len(recs) == len(done)
    for r, c in zip(recs, done, strict=True):
        assert r.name == RM.cmd[c.op].fw_kind, (r.name, c.op)
        assert r.cycles == c.cycles and r.errno == RM.errno_of(c.status)
        assert r.t_start_ps is not None and r.t_end_ps is not None and r.t_start_ps <= r.t_end_ps
    last = recs[-2:]
    assert last[0].group is not None and last[0].group == last[1].group
    assert last[0].errno == errno.EINVAL
    path = env.tb.dut._name + "_fw_trace.jsonl"
    env.trace.write_jsonl(path)
    assert read_jsonl(path) == env.trace.records
