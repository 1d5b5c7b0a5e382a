# SPDX-License-Identifier: MIT
"""Benchmarks of the device's commands: what a cost profile of the migration ops needs, swept
over sizes so that a fit extrapolates. Figures go to the log and to $BENCH_OUT (JSON); the
pytest entry tests/rtl/test_bench_commands.py runs this on several builds (execution slots,
firmware latencies), merges the figures into bench/results/rtl_commands.json and prints them.

Device cycles are what a completion reports (dispatch to completion). Round times are
simulated cycles from the first submission to the last completion read, so they include the
parent's register writes and reads: the part of a round that parallel submission can hide.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from typing import Any

import cocotb
from cocotb.utils import get_sim_time

from vdpa_model import flows
from vdpa_model.guest import GuestNetDriver
from vdpa_model.memory import Allocator
from vdpa_model.options import DeviceOptions
from vdpa_model.trace import Layer, Trace
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.cmdport import Completion, RtlCommandPort
from vdpa_tb.nic_tb import Tb, param
from vdpa_tb.regmap import REGMAP as RM

CLK_NS = 10
RAM_BASE = 0x10_0000
RAM_SIZE = 0x40_0000
PAGE = 1 << param("PAGE_SHIFT", 12)


def cycles_now() -> int:
    return int(get_sim_time("ns")) // CLK_NS


def fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float]:
    """Least-squares line y = slope * x + fixed."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return {"slope": round(slope, 6), "fixed": round(my - slope * mx, 2)}


async def ok(port: RtlCommandPort, op: str, **args: int) -> Completion:
    c = await port.execute(op, **args)
    assert c.ok, f"{op} {args}: {RM.status_name(c.status)}"
    return c


async def bench_map(port: RtlCommandPort, writers_max: int) -> dict[str, Any]:
    """MAP into a table under construction: cycles by pages and write ports."""
    out: dict[str, Any] = {"cycles": {}, "fit_vs_ceil_pages_over_writers": {}}
    for w in sorted({1, 2, writers_max}):
        row = {}
        for pages in (1, 16, 64, 256, 1024):
            h = (await ok(port, "TABLE_NEW", ASID=1)).data[0]
            c = await ok(port, "MAP", ASID=1, IOVA_LO=0x4000_0000,
                         LAST_LO=0x4000_0000 + pages * PAGE - 1, PA_LO=RAM_BASE, PERM=3, TABLE=h,
                         WRITERS=w)
            await ok(port, "TABLE_FREE", ASID=1, TABLE=h)
            row[pages] = c.cycles
        out["cycles"][w] = row
        out["fit_vs_ceil_pages_over_writers"][w] = fit(
            [math.ceil(p / w) for p in row], list(row.values()))
    return out


async def bench_tables(port: RtlCommandPort) -> dict[str, Any]:
    """TABLE_NEW, an idle TABLE_SWITCH, TABLE_FREE by the ranges the freed table holds."""
    out: dict[str, Any] = {"free_cycles_by_ranges": {}}
    held = 0  # ranges of the table in force (ASID 1 starts with an empty one)
    for ranges in (1, 4, 8, 0):
        h = await ok(port, "TABLE_NEW", ASID=1)
        out["new_cycles"] = h.cycles
        for k in range(ranges):
            base = 0x4000_0000 + k * 0x10_0000
            await ok(port, "MAP", ASID=1, IOVA_LO=base, LAST_LO=base + 16 * PAGE - 1,
                     PA_LO=RAM_BASE, PERM=3, TABLE=h.data[0])
        s = await ok(port, "TABLE_SWITCH", ASID=1, TABLE=h.data[0])
        out["switch_idle_cycles"] = s.cycles
        f = await ok(port, "TABLE_FREE", ASID=1, TABLE=s.data[0])
        assert f.data[0] == held, (f.data, held)
        out["free_cycles_by_ranges"][held] = f.cycles
        held = ranges
    return out


async def bench_create(port: RtlCommandPort) -> dict[str, Any]:
    sizes = [s for s in (64, 256, 1024, 4096) if s <= param("MAX_QSIZE", 256)]
    create, destroy = {}, {}
    for size in sizes:
        create[size] = (await ok(port, "CREATE_VQ", VQ=1, SIZE=size, GROUPS=0x0200)).cycles
        destroy[size] = (await ok(port, "DESTROY_VQ", VQ=1)).cycles
    return {"create_cycles_by_size": create, "destroy_cycles_by_size": destroy,
            "create_fit_vs_size": fit(list(create), list(create.values()))}


async def timed_round(port: RtlCommandPort, cmds: list[tuple[str, dict[str, int]]],
                      parallel: bool) -> dict[str, int]:
    t0 = cycles_now()
    if parallel:
        done = await port.execute_many(cmds)
    else:
        done = [await port.execute(op, **a) for op, a in cmds]
    assert all(c.ok for c in done), [RM.status_name(c.status) for c in done]
    return {"round_cycles": cycles_now() - t0, "device_cycles_max": max(c.cycles for c in done),
            "device_cycles_sum": sum(c.cycles for c in done)}


async def bench_rounds(port: RtlCommandPort) -> dict[str, Any]:
    """MODIFY (fields only, INIT objects) and QUERY rounds over n VQs, submitted together and
    one by one."""
    nvq = param("NVQ", 8)
    for q in range(nvq):
        await ok(port, "CREATE_VQ", VQ=q, SIZE=64, GROUPS=0x0200)
    out: dict[str, Any] = {"modify": {}, "query": {}}
    for n in [k for k in (1, 2, 4, 8, 16) if k <= nvq]:
        mods = [("MODIFY_VQ", {"VQ": q, "MASK": 1 << RM.modify_bit["ADDRS"],
                               "DESC_LO": 0x1000 * q}) for q in range(n)]
        queries = [("QUERY_VQ", {"VQ": q}) for q in range(n)]
        for name, cmds in (("modify", mods), ("query", queries)):
            par = await timed_round(port, cmds, True)
            ser = await timed_round(port, cmds, False)
            out[name][n] = {"parallel": par, "serial": ser,
                            "speedup": round(ser["round_cycles"] / par["round_cycles"], 2)}
    for q in range(nvq):
        await ok(port, "DESTROY_VQ", VQ=q)
    return out


async def bench_reset_device(port: RtlCommandPort) -> dict[str, Any]:
    """The RESET command itself with k VQ objects and with / without CLEAN_MAP."""
    out: dict[str, Any] = {}
    for k in [k for k in (0, 2, 4, 8, 16) if k <= param("NVQ", 8)]:
        for q in range(k):
            await ok(port, "CREATE_VQ", VQ=q, SIZE=256, GROUPS=0x0200)
        out[k] = (await ok(port, "RESET", FLAGS=0)).cycles
    clean = (await ok(port, "RESET", FLAGS=1)).cycles
    return {"cycles_by_vq_objects": out, "clean_map_cycles": clean}


async def bring_up(tb: Tb, options: DeviceOptions, qps: int, trace: Trace | None = None
                   ) -> tuple[VhostVdpa, GuestNetDriver]:
    tb.parent_options = options
    drv = await tb.start(trace=trace)
    v = VhostVdpa(drv)
    await flows.open_device(v)
    await flows.map_guest_memory(v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    net = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=qps,
                         queue_size=256, features=drv.device_features)
    await flows.start_device(v, net.vqs, features=net.features)
    return v, net


async def bench_inflight(tb: Tb) -> dict[str, Any]:
    """MODIFY to SUSPEND and TABLE_SWITCH wait for the chain in flight: cycles by its size."""
    v, net = await bring_up(tb, DeviceOptions(), 1)
    port, drv = tb.port, tb.drv
    assert drv is not None
    suspend, switch = {}, {}
    for size in (0, 256, 1500, 4000):
        if size:
            net.send(0, bytes(size), kick=False)
            await flows.kick_if_needed(v, net.tx_vq(0))
            await tb.cycles(20)
        c = await ok(port, "MODIFY_VQ", VQ=1, MASK=1, STATE=RM.vq_state["SUSPEND"])
        suspend[size] = c.cycles
        await ok(port, "MODIFY_VQ", VQ=1, MASK=1, STATE=RM.vq_state["RDY"])
        await drv.settle()
        drv.take_tx()
        net.reap_tx(0)
        # the same table again beside, switched in while a chain of that size runs
        h = (await ok(port, "TABLE_NEW", ASID=0)).data[0]
        await ok(port, "MAP", ASID=0, IOVA_LO=RAM_BASE, LAST_LO=RAM_BASE + RAM_SIZE - 1,
                 PA_LO=RAM_BASE, PERM=3, TABLE=h, WRITERS=param("MTT_WRITERS", 4))
        if size:
            net.send(0, bytes(size), kick=False)
            await flows.kick_if_needed(v, net.tx_vq(0))
            await tb.cycles(20)
        s = await ok(port, "TABLE_SWITCH", ASID=0, TABLE=h)
        switch[size] = s.cycles
        await ok(port, "TABLE_FREE", ASID=0, TABLE=s.data[0])
        drv.table[0] = h
        await drv.settle()
        drv.take_tx()
        net.reap_tx(0)
    return {"suspend_vq_cycles_by_bytes_in_flight": suspend,
            "table_switch_cycles_by_bytes_in_flight": switch}


async def bench_parent_reset(tb: Tb) -> dict[str, Any]:
    """The parent's reset after DRIVER_OK (destroy per VQ, RESET, create per VQ with
    pre-creation): simulated cycles and fw records, by queue pairs brought up."""
    out: dict[str, Any] = {}
    for precreated in (False, True):
        row = {}
        for qps in [q for q in (1, 2, 4, 8) if 2 * q <= param("NVQ", 8)]:
            trace = Trace()
            v, _ = await bring_up(tb, DeviceOptions(precreated_vqs=precreated), qps, trace)
            mark = len(trace.records)
            t0 = cycles_now()
            await v.set_status(0)
            names = [r.name for r in trace.records[mark:] if r.layer is Layer.FW]
            row[qps] = {"cycles": cycles_now() - t0, "vq_destroy": names.count("vq_destroy"),
                        "vq_create": names.count("vq_create")}
        out["precreated" if precreated else "created_at_driver_ok"] = row
    return out


#: one idle command of each kind, in an order that leaves the device as it found it (a VQ
#: created, changed and destroyed; a table built, put in force and the one it retired freed)
IDLE_COMMANDS: tuple[tuple[str, dict[str, int]], ...] = (
    ("NOP", {}), ("SET_FEATURES", {}), ("SET_STATUS", {}), ("QUERY_DEV", {}),
    ("SET_GROUP_ASID", {"GROUP": 2, "ASID": 0}), ("QUERY_GROUP", {}),
    ("CREATE_VQ", {"VQ": 1, "SIZE": 64, "GROUPS": 0x0200}),
    ("MODIFY_VQ", {"VQ": 1, "MASK": 1, "STATE": 1}), ("QUERY_VQ", {"VQ": 1}),
    ("SUSPEND_ALL", {}), ("RESUME_ALL", {}), ("DESTROY_VQ", {"VQ": 1}),
    ("MAP", {"ASID": 1, "LAST_LO": 0xFFF, "PERM": 3}),
    ("UNMAP", {"ASID": 1, "LAST_LO": 0xFFF}), ("RESET_MAP", {"ASID": 1}),
    ("TABLE_NEW", {"ASID": 1}), ("TABLE_SWITCH", {"ASID": 1}),
    ("TABLE_FREE", {"ASID": 1}), ("RESET", {}))


async def bench_kinds(port: RtlCommandPort, queue_size: int = 64) -> dict[str, tuple[int, int]]:
    """One idle command of each kind (CREATE_VQ of ``queue_size``): its device cycles and its
    wall cycles (the parent's argument writes, submit and completion reads around them). A
    build without firmware latency gives the hardware part, the difference to a build with
    latency each class's latency."""
    out: dict[str, tuple[int, int]] = {}
    table = 0
    for op, args in IDLE_COMMANDS:
        if op == "CREATE_VQ":
            args = {**args, "SIZE": queue_size}
        if op in ("TABLE_SWITCH", "TABLE_FREE"):
            args = {**args, "TABLE": table}
        t0 = cycles_now()
        c = await ok(port, op, **args)
        out[op] = (c.cycles, cycles_now() - t0)
        if op in ("TABLE_NEW", "TABLE_SWITCH"):
            table = c.data[0]  # the new table, then the one the switch retired
    return out


def write_figures(tb: Tb, res: dict[str, Any]) -> None:
    """A benchmark's figures, with the build's parameters, to the log and to $BENCH_OUT."""
    res["params"] = {k[6:]: v for k, v in os.environ.items() if k.startswith("PARAM_")}
    for k, val in res.items():
        tb.log.info("%s: %s", k, val)
    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(res, f, indent=2)


@cocotb.test(timeout_time=1000, timeout_unit="ms")
async def bench_commands(dut):
    """Goal: the command costs a cost profile is fitted on, for this build. Stimulus: MAP by
    pages x write ports, table commands, CREATE_VQ by size, MODIFY / QUERY rounds by VQ count
    submitted together and one by one, SUSPEND and TABLE_SWITCH by bytes in flight, RESET by
    VQ objects, the parent's reset by queue pairs. Check: every command succeeds; the figures
    are written out."""
    tb = Tb(dut)
    await tb.start()
    port = tb.port
    c4 = await port.read("CAPS4")
    res: dict[str, Any] = {
        "caps": {"slots": c4 & 0xFF, "mtt_writers": (c4 >> 8) & 0xFF, "tables": (c4 >> 16) & 0xFF},
        "fw_latency": {f.name: param(f.param, 0) for f in RM.fw_class.values()},
        "command_classes": {c.name: c.fw_class for c in RM.cmd.values()},
    }
    tb.log.info("Bench: command kinds")
    res["cycles_per_command"] = {op: dev for op, (dev, _) in (await bench_kinds(port)).items()}
    tb.log.info("Bench: MAP by pages and write ports")
    res["map"] = await bench_map(port, res["caps"]["mtt_writers"])
    tb.log.info("Bench: table commands")
    res["tables"] = await bench_tables(port)
    tb.log.info("Bench: VQ create / destroy by size")
    res["vq"] = await bench_create(port)
    tb.log.info("Bench: MODIFY / QUERY rounds by VQ count")
    res["rounds"] = await bench_rounds(port)
    tb.log.info("Bench: RESET by VQ objects")
    res["reset"] = await bench_reset_device(port)
    tb.log.info("Bench: work in flight")
    res["in_flight"] = await bench_inflight(tb)
    tb.log.info("Bench: the parent's reset by queue pairs")
    res["parent_reset"] = await bench_parent_reset(tb)
    write_figures(tb, res)
