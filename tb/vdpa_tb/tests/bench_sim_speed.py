# SPDX-License-Identifier: MIT
"""Simulation speed of the testbench against the same RTL running free (descriptors per wall
second), measured side by side in one simulation. The pytest entry
tests/rtl/test_bench_sim_speed.py computes the ratios, prints them and keeps the figures.

Full testbench: what a test does per batch, all timed: the guest driver posts the descriptors,
vhost-vdpa kicks, the parent settles (bus checks and the DMA isolation check included), the
frames are taken and compared, the ring reaped. Lockstep: the same for TX through the
Lockstep with the reference device (memory, frames and faults compared at the settle).

Free-running: the same build and work, with Python out of the timed window: the descriptors
(and received frames) are posted beforehand, then the doorbell is queued and Python waits for
the one ``settled`` event; checking happens afterwards. In that window only the RTL model and
the HDL/C++ bus models run, which a test cannot do without, so it is the limit this design of
testbench can reach; a C++ main loop without cocotb would only drop the per-time-step VPI
bookkeeping, which the testbench needs anyway.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import cocotb
from cocotb.utils import get_sim_time

from vdpa_model import flows
from vdpa_model.device import ReferenceDevice
from vdpa_model.guest import GuestNetDriver
from vdpa_model.lockstep import Lockstep, MirroredMemory
from vdpa_model.memory import Allocator, GuestMemory
from vdpa_model.ops import DeviceHarness, IotlbRange
from vdpa_model.options import DeviceOptions
from vdpa_model.spec import VHOST_ACCESS_RW
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.buses import CLK_NS, HdlBus
from vdpa_tb.nic_tb import GUEST_SIZE, Tb, param
from vdpa_tb.regmap import REGMAP

RAM_BASE = 0x10_0000
RAM_SIZE = 0x20_0000
QSIZE = 256
#: descriptors per batch (one ring's worth), batches per repetition, repetitions (median)
BATCH = int(os.environ.get("BENCH_SPEED_BATCH", QSIZE))
BATCHES = int(os.environ.get("BENCH_SPEED_BATCHES", "4"))
REPS = int(os.environ.get("BENCH_SPEED_REPS", "5"))
WORKLOADS = (("tx", 64), ("rx", 64), ("tx", 1500), ("rx", 1500))

Batch = Callable[[VhostVdpa, DeviceHarness, GuestNetDriver, list[bytes]], Awaitable[None]]


def cycles() -> int:
    return int(get_sim_time("ns")) // CLK_NS


class Meter:
    """Descriptors per wall second over repetitions, with the share of a CPU the simulation
    got while timed (below ~0.9 another process took the CPU and the figure is distorted)."""

    def __init__(self) -> None:
        self.runs: list[float] = []
        self.cpu: list[float] = []
        self.cycles = 0
        self.descriptors = 0

    def add(self, n: int, wall: float, cpu: float, sim_cycles: int) -> None:
        self.runs.append(n / wall)
        self.cpu.append(cpu / wall)
        self.cycles += sim_cycles
        self.descriptors += n

    def result(self) -> dict[str, Any]:
        return {"desc_per_s": statistics.median(self.runs), "runs": self.runs,
                "cpu_share": statistics.median(self.cpu),
                "cycles_per_desc": self.cycles / max(self.descriptors, 1)}


class Timed:
    """``with Timed(meter, n):`` adds one repetition of ``n`` descriptors to ``meter``."""

    def __init__(self, meter: Meter, n: int) -> None:
        self.meter, self.n = meter, n

    def __enter__(self) -> None:
        self.t0, self.c0, self.s0 = time.perf_counter(), time.process_time(), cycles()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.meter.add(self.n, time.perf_counter() - self.t0, time.process_time() - self.c0,
                           cycles() - self.s0)


async def tx_batch(v: VhostVdpa, dev: DeviceHarness, net: GuestNetDriver, frames: list[bytes]) -> None:
    for f in frames:
        net.send(0, f, kick=False)
    await flows.kick_if_needed(v, net.tx_vq(0))
    await dev.settle()
    got = dev.take_tx()
    net.reap_tx(0)
    assert [p.data for p in got] == frames, "transmitted frames are not the frames sent"


async def rx_batch(v: VhostVdpa, dev: DeviceHarness, net: GuestNetDriver, frames: list[bytes]) -> None:
    net.post_rx(0, len(frames), 2048, kick=False)
    await flows.kick_if_needed(v, net.rx_vq(0))
    for f in frames:
        await dev.inject_rx(0, f)
    await dev.settle()
    assert net.reap_rx(0) == frames, "received frames are not the frames offered"


async def testbench_rate(tb: Tb, batch: Batch, v: VhostVdpa, dev: DeviceHarness,
                         net: GuestNetDriver, size: int) -> dict[str, Any]:
    rng = random.Random(size)
    meter = Meter()
    for _ in range(REPS):
        frames = [[rng.randbytes(size) for _ in range(BATCH)] for _ in range(BATCHES)]
        with Timed(meter, BATCH * BATCHES):
            for fr in frames:
                await batch(v, dev, net, fr)
    tb.assert_dma_clean()
    return meter.result()


async def free_rate(tb: Tb, bus: HdlBus, v: VhostVdpa, net: GuestNetDriver, kind: str,
                    size: int) -> dict[str, Any]:
    """The same work with Python outside the timed window (module docstring)."""
    assert tb.drv is not None
    rng = random.Random(size + 7)
    doorbell = REGMAP.reg["DOORBELL"]
    meter = Meter()
    for _ in range(REPS):
        for _ in range(BATCHES):
            frames = [rng.randbytes(size) for _ in range(BATCH)]
            if kind == "tx":
                for f in frames:
                    net.send(0, f, kick=False)
                net.tx_vq(0).publish()
                with Timed(meter, BATCH):
                    bus.dev.post(True, doorbell, net.tx_index(0))
                    await bus.run_until_settled(1_000_000)
                assert [p.data for p in tb.drv.take_tx()] == frames
                net.reap_tx(0)
            else:
                net.post_rx(0, BATCH, 2048, kick=False)
                await flows.kick_if_needed(v, net.rx_vq(0))
                await tb.drv.settle()
                for f in frames:
                    bus.dev.push_rx(0, f)
                with Timed(meter, BATCH):
                    await bus.run_until_settled(1_000_000)
                assert net.reap_rx(0) == frames
            bus.verify()
    return meter.result()


async def open_bench(tb: Tb, ops: Any, mem: GuestMemory) -> tuple[VhostVdpa, GuestNetDriver]:
    v = VhostVdpa(ops)
    await flows.open_device(v)
    await v.map(0, [IotlbRange(RAM_BASE, RAM_SIZE, RAM_BASE, VHOST_ACCESS_RW)], batch=True)
    assert tb.drv is not None
    net = GuestNetDriver(mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=1,
                         queue_size=QSIZE, features=tb.drv.device_features)
    await flows.start_device(v, net.vqs, features=net.features)
    return v, net


def record(key: str, figures: dict[str, Any]) -> None:
    out = os.environ.get("BENCH_OUT")
    if out:
        path = Path(out)
        res = json.loads(path.read_text()) if path.exists() else {}
        res[key] = figures
        path.write_text(json.dumps(res, indent=2))


@cocotb.test(timeout_time=10, timeout_unit="sec")
async def bench_sim_speed(dut):
    """Goal: how close the full testbench runs to the free-running RTL.
    Stimulus: TX and RX batches of 64- and 1500-byte frames, through the full testbench and
    free-running, alternately in one simulation. Check: every batch byte-exact; figures kept."""
    tb = Tb(dut)
    drv = await tb.start()
    v, net = await open_bench(tb, drv, tb.mem)
    res: dict[str, Any] = {"testbench": {}, "free_running": {}}
    for kind, size in WORKLOADS:
        name = f"{kind}{size}"
        tb.log.info("Bench: %s, full testbench", name)
        res["testbench"][name] = await testbench_rate(tb, tx_batch if kind == "tx" else rx_batch,
                                                      v, drv, net, size)
        if isinstance(tb.bus, HdlBus):
            tb.log.info("Bench: %s, free-running", name)
            res["free_running"][name] = await free_rate(tb, tb.bus, v, net, kind, size)
    res["bus_model"] = tb.bus.name
    res["params"] = {"batch": BATCH, "batches": BATCHES, "reps": REPS, "queue_size": QSIZE}
    for part in ("testbench", "free_running"):
        for name, fig in res[part].items():
            tb.log.info("%s %s: %.0f desc/s (cpu share %.2f)", part, name, fig["desc_per_s"],
                        fig["cpu_share"])
    record("traffic", res)


@cocotb.test(timeout_time=10, timeout_unit="sec")
async def bench_sim_speed_lockstep(dut):
    """Goal: the lockstep testbench's speed against the same free-running RTL.
    Stimulus: TX batches of 64-byte frames through Lockstep(RTL, reference device).
    Check: memory, frames and faults agree at every settle; figures kept."""
    tb = Tb(dut)
    drv = await tb.start()
    ref_mem = GuestMemory(GUEST_SIZE)
    opts = DeviceOptions(queue_pairs=param("NVQ", 8) // 2, max_queue_size=param("MAX_QSIZE", 256),
                         device_features=drv.device_features)
    lock = Lockstep(drv, ReferenceDevice(ref_mem, opts), tb.mem, ref_mem)
    v, net = await open_bench(tb, lock, MirroredMemory(tb.mem, ref_mem))
    tb.log.info("Bench: tx64 in lockstep with the reference device")
    fig = await testbench_rate(tb, tx_batch, v, lock, net, 64)
    assert lock.settles_compared >= REPS * BATCHES
    tb.log.info("lockstep tx64: %.0f desc/s (cpu share %.2f)", fig["desc_per_s"],
                fig["cpu_share"])
    record("lockstep", {"tx64": fig})
