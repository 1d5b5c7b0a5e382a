# SPDX-License-Identifier: MIT
"""Tests of the vhost-vdpa layer (vdpa_model.vhost) over the reference device.

Each test checks one check or effect of drivers/vhost/vdpa.c and the vhost core
(drivers/vhost/vhost.c) as vdpa-semantics.md describes it (§1 table, §2 backend features and
"Rules for handling a message", §3.5, §6 corner cases). The uapi numbers (status bits, backend
feature bits, IOTLB message layout) are restated below from the kernel headers, not imported
from the implementation, so a wrong constant in the model fails here.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Coroutine, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vdpa_model.device import ReferenceDevice
from vdpa_model.errors import VdpaError
from vdpa_model.iotlb import TranslationFault
from vdpa_model.memory import GiB, GuestMemory
from vdpa_model.ops import IotlbRange, IovaRange, VqState
from vdpa_model.options import DeviceOptions, Parent
from vdpa_model.sync import run
from vdpa_model.vhost import VhostOptions, VhostVdpa

# --- uapi, restated -------------------------------------------------------------------------
# include/uapi/linux/virtio_config.h
ACK, DRIVER, DRIVER_OK, FEATURES_OK = 0x1, 0x2, 0x4, 0x8
F_VERSION_1, F_ACCESS_PLATFORM = 1 << 32, 1 << 33
FEATURES = F_VERSION_1 | F_ACCESS_PLATFORM
# include/uapi/linux/vhost_types.h: backend feature BIT NUMBERS
MSG_V2, BATCH, IOTLB_ASID, SUSPEND, RESUME, ENABLE_AFTER_DRIVER_OK = 1, 2, 3, 4, 5, 6
DESC_ASID, IOTLB_PERSIST, GROUP_ASID_AFTER_DRIVER_OK = 7, 8, 9
# struct vhost_iotlb_msg.type and .perm
UPDATE, INVALIDATE, BATCH_BEGIN, BATCH_END = 2, 3, 5, 6
RO, WO, RW = 1, 2, 3
# struct vhost_msg_v2.type
VHOST_IOTLB_MSG_V2 = 2
# include/linux/vdpa.h
RESET_F_CLEAN_MAP = 1
U64_MAX = (1 << 64) - 1
MiB = 1 << 20


def b(n: int) -> int:
    return 1 << n


def msg_v2(mtype: int, asid: int = 0, iova: int = 0, size: int = 0, uaddr: int = 0, perm: int = 0,
           header: int = VHOST_IOTLB_MSG_V2) -> bytes:
    """struct vhost_msg_v2 (72 bytes) from the documented offsets (vdpa-semantics.md §2):
    u32 type @0, u32 asid @4, iova @8, size @16, uaddr @24 (u64), perm u8 @32, type u8 @33."""
    raw = bytearray(72)
    struct.pack_into("<I", raw, 0, header)
    struct.pack_into("<I", raw, 4, asid)
    struct.pack_into("<Q", raw, 8, iova)
    struct.pack_into("<Q", raw, 16, size)
    struct.pack_into("<Q", raw, 24, uaddr)
    raw[32] = perm
    raw[33] = mtype
    return bytes(raw)


# --- devices ---------------------------------------------------------------------------------
class Recorder(ReferenceDevice):
    """The reference device, logging the parent ops vhost-vdpa calls (names and arguments)."""

    def __init__(self, mem: GuestMemory, options: DeviceOptions | None = None) -> None:
        super().__init__(mem, options)
        self.calls: list[tuple[Any, ...]] = []

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]

    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        self.calls.append(("set_map", asid, tuple((r.iova, r.size, r.pa, r.perm) for r in iotlb)))
        await super().set_map(asid, iotlb)

    async def dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
        self.calls.append(("dma_map", asid, iova, size, pa, perm))
        await super().dma_map(asid, iova, size, pa, perm)

    async def dma_unmap(self, asid: int, iova: int, size: int) -> None:
        self.calls.append(("dma_unmap", asid, iova, size))
        await super().dma_unmap(asid, iova, size)

    async def reset(self) -> None:
        self.calls.append(("reset",))
        await super().reset()

    async def compat_reset(self, flags: int) -> None:
        self.calls.append(("compat_reset", flags))
        await super().compat_reset(flags)

    async def reset_map(self, asid: int) -> None:
        self.calls.append(("reset_map", asid))
        await super().reset_map(asid)

    async def suspend(self) -> None:
        self.calls.append(("suspend",))
        await super().suspend()

    async def resume(self) -> None:
        self.calls.append(("resume",))
        await super().resume()


class WithoutOps(Recorder):
    """A parent whose ``struct vdpa_config_ops`` leaves the named optional ops NULL."""

    absent: frozenset[str] = frozenset()

    def has_op(self, name: str) -> bool:
        return name not in self.absent and super().has_op(name)


class NoCompatReset(WithoutOps):
    absent = frozenset({"compat_reset"})


class NoResetMap(WithoutOps):
    absent = frozenset({"reset_map"})


class NarrowIova(Recorder):
    """A parent with a restricted IOVA window (vdpa_config_ops.get_iova_range)."""

    async def get_iova_range(self) -> IovaRange:
        return IovaRange(0x1000, 0xFFFF_FFFF)


def make(cls: type[Recorder] = Recorder, parent: Parent = Parent.MLX5, **opts: Any) -> Recorder:
    return cls(GuestMemory(size=64 * GiB), DeviceOptions.for_parent(parent, **opts))


def opened(dev: Recorder, acked: int | None = b(MSG_V2) | b(BATCH) | b(IOTLB_ASID),
           options: VhostOptions | None = None) -> VhostVdpa:
    """vhost_vdpa_open, then VHOST_SET_BACKEND_FEATURES with ``acked``; the parent call log
    starts empty after this."""
    v = VhostVdpa(dev, options)
    run(v.open())
    if acked is not None:
        run(v.set_backend_features(acked))
    dev.calls.clear()
    return v


def expect(err: int, coro: Coroutine[Any, Any, Any]) -> VdpaError:
    with pytest.raises(VdpaError) as info:
        run(coro)
    assert info.value.errno == err, str(info.value)
    return info.value


def to_features_ok(v: VhostVdpa) -> None:
    run(v.set_status(ACK | DRIVER))
    run(v.set_features(FEATURES))
    run(v.set_status(ACK | DRIVER | FEATURES_OK))


def to_driver_ok(v: VhostVdpa) -> None:
    to_features_ok(v)
    run(v.set_status(ACK | DRIVER | FEATURES_OK | DRIVER_OK))


def update(v: VhostVdpa, asid: int, iova: int, size: int, pa: int, perm: int = RW) -> None:
    run(v.process_iotlb_msg(asid, UPDATE, iova, size, pa, perm))


def device_ranges(dev: ReferenceDevice, asid: int) -> list[tuple[int, int, int, int]]:
    return [(r.iova, r.size, r.pa, r.perm) for r in dev.spaces[asid].ranges()]


IDENTITY = [(0, 1 << 64, 0, RW)]


# =============================================================================================
# IOTLB messages (§2 "Rules for handling a message", §6 items 8-12)
# =============================================================================================
def test_update_size_zero_is_einval() -> None:
    """vhost_vdpa_process_iotlb_update: !msg->size → -EINVAL; nothing reaches the parent."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.process_iotlb_msg(0, UPDATE, 0x1000, 0, 0x1000, RW))
    assert dev.calls == []
    assert device_ranges(dev, 0) == IDENTITY


def test_write_of_update_size_zero_is_einval_not_efault() -> None:
    """drivers/vhost/vhost.c: vhost_chr_write_iter refuses an UPDATE of size 0 with -EINVAL
    itself, before calling the message handler, so write() returns -EINVAL, not the -EFAULT
    every handler error becomes."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.write_iotlb(msg_v2(UPDATE, 0, 0x1000, 0, 0x1000, RW)))
    assert dev.calls == []


def test_invalidate_size_zero_at_iova_zero_invalidates_everything() -> None:
    """drivers/vhost/vhost.c, "vhost: Allow null msg.size on VHOST_IOTLB_INVALIDATE" (v6.6,
    Cc stable 5.17+): INVALIDATE with size 0 is no longer refused; vhost_vdpa_unmap then unmaps
    [iova, iova + size - 1] in u64 arithmetic, which for iova 0 is [0, U64_MAX]: every entry
    goes and a set_map parent gets the empty table."""
    dev = make()
    v = opened(dev)
    update(v, 0, 0x1000, 0x1000, 0x10_0000)
    update(v, 0, 0x8000_0000, 0x2000, 0x20_0000)
    dev.calls.clear()
    run(v.write_iotlb(msg_v2(INVALIDATE, 0, 0, 0)))
    assert dev.calls == [("set_map", 0, ())]
    assert len(v.as_tables[0]) == 0
    with pytest.raises(TranslationFault):
        dev.spaces[0].translate(0x1000, 1, write=False)


def test_invalidate_size_zero_elsewhere_takes_only_straddling_entries() -> None:
    """vhost_vdpa_unmap with size 0 at iova != 0: the range [iova, iova - 1] (u64) is empty, and
    vhost_iotlb_itree_first(start=iova, last=iova-1) returns only entries holding both iova - 1
    and iova; others stay. A dma_map parent gets one dma_unmap for it."""
    dev = make(incremental_map=True)
    v = opened(dev)
    update(v, 0, 0x1000, 0x2000, 0x10_0000)     # [0x1000, 0x2FFF] holds 0x1FFF and 0x2000
    update(v, 0, 0x4000, 0x1000, 0x20_0000)     # starts at 0x4000: does not hold 0x3FFF
    dev.calls.clear()
    run(v.process_iotlb_msg(0, INVALIDATE, 0x2000, 0))
    run(v.process_iotlb_msg(0, INVALIDATE, 0x4000, 0))
    assert dev.calls == [("dma_unmap", 0, 0x1000, 0x2000)]
    assert [(r.iova, r.size) for r in v.as_tables[0].ranges()] == [(0x4000, 0x1000)]


def test_update_below_iova_range_is_einval() -> None:
    """vhost_vdpa_process_iotlb_update: msg->iova < range.first → -EINVAL (range from the
    parent's get_iova_range)."""
    dev = make(NarrowIova)
    v = opened(dev)
    expect(errno.EINVAL, v.process_iotlb_msg(0, UPDATE, 0x0, 0x2000, 0, RW))
    assert dev.named("set_map") == [] and len(v.as_tables[0]) == 0


def test_update_past_iova_range_is_einval() -> None:
    """vhost_vdpa_process_iotlb_update: iova + size - 1 > range.last → -EINVAL; a range ending
    exactly at range.last is accepted."""
    dev = make(NarrowIova)
    v = opened(dev)
    expect(errno.EINVAL, v.process_iotlb_msg(0, UPDATE, 0xFFFF_F000, 0x1001, 0, RW))
    update(v, 0, 0xFFFF_F000, 0x1000, 0)
    update(v, 0, 0x1000, 0x1000, 0)
    assert [(r.iova, r.size) for r in v.as_tables[0].ranges()] == [(0x1000, 0x1000), (0xFFFF_F000, 0x1000)]


def test_update_that_wraps_is_einval() -> None:
    """vhost_vdpa_process_iotlb_update: msg->iova > U64_MAX - msg->size + 1 → -EINVAL."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.process_iotlb_msg(0, UPDATE, U64_MAX - 0xFFF, 0x2000, 0, RW))
    assert dev.calls == []


def test_overlapping_update_is_eexist_and_changes_nothing() -> None:
    """vhost_vdpa_process_iotlb_update: vhost_iotlb_itree_first finds an overlap → -EEXIST;
    neither vhost-vdpa's table nor the parent changes (§6 item 8)."""
    dev = make()
    v = opened(dev)
    update(v, 0, 0x10_0000, 0x4000, 0x50_0000)
    dev.calls.clear()
    expect(errno.EEXIST, v.process_iotlb_msg(0, UPDATE, 0x10_3000, 0x2000, 0x60_0000, RW))
    assert dev.calls == []
    assert [(r.iova, r.size, r.pa) for r in v.as_tables[0].ranges()] == [(0x10_0000, 0x4000, 0x50_0000)]
    assert device_ranges(dev, 0) == [(0x10_0000, 0x4000, 0x50_0000, RW)]


# vhost_vdpa_pa_map pins 4 KiB pages in calls of 512 (one page of page pointers). Restated here:
# pin_user_pages fails the call (-EFAULT) when its first page has no VMA and returns a short count
# (turned into -ENOMEM) when a later page has none; what was pinned is unwound.
PIN_PAGE, PIN_CALL = 4096, 512
USER_MEM = 8 * PIN_CALL * PIN_PAGE          # the owner's pinnable memory: 16 MiB at uaddr 0


@pytest.mark.parametrize("uaddr, size, err", [
    (USER_MEM, PIN_PAGE, errno.EFAULT),                                   # wholly past the end
    (USER_MEM + 64 * PIN_CALL * PIN_PAGE, 2 * PIN_PAGE, errno.EFAULT),    # far past it
    (USER_MEM - PIN_PAGE, 2 * PIN_PAGE, errno.ENOMEM),                    # crosses inside a call
    (USER_MEM - PIN_CALL * PIN_PAGE, (PIN_CALL + 1) * PIN_PAGE, errno.EFAULT),  # 2nd call starts past
    (USER_MEM - 3 * PIN_CALL * PIN_PAGE - PIN_PAGE, 4 * PIN_CALL * PIN_PAGE, errno.ENOMEM),
], ids=["past-end", "far-past", "crosses-in-call", "crosses-at-call", "crosses-in-4th-call"])
def test_update_of_unpinnable_memory_fails_and_changes_nothing(uaddr: int, size: int,
                                                                err: int) -> None:
    """drivers/vhost/vdpa.c: vhost_vdpa_pa_map: an UPDATE whose uaddr range is not all in the
    owner's memory fails in pin_user_pages: -EFAULT if a pin call's first page is outside,
    -ENOMEM if a later page of the call is. vhost-vdpa's table and the parent are unchanged, so
    the same IOVA maps afterwards without -EEXIST; write() reports the failure as -EFAULT."""
    dev = make()
    v = VhostVdpa(dev, user_memory=USER_MEM)
    run(v.open())
    run(v.set_backend_features(b(MSG_V2) | b(BATCH) | b(IOTLB_ASID)))
    update(v, 0, 0x1000, PIN_PAGE, 0)              # allocates AS 0, leaves identity
    dev.calls.clear()
    expect(err, v.process_iotlb_msg(0, UPDATE, 0x10_0000, size, uaddr, RW))
    assert dev.calls == []
    assert [(r.iova, r.size) for r in v.as_tables[0].ranges()] == [(0x1000, PIN_PAGE)]
    assert device_ranges(dev, 0) == [(0x1000, PIN_PAGE, 0, RW)]
    expect(errno.EFAULT, v.write_iotlb(msg_v2(UPDATE, 0, 0x10_0000, size, uaddr, RW)))
    update(v, 0, 0x10_0000, size, 0)               # same IOVA, pinnable memory: accepted
    assert (0x10_0000, size, 0, RW) in device_ranges(dev, 0)


def test_update_ending_at_the_end_of_pinnable_memory_is_accepted() -> None:
    dev = make()
    v = VhostVdpa(dev, user_memory=USER_MEM)
    run(v.open())
    update(v, 0, 0, USER_MEM, 0)
    assert device_ranges(dev, 0) == [(0, USER_MEM, 0, RW)]


def test_write_turns_handler_error_into_efault() -> None:
    """drivers/vhost/vhost.c: vhost_chr_write_iter: any error of the message handler reaches
    write() as -EFAULT (the overlap's -EEXIST included; §6 item 8)."""
    dev = make()
    v = opened(dev)
    run(v.write_iotlb(msg_v2(UPDATE, 0, 0x10_0000, 0x4000, 0x50_0000, RW)))
    assert device_ranges(dev, 0) == [(0x10_0000, 0x4000, 0x50_0000, RW)]
    expect(errno.EFAULT, v.write_iotlb(msg_v2(UPDATE, 0, 0x10_2000, 0x4000, 0x60_0000, RW)))
    expect(errno.EFAULT, v.write_iotlb(msg_v2(INVALIDATE, 1, 0x0, 0x1000)))     # AS 1 never allocated
    expect(errno.EFAULT, v.write_iotlb(msg_v2(UPDATE, 2, 0x0, 0x1000, 0, RW)))  # asid >= nas


def test_write_decodes_every_field_from_its_offset() -> None:
    """struct vhost_msg_v2 / vhost_iotlb_msg layout (vhost_types.h): iova, size, uaddr, perm and
    type each come from their own offset; with IOTLB_ASID acked the asid at @4 is honoured."""
    dev = make()
    v = opened(dev)
    run(v.write_iotlb(msg_v2(UPDATE, 1, 0x1234_5000, 0x3000, 0x7_8000_0000, WO)))
    assert device_ranges(dev, 1) == [(0x1234_5000, 0x3000, 0x7_8000_0000, WO)]
    assert device_ranges(dev, 0) == IDENTITY


def test_write_of_v1_message_applies_to_asid_zero() -> None:
    """vhost_chr_write_iter also takes a VHOST_IOTLB_MSG (type 1) ``struct vhost_msg``: the
    iotlb message sits at the same offset 8 after a 4-byte hole and there is no asid, so the
    message applies to ASID 0 even with IOTLB_ASID acked."""
    dev = make()
    v = opened(dev)
    run(v.write_iotlb(msg_v2(UPDATE, 1, 0x4000, 0x1000, 0x9000, RO, header=1)))
    assert device_ranges(dev, 0) == [(0x4000, 0x1000, 0x9000, RO)]
    assert device_ranges(dev, 1) == []


def test_set_status_zero_does_not_end_an_open_batch() -> None:
    """vhost_vdpa_set_status → _compat_vdpa_reset leaves v->in_batch alone (only
    vhost_vdpa_reset, on open and release, clears it): after SET_STATUS(0) a set_map parent
    still sees nothing until BATCH_END."""
    dev = make()
    v = opened(dev)
    run(v.process_iotlb_msg(0, BATCH_BEGIN))
    run(v.set_status(0))
    dev.calls.clear()
    update(v, 0, 0x1000, 0x1000, 0x9000)
    assert dev.calls == []
    run(v.process_iotlb_msg(0, BATCH_END))
    assert dev.named("set_map") == [("set_map", 0, ((0x1000, 0x1000, 0x9000, RW),))]


def test_write_of_wrong_length_is_einval() -> None:
    """vhost_chr_write_iter: a short message (copy_from_iter short) is -EINVAL."""
    v = opened(make())
    expect(errno.EINVAL, v.write_iotlb(msg_v2(UPDATE, 0, 0x1000, 0x1000, 0, RW)[:40]))


def test_write_with_unknown_header_type_is_einval() -> None:
    """vhost_chr_write_iter: a header type other than VHOST_IOTLB_MSG / _MSG_V2 is -EINVAL."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.write_iotlb(msg_v2(UPDATE, 0, 0x1000, 0x1000, 0, RW, header=7)))
    assert dev.calls == []


def test_update_allocates_the_address_space() -> None:
    """vhost_vdpa_process_iotlb_msg: UPDATE allocates the AS (vhost_vdpa_find_alloc_as); an
    INVALIDATE on it then works."""
    dev = make()
    v = opened(dev)
    assert v.as_tables == {}
    update(v, 1, 0x1000, 0x1000, 0x5000)
    assert set(v.as_tables) == {1}
    run(v.process_iotlb_msg(1, INVALIDATE, 0x1000, 0x1000))
    assert len(v.as_tables[1]) == 0


def test_batch_begin_allocates_the_address_space() -> None:
    """vhost_vdpa_process_iotlb_msg: BATCH_BEGIN allocates the AS too, so a BATCH_END and an
    INVALIDATE on it are accepted afterwards."""
    dev = make()
    v = opened(dev)
    run(v.process_iotlb_msg(1, BATCH_BEGIN))
    run(v.process_iotlb_msg(1, BATCH_END))
    run(v.process_iotlb_msg(1, INVALIDATE, 0, 0x1000))
    assert set(v.as_tables) == {1}


@pytest.mark.parametrize("mtype", [INVALIDATE, BATCH_END])
def test_message_on_never_allocated_as_is_einval(mtype: int) -> None:
    """vhost_vdpa_process_iotlb_msg: INVALIDATE or BATCH_END for an ASID no UPDATE/BATCH_BEGIN
    allocated → asid_to_iotlb is NULL → -EINVAL (§6 item 11)."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.process_iotlb_msg(1, mtype, 0x1000, 0x1000))
    assert dev.calls == [] and v.as_tables == {}


@pytest.mark.parametrize("mtype", [UPDATE, BATCH_BEGIN])
def test_allocating_message_with_asid_beyond_nas_is_einval(mtype: int) -> None:
    """vhost_vdpa_alloc_as: asid >= vdpa->nas → NULL → -EINVAL (§6 item 11); no batch opens."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.process_iotlb_msg(2, mtype, 0x1000, 0x1000, 0, RW))
    assert v.as_tables == {} and not v.in_batch and dev.calls == []


def test_message_for_other_asid_during_batch_is_einval() -> None:
    """vhost_vdpa_process_iotlb_msg: in_batch && batch_asid != asid → -EINVAL (§6 item 10); the
    batch stays open for its own ASID."""
    dev = make()
    v = opened(dev)
    run(v.process_iotlb_msg(0, BATCH_BEGIN))
    expect(errno.EINVAL, v.process_iotlb_msg(1, UPDATE, 0x1000, 0x1000, 0, RW))
    expect(errno.EINVAL, v.process_iotlb_msg(1, BATCH_END))
    assert v.in_batch
    update(v, 0, 0x1000, 0x1000, 0x2000)
    run(v.process_iotlb_msg(0, BATCH_END))
    assert dev.named("set_map") == [("set_map", 0, ((0x1000, 0x1000, 0x2000, RW),))]


def test_set_map_parent_sees_nothing_until_batch_end() -> None:
    """vhost_vdpa_map: a set_map parent is not called while in_batch; BATCH_END calls set_map
    once, for the END message's ASID, with the whole table (§6 item 10)."""
    dev = make()
    v = opened(dev)
    run(v.process_iotlb_msg(1, BATCH_BEGIN))
    update(v, 1, 0x1000, 0x1000, 0xA000, RO)
    update(v, 1, 0x4000, 0x2000, 0xC000, WO)
    run(v.process_iotlb_msg(1, INVALIDATE, 0x1000, 0x1000))
    update(v, 1, 0x8000, 0x1000, 0xE000)
    assert dev.calls == []
    assert device_ranges(dev, 1) == []
    run(v.process_iotlb_msg(1, BATCH_END))
    assert dev.calls == [("set_map", 1, ((0x4000, 0x2000, 0xC000, WO), (0x8000, 0x1000, 0xE000, RW)))]
    assert device_ranges(dev, 1) == [(0x4000, 0x2000, 0xC000, WO), (0x8000, 0x1000, 0xE000, RW)]
    assert device_ranges(dev, 0) == IDENTITY


def test_identity_as_stays_identity_during_a_batch() -> None:
    """For a set_map parent nothing changes before BATCH_END, so an identity AS still translates
    every address while the batch is open (§6 item 10)."""
    dev = make()
    v = opened(dev)
    run(v.process_iotlb_msg(0, BATCH_BEGIN))
    update(v, 0, 0x1000, 0x1000, 0x9000)
    assert dev.spaces[0].translate(0x1000, 4, write=True) == [(0x1000, 4)]
    run(v.process_iotlb_msg(0, BATCH_END))
    assert dev.spaces[0].translate(0x1000, 4, write=True) == [(0x9000, 4)]


def test_batch_end_without_begin_calls_no_parent_op() -> None:
    """vhost_vdpa_process_iotlb_msg: BATCH_END calls set_map only if in_batch."""
    dev = make()
    v = opened(dev)
    update(v, 0, 0x1000, 0x1000, 0x9000)
    dev.calls.clear()
    run(v.process_iotlb_msg(0, BATCH_END))
    assert dev.calls == []


def test_without_batching_each_message_calls_set_map() -> None:
    """vhost_vdpa_map/vhost_vdpa_unmap: outside a batch every UPDATE (one contiguous chunk) and
    every INVALIDATE rebuilds the parent's whole table with set_map (§6 item 9)."""
    dev = make()
    v = opened(dev)
    update(v, 0, 0x1000, 0x1000, 0xA000)
    update(v, 0, 0x3000, 0x1000, 0xB000)
    run(v.process_iotlb_msg(0, INVALIDATE, 0x1000, 0x1000))
    assert dev.calls == [
        ("set_map", 0, ((0x1000, 0x1000, 0xA000, RW),)),
        ("set_map", 0, ((0x1000, 0x1000, 0xA000, RW), (0x3000, 0x1000, 0xB000, RW))),
        ("set_map", 0, ((0x3000, 0x1000, 0xB000, RW),)),
    ]
    assert v.set_map_calls == 3


def test_dma_map_parent_is_updated_immediately_inside_a_batch() -> None:
    """vhost_vdpa_map: a parent with dma_map gets one dma_map per UPDATE at once, batch or not,
    and no set_map at BATCH_END (vdpa_sim with batch_mapping=0 has no .set_map) (§6 item 10)."""
    dev = make(incremental_map=True)
    v = opened(dev)
    run(v.process_iotlb_msg(0, BATCH_BEGIN))
    update(v, 0, 0x1000, 0x2000, 0xA000, RO)
    assert dev.calls == [("dma_map", 0, 0x1000, 0x2000, 0xA000, RO)]
    assert dev.spaces[0].translate(0x1800, 4, write=False) == [(0xA800, 4)]
    run(v.process_iotlb_msg(0, BATCH_END))
    assert dev.named("set_map") == []


def test_dma_map_parent_gets_one_unmap_per_whole_entry() -> None:
    """vhost_vdpa_general_unmap: INVALIDATE over part of two entries calls dma_unmap once per
    whole entry with the entry's own start and size, not the requested range (§6 item 7)."""
    dev = make(incremental_map=True)
    v = opened(dev)
    update(v, 0, 0x1000, 0x2000, 0xA000)
    update(v, 0, 0x3000, 0x1000, 0xD000)
    update(v, 0, 0x8000, 0x1000, 0xF000)
    dev.calls.clear()
    run(v.process_iotlb_msg(0, INVALIDATE, 0x2000, 0x1800))
    assert sorted(dev.calls) == [("dma_unmap", 0, 0x1000, 0x2000), ("dma_unmap", 0, 0x3000, 0x1000)]
    assert device_ranges(dev, 0) == [(0x8000, 0x1000, 0xF000, RW)]


def test_invalidate_removes_whole_entries_from_set_map_parent() -> None:
    """vhost_vdpa_pa_unmap: partial INVALIDATE removes entire entries, bytes outside the range
    included; the parent's new table no longer has them (§6 item 7)."""
    dev = make()
    v = opened(dev)
    update(v, 0, 0x10_0000, 0x10_0000, 0x100_0000)
    run(v.process_iotlb_msg(0, INVALIDATE, 0x1F_F000, 0x1000))
    assert device_ranges(dev, 0) == []
    with pytest.raises(TranslationFault):
        dev.spaces[0].translate(0x10_0000, 1, write=False)


def test_asid_field_ignored_without_iotlb_asid() -> None:
    """vhost_chr_write_iter: without VHOST_BACKEND_F_IOTLB_ASID acked the asid field is skipped
    and the message applies to ASID 0 (§2 bit 3)."""
    dev = make()
    v = opened(dev, acked=b(MSG_V2) | b(BATCH))
    run(v.write_iotlb(msg_v2(UPDATE, 1, 0x4000, 0x1000, 0x9000, RW)))
    assert device_ranges(dev, 0) == [(0x4000, 0x1000, 0x9000, RW)]
    assert device_ranges(dev, 1) == []
    assert set(v.as_tables) == {0}


def test_asid_beyond_nas_harmless_without_iotlb_asid() -> None:
    """Without IOTLB_ASID even an asid >= nas is ignored (treated as 0), not -EINVAL."""
    dev = make()
    v = opened(dev, acked=b(MSG_V2) | b(BATCH))
    run(v.process_iotlb_msg(7, UPDATE, 0x4000, 0x1000, 0x9000, RW))
    assert device_ranges(dev, 0) == [(0x4000, 0x1000, 0x9000, RW)]


def test_first_map_on_identity_as_drops_identity() -> None:
    """vdpa_sim.c: vdpasim_set_map: the first map on an identity AS replaces the identity
    mapping, so any access outside the new maps faults (§6 item 12)."""
    dev = make(parent=Parent.SIM)
    v = opened(dev)
    assert dev.spaces[1].translate(0x7000_0000, 8, write=True) == [(0x7000_0000, 8)]
    update(v, 1, 0x10_0000, 0x1000, 0x20_0000)
    assert dev.spaces[1].translate(0x10_0010, 8, write=True) == [(0x20_0010, 8)]
    for iova in (0x0, 0x7000_0000, 0x20_0000, 0x10_1000):
        with pytest.raises(TranslationFault):
            dev.spaces[1].translate(iova, 1, write=False)
    assert dev.spaces[0].translate(0x7000_0000, 8, write=True) == [(0x7000_0000, 8)]


def test_first_dma_map_on_identity_as_drops_identity() -> None:
    """vdpa_sim.c: vdpasim_dma_map: the first dma_map on an identity AS wipes the identity entry
    (§6 item 12)."""
    dev = make(incremental_map=True)
    v = opened(dev)
    update(v, 0, 0x10_0000, 0x1000, 0x20_0000)
    with pytest.raises(TranslationFault):
        dev.spaces[0].translate(0x0, 1, write=False)


def test_failed_parent_map_is_unwound_from_vhost_table() -> None:
    """vhost_vdpa_map: if the parent's dma_map fails, vhost_iotlb_del_range removes the entry
    just added, so a retry is not -EEXIST."""

    class FailOnce(Recorder):
        failed = False

        async def dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
            if not self.failed:
                self.failed = True
                raise VdpaError(errno.ENOMEM, "dma_map", "injected")
            await super().dma_map(asid, iova, size, pa, perm)

    dev = make(FailOnce, incremental_map=True)
    v = opened(dev)
    expect(errno.ENOMEM, v.process_iotlb_msg(0, UPDATE, 0x1000, 0x1000, 0x5000, RW))
    assert len(v.as_tables[0]) == 0
    update(v, 0, 0x1000, 0x1000, 0x5000)
    assert device_ranges(dev, 0) == [(0x1000, 0x1000, 0x5000, RW)]


MESSAGES = st.lists(st.tuples(st.sampled_from([UPDATE, UPDATE, INVALIDATE]), st.integers(0, 31),
                              st.integers(1, 6), st.sampled_from([RO, WO, RW])), max_size=25)


@pytest.mark.parametrize("incremental", [False, True], ids=["set_map", "dma_map"])
@given(msgs=MESSAGES)
def test_parent_table_follows_vhost_table(incremental: bool,
                                          msgs: list[tuple[int, int, int, int]]) -> None:
    """Outside a batch, after every accepted UPDATE or INVALIDATE the parent's translations equal
    vhost-vdpa's own table, whether it is told by set_map (whole table) or dma_map/dma_unmap
    (per entry); a refused overlap (-EEXIST) changes neither (vhost_vdpa_map/unmap)."""
    dev = make(incremental_map=incremental)
    v = opened(dev)
    entries: dict[int, tuple[int, int, int]] = {}    # page -> (pages, pa, perm): a reference table
    page = 0x1000
    for step, (mtype, first, pages, perm) in enumerate(msgs):
        iova, size = first * page, pages * page
        overlapping = {p for p, (n, _, _) in entries.items() if p < first + pages and first < p + n}
        if mtype == UPDATE:
            if overlapping:
                expect(errno.EEXIST, v.process_iotlb_msg(0, UPDATE, iova, size, 0x100_0000 + iova, perm))
            else:
                update(v, 0, iova, size, 0x100_0000 + iova, perm)
                entries[first] = (pages, 0x100_0000 + iova, perm)
        elif not any(m[0] == UPDATE for m in msgs[:step]):    # no UPDATE yet: AS 0 not allocated
            expect(errno.EINVAL, v.process_iotlb_msg(0, INVALIDATE, iova, size))
            continue
        else:
            run(v.process_iotlb_msg(0, INVALIDATE, iova, size))
            for p in overlapping:
                del entries[p]
        want = sorted((p * page, n * page, pa, pm) for p, (n, pa, pm) in entries.items())
        assert [(r.iova, r.size, r.pa, r.perm) for r in v.as_tables[0].ranges()] == want
        if want or dev.calls:
            assert device_ranges(dev, 0) == want


# =============================================================================================
# Backend features (§2 table, §6 item 21)
# =============================================================================================
def test_get_backend_features_mlx5() -> None:
    """VHOST_GET_BACKEND_FEATURES: MSG_V2|BATCH|ASID always; SUSPEND/RESUME because the parent
    has the ops; DESC_ASID because it has get_vq_desc_group; IOTLB_PERSIST because it has
    reset_map; ENABLE_AFTER_DRIVER_OK from the parent's get_backend_features (mlx5 offers it)."""
    v = opened(make(), acked=None)
    assert run(v.get_backend_features()) == (b(MSG_V2) | b(BATCH) | b(IOTLB_ASID) | b(SUSPEND) | b(RESUME)
                                              | b(ENABLE_AFTER_DRIVER_OK) | b(DESC_ASID) | b(IOTLB_PERSIST))


def test_get_backend_features_sim() -> None:
    """vdpa_sim has no get_vq_desc_group → no DESC_ASID; it offers GROUP_ASID_AFTER_DRIVER_OK
    (2026 tree) and ENABLE_AFTER_DRIVER_OK itself."""
    v = opened(make(parent=Parent.SIM), acked=None)
    got = run(v.get_backend_features())
    assert got & 0x0E == 0x0E
    assert not got & b(DESC_ASID)
    assert got & b(GROUP_ASID_AFTER_DRIVER_OK) and got & b(ENABLE_AFTER_DRIVER_OK)
    assert got & b(SUSPEND) and got & b(RESUME) and got & b(IOTLB_PERSIST)


def test_iotlb_asid_offered_even_with_one_address_space() -> None:
    """IOTLB_ASID is always offered, even if the parent has a single AS (QEMU notes this;
    §2 bit 3, §6 item 18)."""
    v = opened(make(nas=1, identity_asids=frozenset({0})), acked=None)
    assert run(v.get_backend_features()) & 0x0E == 0x0E


@pytest.mark.parametrize(("opt", "bit"), [("has_suspend", SUSPEND), ("has_resume", RESUME)])
def test_suspend_resume_offered_only_with_the_op(opt: str, bit: int) -> None:
    """vhost_vdpa_can_suspend/can_resume: SUSPEND/RESUME offered iff the op is non-NULL; SET of
    the bit without it is -EOPNOTSUPP."""
    v = opened(make(**{opt: False}), acked=None)
    offered = run(v.get_backend_features())
    assert not offered & b(bit)
    assert offered & b(SUSPEND + RESUME - bit)
    expect(errno.EOPNOTSUPP, v.set_backend_features(b(IOTLB_ASID) | b(bit)))
    assert v.acked_backend == 0


def test_persist_not_offered_without_reset_map() -> None:
    """vhost_vdpa_has_persistent_map: a set_map parent without reset_map (and not offering the
    bit itself) gets no IOTLB_PERSIST; SET of it → -EOPNOTSUPP (§6 item 21)."""
    v = opened(make(NoResetMap), acked=None)
    assert not run(v.get_backend_features()) & b(IOTLB_PERSIST)
    expect(errno.EOPNOTSUPP, v.set_backend_features(b(IOTLB_ASID) | b(IOTLB_PERSIST)))


@pytest.mark.parametrize("unknown", [0, 10, 11, 40, 63])
def test_set_unknown_backend_bit_is_eopnotsupp(unknown: int) -> None:
    """VHOST_SET_BACKEND_FEATURES: bits outside the known set (0, 10 and up) → -EOPNOTSUPP, and
    nothing is acked."""
    v = opened(make(), acked=None)
    expect(errno.EOPNOTSUPP, v.set_backend_features(b(MSG_V2) | b(unknown)))
    assert v.acked_backend == 0


def test_desc_asid_without_iotlb_asid_is_einval() -> None:
    """VHOST_SET_BACKEND_FEATURES: DESC_ASID without IOTLB_ASID → -EINVAL (§6 item 21); with it,
    accepted on mlx5."""
    v = opened(make(), acked=None)
    expect(errno.EINVAL, v.set_backend_features(b(MSG_V2) | b(DESC_ASID)))
    run(v.set_backend_features(b(IOTLB_ASID) | b(DESC_ASID)))
    assert v.acked_backend == b(IOTLB_ASID) | b(DESC_ASID)


def test_desc_asid_without_iotlb_asid_is_einval_before_desc_group_check() -> None:
    """drivers/vhost/vdpa.c: the DESC_ASID-needs-IOTLB_ASID check (-EINVAL) comes before the
    has_desc_group check (-EOPNOTSUPP): on vdpa_sim, DESC_ASID alone is -EINVAL, DESC_ASID with
    IOTLB_ASID is -EOPNOTSUPP."""
    v = opened(make(parent=Parent.SIM), acked=None)
    expect(errno.EINVAL, v.set_backend_features(b(DESC_ASID)))
    expect(errno.EOPNOTSUPP, v.set_backend_features(b(IOTLB_ASID) | b(DESC_ASID)))


def test_group_asid_after_driver_ok_needs_iotlb_asid() -> None:
    """(2026 tree) VHOST_SET_BACKEND_FEATURES: GROUP_ASID_AFTER_DRIVER_OK without IOTLB_ASID →
    -EINVAL, even on a parent that does not offer it; with IOTLB_ASID but not offered →
    -EOPNOTSUPP (§2 bit 9)."""
    v = opened(make(), acked=None)
    expect(errno.EINVAL, v.set_backend_features(b(GROUP_ASID_AFTER_DRIVER_OK)))
    expect(errno.EOPNOTSUPP, v.set_backend_features(b(IOTLB_ASID) | b(GROUP_ASID_AFTER_DRIVER_OK)))
    sim = opened(make(parent=Parent.SIM), acked=None)
    run(sim.set_backend_features(b(IOTLB_ASID) | b(GROUP_ASID_AFTER_DRIVER_OK)))


def test_enable_after_driver_ok_accepted_even_if_parent_does_not_offer_it() -> None:
    """VHOST_SET_BACKEND_FEATURES has no check on ENABLE_AFTER_DRIVER_OK beyond it being a known
    bit: it is advisory (§2 bit 6, §6 item 5)."""
    v = opened(make(enable_after_driver_ok=False), acked=None)
    assert not run(v.get_backend_features()) & b(ENABLE_AFTER_DRIVER_OK)
    run(v.set_backend_features(b(IOTLB_ASID) | b(ENABLE_AFTER_DRIVER_OK)))
    assert v.acked(ENABLE_AFTER_DRIVER_OK)


# =============================================================================================
# Per-vq ioctls: prologue and group/ASID binding (§1, §6 items 1-2)
# =============================================================================================
PER_VQ = {
    "SET_VRING_NUM": lambda v, i: v.set_vring_num(i, 0),
    "SET_VRING_ADDR": lambda v, i: v.set_vring_addr(i, 0x1000, 0x2001, 0x3002, flags=0x80),
    "SET_VRING_BASE": lambda v, i: v.set_vring_base(i, 0x10000),
    "GET_VRING_BASE": lambda v, i: v.get_vring_base(i),
    "SET_VRING_ENABLE": lambda v, i: v.set_vring_enable(i, True),
    "GET_VRING_GROUP": lambda v, i: v.get_vring_group(i),
    "GET_VRING_DESC_GROUP": lambda v, i: v.get_vring_desc_group(i),
    "SET_GROUP_ASID": lambda v, i: v.set_group_asid(i, 99),
}


@pytest.mark.parametrize("ioctl", sorted(PER_VQ))
@pytest.mark.parametrize("parent", [Parent.MLX5, Parent.SIM])
def test_vq_index_beyond_nvqs_is_enobufs_first(ioctl: str, parent: Parent) -> None:
    """vhost_vdpa_vring_ioctl: idx >= v->nvqs → -ENOBUFS before any other check (the other
    arguments here are invalid too), and the parent is not called."""
    dev = make(parent=parent)
    v = opened(dev)
    for idx in (dev.nvqs, dev.nvqs + 5, 0xFFFF_FFFF):
        expect(errno.ENOBUFS, PER_VQ[ioctl](v, idx))
    assert dev.calls == []


def test_set_group_asid_group_equal_ngroups_is_einval() -> None:
    """VHOST_VDPA_SET_GROUP_ASID: group == ngroups (< nvqs) → -EINVAL (T2; §6 item 1: vdpa_sim
    used to write out of bounds). sim: 2 groups, 3 vqs."""
    dev = make(parent=Parent.SIM)
    v = opened(dev)
    expect(errno.EINVAL, v.set_group_asid(2, 0))
    assert dev.group2asid == [0, 0]


def test_set_group_asid_checks_nvqs_then_ngroups() -> None:
    """VHOST_VDPA_SET_GROUP_ASID: the index is a group but is first checked against nvqs
    (-ENOBUFS, §6 item 2), then against ngroups (-EINVAL). mlx5 with 4 queue pairs: 9 vqs,
    3 groups."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.set_group_asid(3, 0))
    expect(errno.EINVAL, v.set_group_asid(8, 0))
    expect(errno.ENOBUFS, v.set_group_asid(9, 0))


def test_set_group_asid_asid_beyond_nas_is_einval() -> None:
    """VHOST_VDPA_SET_GROUP_ASID: s.num >= vdpa->nas → -EINVAL; a valid binding is applied."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.set_group_asid(1, 2))
    assert dev.group2asid == [0, 0, 0]
    run(v.set_group_asid(2, 1))
    assert dev.group2asid == [0, 0, 1]


def test_set_group_asid_after_driver_ok_is_ebusy() -> None:
    """(2026 tree) VHOST_VDPA_SET_GROUP_ASID in DRIVER_OK without GROUP_ASID_AFTER_DRIVER_OK acked
    → -EBUSY; bounds are still checked first (-EINVAL)."""
    dev = make(parent=Parent.SIM)
    v = opened(dev)
    to_driver_ok(v)
    expect(errno.EBUSY, v.set_group_asid(1, 1))
    expect(errno.EINVAL, v.set_group_asid(1, 2))
    assert dev.group2asid == [0, 0]


def test_set_group_asid_after_driver_ok_allowed_when_acked() -> None:
    """(2026 tree) With GROUP_ASID_AFTER_DRIVER_OK acked (vdpa_sim offers it) rebinding in
    DRIVER_OK is allowed."""
    dev = make(parent=Parent.SIM)
    v = opened(dev, acked=b(IOTLB_ASID) | b(GROUP_ASID_AFTER_DRIVER_OK))
    to_driver_ok(v)
    run(v.set_group_asid(1, 1))
    assert dev.group2asid == [0, 1]


def test_set_group_asid_after_driver_ok_allowed_on_older_kernels() -> None:
    """Before the 2026 tree vhost-vdpa had no DRIVER_OK check on SET_GROUP_ASID (§4)."""
    dev = make(parent=Parent.SIM)
    v = opened(dev, options=VhostOptions(group_asid_busy_after_driver_ok=False))
    to_driver_ok(v)
    run(v.set_group_asid(1, 1))
    assert dev.group2asid == [0, 1]


def test_get_vring_group_out_of_range_answer_is_eio() -> None:
    """VHOST_VDPA_GET_VRING_GROUP: a parent answering a group >= ngroups → -EIO."""

    class BadGroup(Recorder):
        async def get_vq_group(self, idx: int) -> int:
            return self.ngroups

    v = opened(make(BadGroup))
    expect(errno.EIO, v.get_vring_group(0))


def test_get_vring_group_answers_parent_group() -> None:
    """VHOST_VDPA_GET_VRING_GROUP passes the parent's answer through: mlx5 data vq → group 0,
    and with CTRL_VQ negotiated (no MQ) the CVQ at index 2 → group 1 (§4)."""
    dev = make()
    v = opened(dev)
    run(v.set_status(ACK | DRIVER))
    run(v.set_features(FEATURES | b(17)))    # VIRTIO_NET_F_CTRL_VQ
    assert run(v.get_vring_group(0)) == 0
    assert run(v.get_vring_group(2)) == 1


def test_set_vring_enable_after_driver_ok_is_not_refused() -> None:
    """VHOST_VDPA_SET_VRING_ENABLE has no DRIVER_OK check (T8 not merged; §6 item 5): a late
    enable reaches set_vq_ready."""
    dev = make()
    v = opened(dev)
    to_driver_ok(v)
    run(v.set_vring_enable(1, True))
    assert run(dev.get_vq_ready(1))


def test_get_vring_desc_group_needs_the_op() -> None:
    """VHOST_VDPA_GET_VRING_DESC_GROUP: -EOPNOTSUPP without get_vq_desc_group (vdpa_sim); mlx5
    answers DATAVQ_DESC group 2 for a data vq."""
    expect(errno.EOPNOTSUPP, opened(make(parent=Parent.SIM)).get_vring_desc_group(0))
    v = opened(make(), acked=b(IOTLB_ASID) | b(DESC_ASID))
    assert run(v.get_vring_desc_group(0)) == 2


# =============================================================================================
# SET_VRING_NUM / ADDR / BASE (§1, §6 items 3 and 25)
# =============================================================================================
@pytest.mark.parametrize("num", [0, 3, 255, 0x10000, 0x1_0000_0000, 512, 0x8000])
def test_set_vring_num_invalid_is_einval(num: int) -> None:
    """vhost_vring_set_num: 0, not a power of two, > 0xffff → -EINVAL; (2026 tree) also above the
    get_vq_num_max cached at reset (256 here). The parent is not told."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.set_vring_num(0, num))
    assert v.vqs[0].num == 0
    assert run(dev.get_vq_size(0)) == 256


def test_set_vring_num_valid_reaches_parent() -> None:
    """A power of two <= vq_num_max is stored by the core and passed to set_vq_num."""
    dev = make()
    v = opened(dev)
    run(v.set_vring_num(1, 64))
    assert v.vqs[1].num == 64 and run(dev.get_vq_size(1)) == 64
    run(v.set_vring_num(1, 256))
    assert run(dev.get_vq_size(1)) == 256


@pytest.mark.parametrize("flags", [0x2, 0x80, 0x8000_0000])
def test_set_vring_addr_bad_flags_is_eopnotsupp(flags: int) -> None:
    """vhost_vring_set_addr: flags other than VHOST_VRING_F_LOG → -EOPNOTSUPP."""
    dev = make()
    v = opened(dev)
    expect(errno.EOPNOTSUPP, v.set_vring_addr(0, 0x1000, 0x2000, 0x3000, flags=flags))
    assert dev.vqs[0].desc_area == 0


def test_set_vring_addr_log_flag_accepted() -> None:
    """vhost_vring_set_addr: flag bit VHOST_VRING_F_LOG (bit 0) is allowed."""
    dev = make()
    v = opened(dev)
    run(v.set_vring_addr(0, 0x1000, 0x2000, 0x3000, flags=0x1))
    assert dev.vqs[0].driver_area == 0x2000


@pytest.mark.parametrize(("avail", "used"), [(0x2001, 0x3000), (0x2000, 0x3002), (0x2000, 0x3001)])
def test_set_vring_addr_misaligned_is_einval(avail: int, used: int) -> None:
    """vhost_vring_set_addr: avail not 2-aligned or used not 4-aligned → -EINVAL; neither the
    core's copy nor the device changes."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.set_vring_addr(0, 0x1000, avail, used))
    assert (v.vqs[0].avail, v.vqs[0].used) == (0, 0)
    assert dev.vqs[0].driver_area == 0 and dev.vqs[0].device_area == 0


def test_set_vring_addr_does_not_check_desc_alignment() -> None:
    """vhost_vring_set_addr checks avail and used alignment but NOT the 16-byte desc alignment
    (§6 item 25): an odd desc address reaches the device."""
    dev = make()
    v = opened(dev)
    run(v.set_vring_addr(0, 0x1001, 0x2002, 0x3004))
    assert (dev.vqs[0].desc_area, dev.vqs[0].driver_area, dev.vqs[0].device_area) == (0x1001, 0x2002, 0x3004)


def test_set_vring_addr_in_driver_ok_is_einval_after_core_stored_it() -> None:
    """vhost_vdpa_vring_ioctl: SET_VRING_ADDR in DRIVER_OK and not suspended → -EINVAL, but only
    after vhost_vring_ioctl stored the new addresses: the core's copy and the device disagree
    (§6 item 3, T1)."""
    dev = make()
    v = opened(dev)
    run(v.set_vring_addr(0, 0x1000, 0x2000, 0x3000))
    to_driver_ok(v)
    expect(errno.EINVAL, v.set_vring_addr(0, 0x5000, 0x6000, 0x7000))
    assert (v.vqs[0].desc, v.vqs[0].avail, v.vqs[0].used) == (0x5000, 0x6000, 0x7000)
    assert (dev.vqs[0].desc_area, dev.vqs[0].driver_area, dev.vqs[0].device_area) == (0x1000, 0x2000, 0x3000)


def test_set_vring_addr_allowed_when_suspended() -> None:
    """vhost_vdpa_vring_ioctl: in DRIVER_OK, SET_VRING_ADDR is allowed once suspended."""
    dev = make()
    v = opened(dev)
    to_driver_ok(v)
    run(v.suspend())
    run(v.set_vring_addr(0, 0x5000, 0x6000, 0x7000))
    assert (dev.vqs[0].desc_area, dev.vqs[0].driver_area, dev.vqs[0].device_area) == (0x5000, 0x6000, 0x7000)


def test_set_vring_addr_parent_failure_is_einval() -> None:
    """vhost_vdpa_vring_ioctl: if ops->set_vq_address fails, SET_VRING_ADDR returns -EINVAL
    whatever the parent's error was (§1 set_vq_address: '-EINVAL ... op fails')."""

    class RefusesAddress(Recorder):
        async def set_vq_address(self, idx: int, desc_area: int, driver_area: int,
                                 device_area: int) -> None:
            raise VdpaError(errno.ENOMEM, "set_vq_address", "injected")

    v = opened(make(RefusesAddress))
    expect(errno.EINVAL, v.set_vring_addr(0, 0x1000, 0x2000, 0x3000))


@pytest.mark.parametrize("base", [0x10000, 0x1_0000_0000])
def test_set_vring_base_beyond_u16_is_einval(base: int) -> None:
    """vhost_vring_ioctl VHOST_SET_VRING_BASE (split): s.num > 0xffff → -EINVAL before storing."""
    dev = make()
    v = opened(dev)
    expect(errno.EINVAL, v.set_vring_base(0, base))
    assert v.vqs[0].last_avail_idx == 0
    assert run(dev.get_vq_state(0)) == VqState(0)


def test_set_vring_base_reaches_parent() -> None:
    """VHOST_SET_VRING_BASE before DRIVER_OK: set_vq_state with avail_index = the value."""
    dev = make()
    v = opened(dev)
    run(v.set_vring_base(1, 0xFFFF))
    assert run(dev.get_vq_state(1)) == VqState(0xFFFF)


def test_set_vring_base_in_driver_ok_is_einval_after_core_stored_it() -> None:
    """vhost_vdpa_vring_ioctl: SET_VRING_BASE in DRIVER_OK and not suspended → -EINVAL after the
    core stored last_avail_idx; the device keeps its old index (§6 item 3)."""
    dev = make()
    v = opened(dev)
    run(v.set_vring_base(0, 7))
    to_driver_ok(v)
    expect(errno.EINVAL, v.set_vring_base(0, 1234))
    assert v.vqs[0].last_avail_idx == 1234
    assert run(dev.get_vq_state(0)) == VqState(7)


def test_set_vring_base_allowed_when_suspended() -> None:
    """vhost_vdpa_vring_ioctl: in DRIVER_OK, SET_VRING_BASE is allowed once suspended."""
    dev = make()
    v = opened(dev)
    to_driver_ok(v)
    run(v.suspend())
    run(v.set_vring_base(0, 1234))
    assert run(dev.get_vq_state(0)) == VqState(1234)


def test_get_vring_base_copies_device_state_into_core() -> None:
    """VHOST_GET_VRING_BASE: get_vq_state's avail_index goes into vq->last_avail_idx, which is
    returned."""
    dev = make()
    v = opened(dev)
    run(dev.set_vq_state(2, VqState(321)))
    assert run(v.get_vring_base(2)) == 321 and v.vqs[2].last_avail_idx == 321


# =============================================================================================
# Status, features, reset (§3.1, §3.5, §6 items 13, 14, 22)
# =============================================================================================
def test_set_status_clearing_a_bit_is_einval() -> None:
    """vhost_vdpa_set_status: a non-zero status that clears a bit already set → -EINVAL; the
    device status is unchanged (§6 item 22)."""
    dev = make()
    v = opened(dev)
    run(v.set_status(ACK | DRIVER))
    expect(errno.EINVAL, v.set_status(ACK))
    expect(errno.EINVAL, v.set_status(DRIVER | FEATURES_OK))
    assert run(v.get_status()) == ACK | DRIVER


def test_set_status_does_not_check_bit_order() -> None:
    """vhost-vdpa does not check the order of status bits (§1 set_status, §3.1)."""
    dev = make()
    v = opened(dev)
    run(v.set_status(ACK | DRIVER | FEATURES_OK))
    assert run(v.get_status()) == ACK | DRIVER | FEATURES_OK


def test_set_features_after_features_ok_is_ebusy() -> None:
    """vhost_vdpa_set_features: FEATURES_OK already set → -EBUSY; the negotiated features stay
    (§6 item 22)."""
    dev = make()
    v = opened(dev)
    to_features_ok(v)
    expect(errno.EBUSY, v.set_features(F_ACCESS_PLATFORM))
    assert run(dev.get_driver_features()) == FEATURES


def test_set_features_parent_failure_is_einval() -> None:
    """vhost_vdpa_set_features: vdpa_set_features failing → -EINVAL whatever the parent said
    (mlx5 refuses a missing ACCESS_PLATFORM with -EOPNOTSUPP)."""
    v = opened(make())
    expect(errno.EINVAL, v.set_features(F_VERSION_1))


def map_both(v: VhostVdpa) -> None:
    update(v, 0, 0x1000, 0x1000, 0xA000)
    update(v, 1, 0x2000, 0x1000, 0xB000)


def test_reset_without_persist_cleans_maps() -> None:
    """_compat_vdpa_reset: without IOTLB_PERSIST acked, SET_STATUS(0) → compat_reset(CLEAN_MAP):
    the parent's ASes go back to their defaults (mlx5: ASID 0 identity, ASID 1 empty), while
    vhost-vdpa's own tables keep their entries (§3.5, §6 item 13)."""
    dev = make()
    v = opened(dev)
    map_both(v)
    dev.calls.clear()
    run(v.set_status(0))
    assert dev.calls[0] == ("compat_reset", RESET_F_CLEAN_MAP)
    assert device_ranges(dev, 0) == IDENTITY
    assert device_ranges(dev, 1) == []
    assert [(r.iova, r.size) for r in v.as_tables[0].ranges()] == [(0x1000, 0x1000)]
    assert [(r.iova, r.size) for r in v.as_tables[1].ranges()] == [(0x2000, 0x1000)]


def test_reset_with_persist_keeps_maps() -> None:
    """_compat_vdpa_reset: with IOTLB_PERSIST acked the flags are 0 → reset(): mappings survive,
    group→ASID bindings go back to 0 (§6 item 13)."""
    dev = make()
    v = opened(dev, acked=b(IOTLB_ASID) | b(BATCH) | b(IOTLB_PERSIST))
    map_both(v)
    run(v.set_group_asid(2, 1))
    dev.calls.clear()
    run(v.set_status(0))
    assert dev.calls == [("reset",)]
    assert device_ranges(dev, 0) == [(0x1000, 0x1000, 0xA000, RW)]
    assert device_ranges(dev, 1) == [(0x2000, 0x1000, 0xB000, RW)]
    assert dev.group2asid == [0, 0, 0]
    assert run(v.get_status()) == 0


def test_reset_uses_reset_when_parent_lacks_compat_reset() -> None:
    """include/linux/vdpa.h: vdpa_reset calls compat_reset only if the parent has it AND flags
    are non-zero; otherwise reset(), even when CLEAN_MAP was asked for: maps survive (§6 item 14)."""
    dev = make(NoCompatReset)
    v = opened(dev)
    map_both(v)
    dev.calls.clear()
    run(v.set_status(0))
    assert dev.calls == [("reset",)]
    assert device_ranges(dev, 0) == [(0x1000, 0x1000, 0xA000, RW)]
    assert device_ranges(dev, 1) == [(0x2000, 0x1000, 0xB000, RW)]


def test_open_resets_with_flags_zero() -> None:
    """vhost_vdpa_open: vhost_vdpa_reset before the vqs exist → flags 0 → reset(), never
    compat_reset, so maps set by an earlier user survive open (§3.5 'open(fd)')."""
    dev = make()
    run(dev.set_map(0, [IotlbRange(0x1000, 0x1000, 0x5000, RW)]))
    dev.calls.clear()
    v = VhostVdpa(dev)
    run(v.open())
    assert dev.calls == [("reset",)]
    assert device_ranges(dev, 0) == [(0x1000, 0x1000, 0x5000, RW)]


def test_reset_clears_suspended() -> None:
    """_compat_vdpa_reset: v->suspended = false."""
    dev = make()
    v = opened(dev)
    to_driver_ok(v)
    run(v.suspend())
    run(v.set_status(0))
    assert not v.suspended and not dev.suspended


# =============================================================================================
# SUSPEND / RESUME (§1, §6 item 4)
# =============================================================================================
@pytest.mark.parametrize("op", ["suspend", "resume"])
def test_suspend_resume_before_driver_ok_do_nothing(op: str) -> None:
    """vhost_vdpa_suspend/resume: without DRIVER_OK they return 0 without calling the parent;
    v->suspended stays false (§6 item 4)."""
    dev = make()
    v = opened(dev)
    to_features_ok(v)
    run(getattr(v, op)())
    assert dev.named(op) == []
    assert not v.suspended and not dev.suspended


@pytest.mark.parametrize(("op", "opt"), [("suspend", "has_suspend"), ("resume", "has_resume")])
def test_suspend_resume_before_driver_ok_succeed_even_without_the_op(op: str, opt: str) -> None:
    """vhost_vdpa_suspend/resume check DRIVER_OK before the op: before DRIVER_OK a parent
    without the op still gets 0."""
    dev = make(**{opt: False})
    v = opened(dev)
    run(getattr(v, op)())
    assert dev.named(op) == []


@pytest.mark.parametrize(("op", "opt"), [("suspend", "has_suspend"), ("resume", "has_resume")])
def test_suspend_resume_without_op_is_eopnotsupp(op: str, opt: str) -> None:
    """vhost_vdpa_suspend/resume: in DRIVER_OK, a NULL op → -EOPNOTSUPP."""
    dev = make(**{opt: False})
    v = opened(dev)
    to_driver_ok(v)
    expect(errno.EOPNOTSUPP, getattr(v, op)())
    assert not v.suspended


def test_suspend_then_resume_in_driver_ok() -> None:
    """vhost_vdpa_suspend sets v->suspended on success; vhost_vdpa_resume clears it; each calls
    its parent op once."""
    dev = make()
    v = opened(dev)
    to_driver_ok(v)
    run(v.suspend())
    assert v.suspended and dev.suspended and dev.named("suspend") == [("suspend",)]
    run(v.resume())
    assert not v.suspended and not dev.suspended and dev.named("resume") == [("resume",)]


# =============================================================================================
# close(fd) (§3.5)
# =============================================================================================
def test_release_resets_then_resets_map_of_every_allocated_as() -> None:
    """vhost_vdpa_release → vhost_vdpa_reset, then vhost_vdpa_cleanup → vhost_vdpa_remove_as for
    every allocated AS: unmap all entries, then reset_map(asid). With IOTLB_PERSIST acked the
    reset keeps the maps, so it is reset_map that brings the defaults back (§3.5 close(fd))."""
    dev = make()
    v = opened(dev, acked=b(IOTLB_ASID) | b(IOTLB_PERSIST))
    map_both(v)
    dev.calls.clear()
    run(v.release())
    assert dev.calls == [("reset",), ("reset_map", 0), ("reset_map", 1)]
    assert device_ranges(dev, 0) == IDENTITY
    assert device_ranges(dev, 1) == []
    assert v.as_tables == {}


def test_release_without_persist_compat_resets() -> None:
    """vhost_vdpa_release: without IOTLB_PERSIST the reset is compat_reset(CLEAN_MAP), then the
    reset_map calls."""
    dev = make()
    v = opened(dev)
    map_both(v)
    dev.calls.clear()
    run(v.release())
    assert dev.calls[0] == ("compat_reset", RESET_F_CLEAN_MAP)
    assert dev.named("reset_map") == [("reset_map", 0), ("reset_map", 1)]


def test_release_reset_maps_only_allocated_as() -> None:
    """vhost_vdpa_cleanup: only ASes that exist in vhost-vdpa are removed (asid_to_as non-NULL)."""
    dev = make()
    v = opened(dev, acked=b(IOTLB_ASID) | b(IOTLB_PERSIST))
    update(v, 1, 0x2000, 0x1000, 0xB000)
    dev.calls.clear()
    run(v.release())
    assert dev.named("reset_map") == [("reset_map", 1)]


def test_release_unmaps_each_entry_of_dma_map_parent() -> None:
    """vhost_vdpa_remove_as → vhost_vdpa_iotlb_unmap(0, ULLONG_MAX) → vhost_vdpa_general_unmap:
    one dma_unmap per entry, then reset_map (§3.5 close(fd))."""
    dev = make(incremental_map=True)
    v = opened(dev, acked=b(IOTLB_ASID) | b(IOTLB_PERSIST))
    update(v, 0, 0x1000, 0x1000, 0xA000)
    update(v, 0, 0x5000, 0x2000, 0xB000)
    dev.calls.clear()
    run(v.release())
    assert dev.calls[0] == ("reset",)
    assert sorted(dev.named("dma_unmap")) == [("dma_unmap", 0, 0x1000, 0x1000),
                                              ("dma_unmap", 0, 0x5000, 0x2000)]
    assert dev.calls[-1] == ("reset_map", 0)
    assert device_ranges(dev, 0) == IDENTITY


class BothMapOps(Recorder):
    """A parent with both .dma_map and .set_map (the kernel allows it; neither in-tree parent
    does): the incremental ops plus a whole-table set_map."""

    def has_op(self, name: str) -> bool:
        return True if name == "set_map" else super().has_op(name)

    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        self.calls.append(("set_map", asid, tuple((r.iova, r.size, r.pa, r.perm) for r in iotlb)))


def test_parent_with_dma_map_and_set_map_gets_both_where_the_kernel_calls_both() -> None:
    """drivers/vhost/vdpa.c: vhost_vdpa_map uses dma_map when present (never set_map);
    vhost_vdpa_unmap calls dma_unmap per whole entry and then, outside a batch, set_map when
    present; BATCH_END calls set_map whenever the parent has it."""
    dev = make(BothMapOps, incremental_map=True)
    v = opened(dev)
    update(v, 0, 0x1000, 0x1000, 0x10_0000)
    assert [c[0] for c in dev.calls] == ["dma_map"]
    dev.calls.clear()
    run(v.process_iotlb_msg(0, INVALIDATE, 0x1000, 0x1000))
    assert [c[0] for c in dev.calls] == ["dma_unmap", "set_map"]
    assert dev.calls[-1] == ("set_map", 0, ())
    dev.calls.clear()
    run(v.process_iotlb_msg(0, BATCH_BEGIN))
    update(v, 0, 0x2000, 0x1000, 0x20_0000)
    run(v.process_iotlb_msg(0, BATCH_END))
    assert [c[0] for c in dev.calls] == ["dma_map", "set_map"]
    assert dev.calls[-1] == ("set_map", 0, ((0x2000, 0x1000, 0x20_0000, 3),))


def test_incremental_parent_has_no_set_map() -> None:
    """vdpa_sim with batch_mapping=0 registers .dma_map/.dma_unmap and no .set_map
    (vdpasim_batch_config_ops): calling it is -EOPNOTSUPP, and BATCH_END calls nothing."""
    dev = make(incremental_map=True)
    assert not dev.has_op("set_map") and dev.has_op("dma_map")
    with pytest.raises(VdpaError) as e:
        run(dev.set_map(0, []))
    assert e.value.errno == errno.EOPNOTSUPP
    v = opened(dev)
    run(v.process_iotlb_msg(0, BATCH_BEGIN))
    run(v.process_iotlb_msg(0, BATCH_END))
    assert dev.named("set_map") == []
