# SPDX-License-Identifier: MIT
"""Throughput of the virtqueue engine (issue 10): cycles per descriptor for TX and RX at 64, 256
and 1500-byte frames on 1, 2 and 8 active queue pairs, beside the bus limit of the same
descriptor at the build's DATA_W, measured in the same run.

The figures go to $BENCH_OUT (JSON); bench/bench_engine_throughput.py runs this module once per
bus width and keeps them in bench/results/engine_throughput.json with a PNG. The pytest entry
tests/rtl/test_bench_engine_throughput.py runs it at the default width and checks that no
figure is below its limit (a limit the device beats is a wrong limit or a wrong count).

How a figure is measured: the same number of descriptors on every active queue
($BENCH_DESCRIPTORS_PER_QUEUE) is posted first; the clock starts at the first doorbell (TX) or
the first injected frame (RX) and stops when the device and the buses have been quiet for
tb_nic_host's settle window, whose own length (an idle settle, measured in the same run) is
taken off. Divided by the descriptors completed, it is the rate a driver that keeps every
queue equally deep would see, with each queue's start-up (its first, cold chain) included
once. Traffic is checked byte for byte, so a fast wrong device gets no figure.

Each row is measured a second time with $BENCH_STEADY_DESCRIPTORS_PER_QUEUE descriptors a
queue. The difference of the two bursts, over the difference of their descriptors, is the
steady rate: what the long burst's extra chains cost, with the fill and drain both bursts pay
(each queue's cold first chain, the last chain's trip through every stage) cancelled out;
what the short burst costs on top of it is ``fixed_cycles``. It is a diagnostic, not the
figure set beside the limit: it assumes the extra chains cost what the short burst's did, and
they need not. The guest driver hands out heads last in, first out, so the two bursts meet
the descriptor table in different orders and runs: ``fixed_cycles`` below zero (in the kept
results, TX 64 B on one queue at DATA_W 128 and 512) means the long burst's chains were the
slower ones, and at 16 and 32 a queue a steady rate came out below its limit (TX 1500 B on
two queues at DATA_W 512, 25.78 against 26).

The guest driver reuses descriptors as Linux does (last in, first out), so the rows after the
first meet heads handed out in descending or mixed table order, as a long-running driver's
device does.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import re
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.utils import get_sim_time

from vdpa_model import flows
from vdpa_model.dma import AccessKind
from vdpa_model.guest import GuestNetDriver
from vdpa_model.memory import Allocator
from vdpa_model.ops import IotlbRange
from vdpa_model.spec import (
    VHOST_ACCESS_RW,
    VRING_DESC_SIZE,
    VRING_USED_ELEM_SIZE,
    VRING_USED_IDX_OFF,
    VRING_USED_RING_OFF,
    avail_event_off,
)
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.hostlib import DMA_WRITE
from vdpa_tb.nic_tb import Tb, param

from .bench_commands import write_figures

RAM_BASE = 0x10_0000
# room for the longer burst's buffers on eight queues (their free lists are reused row to row)
RAM_SIZE = 0x100_0000
CLK_NS = 10
FRAME_SIZES = (64, 256, 1500)
ACTIVE_QUEUES = (1, 2, 8)
# descriptors measured on each active queue (a queue holds QUEUE_SIZE), in the short and the
# long burst whose difference is the steady rate
PER_QUEUE = int(os.environ.get("BENCH_DESCRIPTORS_PER_QUEUE", "64"))
STEADY_PER_QUEUE = int(os.environ.get("BENCH_STEADY_DESCRIPTORS_PER_QUEUE", str(3 * PER_QUEUE)))
RX_BUF = 2048
QUEUE_SIZE = 256
if not 0 < PER_QUEUE < STEADY_PER_QUEUE <= QUEUE_SIZE:
    raise ValueError(
        f"BENCH_DESCRIPTORS_PER_QUEUE {PER_QUEUE} and BENCH_STEADY_DESCRIPTORS_PER_QUEUE "
        f"{STEADY_PER_QUEUE}: the short burst must be shorter than the long one, and the long "
        f"one fit a queue of {QUEUE_SIZE}")
# the u16 ring items (avail entry, used.idx); the used element's size and the used ring's
# layout are vdpa_model.spec's (virtio 1.2 §2.7.8)
RING_IDX_BYTES = 2


def beats(nbytes: int, lanes: int, offset: int = 0) -> int:
    """Bus beats an access of ``nbytes`` starting ``offset`` bytes into a beat occupies."""
    return (offset % lanes + nbytes + lanes - 1) // lanes


def used_elem_beats(lanes: int, used_ring: int) -> float:
    """Beats a used element occupies, averaged over the ring's slots: element i sits at
    ``used_ring`` + 4 + 8 i, so with the ring on 8 bytes every one spans two beats at DATA_W 64,
    every second one at 128, one in eight at 512 (the ring need only be 4-aligned, §2.7)."""
    slots = max(1, lanes // VRING_USED_ELEM_SIZE)
    return sum(beats(VRING_USED_ELEM_SIZE, lanes,
                     used_ring + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * i)
               for i in range(slots)) / slots


def used_elem_beats_of(lanes: int, used_rings: list[int]) -> float:
    """Beats of one used element, averaged over the queues' used rings (their addresses)."""
    return sum(used_elem_beats(lanes, r) for r in used_rings) / len(used_rings)


def bus_limit(direction: str, frame: int, hdr_len: int, data_w: int, used_rings: list[int]
              ) -> dict[str, float]:
    """Beats one descriptor chain needs on each AXI channel, and the larger of the two (the read
    and write channels run at once, so the busier one bounds the rate).

    Counted, one access each, as an engine that reads every item it uses once needs them:
    the avail ring entry (u16), the descriptor (16 bytes, one per chain: the guest driver puts
    header and frame in one buffer), the virtio-net header and frame as one access (the buffer
    starts on a 64-byte boundary, _POOL_ALIGN, so on a beat) and the used element (8 bytes at
    4 mod 8 in its ring, where it may span two beats: used_elem_beats over the measured
    queues' ``used_rings``). RX adds the frame's beats on the receive stream, which bound it
    too.

    Not counted: avail.idx, used.idx, avail_event and the notification read (used_event or
    avail.flags). Each is one access per batch of chains, not per chain: an engine reads
    avail.idx once for all the entries it announces, publishes several used elements with one
    used.idx store (virtio 1.2 §2.7.8: the driver learns of used elements only through
    used.idx, so nothing asks for a store per element) and checks for a notification once per
    batch of used entries (§2.7.10), so they vanish from the per-descriptor limit. used.idx
    was counted once a chain, which this engine's own batching (COMPLETION_BATCH) beats: on
    one receive queue at DATA_W 64 it writes 12.25 beats a descriptor (``beats_per_desc``),
    where that count said 13. A limit a device can beat is no limit."""
    lanes = data_w // 8
    ring_reads = beats(RING_IDX_BYTES, lanes) + beats(VRING_DESC_SIZE, lanes)
    payload = beats(hdr_len + frame, lanes)
    completion = used_elem_beats_of(lanes, used_rings)
    if direction == "tx":
        read, write, stream = ring_reads + payload, completion, payload
    else:
        read, write, stream = ring_reads, payload + completion, beats(frame, lanes)
    return {"read_beats": read, "write_beats": write, "stream_beats": stream,
            "limit_cycles": max(read, write, stream)}


def beats_per_desc(tb: Tb, start: int, descriptors: int, used_rings: list[tuple[int, int]]
                   ) -> dict[str, dict[str, float]]:
    """The bus beats the device spent per descriptor since DMA log position ``start``, by
    channel and what they carried (the log's kinds: avail, desc, used, buffer, indirect):
    what the engine did against what ``bus_limit`` counts. The used ring's writes are told
    apart by address over the measured queues' ``used_rings`` (address, size): used.idx,
    avail_event, and the rest, the used elements. A written beat holding two separate runs
    of bytes counts twice."""
    out: dict[str, dict[str, float]] = {"read": {}, "write": {}}
    for (write, kind), n in tb.target.log.by_kind(start).items():
        if not (write and kind == AccessKind.USED):
            out["write" if write else "read"][kind.name.lower()] = round(n / descriptors, 3)
    recs = tb.target.log.columns()[0][start:]
    pa = recs["pa"][(recs["kind"] == AccessKind.USED) & ((recs["flags"] & DMA_WRITE) != 0)]
    idx = np.zeros(len(pa), dtype=bool)
    event = np.zeros(len(pa), dtype=bool)
    for used, num in used_rings:
        idx |= (pa >= used + VRING_USED_IDX_OFF) & (pa < used + VRING_USED_RING_OFF)
        ev = used + avail_event_off(num)
        event |= (pa >= ev) & (pa < ev + RING_IDX_BYTES)
    for name, hit in (("used_idx", idx), ("avail_event", event), ("used_elem", ~(idx | event))):
        out["write"][name] = round(int(np.count_nonzero(hit)) / descriptors, 3)
    return out


def cycles_now() -> int:
    return int(get_sim_time("ns")) // CLK_NS


#: tb_engine_occupancy's counters (the walker's busy cycles, "walk", come from its states)
STAGES = ("walk_blocked", "refill", "move", "move_tx_held", "move_blocked", "complete", "notify")


#: the state machines counted state by state: (key, RTL file, enum type, counter array)
STATE_MACHINES = (("walk_states", "vdpa_split_ring_walker.sv", "estate_t", "walk_state_cycles"),
                  ("move_states", "vdpa_dma_mover.sv", "xstate_t", "move_state_cycles"))


@functools.cache
def enum_names(rtl_file: str, enum: str) -> tuple[str, ...]:
    """A state enum's names in encoding order, read from the RTL (the one place they are
    written)."""
    src = (Path(__file__).resolve().parents[3] / "rtl" / rtl_file).read_text()
    body = re.search(r"typedef enum logic \[\d+:0\] \{(.*?)\} " + enum + ";", src, re.S)
    assert body, f"rtl/{rtl_file}: {enum} not found"
    text = re.sub(r"//[^\n]*", "", body.group(1))
    return tuple(n.strip() for n in text.split(",") if n.strip())


def occupancy(tb: Tb) -> dict[str, Any] | None:
    """The stage occupancy counters of the reference engine's testbench top
    (tb/hdl/tb_engine_occupancy.sv), or None for a top without them."""
    probe = getattr(tb.dut, "occupancy_inst", None)
    if probe is None:
        return None
    counts: dict[str, Any] = {s: int(getattr(probe, f"{s}_cycles").value) for s in STAGES}
    for key, rtl_file, enum, array in STATE_MACHINES:
        cells = getattr(probe, array)
        counts[key] = {name: int(cells[i].value)
                       for i, name in enumerate(enum_names(rtl_file, enum))}
    return counts


def counts_minus(after: dict[str, Any] | None, before: dict[str, Any] | None
                 ) -> dict[str, Any] | None:
    """Occupancy counts (``occupancy``) of ``after`` beyond ``before``: what the device added
    since a snapshot, or what a long burst took beyond a short one."""
    if after is None or before is None:
        return None
    out: dict[str, Any] = {s: after[s] - before[s] for s in STAGES}
    for key, *_ in STATE_MACHINES:
        out[key] = {name: n - before[key][name] for name, n in after[key].items()}
    return out


def stages_per_desc(counts: dict[str, Any] | None, descriptors: int) -> dict[str, Any] | None:
    """Cycles each stage held work per descriptor (``counts``, from ``counts_minus``): the
    stage whose figure is the descriptor's own cycles sets the pace. ``walk_states`` and
    ``move_states`` split the walker's and the mover's cycles by state (E_IDLE and X_IDLE
    included: waiting for work)."""
    if counts is None:
        return None
    out: dict[str, Any] = {s: round(counts[s] / descriptors, 2) for s in STAGES}
    for key, *_ in STATE_MACHINES:
        out[key] = {name: round(n / descriptors, 2) for name, n in counts[key].items() if n}
    walked = sum(n for name, n in counts["walk_states"].items() if name != "E_IDLE")
    out["walk"] = round(walked / descriptors, 2)
    return out


@dataclasses.dataclass(frozen=True)
class Burst:
    """One measured burst: its cycles (the settle window taken off), the bus beats it spent
    per descriptor (``beats_per_desc``) and the occupancy counts it added (``counts_minus``)."""
    cycles: int
    beats: dict[str, dict[str, float]]
    counts: dict[str, Any] | None


async def idle_settle(tb: Tb) -> int:
    """Cycles a settle takes on a quiet device: what each measurement has on top of the work."""
    t0 = cycles_now()
    for _ in range(4):
        await tb.drv.settle()
    return (cycles_now() - t0) // 4


async def measure_tx(tb: Tb, v: VhostVdpa, net: GuestNetDriver, size: int, queues: int,
                     per_queue: int, settle: int) -> Burst:
    rng = random.Random(size * 31 + queues)
    sent: dict[int, list[bytes]] = {}
    for qp in range(queues):
        sent[qp] = [rng.randbytes(size) for _ in range(per_queue)]
        for f in sent[qp]:
            net.send(qp, f, kick=False)
        net.tx_vq(qp).publish()
    mark = len(tb.target.log)
    busy = occupancy(tb)
    t0 = cycles_now()
    for qp in range(queues):
        await v.kick(net.tx_vq(qp).index)
    await tb.drv.settle()
    dt = cycles_now() - t0 - settle
    got: dict[int, list[bytes]] = {qp: [] for qp in range(queues)}
    for p in tb.drv.take_tx():
        got[(p.vq - 1) // 2].append(p.data)
    # in order per queue; queues interleave as the device serves them
    if got != sent:
        bad = [(qp, k, len(g), bytes(g[:16]).hex(), sent[qp].index(g) if g in sent[qp] else None)
               for qp in sent for k, g in enumerate(got[qp])
               if k >= len(sent[qp]) or g != sent[qp][k]]
        raise AssertionError(
            f"TX {size} B on {queues} queues: frames lost, reordered or corrupted: "
            f"{[len(got[qp]) for qp in sent]} frames of {per_queue} a queue; "
            f"(queue, index, bytes, first bytes, index sent) first wrong: {bad[:4]}")
    for qp in range(queues):
        assert len(net.reap_tx(qp)) == per_queue
    return Burst(dt, beats_per_desc(tb, mark, per_queue * queues,
                                    [(net.tx_vq(qp).used_gpa, net.tx_vq(qp).num)
                                     for qp in range(queues)]), counts_minus(occupancy(tb), busy))


async def measure_rx(tb: Tb, v: VhostVdpa, net: GuestNetDriver, size: int, queues: int,
                     per_queue: int, settle: int) -> Burst:
    rng = random.Random(size * 37 + queues)
    for qp in range(queues):
        net.post_rx(qp, per_queue, RX_BUF, kick=False)
        await flows.kick_if_needed(v, net.rx_vq(qp))
    await tb.drv.settle()
    frames = {qp: [rng.randbytes(size) for _ in range(per_queue)] for qp in range(queues)}
    mark = len(tb.target.log)
    busy = occupancy(tb)
    t0 = cycles_now()
    # interleaved over the queues, as a NIC's RSS spreads flows
    for i in range(per_queue):
        for qp in range(queues):
            await tb.drv.inject_rx(net.rx_vq(qp).index, frames[qp][i])
    await tb.drv.settle()
    dt = cycles_now() - t0 - settle
    for qp in range(queues):
        assert net.reap_rx(qp) == frames[qp], f"RX {size} B on {queues} queues, queue {qp}"
    return Burst(dt, beats_per_desc(tb, mark, per_queue * queues,
                                    [(net.rx_vq(qp).used_gpa, net.rx_vq(qp).num)
                                     for qp in range(queues)]), counts_minus(occupancy(tb), busy))


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def bench_engine_throughput(dut):
    """Goal: cycles per descriptor beside the bus limit. Stimulus: full queues of 64..1500-byte
    frames on 1, 2 and 8 queue pairs, TX then RX. Check: traffic byte-exact and in order per
    queue; the figures themselves are judged by the pytest entry."""
    tb = Tb(dut)
    drv = await tb.start()
    data_w = param("DATA_W", 64)
    pairs = param("NVQ", 8) // 2
    res: dict[str, object] = {"clock_ns": CLK_NS, "data_w": data_w, "nvq": 2 * pairs,
                              "descriptors_per_queue": PER_QUEUE,
                              "steady_descriptors_per_queue": STEADY_PER_QUEUE}
    v = VhostVdpa(drv)
    await flows.open_device(v)
    await v.map(0, [IotlbRange(RAM_BASE, RAM_SIZE, RAM_BASE, VHOST_ACCESS_RW)], batch=True)
    net = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=pairs,
                         queue_size=QUEUE_SIZE, features=drv.device_features)
    await flows.start_device(v, net.vqs, features=net.features)
    # the device reads the rings it has just started; the idle settle is measured once that
    # is over (behind a host that answers late it is not, at once)
    await tb.drv.settle()
    settle = await idle_settle(tb)
    res["idle_settle_cycles"] = settle
    res["hdr_len"] = net.hdr_len
    # one long burst on every queue first, not measured: the guest driver hands out heads
    # last in, first out, so a queue's first burst meets its table in order and every later
    # one in descending runs or broken ones. Without this, the rows that first used a queue
    # (TX and RX on one, two and eight queues at 64 B) met it fresh and every later row did
    # not; now every row meets the table as a long-running driver leaves it.
    for measure in (measure_tx, measure_rx):
        await measure(tb, v, net, min(FRAME_SIZES), pairs, STEADY_PER_QUEUE, settle)
    rows = []
    for direction, measure in (("tx", measure_tx), ("rx", measure_rx)):
        for size in FRAME_SIZES:
            for queues in ACTIVE_QUEUES:
                if queues > pairs:
                    tb.log.warning("%d active queues need NVQ >= %d; skipped", queues, 2 * queues)
                    continue
                short = await measure(tb, v, net, size, queues, PER_QUEUE, settle)
                long = await measure(tb, v, net, size, queues, STEADY_PER_QUEUE, settle)
                n_short, n_long = PER_QUEUE * queues, STEADY_PER_QUEUE * queues
                cyc = short.cycles / n_short
                steady = (long.cycles - short.cycles) / (n_long - n_short)
                rings = [(net.tx_vq(qp) if direction == "tx" else net.rx_vq(qp)).used_gpa
                         for qp in range(queues)]
                lim = bus_limit(direction, size, net.hdr_len, data_w, rings)
                row = {"dir": direction, "frame_bytes": size, "queues": queues,
                       "cycles_per_desc": round(cyc, 2), **lim,
                       "ratio": round(cyc / lim["limit_cycles"], 2),
                       "steady_cycles_per_desc": round(steady, 2),
                       "steady_ratio": round(steady / lim["limit_cycles"], 2),
                       "fixed_cycles": round(short.cycles - steady * n_short, 1),
                       "beats_per_desc": short.beats,
                       "used_elem_beats": round(used_elem_beats_of(data_w // 8, rings), 3)}
                if short.counts is not None:
                    row["stage_cycles_per_desc"] = stages_per_desc(short.counts, n_short)
                    row["steady_stage_cycles_per_desc"] = stages_per_desc(
                        counts_minus(long.counts, short.counts), n_long - n_short)
                tb.log.info("%s %5d B %d queues: %7.2f cycles/desc, limit %g (%.2fx), steady "
                            "%.2f", direction.upper(), size, queues, cyc, lim["limit_cycles"],
                            row["ratio"], steady)
                rows.append(row)
    res["rows"] = rows
    write_figures(tb, res)
