# SPDX-License-Identifier: MIT
"""An independent record of what a parent must be doing, built only from the ops it was given.

:class:`ContractShadow` sits between vhost-vdpa and any :class:`VdpaOps` implementation and
forwards every call. From the calls that succeeded it keeps its own idea of the translations in
force per ASID, the group→ASID bindings, the status and the suspended flag, using the kernel's
rules (vdpa-semantics.md §3.5, §4) rather than the device's code. Device DMA is then checked
against that record, so the isolation check never trusts the IOTLB of the device it checks.

Given the device's access ``log``, the shadow judges it by time (:meth:`ContractShadow.judge`),
for devices that make DMA while ops run (a simulated device): accesses made before an op that
changes the record are judged against the record before it; accesses made while the op ran,
against the record before or after it (the parent switches at some point inside the op, mlx5's
map change atomically between chains); the rest whenever the caller judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .dma import AccessKind, AccessLog, DmaAccess, check_access
from .forward import ForwardingOps, OpCall
from .iotlb import AddressSpace
from .ops import IotlbRange, VdpaOps
from .spec import VDPA_RESET_F_CLEAN_MAP, VIRTIO_CONFIG_S_DRIVER_OK


class ContractShadow(ForwardingOps):
    """Forwarding proxy that records the contract state a parent must honour.

    Every op reaches the forwarding base's hook; once the inner device accepted it, the
    matching ``_after_<op>`` updates the record (ops that change nothing the shadow tracks
    have none).
    """

    def __init__(self, inner: VdpaOps, identity_asids: frozenset[int],
                 log: AccessLog | None = None) -> None:
        super().__init__(inner)
        self.spaces = [AddressSpace(a, identity=a in identity_asids) for a in range(inner.nas)]
        self.group2asid = [0] * inner.ngroups
        self.status = 0
        self.suspended = False
        #: (data group, descriptor group) per VQ, as the parent declared them at DRIVER_OK.
        self.vq_groups: dict[int, tuple[int, int]] = {}
        #: the device's DMA, judged by time (module docstring); ``found`` collects what broke
        self.log = log
        self.mark = 0
        self.found: list[str] = []

    async def _through(self, name: str, args: tuple[Any, ...], call: OpCall) -> Any:
        after = getattr(self, f"_after_{name}", None)
        if after is None:
            return await call(self.inner)
        if self.log is None:
            out = await call(self.inner)
            await after(*args)
            return out
        self.judge()  # what came before the op, against the record before it
        before = self._state()
        try:
            out = await call(self.inner)
            await after(*args)
        finally:
            during = self.log.entries(self.mark)
            self.mark += len(during)
            self.found += self._violations_in(during, before)
        return out

    # -- judging by time --------------------------------------------------------------------
    def _state(self) -> tuple[list[int], dict[int, tuple[int, int]], list[list[IotlbRange]]]:
        return (list(self.group2asid), dict(self.vq_groups),
                [s.ranges() for s in self.spaces])

    def _violations_in(self, accesses: Sequence[DmaAccess], state: tuple[
            list[int], dict[int, tuple[int, int]], list[list[IotlbRange]]]) -> list[str]:
        """Accesses that break isolation under the record ``state`` and under the current one
        (what each broke under ``state``)."""
        g2a, groups, ranges = state
        out = []
        for a in accesses:
            data, desc = groups.get(a.vq, (0, 0))
            old = check_access(a, g2a[desc if a.kind.is_ring else data], lambda s: ranges[s])
            if old and self.violations([a]):
                out.append(old)
        return out

    def judge(self) -> list[str]:
        """Judge the accesses logged since the last judgement against the record now; returns
        (and keeps in ``found``) what broke isolation."""
        if self.log is None:
            return []
        new = self.log.entries(self.mark)
        self.mark += len(new)
        bad = self.violations(new)
        self.found += bad
        return bad

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
