# SPDX-License-Identifier: MIT
"""One base for every wrapper that sits between vhost-vdpa and a parent.

The lockstep scoreboard, the contract shadow, the op trace and the UVM recorder all stand in
front of a :class:`~vdpa_model.ops.VdpaOps` and must pass every op on. :class:`ForwardingOps`
does the forwarding once: each op of ``struct vdpa_config_ops`` goes through the single hook
:meth:`ForwardingOps._through` with its name, its arguments and a ``call`` that performs it on a
given device, so a wrapper overrides one method and sees every op (including ops added to the
contract later), and none can be forgotten.

The harness side (:class:`~vdpa_model.ops.DeviceHarness`) is forwarded as is, outside the hook:
settling, frames and faults are not kernel ops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from .ops import DeviceFault, DeviceHarness, IotlbRange, IovaRange, TxPacket, VdpaOps, VqState

T = TypeVar("T")

#: A call of one op on some device: ``call(device)`` returns the op's coroutine.
OpCall = Callable[[Any], Awaitable[Any]]


class ForwardingOps(VdpaOps, DeviceHarness):
    """A ``VdpaOps`` (and harness) that forwards everything to ``inner`` through one hook.

    ``nvqs``, ``ngroups`` and ``nas`` are the inner device's; :meth:`has_op` answers for the
    inner device, as the kernel looks at the parent's ops table.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.nvqs, self.ngroups, self.nas = inner.nvqs, inner.ngroups, inner.nas

    def has_op(self, name: str) -> bool:
        return bool(self.inner.has_op(name))

    async def _through(self, name: str, args: tuple[Any, ...], call: OpCall) -> Any:
        """The hook every op passes: ``name`` of the op, its ``args``, and ``call`` to run it on
        a device. The base runs it on the inner device."""
        return await call(self.inner)

    async def _op(self, name: str, *args: Any) -> Any:
        return await self._through(name, args, lambda dev: getattr(dev, name)(*args))

    # -- virtqueue configuration ------------------------------------------------------------
    async def set_vq_address(self, idx: int, desc_area: int, driver_area: int,
                             device_area: int) -> None:
        await self._op("set_vq_address", idx, desc_area, driver_area, device_area)

    async def set_vq_num(self, idx: int, num: int) -> None:
        await self._op("set_vq_num", idx, num)

    async def kick_vq(self, idx: int) -> None:
        await self._op("kick_vq", idx)

    async def set_vq_cb(self, idx: int, enabled: bool) -> None:
        await self._op("set_vq_cb", idx, enabled)

    async def set_vq_ready(self, idx: int, ready: bool) -> None:
        await self._op("set_vq_ready", idx, ready)

    async def get_vq_ready(self, idx: int) -> bool:
        return cast(bool, await self._op("get_vq_ready", idx))

    async def set_vq_state(self, idx: int, state: VqState) -> None:
        await self._op("set_vq_state", idx, state)

    async def get_vq_state(self, idx: int) -> VqState:
        return cast(VqState, await self._op("get_vq_state", idx))

    async def get_vq_num_max(self) -> int:
        return cast(int, await self._op("get_vq_num_max"))

    async def get_vq_size(self, idx: int) -> int:
        return cast(int, await self._op("get_vq_size", idx))

    # -- groups and address spaces ----------------------------------------------------------
    async def get_vq_group(self, idx: int) -> int:
        return cast(int, await self._op("get_vq_group", idx))

    async def get_vq_desc_group(self, idx: int) -> int:
        return cast(int, await self._op("get_vq_desc_group", idx))

    async def set_group_asid(self, group: int, asid: int) -> None:
        await self._op("set_group_asid", group, asid)

    # -- features and status ----------------------------------------------------------------
    async def get_device_features(self) -> int:
        return cast(int, await self._op("get_device_features"))

    async def get_backend_features(self) -> int:
        return cast(int, await self._op("get_backend_features"))

    async def set_driver_features(self, features: int) -> None:
        await self._op("set_driver_features", features)

    async def get_driver_features(self) -> int:
        return cast(int, await self._op("get_driver_features"))

    async def get_status(self) -> int:
        return cast(int, await self._op("get_status"))

    async def set_status(self, status: int) -> None:
        await self._op("set_status", status)

    async def get_generation(self) -> int:
        return cast(int, await self._op("get_generation"))

    async def get_device_id(self) -> int:
        return cast(int, await self._op("get_device_id"))

    async def get_config(self, offset: int, length: int) -> bytes:
        return cast(bytes, await self._op("get_config", offset, length))

    async def set_config(self, offset: int, data: bytes) -> None:
        await self._op("set_config", offset, data)

    async def get_config_size(self) -> int:
        return cast(int, await self._op("get_config_size"))

    async def get_iova_range(self) -> IovaRange:
        return cast(IovaRange, await self._op("get_iova_range"))

    # -- reset, suspend, resume -------------------------------------------------------------
    async def reset(self) -> None:
        await self._op("reset")

    async def compat_reset(self, flags: int) -> None:
        await self._op("compat_reset", flags)

    async def suspend(self) -> None:
        await self._op("suspend")

    async def resume(self) -> None:
        await self._op("resume")

    # -- DMA mapping ------------------------------------------------------------------------
    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        await self._op("set_map", asid, iotlb)

    async def dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
        await self._op("dma_map", asid, iova, size, pa, perm)

    async def dma_unmap(self, asid: int, iova: int, size: int) -> None:
        await self._op("dma_unmap", asid, iova, size)

    async def reset_map(self, asid: int) -> None:
        await self._op("reset_map", asid)

    # -- DeviceHarness (not ops: forwarded outside the hook) ---------------------------------
    async def settle(self) -> None:
        await self.inner.settle()

    async def inject_rx(self, vq: int, frame: bytes) -> None:
        await self.inner.inject_rx(vq, frame)

    def take_tx(self) -> list[TxPacket]:
        return cast(list[TxPacket], self.inner.take_tx())

    def take_faults(self) -> list[DeviceFault]:
        return cast(list[DeviceFault], self.inner.take_faults())

    def take_rx_evicted(self) -> list[tuple[int, int]]:
        return cast(list[tuple[int, int]], self.inner.take_rx_evicted())


#: Every op name of the contract, in ``struct vdpa_config_ops`` order (for tests and recorders).
OP_NAMES: tuple[str, ...] = (
    "set_vq_address", "set_vq_num", "kick_vq", "set_vq_cb", "set_vq_ready", "get_vq_ready",
    "set_vq_state", "get_vq_state", "get_vq_num_max", "get_vq_size", "get_vq_group",
    "get_vq_desc_group", "set_group_asid", "get_device_features", "get_backend_features",
    "set_driver_features", "get_driver_features", "get_status", "set_status", "get_generation",
    "get_device_id", "get_config", "set_config", "get_config_size", "get_iova_range", "reset",
    "compat_reset", "suspend", "resume", "set_map", "dma_map", "dma_unmap", "reset_map",
)
