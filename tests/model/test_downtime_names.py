# SPDX-License-Identifier: MIT
"""Every name a shipped profile prices by is a name the migration flows really write.

A profile matches records by layer and name, by the op they run inside (``within``), by step id
(``phase``) and by arguments (``page_size``, ``flags``), and prices them by cost drivers. A typo
on either side would not fail loudly: the record would fall to a default or a driver would
count 0. So real traces of every preset (each backing page size, a MAC change and VLANs so the
steering rules come and go, and firmware that cannot resume) are priced with each shipped
profile, and the test fails on a record the profile cannot price, on any pricing warning (a cost
driver the record lacks, a step id no window knows), and, for the mlx5 profile, on a case or
entry no real record ever reaches.
"""

from __future__ import annotations

import functools

import pytest

from vdpa_model.downtime.profile import Profile, load_profile
from vdpa_model.downtime.scheduler import _Pricer, price, split_sections
from vdpa_model.memory import GiB
from vdpa_model.migration import MigrationSetup, migrate
from vdpa_model.ramlayout import RamLayout
from vdpa_model.switches import PRESETS, Switches
from vdpa_model.sync import run
from vdpa_model.trace import TraceRecord

PAGE_SIZES = (4096, 2 << 20, 1 << 30)
CONFIGS: dict[str, Switches] = {**PRESETS, "precreated, firmware cannot resume":
                                Switches(precreated_vqs=True, fw_resumable=False)}

#: Entries of the mlx5 profile no reference-device trace reaches, and why that is right.
NOT_IN_FLOWS = {
    "fw.dev_reset": "the RTL's RESET command; mlx5 has none (its reset is VQ and MR work)",
    "ioctl.eventfd_kick": "a data-VQ kick: guest traffic, which the flows do not trace; the CVQ's "
                          "kicks take the case inside cvq_command",
    "op.kick_vq": "as ioctl.eventfd_kick",
}


@functools.cache
def real_trace(config: str, page_size: int) -> tuple[TraceRecord, ...]:
    setup = MigrationSetup(devices=1, queue_pairs=2, layout=RamLayout(8 * GiB, page_size),
                           switches=CONFIGS[config], vlans=(5, 7), guest_mac=b"\x02\x00\x00\x00\x00\x09",
                           traffic=False)
    result = run(migrate(setup))
    assert result.report.ok, result.report.render()
    return tuple(result.trace.records)


def rules_reached(records: tuple[TraceRecord, ...], profile: Profile) -> set[str]:
    """The key of the rule (case or default) each record is priced by."""
    out = set()
    for sec in split_sections(records):
        for i, r in enumerate(sec.records):
            item = profile.item(r.layer, r.name)
            assert item is not None, f"{r.layer} {r.name} unpriced"
            out.add(item.rule(r.phase, r.args, _Pricer._ancestors(sec, i), r.group is not None).key)
    return out


@pytest.mark.parametrize("profile_name", ["mlx5-cx6dx", "reference-rtl"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_every_record_of_a_real_trace_is_priced_without_warnings(profile_name: str, config: str) -> None:
    profile = load_profile(profile_name)
    for page_size in PAGE_SIZES:
        sched = price(real_trace(config, page_size), profile)  # raises on an unpriced record
        assert sched.warnings == [], f"{config}, {page_size}-byte pages: {sched.warnings}"


def test_every_entry_and_case_of_the_mlx5_profile_meets_a_real_record() -> None:
    profile = load_profile("mlx5-cx6dx")
    reached: set[str] = set()
    for config in CONFIGS:
        for page_size in PAGE_SIZES:
            reached |= rules_reached(real_trace(config, page_size), profile)
    every = {rule.key for item in profile.items.values() for rule in item.rules}
    assert every - reached == set(NOT_IN_FLOWS), "entries no flow reaches: names that do not match"
