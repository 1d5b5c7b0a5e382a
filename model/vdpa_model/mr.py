# SPDX-License-Identifier: MIT
"""The geometry of an mlx5 memory region: what ``set_map`` makes the firmware build.

drivers/vdpa/mlx5/core/mr.c turns the whole IOTLB of an ASID into one region
(migration-sequence.md §1 item 6):

* ``create_user_mr``: the IOTLB's entries are merged into chains of IOVA-contiguous entries of
  the same permission; a hole between chains costs ``ceil(hole / 1 GiB)`` null KLMs;
* ``add_direct_chain``: each chain is cut into direct keys of at most ``MAX_KLM_SIZE`` (1 GiB);
* ``map_direct_mr``: a direct key's translation unit is ``2 ** ilog2(gcd)`` of the lengths of the
  IOTLB entries it covers, each clipped to the key; it writes one MTT entry (and one
  scatter-gather DMA mapping) per unit;
* ``create_indirect_key``: one indirect key with one KLM per direct or null key.

The kernel's IOTLB has one entry per physically contiguous run of pinned pages
(drivers/vhost/vdpa.c: vhost_vdpa_pa_map), so the lengths that enter the gcd are runs: the
model takes host memory as contiguous only within one backing page (4 KiB, 2 MiB or 1 GiB), the
fragmented worst case, so 4 KiB-backed memory gives 262 144 entries per GiB, 2 MiB runs 512 and
1 GiB pages 1, and one odd-sized run lowers the unit of its whole 1 GiB window.

Nothing here walks pages or keys one by one: keys that lie wholly inside one IOTLB entry have
the same shape (a backing page size divides 1 GiB), so they are counted in bulk, which keeps a
4 TiB region as cheap as a 4 GiB one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from .ops import IotlbRange
from .spec import HOST_PAGE_SIZE
from .vhost import pinned_runs

#: MAX_KLM_SIZE (mr.c, 1 << LOG_MAX_KLM_SIZE): the largest direct key.
MAX_KEY = 1 << 30

#: Backing page size of host memory at an address.
BackingOf = Callable[[int], int]


def _default_backing(pa: int) -> int:
    return HOST_PAGE_SIZE


@dataclasses.dataclass(frozen=True, slots=True)
class DirectKeys:
    """``count`` consecutive direct keys of ``length`` bytes and ``entries`` MTT entries each."""

    count: int
    length: int
    entries: int


@dataclasses.dataclass(frozen=True, slots=True)
class RegionShape:
    """What building one region costs the firmware, and what the CVQ's table copy holds."""

    #: the direct keys, one entry per distinct (length, entries), in order of first appearance
    keys: tuple[DirectKeys, ...]
    #: KLMs of the indirect key: one per direct key plus the null keys over holes.
    klms: int
    #: vhost-vdpa table entries the region was built from (one per IOTLB UPDATE).
    ranges: int
    #: kernel IOTLB entries (physically contiguous runs) behind them.
    runs: int
    bytes: int

    @property
    def direct_keys(self) -> int:
        return sum(k.count for k in self.keys)

    @property
    def entries(self) -> int:
        return sum(k.count * k.entries for k in self.keys)


def _pieces(pa: int, length: int, page: int) -> list[int]:
    """Lengths of the runs ``[pa, pa + length)`` falls into, one of each distinct kind: a
    partial first page, whole pages, a partial last page."""
    head = min(length, page - pa % page)
    out = [head]
    rest = length - head
    if rest >= page:
        out.append(page)
    if rest % page:
        out.append(rest % page)
    return out


def _unit(gcd: int) -> int:
    """2 ** ilog2(gcd): the translation unit map_direct_mr picks (log_entity_size)."""
    return 1 << (gcd.bit_length() - 1)


def _key(ws: int, we: int, chain: Sequence[IotlbRange], pages: Sequence[int], first: int) -> int:
    """MTT entries of the direct key over ``[ws, we)``; ``chain[first]`` is its first entry and
    ``pages[i]`` the backing page size of ``chain[i]``."""
    g = 0
    i = first
    while i < len(chain) and chain[i].iova < we:
        r = chain[i]
        cs, ce = max(ws, r.iova), min(we, r.iova + r.size)
        for p in _pieces(r.pa + (cs - r.iova), ce - cs, pages[i]):
            g = math.gcd(g, p)
        i += 1
    unit = _unit(g)
    return -(-(we - ws) // unit)


def region_shape(iotlb: Sequence[IotlbRange], backing: BackingOf | None = None) -> RegionShape:
    """The region mlx5 builds for ``iotlb`` (mr.c: create_user_mr and what it calls)."""
    backing = backing or _default_backing
    ranges = sorted(iotlb, key=lambda r: r.iova)
    chains: list[list[IotlbRange]] = []
    for r in ranges:
        last = chains[-1][-1] if chains else None
        if last is not None and last.iova + last.size == r.iova and last.perm == r.perm:
            chains[-1].append(r)
        else:
            chains.append([r])
    # keys of one shape are counted together whatever their place: the firmware builds every
    # key of a region (in one round, or one after another) before the indirect key, so their
    # order does not change what the build costs
    shapes: dict[tuple[int, int], int] = {}

    def add(count: int, length: int, entries: int) -> None:
        shapes[(length, entries)] = shapes.get((length, entries), 0) + count

    nulls = 0
    prev_end: int | None = None
    all_pages: list[list[int]] = []
    for chain in chains:
        start, end = chain[0].iova, chain[-1].iova + chain[-1].size
        pages = [backing(r.pa) for r in chain]
        all_pages.append(pages)
        if prev_end is not None:
            nulls += -(-(start - prev_end) // MAX_KEY)
        ws, i = start, 0
        while ws < end:
            while chain[i].iova + chain[i].size <= ws:
                i += 1
            r = chain[i]
            inside = (r.iova + r.size - ws) // MAX_KEY
            if inside and MAX_KEY % pages[i] == 0:
                # every whole key inside this entry starts at the same phase of its pages
                add(inside, MAX_KEY, _key(ws, ws + MAX_KEY, chain, pages, i))
                ws += inside * MAX_KEY
                continue
            we = min(ws + MAX_KEY, end)
            add(1, we - ws, _key(ws, we, chain, pages, i))
            ws = we
        prev_end = end
    keys = tuple(DirectKeys(n, length, entries) for (length, entries), n in shapes.items())
    direct = sum(k.count for k in keys)
    return RegionShape(keys, direct + nulls, len(ranges),
                       sum(pinned_runs(r.pa, r.size, p) for chain, pages in zip(chains, all_pages,
                                                                                 strict=True)
                           for r, p in zip(chain, pages, strict=True)),
                       sum(r.size for r in ranges))
