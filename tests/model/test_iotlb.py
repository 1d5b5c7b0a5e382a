# SPDX-License-Identifier: MIT
"""Tests of the translation tables (vdpa_model.iotlb): ``struct vhost_iotlb`` semantics
(drivers/vhost/iotlb.c, drivers/vhost/vdpa.c) and the parents' per-ASID identity default
(vdpa-semantics.md §3.5, §6 items 7 and 12).

Permissions are the uapi values restated here (include/uapi/linux/vhost_types.h:
VHOST_ACCESS_RO 1, WO 2, RW 3); expected translations are computed from the table by hand.
"""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vdpa_model.errors import VdpaError
from vdpa_model.iotlb import AddressSpace, Iotlb, TranslationFault
from vdpa_model.ops import IotlbRange

RO, WO, RW = 1, 2, 3
U64_MAX = (1 << 64) - 1


def table(*entries: tuple[int, int, int, int]) -> Iotlb:
    return Iotlb(IotlbRange(*e) for e in entries)


def spans(t: Iotlb) -> list[tuple[int, int]]:
    return [(r.iova, r.size) for r in t.ranges()]


# --- identity default ----------------------------------------------------------------------
def test_identity_default_translates_any_address_to_itself() -> None:
    """vdpa_sim.c: vdpasim_create: every AS starts as one RW range [0, ULONG_MAX] with IOVA = PA
    (mlx5: the ASID 0 DMA MR); vdpa-semantics.md §3.5."""
    space = AddressSpace(0)
    assert space.passthrough
    assert space.translate(0x1234_5678_9000, 4096, write=True) == [(0x1234_5678_9000, 4096)]
    assert space.translate(U64_MAX, 1, write=False) == [(U64_MAX, 1)]
    assert [(r.iova, r.size, r.pa, r.perm) for r in space.ranges()] == [(0, 1 << 64, 0, RW)]


def test_asid_without_default_faults_everywhere() -> None:
    """mlx5 mr.c: ASID 1 has no MR at dev_add, so any access through it faults until mapped
    (vdpa-semantics.md §3.5)."""
    space = AddressSpace(1, identity=False)
    assert space.ranges() == []
    with pytest.raises(TranslationFault):
        space.translate(0, 1, write=False)


def test_first_map_drops_the_identity_mapping() -> None:
    """vdpa_sim.c: vdpasim_dma_map/set_map: the first explicit map on an identity AS drops the
    identity entirely, so any access outside the new maps faults (§6 item 12)."""
    space = AddressSpace(0)
    space.leave_passthrough()
    space.table.add_range(IotlbRange(0x10_0000, 0x1000, 0x8000_0000, RW))
    assert space.translate(0x10_0800, 8, write=True) == [(0x8000_0800, 8)]
    with pytest.raises(TranslationFault):
        space.translate(0x0, 8, write=False)
    with pytest.raises(TranslationFault):
        space.translate(0x8000_0800, 8, write=False)


def test_leave_passthrough_is_done_once() -> None:
    """Only the first map drops identity; later calls keep the maps added since."""
    space = AddressSpace(0)
    space.leave_passthrough()
    space.table.add_range(IotlbRange(0x1000, 0x1000, 0x1000, RW))
    space.leave_passthrough()
    assert spans(space.table) == [(0x1000, 0x1000)]


def test_restore_default_returns_to_identity() -> None:
    """vdpa_sim.c: vdpasim_reset_map / compat_reset(CLEAN_MAP): the AS goes back to the
    identity default and its table is emptied."""
    space = AddressSpace(0)
    space.leave_passthrough()
    space.table.add_range(IotlbRange(0x1000, 0x1000, 0x9000, RO))
    space.restore_default()
    assert space.passthrough and len(space.table) == 0
    assert space.translate(0x5000, 4, write=True) == [(0x5000, 4)]


def test_restore_default_of_non_identity_asid_empties_it() -> None:
    """mr.c: mlx5_vdpa_reset_mr on an ASID without a DMA MR leaves no translation at all."""
    space = AddressSpace(1, identity=False)
    space.leave_passthrough()
    space.table.add_range(IotlbRange(0x1000, 0x1000, 0x9000, RW))
    space.restore_default()
    assert not space.passthrough and space.ranges() == []
    with pytest.raises(TranslationFault):
        space.translate(0x1000, 1, write=False)


def test_identity_refuses_wrapping_access() -> None:
    """An access whose last byte is past 2**64 - 1 wraps the IOVA space: a fault, even in
    passthrough (vringh: address + len must not wrap; vdpa-semantics.md §5 step 2)."""
    space = AddressSpace(0)
    with pytest.raises(TranslationFault):
        space.translate(U64_MAX, 2, write=False)
    with pytest.raises(TranslationFault):
        space.translate(-1, 1, write=False)


# --- add_range ------------------------------------------------------------------------------
@pytest.mark.parametrize(("iova", "size"), [
    (0x2000, 0x1000),     # same range
    (0x1800, 0x1000),     # overlaps the head
    (0x2800, 0x1000),     # overlaps the tail
    (0x2400, 0x10),       # inside
    (0x1000, 0x3000),     # covers it
    (0x2FFF, 1),          # last byte
])
def test_overlapping_add_is_eexist(iova: int, size: int) -> None:
    """drivers/vhost/vdpa.c: vhost_vdpa_process_iotlb_update: an UPDATE that shares a byte with
    an existing entry (vhost_iotlb_itree_first) is -EEXIST; the table is unchanged (§6 item 8)."""
    t = table((0x2000, 0x1000, 0x50_0000, RW))
    with pytest.raises(VdpaError) as info:
        t.add_range(IotlbRange(iova, size, 0x90_0000, RW))
    assert info.value.errno == errno.EEXIST
    assert spans(t) == [(0x2000, 0x1000)]


def test_adjacent_ranges_do_not_overlap() -> None:
    """[a, b] and [b + 1, c] share no byte: both are accepted, kept sorted by IOVA."""
    t = Iotlb()
    t.add_range(IotlbRange(0x3000, 0x1000, 0, RW))
    t.add_range(IotlbRange(0x1000, 0x2000, 0, RW))
    t.add_range(IotlbRange(0x4000, 0x1000, 0, RO))
    assert spans(t) == [(0x1000, 0x2000), (0x3000, 0x1000), (0x4000, 0x1000)]


def test_add_of_empty_range_is_einval() -> None:
    """vhost_chr_write_iter/vhost_vdpa_process_iotlb_update: size 0 is -EINVAL."""
    with pytest.raises(VdpaError) as info:
        Iotlb().add_range(IotlbRange(0x1000, 0, 0, RW))
    assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize(("iova", "size", "pa"), [
    (U64_MAX, 2, 0),                 # IOVA end passes 2**64
    (1 << 63, (1 << 63) + 1, 0),     # idem, large
    (0x1000, 0x1000, U64_MAX),       # PA end passes 2**64
])
def test_add_of_wrapping_range_is_einval(iova: int, size: int, pa: int) -> None:
    """vhost_vdpa_process_iotlb_update: iova > U64_MAX - size + 1 is -EINVAL; a range whose IOVA
    or PA end passes 2**64 cannot be represented."""
    with pytest.raises(VdpaError) as info:
        Iotlb().add_range(IotlbRange(iova, size, pa, RW))
    assert info.value.errno == errno.EINVAL


def test_add_ending_exactly_at_top_of_iova_space() -> None:
    """iova = U64_MAX - size + 1 is the largest accepted start (the check is '>', not '>=')."""
    t = Iotlb()
    t.add_range(IotlbRange(1 << 63, 1 << 63, 0, RW))
    assert spans(t) == [(1 << 63, 1 << 63)]


@pytest.mark.parametrize("perm", [0, 4, 7])
def test_add_with_bad_permission_is_einval(perm: int) -> None:
    """Only VHOST_ACCESS_RO/WO/RW are permissions (vhost_types.h)."""
    with pytest.raises(VdpaError) as info:
        Iotlb().add_range(IotlbRange(0x1000, 0x1000, 0, perm))
    assert info.value.errno == errno.EINVAL


# --- del_range --------------------------------------------------------------------------------
def test_partial_invalidate_removes_whole_entries() -> None:
    """drivers/vhost/vdpa.c: vhost_vdpa_pa_unmap: INVALIDATE over part of a mapping removes the
    ENTIRE overlapping entries, including bytes outside the range; it never splits (§6 item 7)."""
    t = table((0x1000, 0x3000, 0xA000, RW), (0x4000, 0x1000, 0xF000, RO),
              (0x8000, 0x2000, 0x2_0000, WO))
    removed = t.del_range(0x3000, 0x1800)    # last 4 KiB of the first, first half of the second
    assert [(r.iova, r.size) for r in removed] == [(0x1000, 0x3000), (0x4000, 0x1000)]
    assert spans(t) == [(0x8000, 0x2000)]
    with pytest.raises(TranslationFault):
        t.translate(0x1000, 1, write=False)  # outside the requested range, yet gone


def test_invalidate_of_one_byte_removes_the_entry() -> None:
    """One byte of overlap is enough to remove a whole entry (§6 item 7)."""
    t = table((0x1000, 0x10_0000, 0, RW))
    assert len(t.del_range(0x10_0FFF, 1)) == 1
    assert len(t) == 0


def test_invalidate_of_a_hole_removes_nothing() -> None:
    """An INVALIDATE that touches no entry changes nothing (vhost_iotlb_itree_first is NULL)."""
    t = table((0x1000, 0x1000, 0, RW), (0x4000, 0x1000, 0, RW))
    assert t.del_range(0x2000, 0x2000) == []
    assert spans(t) == [(0x1000, 0x1000), (0x4000, 0x1000)]


def test_invalidate_spanning_many_entries() -> None:
    """Every entry with a byte in the range goes, those outside stay."""
    t = table(*[(0x1000 * i, 0x800, 0, RW) for i in range(1, 9)])
    t.del_range(0x2400, 0x3000)
    assert spans(t) == [(0x1000, 0x800), (0x6000, 0x800), (0x7000, 0x800), (0x8000, 0x800)]


def test_removed_range_can_be_mapped_again() -> None:
    """After an INVALIDATE the same IOVA can be mapped anew (no -EEXIST)."""
    t = table((0x1000, 0x1000, 0, RW))
    t.del_range(0x1000, 0x1000)
    t.add_range(IotlbRange(0x1000, 0x2000, 0x5000, RO))
    assert spans(t) == [(0x1000, 0x2000)]


# --- translate -------------------------------------------------------------------------------
def test_translate_splits_at_entry_boundaries() -> None:
    """vringh.c: iotlb_translate: an access covering several entries yields one piece per entry,
    each at its own PA (vdpa-semantics.md §5 step 2: 'segments are split at IOTLB-range
    boundaries')."""
    t = table((0x1000, 0x1000, 0x9_0000, RW), (0x2000, 0x1000, 0x5_0000, RW),
              (0x3000, 0x1000, 0x7_0000, RW))
    assert t.translate(0x1F00, 0x1200, write=False) == [(0x9_0F00, 0x100), (0x5_0000, 0x1000),
                                                          (0x7_0000, 0x100)]


def test_translate_offsets_into_an_entry() -> None:
    """PA = entry.pa + (iova - entry.iova)."""
    t = table((0x10_0000, 0x10_0000, 0x4000_0000, RO))
    assert t.translate(0x15_4321, 16, write=False) == [(0x4005_4321, 16)]


def test_translate_of_length_zero_is_empty() -> None:
    """A zero-length access touches nothing, even unmapped."""
    assert Iotlb().translate(0x1000, 0, write=True) == []


def test_translate_miss_faults() -> None:
    """vringh.c: iotlb_translate: no entry → error; here a TranslationFault naming the IOVA."""
    t = table((0x1000, 0x1000, 0, RW))
    with pytest.raises(TranslationFault) as info:
        t.translate(0x3000, 4, write=False)
    assert info.value.iova == 0x3000 and not info.value.write
    assert "0x3000" in str(info.value)


def test_translate_running_into_a_hole_faults() -> None:
    """An access that starts mapped but reaches an unmapped byte faults as a whole; no partial
    translation is returned (the device must not touch the mapped part either)."""
    t = table((0x1000, 0x1000, 0, RW), (0x3000, 0x1000, 0, RW))
    with pytest.raises(TranslationFault) as info:
        t.translate(0x1F00, 0x1200, write=True)
    assert "0x2000" in str(info.value)


@pytest.mark.parametrize(("perm", "write", "allowed"), [
    (RO, False, True), (RO, True, False),
    (WO, True, True), (WO, False, False),
    (RW, True, True), (RW, False, True),
])
def test_translate_checks_permission(perm: int, write: bool, allowed: bool) -> None:
    """vringh.c: iotlb_translate: a device write needs VHOST_ACCESS_WO, a read VHOST_ACCESS_RO
    (-EPERM otherwise); a violation is a fault, never a silent access."""
    t = table((0x1000, 0x1000, 0x8000, perm))
    if allowed:
        assert t.translate(0x1010, 8, write=write) == [(0x8010, 8)]
    else:
        with pytest.raises(TranslationFault) as info:
            t.translate(0x1010, 8, write=write)
        assert info.value.write is write


def test_permission_checked_on_every_entry_crossed() -> None:
    """A write across an RW entry into an RO one faults although its first bytes are writable."""
    t = table((0x1000, 0x1000, 0x8000, RW), (0x2000, 0x1000, 0x9000, RO))
    with pytest.raises(TranslationFault):
        t.translate(0x1FF0, 0x20, write=True)
    assert t.translate(0x1FF0, 0x20, write=False) == [(0x8FF0, 0x20)]


@pytest.mark.parametrize(("iova", "length"), [(U64_MAX, 2), (U64_MAX - 7, 16), (-1, 1)])
def test_translate_refuses_wrapping_access(iova: int, length: int) -> None:
    """vringh: address + len must not wrap (§5 step 2), even when the top of the space is mapped."""
    t = table((U64_MAX - 0xFFF, 0x1000, 0, RW))
    with pytest.raises(TranslationFault):
        t.translate(iova, length, write=False)


def test_top_of_iova_space_is_reachable() -> None:
    """The last IOVA (2**64 - 1) can be mapped and read without being called a wrap."""
    t = table((U64_MAX - 0xFFF, 0x1000, 0x5000, RW))
    assert t.translate(U64_MAX, 1, write=False) == [(0x5FFF, 1)]


def test_lookup_returns_the_containing_entry() -> None:
    """lookup is vhost_iotlb_itree_first on a single IOVA."""
    t = table((0x1000, 0x1000, 0, RW), (0x3000, 0x1000, 0, RO))
    found = t.lookup(0x3FFF)
    assert found is not None and found.iova == 0x3000
    assert t.lookup(0x2000) is None
    assert t.lookup(0x0FFF) is None


# --- randomised cross-check ----------------------------------------------------------------
@st.composite
def tables_and_access(draw: st.DrawFn) -> tuple[list[tuple[int, int, int, int]], int, int, bool]:
    pages = sorted(draw(st.sets(st.integers(0, 63), max_size=12)))
    entries = []
    for p in pages:
        pa = draw(st.integers(0, 1 << 20)) * 16
        entries.append((p * 0x100, 0x100, pa, draw(st.sampled_from([RO, WO, RW]))))
    iova = draw(st.integers(0, 64 * 0x100))
    length = draw(st.integers(1, 0x400))
    return entries, iova, length, draw(st.booleans())


@given(tables_and_access())
def test_translate_matches_byte_by_byte_lookup(case: tuple[list[tuple[int, int, int, int]], int, int, bool]
                                               ) -> None:
    """Translation is a per-byte function: each byte of the access maps to pa + offset of the
    entry that holds it with the needed permission, or the whole access faults."""
    entries, iova, length, write = case
    t = table(*entries)
    expected: list[int] | None = []
    for a in range(iova, iova + length):
        hit = [e for e in entries if e[0] <= a < e[0] + e[1]]
        if not hit or not hit[0][3] & (WO if write else RO):
            expected = None
            break
        assert expected is not None
        expected.append(hit[0][2] + a - hit[0][0])
    if expected is None:
        with pytest.raises(TranslationFault):
            t.translate(iova, length, write)
        return
    got = [pa + k for pa, n in t.translate(iova, length, write) for k in range(n)]
    assert got == expected
