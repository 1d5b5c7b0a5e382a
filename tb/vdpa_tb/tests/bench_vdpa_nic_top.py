# SPDX-License-Identifier: MIT
"""Benchmarks of vdpa_nic_top: cycles per descriptor, IOTLB latency, cycles per command kind
and their scaling, simulator throughput. Figures go to the log and to $BENCH_OUT (JSON); the
pytest entry tests/rtl/test_bench_vdpa_nic_top.py prints them. Each figure is also checked
against what the hardware's structure implies, so a regression in cost is a failure.

The reference-rtl cost profile is fitted from these figures (``vdpa-dv fit-rtl``): the sweeps
over pages and queue sizes give the slopes and steps it extrapolates with, the wall cycles of
each command (the parent's register accesses around the device's own cycles) give the
submission cost, and the DRIVER_OK sweep checks the two together."""

from __future__ import annotations

import random
import time

import cocotb
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

from vdpa_model import flows
from vdpa_model.guest import GuestNetDriver
from vdpa_model.memory import Allocator
from vdpa_model.ops import IotlbRange
from vdpa_model.spec import VHOST_ACCESS_RW
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.nic_tb import Tb, param
from vdpa_tb.regmap import REGMAP

from .bench_commands import bench_kinds, write_figures

RAM_BASE = 0x10_0000
RAM_SIZE = 0x20_0000
CLK_NS = 10


def cycles_now() -> int:
    return int(get_sim_time("ns")) // CLK_NS


async def measure_tx(tb: Tb, v: VhostVdpa, net: GuestNetDriver, size: int, n: int) -> float:
    rng = random.Random(size)
    fr = [rng.randbytes(size) for _ in range(n)]
    for f in fr:
        net.send(0, f, kick=False)
    net.tx_vq(0).publish()
    t0 = cycles_now()
    await v.kick(1)
    await tb.drv.settle()
    dt = cycles_now() - t0
    got = tb.drv.take_tx()
    assert [p.data for p in got] == fr
    net.reap_tx(0)
    return dt / n


async def measure_rx(tb: Tb, v: VhostVdpa, net: GuestNetDriver, size: int, n: int) -> float:
    rng = random.Random(size + 1)
    fr = [rng.randbytes(size) for _ in range(n)]
    net.post_rx(0, n, 2048, kick=False)
    await flows.kick_if_needed(v, net.rx_vq(0))
    await tb.drv.settle()
    t0 = cycles_now()
    for f in fr:
        await tb.drv.inject_rx(0, f)
    await tb.drv.settle()
    dt = cycles_now() - t0
    assert net.reap_rx(0) == fr
    return dt / n


async def translation_latency(tb: Tb, count: int) -> list[int]:
    """Cycles from an accepted translation request to its response (first ``count``), timed by
    simulation time between the two edges, not by counting cycles in Python."""
    out = []
    eng = tb.engine()
    while len(out) < count:
        await RisingEdge(eng.tr_req_valid)
        t0 = cycles_now()
        await RisingEdge(eng.tr_resp_valid)
        out.append(cycles_now() - t0)
    return out


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def bench_vdpa_nic_top(dut):
    """Goal: the figures a timing model is fitted on. Stimulus: TX/RX bursts of 64..1500-byte
    frames, every command kind, MAP/CREATE sweeps, SUSPEND idle and with work in flight.
    Check: per-page and per-size slopes, drain cost > idle cost, traffic byte-exact."""
    tb = Tb(dut)
    drv = await tb.start()
    port = tb.port
    res: dict[str, object] = {}
    wall0 = time.perf_counter()
    sim0 = cycles_now()

    res["clock_ns"] = CLK_NS
    res["command_units"] = {c.name: c.unit for c in REGMAP.cmd.values()}
    # what a profile needs to split a command's wall time: its argument words (written before
    # the submit) and its firmware latency class
    res["command_args"] = {c.name: len(c.args) for c in REGMAP.cmd.values()}
    res["command_classes"] = {c.name: c.fw_class for c in REGMAP.cmd.values()}
    res["cmd_slots"] = await port.read("CMD_STATUS") & 0xFF
    c4 = await port.read("CAPS4")
    res["mtt_writers"] = (c4 >> 8) & 0xFF
    res["nvq"] = drv.hw_vqs
    res["device_features"] = drv.device_features

    tb.log.info("Bench: register access cycles (AXI-Lite through the bus model)")
    t0 = cycles_now()
    for _ in range(16):
        await port.read("ID")
    res["axil_read_cycles"] = (cycles_now() - t0) / 16
    t0 = cycles_now()
    for _ in range(16):
        await port.write("CMD_ARG0", 0)
    res["axil_write_cycles"] = (cycles_now() - t0) / 16

    tb.log.info("Bench: an idle settle (the testbench's quiet point, as QEMU's CVQ poll waits)")
    t0 = cycles_now()
    for _ in range(4):
        await drv.settle()
    res["settle_cycles"] = (cycles_now() - t0) / 4

    tb.log.info("Bench: command cycles by kind")
    idle = await bench_kinds(port, queue_size=256)
    kinds = {op: dev for op, (dev, _) in idle.items()}
    walls = {op: wall for op, (_, wall) in idle.items()}
    for op in idle:
        # the parent's submission and completion reads wrap the device's own cycles
        assert walls[op] > kinds[op], (op, walls[op], kinds[op])
    res["cycles_per_command"] = kinds
    res["wall_cycles_per_command"] = walls

    tb.log.info("Bench: MAP and UNMAP scaling with pages")
    maps = {}
    unmaps = {}
    for pages in (1, 16, 256, 1024):
        c = await port.execute("MAP", ASID=1, IOVA_LO=0x4000_0000, LAST_LO=0x4000_0000 + pages * 4096 - 1,
                               PA_LO=RAM_BASE, PERM=3)
        assert c.ok
        maps[pages] = c.cycles
        c = await port.execute("UNMAP", ASID=1, LAST_LO=0xFFFF_FFFF, LAST_HI=0xFFFF_FFFF)
        assert c.ok
        unmaps[pages] = c.cycles
    slope = (maps[1024] - maps[16]) / (1024 - 16)
    assert slope == 1.0, maps
    # removing a range is one table update whatever its size
    assert len(set(unmaps.values())) == 1, unmaps
    res["map_cycles_by_pages"] = maps
    res["map_cycles_per_page"] = slope
    res["unmap_cycles_by_pages"] = unmaps
    await port.execute("RESET_MAP", ASID=1)

    tb.log.info("Bench: CREATE_VQ scaling with queue size")
    creates = {}
    # sizes below and above one 64-head clearing step, so a fit sees the step, not only a slope
    for size in [s for s in (16, 32, 64, 128, 256, 1024, 4096, 32768) if s <= param("MAX_QSIZE", 256)]:
        c = await port.execute("CREATE_VQ", VQ=1, SIZE=size, GROUPS=0x0200)
        assert c.ok
        creates[size] = c.cycles
        await port.execute("DESTROY_VQ", VQ=1)
    assert creates[16] == creates[32] == creates[64], creates
    res["create_vq_cycles_by_size"] = creates

    tb.log.info("Bench: DRIVER_OK bring-up by number of queues (CREATE + RDY per VQ)")
    bring = {}
    for qps in [q for q in (1, 2, 4) if 2 * q <= param("NVQ", 8)]:
        v0 = VhostVdpa(drv)
        await flows.open_device(v0)
        net0 = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=qps,
                              queue_size=256, features=drv.device_features)
        for st in (1, 3):
            await v0.set_status(st)
        await v0.set_features(net0.features)
        await v0.set_status(0x0B)
        for q in net0.vqs:
            await v0.set_vring_num(q.index, q.num)
            await v0.set_vring_addr(q.index, q.desc_area, q.driver_area, q.device_area)
            await v0.set_vring_enable(q.index, True)
        n0 = len(port.history)
        t0 = cycles_now()
        await v0.set_status(0x0F)
        dev_cycles = sum(c.cycles for c in port.history[n0:])
        bring[2 * qps] = {"wall_cycles": cycles_now() - t0, "device_cycles": dev_cycles}
    res["driver_ok_cycles_by_vqs"] = bring
    await port.execute("RESET", FLAGS=1)

    tb.log.info("Bench: data path")
    v = VhostVdpa(drv)
    await flows.open_device(v)
    await v.map(0, [IotlbRange(RAM_BASE, RAM_SIZE, RAM_BASE, VHOST_ACCESS_RW)], batch=True)
    net = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=1,
                         queue_size=256, features=drv.device_features)
    await flows.start_device(v, net.vqs, features=net.features)
    lat_task = cocotb.start_soon(translation_latency(tb, 8))
    tx = {}
    for size in (64, 256, 1500):
        tx[size] = await measure_tx(tb, v, net, size, 32)
    lat = await lat_task
    rx = {}
    for size in (64, 256, 1500):
        rx[size] = await measure_rx(tb, v, net, size, 16)
    res["tx_cycles_per_descriptor_by_frame_size"] = tx
    res["rx_cycles_per_descriptor_by_frame_size"] = rx
    res["iotlb_hit_latency_cycles"] = sorted(set(lat))
    # one bus beat per cycle at best: a 1500-byte frame needs at least 1500 / lanes cycles, and
    # the fixed per-chain ring work stays under a few hundred cycles
    lanes = param("DATA_W", 64) // 8
    assert 1500 / lanes < tx[1500] < 2 * 1500 / lanes + 400, tx
    # a beat is taken and sent in two cycles at worst, plus an address phase per burst
    assert tx[1500] - tx[64] < 3 * (1500 - 64) / lanes, tx
    assert min(lat) >= 2, lat

    tb.log.info("Bench: SUSPEND with work in flight")
    big = [bytes(1500)] * 4
    for f in big:
        net.send(0, f, kick=False)
    net.tx_vq(0).publish()
    await v.kick(1)
    await tb.cycles(20)
    c = await port.execute("SUSPEND_ALL")
    busy = c.cycles
    await port.execute("RESUME_ALL")
    await drv.settle()
    drv.take_tx()
    c = await port.execute("SUSPEND_ALL")
    idle = c.cycles
    await port.execute("RESUME_ALL")
    res["suspend_cycles"] = {"idle": idle, "draining_one_1500B_chain": busy}
    # the chain in flight (1500 bytes at most a beat per cycle) is drained before it returns
    assert busy > idle + 1500 / lanes / 2, (busy, idle)

    wall = time.perf_counter() - wall0
    res["sim_cycles_per_wall_second"] = round((cycles_now() - sim0) / wall)
    write_figures(tb, res)
