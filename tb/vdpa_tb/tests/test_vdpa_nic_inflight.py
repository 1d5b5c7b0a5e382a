# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_nic_top with work in flight on several queues at once: suspend, reset,
reset_map and dma_unmap issued while TX chains are streaming on every queue pair and received
frames are on the wire, run clean and under AXI/AXI-Stream idle and backpressure.

The device runs alone (the reference device does no work between settle points, so a race has
nothing to compare with). Every check is the kernel's contract, not the engine's timing: it
must hold for an engine that serves one chain at a time and for one that keeps several in
flight. The pytest entry is tests/rtl/test_vdpa_nic_top.py (beside test_vdpa_nic_top).
"""

from __future__ import annotations

import dataclasses
import errno
import random

import cocotb

from vdpa_model import flows, spec
from vdpa_model.guest import GuestNetDriver
from vdpa_model.memory import Allocator
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.nic_tb import Tb, param
from vdpa_tb.parent import RtlParentDriver

from .test_vdpa_nic_top import RAM_BASE, RAM_SIZE, US, dut_alone

#: queue pairs brought up and loaded: every one the default device has (NVQ 8), four of the
#: 64-VQ build's (more only lengthens the run; the engine's arbitration is the same)
QUEUE_PAIRS = min(param("NVQ", 8) // 2, 4)
#: TX frames per queue pair, in the order posted: a long chain first (thousands of bus beats,
#: so every race below finds chains still to move whatever the engine's overlap), then the
#: sizes the downtime model prices
TX_SIZES = (20000, 1500, 64, 9000, 256)
#: received frames offered per queue pair, and the receive buffer posted for each (+1 spare)
RX_FRAMES = 3
RX_BUF = 2048
#: the race: the op is issued this many device cycles after the last kick (a fixed point, so
#: a failure reproduces); all the work above needs several times as long
RACE_CYCLES = 1500
#: after the op returned, the window in which nothing may move
QUIET_CYCLES = 20000


def is_subsequence(part: list[bytes], whole: list[bytes]) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


@dataclasses.dataclass
class Load:
    """What the guest put in flight: frames sent per transmitq and offered per receiveq (by
    queue pair), in order."""

    tx: dict[int, list[bytes]]
    rx: dict[int, list[bytes]]

    @property
    def tx_frames(self) -> int:
        return sum(len(f) for f in self.tx.values())


async def put_in_flight(tb: Tb, v: VhostVdpa, net: GuestNetDriver, rng: random.Random) -> Load:
    """Receive buffers posted and kicked on every receiveq; TX_SIZES posted on every transmitq
    and all of them kicked together; RX_FRAMES frames offered to every receiveq; then
    RACE_CYCLES cycles. Fails if the race would find nothing started or nothing left."""
    load = Load({}, {})
    for qp in range(net.queue_pairs):
        net.post_rx(qp, RX_FRAMES + 1, RX_BUF, kick=False)
        await flows.kick_if_needed(v, net.rx_vq(qp))
    n_dma = len(tb.target.log)
    for qp in range(net.queue_pairs):
        load.tx[qp] = [rng.randbytes(n) for n in TX_SIZES]
        for f in load.tx[qp]:
            net.send(qp, f, kick=False)
    for qp in range(net.queue_pairs):
        await flows.kick_if_needed(v, net.tx_vq(qp))
    for qp in range(net.queue_pairs):
        load.rx[qp] = [rng.randbytes(rng.randint(60, 1514)) for _ in range(RX_FRAMES)]
        for f in load.rx[qp]:
            await tb.drv.inject_rx(net.rx_index(qp), f)  # type: ignore[union-attr]
    await tb.cycles(RACE_CYCLES)
    assert len(tb.target.log) > n_dma, "no DMA had started: the race raced nothing"
    return load


def frames_by_vq(drv: RtlParentDriver) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for p in drv.take_tx():
        out.setdefault(p.vq, []).append(p.data)
    return out


def merge(a: dict[int, list[bytes]], b: dict[int, list[bytes]]) -> dict[int, list[bytes]]:
    return {q: a.get(q, []) + b.get(q, []) for q in set(a) | set(b)}


async def stays_still(tb: Tb, drv: RtlParentDriver, net: GuestNetDriver, what: str
                      ) -> dict[int, list[bytes]]:
    """QUIET_CYCLES cycles in which no DMA may happen, no used index move and no frame leave;
    returns the frames out before the window."""
    n_dma = len(tb.target.log)
    used = {vq.index: vq.used_idx for vq in net.vqs}
    out = frames_by_vq(drv)
    await tb.cycles(QUIET_CYCLES)
    assert len(tb.target.log) == n_dma, \
        f"{len(tb.target.log) - n_dma} DMA access(es) after {what} returned"
    moved = {i: (u, vq.used_idx) for i, u in used.items()
             for vq in (net.vqs[i],) if vq.used_idx != u}
    assert not moved, f"used.idx moved after {what} returned (vq: before, after): {moved}"
    late = frames_by_vq(drv)
    assert not late, f"frames left after {what} returned: {[(q, len(f)) for q, f in late.items()]}"
    return out


# =========================================================================================
@cocotb.test(timeout_time=100000, timeout_unit=US)
@cocotb.parametrize(stall=[False, True])
async def test_suspend_with_work_in_flight(dut, stall):
    """Goal: suspend with chains in flight on several queues is exact, and resume loses and
    repeats nothing (drivers/vhost/vdpa.c: vhost_vdpa_suspend, no descriptor processed once it
    returns; mlx5_vnet.c: suspend_vq, then query_virtqueues for the state).
    Stimulus: every queue pair started, TX_SIZES chains posted on every transmitq and kicked
    together, receive buffers posted and frames offered on every receiveq; VHOST_VDPA_SUSPEND
    RACE_CYCLES later; one more frame sent and kicked on every transmitq, and one more offered
    on every receiveq, while suspended; resume. Clean and under idle/backpressure.
    Check: once suspend returned, no DMA at all, no used.idx moves and no frame leaves;
    VHOST_GET_VRING_BASE of every VQ equals the used.idx the guest sees (mlx5 reports the
    hardware used index; only avail_index travels, so a chain half done cannot be
    represented); every transmitq has sent exactly its used.idx frames, none aborted. After
    resume, every frame out exactly once, in order per queue; the guest reaps every buffer
    once (a double or unknown completion fails the reap; the used ring's order is left to the
    device, as without VIRTIO_F_IN_ORDER, but each element is written before the used.idx that
    publishes it); every received frame delivered in order per queue or counted in RX_DROPS,
    none twice."""
    tb, drv, v, net = await dut_alone(dut, QUEUE_PAIRS, stall)
    rng = random.Random(61)
    load = await put_in_flight(tb, v, net, rng)
    drops0 = await tb.port.read("RX_DROPS")
    await v.suspend()
    before = await stays_still(tb, drv, net, "suspend")
    assert sum(map(len, before.values())) < load.tx_frames, \
        "every frame was out before the suspend: it raced nothing"
    tb.log.info("suspend returned with %d of %d frames out, used.idx %s",
                sum(map(len, before.values())), load.tx_frames,
                {vq.index: vq.used_idx for vq in net.vqs})
    for vq in net.vqs:
        assert await v.get_vring_base(vq.index) == vq.used_idx, \
            f"vq {vq.index}: vring base is not the used index the guest sees"
    for qp in range(net.queue_pairs):
        tx = net.tx_vq(qp)
        assert len(before.get(tx.index, [])) == tx.used_idx, \
            f"transmitq {qp}: {len(before.get(tx.index, []))} frames out, used.idx {tx.used_idx}"
    assert drv.tx_aborted == 0, "a frame was cut off by the suspend"

    tb.log.info("Test work posted and kicked while suspended does not move")
    for qp in range(net.queue_pairs):
        load.tx[qp].append(rng.randbytes(1500))
        net.send(qp, load.tx[qp][-1], kick=False)
        await flows.kick_if_needed(v, net.tx_vq(qp))
        load.rx[qp].append(rng.randbytes(200))
        await drv.inject_rx(net.rx_index(qp), load.rx[qp][-1])
    before = merge(before, await stays_still(tb, drv, net, "suspend (kicked while suspended)"))

    tb.log.info("Test resume: every frame exactly once, in order per queue")
    await v.resume()
    await drv.settle()
    out = merge(before, frames_by_vq(drv))
    for qp in range(net.queue_pairs):
        assert out.get(net.tx_index(qp), []) == load.tx[qp], f"transmitq {qp}: frames out"
        # each buffer used once; the used ring's order is the device's (virtio 1.2 §2.7.8:
        # in order only with VIRTIO_F_IN_ORDER), the wire's is the queue's
        done = [c.token for c in net.reap_tx(qp)]
        assert sorted(done) == sorted(load.tx[qp]), f"transmitq {qp}: used ring"
    drops = await tb.port.read("RX_DROPS") - drops0
    got = 0
    for qp in range(net.queue_pairs):
        rx = net.reap_rx(qp)
        assert is_subsequence(rx, load.rx[qp]), f"receiveq {qp}: frames out of order or twice"
        got += len(rx)
    offered = sum(map(len, load.rx.values()))
    assert got + drops == offered, f"{got} frames received + {drops} dropped != {offered} offered"
    assert drv.take_faults() == []
    tb.assert_dma_clean()
    tb.assert_used_order(net.vqs)


@cocotb.test(timeout_time=100000, timeout_unit=US)
@cocotb.parametrize(stall=[False, True])
async def test_reset_with_work_in_flight(dut, stall):
    """Goal: a reset that races chains in flight on several queues stops all of them, and the
    device comes back (virtio 1.2 §2.4.1: after a reset the device must not access the queues;
    drivers/vhost/vdpa.c: vhost_vdpa_set_status(0) -> vdpa_reset; mlx5_vnet.c:
    mlx5_vdpa_compat_reset tears the VQ objects down before it returns).
    Stimulus: the load of test_suspend_with_work_in_flight, then VHOST_VDPA_SET_STATUS 0
    (IOTLB_PERSIST acked: the mappings stay) RACE_CYCLES after the kicks; then a new driver
    brings every queue pair up on the kept mappings and sends and receives on each.
    Check: once the reset returned, no DMA at all, no used.idx moves and no frame leaves (the
    frames still on the wire are dropped, not held); status reads 0; after the new bring-up,
    every queue pair carries traffic byte for byte; every DMA inside the mappings in force."""
    tb, drv, v, net = await dut_alone(dut, QUEUE_PAIRS, stall)
    rng = random.Random(67)
    load = await put_in_flight(tb, v, net, rng)
    await v.set_status(0)
    before = await stays_still(tb, drv, net, "reset")
    assert sum(map(len, before.values())) < load.tx_frames, \
        "every frame was out before the reset: it raced nothing"
    assert await v.get_status() == 0
    await drv.settle()  # the frames left on the wire go nowhere: the wire does not stall

    tb.log.info("Test the device comes back up and carries traffic on every queue pair")
    net = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE),
                         queue_pairs=QUEUE_PAIRS, queue_size=64, features=drv.device_features)
    await flows.start_device(v, net.vqs, features=net.features)
    for qp in range(QUEUE_PAIRS):
        fr = [rng.randbytes(rng.randint(60, 1514)) for _ in range(3)]
        assert [p.data for p in await flows.transmit(v, drv, net, qp, fr)] == fr, f"qp {qp} TX"
        fr = [rng.randbytes(rng.randint(60, 1514)) for _ in range(2)]
        assert await flows.receive(v, drv, net, qp, fr) == fr, f"qp {qp} RX"
    assert drv.take_faults() == []
    tb.assert_dma_clean()


@cocotb.test(timeout_time=100000, timeout_unit=US)
@cocotb.parametrize(op=["dma_unmap", "reset_map"], stall=[False, True])
async def test_map_change_with_work_in_flight(dut, op, stall):
    """Goal: once dma_unmap or reset_map returns, the device never again reaches what is no
    longer mapped, whatever it had in flight on however many queues (drivers/vhost/vdpa.c:
    vhost_vdpa_unmap / vhost_vdpa_remove_as -> reset_map; include/linux/vdpa.h: reset_map; the
    mappings are the device's only way to guest memory under VIRTIO_F_ACCESS_PLATFORM).
    Stimulus: the load of test_suspend_with_work_in_flight, rings and buffers in the ASID the
    op empties: dma_unmap of all guest RAM in ASID 0 (the parent op vhost-vdpa calls on an
    IOTLB invalidate), or reset_map of ASID 1 with every group bound to it (vhost-vdpa calls
    it when it removes an address space; ASID 1 has no default mapping on mlx5, so nothing is
    left), RACE_CYCLES after the kicks. Clean and under idle/backpressure.
    Check: after the op returned, no DMA at all (nothing is mapped for any group); every DMA
    judged against the mappings in force when it was made (the harness's isolation checker);
    per transmitq, the frames out are a prefix of those sent (a frame cut off is marked bad,
    never sent short); received frames in order, each once. Faults: only what the contract
    allows for a translation that finds no mapping (drivers/vhost/vringh.c: iotlb_translate
    -> -EFAULT; mlx5 moves that VQ object alone to ERR): EFAULT, at most one per data VQ,
    through the emptied ASID at an IOVA of guest RAM, with NEEDS_RESET; and every transmitq
    left with frames to send has faulted (its work cannot vanish silently)."""
    asid = 1 if op == "reset_map" else 0
    tb, drv, v, net = await dut_alone(dut, QUEUE_PAIRS, stall, asid=asid)
    rng = random.Random(71)
    load = await put_in_flight(tb, v, net, rng)
    if op == "reset_map":
        await drv.reset_map(asid)
    else:
        await drv.dma_unmap(asid, RAM_BASE, RAM_SIZE)
    before = await stays_still(tb, drv, net, op)
    assert sum(map(len, before.values())) < load.tx_frames, \
        f"every frame was out before {op}: it raced nothing"
    await drv.settle()
    out = merge(before, frames_by_vq(drv))
    faults = drv.take_faults()
    tb.log.info("%s returned with %d of %d frames out; faults %s", op,
                sum(map(len, before.values())), load.tx_frames,
                [(f.vq, errno.errorcode[f.errno], f.asid, hex(f.iova or 0)) for f in faults])
    data_vqs = {vq.index for vq in net.vqs}
    for f in faults:
        assert f.vq in data_vqs and f.errno == errno.EFAULT, f"fault not allowed here: {f}"
        assert f.asid == asid and f.iova is not None and RAM_BASE <= f.iova < RAM_BASE + RAM_SIZE, \
            f"fault not through asid {asid} at a guest RAM IOVA: {f}"
    faulted = [f.vq for f in faults]
    assert len(faulted) == len(set(faulted)), f"a VQ faulted twice: {faults}"
    if faults:  # virtio 1.2 §2.1.2: an error state that needs a reset says so
        assert await drv.get_status() & spec.VIRTIO_CONFIG_S_NEEDS_RESET
    for qp in range(net.queue_pairs):
        sent, got = load.tx[qp], out.get(net.tx_index(qp), [])
        assert got == sent[:len(got)], f"transmitq {qp}: frames out are not a prefix of those sent"
        if len(got) < len(sent):
            assert net.tx_index(qp) in faulted, \
                f"transmitq {qp}: {len(sent) - len(got)} frames neither sent nor faulted"
        rx = net.reap_rx(qp)
        assert is_subsequence(rx, load.rx[qp]), f"receiveq {qp}: frames out of order or twice"
    tb.assert_dma_clean()
