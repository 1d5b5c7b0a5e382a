# SPDX-License-Identifier: MIT
"""Guest RAM as QEMU's listener reports it (hw/i386/pc_q35.c, pc_piix.c, pc.c)."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from vdpa_model.hostmem import BASE_PAGES, HostMemory, RunPattern
from vdpa_model.memory import GiB, KiB, MiB
from vdpa_model.ramlayout import LayoutError, RamLayout, parse_size
from vdpa_model.spec import VHOST_ACCESS_RO, VHOST_ACCESS_RW

VGA_HOLE = 0xC0000 - 0xA0000


def ram_bytes(layout: RamLayout) -> int:
    return sum(s.size for s in layout.sections() if s.name != "pc.bios")


@pytest.mark.parametrize(("size", "below"), [
    (1 * GiB, 1 * GiB),                 # all of it below the hole
    (0xB0000000 - 4 * KiB, 0xB0000000 - 4 * KiB),  # just under the 2.75 GiB threshold
    (0xB0000000, 2 * GiB),              # from 2.75 GiB on, q35 splits at 2 GiB
    (128 * GiB, 2 * GiB),
    (4096 * GiB, 2 * GiB),
])
def test_q35_splits_ram_around_the_pci_hole(size: int, below: int) -> None:
    layout = RamLayout(size)
    assert layout.below_4g == below and layout.above_4g == size - below
    secs = {s.name: s for s in layout.sections()}
    assert secs["ram-below-4g"].end == below
    if size > below:
        assert (secs["ram-above-4g"].gpa, secs["ram-above-4g"].size) == (4 * GiB, size - below)
    else:
        assert "ram-above-4g" not in secs
    # every byte of RAM is reported except the legacy VGA window, which is MMIO
    assert ram_bytes(layout) == size - VGA_HOLE


def test_pc_machine_uses_the_i440fx_split() -> None:
    assert RamLayout(3 * GiB, machine="pc").below_4g == 3 * GiB
    assert RamLayout(8 * GiB, machine="pc").below_4g == 3 * GiB  # gigabyte_align
    assert RamLayout(0xE0000000 - 2 * MiB, machine="pc").above_4g == 0


def test_sections_do_not_overlap_and_roms_are_read_only() -> None:
    layout = RamLayout(128 * GiB, page_size=GiB)
    secs = sorted(layout.sections(), key=lambda s: s.gpa)
    assert all(a.end <= b.gpa for a, b in itertools.pairwise(secs))
    perms = {s.name: s.perm for s in secs}
    assert perms["pc.bios"] == perms["pam (read-only shadow)"] == VHOST_ACCESS_RO
    assert perms["ram-below-4g"] == perms["ram-above-4g"] == VHOST_ACCESS_RW
    assert {s.page_size for s in secs if s.name.startswith("ram")} == {GiB}
    assert next(s for s in secs if s.name == "pc.bios").page_size == 4 * KiB


def test_host_memory_by_address() -> None:
    """RAM sections take the block's backing (hugetlbfs pages here); the BIOS ROM, the PCI hole
    and QEMU's own memory above guest RAM are base pages."""
    layout = RamLayout(16 * GiB, page_size=2 * MiB)
    assert layout.backing.pattern(5 * GiB, 4 * KiB) == RunPattern(2 * MiB)
    assert layout.backing.pattern(3 * GiB, 4 * KiB) == BASE_PAGES            # the PCI hole
    assert layout.backing.pattern(4 * GiB - 4 * KiB, 4 * KiB) == BASE_PAGES  # pc.bios
    assert layout.backing.pattern(layout.top + GiB, 4 * KiB) == BASE_PAGES   # QEMU's own memory


def test_anonymous_ram_is_thp_backed_unless_thp_is_off() -> None:
    """4 KiB-page memory (no hugetlbfs) is THP-backed by default (hostmem.DEFAULTS); the PAM
    shadow below 1 MiB is part of the same RAM block and shares its huge page."""
    thp, off = RamLayout(16 * GiB), RamLayout(16 * GiB, host=HostMemory(thp=False))
    assert thp.backing.pattern(5 * GiB, 4 * KiB) == RunPattern(2 * MiB)
    assert thp.backing.pattern(0xC0000, 4 * KiB) == RunPattern(2 * MiB)
    assert off.backing.pattern(5 * GiB, 4 * KiB) == BASE_PAGES
    fb = RamLayout(16 * GiB, host=HostMemory(thp_fallback=0.25)).backing.pattern(5 * GiB, 4 * KiB)
    assert fb == RunPattern(2 * MiB, Fraction(1, 4))


@pytest.mark.parametrize(("kw", "message"), [
    ({"size": 4 * GiB, "page_size": 8192}, "page size 8192"),
    ({"size": 4 * GiB + 4 * KiB, "page_size": 2 * MiB}, "not a multiple of the 2097152-byte"),
    ({"size": 4 * GiB, "machine": "virt"}, "machine 'virt'"),
    ({"size": 1 * MiB}, "below the 2 MiB"),
    ({"size": 4 * GiB, "page_size": GiB, "host": HostMemory(thp_fallback=0.1)},
     "THP does not back hugetlbfs memory"),
])
def test_bad_layouts_are_refused_by_name(kw: dict[str, object], message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        RamLayout(**kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "value"), [("128G", 128 * GiB), ("4TiB", 4096 * GiB),
                                             ("2M", 2 * MiB), ("4k", 4 * KiB), ("4096", 4096)])
def test_sizes_parse(text: str, value: int) -> None:
    assert parse_size(text) == value


def test_a_bad_size_names_itself() -> None:
    with pytest.raises(LayoutError, match="ram '12 bananas'"):
        parse_size("12 bananas", "ram")
