# SPDX-License-Identifier: MIT
"""An independent record of what a parent must be doing, built only from the ops it was given.

:class:`ContractShadow` sits between vhost-vdpa and any :class:`VdpaOps` implementation and
forwards every call. From the calls that succeeded it keeps its own idea of the translations in
force per ASID, the group→ASID bindings, the status and the suspended flag, using the kernel's
rules (vdpa-semantics.md §3.5, §4) rather than the device's code. Device DMA is then checked
against that record, so the isolation check never trusts the IOTLB of the device it checks.
"""

from __future__ import annotations

from collections.abc import Sequence

from .dma import AccessKind, DmaAccess, check_access
from .iotlb import AddressSpace
from .ops import IotlbRange, IovaRange, VdpaOps, VqState
from .spec import VDPA_RESET_F_CLEAN_MAP, VIRTIO_CONFIG_S_DRIVER_OK


class ContractShadow(VdpaOps):
    """Forwarding proxy that records the contract state a parent must honour."""

    def __init__(self, inner: VdpaOps, identity_asids: frozenset[int]) -> None:
        self.inner = inner
        self.nvqs, self.ngroups, self.nas = inner.nvqs, inner.ngroups, inner.nas
        self.spaces = [AddressSpace(a, identity=a in identity_asids) for a in range(inner.nas)]
        self.group2asid = [0] * inner.ngroups
        self.status = 0
        self.suspended = False
        #: (data group, descriptor group) per VQ, as the parent declared them at DRIVER_OK.
        self.vq_groups: dict[int, tuple[int, int]] = {}

    def has_op(self, name: str) -> bool:
        return self.inner.has_op(name)

    # -- calls that change what the shadow tracks -----------------------------------------
    async def set_group_asid(self, group: int, asid: int) -> None:
        await self.inner.set_group_asid(group, asid)
        self.group2asid[group] = asid

    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        await self.inner.set_map(asid, iotlb)
        space = self.spaces[asid]
        space.passthrough = False
        space.table.clear()
        for r in iotlb:
            space.table.add_range(r)

    async def dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
        await self.inner.dma_map(asid, iova, size, pa, perm)
        self.spaces[asid].leave_passthrough()
        self.spaces[asid].table.add_range(IotlbRange(iova, size, pa, perm))

    async def dma_unmap(self, asid: int, iova: int, size: int) -> None:
        await self.inner.dma_unmap(asid, iova, size)
        self.spaces[asid].leave_passthrough()
        self.spaces[asid].table.del_range(iova, size)

    async def reset_map(self, asid: int) -> None:
        await self.inner.reset_map(asid)
        self.spaces[asid].restore_default()

    def _after_reset(self) -> None:
        self.group2asid = [0] * self.ngroups
        self.status = 0
        self.suspended = False
        self.vq_groups.clear()

    async def reset(self) -> None:
        await self.inner.reset()
        self._after_reset()

    async def compat_reset(self, flags: int) -> None:
        await self.inner.compat_reset(flags)
        self._after_reset()
        if flags & VDPA_RESET_F_CLEAN_MAP:
            for space in self.spaces:
                space.restore_default()

    async def set_status(self, status: int) -> None:
        await self.inner.set_status(status)
        if status == 0:
            self._after_reset()
            return
        if status & VIRTIO_CONFIG_S_DRIVER_OK and not self.status & VIRTIO_CONFIG_S_DRIVER_OK:
            for idx in range(self.nvqs):
                group = await self.inner.get_vq_group(idx)
                desc = (await self.inner.get_vq_desc_group(idx)
                        if self.inner.has_op("get_vq_desc_group") else group)
                self.vq_groups[idx] = (group, desc)
        self.status = status

    async def suspend(self) -> None:
        await self.inner.suspend()
        self.suspended = True

    async def resume(self) -> None:
        await self.inner.resume()
        self.suspended = False

    # -- pure forwards ----------------------------------------------------------------------
    async def set_vq_address(self, idx: int, desc_area: int, driver_area: int,
                             device_area: int) -> None:
        await self.inner.set_vq_address(idx, desc_area, driver_area, device_area)

    async def set_vq_num(self, idx: int, num: int) -> None:
        await self.inner.set_vq_num(idx, num)

    async def kick_vq(self, idx: int) -> None:
        await self.inner.kick_vq(idx)

    async def set_vq_ready(self, idx: int, ready: bool) -> None:
        await self.inner.set_vq_ready(idx, ready)

    async def get_vq_ready(self, idx: int) -> bool:
        return await self.inner.get_vq_ready(idx)

    async def set_vq_state(self, idx: int, state: VqState) -> None:
        await self.inner.set_vq_state(idx, state)

    async def get_vq_state(self, idx: int) -> VqState:
        return await self.inner.get_vq_state(idx)

    async def get_vq_num_max(self) -> int:
        return await self.inner.get_vq_num_max()

    async def get_vq_size(self, idx: int) -> int:
        return await self.inner.get_vq_size(idx)

    async def get_vq_group(self, idx: int) -> int:
        return await self.inner.get_vq_group(idx)

    async def get_vq_desc_group(self, idx: int) -> int:
        return await self.inner.get_vq_desc_group(idx)

    async def get_device_features(self) -> int:
        return await self.inner.get_device_features()

    async def get_backend_features(self) -> int:
        return await self.inner.get_backend_features()

    async def set_driver_features(self, features: int) -> None:
        await self.inner.set_driver_features(features)

    async def get_driver_features(self) -> int:
        return await self.inner.get_driver_features()

    async def get_status(self) -> int:
        return await self.inner.get_status()

    async def get_generation(self) -> int:
        return await self.inner.get_generation()

    async def get_device_id(self) -> int:
        return await self.inner.get_device_id()

    async def get_config(self, offset: int, length: int) -> bytes:
        return await self.inner.get_config(offset, length)

    async def set_config(self, offset: int, data: bytes) -> None:
        await self.inner.set_config(offset, data)

    async def get_config_size(self) -> int:
        return await self.inner.get_config_size()

    async def get_iova_range(self) -> IovaRange:
        return await self.inner.get_iova_range()

    # -- checks -----------------------------------------------------------------------------
    def expected_asid(self, vq: int, kind: AccessKind) -> int:
        """ASID a ``kind`` access of ``vq`` must use: its declared group's current binding."""
        data, desc = self.vq_groups.get(vq, (0, 0))
        return self.group2asid[desc if kind.is_ring else data]

    def violations(self, accesses: Sequence[DmaAccess]) -> list[str]:
        """Every access that left the mappings of the right ASID and permission."""
        out = []
        for a in accesses:
            why = check_access(a, self.expected_asid(a.vq, a.kind), lambda s: self.spaces[s].ranges())
            if why:
                out.append(why)
        return out
