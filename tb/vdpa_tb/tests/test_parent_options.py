# SPDX-License-Identifier: MIT
"""cocotb tests of the RTL parent driver's mlx5 options on vdpa_nic_top: the parent takes its
decisions from the model's firmware-work model (vdpa_model.fwmodel) with the reference device's
own options, carries them out with mailbox commands, and what the device does then keeps every
promise of the contract under traffic.

Every test runs the RTL in lockstep with a reference device of the same options, each with a
trace: the firmware work the RTL records must be the work the reference device's mlx5 parent
plans for the same ops, unit by unit, in the same rounds (:func:`work`), and both devices must
answer every op alike. The fw records are also what these tests observe of the RTL: which work
ran, in which rounds (``group``), with how many write ports, and how long it took in simulated
time. The pytest entry (tests/rtl/test_parent_options.py) runs them on a build whose command
classes have firmware latencies large enough to tell a parallel round from a serial one.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import cocotb
from cocotb.utils import get_sim_time

from vdpa_model import flows, spec
from vdpa_model.device import ReferenceDevice
from vdpa_model.errors import VdpaError
from vdpa_model.guest import GuestNetDriver, GuestVirtqueue
from vdpa_model.lockstep import Lockstep, MirroredMemory
from vdpa_model.memory import Allocator, GuestMemory
from vdpa_model.ops import IotlbRange
from vdpa_model.options import DeviceOptions
from vdpa_model.spec import VHOST_IOTLB_INVALIDATE
from vdpa_model.trace import Layer, Trace, TraceRecord, read_jsonl
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.nic_tb import GUEST_SIZE, Tb, param
from vdpa_tb.regmap import REGMAP as RM

US = "us"
RAM_BASE = 0x10_0000
RAM_SIZE = 0x20_0000
EXTRA = IotlbRange(0x4000_0000, 0x4_0000, 0x3000_0000, spec.VHOST_ACCESS_RO)
NVQ = param("NVQ", 8)
#: the ~v6.12 parent: every parallel option on (the options' own defaults are the oldest parent)
V612 = DeviceOptions(parallel_fw_cmds=True, parallel_mkey=True, deferred_mr_free=True)


def now_ps() -> int:
    return int(get_sim_time("ps"))


Work = tuple[str, tuple[tuple[str, int], ...], int | None]


def work(recs: list[TraceRecord]) -> list[Work]:
    """Firmware work as both parents plan it: (kind, cost drivers, round by first appearance),
    one entry per unit. A region build is compared as a whole: the RTL writes a MAP per direct
    key mlx5 would create and opens the table first (its MAPs carry the write ports), so the
    units of each run of build records are sorted."""
    out: list[Work] = []
    rounds: dict[int, int] = {}
    run: list[Work] = []
    for r in recs:
        if r.layer is not Layer.FW:
            continue
        args = tuple(sorted((k, v) for k, v in r.args.items() if k not in ("count", "writers")))
        unit = (r.name, args, None if r.group is None else rounds.setdefault(r.group, len(rounds)))
        n = r.args.get("count", 1)
        if r.name in ("mkey_create", "mr_indirect_create"):
            run += [unit] * n
            continue
        out += sorted(run, key=repr)
        run = []
        out += [unit] * n
    return out + sorted(run, key=repr)


class Env:
    """One device in lockstep with a reference device of the same options, both traced; a
    guest driver once ``bring_up`` ran."""

    def __init__(self, tb: Tb, lock: Lockstep, ref: ReferenceDevice, v: VhostVdpa,
                 trace: Trace, ref_trace: Trace, mem: GuestMemory) -> None:
        self.tb, self.lock, self.ref, self.v = tb, lock, ref, v
        self.trace, self.ref_trace, self.mem = trace, ref_trace, mem
        assert tb.drv is not None
        self.drv = tb.drv
        self.alloc = Allocator(RAM_BASE, RAM_BASE + RAM_SIZE)
        self.net: GuestNetDriver
        self.cvq: GuestVirtqueue | None = None

    def mark(self) -> tuple[int, int]:
        return len(self.trace.records), len(self.ref_trace.records)

    def since(self, mark: tuple[int, int]) -> list[TraceRecord]:
        return [r for r in self.trace.records[mark[0]:] if r.layer is Layer.FW]

    def names(self, mark: tuple[int, int]) -> list[str]:
        return [r.name for r in self.since(mark)]

    def same_work(self, mark: tuple[int, int]) -> None:
        """The RTL carried out exactly what the reference device's parent planned."""
        rtl, ref = work(self.since(mark)), work(self.ref_trace.records[mark[1]:])
        assert rtl == ref, "the RTL's work differs from the model's plan:\n" + "\n".join(
            f"  {a}  |  {b}" for a, b in itertools.zip_longest(rtl, ref))

    def span_ps(self, mark: tuple[int, int]) -> int:
        recs = self.since(mark)
        return max(r.t_end_ps or 0 for r in recs) - min(r.t_start_ps or 0 for r in recs)

    async def collect_garbage(self) -> None:
        await self.drv.collect_garbage()
        self.ref.collect_garbage()

    async def bring_up(self, queue_size: int = 64, with_cvq: bool = False) -> None:
        """A guest driver for every queue pair (and the CVQ), started as QEMU starts it."""
        self.net = GuestNetDriver(self.mem, self.alloc, queue_pairs=NVQ // 2,
                                  queue_size=queue_size, features=self.drv.device_features)
        if with_cvq:
            self.cvq = GuestVirtqueue(self.mem, self.alloc, NVQ, 16, event_idx=self.net.event_idx)
        await flows.start_device(self.v, [*self.net.vqs, *([self.cvq] if self.cvq else [])],
                                 features=self.net.features)


async def open_env(dut: Any, options: DeviceOptions, tb: Tb | None = None) -> Env:
    """A fresh device life (on ``tb`` again if given) beside a reference device of the same
    options, opened, with guest RAM mapped."""
    tb = tb or Tb(dut)
    tb.parent_options = options
    trace = Trace(clock=now_ps)
    drv = await tb.start(trace=trace)
    ref_mem = GuestMemory(GUEST_SIZE)
    ref_trace = Trace()
    ref = ReferenceDevice(ref_mem, dataclasses.replace(
        options, queue_pairs=NVQ // 2, max_queue_size=param("MAX_QSIZE", 256),
        device_features=drv.device_features), trace=ref_trace)
    ref_trace.records.clear()  # device add: compared in test_device_add_is_the_models
    trace.records.clear()
    lock = Lockstep(drv, ref, tb.mem, ref_mem)
    v = VhostVdpa(lock)
    env = Env(tb, lock, ref, v, trace, ref_trace, MirroredMemory(tb.mem, ref_mem))
    await flows.open_device(v)
    await flows.map_guest_memory(v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    return env


async def make_env(dut: Any, options: DeviceOptions, tb: Tb | None = None) -> Env:
    env = await open_env(dut, options, tb)
    await env.bring_up()
    return env


async def query_states(env: Env) -> list[int]:
    return [(await env.drv.query_vq(i))["state"] for i in range(env.drv.hw_vqs)]


async def traffic_around(env: Env, qps: list[int], count: int,
                         during: Callable[[], Awaitable[Any]]) -> None:
    """Post ``count`` frames on each queue pair, kick, run ``during`` while they are in flight,
    then check every frame left exactly once, in order, on both devices, with no fault and no
    stray DMA."""
    sent = {qp: [bytes([qp, k]) * 300 for k in range(count)] for qp in qps}
    for qp in qps:
        for f in sent[qp]:
            env.net.send(qp, f, kick=False)
        await flows.kick_if_needed(env.v, env.net.tx_vq(qp))
    await env.tb.cycles(300)
    await during()
    await env.lock.settle()
    got: dict[int, list[bytes]] = {qp: [] for qp in qps}
    for p in env.lock.take_tx():
        got[(p.vq - 1) // 2].append(p.data)
    for qp in qps:
        assert got[qp] == sent[qp], f"qp {qp}: {len(got[qp])} of {count} frames, or not in order"
        env.net.reap_tx(qp)
    assert not env.lock.take_faults()
    env.tb.assert_dma_clean()


async def mark_after(env: Env, call: Callable[[], Awaitable[Any]]) -> tuple[int, int]:
    mark = env.mark()
    await call()
    return mark


def groups_of(recs: list[TraceRecord], name: str) -> list[int | None]:
    return [r.group for r in recs if r.name == name]


# =========================================================================================
@cocotb.test(timeout_time=100000, timeout_unit=US)
@cocotb.parametrize(options=[DeviceOptions(), DeviceOptions(precreated_vqs=True), V612])
async def test_device_add_is_the_models(dut, options):
    """Goal: adding the device does what mlx5_vdpa_dev_add does, as the model plans it.
    Stimulus: probe with and without pre-creation.
    Check: the same fw work as the reference device's parent (the 1:1 key; with pre-creation
    a blank object per VQ, one at a time, then RQT/TIR/steering); the objects exist only then."""
    tb = Tb(dut)
    tb.parent_options = options
    trace = Trace(clock=now_ps)
    drv = await tb.start(trace=trace)
    ref_trace = Trace()
    ReferenceDevice(GuestMemory(GUEST_SIZE), dataclasses.replace(
        options, queue_pairs=NVQ // 2, device_features=drv.device_features), trace=ref_trace)
    assert work(trace.records) == work(ref_trace.records)
    want = RM.vq_state["INIT"] if options.precreated_vqs else RM.vq_state["NONE"]
    assert all(s == want for s in await query_states_of(drv)), await query_states_of(drv)
    creates = [r for r in trace.records if r.name == "vq_create"]
    assert len(creates) == (NVQ if options.precreated_vqs else 0)
    assert all(r.group is None and r.cycles for r in creates)  # serial, each a command


async def query_states_of(drv: Any) -> list[int]:
    return [(await drv.query_vq(i))["state"] for i in range(drv.hw_vqs)]


@cocotb.test(timeout_time=200000, timeout_unit=US)
@cocotb.parametrize(options=[V612, dataclasses.replace(V612, parallel_fw_cmds=False),
                             dataclasses.replace(V612, parallel_mkey=False,
                                                 deferred_mr_free=False)])
async def test_set_map_switches_under_traffic(dut, options):
    """Goal: set_map builds the ASID's table beside the one in force and switches to it through
    the map-change path while traffic runs, never losing, repeating or misdirecting a frame.
    Stimulus: TX bursts on every queue pair in flight when a second range is mapped into
    ASID 0 (one set_map of the whole table), under three option sets; then the collector.
    Check: the model's plan, carried out unit by unit: the table opened, a MAP per range (every
    write port and one round with parallel_mkey), a suspend MODIFY round and a QUERY round
    (one round each with parallel_fw_cmds), the switch, a resume round, and the old table freed
    now or only when the collector runs; every frame leaves once, in order, no fault, every DMA
    inside a mapping."""
    env = await make_env(dut, options)
    assert all(s == RM.vq_state["RDY"] for s in env.drv.hw_state), env.drv.hw_state
    retired_before = len(env.drv.retired)
    mark = env.mark()
    await traffic_around(env, list(range(NVQ // 2)), 12, lambda: env.v.map(0, [EXTRA]))
    env.same_work(mark)
    recs = env.since(mark)
    # what the device was told to do (the rest is the plan's software: table copies)
    names = [r.name for r in recs if r.cycles is not None]
    free = [] if options.deferred_mr_free else ["mr_indirect_destroy"]
    # suspend_vqs: a MODIFY round then a QUERY round, or per VQ a MODIFY and its QUERY
    suspend = (["vq_modify"] * NVQ + ["vq_query"] * NVQ if options.parallel_fw_cmds
               else ["vq_modify", "vq_query"] * NVQ)
    assert names == (["mr_indirect_create"] + ["mkey_create"] * 2 + suspend
                     + ["mr_table_switch"] + ["vq_modify"] * NVQ + free), names
    maps = [r for r in recs if r.name == "mkey_create"]
    writers = param("MTT_WRITERS", 4) if options.parallel_mkey else 1
    assert [r.args["writers"] for r in maps] == [writers, writers]
    g = groups_of(recs, "mkey_create")
    assert (g[0] is not None and g[0] == g[1]) == options.parallel_mkey, g
    mods = groups_of(recs, "vq_modify")
    assert (len(set(mods[:NVQ])) == 1 and mods[0] is not None) == options.parallel_fw_cmds, mods
    # every unit the device carries out is a command with its cycles; the rest is software
    commanded = {"mr_indirect_create", "mkey_create", "vq_modify", "vq_query", "mr_table_switch",
                 "mr_indirect_destroy"}
    assert all(r.errno == 0 and (r.cycles is not None) == (r.name in commanded) for r in recs)
    retired = list(env.drv.retired)
    assert len(retired) == retired_before + options.deferred_mr_free, retired
    mark = await mark_after(env, env.collect_garbage)
    env.same_work(mark)
    frees = [r for r in env.since(mark) if r.cycles is not None]
    assert len(frees) == len(retired) and {r.name for r in frees} <= {"mr_indirect_destroy",
                                                                       "mr_dma_destroy"}
    if options.deferred_mr_free:
        # the last region collected is the one the switch replaced: guest RAM, one direct key
        (ram,) = [r for r in env.since(mark) if r.name == "mkey_destroy"][-1:]
        assert ram.args["entries"] == RAM_SIZE >> param("PAGE_SHIFT", 12)

    env.tb.log.info("Test traffic after the switch, through both ranges")
    await traffic_around(env, [0], 4, functools.partial(env.tb.cycles, 1))


@cocotb.test(timeout_time=200000, timeout_unit=US)
async def test_map_change_without_resumable_fw(dut):
    """Goal: without resumable firmware the parent offers no resume and a map change destroys
    every VQ, re-creating it only if the device runs.
    Stimulus: fw_resumable off; a set_map under traffic on a running device; then suspend and a
    set_map while suspended; then the QEMU restart (reset, start).
    Check: no resume op, no VHOST_BACKEND_F_RESUME; the running map change is the model's
    (suspend round, a saving query per VQ, a destroy per VQ, the switch, a create and a ready
    MODIFY per VQ); frames leave once and continue from the right index; while suspended the
    VQs are destroyed and not re-created, get_vq_state still answers their index; the restart
    creates them again."""
    env = await make_env(dut, dataclasses.replace(V612, fw_resumable=False))
    assert not env.drv.has_op("resume")
    assert not await env.v.get_backend_features() & spec.bit(spec.VHOST_BACKEND_F_RESUME)
    try:
        await env.drv.resume()
    except VdpaError as e:
        assert e.errno == errno.EOPNOTSUPP
    else:
        raise AssertionError("resume was accepted without resumable firmware")
    mark = env.mark()
    await traffic_around(env, [0, 1], 8, lambda: env.v.map(0, [EXTRA]))
    env.same_work(mark)
    c = Counter(env.names(mark))
    assert c["vq_destroy"] == NVQ and c["vq_create"] == NVQ and c["mr_table_switch"] == 1, c
    await traffic_around(env, [0, 1], 4, functools.partial(env.tb.cycles, 1))

    env.tb.log.info("Test a map change while suspended: destroyed, not re-created")
    await env.v.suspend()
    used = [(await env.v.get_vring_base(i)) for i in range(NVQ)]
    mark = env.mark()
    await env.v.map(0, [IotlbRange(0x5000_0000, 0x1000, 0x3100_0000, spec.VHOST_ACCESS_RW)])
    env.same_work(mark)
    c = Counter(env.names(mark))
    assert c["vq_destroy"] == NVQ and c["vq_create"] == 0, c
    assert all(s == RM.vq_state["NONE"] for s in await query_states(env))
    assert [(await env.v.get_vring_base(i)) for i in range(NVQ)] == used
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
    Stimulus: precreated_vqs and driver_ok_first_qp_only on; bring-up with the objects' own
    ring size and MQ; TX on the second pair before and after MQ_VQ_PAIRS_SET; reset after
    DRIVER_OK, reset again; a bring-up with a smaller ring.
    Check: the model's plan at every step (no vq_create at DRIVER_OK, two MODIFY rounds for the
    first pair; the MQ command's two rounds for the rest and the RQT; reset = a destroy and a
    blank create per VQ; nothing at the second reset; C11: every VQ destroyed and created);
    object states and frames as the plan says (the second pair's frames wait for the MQ
    command), the second reset keeps the blank objects (KEEP_VQS)."""
    env = await open_env(dut, dataclasses.replace(V612, precreated_vqs=True,
                                                  driver_ok_first_qp_only=True))
    tb, drv, v = env.tb, env.drv, env.v
    assert all(s == RM.vq_state["INIT"] for s in drv.hw_state), drv.hw_state
    mark = env.mark()
    # the objects' own ring size, and every feature offered: nothing undoes the pre-creation
    await env.bring_up(queue_size=min(256, param("MAX_QSIZE", 256)), with_cvq=True)
    env.same_work(mark)
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
    await env.lock.settle()
    assert env.lock.take_tx() == []
    mark = env.mark()
    cvq.add_buffer([bytes([spec.VIRTIO_NET_CTRL_MQ, spec.VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET])
                    + (NVQ // 2).to_bytes(2, "little")], [1])
    await flows.kick_if_needed(v, cvq)
    await env.lock.settle()
    env.same_work(mark)
    assert [x.data[0] for x in cvq.reap()] == [spec.VIRTIO_NET_OK]
    c = Counter(env.names(mark))
    assert c["vq_modify"] == 2 * (NVQ - 2) and c["cvq_command"] == 1 and c["vq_create"] == 0, c
    assert c["rqt_update"] == 1, c
    assert [p.data for p in env.lock.take_tx()] == frames, "the second pair did not start on MQ"
    assert all(s == RM.vq_state["RDY"] for s in await query_states(env))

    tb.log.info("Test a reset after DRIVER_OK re-creates the objects blank")
    mark = env.mark()
    await v.set_status(0)
    env.same_work(mark)
    c = Counter(env.names(mark))
    assert c["vq_destroy"] == NVQ and c["vq_create"] == NVQ, c
    assert all(s == RM.vq_state["INIT"] for s in await query_states(env))
    mark = env.mark()
    await v.set_status(0)
    env.same_work(mark)
    assert not {"vq_destroy", "vq_create"} & set(env.names(mark)), env.names(mark)
    assert all(s == RM.vq_state["INIT"] for s in await query_states(env))

    tb.log.info("Test a smaller ring undoes the pre-creation at DRIVER_OK (C11)")
    small = GuestNetDriver(env.mem, env.alloc, queue_pairs=NVQ // 2, queue_size=64,
                           features=drv.device_features)
    mark = env.mark()
    await flows.start_device(v, small.vqs, features=small.features)
    env.same_work(mark)
    c = Counter(env.names(mark))
    assert c["vq_destroy"] == NVQ and c["vq_create"] == NVQ, c
    sent = [b"\x07" * 200]
    small.send(0, sent[0], kick=False)
    await flows.kick_if_needed(v, small.tx_vq(0))
    await env.lock.settle()
    assert [p.data for p in env.lock.take_tx()] == sent
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
        env = await make_env(dut, dataclasses.replace(V612, parallel_fw_cmds=parallel,
                                                      parallel_mkey=parallel), tb)
        spans[parallel] = {}
        mark = await mark_after(env, env.v.suspend)
        spans[parallel]["suspend"] = env.span_ps(mark)
        names = env.names(mark)
        mark = await mark_after(env, env.v.resume)
        spans[parallel]["resume"] = env.span_ps(mark)
        names += env.names(mark)
        mark = await mark_after(env, functools.partial(env.v.map, 1, ranges))
        env.same_work(mark)
        spans[parallel]["build"] = env.span_ps(mark)
        recs = env.since(mark)
        names += [r.name for r in recs]
        recorded[parallel] = names
        grouped = {r.group for r in recs if r.name == "mkey_create"}
        assert (len(grouped) == 1 and None not in grouped) == parallel, grouped
    tb.log.info("sim time (ps), parallel vs serial: %s", spans)
    # the same work, in another order (the serial suspend queries each VQ after its MODIFY);
    # only the keep-notifier default (with parallel_fw_cmds) differs
    def same(names: list[str]) -> Counter[str]:
        return Counter(n for n in names if n not in ("link_notifier", "dev_command"))
    assert same(recorded[True]) == same(recorded[False]), "the options changed what work is done"
    for what, t in spans[True].items():
        assert t < 0.6 * spans[False][what], f"{what}: parallel {t} ps vs serial {spans[False][what]}"


@cocotb.test(timeout_time=200000, timeout_unit=US)
async def test_deferred_free_and_collection(dut):
    """Goal: with deferred_mr_free replaced tables wait for the collector, which also runs when
    the device runs out of tables; without it each is freed inside set_map.
    Stimulus: five unbatched map / unmap pairs in ASID 0 on a running device (each message a
    whole-table rebuild through the map-change path, as QEMU's ring maps and unmaps on a
    set_map parent), with and without the option.
    Check: without it the model's plan exactly, one table freed per set_map after its switch;
    with it no table freed until the tables run out, then every retired one freed before that
    build goes on (its refused TABLE_NEW in the trace, the device's limit, which mlx5 does not
    have), no op fails; traffic still runs through the last table."""
    tb = Tb(dut)
    tables, nas = param("IOTLB_TABLES", 32), param("NAS", 2)
    for deferred in (True, False):
        env = await make_env(dut, dataclasses.replace(V612, deferred_mr_free=deferred), tb)
        # opening the device replaced ASID 0's identity table: one retired already if deferred
        assert len(env.drv.retired) == int(deferred)
        mark = env.mark()
        for k in range(5):
            # a ring mapped and unmapped, one message each: two rebuilds of the whole table
            iova = 0x7000_0000 + k * 0x10_0000
            await env.v.map(0, [IotlbRange(iova, 0x1000, 0x2000_0000, spec.VHOST_ACCESS_RO)],
                            batch=False)
            await env.v.process_iotlb_msg(0, VHOST_IOTLB_INVALIDATE, iova, 0x1000)
        recs = env.since(mark)
        names = [r.name for r in recs]
        switches = [i for i, n in enumerate(names) if n == "mr_table_switch"]
        frees = [i for i, r in enumerate(recs) if r.cycles is not None
                 and r.name in ("mr_indirect_destroy", "mr_dma_destroy")]
        assert len(switches) == 10, names
        failed = [(i, r.name, r.errno) for i, r in enumerate(recs) if r.errno]
        if deferred:
            # a build needs a free table: with every ASID's table in force and the retired ones
            # holding the rest, build number tables - nas makes the collector run first
            first = tables - nas - 1
            assert switches[first - 1] < frees[0] < switches[first], (frees, switches)
            assert len(frees) >= tables - nas and len(env.drv.retired) < tables - nas
            # the TABLE_NEW that found no table is in the trace, right before the collection
            assert failed == [(frees[0] - 1, "mr_indirect_create", errno.ENOSPC)], failed
        else:
            env.same_work(mark)
            assert len(frees) == 10 and env.drv.retired == []
            bounds = [-1, *switches[1:], len(names)]
            for a, b in itertools.pairwise(bounds):
                assert sum(a < f < b for f in frees) == 1, (frees, switches)
            assert not failed, failed
        env.tb.log.info("Test traffic still runs through the last table")
        await traffic_around(env, [0], 2, functools.partial(env.tb.cycles, 1))


@cocotb.test(timeout_time=100000, timeout_unit=US)
async def test_fw_trace_records(dut):
    """Goal: the trace has one fw record per unit of work, each command's cycles and time in its
    unit's record, a group per round; the op's own commands are its op's time.
    Stimulus: a set_map with a trace attached; a SET_STATUS outside any plan; the trace written
    as JSON lines and read back.
    Check: the records' cycles add up to the cycles of the commands that served them, each
    record spans its commands (start <= end), a command the op needs for itself (SET_STATUS)
    makes no record; the file reads back equal."""
    env = await make_env(dut, V612)
    port = env.tb.port
    mark_hist = len(port.history)
    mark = env.mark()
    await env.v.map(0, [EXTRA])
    recs = env.since(mark)
    done = port.history[mark_hist:]
    assert sum(r.cycles or 0 for r in recs) == sum(c.cycles for c in done)
    assert len([r for r in recs if r.cycles is not None]) == len(done)
    for r in recs:
        assert r.t_start_ps is not None and r.t_end_ps is not None and r.t_start_ps <= r.t_end_ps
        assert (r.t_end_ps > r.t_start_ps) == (r.cycles is not None), r
    mark = env.mark()
    await env.drv.set_status(env.drv.status)
    assert port.history[-1].op == "SET_STATUS" and env.since(mark) == []
    path = env.tb.dut._name + "_fw_trace.jsonl"
    env.trace.write_jsonl(path)
    assert read_jsonl(path) == env.trace.records
