# SPDX-License-Identifier: MIT
"""An independent record of what a parent must be doing, built only from the ops it was given.

:class:`ContractShadow` sits between vhost-vdpa and any :class:`VdpaOps` implementation and
forwards every call. From the calls that succeeded it keeps its own idea of the translations in
force per ASID, the group→ASID bindings, the status and the suspended flag, using the kernel's
rules (vdpa-semantics.md §3.5, §4) rather than the device's code. Device DMA is then checked
against that record, so the isolation check never trusts the IOTLB of the device it checks.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

from .dma import AccessKind, DmaAccess, check_access
from .forward import ForwardingOps, OpCall
from .iotlb import AddressSpace
from .ops import IotlbRange, VdpaOps
from .spec import VDPA_RESET_F_CLEAN_MAP, VIRTIO_CONFIG_S_DRIVER_OK


@dataclasses.dataclass
class ShadowRecord:
    """The contract state at one moment: translations per ASID, group bindings, the groups
    each VQ declared. Judges accesses against that moment (:meth:`ContractShadow.record`)."""

    spaces: list[AddressSpace]
    group2asid: list[int]
    vq_groups: dict[int, tuple[int, int]]

    def expected_asid(self, vq: int, kind: AccessKind) -> int:
        """ASID a ``kind`` access of ``vq`` must use: its declared group's binding."""
        data, desc = self.vq_groups.get(vq, (0, 0))
        return self.group2asid[desc if kind.is_ring else data]

    def violations(self, accesses: Sequence[DmaAccess]) -> list[str]:
        """Every access that left the mappings of the right ASID and permission."""
        out = []
        for a in accesses:
            why = check_access(a, self.expected_asid(a.vq, a.kind),
                               lambda s: self.spaces[s].ranges())
            if why:
                out.append(why)
        return out


class ContractShadow(ForwardingOps):
    """Forwarding proxy that records the contract state a parent must honour.

    Every op reaches the forwarding base's hook; once the inner device accepted it, the
    matching ``_after_<op>`` updates the record (ops that change nothing the shadow tracks
    have none).
    """

    def __init__(self, inner: VdpaOps, identity_asids: frozenset[int]) -> None:
        super().__init__(inner)
        self.spaces = [AddressSpace(a, identity=a in identity_asids) for a in range(inner.nas)]
        self.group2asid = [0] * inner.ngroups
        self.status = 0
        self.suspended = False
        #: (data group, descriptor group) per VQ, as the parent declared them at DRIVER_OK.
        self.vq_groups: dict[int, tuple[int, int]] = {}

    async def _through(self, name: str, args: tuple[Any, ...], call: OpCall) -> Any:
        out = await call(self.inner)
        after = getattr(self, f"_after_{name}", None)
        if after is not None:
            await after(*args)
        return out

    # -- what each accepted op changes in the record ----------------------------------------
    async def _after_set_group_asid(self, group: int, asid: int) -> None:
        self.group2asid[group] = asid

    async def _after_set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        space = self.spaces[asid]
        space.passthrough = False
        space.table.clear()
        for r in iotlb:
            space.table.add_range(r)

    async def _after_dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
        self.spaces[asid].leave_passthrough()
        self.spaces[asid].table.add_range(IotlbRange(iova, size, pa, perm))

    async def _after_dma_unmap(self, asid: int, iova: int, size: int) -> None:
        self.spaces[asid].leave_passthrough()
        self.spaces[asid].table.del_range(iova, size)

    async def _after_reset_map(self, asid: int) -> None:
        self.spaces[asid].restore_default()

    def _clear_device_state(self) -> None:
        self.group2asid = [0] * self.ngroups
        self.status = 0
        self.suspended = False
        self.vq_groups.clear()

    async def _after_reset(self) -> None:
        self._clear_device_state()

    async def _after_compat_reset(self, flags: int) -> None:
        self._clear_device_state()
        if flags & VDPA_RESET_F_CLEAN_MAP:
            for space in self.spaces:
                space.restore_default()

    async def _after_set_status(self, status: int) -> None:
        if status == 0:
            self._clear_device_state()
            return
        if status & VIRTIO_CONFIG_S_DRIVER_OK and not self.status & VIRTIO_CONFIG_S_DRIVER_OK:
            for idx in range(self.nvqs):
                group = await self.inner.get_vq_group(idx)
                desc = (await self.inner.get_vq_desc_group(idx)
                        if self.inner.has_op("get_vq_desc_group") else group)
                self.vq_groups[idx] = (group, desc)
        self.status = status

    async def _after_suspend(self) -> None:
        self.suspended = True

    async def _after_resume(self) -> None:
        self.suspended = False

    # -- checks -----------------------------------------------------------------------------
    def _now(self) -> ShadowRecord:
        return ShadowRecord(self.spaces, self.group2asid, self.vq_groups)

    def record(self) -> ShadowRecord:
        """A copy of the contract state now, to judge later what was done before a change."""
        return ShadowRecord(copy.deepcopy(self.spaces), list(self.group2asid),
                            dict(self.vq_groups))

    def expected_asid(self, vq: int, kind: AccessKind) -> int:
        """ASID a ``kind`` access of ``vq`` must use: its declared group's current binding."""
        return self._now().expected_asid(vq, kind)

    def violations(self, accesses: Sequence[DmaAccess]) -> list[str]:
        """Every access that left the mappings of the right ASID and permission."""
        return self._now().violations(accesses)

    def violations_across(self, before: ShadowRecord,
                          accesses: Sequence[DmaAccess]) -> list[str]:
        """Judge ``accesses`` made while an op changed the contract, with no way to tell which
        came before it took effect: each must be allowed before the change (``before``) or
        after it (now), and for each VQ and area (rings, buffers) an access allowed only after
        it is never followed by one allowed only before it (a change takes effect once)."""
        after = self._now()
        out = []
        moved: set[tuple[int, bool]] = set()
        for a in accesses:
            old_why = before.violations([a])
            new_why = after.violations([a])
            key = (a.vq, a.kind.is_ring)
            if old_why and new_why:
                out.append(f"{new_why[0]} (nor allowed before the change: {old_why[0]})")
            elif old_why:
                moved.add(key)
            elif new_why and key in moved:
                out.append(f"{new_why[0]}, after vq {a.vq} had already seen the change")
        return out
