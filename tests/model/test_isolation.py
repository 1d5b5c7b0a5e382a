# SPDX-License-Identifier: MIT
"""The isolation oracle: check_access and ContractShadow judge DMA against the ops issued."""

from __future__ import annotations

import pytest

from vdpa_model.device import ReferenceDevice
from vdpa_model.dma import AccessKind, AccessLog, DmaAccess, check_access
from vdpa_model.memory import GuestMemory
from vdpa_model.ops import IotlbRange
from vdpa_model.shadow import ContractShadow
from vdpa_model.spec import VHOST_ACCESS_RO, VHOST_ACCESS_RW, VHOST_ACCESS_WO
from vdpa_model.sync import run

# ASID 0: iova 0x1000-0x2fff -> pa 0x10000 (RW); iova 0x8000-0x8fff -> pa 0x20000 (RO);
# iova 0x9000-0x9000 -> pa 0x21000 and 0x9001-0x9fff -> pa 0x21001 (RW, two ranges that meet)
MAPS = {0: [IotlbRange(0x1000, 0x2000, 0x10000, VHOST_ACCESS_RW),
            IotlbRange(0x8000, 0x1000, 0x20000, VHOST_ACCESS_RO),
            IotlbRange(0x9000, 1, 0x21000, VHOST_ACCESS_RW),
            IotlbRange(0x9001, 0xFFF, 0x21001, VHOST_ACCESS_RW)],
        1: [IotlbRange(0x1000, 0x1000, 0x30000, VHOST_ACCESS_WO)]}


def acc(iova: int | None, pa: int, n: int = 16, write: bool = False, asid: int = 0,
        kind: AccessKind = AccessKind.BUFFER) -> DmaAccess:
    return DmaAccess(vq=1, asid=asid, iova=iova, pa=pa, length=n, write=write, kind=kind)


@pytest.mark.parametrize(("access", "expected_asid", "problem"), [
    (acc(0x1000, 0x10000), 0, None),
    (acc(0x2ff0, 0x11ff0, write=True), 0, None),
    (acc(0x1000, 0x10000), 1, "bound to asid 1"),
    (acc(0x2ff8, 0x11ff8), 0, "outside every mapping"),          # runs past the entry end
    (acc(0x8000, 0x20000, write=True), 0, "permission"),          # write to RO
    (acc(0x1000, 0x30000, asid=1), 1, "permission"),              # read from WO
    (acc(0x1000, 0x10008), 0, "mapping says 0x10000"),            # translated to the wrong PA
    (acc(None, 0x10100), 0, None),                                # bus-side view, inside
    (acc(None, 0x20000, write=True), 0, "permission"),
    (acc(None, 0x40000), 0, "outside every mapping"),
    (acc(None, 0x21000, n=8), 0, None),                           # a beat across two that meet
    (acc(0x9000, 0x21000, n=8), 0, "outside every mapping"),      # one piece must fit one range
    (acc(None, 0x20ff8, n=16, write=True), 0, "outside every mapping"),  # RO part: not writable
])
def test_check_access(access: DmaAccess, expected_asid: int, problem: str | None) -> None:
    """An access is allowed only in its group's ASID, inside one mapping, with its permission,
    at the PA the mapping gives (drivers/vhost/iotlb.c semantics; design brief 'isolation')."""
    why = check_access(access, expected_asid, lambda a: MAPS[a])
    if problem is None:
        assert why is None
    else:
        assert why is not None and problem in why


def test_shadow_tracks_bindings_and_maps_from_ops_not_from_the_device() -> None:
    """The shadow applies set_group_asid, set_map and reset(CLEAN_MAP) itself: a device that
    ignored them would be judged by what it was told (vdpa-semantics.md §3.5, §4)."""
    dev = ReferenceDevice(GuestMemory())
    shadow = ContractShadow(dev, frozenset({0}))
    run(shadow.set_driver_features(run(dev.get_device_features())))
    run(shadow.set_status(0x0F))
    assert shadow.vq_groups[1] == (0, 2)  # mlx5: data group 0, descriptor group 2
    run(shadow.set_group_asid(2, 1))
    run(shadow.set_map(1, MAPS[1]))
    assert shadow.expected_asid(1, AccessKind.DESC) == 1
    assert shadow.expected_asid(1, AccessKind.BUFFER) == 0
    assert shadow.violations([acc(0x5000, 0x5000)]) == []          # ASID 0 still identity
    assert shadow.violations([acc(0x1000, 0x30000, asid=1, kind=AccessKind.DESC)])  # WO ring
    run(shadow.compat_reset(1))
    assert shadow.group2asid == [0, 0, 0]
    assert shadow.spaces[1].ranges() == []                         # mlx5 ASID 1 has no default


def test_access_log_takes_bulk_records_from_its_source_before_every_read() -> None:
    """A bus model that collects accesses elsewhere (the RTL testbench's C++ bus models) hands
    them over in bulk; every reader of the log (length bookmark, entries, the shadow's check)
    still sees every access made up to the moment it reads."""
    log = AccessLog()
    pending: list[tuple[int, int, int | None, int, int, bool, int]] = []
    log.set_source(lambda: (log.extend(pending), pending.clear()))
    log.append(1, 0, 0x1000, 0x10000, 16, False, AccessKind.DESC)
    pending.append((1, 0, None, 0x40000, 8, True, AccessKind.BUFFER))
    mark = 1
    assert len(log) == 2
    pending.append((3, 1, None, 0x30000, 4, True, AccessKind.USED))
    got = log.entries(mark)
    assert [(a.vq, a.pa, a.write, a.kind) for a in got] == [
        (1, 0x40000, True, AccessKind.BUFFER), (3, 0x30000, True, AccessKind.USED)]
    shadow = ContractShadow(ReferenceDevice(GuestMemory()), frozenset({0}))
    run(shadow.set_map(0, MAPS[0]))
    pending.append((1, 0, None, 0x40000, 8, False, AccessKind.BUFFER))
    assert [w for w in shadow.violations(log.entries(3)) if "outside every mapping" in w]
    log.set_source(None)
    pending.append((1, 0, None, 0x10000, 8, False, AccessKind.BUFFER))
    assert len(log) == 4, "a detached source is not read again"


class _MapsMidOp(ReferenceDevice):
    """A device that makes DMA of its own while set_map runs (as a simulated one does):
    ``during`` is appended to the log half way through the op."""

    def __init__(self, log: AccessLog) -> None:
        super().__init__(GuestMemory(), log=log)
        self.during: list[tuple[int, int, int | None, int, int, bool, int]] = []

    async def set_map(self, asid: int, iotlb: list[IotlbRange]) -> None:  # type: ignore[override]
        self.log.extend(self.during)
        await super().set_map(asid, iotlb)


def test_a_shadow_with_the_log_judges_accesses_by_when_they_happened() -> None:
    """A device that makes DMA while ops run is judged by time: what came before a mapping
    change against the mappings before it, what came while the op ran against the mappings
    before or after it (the parent switches somewhere inside), the rest against the mappings
    now; an access allowed by neither fails."""
    log = AccessLog()
    dev = _MapsMidOp(log)
    shadow = ContractShadow(dev, frozenset({0}), log)
    run(shadow.set_map(0, MAPS[0]))
    old = (1, 0, 0x1000, 0x10000, 16, False, AccessKind.BUFFER)      # only in the first map
    new = (1, 0, 0x9000, 0x50000, 16, False, AccessKind.BUFFER)      # only in the second
    log.extend([old])                                                # before the change
    dev.during = [old, new]                                          # while it runs
    run(shadow.set_map(0, [IotlbRange(0x9000, 0x1000, 0x50000, VHOST_ACCESS_RO)]))
    assert shadow.found == []
    log.extend([old])                                                # after: the old map is gone
    assert shadow.judge() and len(shadow.found) == 1
    dev.during = [(1, 0, 0x7000, 0x70000, 16, False, AccessKind.BUFFER)]  # in neither map
    run(shadow.set_map(0, MAPS[0]))
    assert len(shadow.found) == 2 and "outside every mapping" in shadow.found[-1]
    # without the log the shadow judges only when asked, against the mappings then
    plain = ContractShadow(ReferenceDevice(GuestMemory()), frozenset({0}))
    assert plain.judge() == [] and plain.found == []
