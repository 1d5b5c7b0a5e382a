# SPDX-License-Identifier: MIT
"""A guest's RAM as QEMU's memory listener reports it to vhost-vdpa.

A migration's memory work is one IOTLB message per RAM section (migration-sequence.md §1 item
2), so the flows need the sections a real PC guest has, not one block. :class:`RamLayout` takes
the guest RAM size, the page size of its memory backend (4 KiB anonymous memory, 2 MiB or 1 GiB
hugetlbfs), how the host backs anonymous memory (:class:`~vdpa_model.hostmem.HostMemory`: THP
and its fallback) and the machine type, and gives the sections the listener sees after firmware
has run, and the host memory behind them (:attr:`RamLayout.backing`: folios and physically
contiguous runs, decided in :mod:`vdpa_model.hostmem`):

* the split of RAM below and above 4 GiB, from hw/i386/pc_q35.c: pc_q35_init ("if
  (machine->ram_size >= 0xb0000000) lowmem = 0x80000000; else lowmem = 0xb0000000") and
  hw/i386/pc_piix.c: pc_init1 (lowmem 0xe0000000, or 0xc0000000 with gigabyte_align once RAM
  reaches 0xe0000000); RAM above lowmem goes to 4 GiB ("ram-above-4g", hw/i386/pc.c:
  pc_memory_init), whose host offset stays 1 GiB aligned, so hugepages line up with guest
  addresses on both sides;
* below 1 MiB, the legacy VGA window [0xa0000, 0xc0000) is MMIO, not RAM, and the expansion ROM
  and BIOS shadow [0xc0000, 0x100000) is RAM the firmware left read-only through the PAM
  registers, so it is its own read-only section (system/memory.c renders each as a FlatRange
  and the listener gets one section per range; a read-only range is mapped VHOST_ACCESS_RO,
  hw/virtio/vhost-vdpa.c: vhost_vdpa_listener_region_add);
* the BIOS ROM (pc.bios, 256 KiB for SeaBIOS) at the top of the first 4 GiB is a ROM region,
  also mapped read-only (hw/i386/x86-common.c: x86_bios_rom_init);
* MMIO and PCI holes are not RAM and never reach vhost-vdpa (vhost_vdpa_listener_skipped_section).

Not modelled: the AMD HyperTransport hole that moves RAM above 1 TiB on AMD hosts
(x86_update_above_4g_mem_start), hot-plugged DIMMs, and option ROMs or VGA memory exposed in PCI
BARs. The BIOS ROM is a RAM block of its own smaller than a huge page, so it is always 4 KiB
pages; the RAM sections are one RAM block (pc.ram) and share its backing, the PAM shadow
included.

Nothing here walks pages: a 4 TiB guest is five sections.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from .hostmem import BACKEND_PAGE_SIZES, BASE_PAGES, Backing, HostMemory, HostMemoryError
from .memory import GiB, KiB, MiB
from .ops import IotlbRange
from .spec import VHOST_ACCESS_RO, VHOST_ACCESS_RW

#: Page sizes a memory backend offers: base pages (anonymous memory), hugetlbfs 2 MiB and 1 GiB.
PAGE_SIZES = BACKEND_PAGE_SIZES
#: SeaBIOS's bios-256k.bin, mapped just below 4 GiB.
BIOS_SIZE = 256 * KiB
VGA_START, ROM_START, HIGH_START = 0xA0000, 0xC0000, 0x100000
FOUR_GIB = 4 * GiB
MACHINES = ("q35", "pc")


class LayoutError(ValueError):
    """A RAM layout that QEMU would refuse; the message names the value."""


@dataclasses.dataclass(frozen=True, slots=True)
class RamSection:
    """One MemoryRegionSection the listener reports: guest-physical range, access, backing."""

    name: str
    gpa: int
    size: int
    readonly: bool
    #: page size of the RAM block's memory backend (4 KiB: anonymous memory)
    page_size: int
    #: a RAM block of its own smaller than a huge page (a ROM): base pages whatever the host
    rom: bool = False

    @property
    def end(self) -> int:
        return self.gpa + self.size

    @property
    def perm(self) -> int:
        return VHOST_ACCESS_RO if self.readonly else VHOST_ACCESS_RW

    def as_range(self, iova: int | None = None) -> IotlbRange:
        """The IOTLB UPDATE for this section: at ``iova`` (a Shadow VirtQueue's translated
        address) or at its guest-physical address."""
        return IotlbRange(self.gpa if iova is None else iova, self.size, self.gpa, self.perm)


@dataclasses.dataclass(frozen=True)
class RamLayout:
    """Guest RAM of ``size`` bytes in a memory backend of ``page_size`` pages, on a host that
    backs anonymous memory as ``host`` says, on a ``machine`` PC."""

    size: int
    page_size: int = 4 * KiB
    machine: str = "q35"
    host: HostMemory = dataclasses.field(default_factory=HostMemory)

    def __post_init__(self) -> None:
        if self.machine not in MACHINES:
            raise LayoutError(f"machine {self.machine!r} is not one of {', '.join(MACHINES)}")
        if self.page_size not in PAGE_SIZES:
            raise LayoutError(f"page size {self.page_size} is not one of 4 KiB, 2 MiB, 1 GiB")
        try:
            self.host.pattern(self.page_size)
        except HostMemoryError as e:
            raise LayoutError(str(e)) from None
        if self.size < 2 * MiB:
            raise LayoutError(f"guest RAM of {self.size} bytes is below the 2 MiB a PC needs")
        if self.size % self.page_size:
            raise LayoutError(f"guest RAM of {self.size} bytes is not a multiple of the "
                              f"{self.page_size}-byte backing page (the memory backend refuses it)")

    @property
    def lowmem(self) -> int:
        """RAM below 4 GiB at most (pc_q35_init / pc_init1)."""
        if self.machine == "q35":
            return 0x80000000 if self.size >= 0xB0000000 else 0xB0000000
        return 0xC0000000 if self.size >= 0xE0000000 else 0xE0000000

    @property
    def below_4g(self) -> int:
        return min(self.size, self.lowmem)

    @property
    def above_4g(self) -> int:
        return self.size - self.below_4g

    def sections(self) -> tuple[RamSection, ...]:
        """The sections in guest-physical order."""
        return self._sections

    @functools.cached_property
    def _sections(self) -> tuple[RamSection, ...]:
        p = self.page_size
        out = [RamSection("ram-below-4g@0", 0, VGA_START, False, p),
               RamSection("pam (read-only shadow)", ROM_START, HIGH_START - ROM_START, True, p),
               RamSection("ram-below-4g", HIGH_START, self.below_4g - HIGH_START, False, p),
               RamSection("pc.bios", FOUR_GIB - BIOS_SIZE, BIOS_SIZE, True, 4 * KiB, rom=True)]
        if self.above_4g:
            out.append(RamSection("ram-above-4g", FOUR_GIB, self.above_4g, False, p))
        return tuple(out)

    @property
    def top(self) -> int:
        """One past the highest guest-physical address of any section."""
        return max(s.end for s in self.sections())

    @functools.cached_property
    def backing(self) -> Backing:
        """The host memory behind every address the flows pin: the RAM sections as the host
        backs their block, ROMs and everything outside guest RAM (QEMU's own allocations: shadow
        rings, control buffers) in base pages."""
        pattern = self.host.pattern(self.page_size)
        return Backing(tuple((s.gpa, s.end, BASE_PAGES if s.rom else pattern) for s in self.sections()))

    def ram_window(self) -> tuple[int, int]:
        """A stretch of ordinary RAM below 4 GiB for the guest's rings and buffers: from 16 MiB
        (clear of firmware and kernel image) to the end of RAM below 4 GiB."""
        return 16 * MiB, self.below_4g


_UNITS = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": 1024 * GiB}


def parse_size(text: str, what: str = "size") -> int:
    """``"128G"``, ``"128GiB"``, ``"4T"``, ``"2M"``, ``"4096"`` → bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgGtT]?)(i?[bB])?\s*", text)
    if m is None:
        raise LayoutError(f"{what} {text!r} is not a size like 128G, 2M, 4K or 4096")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]
