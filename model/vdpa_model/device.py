# SPDX-License-Identifier: MIT
"""The reference vDPA net device: the golden implementation of :class:`vdpa_model.ops.VdpaOps`.

It behaves as a parent driver plus its hardware would, seen from drivers/vhost/vdpa.c: the
checks that vhost-vdpa itself makes live in :mod:`vdpa_model.vhost`, not here, so that a device
under test is scored on exactly what a parent is responsible for. Where the two in-tree parents
differ, :class:`vdpa_model.options.DeviceOptions` chooses (mlx5_vnet.c by default).

Work happens when :meth:`ReferenceDevice.process` runs, never inside an op, the way a hardware
engine runs beside its command interface: ``kick_vq`` only rings a doorbell.

What the parent would ask its firmware to do for each op is decided by the parent's
firmware-work model (:mod:`vdpa_model.fwmodel`, mlx5_vnet.c for the mlx5 parent) and recorded as
``fw`` records when a trace is attached (:attr:`ReferenceDevice.trace`); it never changes what
the device does, except where mlx5 itself behaves differently (no resume op without resumable
firmware; DRIVER_OK starting the first queue pair only, with ``driver_ok_first_qp_only``).
"""

from __future__ import annotations

import collections
import dataclasses
import errno
from collections.abc import Sequence

from .ctrl import serve_control
from .datapath import Chain, RingError, SegmentMover, SplitRing
from .dma import AccessKind, AccessLog, BusError, DmaPort, PoisonedDmaPort
from .errors import fail
from .fwmodel import CVQ_GROUP, DATAVQ_DESC_GROUP, DATAVQ_GROUP, firmware_for
from .hostmem import Backing
from .iotlb import AddressSpace, Iotlb, check_perm
from .memory import GuestMemory
from .ops import (
    DeviceFault,
    DeviceHarness,
    IotlbRange,
    IovaRange,
    TxPacket,
    VdpaOps,
    VqObjectState,
    VqState,
)
from .options import DeviceOptions, Parent
from .spec import (
    U16_MASK,
    VDPA_RESET_F_CLEAN_MAP,
    VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK,
    VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK,
    VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_NEEDS_RESET,
    VIRTIO_F_ACCESS_PLATFORM,
    VIRTIO_ID_NET,
    VIRTIO_NET_CONFIG_STRUCT,
    VIRTIO_NET_F_CTRL_VLAN,
    VIRTIO_NET_F_CTRL_VQ,
    VIRTIO_NET_F_MQ,
    VIRTIO_NET_HDR_NUM_BUFFERS_STRUCT,
    VIRTIO_NET_HDR_V1_LEN,
    VIRTIO_NET_MAX_FRAME,
    VIRTIO_NET_S_LINK_UP,
    VIRTIO_RING_F_EVENT_IDX,
    bit,
    net_hdr_len,
)
from .trace import Trace

# Group numbers (defined with the mlx5 parent model; vdpa_sim uses the first two the same way:
# vdpasim_get_vq_group: data 0, CVQ 1). Re-exported here, where parent drivers import them.
__all__ = ["CVQ_GROUP", "DATAVQ_DESC_GROUP", "DATAVQ_GROUP", "ReferenceDevice", "Virtqueue"]

# Bound once for the engine's per-descriptor check (Enum class-attribute lookups are slow).
_RDY = VqObjectState.RDY
_F_CTRL_VQ = bit(VIRTIO_NET_F_CTRL_VQ)


@dataclasses.dataclass(slots=True)
class Virtqueue:
    """One VQ: what the driver configured, and the hardware object built from it."""

    index: int
    num: int
    desc_area: int = 0
    driver_area: int = 0
    device_area: int = 0
    ready: bool = False
    state: VqObjectState = VqObjectState.INIT
    last_avail: int = 0
    #: avail.idx as last read: chains up to it are fetched without re-reading it, as
    #: drivers/vhost/vhost.c: vhost_get_vq_desc does with vq->avail_idx.
    avail_seen: int = 0
    used_idx: int = 0
    doorbell: bool = False
    #: a call eventfd is bound (set_vq_cb); the model counts notifications instead of raising them
    callback: bool = False
    #: ring geometry applied when the object last started (mlx5 applies modified fields at the
    #: INIT/SUSPEND → RDY modify; vdpa_sim rebuilds vringh on ready false → true).
    ring: SplitRing | None = None
    #: the data mover over the same data group (the other side of the ring-format boundary)
    mover: SegmentMover | None = None
    notifications: int = 0
    completed: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    #: frames from the wire waiting for a buffer, oldest first: (arrival number, frame), the
    #: frame None where the device under test dropped it (ReferenceDevice.rx_evicted)
    rx_frames: collections.deque[tuple[int, bytes | None]] = dataclasses.field(
        default_factory=collections.deque)


class ReferenceDevice(VdpaOps, DeviceHarness):
    """A vDPA virtio-net device in pure Python, over a shared :class:`GuestMemory`."""

    def __init__(self, mem: GuestMemory, options: DeviceOptions | None = None,
                 log: AccessLog | None = None, *, trace: Trace | None = None,
                 backing: Backing | None = None) -> None:
        self.options = opts = options or DeviceOptions()
        self.mem = mem
        self.log = log if log is not None else AccessLog()
        self.nvqs = 2 * opts.queue_pairs + 1
        self.ngroups = opts.ngroups
        self.nas = opts.nas
        self.spaces = [AddressSpace(a, identity=a in opts.identity_asids) for a in range(opts.nas)]
        self.group2asid = [0] * self.ngroups
        self.vqs = [Virtqueue(i, opts.max_queue_size) for i in range(self.nvqs)]
        self.status = 0
        self.features = 0
        self.generation = 0
        self.suspended = False
        self.config_notifications = 0
        self.mac = opts.mac
        self._cur_qps = 1
        #: VLAN filter the control VQ keeps (mlx5: one steering rule pair per id)
        self.vlans: set[int] = set()
        self._tx: list[TxPacket] = []
        self._faults: list[DeviceFault] = []
        #: frames offered by the wire so far, mod 2^16: the next frame's arrival number
        self._rx_arrivals = 0
        #: arrival numbers of recent frames this reference dropped undelivered itself (DRIVER_OK
        #: clear at arrival, too big for the buffer, held at a reset): a device under test may
        #: report dropping one of them to make room before it learned of the same end
        self._rx_gone: collections.deque[int] = collections.deque(maxlen=4096)
        #: host-physical ranges that answer DMA with an error (:meth:`poison`)
        self.bus_errors: list[tuple[int, int]] = []
        #: the parent's firmware-work model; ``backing`` is the host memory behind the
        #: addresses (region geometry, :mod:`vdpa_model.hostmem`), 4 KiB runs if None
        self.fw = firmware_for(opts.parent.value, opts, 2 * opts.queue_pairs,
                               opts.device_features, trace, backing)
        self.fw.device_add()

    @property
    def trace(self) -> Trace | None:
        """Where the parent's ``fw`` records go (None: not recorded)."""
        return self.fw.trace

    @trace.setter
    def trace(self, trace: Trace | None) -> None:
        self.fw.trace = trace

    def collect_garbage(self) -> None:
        """Run the parent's deferred region destruction now (mlx5's MR collector)."""
        self.fw.collect_garbage()

    @property
    def cur_queue_pairs(self) -> int:
        """Queue pairs in use, as the control VQ's MQ_VQ_PAIRS_SET last set them."""
        return self._cur_qps

    @cur_queue_pairs.setter
    def cur_queue_pairs(self, pairs: int) -> None:
        self._cur_qps = pairs
        if self.options.driver_ok_first_qp_only and self.driver_ok and not self.suspended:
            for vq in self.vqs[:2 * self.options.queue_pairs]:
                if vq.index < 2 * pairs:
                    if vq.ready and vq.state in (VqObjectState.INIT, VqObjectState.SUSPEND):
                        self._start(vq)
                elif vq.state is VqObjectState.RDY:
                    vq.state = VqObjectState.SUSPEND  # change_num_qps: suspend_vqs of the rest

    def _active(self, vq: Virtqueue) -> bool:
        """Whether ``vq`` may run: every VQ, or with driver_ok_first_qp_only only the queue pairs
        in use (and the CVQ)."""
        return (not self.options.driver_ok_first_qp_only or self.is_cvq(vq.index)
                or vq.index < 2 * self._cur_qps)
    # ======================================================================================
    # helpers
    # ======================================================================================
    def _vq(self, idx: int, op: str) -> Virtqueue:
        if not 0 <= idx < self.nvqs:
            raise fail(errno.EINVAL, op, f"vq index {idx} out of range 0..{self.nvqs - 1}")
        return self.vqs[idx]

    def _asid(self, asid: int, op: str) -> AddressSpace:
        if not 0 <= asid < self.nas:
            raise fail(errno.EINVAL, op, f"asid {asid} out of range 0..{self.nas - 1}")
        return self.spaces[asid]

    @property
    def driver_ok(self) -> bool:
        return bool(self.status & VIRTIO_CONFIG_S_DRIVER_OK)

    def cvq_index(self) -> int:
        """mlx5_vnet.c: ctrl_vq_idx: 2 without MQ, ``2 * max_qps`` with MQ negotiated."""
        if self.features & bit(VIRTIO_NET_F_MQ):
            return 2 * self.options.queue_pairs
        return 2

    def is_cvq(self, idx: int) -> bool:
        return bool(self.features & _F_CTRL_VQ) and idx == self.cvq_index()

    def group_of(self, idx: int) -> int:
        if self.options.parent is Parent.SIM:
            # vdpasim_get_vq_group: "if (idx == 2) return 1", the last VQ, whatever the features.
            return CVQ_GROUP if idx == 2 * self.options.queue_pairs else DATAVQ_GROUP
        return CVQ_GROUP if self.is_cvq(idx) else DATAVQ_GROUP

    def desc_group_of(self, idx: int) -> int:
        if not self.options.desc_group or self.is_cvq(idx):
            return self.group_of(idx)
        return DATAVQ_DESC_GROUP

    def _start(self, vq: Virtqueue) -> None:
        """INIT/SUSPEND → RDY: apply the configured ring (mlx5 modify_virtqueue; sim queue_ready)."""
        if vq.state is VqObjectState.ERR:
            return
        if vq.state is VqObjectState.INIT and self.options.parent is Parent.SIM:
            vq.used_idx = vq.last_avail  # vdpasim_queue_ready: last_used_idx = last_avail_idx
        vq.ring = self._make_ring(vq)
        vq.mover = SegmentMover(vq.ring.data)
        vq.avail_seen = vq.last_avail  # a (re)started queue reads avail.idx afresh
        vq.state = VqObjectState.RDY
        if self.options.kick_on_start:
            vq.doorbell = True

    def _make_ring(self, vq: Virtqueue) -> SplitRing:
        ring_space = self.spaces[self.group2asid[self.desc_group_of(vq.index)]]
        data_space = self.spaces[self.group2asid[self.group_of(vq.index)]]
        if self.bus_errors:
            ring_port: DmaPort = PoisonedDmaPort(self.mem, ring_space, vq.index, self.log,
                                                 self.bus_errors)
            data_port: DmaPort = PoisonedDmaPort(self.mem, data_space, vq.index, self.log,
                                                 self.bus_errors)
        else:
            ring_port = DmaPort(self.mem, ring_space, vq.index, self.log)
            data_port = DmaPort(self.mem, data_space, vq.index, self.log)
        return SplitRing(ring_port, data_port, vq.desc_area, vq.driver_area, vq.device_area,
                         vq.num, bool(self.features & bit(VIRTIO_RING_F_EVENT_IDX)))

    def _rebind_rings(self) -> None:
        """Group→ASID or map changes reach running VQs (sim immediately; mlx5 via modify)."""
        for vq in self.vqs:
            if vq.ring is not None:
                vq.ring = self._make_ring(vq)
                vq.mover = SegmentMover(vq.ring.data)

    # ======================================================================================
    # VdpaOps: virtqueue configuration
    # ======================================================================================
    async def set_vq_address(self, idx: int, desc_area: int, driver_area: int,
                             device_area: int) -> None:
        """Stored; applied when the VQ next starts (mlx5_vdpa_set_vq_address sets
        MLX5_VIRTQ_MODIFY_MASK_VIRTIO_Q_ADDRS; vdpasim_set_vq_address). Never starts DMA."""
        vq = self._vq(idx, "set_vq_address")
        vq.desc_area, vq.driver_area, vq.device_area = desc_area, driver_area, device_area
        self.fw.set_vq_address(idx)

    async def set_vq_num(self, idx: int, num: int) -> None:
        """Stored; applied at the next start (mlx5_vdpa_set_vq_num: HW size is fixed at create)."""
        vq = self._vq(idx, "set_vq_num")
        if num <= 0 or num & (num - 1) or num > self.options.max_queue_size:
            raise fail(errno.EINVAL, "set_vq_num",
                       f"queue size {num} is not a power of two in 1..{self.options.max_queue_size}")
        vq.num = num
        self.fw.set_vq_num(idx, num)

    async def kick_vq(self, idx: int) -> None:
        """Doorbell. Out-of-range or not-ready VQs ignore it (mlx5_vdpa_kick_vq); while suspended
        it is latched for resume when the option says so (vdpasim_kick_vq pending_kick)."""
        if not 0 <= idx < self.nvqs:
            return
        vq = self.vqs[idx]
        if not vq.ready:
            return
        if self.suspended and self.driver_ok and not self.options.latch_kicks_while_suspended:
            return
        vq.doorbell = True

    async def set_vq_cb(self, idx: int, enabled: bool) -> None:
        """mlx5_vdpa_set_vq_cb / vdpasim_set_vq_cb: the callback is stored; cleared by reset."""
        self._vq(idx, "set_vq_cb").callback = enabled

    async def set_vq_ready(self, idx: int, ready: bool) -> None:
        """mlx5_vdpa_set_vq_ready: ignored before features are set (mlx5); !ready suspends a RDY
        object; ready after DRIVER_OK starts it; before DRIVER_OK only the flag changes."""
        vq = self._vq(idx, "set_vq_ready")
        self.fw.set_vq_ready(idx, ready)
        if self.options.ready_ignored_before_features and not self.features:
            return
        if not ready:
            vq.ready = False
            if vq.state is VqObjectState.RDY:
                vq.state = VqObjectState.SUSPEND
            return
        if self.options.parent is Parent.SIM and not vq.ready:
            vq.state = VqObjectState.INIT  # vdpasim_queue_ready rebuilds the vring
        if (self.driver_ok and vq.state is VqObjectState.SUSPEND and not self.options.offers_resume
                and not self.is_cvq(idx)):
            return  # mlx5_vdpa_set_vq_ready: resume_vq fails without resumable firmware
        vq.ready = True
        if self.driver_ok and not self.suspended and self._active(vq):
            self._start(vq)

    async def get_vq_ready(self, idx: int) -> bool:
        return self._vq(idx, "get_vq_ready").ready

    async def set_vq_state(self, idx: int, state: VqState) -> None:
        """mlx5_vdpa_set_vq_state: refused while RDY; sets hw avail and used index alike.
        vdpasim_set_vq_state: sets last_avail_idx only. Never touches ring memory."""
        vq = self._vq(idx, "set_vq_state")
        if not 0 <= state.avail_index <= U16_MASK:
            raise fail(errno.EINVAL, "set_vq_state", f"avail_index {state.avail_index} is not u16")
        if self.options.set_state_refused_when_ready and vq.state is VqObjectState.RDY:
            raise fail(errno.EINVAL, "set_vq_state", f"vq {idx} object is RDY; suspend it first")
        vq.last_avail = vq.avail_seen = state.avail_index
        if self.options.state_reports_used_idx:
            vq.used_idx = state.avail_index
        self.fw.set_vq_state(idx)

    async def get_vq_state(self, idx: int) -> VqState:
        """mlx5 reports the hardware used index; vdpa_sim reports last_avail_idx. The two agree
        once the VQ is suspended, since nothing is in flight then (vdpa-semantics.md §3.4)."""
        vq = self._vq(idx, "get_vq_state")
        self.fw.get_vq_state(idx)
        return VqState(vq.used_idx if self.options.state_reports_used_idx else vq.last_avail)

    async def get_vq_num_max(self) -> int:
        return self.options.max_queue_size

    async def get_vq_size(self, idx: int) -> int:
        return self._vq(idx, "get_vq_size").num

    # ======================================================================================
    # VdpaOps: groups and address spaces
    # ======================================================================================
    async def get_vq_group(self, idx: int) -> int:
        """mlx5_vdpa_get_vq_group / vdpasim_get_vq_group: CVQ → 1, data → 0."""
        return self.group_of(self._vq(idx, "get_vq_group").index)

    async def get_vq_desc_group(self, idx: int) -> int:
        """mlx5_vdpa_get_vq_desc_group: data VQs → 2, CVQ → 1. vdpa_sim has no such op."""
        if not self.options.desc_group:
            await super().get_vq_desc_group(idx)
        return self.desc_group_of(self._vq(idx, "get_vq_desc_group").index)

    async def set_group_asid(self, group: int, asid: int) -> None:
        """mlx5_set_group_asid / vdpasim_set_group_asid: rebinding takes effect at once for the
        running VQs of that group; no mapping changes. Bounds are re-checked here although
        vhost-vdpa checks them since "vhost: move vdpa group bound check to vhost_vdpa"."""
        if not 0 <= group < self.ngroups:
            raise fail(errno.EINVAL, "set_group_asid", f"group {group} out of range 0..{self.ngroups - 1}")
        self._asid(asid, "set_group_asid")
        self.group2asid[group] = asid
        self._rebind_rings()
        self.fw.set_group_asid(group, asid)

    # ======================================================================================
    # VdpaOps: features, status, config
    # ======================================================================================
    async def get_device_features(self) -> int:
        return self.options.device_features

    async def get_backend_features(self) -> int:
        """What the parent itself offers on top of vhost-vdpa's own bits."""
        out = 0
        if self.options.enable_after_driver_ok:
            out |= bit(VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK)
        if self.options.group_asid_after_driver_ok:
            out |= bit(VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)
        return out

    async def set_driver_features(self, features: int) -> None:
        """mlx5_vdpa_set_driver_features: ACCESS_PLATFORM required (-EOPNOTSUPP; vdpa_sim says
        -EINVAL), MQ needs CTRL_VQ (-EINVAL); stores features & offered."""
        if not features & bit(VIRTIO_F_ACCESS_PLATFORM):
            err = errno.EINVAL if self.options.parent is Parent.SIM else errno.EOPNOTSUPP
            raise fail(err, "set_driver_features", "VIRTIO_F_ACCESS_PLATFORM (33) not acked")
        # verify_driver_features is mlx5's; vdpasim_set_driver_features checks ACCESS_PLATFORM only.
        if (self.options.parent is Parent.MLX5 and features & bit(VIRTIO_NET_F_MQ)
                and not features & bit(VIRTIO_NET_F_CTRL_VQ)):
            raise fail(errno.EINVAL, "set_driver_features", "VIRTIO_NET_F_MQ without CTRL_VQ")
        self.features = features & self.options.device_features
        self.fw.set_driver_features(features)

    async def get_driver_features(self) -> int:
        return self.features

    async def get_status(self) -> int:
        return self.status

    async def set_status(self, status: int) -> None:
        """mlx5_vdpa_set_status: DRIVER_OK 0→1 starts every ready VQ; clearing DRIVER_OK without
        a reset is ignored (mlx5 warns). 0 resets. NEEDS_RESET is the device's own bit."""
        if status == 0:
            await self.reset()
            return
        rising = bool(status & VIRTIO_CONFIG_S_DRIVER_OK) and not self.driver_ok
        kept = self.status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_DRIVER_OK)
        self.status = (status & ~VIRTIO_CONFIG_S_NEEDS_RESET) | kept
        if rising and not self.suspended:
            for vq in self.vqs:
                if vq.ready and self._active(vq):
                    self._start(vq)
        self.fw.set_status(self.status)

    async def get_generation(self) -> int:
        return self.generation

    async def get_device_id(self) -> int:
        return VIRTIO_ID_NET

    def _config_bytes(self) -> bytes:
        return VIRTIO_NET_CONFIG_STRUCT.pack(self.mac, VIRTIO_NET_S_LINK_UP,
                                             self.options.queue_pairs, self.options.mtu)

    async def get_config(self, offset: int, length: int) -> bytes:
        """struct virtio_net_config; bytes past the end read as zero (vdpasim_get_config clips)."""
        cfg = self._config_bytes()
        return (cfg[offset:offset + length] + bytes(length))[:length] if offset >= 0 else bytes(length)

    async def set_config(self, offset: int, data: bytes) -> None:
        """Writable only through the CVQ on a modern device; mlx5_vdpa_set_config is a no-op."""

    async def get_config_size(self) -> int:
        return VIRTIO_NET_CONFIG_STRUCT.size

    async def get_iova_range(self) -> IovaRange:
        return IovaRange(0, (1 << 64) - 1)

    # ======================================================================================
    # VdpaOps: reset, suspend, resume
    # ======================================================================================
    async def reset(self) -> None:
        """vdpasim_do_reset / mlx5_vdpa_compat_reset without CLEAN_MAP: status, features, VQs,
        indices and group→ASID bindings go back to their initial values; mappings stay."""
        self._reset_state()
        self.fw.reset(clean_map=False)

    def _reset_state(self) -> None:
        self.status = 0
        self.features = 0
        self.suspended = False
        self.generation += 1
        self.group2asid = [0] * self.ngroups
        self._cur_qps = 1
        self.mac = self.options.mac
        self.vlans = set()
        for vq in self.vqs:
            self._rx_gone.extend(seq for seq, _ in vq.rx_frames)
            num = self.options.max_queue_size if self.options.reset_restores_num else vq.num
            fresh = Virtqueue(vq.index, num)
            self.vqs[vq.index] = fresh

    async def compat_reset(self, flags: int) -> None:
        """Reset; with VDPA_RESET_F_CLEAN_MAP also every ASID back to its default mapping
        (vdpasim_compat_reset, mlx5_vdpa_compat_reset)."""
        self._reset_state()
        if flags & VDPA_RESET_F_CLEAN_MAP:
            for space in self.spaces:
                space.restore_default()
        self.fw.reset(clean_map=bool(flags & VDPA_RESET_F_CLEAN_MAP))

    async def suspend(self) -> None:
        """mlx5_vdpa_suspend: every RDY object → SUSPEND. Work in flight has completed when this
        returns (process() runs whole chains), so nothing is processed afterwards."""
        if not self.options.has_suspend:
            await super().suspend()
        self.suspended = True
        for vq in self.vqs:
            if vq.state is VqObjectState.RDY:
                vq.state = VqObjectState.SUSPEND
        self.fw.suspend()

    async def resume(self) -> None:
        """mlx5_vdpa_resume / resume_vqs: SUSPEND → RDY, INIT → RDY for ready VQs; latched kicks
        then run (vdpasim_resume)."""
        if not self.options.offers_resume:
            await super().resume()
        self.suspended = False
        self.fw.resume()
        if not self.driver_ok:
            return
        for vq in self.vqs:
            if (vq.ready and vq.state in (VqObjectState.INIT, VqObjectState.SUSPEND)
                    and self._active(vq)):
                self._start(vq)

    # ======================================================================================
    # VdpaOps: DMA mapping
    # ======================================================================================
    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        """vdpasim_set_map / mlx5 set_map_data: replace the whole table of ``asid``. On a bad
        range the table is left empty (vdpasim_set_map's error path)."""
        if self.options.incremental_map:
            await super().set_map(asid, iotlb)  # vdpa_sim with batch_mapping=0 has no .set_map
        space = self._asid(asid, "set_map")
        space.passthrough = False
        space.table = Iotlb()
        try:
            for r in iotlb:
                space.table.add_range(r, "set_map")
        except Exception:
            space.table = Iotlb()
            raise
        self._rebind_rings()
        self.fw.set_map(asid, iotlb)

    async def dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
        """vdpasim_dma_map (batch_mapping=0): the first map on an identity AS drops identity."""
        if not self.options.incremental_map:
            await super().dma_map(asid, iova, size, pa, perm)
        space = self._asid(asid, "dma_map")
        check_perm(perm, "dma_map")
        space.leave_passthrough()
        space.table.add_range(IotlbRange(iova, size, pa, perm), "dma_map")

    async def dma_unmap(self, asid: int, iova: int, size: int) -> None:
        """vdpasim_dma_unmap: drop identity on first use, then remove overlapping entries."""
        if not self.options.incremental_map:
            await super().dma_unmap(asid, iova, size)
        space = self._asid(asid, "dma_unmap")
        space.leave_passthrough()
        space.table.del_range(iova, size)

    async def reset_map(self, asid: int) -> None:
        """vdpasim_reset_map / mlx5_vdpa_reset_map: back to the default mapping of ``asid``."""
        self._asid(asid, "reset_map").restore_default()
        self._rebind_rings()
        self.fw.reset_map(asid)

    def has_op(self, name: str) -> bool:
        opts = self.options
        optional = {"suspend": opts.has_suspend, "resume": opts.offers_resume,
                    "dma_map": opts.incremental_map, "dma_unmap": opts.incremental_map,
                    "set_map": not opts.incremental_map,
                    "get_vq_desc_group": opts.desc_group}
        return optional.get(name, super().has_op(name))

    # ======================================================================================
    # The engine
    # ======================================================================================
    def _runnable(self, vq: Virtqueue) -> bool:
        return (vq.state is _RDY and vq.ready and not self.suspended
                and self.driver_ok and vq.ring is not None)

    def process(self, budget: int | None = None) -> int:
        """Run the engine: complete at most ``budget`` chains (all available work if None).

        VQs are served round-robin one chain at a time, so a budget splits work the way a
        hardware scheduler would. Returns the number of chains completed (or frames dropped).
        """
        done = 0
        runnable = self._runnable
        service = self._service
        # Only VQs runnable now can do work this call, but for the control VQ, whose MQ command
        # starts the other queue pairs (driver_ok_first_qp_only): after it the list is drawn
        # again. Each is re-checked before every chain (an error stops that VQ at once).
        active = [vq for vq in self.vqs if runnable(vq)]
        progress = bool(active)
        while progress and (budget is None or done < budget):
            progress = False
            redraw = False
            for vq in active:
                if budget is not None and done >= budget:
                    break
                if runnable(vq) and service(vq):
                    done += 1
                    progress = True
                    redraw |= self.is_cvq(vq.index)
            if redraw:
                active = [vq for vq in self.vqs if runnable(vq)]
        return done

    def _service(self, vq: Virtqueue) -> bool:
        """Handle one chain of ``vq``; False when there is nothing to do."""
        ring, mover = vq.ring, vq.mover
        assert ring is not None and mover is not None
        try:
            cvq = self.is_cvq(vq.index)
            is_rx = vq.index % 2 == 0 and not cvq
            if is_rx:
                vq.doorbell = False  # RX runs on frames; a kick only says buffers were added
                if not vq.rx_frames:
                    return False
                if vq.rx_frames[0][1] is None:
                    return self._evicted(vq)
            elif not vq.doorbell:
                return False
            if vq.avail_seen == vq.last_avail:
                avail = ring.avail_idx()
                pending = (avail - vq.last_avail) & U16_MASK
                if pending == 0:
                    vq.doorbell = False
                    ring.publish_avail_event(vq.last_avail)
                    return False
                if pending > ring.num:
                    # drivers/vhost/vhost.c: vhost_get_vq_desc "Guest moved avail index from %u to %u"
                    raise RingError(errno.EFAULT, f"avail.idx {avail} is {pending} ahead of last_avail "
                                                  f"{vq.last_avail}, more than queue size {ring.num}")
                vq.avail_seen = avail
            head = ring.head_at(vq.last_avail)
            chain = ring.walk(head, allow_read=not is_rx, allow_write=is_rx or cvq)
            ring.check_completion(vq.used_idx)
            if is_rx:
                written = self._receive(vq, mover, chain)
                if written < 0:
                    return True  # frame dropped, buffer kept for the next frame
            elif cvq:
                written = self._control(mover, chain)
            else:
                written = self._transmit(vq, mover, chain)
            vq.last_avail = (vq.last_avail + 1) & U16_MASK
            old = vq.used_idx
            vq.used_idx = ring.complete(old, head, written)
            vq.completed += 1
            if ring.need_notify(old, vq.used_idx):
                vq.notifications += 1
            return True
        except (RingError, BusError) as e:
            self._ring_error(vq, e)
            return False

    # -- the platform and the lockstep's view of a device that runs between settle points --
    def poison(self, lo: int, hi: int) -> None:
        """Host-physical ``[lo, hi)`` answers every device access with an error from now on
        (a bus error, as a testbench's poisoned memory or an IOMMU's refusal): the access that
        hits it, and the rest of its chain, fail with EIO on that VQ."""
        if not 0 <= lo < hi:
            raise ValueError(f"poison: [{lo:#x}, {hi:#x}) is empty")
        self.bus_errors.append((lo, hi))
        self._rebind_rings()

    def catch_up(self, idx: int, used_idx: int) -> int:
        """Serve VQ ``idx`` chain by chain until its used index is ``used_idx`` (u16): where a
        device under test had got when an op raced its traffic, the reference waiting for a
        settle point (:meth:`vdpa_model.lockstep.Lockstep.dut_first`). Stops early when the VQ
        cannot complete another chain (no work, not running, or a ring error, recorded as
        usual); returns the chains completed."""
        vq = self.vqs[idx]
        done = 0
        while (vq.used_idx != used_idx & U16_MASK and self._runnable(vq)
               and self._service(vq)):
            done += 1
        return done

    def find_empty(self, idx: int) -> bool:
        """What the engine does on finding VQ ``idx``'s ring empty: with EVENT_IDX, ask for a
        kick at the next buffer (``avail_event`` = last_avail, __vringh_notify_enable). True
        if the ring was empty. For a lockstep race where the DUT had drained the ring."""
        vq = self.vqs[idx]
        if vq.ring is None or not self._runnable(vq):
            return False
        try:
            empty = vq.ring.avail_idx() == vq.last_avail
            if empty:
                vq.ring.publish_avail_event(vq.last_avail)
        except (RingError, BusError) as e:
            self._ring_error(vq, e)
            return False
        return empty

    def _ring_error(self, vq: Virtqueue, e: RingError | BusError) -> None:
        """The VQ goes to ERR and the device asks for a reset (virtio 1.2 §2.1.2: NEEDS_RESET,
        with a configuration-change notification once DRIVER_OK is set). A bus error (the
        host refused an access) is EIO, as the reference RTL reports an error response: what
        moved before it stays, the chain is not completed."""
        if isinstance(e, BusError):
            e = RingError(errno.EIO, str(e))
        vq.state = VqObjectState.ERR
        self.status |= VIRTIO_CONFIG_S_NEEDS_RESET
        if self.driver_ok:
            self.config_notifications += 1
        f = e.fault
        self._faults.append(DeviceFault(vq.index, e.errno, e.reason, e.asid,
                                        f.iova if f else None, f.write if f else None))

    def _evicted(self, vq: Virtqueue) -> bool:
        """The oldest frame of receive queue ``vq`` is one the device under test dropped
        (rx_evicted). It dropped only a frame it had tried and found no buffer for, with
        every older frame of the queue handled as here: so at this point it read the avail
        ring empty and, with EVENT_IDX, asked for a kick at the next buffer (avail_event =
        last_avail, as :meth:`find_empty`), whatever the guest has posted since. The frame
        goes, counted in ``rx_dropped``."""
        assert vq.ring is not None
        vq.rx_frames.popleft()
        vq.rx_dropped += 1
        vq.ring.publish_avail_event(vq.last_avail)
        return True

    def _transmit(self, vq: Virtqueue, mover: SegmentMover, chain: Chain) -> int:
        """TX: the readable bytes are header + frame; the frame leaves on the wire. A chain too
        short for the header or too long for a frame is dropped and still completed."""
        hdr_len = net_hdr_len(self.features)
        if chain.read_len < hdr_len or chain.read_len - hdr_len > VIRTIO_NET_MAX_FRAME:
            vq.tx_dropped += 1
            return 0
        data = mover.pull(chain)
        self._tx.append(TxPacket(vq.index, data[:hdr_len], data[hdr_len:]))
        return 0

    def _receive(self, vq: Virtqueue, mover: SegmentMover, chain: Chain) -> int:
        """RX: write a header (num_buffers = 1 where present) and the frame. A frame larger than
        the buffer is dropped and the buffer left for the next one (-1)."""
        frame = vq.rx_frames[0][1]
        assert frame is not None, "a frame the device dropped is served by _evicted"
        hdr_len = net_hdr_len(self.features)
        total = hdr_len + len(frame)
        if total > chain.write_len:
            self._rx_gone.append(vq.rx_frames.popleft()[0])
            vq.rx_dropped += 1
            return -1
        header = bytearray(hdr_len)
        if hdr_len == VIRTIO_NET_HDR_V1_LEN:
            VIRTIO_NET_HDR_NUM_BUFFERS_STRUCT.pack_into(header, hdr_len - 2, 1)
        mover.push(chain, bytes(header) + frame)
        vq.rx_frames.popleft()
        return total

    def _control(self, mover: SegmentMover, chain: Chain) -> int:
        """CVQ, emulated in software as mlx5_vnet.c does (mlx5_cvq_kick_handler). VLAN commands
        are mlx5's and need CTRL_VLAN negotiated (handle_ctrl_vlan); vdpa_sim has none."""
        vlans = (self.vlans if self.options.parent is Parent.MLX5
                 and self.features & bit(VIRTIO_NET_F_CTRL_VLAN) else None)
        return serve_control(mover, chain, self, self.options.queue_pairs, vlans, self._controlled)

    def _controlled(self, cls: int, cmd: int, ok: bool, changed: bool) -> None:
        self.fw.control(cls, cmd, ok, changed, self._cur_qps)

    # ======================================================================================
    # DeviceHarness
    # ======================================================================================
    async def settle(self) -> None:
        self.process()

    async def inject_rx(self, vq: int, frame: bytes) -> None:
        """A frame from the wire for receiveq ``vq``: queued there until the VQ takes it; while
        DRIVER_OK is clear (before the first DRIVER_OK, after a reset) there is no driver to
        deliver to and it is dropped (counted in ``rx_dropped``), as a NIC with no receive
        queue set up drops it, rather than kept for a later driver (virtio 1.2 §2.1)."""
        if not 0 <= vq < self.nvqs or vq % 2 or self.is_cvq(vq):
            raise ValueError(f"vq {vq} is not a receive queue")
        arrival, self._rx_arrivals = self._rx_arrivals, (self._rx_arrivals + 1) & 0xFFFF
        if not self.driver_ok:
            self.vqs[vq].rx_dropped += 1
            self._rx_gone.append(arrival)
            return
        self.vqs[vq].rx_frames.append((arrival, bytes(frame)))

    def rx_evicted(self, vq: int, arrival: int) -> bool:
        """The device under test dropped the frame that arrived ``arrival``-th (mod 2^16, every
        frame offered by :meth:`inject_rx` counted, from 0) for receive queue ``vq`` while it
        waited for a buffer, to make room for another frame. Both kernel parents drop a frame
        for a receive queue with no buffer (drivers/vdpa/vdpa_sim/vdpa_sim_net.c:
        vdpasim_net_work, ``rx_drops``); this model keeps such frames without bound instead,
        so the two agree on which frames arrive only if it is told which ones the device
        dropped (DeviceHarness.take_rx_evicted). The frame keeps its place in the queue, marked
        dropped: served in its turn, it does what the device did with it (:meth:`_evicted`),
        so the frames before it still take the buffers they took on the device. A frame this
        reference dropped undelivered itself meanwhile (a reset, say, that came before it was
        told) agrees and changes nothing. False if it delivered the frame or never had it:
        the caller reports the divergence."""
        if not 0 <= vq < self.nvqs:
            return False
        arrival &= 0xFFFF
        frames = self.vqs[vq].rx_frames
        for i, (seq, _) in enumerate(frames):
            if seq == arrival:
                frames[i] = (seq, None)
                self._rx_gone.append(arrival)
                return True
        return arrival in self._rx_gone

    def take_tx(self) -> list[TxPacket]:
        out, self._tx = self._tx, []
        return out

    def take_faults(self) -> list[DeviceFault]:
        out, self._faults = self._faults, []
        return out

    # ======================================================================================
    # introspection for checkers
    # ======================================================================================
    def asid_of(self, vq: int, kind: AccessKind) -> int:
        """The ASID a ``kind`` access of ``vq`` must use under the current bindings."""
        group = self.desc_group_of(vq) if kind.is_ring else self.group_of(vq)
        return self.group2asid[group]
