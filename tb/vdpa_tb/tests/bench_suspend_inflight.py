# SPDX-License-Identifier: MIT
"""Suspend latency as a function of the work in flight (issue 10): the SUSPEND command's device
cycles against the bytes and chains in flight when it is issued, beside the bus limit of the
work it had to wait for, measured in the same run.

The figures go to $BENCH_OUT (JSON); bench/bench_suspend_inflight.py runs this module and keeps
them in bench/results/suspend_inflight.json with a PNG, and `vdpa-dv fit-rtl` prices a suspend's
drain from them (the reference-rtl profile's vq_modify per drain_bytes and drain_chains). The
pytest entry tests/rtl/test_bench_suspend_inflight.py runs it and checks every figure against
its limit.

How a point is measured: one TX chain of ``frame`` bytes posted on each of ``queues``
transmitqs and all of them kicked; SUSPEND_ALL submitted ISSUE_CYCLES device cycles after the
last doorbell (a fixed point: the figures are deterministic); its device cycles are the
completion's CPL_CYCLES. What it waited for is read from the device's own DMA, not assumed from
the engine's design: the payload bytes read and the chains completed (used.idx) between the
submission and the completion are the drain; the chains whose payload had started moving at the
submission are the chains in flight. Then RESUME_ALL, and every frame must leave exactly once.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.utils import get_sim_time

from vdpa_model import flows, spec
from vdpa_model.guest import GuestNetDriver
from vdpa_model.memory import Allocator
from vdpa_model.ops import IotlbRange
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.nic_tb import Tb, param

from .bench_commands import write_figures
from .bench_engine_throughput import beats

RAM_BASE = 0x10_0000
RAM_SIZE = 0x40_0000
CLK_NS = 10
#: bytes of the chain posted per busy queue (0: nothing in flight, an idle suspend)
FRAME_BYTES = (0, 64, 256, 1500, 9000, 60000)
#: transmitqs with a chain posted
BUSY_QUEUES = (1, 2, 4)
#: device cycles from the last doorbell to the SUSPEND submission: the engine has fetched the
#: first chain's ring items and not yet finished its payload, for every size above
ISSUE_CYCLES = 40


def cycles_now() -> int:
    return int(get_sim_time("ns")) // CLK_NS


def drain_limit(drained_bytes: int, drained_chains: int, data_w: int) -> int:
    """Bus beats the work a suspend waited for needs at ``data_w``: its payload reads, one bus
    word at a time, and the completion of each chain (used element and used.idx writes), on the
    read and write channels one after the other (a chain completes after its last beat)."""
    lanes = data_w // 8
    return (beats(drained_bytes, lanes)
            + drained_chains * (beats(spec.VRING_USED_ELEM_SIZE, lanes) + beats(2, lanes)))


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def bench_suspend_inflight(dut):
    """Goal: the suspend latency the downtime model prices, by what is in flight.
    Stimulus: FRAME_BYTES x BUSY_QUEUES: one chain per busy transmitq, kicked, SUSPEND_ALL a
    fixed ISSUE_CYCLES later, RESUME_ALL.
    Check: every frame out exactly once; no suspend beats its bus limit; an idle suspend costs
    what the idle command bench measures (bench_vdpa_nic_top)."""
    tb = Tb(dut)
    drv = await tb.start()
    port = tb.port
    data_w = param("DATA_W", 64)
    v = VhostVdpa(drv)
    await flows.open_device(v)
    await v.map(0, [IotlbRange(RAM_BASE, RAM_SIZE, RAM_BASE, spec.VHOST_ACCESS_RW)], batch=True)
    qps = max(BUSY_QUEUES)
    net = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=qps,
                         queue_size=64, features=drv.device_features)
    await flows.start_device(v, net.vqs, features=net.features)
    hdr = net.hdr_len
    rng = random.Random(83)
    rows = []
    for queues in BUSY_QUEUES:
        for frame in FRAME_BYTES:
            await drv.settle()  # nothing left of the previous point (or of the bring-up)
            sent = {qp: rng.randbytes(frame) for qp in range(queues)} if frame else {}
            for qp, f in sent.items():
                net.send(qp, f, kick=False)
            for qp in sent:
                await flows.kick_if_needed(v, net.tx_vq(qp))
            await tb.cycles(ISSUE_CYCLES)
            read0 = tb.target.bytes_read
            used0 = {qp: net.tx_vq(qp).used_idx for qp in range(qps)}
            t0 = cycles_now()
            c = await port.execute("SUSPEND_ALL")
            wall = cycles_now() - t0
            assert c.ok, c
            # what the suspend waited for: the device's own reads and completions since t0
            # (ring reads are a few bytes per chain; the payload dominates and is counted whole)
            drained_chains = sum((net.tx_vq(qp).used_idx - used0[qp]) & 0xFFFF
                                 for qp in range(qps))
            drained_bytes = min(tb.target.bytes_read - read0,
                                drained_chains * (hdr + frame)) if frame else 0
            out_at_suspend = len(drv.take_tx())
            await port.execute("RESUME_ALL")
            await drv.settle()
            got = out_at_suspend + len(drv.take_tx())
            for qp in sent:
                assert [x.token for x in net.reap_tx(qp)] == [sent[qp]], (queues, frame, qp)
            assert got == len(sent), (queues, frame, got)
            limit = drain_limit(drained_bytes, drained_chains, data_w)
            row = {"frame_bytes": frame, "queues": queues, "posted_bytes": frame * queues,
                   "posted_chains": len(sent), "suspend_cycles": c.cycles, "wall_cycles": wall,
                   "drained_bytes": drained_bytes, "drained_chains": drained_chains,
                   "limit_cycles": limit}
            tb.log.info("suspend %s", row)
            rows.append(row)
            assert c.cycles >= limit, row
    idle = [r["suspend_cycles"] for r in rows if r["frame_bytes"] == 0]
    assert len(set(idle)) == 1, idle
    write_figures(tb, {"clock_ns": CLK_NS, "data_w": data_w, "issue_cycles": ISSUE_CYCLES,
                       "hdr_bytes": hdr, "rows": rows})
