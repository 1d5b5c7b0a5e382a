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

# ASID 0: iova 0x1000-0x2fff -> pa 0x10000 (RW); iova 0x8000-0x8fff -> pa 0x20000 (RO)
MAPS = {0: [IotlbRange(0x1000, 0x2000, 0x10000, VHOST_ACCESS_RW),
            IotlbRange(0x8000, 0x1000, 0x20000, VHOST_ACCESS_RO)],
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


def test_accesses_across_a_rebinding_judged_before_or_after_once() -> None:
    """An op changed the contract while the device worked and the log does not say which
    accesses came first (a raced SET_GROUP_ASID): each access must be allowed before or
    after, and a VQ area that has used the new binding never goes back to the old one."""
    dev = ReferenceDevice(GuestMemory(1 << 30))
    shadow = ContractShadow(dev, frozenset())
    for asid in (0, 1):
        run(shadow.set_map(asid, [IotlbRange(0x1000, 0x2000, 0x10000, VHOST_ACCESS_RW)]))
    before = shadow.record()
    run(shadow.set_group_asid(0, 1))          # buffers of every data VQ now go through ASID 1
    old, new = acc(0x1000, 0x10000, asid=0), acc(0x1000, 0x10000, asid=1)
    assert shadow.violations_across(before, [old, old, new, new]) == []
    back = shadow.violations_across(before, [old, new, old])
    assert len(back) == 1 and "already seen the change" in back[0]
    stray = shadow.violations_across(before, [acc(0x9000, 0x50000, asid=1)])
    assert len(stray) == 1 and "nor allowed before the change" in stray[0]
    assert shadow.violations([old]) and not before.violations([old])
