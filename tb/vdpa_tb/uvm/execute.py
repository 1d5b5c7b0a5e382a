# SPDX-License-Identifier: MIT
"""How each item runs on a :class:`vdpa_tb.uvm.context.DeviceContext`, and what it checks.

Items carry what the sequence expects (from the contract or the guest's own view); this module
runs them through the device stack and writes what happened into the item: ``outcome``, the
ops it caused, ``problems`` (every check that failed), and ``meta`` facts for the covergroups
(the device state it met, the progress a race saw, ...). A failure never escapes as an
exception: a divergence or a bench checker firing marks the item and stops the lockstep
(``ctx.broken``); the scoreboard reports it in check_phase.

Races: an :class:`OpItem` with ``race`` set is issued while traffic is in flight
(``tx_inflight`` / ``rx_inflight`` items posted and kicked it without settling). The lockstep
runs that op on the DUT first and :func:`catch_up` then brings the reference to where the DUT
was, by the used indices the guest can read (vdpa_model.lockstep.Lockstep.dut_first). A
``settle`` traffic item ends the race: every queue's frames left or arrived in order, all of
them, or a prefix where that queue faulted as the race allows (an unmap that won).
"""

from __future__ import annotations

import errno
import random
from typing import Any

from vdpa_model import ringcases, spec
from vdpa_model.errors import VdpaError
from vdpa_model.guest import GuestDriverError, GuestVirtqueue
from vdpa_model.lockstep import Divergence
from vdpa_model.ops import VqObjectState

from .context import WINDOW_IOVA, WINDOW_PA, WINDOW_SIZE, WINDOW_STRIDE, DeviceContext
from .coverage import errno_name
from .items import BusErrorItem, OpItem, RingFaultItem, RxFloodItem, StallItem, TrafficItem, VdpaItem


async def execute(ctx: DeviceContext, item: VdpaItem) -> None:
    """Run ``item``; record outcome, ops, problems and coverage facts in it."""
    if ctx.broken:
        item.outcome, item.detail = "SKIPPED", f"after: {ctx.broken}"
        return
    ctx.op_sink.clear()
    before = ctx.ref_states()
    item.meta["state"] = ctx.device_state()
    ctx.judge_isolation()  # anything between items belongs to the state before this one
    try:
        if isinstance(item, OpItem):
            await run_op(ctx, item)
        elif isinstance(item, TrafficItem):
            await run_traffic(ctx, item)
        elif isinstance(item, RingFaultItem):
            await run_ring_fault(ctx, item)
        elif isinstance(item, BusErrorItem):
            await run_bus_error(ctx, item)
        elif isinstance(item, RxFloodItem):
            await run_rx_flood(ctx, item)
        elif isinstance(item, StallItem):
            ctx.set_stalls(item.idle, item.backpressure)
            ctx.stalls = (item.idle, item.backpressure)
            item.outcome = "ok"
        else:
            raise TypeError(f"unknown item {type(item).__name__}")
    except Divergence as e:
        item.outcome, item.detail = "DIVERGENCE", str(e)
        ctx.broken = f"#{item.uid} {e}"
    except (AssertionError, GuestDriverError) as e:
        # a bus-level checker (watchdog, DMA check) fired, or the guest driver refused what the
        # device wrote into a used ring (virtio_ring.c BAD_RING)
        item.outcome, item.detail = "ERROR", f"{type(e).__name__}: {e}"
        ctx.broken = f"#{item.uid} {e}"
    item.ops = list(ctx.op_sink)
    bad = ctx.judge_isolation()
    if bad:
        item.problems.append(f"{len(bad)} DMA access(es) broke isolation, first: {bad[0]}")
    item.vq_states = ctx.ref_states()
    ctx.items_run += 1
    changed = [i for i, (a, b) in enumerate(zip(before, item.vq_states, strict=True)) if a != b]
    if changed and not ctx.broken:
        # the DUT's object state must follow the reference wherever the reference moved:
        # INIT is also met as NONE (the RTL creates objects only at DRIVER_OK)
        for idx, st in (await ctx.dut_vq_states(changed)).items():
            want = item.vq_states[idx]
            if st.name != want and not (want == "INIT" and st is VqObjectState.NONE):
                item.problems.append(f"vq {idx}: dut object state {st.name}, ref {want}")


# -- ops ----------------------------------------------------------------------------------------
async def run_op(ctx: DeviceContext, item: OpItem) -> None:
    if item.layer == "vhost":
        target: Any = ctx.v
        if item.call == "set_status" and item.args == (0,):
            item.meta["reset_kind"] = "persist" if ctx.v._reset_flags() == 0 else "clean_map"
    else:
        target = ctx.ops
        if item.call in ("reset", "compat_reset"):
            clean = item.call == "compat_reset" and item.args[0] & spec.VDPA_RESET_F_CLEAN_MAP
            item.meta["reset_kind"] = "clean_map" if clean else "persist"
    if "reset_kind" in item.meta:
        # the data rings' group (2) binding in force when the reset happens
        item.meta["rings_asid"] = ctx.shadow.group2asid[2]
    if item.race:
        ctx.lock.dut_first(item.race, lambda: catch_up(ctx, item))
    try:
        if item.delay:
            await ctx.idle(item.delay)
        item.result = await getattr(target, item.call)(*item.args)
        item.outcome = "ok"
    except VdpaError as e:
        item.outcome, item.detail = errno_name(e.errno), str(e)
    finally:
        if item.race and ctx.lock.cancel_dut_first():
            item.meta["race"] = "not reached"  # vhost-vdpa answered without the parent
    if item.race in ("reset", "compat_reset") and item.outcome == "ok":
        # the work in flight that the device had not done when it was reset is gone
        ctx.reset_cut = True
    if item.layer == "ops" and item.call in ("reset", "compat_reset") and item.outcome == "ok":
        # a reset through the parent op bypasses vhost-vdpa; its fd follows it as a reset
        # through the fd would (vhost_vdpa_reset clears the suspended flag)
        ctx.v.suspended = False
    if item.call == "set_features" and item.outcome == "ok":
        item.meta["features"] = item.args[0]
    if item.expect is not None and item.outcome != item.expect:
        item.problems.append(f"expected {item.expect}, got {item.outcome} {item.detail}")
    if item.expect_value is not None and item.result != item.expect_value:
        item.problems.append(f"returned {item.result!r}, expected {item.expect_value!r}")


async def catch_up(ctx: DeviceContext, item: OpItem) -> None:
    """The racing op has taken effect on the DUT: complete on the reference, VQ by VQ, the
    chains the DUT completed (its used index, as the guest reads it), and on a ring the DUT
    drained, what it does there (avail_event). Record how far the work in flight had got, for
    the covergroups. (The DUT's DMA meanwhile is judged by the shadow, against the contract
    before or after the op: vdpa_model.shadow.)"""
    net = ctx.net
    assert net is not None, "a race before bring-up"
    done = total = 0
    dirs = set()
    for gq in net.vqs:
        i = gq.index
        dut_used = ctx.mem.dut.read_u16(gq.used_gpa + spec.VRING_USED_IDX_OFF)
        ctx.ref.catch_up(i, dut_used)
        if net.event_idx:
            off = gq.used_gpa + spec.avail_event_off(gq.num)
            dut_ev = ctx.mem.dut.read_u16(off)
            if dut_ev != ctx.mem.ref.read_u16(off) and dut_ev == ctx.ref.vqs[i].last_avail:
                ctx.ref.find_empty(i)
        if i in ctx.inflight:
            frames, start = ctx.inflight[i]
            total += len(frames)
            done += (dut_used - start) & spec.U16_MASK
            dirs.add("tx" if i % 2 else "rx")
    item.meta["race"] = "none" if done == 0 else "all" if done >= total else "some"
    item.meta["race_dirs"] = "both" if len(dirs) == 2 else next(iter(dirs), "none")


# -- traffic ------------------------------------------------------------------------------------
async def kick(ctx: DeviceContext, vq: GuestVirtqueue) -> None:
    vq.publish()
    if vq.kick_needed():
        await ctx.v.kick(vq.index)


def _post(item: TrafficItem) -> dict[str, bool]:
    return {"split_header": item.layout == "split", "indirect": item.layout == "indirect"}


async def run_traffic(ctx: DeviceContext, item: TrafficItem) -> None:
    net = ctx.net
    assert net is not None, "traffic before bring-up"
    frames = item.frames()
    qp = item.qp
    item.meta["stalls"] = ctx.stalls
    if item.direction == "rx":
        net.post_rx(qp, len(frames), 2048, kick=False, **_post(item))
        await kick(ctx, net.rx_vq(qp))
        for f in frames:
            await ctx.lock.inject_rx(net.rx_index(qp), f)
        await ctx.lock.settle()
        got = net.reap_rx(qp)
        item.delivered = [len(f) for f in got]
        if got != frames:
            item.problems.append(f"received {len(got)} frames, not the {len(frames)} offered")
    elif item.direction in ("tx", "tx_held"):
        n_dma = len(ctx.access_log)
        used = net.tx_vq(qp).used_idx
        for f in frames:
            net.send(qp, f, kick=False, **_post(item))
        await kick(ctx, net.tx_vq(qp))
        await ctx.lock.settle()
        out = ctx.lock.take_tx()
        if item.direction == "tx_held":
            # suspended: no descriptor consumed, no frame out, no DMA at all
            ctx.held.setdefault(qp, []).extend(frames)
            if out or net.tx_vq(qp).used_idx != used or len(ctx.access_log) != n_dma:
                item.problems.append(f"work done while suspended: {len(out)} frames, "
                                     f"{len(ctx.access_log) - n_dma} DMA accesses")
        else:
            net.reap_tx(qp)
            item.delivered = [len(p.data) for p in out]
            if [p.data for p in out] != frames or any(p.header != bytes(net.hdr_len)
                                                       for p in out):
                item.problems.append(f"transmitted {len(out)} frames, not the "
                                     f"{len(frames)} sent")
    elif item.direction == "tx_drain":
        await ctx.lock.settle()
        out = ctx.lock.take_tx()
        want = ctx.held.pop(qp, [])
        net.reap_tx(qp)
        item.delivered = [len(p.data) for p in out]
        item.sizes = tuple(len(f) for f in want)
        if [p.data for p in out] != want:
            item.problems.append(f"after resume {len(out)} frames left, {len(want)} held")
    elif item.direction == "tx_inflight":
        q = net.tx_vq(qp)
        if item.window is None:
            for f in frames:
                net.send(qp, f, kick=False, **_post(item))
        else:
            _post_window(ctx, q, item.window, frames, net.hdr_len)
            # an unmap of the window may win the race: the queue then faults on the first
            # chain it had not started (EFAULT), and the frames before it are all that leave
            ctx.race_faults.add((q.index, errno.EFAULT))
        _track(ctx, q, frames)
        await kick(ctx, q)
    elif item.direction == "rx_inflight":
        q = net.rx_vq(qp)
        net.post_rx(qp, len(frames), 2048, kick=False, **_post(item))
        _track(ctx, q, frames)
        await kick(ctx, q)
        for f in frames:
            await ctx.lock.inject_rx(q.index, f)
    elif item.direction == "settle":
        await _settle_inflight(ctx, item)
    else:
        raise ValueError(f"unknown direction {item.direction}")
    item.outcome = "MISMATCH" if item.problems else "ok"


def _track(ctx: DeviceContext, q: GuestVirtqueue, frames: list[bytes]) -> None:
    """Note ``frames`` as in flight on ``q`` (after whatever is in flight there already)."""
    prev, start = ctx.inflight.get(q.index, ([], q.used_idx))
    ctx.inflight[q.index] = ([*prev, *frames], start)


def _post_window(ctx: DeviceContext, q: GuestVirtqueue, iova: int, frames: list[bytes],
                 hdr_len: int) -> None:
    """TX chains whose buffers lie in the window at ``iova`` (its PA is the window's backing,
    vdpa_tb.uvm.context.window): header + frame written there, one readable descriptor each."""
    slot = (iova - WINDOW_IOVA) // WINDOW_STRIDE
    pa = WINDOW_PA + slot * WINDOW_SIZE + (iova - WINDOW_IOVA) % WINDOW_STRIDE
    off = 0
    for f in frames:
        n = hdr_len + len(f)
        if off + n > WINDOW_SIZE:
            raise ValueError(f"{len(frames)} frames do not fit the {WINDOW_SIZE}-byte window")
        ctx.mem.write(pa + off, bytes(hdr_len) + f)
        q.post_iova_chain([(iova + off, n, False)])
        off = (off + n + 63) & ~63


async def _settle_inflight(ctx: DeviceContext, item: TrafficItem) -> None:
    """Everything in flight finishes: each queue's frames left (TX) or arrived (RX) in order,
    all of them, or a prefix on a queue that faulted with an errno the race allows."""
    net = ctx.net
    assert net is not None
    await ctx.lock.settle()
    faults = ctx.lock.take_faults()
    out = ctx.lock.take_tx()
    allowed = set(ctx.race_faults)
    faulted = {f.vq for f in faults}
    bad = [(f.vq, errno_name(f.errno)) for f in faults if (f.vq, f.errno) not in allowed]
    if bad:
        item.problems.append(f"faults the race does not allow: {bad}")
    item.meta["faulted"] = sorted(faulted)
    hdr = bytes(net.hdr_len)
    for idx, (frames, _) in sorted(ctx.inflight.items()):
        qp = idx // 2
        if idx % 2:
            # header and frame together, against the zero header the guest wrote: a harness
            # that splits them by the features in force when it is read would split them
            # wrongly after a reset cleared the features
            got = [p.header + p.data for p in out if p.vq == idx]
            frames = [hdr + f for f in frames]
            net.tx_vq(qp).reap()
        else:
            got = net.reap_rx(qp)
        item.delivered += [len(f) for f in got]
        cut = idx in faulted or ctx.reset_cut
        if got == frames or (cut and got == frames[:len(got)]):
            continue
        item.problems.append(f"vq {idx}: {len(got)} frames, not the {len(frames)} in flight "
                             f"(in order{', or a prefix before a fault or reset' if cut else ''})")
    strays = [p.vq for p in out if p.vq not in ctx.inflight]
    if strays:
        item.problems.append(f"frames from queues with nothing in flight: {strays}")
    ctx.inflight = {}
    ctx.race_faults = set()
    ctx.reset_cut = False


# -- malformed rings ----------------------------------------------------------------------------
async def run_ring_fault(ctx: DeviceContext, item: RingFaultItem) -> None:
    """Post catalogue entry ``item.kind`` on queue pair 0 (vdpa_model.ringcases), after
    ``item.before`` healthy chains on the same queue and beside ``item.alongside`` frames on
    every other queue pair; kick, offer frames to a receive queue, settle. Then the catalogue's
    answer for the reference's parent: the healthy work done, one fault with its errno and site
    and NEEDS_RESET, or a normal completion."""
    net = ctx.net
    assert net is not None, "ring fault before bring-up"
    case = ringcases.case(item.kind)
    if ((case.mapped and not all(ctx.mapped(0, r) for r in ctx.layout.ranges()))
            or any(ctx.shadow.group2asid)):
        # the catalogue's answer presumes its windows mapped in ASID 0 and every group bound
        # there: a sequence that let a reset clean them would test nothing (and call the
        # device wrong)
        raise AssertionError(f"bench: ring case {case.name} posted without the catalogue's "
                             f"mappings in force in ASID 0 (bindings {ctx.shadow.group2asid})")
    # the entry is built on a device at rest: one just started or resumed may still be reading
    # its rings (behind a host that answers late), and would serve the healthy chains posted
    # below unkicked, on rings the entry is about to move (virtio 1.2 §2.7.13: a notification
    # is a hint), where the reference serves them only at the kick
    await ctx.lock.settle()
    rng = random.Random(item.uid)
    q = net.tx_vq(0) if case.queue == "tx" else net.rx_vq(0)
    head_frames = [rng.randbytes(rng.randint(60, 1514)) for _ in range(item.before)]
    if case.queue == "tx":
        for f in head_frames:
            net.send(0, f, kick=False)
    else:
        net.post_rx(0, len(head_frames), 2048, kick=False)
    side = {qp: [rng.randbytes(n) for n in item.alongside] for qp in range(1, net.queue_pairs)}
    for qp, fr in side.items():
        for f in fr:
            net.send(qp, f, kick=False)
    bench = ringcases.RingBench(ctx.mem, ctx.alloc, ctx.v, ctx.layout, net.hdr_len)
    expect = await case.build(bench, q)
    q.publish()
    await ctx.v.kick(q.index)  # unconditionally: some entries publish nothing new
    for qp in side:
        await kick(ctx, net.tx_vq(qp))
    if case.queue == "rx":
        for f in [*head_frames, ringcases.PROBE_FRAME]:
            await ctx.lock.inject_rx(q.index, f)
    await ctx.lock.settle()
    faults = ctx.lock.take_faults()
    out = ctx.lock.take_tx()
    got = [(f.vq, errno_name(f.errno)) for f in faults]
    item.meta["faults"] = got
    if not faults:
        # later items post on this queue's own rings: an entry that moved them is undone
        await ringcases.restore_rings(bench, q)
    want = case.expected_errno(ctx.ref.options.parent)
    item.expect = "ok" if want is None else errno_name(want)
    # the healthy work: ahead of the bad ring on its queue, and on every other queue
    if case.queue == "tx":
        ahead = [p.data for p in out if p.vq == q.index]
        q.reap()
        healthy_ok = ahead == head_frames + ([ringcases.TX_PAYLOAD] if want is None else [])
    else:
        # then the entry's own chain, once if accepted, never if refused: the probe frame if
        # the driver posted it, else one raw completion (kept unparsed by reap_rx)
        raw_before = len(net.raw_completions[q.index])
        rx = net.reap_rx(0)
        own, raw = rx[len(head_frames):], len(net.raw_completions[q.index]) - raw_before
        entry_done = (own, raw) in (([ringcases.PROBE_FRAME], 0), ([], 1))
        healthy_ok = (rx[:len(head_frames)] == head_frames
                      and (entry_done if not faults else (own, raw) == ([], 0)))
    for qp, fr in side.items():
        healthy_ok &= [p.data for p in out if p.vq == net.tx_index(qp)] == fr
        net.reap_tx(qp)
    if not healthy_ok:
        item.problems.append("healthy chains ahead of it or beside it did not all complete")
    if want is None:
        item.outcome = "ok" if not got else f"{len(got)} faults"
        if got:
            item.problems.append(f"faults {got}, expected none")
        return
    item.outcome = got[0][1] if len(got) == 1 else f"{len(got)} faults"
    if got != [(q.index, item.expect)]:
        item.problems.append(f"faults {got}, expected [({q.index}, {item.expect})]")
    elif expect.site is not None:
        s, f = expect.site, faults[0]
        if (f.asid, f.iova, f.write) != (s.asid, s.iova, s.write):
            item.problems.append(f"fault site asid {f.asid} iova {f.iova} write {f.write}, "
                                 f"expected asid {s.asid} iova {s.iova:#x} write {s.write}")
    status = await ctx.ops.get_status()
    if not status & spec.VIRTIO_CONFIG_S_NEEDS_RESET:
        item.problems.append("no NEEDS_RESET after a ring error")


# -- bus errors ---------------------------------------------------------------------------------
async def run_rx_flood(ctx: DeviceContext, item: RxFloodItem) -> None:
    """Offer the flood for receive queue pair ``item.qp``, which has no buffer, interleaved
    with frames for the other queue pairs, each posted a buffer per frame; settle. Then post a
    buffer per flood frame on ``item.qp``, settle, and fill the buffers the dropped frames
    left with new frames, settle. The contract: every other queue gets all its frames in
    order at the first settle; ``item.qp`` gets the newest of its frames, in order, and then
    exactly the fillers; the lockstep, told by the DUT which frames it dropped
    (DeviceHarness.take_rx_evicted), compares memory and faults at each settle."""
    net = ctx.net
    assert net is not None, "rx flood before bring-up"
    rng = random.Random(item.seed)
    flood = [rng.randbytes(n) for n in item.sizes]
    side = {qp: [rng.randbytes(n) for n in item.beside]
            for qp in range(net.queue_pairs) if qp != item.qp}
    for qp, fr in side.items():
        if fr:
            net.post_rx(qp, len(fr), 2048, kick=False)
            await kick(ctx, net.rx_vq(qp))
    # each queue's frames in order, the queues interleaved at random
    order = [item.qp] * len(flood) + [qp for qp, fr in side.items() for _ in fr]
    rng.shuffle(order)
    left = {item.qp: list(flood), **{qp: list(fr) for qp, fr in side.items()}}
    for qp in order:
        await ctx.lock.inject_rx(net.rx_index(qp), left[qp].pop(0))
    await ctx.lock.settle()
    for qp, fr in side.items():
        if net.reap_rx(qp) != fr:
            item.problems.append(f"queue pair {qp} beside the flood lost or reordered frames")
    if net.reap_rx(item.qp):
        item.problems.append("the starved queue delivered a frame with no buffer posted")
    net.post_rx(item.qp, len(flood), 2048, kick=False)
    await kick(ctx, net.rx_vq(item.qp))
    await ctx.lock.settle()
    got = net.reap_rx(item.qp)
    item.dropped = len(flood) - len(got)
    item.delivered = [len(f) for f in got]
    if got != flood[item.dropped:]:
        item.problems.append(f"the starved queue got {len(got)} frames that are not the newest "
                             f"of its {len(flood)}, in order")
    fillers = [rng.randbytes(rng.randint(60, 200)) for _ in range(item.dropped)]
    for f in fillers:
        await ctx.lock.inject_rx(net.rx_index(item.qp), f)
    await ctx.lock.settle()
    if net.reap_rx(item.qp) != fillers:
        item.problems.append("after the flood the starved queue's buffers did not take the "
                             "next frames in order")
    item.outcome = "MISMATCH" if item.problems else "ok"


async def run_bus_error(ctx: DeviceContext, item: BusErrorItem) -> None:
    """Poison the target (in the DUT's host and the reference alike), make queue pair
    ``item.qp`` meet it beside healthy traffic on the others, settle: EIO on that VQ, nothing
    else harmed (the lockstep compares memory, frames and faults)."""
    net = ctx.net
    assert net is not None, "bus error before bring-up"
    # at rest first, as run_ring_fault: the chain posted before a ring moves must not be met
    # by a read still under way from an earlier start or resume
    await ctx.lock.settle()
    rng = random.Random(item.uid)
    hdr = net.hdr_len
    t = item.target
    q = net.tx_vq(item.qp) if t.endswith("_tx") or t == "tx_buffer" else net.rx_vq(item.qp)
    pool = ctx.poison_alloc
    if t == "tx_buffer":
        buf = pool.alloc(2048, 64)
        ctx.mem.write(buf, bytes(hdr) + rng.randbytes(500))
        ctx.poison(buf, buf + 2048)
        q.post_iova_chain([(buf, hdr + 500, False)])
    elif t == "rx_buffer":
        buf = pool.alloc(2048, 64)
        ctx.poison(buf, buf + 2048)
        q.post_iova_chain([(buf, 2048, True)])
    elif t == "rx_data_segment":
        head = ctx.alloc.alloc(64, 64)
        buf = pool.alloc(2048, 64)
        ctx.poison(buf, buf + 2048)
        q.post_iova_chain([(head, hdr, True), (buf, 2048, True)])
    elif t in ("used_ring_tx", "used_ring_rx", "desc_table_tx"):
        # the chain is there before the ring moves: a device reads its ring as soon as it
        # runs again (mlx5 modify to RDY), the reference at its next settle point
        if q.index % 2:
            q.add_buffer([bytes(hdr) + rng.randbytes(200)], ())
        else:
            q.add_buffer((), [2048])
        q.publish()
        size = (spec.used_ring_size(q.num) if t.startswith("used")
                else spec.desc_table_size(q.num))
        new = pool.alloc(size, 64)
        old = q.used_gpa if t.startswith("used") else q.desc_gpa
        ctx.mem.write(new, ctx.mem.read(old, size))
        ctx.poison(new, new + size)
        await ctx.v.suspend()
        if t.startswith("used"):
            await ctx.v.set_vring_addr(q.index, q.desc_area, q.driver_area, new)
        else:
            await ctx.v.set_vring_addr(q.index, new, q.driver_area, q.device_area)
        await ctx.v.resume()
    else:
        raise ValueError(f"unknown bus error target {t}")
    side = {qp: [rng.randbytes(n) for n in item.alongside]
            for qp in range(net.queue_pairs) if qp != item.qp}
    for qp, fr in side.items():
        for f in fr:
            net.send(qp, f, kick=False)
    q.publish()
    await ctx.v.kick(q.index)
    for qp in side:
        await kick(ctx, net.tx_vq(qp))
    if q.index % 2 == 0:
        await ctx.lock.inject_rx(q.index, rng.randbytes(300))
    await ctx.lock.settle()
    faults = [(f.vq, f.errno) for f in ctx.lock.take_faults()]
    out = ctx.lock.take_tx()
    item.outcome = "EIO" if faults == [(q.index, errno.EIO)] else f"faults {faults}"
    # a ring that found its used ring poisoned may fault before the chain (EVENT_IDX asks for
    # a kick there first); either way, exactly one EIO on that VQ
    if faults != [(q.index, errno.EIO)]:
        item.problems.append(f"faults {faults}, expected [({q.index}, EIO)]")
    for qp, fr in side.items():
        if [p.data for p in out if p.vq == net.tx_index(qp)] != fr:
            item.problems.append(f"queue pair {qp} beside the bus error did not transmit")
        net.reap_tx(qp)
    if any(p.vq == q.index for p in out) and t != "used_ring_tx":
        item.problems.append("a frame left from the queue whose read failed")
    if not await ctx.ops.get_status() & spec.VIRTIO_CONFIG_S_NEEDS_RESET:
        item.problems.append("no NEEDS_RESET after a bus error")
