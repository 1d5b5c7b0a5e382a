# SPDX-License-Identifier: MIT
"""The device contract: ``VdpaOps`` mirrors ``struct vdpa_config_ops`` (include/linux/vdpa.h).

Two implementations exist: :class:`vdpa_model.device.ReferenceDevice` (pure Python, the golden
semantics) and the parent driver in ``vdpa_tb`` that drives the RTL over its command interface,
as ``drivers/vdpa/mlx5/net/mlx5_vnet.c`` drives mlx5 firmware. A vendor adds a device by writing
one more implementation.

Every operation is a coroutine because on hardware every operation takes time; the reference
device never suspends, so :func:`vdpa_model.sync.run` drives it without an event loop. Failures
raise :class:`vdpa_model.errors.VdpaError` with the errno the kernel op would return.

Beyond the kernel ops, :class:`DeviceHarness` is what a test bench needs to see from a device to
score it (transmitted packets, injected receive traffic, faults, a point where work has settled);
it is deliberately separate so the kernel names stay untouched.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import errno
from collections.abc import Sequence

from .errors import VdpaError, fail


@dataclasses.dataclass(frozen=True)
class VqState:
    """``struct vdpa_vq_state`` for a split ring: the next avail index the device will read.

    include/linux/vdpa.h: struct vdpa_vq_state_split { u16 avail_index; }.
    """

    avail_index: int


@dataclasses.dataclass(frozen=True)
class IotlbRange:
    """One translation: ``[iova, iova + size)`` → ``pa`` with ``perm`` (VHOST_ACCESS_*).

    The unit of ``set_map`` tables and of ``dma_map`` (include/linux/vhost_iotlb.h:
    struct vhost_iotlb_map, which stores ``start``/``last``; ``size`` is used here instead).
    """

    iova: int
    size: int
    pa: int
    perm: int

    @property
    def last(self) -> int:
        """Last IOVA covered, inclusive (vhost_iotlb_map.last)."""
        return self.iova + self.size - 1


@dataclasses.dataclass(frozen=True)
class IovaRange:
    """``struct vdpa_iova_range``: the usable IOVA window, both ends inclusive."""

    first: int
    last: int


class VqObjectState(enum.IntEnum):
    """Hardware virtqueue object states (include/linux/mlx5/mlx5_ifc_vdpa.h).

    ``NONE`` is mlx5_vnet.c's MLX5_VIRTIO_NET_Q_OBJECT_NONE: the object does not exist.
    """

    INIT = 0
    RDY = 1
    SUSPEND = 2
    ERR = 3
    NONE = 4


def _absent(op: str) -> VdpaError:
    """The error a NULL optional op produces at the vhost-vdpa boundary."""
    return fail(errno.EOPNOTSUPP, op, "the parent does not implement this optional op")


class VdpaOps(abc.ABC):
    """``struct vdpa_config_ops``: one method per kernel op, same names, same meanings.

    Device-wide constants that ``struct vdpa_device`` carries (``nvqs``, ``ngroups``, ``nas``)
    are attributes. Optional kernel ops a parent may leave NULL are methods that raise
    ``EOPNOTSUPP``; :meth:`has_op` says whether an implementation provides one, the way
    drivers/vhost/vdpa.c tests ``ops->suspend`` before offering VHOST_BACKEND_F_SUSPEND.
    """

    nvqs: int
    ngroups: int
    nas: int

    # -- virtqueue configuration ------------------------------------------------------------
    @abc.abstractmethod
    async def set_vq_address(self, idx: int, desc_area: int, driver_area: int,
                             device_area: int) -> None: ...

    @abc.abstractmethod
    async def set_vq_num(self, idx: int, num: int) -> None: ...

    @abc.abstractmethod
    async def kick_vq(self, idx: int) -> None: ...

    async def set_vq_cb(self, idx: int, enabled: bool) -> None:
        """Optional here, mandatory in the kernel: the VQ's interrupt callback, installed by
        VHOST_SET_VRING_CALL (drivers/vhost/vdpa.c: vhost_vdpa_vring_ioctl), ``enabled`` when a
        call eventfd is bound. A parent that models no interrupts leaves it out and vhost-vdpa
        then skips the call."""
        raise _absent("set_vq_cb")

    @abc.abstractmethod
    async def set_vq_ready(self, idx: int, ready: bool) -> None: ...

    @abc.abstractmethod
    async def get_vq_ready(self, idx: int) -> bool: ...

    @abc.abstractmethod
    async def set_vq_state(self, idx: int, state: VqState) -> None: ...

    @abc.abstractmethod
    async def get_vq_state(self, idx: int) -> VqState: ...

    @abc.abstractmethod
    async def get_vq_num_max(self) -> int: ...

    @abc.abstractmethod
    async def get_vq_size(self, idx: int) -> int: ...

    # -- groups and address spaces ----------------------------------------------------------
    @abc.abstractmethod
    async def get_vq_group(self, idx: int) -> int: ...

    async def get_vq_desc_group(self, idx: int) -> int:
        """Optional op; absent in vdpa_sim (drivers/vdpa/vdpa_sim/vdpa_sim.c)."""
        raise _absent("get_vq_desc_group")

    @abc.abstractmethod
    async def set_group_asid(self, group: int, asid: int) -> None: ...

    # -- features and status ----------------------------------------------------------------
    @abc.abstractmethod
    async def get_device_features(self) -> int: ...

    @abc.abstractmethod
    async def get_backend_features(self) -> int: ...

    @abc.abstractmethod
    async def set_driver_features(self, features: int) -> None: ...

    @abc.abstractmethod
    async def get_driver_features(self) -> int: ...

    @abc.abstractmethod
    async def get_status(self) -> int: ...

    @abc.abstractmethod
    async def set_status(self, status: int) -> None: ...

    @abc.abstractmethod
    async def get_generation(self) -> int: ...

    @abc.abstractmethod
    async def get_device_id(self) -> int: ...

    @abc.abstractmethod
    async def get_config(self, offset: int, length: int) -> bytes: ...

    @abc.abstractmethod
    async def set_config(self, offset: int, data: bytes) -> None: ...

    @abc.abstractmethod
    async def get_config_size(self) -> int: ...

    @abc.abstractmethod
    async def get_iova_range(self) -> IovaRange: ...

    # -- reset, suspend, resume -------------------------------------------------------------
    @abc.abstractmethod
    async def reset(self) -> None: ...

    async def compat_reset(self, flags: int) -> None:
        """Optional op; only parents that used to clean maps on reset have it (vdpa.h kdoc)."""
        raise _absent("compat_reset")

    async def suspend(self) -> None:
        """Optional op (drivers/vhost/vdpa.c: vhost_vdpa_can_suspend)."""
        raise _absent("suspend")

    async def resume(self) -> None:
        """Optional op (drivers/vhost/vdpa.c: vhost_vdpa_can_resume)."""
        raise _absent("resume")

    # -- DMA mapping ------------------------------------------------------------------------
    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        """Optional op: replace the whole table of ``asid``."""
        raise _absent("set_map")

    async def dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
        """Optional op: add one translation."""
        raise _absent("dma_map")

    async def dma_unmap(self, asid: int, iova: int, size: int) -> None:
        """Optional op: remove the translations of ``[iova, iova + size)``."""
        raise _absent("dma_unmap")

    async def reset_map(self, asid: int) -> None:
        """Optional op: restore the default mapping of ``asid``."""
        raise _absent("reset_map")

    def has_op(self, name: str) -> bool:
        """True when this implementation overrides optional op ``name`` (is not NULL)."""
        mine = getattr(type(self), name, None)
        return mine is not None and mine is not getattr(VdpaOps, name, None)


@dataclasses.dataclass(frozen=True)
class TxPacket:
    """A frame the device transmitted: the queue it came from, its virtio-net header, the data,
    and where a simulation knows it, the time it left the device (picoseconds)."""

    vq: int
    header: bytes
    data: bytes
    t_ps: int | None = None


@dataclasses.dataclass(frozen=True)
class DeviceFault:
    """A reported device fault: a ring error or a failed translation on one VQ.

    ``errno`` follows drivers/vhost/vringh.c for ring errors (EINVAL, ELOOP, EPROTO) and is EFAULT
    for an IOTLB miss or permission violation. ``iova``/``asid``/``write`` locate a failed
    translation; they are None for pure ring-format errors.
    """

    vq: int
    errno: int
    reason: str
    asid: int | None = None
    iova: int | None = None
    write: bool | None = None


class DeviceHarness(abc.ABC):
    """What a test bench needs from a device beyond the kernel ops, to drive and score it."""

    @abc.abstractmethod
    async def settle(self) -> None:
        """Return once the device has done all the work it can do now (quiescent)."""

    @abc.abstractmethod
    async def inject_rx(self, vq: int, frame: bytes) -> None:
        """Offer ``frame`` to receive queue ``vq`` from the wire (AXI-Stream in)."""

    @abc.abstractmethod
    def take_tx(self) -> list[TxPacket]:
        """Frames transmitted since the last call (AXI-Stream out), in order."""

    @abc.abstractmethod
    def take_faults(self) -> list[DeviceFault]:
        """Faults reported since the last call."""

    def take_rx_evicted(self) -> list[tuple[int, int]]:
        """Received frames the device dropped on its own since the last call, to make room: a
        frame held for a receive queue with no buffer, dropped when another frame needed its
        place (both kernel parents drop such frames: drivers/vdpa/vdpa_sim/vdpa_sim_net.c:
        vdpasim_net_work). Each is (receive VQ, arrival number mod 2^16), the arrival number
        counting every frame offered by :meth:`inject_rx` from 0; oldest first. A device that
        keeps such frames without bound, as the reference model does, returns none."""
        return []
