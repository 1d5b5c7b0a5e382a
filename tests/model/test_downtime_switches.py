# SPDX-License-Identifier: MIT
"""Each optimisation switched on alone, against upstream QEMU, on the talk's setups.

The design brief: "The model must reproduce the direction and rough size of each published
optimisation when it is switched on alone; it is calibrated on single-operation figures, never
fitted to end-to-end ones." The expected directions come from migration-sequence.md §5 (which
steps a switch removes, shrinks or moves) and §7 (the traps), the sizes from the published
figures where one gives a size: the talk's ~300 ms per device for pre-creation, C2 for the
parallel suspend, C6 for parallel MKEYs, H2 for early pinning. Nothing here is a model output
written back as an expectation. Setup 1 is the talk's benchmark VM (128 GiB, 2 devices x 4 data
VQs), setup 2 its second one (256 GiB, 4 devices x 32 data VQs).

Every test runs for both ends of host memory contiguity (vdpa_model.hostmem): the scenarios'
default, THP-backed guest RAM in 2 MiB runs, and THP off, every 4 KiB page its own run. A
direction that held only for one of them would be an artefact of that choice.
"""

from __future__ import annotations

import dataclasses
import functools

import pytest

from vdpa_model.downtime.calibration import step
from vdpa_model.downtime.predict import Prediction, predict
from vdpa_model.downtime.profile import Profile, load_profile
from vdpa_model.downtime.report import Result
from vdpa_model.downtime.scenario import load_scenario
from vdpa_model.downtime.scheduler import price
from vdpa_model.hostmem import HostMemory
from vdpa_model.switches import SWITCHES, Switches

SETUP1, SETUP2 = "talk-128g", "talk-256g"
#: contiguity -> (host memory, H2's warm pin + map of 16 GB of that memory, ms)
MEMORIES = {"thp": (HostMemory(), 47.0), "4k-runs": (HostMemory(thp=False), 280.0)}
#: resumable_vqs assumes these (§5); "alone" for it means on top of them, against them.
PREREQUISITES = {"resumable_vqs": ("desc_group_asid", "persistent_iotlb")}


@functools.cache
def mlx5() -> Profile:
    return load_profile("mlx5-cx6dx")


@pytest.fixture(params=list(MEMORIES))
def memory(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@functools.cache
def run(setup: str, memory: str, *on: str) -> Prediction:
    sc = load_scenario(setup)
    sc = dataclasses.replace(sc, preset=None, switches=Switches().with_(**dict.fromkeys(on, True)),
                             host=MEMORIES[memory][0])
    return predict(sc, mlx5())


def alone(setup: str, memory: str, switch: str) -> tuple[Result, Result]:
    """(without, with) the switch, every other switch off but its prerequisites."""
    base = PREREQUISITES.get(switch, ())
    return run(setup, memory, *base).result, run(setup, memory, *base, switch).result


def ms(r: Result, phase: str, device: str = "src0") -> float:
    """One device's time in a step."""
    return 1e3 * sum(p.per_device.get(device, 0.0) for p in r.phases if p.phase == phase)


def startup_ms(r: Result) -> float:
    return 1e3 * r.pairs[0].startup


def down(without: float, with_: float) -> bool:
    return with_ < without


def same(without: float, with_: float, rel: float = 0.01) -> bool:
    return abs(with_ - without) <= rel * without


def test_every_switch_is_tested_alone() -> None:
    tested = {name.removeprefix("test_").split("__")[0] for name in globals() if name.startswith("test_")}
    assert set(SWITCHES) <= tested


# -- one test per switch: direction on #1 / #2 / guest-visible, then the size a source states --
def test_early_map_dest__moves_guest_ram_out_of_the_window(memory: str) -> None:
    """§5: C 4.2.8 moves to C 4.1.4; no effect on A or B."""
    b, s = alone(SETUP1, memory, "early_map_dest")
    assert same(b.downtime1_max, s.downtime1_max, 1e-6)
    assert down(b.downtime2, s.downtime2) and down(b.guest_visible or 0, s.guest_visible or 0)
    assert ms(s, "C4.2.8", "dst0") == 0 and ms(s, "C4.1.4", "dst0") > 0
    # at least the warm pin of all guest RAM leaves each destination start: H2 per 16 GB
    assert startup_ms(b) - startup_ms(s) >= 128 / 16 * MEMORIES[memory][1]


def test_desc_group_asid__ring_rebuilds_hit_the_small_table(memory: str) -> None:
    """§5: B2/B4's per-ring rebuilds hit the small ASID-1 table; the CVQ moves to ASID 1 with the
    rings, so mlx5 stops copying guest RAM's table for it (§1 item 5)."""
    b, s = alone(SETUP1, memory, "desc_group_asid")
    assert down(b.downtime1_max, s.downtime1_max)
    assert down(b.downtime2, s.downtime2) and down(b.guest_visible or 0, s.guest_visible or 0)
    # trap 2: each of upstream's 2 x 4 ring unmaps rebuilt all guest RAM; now none does
    assert ms(s, "B2") < ms(b, "B2") / (2 * 4)


def test_persistent_iotlb__keeps_the_maps_and_the_rings_then_hit_all_ram(memory: str) -> None:
    """§5: − A7, − A16, − B6. Alone, without desc_group_asid, the ring and CVQ maps of A14, A15
    and B7 go into ASID 0, which now keeps all guest RAM: by trap 2 each unbatched one rebuilds
    the whole region. Which way the sum goes depends on the unsourced region-build cost, so only
    the steps are checked: the removed ones cost nothing, and each of the 2 x 4 ring maps of A14
    costs at least one full build (upstream's A16 build, without its pins)."""
    b, s = alone(SETUP1, memory, "persistent_iotlb")
    for gone in ("A7", "A16", "B6"):
        assert ms(b, gone) > 0 and ms(s, gone) == 0
    upstream = run(SETUP1, memory)
    a16 = price(step(upstream.records, "src0", "A16"), mlx5())
    full_build = 1e3 * sum(sec.kinds[("op", "set_map")].busy for sec in a16.sections)
    assert ms(s, "A14") >= 0.95 * 2 * 4 * full_build
    assert ms(s, "B7") >= 0.95 * 2 * full_build  # the two CVQ-buffer unmaps


def test_batch_ring_maps__one_rebuild_per_batch(memory: str) -> None:
    """§5: ↓ A5, A9, A14, A15, B2, B4, B7: many set_map calls become one per ASID per batch."""
    b, s = alone(SETUP1, memory, "batch_ring_maps")
    assert s.downtime1_max <= b.downtime1_max
    assert down(b.downtime2, s.downtime2) and down(b.guest_visible or 0, s.guest_visible or 0)
    # B2: the 2 x 4 unbatched unmaps, each a full rebuild (trap 2), become one batch
    assert ms(b, "B2") / ms(s, "B2") >= 0.8 * 2 * 4


def test_resumable_vqs__suspend_and_resume_instead_of_reset(memory: str) -> None:
    """§5: Flow A becomes suspend, remap the rings, resume; the prototype skips B5."""
    b, s = alone(SETUP1, memory, "resumable_vqs")
    assert down(b.downtime1_max, s.downtime1_max)
    assert down(b.downtime2, s.downtime2) and down(b.guest_visible or 0, s.guest_visible or 0)
    assert ms(s, "A6") == 0 and ms(s, "A17") == 0 and ms(s, "B5") == 0


def test_precreated_vqs__creation_moves_from_driver_ok_to_the_resets(memory: str) -> None:
    """§5: VQ creation moves from DRIVER_OK to device creation and every reset; trap 3: the source
    resets still create every VQ, so downtime #1 and #2 keep it and only the destination starts
    (and with them the guest-visible downtime of a VM with more than one device) lose it."""
    b, s = alone(SETUP1, memory, "precreated_vqs")
    assert same(b.downtime1_max, s.downtime1_max) and same(b.downtime2, s.downtime2)
    assert down(b.guest_visible or 0, s.guest_visible or 0)
    assert down(startup_ms(b), startup_ms(s))


def test_precreated_vqs__saves_about_300_ms_per_device_of_32_vqs(memory: str) -> None:
    """The talk: VQ pre-creation saves ~300 ms per device (its 32-VQ setup)."""
    b, s = alone(SETUP2, memory, "precreated_vqs")
    assert startup_ms(b) - startup_ms(s) == pytest.approx(300, rel=0.2)


def test_parallel_fw_cmds__rounds_in_parallel(memory: str) -> None:
    """§5: ↓ suspend (A1, B1), the MODIFY rounds, the map-change suspends and resumes."""
    b, s = alone(SETUP1, memory, "parallel_fw_cmds")
    assert down(b.downtime1_max, s.downtime1_max)
    assert down(b.downtime2, s.downtime2) and down(b.guest_visible or 0, s.guest_visible or 0)


def test_parallel_fw_cmds__suspend_as_c2_says(memory: str) -> None:
    """C2: a 32-VQ device suspends in 37 ms serially, 2.5 ms with the series (notifier kept)."""
    b, s = alone(SETUP2, memory, "parallel_fw_cmds")
    assert ms(b, "B1") == pytest.approx(37, rel=0.1) and ms(s, "B1") == pytest.approx(2.5, rel=0.1)
    assert ms(b, "A1") / ms(s, "A1") == pytest.approx(37 / 2.5, rel=0.1)


def test_parallel_mkey__region_builds_3_to_5_times_faster(memory: str) -> None:
    """§5: ↓ every region build (C6: 3-5x)."""
    b, s = alone(SETUP1, memory, "parallel_mkey")
    assert down(b.downtime1_max, s.downtime1_max)
    assert down(b.downtime2, s.downtime2) and down(b.guest_visible or 0, s.guest_visible or 0)

    def build_ms(r: Result) -> float:
        return next(k.span for k in r.kinds if (k.layer, k.name) == ("fw", "mkey_create"))
    assert 3 <= build_ms(b) / build_ms(s) <= 5


def test_deferred_mr_free__destruction_leaves_the_windows(memory: str) -> None:
    """§5: region destruction moves to a collector 2 s later (C9)."""
    b, s = alone(SETUP1, memory, "deferred_mr_free")
    assert down(b.downtime1_max, s.downtime1_max)
    assert down(b.downtime2, s.downtime2) and down(b.guest_visible or 0, s.guest_visible or 0)
    assert ms(b, "GC") == 0 and ms(s, "GC") > 0


def test_parallel_cvq_load__one_wait_for_the_replay(memory: str) -> None:
    """§5: ↓ the per-command wait of A19 / C 4.2.10 (H4); the commands stay. With the talk's two
    commands (MAC, MQ) the gain is one round trip per start: a few microseconds."""
    b, s = alone(SETUP1, memory, "parallel_cvq_load")
    assert down(b.downtime1_max, s.downtime1_max)
    assert down(b.downtime2, s.downtime2) and down(b.guest_visible or 0, s.guest_visible or 0)
    assert b.downtime2 - s.downtime2 < 1e-3
