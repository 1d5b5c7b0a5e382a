# SPDX-License-Identifier: MIT
"""Constrained-random sequences with teeth: stimulus that attacks the device, in lockstep.

Each sequence is seeded (its random stream comes from the test's seed, or from the virtual
sequence that started it, so COCOTB_RANDOM_SEED reproduces a run) and states its constraints as
class attributes at its top: ranges of counts and delays, weights of each kind of stimulus.
What the contract promises for each op is stated with it (an errno, a returned value the
guest can predict); the lockstep compares everything else with the reference device. Every
sequence starts by driving the device to the state it needs, so they run in any order on one
device life: :class:`HostileMixSeq`, the virtual sequence, mixes them.

=========================  ==============================================================
sequence                   attacks with
=========================  ==============================================================
:class:`IllegalOpsSeq`     ops refused for the device's state, VQ / group / ASID out of
                           range, overlapping maps, batch misuse; legal ops between them
:class:`RingMixSeq`        catalogue rings after healthy chains and beside traffic
:class:`SuspendStormSeq`   suspend / resume storms racing TX and RX in flight
:class:`ResetMixSeq`       reset, compat_reset, reset_map in every state, IOTLB_PERSIST on/off
:class:`RebindSeq`         SET_GROUP_ASID of every group to every ASID in every state
:class:`MapChurnSeq`       IOTLB UPDATE / INVALIDATE / overlapping UPDATE, batched and not
:class:`UnmapRaceSeq`      an unmap racing TX whose buffers it removes
:class:`BusErrorSeq`       host error responses on buffers, used rings, descriptor tables
:class:`StallCrossSeq`     AXI idle x backpressure, 2 x 2, under traffic
:class:`RxFloodSeq`        frames for a receive queue with no buffer, more than a device
                           holds, beside the other queues' traffic
=========================  ==============================================================

Covergroups: coverage.HOSTILE_GROUPS, each crossed with the device state an item met.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import ClassVar, TypeVar

from vdpa_model import ringcases, spec
from vdpa_model.flows import STATUS_FEATURES_OK
from vdpa_model.ops import IotlbRange
from vdpa_model.spec import bit

from .context import RAM_BASE, RAM_SIZE, WINDOW_SIZE, WINDOW_SLOTS, window
from .coverage import BUS_TARGETS, OP_STATES, RESET_KINDS, RING_CASES
from .items import BusErrorItem, OpItem, RingFaultItem, RxFloodItem, StallItem
from .sequences import VdpaBaseSeq

T = TypeVar("T")
ACK, DRIVER = spec.VIRTIO_CONFIG_S_ACKNOWLEDGE, spec.VIRTIO_CONFIG_S_DRIVER
DRIVER_OK = spec.VIRTIO_CONFIG_S_DRIVER_OK
UPDATE, INVALIDATE = spec.VHOST_IOTLB_UPDATE, spec.VHOST_IOTLB_INVALIDATE
BEGIN, END = spec.VHOST_IOTLB_BATCH_BEGIN, spec.VHOST_IOTLB_BATCH_END
RAM = IotlbRange(RAM_BASE, RAM_SIZE, RAM_BASE, spec.VHOST_ACCESS_RW)
#: catalogue entries whose ring is posted on a transmit queue (a device in NEEDS_RESET)
TX_RING_CASES = tuple(n for n in RING_CASES if ringcases.case(n).queue == "tx")
#: catalogue entries with a ring item across two IOTLB ranges the device must split
STRADDLE_CASES = tuple(n for n in RING_CASES if ringcases.case(n).straddles is not None)


class HostileSeq(VdpaBaseSeq):
    """Helpers every hostile sequence uses: weighted choices, the device driven to a state,
    traffic put in flight for a race."""

    #: what goes in flight before a racing op, and the chance each queue pair gets some of it
    DIRECTIONS: ClassVar[Mapping[str, int]] = {"tx": 1, "rx": 1, "both": 1}
    QP_SHARE = 0.6
    #: frames in flight per chosen queue, and clock cycles from the last kick to the racing op
    INFLIGHT_FRAMES = (1, 5)
    RACE_DELAY = (0, 2500)

    def pick(self, weights: Mapping[T, float]) -> T:
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def between(self, bounds: tuple[int, int]) -> int:
        return self.rng.randint(*bounds)

    @property
    def qps(self) -> int:
        return self.ctx.max_qps

    def state(self) -> str:
        return self.ctx.device_state()

    async def prepare_maps(self) -> None:
        """Guest RAM in ASID 0 and ASID 1 and the ring catalogue's windows in ASID 0, as the
        device holds them (re-mapped where a reset without IOTLB_PERSIST cleaned them)."""
        await self.open_and_map(asids=(0, 1))
        for r in self.ctx.layout.ranges():
            await self.map_once(r)

    async def fresh(self) -> None:
        """A reset unless the device is stopped with every group on ASID 0 (a binding made
        while stopped outlives DRIVER_OK otherwise, and the sequences assume ASID 0)."""
        if self.ctx.ref.status or any(self.ctx.shadow.group2asid):
            await self.op("set_status", 0, expect="ok")

    async def running(self, qsize: int = 64) -> None:
        # reset first: without IOTLB_PERSIST acked a reset cleans the maps just made
        await self.fresh()
        await self.prepare_maps()
        await self.bring_up(self.qps, qsize)

    async def drive_to(self, state: str, qsize: int = 64) -> None:
        """Put the device in ``state`` (coverage.DEVICE_STATES) the way a driver would, with
        the maps of :meth:`prepare_maps` in force."""
        if state == "stopped":
            await self.fresh()
            await self.prepare_maps()
        elif state == "configuring":
            # a random cut of the status handshake (virtio 1.2 §3.1.1 steps 2..5)
            await self.fresh()
            await self.prepare_maps()
            await self.op("set_status", ACK, expect="ok")
            if self.rng.random() < 0.6:
                await self.op("set_status", ACK | DRIVER, expect="ok")
            if self.ctx.ref.status & DRIVER and self.rng.random() < 0.6:
                await self.op("set_features", self.ctx.device_features, expect="ok")
                await self.op("set_status", STATUS_FEATURES_OK, expect="ok")
        else:
            await self.running(qsize)
            if state == "suspended":
                await self.op("suspend", expect="ok")
            elif state == "needs_reset":
                await self.send(RingFaultItem("ring_fault", self.rng.choice(TX_RING_CASES)))

    async def put_in_flight(self) -> None:
        """TX, RX or both in flight on random queue pairs: posted and kicked (frames offered
        to receive queues), not settled; a racing op and a ``settle`` item follow."""
        mode = self.pick(self.DIRECTIONS)
        kinds = {"tx": ("tx_inflight",), "rx": ("rx_inflight",),
                 "both": ("tx_inflight", "rx_inflight")}[mode]
        qps = [qp for qp in range(self.qps) if self.rng.random() < self.QP_SHARE]
        if mode == "both" and len(qps) < 2:
            qps = [0] if self.qps == 1 else self.rng.sample(range(self.qps), 2)
        for k, qp in enumerate(qps or [self.rng.randrange(self.qps)]):
            # with both, queue pairs take turns so TX and RX are each in flight somewhere
            for kind in kinds if mode != "both" else (kinds[k % 2],):
                await self.traffic(qp, kind, self.sizes(self.between(self.INFLIGHT_FRAMES)),
                                   self.rng.choice(("simple", "split", "indirect"))
                                   if kind == "tx_inflight" else "simple")

    async def traffic_everywhere(self, n: tuple[int, int] = (1, 3)) -> None:
        """TX and RX on every queue pair: the device still does its job."""
        for qp in range(self.qps):
            await self.traffic(qp, "tx", self.sizes(self.between(n)))
            await self.traffic(qp, "rx", self.sizes(self.between(n)))


class IllegalOpsSeq(HostileSeq):
    """Legal and illegal ops mixed, in every state a driver can put the device in. Each illegal
    op gets the errno drivers/vhost/vdpa.c gives it and changes nothing: the lockstep compares
    every answer, and traffic afterwards shows the device unharmed."""

    #: rounds per run; each drives the device to a state, then issues ops there
    ROUNDS = (2, 5)
    OPS_PER_ROUND = (2, 5)
    #: how often each illegal class (coverage.ILLEGAL_CLASSES) is picked; "legal" is a legal op
    WEIGHTS: ClassVar[Mapping[str, int]] = {
        "legal": 2, "wrong_state": 3, "bad_vq": 2, "bad_group": 1, "bad_asid": 2,
        "overlap_map": 1, "batch_misuse": 1}
    STATES: ClassVar[Mapping[str, int]] = {
        "stopped": 1, "configuring": 2, "running": 2, "suspended": 2}

    def past(self, limit: int) -> int:
        """An index out of range: just past the limit, a little further, or far beyond."""
        return self.rng.choice((limit, limit + 1, limit + 7, 0xFFFF))

    async def body(self) -> None:
        for _ in range(self.between(self.ROUNDS)):
            await self.drive_to(self.pick(self.STATES))
            for _ in range(self.between(self.OPS_PER_ROUND)):
                cls = self.pick(self.WEIGHTS)
                if cls == "wrong_state" and self.state() not in ("configuring", "running",
                                                                  "suspended"):
                    cls = "bad_vq"
                await getattr(self, cls)()
            if self.state() == "running":
                await self.traffic_everywhere((1, 2))
        await self.ensure_reset()

    async def legal(self) -> None:
        st = self.state()
        if st == "running":
            await self.traffic(self.rng.randrange(self.qps), "tx", self.sizes(2))
        elif st == "suspended":
            net = self.ctx.net
            assert net is not None
            vq = self.rng.choice(net.vqs)
            await self.op("get_vring_base", vq.index, expect="ok", expect_value=vq.used_idx)
        else:
            await self.op("get_status", expect="ok")

    async def wrong_state(self) -> None:
        """An op the state forbids: features after FEATURES_OK (EBUSY), a status clearing a
        set bit (EINVAL), ring address or base while running (EINVAL), SET_GROUP_ASID after
        DRIVER_OK without GROUP_ASID_AFTER_DRIVER_OK (EBUSY)."""
        st, status = self.state(), self.ctx.ref.status
        choices = ["status"]
        if status & spec.VIRTIO_CONFIG_S_FEATURES_OK:
            choices.append("features")
        if status & DRIVER_OK:
            choices.append("group")
            if st == "running":
                choices += ["addr", "base"]
        what = self.rng.choice(choices)
        cat = "illegal_op_cg/wrong_state"
        i = self.rng.randrange(2 * self.qps)
        if what == "status":
            low = status & -status
            new = status ^ low or DRIVER  # clears a set bit and is not 0 (0 would reset)
            await self.op("set_status", new, expect="EINVAL", category=cat)
        elif what == "features":
            await self.op("set_features", self.ctx.device_features, expect="EBUSY", category=cat)
        elif what == "group":
            await self.op("set_group_asid", self.rng.randrange(self.ctx.lock.ngroups),
                          self.rng.randrange(self.ctx.lock.nas), expect="EBUSY", category=cat)
        elif what == "addr":
            await self.op("set_vring_addr", i, RAM_BASE, RAM_BASE + 0x1000, RAM_BASE + 0x2000,
                          expect="EINVAL", category=cat)
        else:
            await self.op("set_vring_base", i, 0, expect="EINVAL", category=cat)

    async def bad_vq(self) -> None:
        """A per-VQ ioctl (or SET_GROUP_ASID, whose index goes through the same prologue) with
        an index >= nvqs: -ENOBUFS before anything else (vhost_vdpa_vring_ioctl)."""
        i = self.past(self.ctx.lock.nvqs)
        call, args = self.rng.choice([
            ("set_vring_num", (i, 64)), ("set_vring_addr", (i, 0x1000, 0x2000, 0x3000)),
            ("set_vring_base", (i, 0)), ("get_vring_base", (i,)),
            ("set_vring_enable", (i, True)), ("get_vring_group", (i,)),
            ("get_vring_desc_group", (i,)), ("set_group_asid", (i, 0))])
        await self.op(call, *args, expect="ENOBUFS", category="illegal_op_cg/bad_vq")

    async def bad_group(self) -> None:
        """SET_GROUP_ASID with ngroups <= group < nvqs: -EINVAL (T2)."""
        lock = self.ctx.lock
        g = self.rng.randrange(lock.ngroups, lock.nvqs)
        await self.op("set_group_asid", g, 0, expect="EINVAL", category="illegal_op_cg/bad_group")

    async def bad_asid(self) -> None:
        """An ASID >= nas: SET_GROUP_ASID (-EINVAL, before the DRIVER_OK check), an UPDATE
        (-EINVAL, vhost_vdpa_find_alloc_as), an INVALIDATE of an AS never allocated."""
        lock, cat = self.ctx.lock, "illegal_op_cg/bad_asid"
        a = self.past(lock.nas)
        what = self.rng.randrange(3)
        if what == 0:
            await self.op("set_group_asid", self.rng.randrange(lock.ngroups), a, expect="EINVAL",
                          category=cat)
        else:
            await self.iotlb(a, UPDATE if what == 1 else INVALIDATE, 0x9000_0000, 0x1000,
                             RAM_BASE, spec.VHOST_ACCESS_RW, expect="EINVAL", category=cat)

    async def overlap_map(self) -> None:
        """An UPDATE overlapping an entry vhost-vdpa holds: -EEXIST, no parent call."""
        asid = self.rng.randrange(2)
        # starts inside guest RAM (at an odd offset), of any length
        iova = RAM_BASE + self.rng.randrange(0, RAM_SIZE, 0x1000) + 0x800
        size = self.rng.choice((0x1000, 0x3000, RAM_SIZE))
        await self.iotlb(asid, UPDATE, iova, size, RAM_BASE, spec.VHOST_ACCESS_RW,
                         expect="EEXIST", category="illegal_op_cg/overlap_map")

    async def batch_misuse(self) -> None:
        """A message for another ASID while a batch is open: -EINVAL; the batch then ends."""
        await self.iotlb(0, BEGIN, expect="ok")
        kind = self.rng.choice((UPDATE, INVALIDATE, BEGIN))
        await self.iotlb(1, kind, 0x9000_0000, 0x1000, WINDOW_SIZE, spec.VHOST_ACCESS_RW,
                         expect="EINVAL", category="illegal_op_cg/batch_misuse")
        await self.iotlb(0, END, expect="ok")


class RingMixSeq(HostileSeq):
    """Malformed rings among healthy ones: a catalogue entry (coverage.RING_CASES) after
    healthy chains on its own queue and beside traffic on the others, all kicked together.
    The healthy work must all be done, the bad ring answered as the catalogue says."""

    CASES = (2, 4)
    #: healthy chains ahead of the bad one on its queue (entries that allow it)
    BEFORE = (0, 3)
    #: healthy frames on every other queue pair in the same settle
    ALONGSIDE = (0, 3)
    #: the chance an entry is one that puts a ring item across two IOTLB ranges, on purpose:
    #: few among many entries, they would otherwise come up rarely (coverage.STRADDLE_BINS)
    STRADDLE_SHARE = 0.3

    async def body(self) -> None:
        for _ in range(self.between(self.CASES)):
            kind = self.rng.choice(STRADDLE_CASES if self.rng.random() < self.STRADDLE_SHARE
                                   else RING_CASES)
            before = self.between(self.BEFORE) if ringcases.case(kind).prefix_ok else 0
            alongside = self.sizes(self.between(self.ALONGSIDE), 60) if self.qps > 1 else ()
            if not before and not alongside:
                # among healthy ones, or it is BadRingSeq's job
                if ringcases.case(kind).prefix_ok:
                    before = 1
                else:
                    alongside = self.sizes(1, 60)
            await self.running(32)
            await self.send(RingFaultItem("ring_fault", kind, before, alongside))
        await self.ensure_reset()


class SuspendStormSeq(HostileSeq):
    """Suspend / resume storms under traffic: work in flight on random queues (TX and RX), a
    suspend racing it, every vring base read (it must be the used index the guest sees),
    sometimes more work kicked while suspended (nothing may move), resume; at the end every
    queue's frames out or in, in order."""

    ROUNDS = (2, 5)
    #: chance of posting and kicking more TX while suspended
    KICK_WHILE_SUSPENDED = 0.5

    async def body(self) -> None:
        await self.running(64)
        net = self.ctx.net
        assert net is not None
        for _ in range(self.between(self.ROUNDS)):
            await self.put_in_flight()
            await self.op("suspend", expect="ok", race="suspend",
                          delay=self.between(self.RACE_DELAY))
            for vq in net.vqs:
                # the state that migrates is where the device stopped: the guest's used index
                await self.op("get_vring_base", vq.index, expect="ok", expect_value=vq.used_idx)
            if self.rng.random() < self.KICK_WHILE_SUSPENDED:
                await self.traffic(self.rng.randrange(self.qps), "tx_inflight",
                                   self.sizes(self.between(self.INFLIGHT_FRAMES)))
            await self.op("resume", expect="ok")
        await self.traffic(0, "settle", ())
        await self.ensure_reset()


class ResetMixSeq(HostileSeq):
    """Every reset kind in every state: status 0 through vhost-vdpa with IOTLB_PERSIST acked
    (the parent's reset: maps kept) or not (compat_reset CLEAN_MAP: the defaults back), the
    parent's reset, compat_reset with and without CLEAN_MAP, reset_map of each ASID. After
    each, the device comes back up and carries traffic, re-mapped only where the maps are gone
    (by the contract's record, never by asking the device)."""

    RESETS = (2, 5)
    KINDS: ClassVar[Mapping[str, int]] = dict.fromkeys(RESET_KINDS, 1)
    STATES: ClassVar[Mapping[str, int]] = {
        "configuring": 1, "running": 2, "suspended": 1, "needs_reset": 1}
    #: chance, when the device runs, that traffic is in flight and the reset races it
    RACE = 0.5
    #: the parent op each reset kind becomes (vdpa_reset: compat_reset when flags are set)
    PARENT_OP: ClassVar[Mapping[str, str]] = {
        "vhost_persist": "reset", "vhost_clean": "compat_reset", "reset": "reset",
        "compat_keep": "compat_reset", "compat_clean": "compat_reset",
        "reset_map_a0": "reset_map", "reset_map_a1": "reset_map"}

    async def body(self) -> None:
        for _ in range(self.between(self.RESETS)):
            st = self.pick(self.STATES)
            await self.drive_to(st)
            kind = self.pick(self.KINDS)
            cat = f"reset_mix_cg/{kind}"
            if kind.startswith("vhost"):
                offered = (await self.op("get_backend_features", expect="ok")).result
                wanted = offered & ~bit(spec.VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)
                if kind == "vhost_clean":
                    wanted &= ~bit(spec.VHOST_BACKEND_F_IOTLB_PERSIST)
                await self.op("set_backend_features", wanted, expect="ok")
            race = None
            if st == "running" and self.rng.random() < self.RACE:
                await self.put_in_flight()
                race = self.PARENT_OP[kind]
            timing = {"race": race, "delay": self.between(self.RACE_DELAY) if race else 0}
            if kind.startswith("vhost"):
                await self.op("set_status", 0, expect="ok", category=cat, **timing)
            elif kind == "reset":
                await self.op("reset", layer="ops", expect="ok", category=cat, **timing)
            elif kind.startswith("compat"):
                flags = spec.VDPA_RESET_F_CLEAN_MAP if kind == "compat_clean" else 0
                await self.op("compat_reset", flags, layer="ops", expect="ok", category=cat,
                              **timing)
            else:
                await self.op("reset_map", int(kind[-1]), layer="ops", expect="ok",
                              category=cat, **timing)
            if race:
                await self.traffic(0, "settle", ())
            if self.state() == "running":
                await self.traffic_everywhere((1, 2))  # reset_map while running: still works
            await self.running(32)
            await self.traffic_everywhere((1, 2))
        await self.ensure_reset()


class RebindSeq(HostileSeq):
    """Group and ASID rebinding: SET_GROUP_ASID of a random group to a random ASID in a random
    state, through vhost-vdpa (-EBUSY once DRIVER_OK is set, 2026 tree) or the parent op (takes
    effect at once, vdpasim_set_group_asid). Guest RAM is mapped in both ASIDs, so traffic goes
    on; every access is judged against the binding in force when it was made."""

    REBINDS = (3, 7)
    LAYERS: ClassVar[Mapping[str, int]] = {"vhost": 3, "ops": 1}
    STATES: ClassVar[Mapping[str, int]] = dict.fromkeys(OP_STATES, 1)
    #: chance that a rebinding through the parent op races traffic in flight
    RACE = 0.5

    async def body(self) -> None:
        lock = self.ctx.lock
        for _ in range(self.between(self.REBINDS)):
            st = self.pick(self.STATES)
            await self.drive_to(st)
            g, a = self.rng.randrange(lock.ngroups), self.rng.randrange(lock.nas)
            layer = self.pick(self.LAYERS)
            busy = layer == "vhost" and st in ("running", "suspended")
            race = layer == "ops" and st == "running" and self.rng.random() < self.RACE
            if race:
                await self.put_in_flight()
            await self.op("set_group_asid", g, a, layer=layer, expect="EBUSY" if busy else "ok",
                          category=f"rebind_cg/g{g}:a{a}",
                          race="set_group_asid" if race else None,
                          delay=self.between(self.RACE_DELAY) if race else 0)
            if race:
                await self.traffic(0, "settle", ())
            if st == "suspended":
                await self.op("resume", expect="ok")
            if self.state() == "running":
                await self.traffic_everywhere((1, 2))
        await self.ensure_reset()


class MapChurnSeq(HostileSeq):
    """Map churn: IOVA windows mapped and unmapped in both ASIDs, and UPDATEs overlapping what
    is mapped (-EEXIST), in batches and one message at a time, in every state; TX through the
    windows of ASID 0 that are mapped whenever the device runs; sometimes, at the end, a ring
    item across two IOTLB ranges among what the churn left mapped."""

    OPS = (4, 10)
    WEIGHTS: ClassVar[Mapping[str, int]] = {"map": 3, "unmap": 2, "overlap": 1}
    BATCHED = 0.5
    STATES: ClassVar[Mapping[str, int]] = dict.fromkeys(OP_STATES, 1)
    #: chance, when the device runs, that a map or unmap races traffic in flight (in guest
    #: RAM, which the window ops must not disturb)
    RACE = 0.3
    #: chance that the churn ends with a ring item across two IOTLB ranges (a catalogue
    #: straddle entry), posted among the ranges the churn left in force (ring_straddle_cg)
    STRADDLE = 0.5

    async def body(self) -> None:
        await self.drive_to(self.pick(self.STATES))
        for _ in range(self.between(self.OPS)):
            what, batch = self.pick(self.WEIGHTS), self.rng.random() < self.BATCHED
            mode = "batch" if batch else "single"
            asid, slot = self.rng.randrange(2), self.rng.randrange(WINDOW_SLOTS)
            w = window(slot)
            live = [(a, s) for a in range(2) for s in range(WINDOW_SLOTS)
                    if self.ctx.mapped(a, window(s))]
            race = (what != "overlap" and self.state() == "running"
                    and self.rng.random() < self.RACE)
            if race:
                await self.put_in_flight()
            if what == "unmap" and live:
                asid, slot = self.rng.choice(live)
                await self.unmap(asid, window(slot), batch, f"map_churn_cg/unmap:{mode}",
                                 "dma_unmap" if race else None)
            elif what == "overlap":
                r = window(live[0][1]) if live and self.rng.random() < 0.5 else RAM
                a = live[0][0] if r is not RAM else asid
                await self.overlap(a, r, batch, f"map_churn_cg/overlap:{mode}")
            elif not self.ctx.mapped(asid, w):
                await self.map_range(asid, w, batch, f"map_churn_cg/map:{mode}",
                                     "dma_map" if race else None)
            if race:
                await self.traffic(0, "settle", ())
            if self.state() == "running":
                for s in range(WINDOW_SLOTS):
                    if self.ctx.mapped(0, window(s)) and self.ctx.shadow.group2asid[0] == 0:
                        await self.traffic(self.rng.randrange(self.qps), "tx_inflight",
                                           self.sizes(self.between((1, 3)), 60, 1400),
                                           window=window(s).iova)
                        await self.traffic(0, "settle", ())
                        break
            if self.rng.random() < 0.2:
                await self.drive_to(self.pick(self.STATES))
        if self.rng.random() < self.STRADDLE:
            # bring-up maps only what is missing: the churned windows stay beside the split
            await self.running(32)
            alongside = self.sizes(self.between((1, 3)), 60) if self.qps > 1 else ()
            await self.send(RingFaultItem("ring_fault", self.rng.choice(STRADDLE_CASES), 0,
                                          alongside))
        await self.ensure_reset()

    async def unmap(self, asid: int, r: IotlbRange, batch: bool, category: str,
                    race: str | None = None) -> None:
        if batch:
            await self.iotlb(asid, BEGIN, expect="ok")
        await self.iotlb(asid, INVALIDATE, r.iova, r.size, expect="ok", category=category,
                         race=race, delay=self.between(self.RACE_DELAY) if race else 0)
        if batch:
            await self.iotlb(asid, END, expect="ok")

    async def overlap(self, asid: int, r: IotlbRange, batch: bool, category: str) -> None:
        if batch:
            await self.iotlb(asid, BEGIN, expect="ok")
        start = r.iova + self.rng.randrange(0, r.size, 0x1000)
        await self.iotlb(asid, UPDATE, start, 0x2000, WINDOW_SIZE, spec.VHOST_ACCESS_RW,
                         expect="EEXIST", category=category)
        if batch:
            await self.iotlb(asid, END, expect="ok")


class UnmapRaceSeq(HostileSeq):
    """Unmaps racing traffic: TX frames whose buffers lie in an IOVA window are kicked, and
    after a random delay the window is unmapped. The device may finish any prefix of them
    before the unmap takes effect; the rest must fault (EFAULT) and nothing may touch the
    window once the unmap returned. Sometimes traffic on another queue runs beside it."""

    RACES = (1, 3)
    FRAMES = (2, 8)
    #: clock cycles from the kick to the unmap
    DELAY = (0, 6000)
    BESIDE = 0.5

    async def body(self) -> None:
        for _ in range(self.between(self.RACES)):
            await self.running(64)
            w = window(self.rng.randrange(WINDOW_SLOTS))
            await self.map_once(w)
            qp = self.rng.randrange(self.qps)
            await self.traffic(qp, "tx_inflight", self.sizes(self.between(self.FRAMES), 60, 1400),
                               window=w.iova)
            others = "alone"
            if self.qps > 1 and self.rng.random() < self.BESIDE:
                other = self.rng.choice([q for q in range(self.qps) if q != qp])
                await self.traffic(other, self.rng.choice(("tx_inflight", "rx_inflight")),
                                   self.sizes(self.between((1, 4))))
                others = "beside_traffic"
            item = OpItem("iotlb", "process_iotlb_msg", (0, INVALIDATE, w.iova, w.size, 0, 0),
                          "vhost", "ok", race="dma_unmap", delay=self.between(self.DELAY))
            item.meta["others"] = others
            await self.send(item)
            await self.traffic(0, "settle", ())
        await self.ensure_reset()


class BusErrorSeq(HostileSeq):
    """Bus errors: the host answers a buffer, a used ring or a descriptor table with an error
    response (the testbench poisons it, the reference is told the same). The VQ that meets it
    faults with EIO after exactly what moved before it; traffic beside it is unharmed."""

    ERRORS = (1, 3)
    TARGETS: ClassVar[Mapping[str, int]] = dict.fromkeys(BUS_TARGETS, 1)
    #: healthy frames per other queue pair in the same settle; none half of the time
    ALONGSIDE = (1, 3)
    BESIDE = 0.5

    async def body(self) -> None:
        if not self.ctx.can_poison:
            return
        for _ in range(self.between(self.ERRORS)):
            await self.running(32)
            side = (self.sizes(self.between(self.ALONGSIDE), 60)
                    if self.qps > 1 and self.rng.random() < self.BESIDE else ())
            await self.send(BusErrorItem("bus_error", self.pick(self.TARGETS),
                                         self.rng.randrange(self.qps), side))
        await self.ensure_reset()


class StallCrossSeq(HostileSeq):
    """AXI and AXI-Stream idle cycles x backpressure, 2 x 2, each with TX and RX on random
    queue pairs; the stalls are left as the last combination chose."""

    FRAMES = (1, 4)

    async def body(self) -> None:
        if not self.ctx.can_stall:
            return
        await self.running(64)
        combos = [(i, b) for i in (False, True) for b in (False, True)]
        self.rng.shuffle(combos)
        for idle, bp in combos:
            await self.send(StallItem("stalls", idle, bp))
            for direction in ("tx", "rx"):
                await self.traffic(self.rng.randrange(self.qps), direction,
                                   self.sizes(self.between(self.FRAMES)),
                                   self.rng.choice(("simple", "split", "indirect")))


class RxFloodSeq(HostileSeq):
    """A receive queue with no buffer posted flooded with frames (a few, or more than any
    receive buffer holds), beside frames for the other queue pairs half of the time; then its
    buffers. A device that keeps such frames only while it has room drops the oldest, never
    another queue's; whatever it drops, the other queues get every frame at once."""

    FLOODS = (2, 4)
    #: frames for the starved queue, a few or well past a device's receive slots, half and half
    FLOOD_FRAMES: ClassVar[Mapping[tuple[int, int], int]] = {(1, 3): 1, (6, 14): 1}
    #: frames for each other queue pair alongside, and the chance of any
    BESIDE_FRAMES = (1, 4)
    BESIDE = 0.5

    async def body(self) -> None:
        await self.running(64)
        for _ in range(self.between(self.FLOODS)):
            beside = (self.sizes(self.between(self.BESIDE_FRAMES), 60, 600)
                      if self.qps > 1 and self.rng.random() < self.BESIDE else ())
            await self.send(RxFloodItem("rx_flood", self.rng.randrange(self.qps),
                                        self.sizes(self.between(self.pick(self.FLOOD_FRAMES)),
                                                   60, 600),
                                        beside, self.rng.getrandbits(32)))


#: the hostile sequences the virtual sequence mixes, and how often each is picked
HOSTILE_WEIGHTS: dict[type[HostileSeq], int] = {
    IllegalOpsSeq: 2, RingMixSeq: 2, SuspendStormSeq: 3, ResetMixSeq: 2, RebindSeq: 2,
    MapChurnSeq: 2, UnmapRaceSeq: 2, BusErrorSeq: 2, StallCrossSeq: 1, RxFloodSeq: 1,
}


class HostileMixSeq(HostileSeq):
    """The virtual sequence: hostile sequences in a random order and number on one device
    life, each with a random stream of its own drawn from this one, the bus stalls switched
    between them at random (so races and faults also meet idle and backpressure)."""

    LENGTH = (5, 9)
    WEIGHTS: ClassVar[Mapping[type[HostileSeq], int]] = HOSTILE_WEIGHTS
    #: chance of a new idle/backpressure combination before each sub-sequence
    STALL_SWITCH = 0.3

    async def body(self) -> None:
        for _ in range(self.between(self.LENGTH)):
            if self.ctx.can_stall and self.rng.random() < self.STALL_SWITCH:
                await self.send(StallItem("stalls", self.rng.random() < 0.5,
                                          self.rng.random() < 0.5))
            cls = self.pick(self.WEIGHTS)
            seq = cls(rng=random.Random(self.rng.getrandbits(32)))
            await seq.start(self.sequencer)

