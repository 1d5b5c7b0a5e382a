# SPDX-License-Identifier: MIT
"""Host memory contiguity: runs, translation entries and pinned folios for each setting.

Expected values are the arithmetic of migration-sequence.md §1 item 6, written out here: a GiB
holds 262 144 runs of 4 KiB, 512 of 2 MiB, one of 1 GiB; a direct key covers 1 GiB; its unit is
2 ** ilog2(gcd) of the run lengths in it, so one 4 KiB run anywhere in its window makes it
262 144 entries. The fallback regions of THP are spread as hostmem.py defines them: region j
(the j-th 2 MiB of the address space) falls back when floor((j + 1) f) > floor(j f).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import pytest

from vdpa_model.hostmem import (
    BASE_PAGES,
    DEFAULTS,
    FRAGMENTED,
    Backing,
    HostMemory,
    HostMemoryError,
    RunPattern,
)
from vdpa_model.memory import GiB, KiB, MiB
from vdpa_model.migration import Migration, MigrationResult, MigrationSetup
from vdpa_model.mr import region_shape
from vdpa_model.ops import IotlbRange
from vdpa_model.ramlayout import RamLayout
from vdpa_model.spec import VHOST_ACCESS_RW
from vdpa_model.switches import Switches
from vdpa_model.sync import run

PER_GIB_4K, PER_GIB_2M = GiB // (4 * KiB), GiB // (2 * MiB)   # 262 144 and 512
#: a talk-sized guest: 128 GiB on q35 is 2 GiB below 4 GiB and a 126 GiB section at 4 GiB
RAM = 128 * GiB
HIGH = IotlbRange(4 * GiB, 126 * GiB, 4 * GiB, VHOST_ACCESS_RW)
FIRST_REGION = 4 * GiB // (2 * MiB)  # 2048: the 2 MiB region the section starts at

#: pages of the BIOS ROM (256 KiB, its own RAM block: base pages whatever the host)
ROM = 64
#: contiguity setting -> (setting, runs of the 126 GiB section, MTT entries of its 126 direct
#: keys, runs of the RAM below 4 GiB: [0, 640 KiB), the PAM shadow [768 KiB, 1 MiB) and
#: [1 MiB, 2 GiB), which starts half way into region 0 and then holds regions 1..1023, plus ROM)
EXPECTED: dict[str, tuple[HostMemory | int, int, int, int]] = {
    # THP, nothing fell back: every run is one 2 MiB folio (region 0's three slices one each)
    "thp": (HostMemory(), 126 * PER_GIB_2M, 126 * PER_GIB_2M, 1 + 1 + 1 + 1023 + ROM),
    # THP off: every 4 KiB page its own run (the worst case)
    "thp off": (HostMemory(thp=False), 126 * PER_GIB_4K, 126 * PER_GIB_4K, 160 + 64 + 524_032 + ROM),
    # one region in 512 falls back: each 1 GiB window (512 regions, aligned at region 2048,
    # a multiple of 512) holds exactly floor(512 / 512) = 1, so every key drops to 4 KiB
    # units, and each window's runs are 511 folios plus 512 pages; below 4 GiB regions 511
    # and 1023 fall back (floor((j + 1) / 512) steps there)
    "thp 1/512": (HostMemory(thp_fallback=1 / 512), 126 * (511 + 512), 126 * PER_GIB_4K,
                  1 + 1 + 1 + 1021 + 2 * 512 + ROM),
    # one in 1024: window w holds floor((2048 + 512 (w + 1)) / 1024) - floor((2048 + 512 w) / 1024)
    # regions, 0 for even w and 1 for odd w: 63 windows at 4 KiB units, 63 at 2 MiB; below
    # 4 GiB region 1023 falls back
    "thp 1/1024": (HostMemory(thp_fallback=1 / 1024), 126 * PER_GIB_2M + 63 * 511,
                   63 * PER_GIB_4K + 63 * PER_GIB_2M, 1 + 1 + 1 + 1022 + 512 + ROM),
    # everything fell back: the same as THP off
    "thp all fell back": (HostMemory(thp_fallback=1.0), 126 * PER_GIB_4K, 126 * PER_GIB_4K,
                          160 + 64 + 524_032 + ROM),
    # hugetlbfs backends: one run per page ([1 MiB, 2 GiB) in 1 GiB pages: two runs)
    "hugetlbfs 2 MiB": (2 * MiB, 126 * PER_GIB_2M, 126 * PER_GIB_2M, 1 + 1 + 1 + 1023 + ROM),
    "hugetlbfs 1 GiB": (GiB, 126, 126, 1 + 1 + 2 + ROM),
}


def layout(setting: HostMemory | int) -> RamLayout:
    if isinstance(setting, int):
        return RamLayout(RAM, page_size=setting)
    return RamLayout(RAM, host=setting)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_runs_and_entries_of_the_high_section_per_contiguity(name: str) -> None:
    setting, runs, entries, _ = EXPECTED[name]
    backing = layout(setting).backing
    assert backing.runs(HIGH.pa, HIGH.size) == runs
    shape = region_shape([HIGH], backing)
    assert shape.direct_keys == 126 and shape.runs == runs and shape.entries == entries


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_flows_build_what_the_arithmetic_says(name: str) -> None:
    """A16 of upstream's Flow A maps all guest RAM in one batch, after the shadow rings and
    control buffers (a few 4 KiB pages) went into ASID 0: the CVQ, in ASID 0 under SVQ, copies
    one table entry per run, and the build writes the section's entries plus at most what the
    2 GiB below 4 GiB can add (two keys of at most 262 144 entries, and a few small ones)."""
    setting, runs, entries, low = EXPECTED[name]
    res = switch_to_svq(layout(setting))
    a16 = [r for r in res.trace.records if r.phase == "A16" and r.device == "src0"]
    (copy,) = [r for r in a16 if r.name == "cvq_iotlb_update"]
    assert runs + low < copy.args["runs"] <= runs + low + 32
    built = sum(r.args.get("count", 1) * r.args["entries"] for r in a16 if r.name == "mkey_create")
    assert entries < built <= entries + 2 * PER_GIB_4K + 1000


@functools.cache
def switch_to_svq(lay: RamLayout) -> MigrationResult:
    setup = MigrationSetup(devices=1, queue_pairs=1, layout=lay, switches=Switches(), vlans=(),
                           traffic=False)
    return run(Migration(setup).run())


def test_pinned_folios_split_by_size() -> None:
    """1/8 of the regions fall back: 126 GiB = 64 512 regions, 8 064 of them in 4 KiB pages
    (region 2048 starts the section, a multiple of 8)."""
    (big, small) = layout(HostMemory(thp_fallback=1 / 8)).backing.folios(HIGH.pa, HIGH.size)
    assert (big.size, big.bytes, big.runs) == (2 * MiB, 56_448 * 2 * MiB, 56_448)
    assert (small.size, small.bytes, small.runs) == (4 * KiB, 8_064 * 2 * MiB, 8_064 * 512)


def test_fallback_regions_are_spread_evenly() -> None:
    """Any m consecutive regions hold floor(m f) or one more fallback regions."""
    pat = RunPattern(2 * MiB, Fraction(3, 100))
    flags = [pat.is_fallback(j) for j in range(10_000)]
    for m in (1, 7, 33, 512):
        counts = {sum(flags[i:i + m]) for i in range(0, len(flags) - m)}
        assert counts <= {math.floor(m * 3 / 100), math.floor(m * 3 / 100) + 1}


def test_partial_cells_at_the_ends_of_a_range() -> None:
    """[1 MiB, 5 MiB + 8 KiB) over 2 MiB runs: the last 1 MiB of the first, all of the second,
    the first 1 MiB + 8 KiB of the third; their gcd is 8 KiB."""
    b = Backing.uniform(RunPattern(2 * MiB))
    assert b.runs(1 * MiB, 4 * MiB + 8 * KiB) == 3
    assert b.run_gcd(1 * MiB, 4 * MiB + 8 * KiB) == 8 * KiB
    # inside a fallback region a range is its pages
    fb = Backing.uniform(RunPattern(2 * MiB, Fraction(1)))
    assert fb.runs(4 * KiB, 3 * 4 * KiB) == 3 and fb.run_gcd(4 * KiB, 3 * 4 * KiB) == 4 * KiB
    assert FRAGMENTED.runs(0, 2 * MiB) == 512


def test_a_range_across_two_kinds_of_memory() -> None:
    """A RAM section in 2 MiB runs and base pages after it: runs and folios of both."""
    b = Backing(((0, 4 * MiB, RunPattern(2 * MiB)),))
    assert b.runs(2 * MiB, 2 * MiB + 12 * KiB) == 1 + 3
    assert b.pattern(2 * MiB, 2 * MiB + 12 * KiB) is None
    assert [(f.size, f.bytes) for f in b.folios(2 * MiB, 2 * MiB + 12 * KiB)] == [
        (2 * MiB, 2 * MiB), (4 * KiB, 12 * KiB)]
    assert b.pattern(8 * MiB, 4 * KiB) == BASE_PAGES


@pytest.mark.parametrize(("kw", "message"), [
    ({"thp_fallback": -0.1}, "not a share between 0 and 1"),
    ({"thp_fallback": 1.5}, "not a share between 0 and 1"),
    ({"thp_fallback": True}, "not a share between 0 and 1"),
    ({"thp": False, "thp_fallback": 0.1}, "without THP"),
])
def test_bad_host_memory_is_refused_by_name(kw: dict[str, object], message: str) -> None:
    with pytest.raises(HostMemoryError, match=message):
        HostMemory(**kw)  # type: ignore[arg-type]


def test_every_default_has_its_reason() -> None:
    """One catalogue of the inputs' defaults, each a cited source or a named assumption."""
    defaults = {d.key: d for d in DEFAULTS}
    assert set(defaults) == {"guest.thp", "guest.thp_fallback"}
    assert defaults["guest.thp"].value is HostMemory().thp
    assert defaults["guest.thp_fallback"].value == HostMemory().thp_fallback
    assert all(d.basis in ("source", "assumed") and len(d.why) > 40 for d in DEFAULTS)


@pytest.mark.parametrize("seed", range(8))
def test_counted_and_walked_runs_agree(seed: int) -> None:
    """runs, run_gcd and folios count in bulk what run_lengths walks one run at a time, over
    ranges that start and end anywhere (not page aligned) and cross regions of different kinds."""
    import random

    rnd = random.Random(seed)
    regions, pos = [], 0
    for _ in range(3):
        period = rnd.choice([4 * KiB, 2 * MiB, 64 * KiB])
        size = rnd.randrange(1, 40) * period
        fallback = Fraction(rnd.randrange(0, 8), 8) if period == 2 * MiB else Fraction(0)
        regions.append((pos, pos + size, RunPattern(period, fallback)))
        pos += size + rnd.choice([0, 12 * KiB])
    backing = Backing(tuple(regions))
    for _ in range(20):
        pa = rnd.randrange(0, pos)
        size = rnd.randrange(1, pos - pa + 8 * MiB)
        walked = list(backing.run_lengths(pa, size))
        assert sum(walked) == size and len(walked) == backing.runs(pa, size)
        assert math.gcd(*walked) == backing.run_gcd(pa, size)
        folios = backing.folios(pa, size)
        assert sum(f.bytes for f in folios) == size and sum(f.runs for f in folios) == len(walked)
