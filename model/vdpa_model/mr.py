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
(drivers/vhost/vdpa.c: vhost_vdpa_pa_map), so the lengths that enter the gcd are runs, and what
the runs are (folios of 4 KiB, 2 MiB THP, hugetlbfs pages; evenly spread 4 KiB fallback regions)
is :mod:`vdpa_model.hostmem`'s to say, through the :class:`~vdpa_model.hostmem.Backing` the
caller passes: 2 MiB runs give 512 entries per GiB, 4 KiB runs 262 144, 1 GiB pages 1, and one
odd-sized run lowers the unit of its whole 1 GiB window.

Nothing here walks pages or keys one by one: keys that lie wholly inside one IOTLB entry differ
only in the fallback regions they hold, so they are counted in bulk by their translation unit
(:meth:`Backing.window_gcds`), which keeps a 4 TiB region as cheap as a 4 GiB one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from .hostmem import FRAGMENTED, Backing
from .ops import IotlbRange

#: MAX_KLM_SIZE (mr.c, 1 << LOG_MAX_KLM_SIZE): the largest direct key.
MAX_KEY = 1 << 30


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


def _unit(gcd: int) -> int:
    """2 ** ilog2(gcd): the translation unit map_direct_mr picks (log_entity_size)."""
    return 1 << (gcd.bit_length() - 1)


def _key(ws: int, we: int, chain: Sequence[IotlbRange], first: int, backing: Backing) -> int:
    """MTT entries of the direct key over ``[ws, we)``; ``chain[first]`` is its first entry."""
    g = 0
    i = first
    while i < len(chain) and chain[i].iova < we:
        r = chain[i]
        cs, ce = max(ws, r.iova), min(we, r.iova + r.size)
        g = math.gcd(g, backing.run_gcd(r.pa + (cs - r.iova), ce - cs))
        i += 1
    return -(-(we - ws) // _unit(g))


def region_shape(iotlb: Sequence[IotlbRange], backing: Backing | None = None) -> RegionShape:
    """The region mlx5 builds for ``iotlb`` (mr.c: create_user_mr and what it calls) over host
    memory ``backing`` (4 KiB runs everywhere if None)."""
    backing = backing or FRAGMENTED
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
    for chain in chains:
        start, end = chain[0].iova, chain[-1].iova + chain[-1].size
        if prev_end is not None:
            nulls += -(-(start - prev_end) // MAX_KEY)
        ws, i = start, 0
        while ws < end:
            while chain[i].iova + chain[i].size <= ws:
                i += 1
            r = chain[i]
            inside = (r.iova + r.size - ws) // MAX_KEY
            if inside:
                # whole keys inside this entry: their units differ only by the fallback
                # regions each holds, so they are counted by unit, not walked
                for g, n in backing.window_gcds(r.pa + (ws - r.iova), MAX_KEY, inside):
                    add(n, MAX_KEY, MAX_KEY // _unit(g))
                ws += inside * MAX_KEY
                continue
            we = min(ws + MAX_KEY, end)
            add(1, we - ws, _key(ws, we, chain, i, backing))
            ws = we
        prev_end = end
    keys = tuple(DirectKeys(n, length, entries) for (length, entries), n in shapes.items())
    direct = sum(k.count for k in keys)
    return RegionShape(keys, direct + nulls, len(ranges), sum(backing.runs(r.pa, r.size) for r in ranges),
                       sum(r.size for r in ranges))
