# SPDX-License-Identifier: MIT
"""Host memory behind guest RAM: which folios back it, and how physically contiguous it is.

Two facts about the host's pages enter a migration's cost, and they are not the same fact:

* the **folio** a pinned page belongs to (a 4 KiB base page, a 2 MiB transparent huge page, a
  2 MiB or 1 GiB hugetlbfs page) sets what pinning costs per byte (calibration-figures.md H1,
  H2: the same 16 GB pin in 0.280 s of 4 KiB pages, 0.047 s of THP);
* the **physically contiguous runs** of the pinned pages set how many entries everything built
  from them has: vhost-vdpa records one IOTLB entry per run (drivers/vhost/vdpa.c:
  vhost_vdpa_pa_map merges consecutive pfns and calls vhost_vdpa_map once per run), mlx5 keeps
  copies of that table with one entry per run (core/mr.c: _mlx5_vdpa_create_mr and
  mlx5_vdpa_update_cvq_iotlb, both dup_iotlb), and a memory key's translation unit is the
  greatest common divisor of the run lengths in its 1 GiB window (mr.c: map_direct_mr;
  migration-sequence.md §1 item 6).

This module is the one place that decides both, from what QEMU and Linux do with guest RAM:

* QEMU allocates anonymous guest RAM 2 MiB-aligned "so transparent hugepages can be used"
  (util/oslib-posix.c: qemu_anon_ram_alloc with QEMU_VMALLOC_ALIGN, include/qemu/osdep.h: 512 x
  4096 on x86-64, aarch64, ppc64 Linux) and asks for huge pages on every RAM block
  (system/physmem.c: ram_block_add calls qemu_madvise(new_block->host, new_block->max_length,
  QEMU_MADV_HUGEPAGE)). Read from jasowang/qemu @ e53d9ec7cc.
* Linux backs such a region with THP unless THP is off: mm/Kconfig's "Transparent Hugepage
  Support sysfs defaults" choice defaults to TRANSPARENT_HUGEPAGE_ALWAYS, and both "always" and
  "madvise" (/sys/kernel/mm/transparent_hugepage/enabled) serve an MADV_HUGEPAGE region; the
  defrag default (mm/huge_memory.c: transparent_hugepage_flags has
  TRANSPARENT_HUGEPAGE_DEFRAG_REQ_MADV_FLAG, "madvise") lets a fault in such a region reclaim and
  compact directly for its huge page, and only when that fails does the fault fall back to 4 KiB
  pages for that 2 MiB region (khugepaged may collapse them later).
* pin_user_pages on a PMD-mapped THP hands back the folio's 512 subpages in pfn order
  (mm/gup.c: gup_fast_pmd_leaf fills the page array with consecutive subpages of one folio), so
  vhost_vdpa_pa_map sees 2 MiB of consecutive pfns: one run, one IOTLB entry. Consecutive
  folios that happen to be physically adjacent would merge into a longer run; the model does not
  count on that (the buddy allocator gives no such promise), so a run is one folio.
* A hugetlbfs page is one folio of its size (2 MiB or 1 GiB): one run.
* "No hugepages" in the talk's setup (calibration-figures.md) is read as no hugetlbfs backing
  (QEMU's -mem-path / memory-backend-file, libvirt's <hugepages/>); THP needs no configuration
  and is not something a VM description mentions.

So a scenario gives the memory backend's page size (4 KiB anonymous memory, or 2 MiB / 1 GiB
hugetlbfs) and, for 4 KiB memory, :class:`HostMemory`: whether THP backs it (``thp``) and the
share of its 2 MiB regions THP could not back (``thp_fallback``, a fragmentation figure). The
worst case the flows assumed before (every 4 KiB page its own run) is ``thp = false``.

The fallback regions are spread evenly over host memory: region ``j`` (the ``j``-th 2 MiB of the
address space) is a fallback region when ``floor((j + 1) f) > floor(j f)``, so any stretch of
``m`` regions holds ``floor(m f)`` or one more of them, and counts come from two floor
divisions, never from walking regions: a 4 TiB guest costs what a 4 GiB one does. Spread evenly
is the conservative placement for the translation unit: one fallback region lowers the unit of
its whole 1 GiB window to 4 KiB, and an even spread reaches the most windows.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction

from .memory import GiB, KiB, MiB

#: A base page (PAGE_SIZE on x86-64): the unit pin_user_pages and the unpin loop count in.
BASE_PAGE = 4 * KiB
#: A PMD-mapped transparent huge page on x86-64 (HPAGE_PMD_SIZE).
THP_SIZE = 2 * MiB
#: Page sizes of a memory backend: base pages (anonymous memory), hugetlbfs 2 MiB and 1 GiB.
BACKEND_PAGE_SIZES = (BASE_PAGE, 2 * MiB, GiB)


class HostMemoryError(ValueError):
    """Host memory the model cannot describe; the message names the value."""


@dataclasses.dataclass(frozen=True, slots=True)
class HostMemory:
    """How the host backs anonymous (base-page) guest RAM. Defaults: :data:`DEFAULTS`."""

    #: transparent huge pages back the RAM QEMU madvised (THP enabled "always" or "madvise")
    thp: bool = True
    #: share of the 2 MiB regions THP could not back, left in 4 KiB pages (0 .. 1)
    thp_fallback: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.thp_fallback, bool) or not 0.0 <= self.thp_fallback <= 1.0:
            raise HostMemoryError(f"thp_fallback {self.thp_fallback!r} is not a share between 0 and 1")
        if self.thp_fallback and not self.thp:
            raise HostMemoryError(f"thp_fallback {self.thp_fallback!r} without THP: with thp off "
                                  "every region is 4 KiB pages already")

    def pattern(self, page_size: int) -> RunPattern:
        """The runs of guest RAM whose memory backend has ``page_size`` pages."""
        if page_size not in BACKEND_PAGE_SIZES:
            raise HostMemoryError(f"page size {page_size} is not one of 4 KiB, 2 MiB, 1 GiB")
        if page_size != BASE_PAGE:
            if self.thp_fallback:
                raise HostMemoryError(f"thp_fallback {self.thp_fallback!r} with {page_size}-byte "
                                      "hugetlbfs pages: THP does not back hugetlbfs memory")
            return RunPattern(page_size)
        if not self.thp:
            return BASE_PAGES
        return RunPattern(THP_SIZE, Fraction(repr(float(self.thp_fallback))))

    def describe(self, page_size: int) -> str:
        if page_size != BASE_PAGE:
            return f"hugetlbfs {_size(page_size)} pages"
        if not self.thp:
            return "4 KiB pages, THP off (every page its own run)"
        if self.thp_fallback:
            return f"4 KiB pages with THP, {100 * self.thp_fallback:g} % of 2 MiB regions left in 4 KiB pages"
        return "4 KiB pages with THP (2 MiB runs)"


@dataclasses.dataclass(frozen=True)
class Default:
    """A host-memory input's default and where it comes from (docs/downtime.md lists them)."""

    key: str
    value: object
    #: "source" (a cited fact) or "assumed" (no source gives it: the reasoning)
    basis: str
    why: str


#: The defaults of :class:`HostMemory`, with their reasons: one catalogue for the scenario
#: loader, the CLI and the generated documentation.
DEFAULTS: tuple[Default, ...] = (
    Default("guest.thp", HostMemory().thp, "source",
            "QEMU madvises every RAM block MADV_HUGEPAGE (system/physmem.c: ram_block_add) and "
            "aligns anonymous guest RAM to 2 MiB for THP (util/oslib-posix.c: qemu_anon_ram_alloc, "
            "QEMU_VMALLOC_ALIGN); mm/Kconfig defaults THP to always, and always and madvise both "
            "back an MADV_HUGEPAGE region (mm/huge_memory.c). The talk's \"no hugepages\" is read "
            "as no hugetlbfs"),
    Default("guest.thp_fallback", HostMemory().thp_fallback, "assumed",
            "no figure for THP allocation failures on a migration host; the defrag default "
            "(madvise: TRANSPARENT_HUGEPAGE_DEFRAG_REQ_MADV_FLAG) lets a fault in QEMU's madvised "
            "RAM compact directly for its huge page and khugepaged collapses what fell back "
            "(max_ptes_none 511), so a host with free memory backs all of it. One fallback region "
            "per 1 GiB (0.2 %) already puts every memory key at 4 KiB translations: docs/downtime.md "
            "prices 0.1 % to 100 %"),
)


def _size(n: int) -> str:
    return f"{n // GiB} GiB" if n >= GiB else f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB"


@dataclasses.dataclass(frozen=True, slots=True)
class RunPattern:
    """Runs of one kind of host memory: ``period``-byte runs (one folio each) at multiples of
    ``period``, except the ``fallback`` share of those cells, spread evenly (module docstring),
    whose 4 KiB pages are each a run of their own."""

    period: int
    fallback: Fraction = Fraction(0)

    def before(self, cell: int) -> int:
        """Fallback cells among cells ``0 .. cell - 1``: floor(cell x fallback)."""
        return cell * self.fallback.numerator // self.fallback.denominator

    def is_fallback(self, cell: int) -> bool:
        return self.before(cell + 1) > self.before(cell)

    def folio(self, fallback: bool) -> int:
        return BASE_PAGE if fallback else self.period


#: Memory that is 4 KiB pages and nothing else: QEMU's own allocations (shadow rings, control
#: buffers: anonymous shared mappings, which shmem's THP default leaves alone), ROM blocks
#: smaller than a huge page, and guest RAM with THP off.
BASE_PAGES = RunPattern(BASE_PAGE)


def pages_touched(pa: int, size: int, page: int = BASE_PAGE) -> int:
    """Pages of ``page`` bytes that ``[pa, pa + size)`` touches."""
    return -(-(pa + size) // page) - pa // page


def _pieces(pa: int, length: int, page: int) -> list[int]:
    """Lengths of the runs ``[pa, pa + length)`` falls into when runs are ``page``-aligned pages,
    one of each distinct kind: a partial first page, whole pages, a partial last page."""
    head = min(length, page - pa % page)
    out = [head]
    rest = length - head
    if rest >= page:
        out.append(page)
    if rest % page:
        out.append(rest % page)
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class _Part:
    """Cells of a pattern that ``[start, end)`` covers alike: whole cells in bulk (``cells``,
    ``fallbacks`` among them), or one cell's slice (``cells`` 1, ``whole`` False)."""

    start: int
    end: int
    cells: int
    fallbacks: int
    whole: bool


def _parts(s: int, e: int, pat: RunPattern) -> list[_Part]:
    """``[s, e)`` (inside one pattern) as its first cell's slice, the whole cells between and its
    last cell's slice; a range inside one cell is one slice."""
    p = pat.period
    c0, c1 = s // p, -(-e // p)
    if c1 - c0 == 1:
        return [_Part(s, e, 1, int(pat.is_fallback(c0)), False)]
    out = [_Part(s, (c0 + 1) * p, 1, int(pat.is_fallback(c0)), False)]
    if c1 - c0 > 2:
        out.append(_Part((c0 + 1) * p, (c1 - 1) * p, c1 - c0 - 2,
                         pat.before(c1 - 1) - pat.before(c0 + 1), True))
    out.append(_Part((c1 - 1) * p, e, 1, int(pat.is_fallback(c1 - 1)), False))
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class Folios:
    """Pinned memory of one folio size: bytes, and runs (one per folio touched: the model
    merges no two folios)."""

    size: int
    bytes: int
    runs: int


def _runs(part: _Part, pat: RunPattern) -> int:
    if part.whole:
        per_cell = pat.period // BASE_PAGE
        return (part.cells - part.fallbacks) + part.fallbacks * per_cell
    return pages_touched(part.start, part.end - part.start) if part.fallbacks else 1


def _lengths(part: _Part, pat: RunPattern) -> list[int]:
    """Run lengths inside ``part``, one of each kind (for a gcd)."""
    if part.whole:
        return ([pat.period] if part.cells > part.fallbacks else []) + ([BASE_PAGE] if part.fallbacks else [])
    if part.fallbacks:
        return _pieces(part.start, part.end - part.start, BASE_PAGE)
    return [part.end - part.start]


@functools.lru_cache(maxsize=4096)
def _window_gcds(pa: int, length: int, n: int, pat: RunPattern) -> tuple[tuple[int, int], ...]:
    """(gcd, windows) for ``n`` consecutive windows of ``length`` from ``pa``, all in ``pat``.
    Windows differ only in the fallback cells they hold (``period`` divides ``length``), so
    without fallback one window stands for all."""
    if not pat.fallback:
        return ((_gcd(pa, pa + length, pat), n),)
    counts: Counter[int] = Counter(_gcd(pa + w * length, pa + (w + 1) * length, pat) for w in range(n))
    return tuple(counts.items())


def _gcd(s: int, e: int, pat: RunPattern) -> int:
    g = 0
    for part in _parts(s, e, pat):
        for n in _lengths(part, pat):
            g = math.gcd(g, n)
    return g


@dataclasses.dataclass(frozen=True)
class Backing:
    """Host memory by address: ``regions`` (sorted, disjoint ``(start, end, pattern)``) and
    ``outside`` for every other address. The addresses are those the model pins (guest-physical
    for guest RAM, whose host mapping keeps the 2 MiB and 1 GiB phases: ramlayout.py)."""

    regions: tuple[tuple[int, int, RunPattern], ...] = ()
    outside: RunPattern = BASE_PAGES

    @classmethod
    def uniform(cls, pattern: RunPattern) -> Backing:
        """The same pattern at every address."""
        return cls((), pattern)

    @functools.cached_property
    def _starts(self) -> list[int]:
        return [r[0] for r in self.regions]

    def segments(self, pa: int, size: int) -> Iterator[tuple[int, int, RunPattern]]:
        """``[pa, pa + size)`` cut where the pattern changes."""
        end, pos = pa + size, pa
        i = max(bisect.bisect_right(self._starts, pa) - 1, 0)
        while pos < end:
            while i < len(self.regions) and self.regions[i][1] <= pos:
                i += 1
            if i < len(self.regions) and self.regions[i][0] <= pos:
                _, e, pat = self.regions[i]
                stop = min(e, end)
            else:
                pat = self.outside
                stop = min(self.regions[i][0], end) if i < len(self.regions) else end
            yield pos, stop, pat
            pos = stop

    def pattern(self, pa: int, size: int) -> RunPattern | None:
        """The one pattern of ``[pa, pa + size)``, or None if it changes inside."""
        segs = list(self.segments(pa, size))
        return segs[0][2] if len(segs) == 1 else None

    def runs(self, pa: int, size: int) -> int:
        """Physically contiguous runs of ``[pa, pa + size)``: vhost-vdpa's IOTLB entries for it."""
        return sum(_runs(part, pat) for s, e, pat in self.segments(pa, size) for part in _parts(s, e, pat))

    def run_lengths(self, pa: int, size: int) -> Iterator[int]:
        """The length of every run of ``[pa, pa + size)`` in address order, walked one by one:
        for the few runs of a ring or a buffer (an unbatched UPDATE maps them one at a time)."""
        for s, e, pat in self.segments(pa, size):
            pos = s
            while pos < e:
                unit = pat.folio(pat.is_fallback(pos // pat.period))
                n = min(e - pos, unit - pos % unit)
                yield n
                pos += n

    def run_gcd(self, pa: int, size: int) -> int:
        """Greatest common divisor of the lengths of the runs ``[pa, pa + size)`` falls into, each
        clipped to the range (what map_direct_mr computes over a key's IOTLB entries)."""
        g = 0
        for s, e, pat in self.segments(pa, size):
            g = math.gcd(g, _gcd(s, e, pat))
        return g

    def window_gcds(self, pa: int, length: int, n: int) -> tuple[tuple[int, int], ...]:
        """``(gcd, count)`` over ``n`` consecutive windows of ``length`` bytes from ``pa``
        (a region's direct keys inside one IOTLB entry), counted in bulk where the pattern is
        the same throughout."""
        pat = self.pattern(pa, n * length)
        if pat is not None and length % pat.period == 0:
            return _window_gcds(pa, length, n, pat)
        counts: Counter[int] = Counter(self.run_gcd(pa + w * length, length) for w in range(n))
        return tuple(counts.items())

    def folios(self, pa: int, size: int) -> list[Folios]:
        """``[pa, pa + size)`` by folio size, largest first: what pinning it costs (H1, H2)."""
        acc: dict[int, list[int]] = {}
        for s, e, pat in self.segments(pa, size):
            for part in _parts(s, e, pat):
                if part.whole:
                    split = ((pat.folio(False), (part.cells - part.fallbacks) * pat.period),
                             (pat.folio(True), part.fallbacks * pat.period))
                    for folio, nbytes in split:
                        if nbytes:
                            slot = acc.setdefault(folio, [0, 0])
                            slot[0] += nbytes
                            slot[1] += nbytes // folio
                else:
                    slot = acc.setdefault(pat.folio(bool(part.fallbacks)), [0, 0])
                    slot[0] += part.end - part.start
                    slot[1] += _runs(part, pat)
        return [Folios(f, b, r) for f, (b, r) in sorted(acc.items(), reverse=True)]


#: Host memory where nothing is known: 4 KiB pages everywhere, each its own run.
FRAGMENTED = Backing.uniform(BASE_PAGES)
