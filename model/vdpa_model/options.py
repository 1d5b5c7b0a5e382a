# SPDX-License-Identifier: MIT
"""Where the two kernel parents differ, the reference device lets you choose.

``Parent.MLX5`` follows drivers/vdpa/mlx5/net/mlx5_vnet.c and is the default: it is the parent
that real NICs resemble (hardware VQ objects, descriptor groups, on-chip IOTLB).
``Parent.SIM`` follows drivers/vdpa/vdpa_sim/vdpa_sim.c + vdpa_sim_net.c. Every field below can
also be set on its own; :meth:`DeviceOptions.for_parent` gives each parent's defaults.
docs/model.md has the table of choices with the kernel function each one follows.
"""

from __future__ import annotations

import dataclasses
import enum

from .spec import (
    VIRTIO_F_ACCESS_PLATFORM,
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_CTRL_MAC_ADDR,
    VIRTIO_NET_F_CTRL_VLAN,
    VIRTIO_NET_F_CTRL_VQ,
    VIRTIO_NET_F_MAC,
    VIRTIO_NET_F_MQ,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_F_MTU,
    VIRTIO_NET_F_STATUS,
    VIRTIO_RING_F_EVENT_IDX,
    VIRTIO_RING_F_INDIRECT_DESC,
    bit,
)


class Parent(enum.Enum):
    """Which kernel parent driver's behaviour to follow where the two differ."""

    MLX5 = "mlx5"
    SIM = "sim"


DEFAULT_NET_FEATURES = (
    bit(VIRTIO_NET_F_MTU) | bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_MRG_RXBUF)
    | bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_MQ)
    | bit(VIRTIO_RING_F_INDIRECT_DESC) | bit(VIRTIO_RING_F_EVENT_IDX)
    | bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM)
)

#: What mlx5 offers (mlx5_vnet.c: get_supported_features, with the firmware's MRG_RXBUF):
#: CTRL_MAC_ADDR and CTRL_VLAN but neither CTRL_RX nor INDIRECT_DESC nor EVENT_IDX. The
#: migration flows use it, so the CVQ replay and the Shadow VirtQueue see the real feature set.
MLX5_NET_FEATURES = (
    bit(VIRTIO_NET_F_MTU) | bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_MRG_RXBUF)
    | bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_MQ)
    | bit(VIRTIO_NET_F_CTRL_VLAN) | bit(VIRTIO_NET_F_CTRL_MAC_ADDR)
    | bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM)
)

#: What vdpa_sim_net offers (vdpa_sim_net.c: VDPASIM_NET_FEATURES): one queue pair, a CVQ that
#: understands MAC_ADDR_SET only.
SIM_NET_FEATURES = (
    bit(VIRTIO_NET_F_MTU) | bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS)
    | bit(VIRTIO_NET_F_CTRL_VQ) | bit(VIRTIO_NET_F_CTRL_MAC_ADDR)
    | bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM)
)

#: The most data queue pairs the reference device models (DeviceOptions.queue_pairs; 64 data
#: VQs, the largest device the downtime issue asks for).
MAX_QUEUE_PAIRS = 32

#: The DeviceOptions fields that model mlx5 firmware and driver generations
#: (vdpa_model.fwmodel): the reference device's mlx5 parent honours them; vdpa_sim has no
#: firmware, so the sim parent refuses all but the default.
FIRMWARE_FIELDS = ("fw_resumable", "precreated_vqs", "parallel_fw_cmds", "keep_link_notifier",
                   "parallel_mkey", "deferred_mr_free")


@dataclasses.dataclass(frozen=True)
class DeviceOptions:
    """Construction-time choices of a :class:`vdpa_model.device.ReferenceDevice`."""

    parent: Parent = Parent.MLX5
    #: Data queue pairs (VQs 0..2*qp-1); the control VQ follows them.
    queue_pairs: int = 4
    #: get_vq_num_max; both parents answer 256 (MLX5V_DEFAULT_VQ_SIZE, VDPASIM_QUEUE_MAX).
    max_queue_size: int = 256
    #: Address spaces (both parents: 2).
    nas: int = 2
    device_features: int = DEFAULT_NET_FEATURES
    mac: bytes = b"\x52\x54\x00\x12\x34\x56"
    mtu: int = 1500
    #: Optional ops present (mlx5 drops .resume without FW freeze_to_rdy_supported).
    has_suspend: bool = True
    has_resume: bool = True
    #: A kick that arrives while suspended is remembered and replayed on resume
    #: (vdpa_sim.c: vdpasim_kick_vq pending_kick / vdpasim_resume). mlx5_vnet.c has no latch; a
    #: hardware doorbell register keeps its value, so the reference device latches in both modes.
    latch_kicks_while_suspended: bool = True
    #: A VQ object entering RDY (DRIVER_OK, enable, resume) looks at its ring as if kicked, so
    #: buffers made available while it was stopped are served without a new doorbell. Hardware
    #: queue objects do this (the reference RTL does, on every MODIFY to RDY); vdpa_sim only
    #: replays a kick that was latched (vdpasim_resume), so SIM turns it off.
    kick_on_start: bool = True
    #: VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK offered by the parent (both parents offer it).
    enable_after_driver_ok: bool = True
    #: VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK offered (2026 tree; vdpa_sim offers it).
    group_asid_after_driver_ok: bool = False
    #: mlx5: 3 groups, data rings in their own descriptor group 2 (get_vq_desc_group).
    #: sim: 2 groups, no get_vq_desc_group op.
    desc_group: bool = True
    #: ASIDs that start in identity (passthrough) mode. sim: all; mlx5: ASID 0 only (the DMA MR).
    identity_asids: frozenset[int] = frozenset({0})
    #: get_vq_state answer. mlx5: the hardware used index; sim: last_avail_idx.
    state_reports_used_idx: bool = True
    #: set_vq_state while the VQ object is RDY is -EINVAL (mlx5_vdpa_set_vq_state).
    set_state_refused_when_ready: bool = True
    #: reset restores the queue size to max (mlx5 recreates blank 256-entry VQs); sim keeps num.
    reset_restores_num: bool = True
    #: set_vq_ready before set_driver_features is ignored (mlx5_vdpa_set_vq_ready).
    ready_ignored_before_features: bool = True
    #: The parent implements dma_map/dma_unmap (vdpa_sim with batch_mapping=0). mlx5 only set_map.
    incremental_map: bool = False
    #: DRIVER_OK starts only the first queue pair; the control VQ's MQ_VQ_PAIRS_SET starts the
    #: others, a lower count suspends the extra ones (mlx5_vdpa_set_status → resume_vqs(ndev, 0,
    #: cur_num_vqs) with cur_num_vqs = MLX5V_DEFAULT_VQ_COUNT after reset; change_num_qps). Off
    #: by default so a bench that runs several queue pairs without a control VQ keeps working;
    #: the migration flows turn it on for the mlx5 parent, whose guest always sends the command.
    driver_ok_first_qp_only: bool = False
    # -- mlx5 firmware and driver generations (vdpa_model.fwmodel; docs/migration.md) -------
    #: Firmware can take a suspended VQ back to RDY (MLX5_CAP freeze_to_rdy_supported,
    #: mlx5_vnet.c: is_resumable). Without it mlx5 drops the resume op, and a map change on an
    #: ASID that has a region destroys every VQ (mlx5_vdpa_change_map's teardown path).
    fw_resumable: bool = True
    #: VQs created blank at device add and again at every reset after a run (mlx5_vdpa_dev_add,
    #: mlx5_vdpa_compat_reset; ~v6.11); DRIVER_OK then only configures and readies them.
    precreated_vqs: bool = False
    #: MODIFY / QUERY rounds submitted together (~v6.12).
    parallel_fw_cmds: bool = False
    #: The link notifier stays registered across suspend and resume ("vdpa/mlx5: Keep notifiers
    #: during suspend/resume", the last patch of the ~v6.12 series that made the rounds
    #: parallel). None: together with parallel_fw_cmds, as the series shipped; False with
    #: parallel_fw_cmds is the series without that patch, where C2's 13 ms suspend and C3's
    #: 4.5-5 ms resume were measured.
    keep_link_notifier: bool | None = None
    #: A region's direct keys created and destroyed together (mr.c: create_direct_keys; ~v6.12).
    parallel_mkey: bool = False
    #: Old regions destroyed by a collector 2 s later ("Postpone MR deletion"; ~v6.12).
    deferred_mr_free: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.queue_pairs <= MAX_QUEUE_PAIRS:
            raise ValueError(f"queue_pairs must be 1..{MAX_QUEUE_PAIRS}, got {self.queue_pairs}")
        if self.max_queue_size & (self.max_queue_size - 1) or not 2 <= self.max_queue_size <= 32768:
            raise ValueError(f"max_queue_size must be a power of two in 2..32768, got "
                             f"{self.max_queue_size}")
        if self.nas < 1:
            raise ValueError(f"nas must be at least 1, got {self.nas}")
        if any(a >= self.nas or a < 0 for a in self.identity_asids):
            raise ValueError(f"identity_asids {sorted(self.identity_asids)} outside 0..{self.nas - 1}")
        if len(self.mac) != 6:
            raise ValueError(f"mac must be 6 bytes, got {len(self.mac)}")
        if self.parent is Parent.SIM:
            for name in FIRMWARE_FIELDS:
                if getattr(self, name) != DeviceOptions.__dataclass_fields__[name].default:
                    raise ValueError(f"{name}={getattr(self, name)} models mlx5 firmware; the sim "
                                     f"parent (vdpa_sim) has none")

    @classmethod
    def for_parent(cls, parent: Parent, **overrides: object) -> DeviceOptions:
        """Each parent's defaults, with ``overrides`` applied on top."""
        if parent is Parent.SIM:
            base: dict[str, object] = dict(
                parent=Parent.SIM, queue_pairs=1, desc_group=False,
                identity_asids=frozenset({0, 1}), state_reports_used_idx=False,
                set_state_refused_when_ready=False, reset_restores_num=False,
                ready_ignored_before_features=False, group_asid_after_driver_ok=True,
                kick_on_start=False,
            )
        else:
            base = {}
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]

    @property
    def ngroups(self) -> int:
        return 3 if self.desc_group else 2

    @property
    def offers_resume(self) -> bool:
        """The resume op is there: compiled in (has_resume) and, on mlx5, firmware support."""
        return self.has_resume and (self.parent is Parent.SIM or self.fw_resumable)
