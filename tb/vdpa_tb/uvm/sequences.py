# SPDX-License-Identifier: MIT
"""Sequences of the vDPA agent, one per feature (``<Feature>Seq``).

Sequences play QEMU and the guest: they decide which ioctls to issue and which frames to send,
and state what the contract promises (an errno, a returned value the guest can predict), never
what the device happened to return. Ring addresses come from the guest driver model the
sequence creates through the context, as the guest allocates its own rings.
"""

from __future__ import annotations

import random
from typing import Any

from pyuvm import ConfigDB, uvm_sequence

from vdpa_model import ringcases, spec
from vdpa_model.flows import STATUS_FEATURES_OK, STATUS_RUNNING
from vdpa_model.ops import IotlbRange, VqState
from vdpa_model.spec import bit

from . import config as K
from .context import RAM_BASE, RAM_SIZE, DeviceContext
from .coverage import LAYOUTS, RING_CASES
from .items import OpItem, RingFaultItem, TrafficItem

EVENT_IDX = bit(spec.VIRTIO_RING_F_EVENT_IDX)
INDIRECT = bit(spec.VIRTIO_RING_F_INDIRECT_DESC)
MQ = bit(spec.VIRTIO_NET_F_MQ)
#: one frame size per coverage bucket: small, medium, near the MTU
BUCKET_SIZES = ((60, 128), (129, 1023), (1024, 1514))


class StimulusStopped(Exception):
    """The lockstep stopped (a divergence, or a bench checker fired): nothing more can be
    compared, so the sequence ends there and the scoreboard reports what happened."""


class VdpaBaseSeq(uvm_sequence):
    """Helpers to issue items; every item waits for completion so the next can use results."""

    def __init__(self, name: str = "", **kw: Any) -> None:
        super().__init__(name or type(self).__name__)
        self.kw = kw

    @property
    def ctx(self) -> DeviceContext:
        return ConfigDB().get(None, "", K.DEVICE_CTX)

    @property
    def rng(self) -> random.Random:
        """This sequence's random choices: from the ``rng`` a virtual sequence handed it, else
        from the test's seed (so COCOTB_RANDOM_SEED reproduces a run)."""
        if not hasattr(self, "_rng"):
            given = self.kw.get("rng")
            self._rng = given if given is not None else \
                random.Random(ConfigDB().get(None, "", K.SEQ_SEED))
        return self._rng

    async def send(self, item: Any) -> Any:
        await self.start_item(item)
        await self.finish_item(item)
        if self.ctx.broken:
            raise StimulusStopped(self.ctx.broken)
        return item

    async def op(self, call: str, *args: Any, layer: str = "vhost", expect: str | None = None,
                 expect_value: Any = None, race: str | None = None, category: str = "",
                 delay: int = 0) -> OpItem:
        return await self.send(OpItem(call, call, args, layer, expect, expect_value, race,
                                      category, delay))

    async def traffic(self, qp: int, direction: str, sizes: tuple[int, ...],
                      layout: str = "simple", window: int | None = None) -> TrafficItem:
        return await self.send(TrafficItem("traffic", qp, direction, sizes, layout,
                                           self.rng.getrandbits(32), window))

    def sizes(self, n: int, lo: int = 1, hi: int = 1514) -> tuple[int, ...]:
        return tuple(self.rng.randint(lo, hi) for _ in range(n))

    async def open_and_map(self, persist: bool = True, asids: tuple[int, ...] = (0,)) -> None:
        """flows.open_device + map_guest_memory, as items: open and negotiate backend features
        (IOTLB_PERSIST only with ``persist``) once per device, then one batched map of guest
        RAM per ASID not mapped yet (vhost-vdpa refuses a second map of the same range)."""
        c = self.ctx
        if not c.opened:
            c.opened = True
            await self.op("open", expect="ok")
            offered = (await self.op("get_backend_features", expect="ok")).result
            wanted = offered & ~bit(spec.VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)
            if not persist:
                wanted &= ~bit(spec.VHOST_BACKEND_F_IOTLB_PERSIST)
            await self.op("set_backend_features", wanted, expect="ok")
        for asid in asids:
            await self.map_once(IotlbRange(RAM_BASE, RAM_SIZE, RAM_BASE, spec.VHOST_ACCESS_RW),
                                asid)

    async def map_layout(self) -> None:
        """Guest RAM and the ring catalogue's windows in ASID 0 (read-only, split)."""
        await self.open_and_map()
        for r in self.ctx.layout.ranges():
            await self.map_once(r)

    async def map_once(self, r: IotlbRange, asid: int = 0) -> None:
        """``r`` mapped in ``asid`` unless the device already has it (by the contract's record)."""
        if not self.ctx.mapped(asid, r):
            await self.map_range(asid, r)

    async def map_range(self, asid: int, r: IotlbRange, batch: bool = True,
                        category: str = "", race: str | None = None) -> None:
        """UPDATE ``r`` into ``asid`` through vhost-vdpa, in a batch or not. An entry vhost-vdpa
        still holds there that the device lost (a reset without IOTLB_PERSIST cleans the
        parent, not vhost-vdpa's own table: vdpa-semantics.md §3.5) is invalidated first, as
        userspace re-mapping after such a reset must."""
        for old in self.vhost_overlaps(asid, r):
            await self.iotlb(asid, spec.VHOST_IOTLB_INVALIDATE, old.iova, old.size, expect="ok")
        if batch:
            await self.iotlb(asid, spec.VHOST_IOTLB_BATCH_BEGIN, expect="ok")
        await self.iotlb(asid, spec.VHOST_IOTLB_UPDATE, r.iova, r.size, r.pa, r.perm,
                         expect="ok", category=category, race=race)
        if batch:
            await self.iotlb(asid, spec.VHOST_IOTLB_BATCH_END, expect="ok")

    def vhost_overlaps(self, asid: int, r: IotlbRange) -> list[IotlbRange]:
        """Entries of vhost-vdpa's own table for ``asid`` that overlap ``r``."""
        table = self.ctx.v.as_tables.get(asid)
        return [] if table is None else [x for x in table.ranges()
                                         if x.iova <= r.last and r.iova <= x.last]

    async def iotlb(self, asid: int, msg_type: int, iova: int = 0, size: int = 0, pa: int = 0,
                    perm: int = 0, *, expect: str | None = None, category: str = "",
                    race: str | None = None, delay: int = 0) -> OpItem:
        """One IOTLB message (vhost_vdpa_process_iotlb_msg, the kernel's own errno)."""
        return await self.send(OpItem("iotlb", "process_iotlb_msg",
                                      (asid, msg_type, iova, size, pa, perm), "vhost", expect,
                                      None, race, category, delay))

    async def ensure_reset(self) -> None:
        """A running device is reset first, as QEMU's vhost_dev_stop does before a restart
        (vhost-vdpa refuses a status that clears bits)."""
        if (await self.op("get_status", expect="ok")).result:
            await self.op("set_status", 0, expect="ok")

    async def bring_up(self, qps: int, qsize: int = 64, features: int | None = None) -> None:
        """flows.start_device as items: status handshake, features, per-VQ num/addr/base,
        enable, DRIVER_OK; the guest driver gets new rings."""
        feats = self.ctx.device_features if features is None else features
        await self.ensure_reset()
        net = self.ctx.new_net(qps, qsize, feats)
        await self.op("set_status", spec.VIRTIO_CONFIG_S_ACKNOWLEDGE, expect="ok")
        await self.op("set_status", spec.VIRTIO_CONFIG_S_ACKNOWLEDGE | spec.VIRTIO_CONFIG_S_DRIVER,
                      expect="ok")
        await self.op("set_features", feats, expect="ok")
        await self.op("set_status", STATUS_FEATURES_OK, expect="ok")
        st = await self.op("get_status", expect="ok")
        assert st.result & spec.VIRTIO_CONFIG_S_FEATURES_OK, "device refused FEATURES_OK"
        for vq in net.vqs:
            await self.op("set_vring_num", vq.index, vq.num, expect="ok")
            await self.op("set_vring_addr", vq.index, vq.desc_area, vq.driver_area,
                          vq.device_area, expect="ok")
            await self.op("set_vring_base", vq.index, vq.used_idx, expect="ok")
            await self.op("set_vring_enable", vq.index, True, expect="ok")
        await self.op("set_status", STATUS_RUNNING, expect="ok")


class BringUpSeq(VdpaBaseSeq):
    """Open, map guest RAM, start ``qps`` queue pairs, one frame each way per queue pair."""

    async def body(self) -> None:
        qps = self.kw.get("qps", 2)
        await self.open_and_map()
        await self.bring_up(qps, self.kw.get("qsize", 64))
        for qp in range(qps):
            await self.traffic(qp, "tx", self.sizes(1))
            await self.traffic(qp, "rx", self.sizes(1))


class TrafficSeq(VdpaBaseSeq):
    """Every layout x size bucket x direction on two queue pairs (needs BringUpSeq first)."""

    async def body(self) -> None:
        for layout in LAYOUTS:
            for qp, direction in ((0, "tx"), (0, "rx"), (1, "tx"), (1, "rx")):
                sizes = tuple(self.rng.randint(lo, hi) for lo, hi in BUCKET_SIZES)
                await self.traffic(qp, direction, sizes, layout)


class FeatureSeq(VdpaBaseSeq):
    """Each EVENT_IDX x INDIRECT_DESC x MQ combination: reset, negotiate, traffic with the
    layouts the features allow (indirect only with INDIRECT_DESC, a second pair only with MQ)."""

    async def body(self) -> None:
        base = self.ctx.device_features
        await self.open_and_map()
        for ev in (True, False):
            for ind in (True, False):
                for mq in (True, False):
                    feats = base & ~(EVENT_IDX | INDIRECT | MQ)
                    feats |= (EVENT_IDX if ev else 0) | (INDIRECT if ind else 0) | (MQ if mq else 0)
                    await self.op("set_status", 0, expect="ok")
                    qps = 2 if mq else 1
                    await self.bring_up(qps, 32, feats)
                    layout = "indirect" if ind else "split"
                    for qp in range(qps):
                        await self.traffic(qp, "tx", self.sizes(3), layout)
                        await self.traffic(qp, "rx", self.sizes(2), layout)


class SuspendResumeSeq(VdpaBaseSeq):
    """Suspend with traffic behind, kick while suspended (nothing may move), read the vring
    bases (must equal the guest's used index), resume (held work drains in order), and a
    SUSPEND -> set_vq_state -> RDY round trip on a queue."""

    async def body(self) -> None:
        await self.open_and_map()
        await self.bring_up(2)
        net = self.ctx.net
        assert net is not None
        await self.traffic(0, "tx", self.sizes(5))
        await self.traffic(1, "rx", self.sizes(3))
        await self.op("suspend", expect="ok")
        for vq in net.vqs:
            # the state that migrates is where the device stopped: the guest sees it as used.idx
            await self.op("get_vring_base", vq.index, expect="ok", expect_value=vq.used_idx)
        await self.traffic(0, "tx_held", self.sizes(3))
        await self.op("get_vring_base", 1, expect="ok", expect_value=net.tx_vq(0).used_idx)
        await self.op("resume", expect="ok")
        await self.traffic(0, "tx_drain", ())
        await self.op("get_vring_base", 1, expect="ok", expect_value=net.tx_vq(0).used_idx)
        for _ in range(2):
            await self.op("suspend", expect="ok")
            await self.op("get_vq_state", 3, layer="ops", expect="ok",
                          expect_value=VqState(net.tx_vq(1).used_idx))
            await self.op("resume", expect="ok")
            await self.traffic(1, "tx", self.sizes(2))


class ResetSeq(VdpaBaseSeq):
    """Reset keeping maps (IOTLB_PERSIST acked: reset) and cleaning them (compat_reset with
    CLEAN_MAP, directly and through vhost-vdpa once PERSIST is no longer acked), each with the
    data rings' group bound to ASID 0 and to ASID 1. After a persisting reset, traffic runs
    without remapping; after a cleaning one, on the identity default of ASID 0. Run last in a
    device life: after it vhost-vdpa's own tables no longer match the device's (the very
    problem IOTLB_PERSIST exists for)."""

    async def body(self) -> None:
        await self.open_and_map(persist=True, asids=(0, 1))
        await self.ensure_reset()
        for rings_asid in (0, 1):
            await self.op("set_group_asid", 2, rings_asid, expect="ok")
            await self.bring_up(1, 32)
            await self.traffic(0, "tx", self.sizes(2))
            await self.op("set_status", 0, expect="ok")  # reset, maps kept
            await self.op("set_group_asid", 2, rings_asid, expect="ok")
            await self.bring_up(1, 32)
            await self.traffic(0, "tx", self.sizes(2))  # no remap needed
            await self.traffic(0, "rx", self.sizes(2))
            await self.op("set_status", 0, expect="ok")
        await self.op("set_group_asid", 2, 1, expect="ok")
        await self.op("compat_reset", spec.VDPA_RESET_F_CLEAN_MAP, layer="ops", expect="ok")
        await self.bring_up(1, 32)
        await self.traffic(0, "tx", self.sizes(2))  # ASID 0 is back to its default
        # userspace that does not ack IOTLB_PERSIST: vhost-vdpa resets with CLEAN_MAP
        offered = (await self.op("get_backend_features", expect="ok")).result
        await self.op("set_backend_features",
                      offered & ~bit(spec.VHOST_BACKEND_F_IOTLB_PERSIST)
                      & ~bit(spec.VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK), expect="ok")
        await self.op("set_status", 0, expect="ok")
        await self.op("set_group_asid", 2, 1, expect="ok")
        await self.op("set_status", 0, expect="ok")  # cleans with the rings' group on ASID 1
        # ASID 1 lost its maps and only ASID 0 has an identity default: rings stay in ASID 0
        await self.bring_up(1, 32)
        await self.traffic(0, "rx", self.sizes(2))
        await self.op("set_status", 0, expect="ok")
        await self.op("reset_map", 1, layer="ops", expect="ok")


class DescAsidSeq(VdpaBaseSeq):
    """Rings in their own ASID: guest RAM mapped in ASID 0 for buffers and ASID 1 for the
    data rings (group 2 bound to ASID 1), traffic, then ASID 1's map of the buffers dropped
    while buffers keep working (they never go through ASID 1). Isolation is judged by the
    scoreboard from the shadow's bindings."""

    async def body(self) -> None:
        await self.open_and_map(asids=(0, 1))
        await self.ensure_reset()  # group bindings change before DRIVER_OK only
        await self.op("set_group_asid", 2, 1, expect="ok")
        await self.bring_up(2, 32)
        await self.op("get_vring_group", 1, expect="ok")
        await self.op("get_vring_desc_group", 1, expect="ok")
        for qp in range(2):
            await self.traffic(qp, "tx", self.sizes(3), "indirect")
            await self.traffic(qp, "rx", self.sizes(2))
        await self.op("set_status", 0, expect="ok")


class BadRingSeq(VdpaBaseSeq):
    """Each ring catalogue entry of :data:`RING_CASES` once per device life: bring up, post
    the entry's ring, expect the catalogue's answer (errno and fault site, NEEDS_RESET), check
    the other transmit queue still works, and the entry's own queue too where the entry is
    accepted (on the driver's own rings again if the entry moved them), reset."""

    async def body(self) -> None:
        await self.map_layout()
        parent = self.ctx.ref.options.parent
        for kind in RING_CASES:
            await self.bring_up(2, 32)
            await self.send(RingFaultItem("ring_fault", kind))
            await self.traffic(1, "tx", self.sizes(2))
            case = ringcases.case(kind)
            if case.expected_errno(parent) is None:
                await self.traffic(0, case.queue, self.sizes(2))
            await self.op("set_status", 0, expect="ok")


class OpsSweepSeq(VdpaBaseSeq):
    """Every VdpaOps call with good and out-of-range arguments, straight to the device stack:
    both devices must answer alike (the lockstep), and where the contract fixes an errno the
    sequence expects it."""

    async def body(self) -> None:
        c = self.ctx
        n = c.lock.nvqs
        maxq = None
        for call in ("get_vq_num_max", "get_device_id", "get_generation", "get_config_size",
                     "get_iova_range", "get_backend_features", "get_device_features",
                     "get_status", "get_driver_features"):
            it = await self.op(call, layer="ops", expect="ok")
            if call == "get_vq_num_max":
                maxq = it.result
        assert maxq
        await self.op("get_config", 0, 12, layer="ops", expect="ok")
        einval = [
            ("get_vq_size", (n,)), ("get_vq_group", (n,)), ("get_vq_desc_group", (n,)),
            ("get_vq_state", (n + 3,)), ("set_vq_num", (1, 48)), ("set_vq_num", (1, 0)),
            ("set_vq_num", (1, 2 * maxq)), ("set_group_asid", (c.lock.ngroups, 0)),
            ("set_group_asid", (0, c.lock.nas)), ("reset_map", (c.lock.nas,)),
            ("set_vq_state", (1, VqState(70000))), ("set_vq_address", (n, 0, 0, 0)),
            ("set_vq_ready", (n, True)), ("get_vq_ready", (n,)),
        ]
        for call, args in einval:
            await self.op(call, *args, layer="ops", expect="EINVAL")
        for call, args in [("get_vq_size", (0,)), ("get_vq_group", (1,)),
                           ("get_vq_desc_group", (1,)), ("get_vq_ready", (1,))]:
            await self.op(call, *args, layer="ops", expect="ok")
        # a mapping without permission is invalid; set_driver_features(0) is left to the
        # lockstep (its answer is parent-specific, both devices must agree)
        await self.op("dma_map", 0, 0x1000, 0x1000, 0x1000, 0, layer="ops", expect="EINVAL")
        await self.op("set_driver_features", 0, layer="ops")
        await self.open_and_map()
        await self.bring_up(1, 32)
        await self.op("dma_map", 0, RAM_BASE + RAM_SIZE + 0x10000, 0x1000, 0x5000,
                      spec.VHOST_ACCESS_RW, layer="ops", expect="ok")
        await self.op("dma_unmap", 0, RAM_BASE + RAM_SIZE + 0x10000, 0x1000, layer="ops",
                      expect="ok")
        await self.traffic(0, "tx", self.sizes(2))
        await self.op("set_vq_ready", 1, False, layer="ops", expect="ok")
        await self.op("get_vq_ready", 1, layer="ops", expect="ok", expect_value=False)
        await self.op("set_vq_ready", 1, True, layer="ops", expect="ok")
        await self.traffic(0, "tx", self.sizes(2))
        await self.op("reset", layer="ops", expect="ok")


class RandomMixSeq(VdpaBaseSeq):
    """Seeded random rounds over all queue pairs: TX/RX with random layout and size, suspend /
    read bases / resume on 64-entry rings, ending with every base checked."""

    async def body(self) -> None:
        rounds = ConfigDB().get(None, "", K.RANDOM_ROUNDS)
        qps = min(self.kw.get("qps", 4), self.ctx.max_qps)
        await self.open_and_map()
        await self.bring_up(qps, 64)
        net = self.ctx.net
        assert net is not None
        for rnd in range(rounds + 1):
            # the last round always suspends and reads every base: after random traffic the
            # state that would migrate must still be exactly the guest's used indices
            last = rnd == rounds
            action = "suspend" if last else self.rng.choice(["tx", "tx", "rx", "rx", "suspend"])
            qp = self.rng.randrange(qps)
            layout = self.rng.choice(LAYOUTS)
            if action == "suspend":
                await self.op("suspend", expect="ok")
                for idx in range(2 * qps) if last else [self.rng.randrange(2 * qps)]:
                    await self.op("get_vring_base", idx, expect="ok",
                                  expect_value=net.vqs[idx].used_idx)
                await self.op("resume", expect="ok")
            else:
                await self.traffic(qp, action, self.sizes(self.rng.randint(1, 4)), layout)


class FullSeq(VdpaBaseSeq):
    """Every feature sequence in turn on one device (each starts from a reset), for the
    coverage-closure test."""

    async def body(self) -> None:
        for seq in (OpsSweepSeq, BringUpSeq, TrafficSeq, SuspendResumeSeq, DescAsidSeq,
                    FeatureSeq, BadRingSeq, ResetSeq):
            await seq().start(self.sequencer)
