# SPDX-License-Identifier: MIT
"""Scenario files: the talk's two setups, the switch and preset names of the migration flows,
and every malformed scenario refused naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vdpa_model import switches
from vdpa_model.downtime import scenario
from vdpa_model.downtime.scenario import load_scenario
from vdpa_model.downtime.tomlfile import InputError
from vdpa_model.hostmem import DEFAULTS, HostMemory
from vdpa_model.switches import PRESETS, Switches

GiB = 1 << 30


def test_switches_and_presets_have_one_home() -> None:
    """The scenario file speaks the flows' names: vdpa_model.switches, not a copy."""
    assert scenario.PRESETS is switches.PRESETS and scenario.SWITCHES is switches.SWITCHES


def test_the_talks_two_setups() -> None:
    a = load_scenario("talk-128g")
    assert (a.ram, a.page_size, a.devices, a.data_vqs, a.queue_size) == (128 * GiB, 4096, 2, 4, 256)
    b = load_scenario("talk-256g")
    assert (b.ram, b.devices, b.data_vqs) == (256 * GiB, 4, 32)
    assert a.final_ram_copy_s == pytest.approx(0.3)
    assert a.preset == "all-on" and a.switches == PRESETS["all-on"]
    up = a.with_preset("upstream")
    assert up.switches == Switches() and up.ram == a.ram and up.preset == "upstream"
    # "no hugepages": anonymous memory, THP-backed (hostmem.DEFAULTS), nothing fallen back
    assert a.host == b.host == HostMemory(thp=True, thp_fallback=0.0) == up.host


def test_host_memory_defaults_come_from_one_catalogue(tmp_path: Path) -> None:
    """A scenario without the keys gets hostmem.DEFAULTS; the keys set both halves."""
    p = tmp_path / "s.toml"
    p.write_text(GOOD)
    assert load_scenario(p).host == HostMemory(**{d.key.split(".")[1]: d.value for d in DEFAULTS})
    p.write_text(GOOD.replace('page_size = "2MiB"', 'page_size = "4KiB"\nthp = true\nthp_fallback = 0.05'))
    assert load_scenario(p).host == HostMemory(thp=True, thp_fallback=0.05)
    p.write_text(GOOD.replace('page_size = "2MiB"', 'page_size = "4KiB"\nthp = false'))
    assert load_scenario(p).host == HostMemory(thp=False)


GOOD = """format = 1
name = "s"
[guest]
ram = "64GiB"
page_size = "2MiB"
[devices]
count = 3
queue_pairs = 4
max_queue_pairs = 8
queue_size = 128
[cvq]
mac = "02:00:00:00:00:01"
mac_table = []
vlans = [10, 20]
rx_mode = { promisc = true }
[migration]
preset = "+persistent_iotlb"
switches = { parallel_cvq_load = true, persistent_iotlb = false }
"""


def test_a_full_scenario(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(GOOD)
    s = load_scenario(p)
    assert (s.ram, s.page_size, s.max_queue_pairs, s.queue_size, s.vlans) == (64 * GiB, 2 << 20, 8, 128,
                                                                              (10, 20))
    assert s.switches == Switches(early_map_dest=True, desc_group_asid=True, parallel_cvq_load=True)
    assert s.overrides == {"parallel_cvq_load": True, "persistent_iotlb": False}
    # the file's own settings stay on top of any other preset (the staircase)
    step = s.with_preset("+batch_ring_maps")
    assert step.switches == Switches(early_map_dest=True, desc_group_asid=True, batch_ring_maps=True,
                                     parallel_cvq_load=True)
    with pytest.raises(switches.SwitchError, match="resumable_vqs refused: it needs persistent_iotlb"):
        s.with_preset("all-on")


def test_a_scenario_name_that_is_neither_file_nor_shipped() -> None:
    with pytest.raises(InputError, match="no scenario 'talk-512g': not a file, and not a shipped scenario "
                                         r"\(talk-128g, talk-256g\)"):
        load_scenario("talk-512g")


@pytest.mark.parametrize("old, new, message", [
    ('ram = "64GiB"', 'ram = "64 gigs"', ":4: guest.ram: not a size"),
    ('page_size = "2MiB"', 'page_size = "64KiB"', ":5: guest.page_size: backing pages are 4KiB, 2MiB, 1GiB"),
    ('ram = "64GiB"', 'ram = 5000', ":4: guest.ram: 5000 is not a whole number of 2MiB pages"),
    ("queue_pairs = 4", "queue_pairs = 9", ":8: devices.queue_pairs: 9 queue pairs exceed max_queue_pairs 8"),
    ("queue_size = 128", "queue_size = 100", ":10: devices.queue_size: must be a power of two"),
    ("queue_size = 128", "queue_size = 1024", ":10: devices.queue_size: 1024 exceeds the 256 entries"),
    ("max_queue_pairs = 8", "max_queue_pairs = 64",
     ":9: devices.max_queue_pairs: must be between 1 and 32, got 64 (the reference device models at most"),
    ("mac_table = []", 'mac_table = ["01:00:5e:00:00:01"]',
     ":13: cvq.mac_table: a MAC table needs VIRTIO_NET_F_CTRL_RX"),
    ("rx_mode = { promisc = true }", "rx_mode = { allmulti = true }",
     ":15: cvq.rx_mode.allmulti: allmulti = true (virtio-net starts with false) needs VIRTIO_NET_F_CTRL_RX"),
    ("count = 3", "count = 0", ":7: devices.count: must be between 1 and 4096"),
    ('mac = "02:00:00:00:00:01"', 'mac = "02:00:00:00:01"', ":12: cvq.mac: not a MAC address"),
    ("vlans = [10, 20]", "vlans = [10, 4096]", ":14: cvq.vlans: VLAN ids are 0..4095"),
    ("vlans = [10, 20]", "vlans = [10, 10]", "a VLAN id is listed twice"),
    ("rx_mode = { promisc = true }", "rx_mode = { turbo = true }",
     ":15: cvq.rx_mode.turbo: unknown key 'turbo'"),
    ('preset = "+persistent_iotlb"', 'preset = "everything"',
     ":17: migration.preset: unknown preset 'everything'"),
    ("parallel_cvq_load = true", "warp = true", ":18: migration.switches.warp: unknown key 'warp'"),
    ("parallel_cvq_load = true", "parallel_cvq_load = 1",
     "migration.switches.parallel_cvq_load: must be true or false"),
    ("parallel_cvq_load = true", "resumable_vqs = true, fw_resumable = false",
     ":18: migration.switches: resumable_vqs refused: the firmware cannot resume"),
    ("parallel_cvq_load = true", "resumable_vqs = true",
     ":18: migration.switches: resumable_vqs refused: it needs persistent_iotlb"),
    ("[cvq]", "[cvq]\ncolour = 1", ":12: cvq.colour: unknown key 'colour'"),
    # host memory: the contiguity of the pinned guest RAM
    ('page_size = "2MiB"', 'page_size = "2MiB"\nthp = "yes"', ':6: guest.thp: must be true or false'),
    ('page_size = "2MiB"', 'page_size = "4KiB"\nthp_fallback = "some"',
     ":6: guest.thp_fallback: must be a number"),
    ('page_size = "2MiB"', 'page_size = "4KiB"\nthp_fallback = 1.5',
     ":6: guest.thp_fallback: thp_fallback 1.5 is not a share between 0 and 1"),
    ('page_size = "2MiB"', 'page_size = "4KiB"\nthp_fallback = -0.1',
     ":6: guest.thp_fallback: must not be negative"),
    ('page_size = "2MiB"', 'page_size = "4KiB"\nthp = false\nthp_fallback = 0.1',
     ":7: guest.thp_fallback: thp_fallback 0.1 without THP"),
    ('page_size = "2MiB"', 'page_size = "2MiB"\nthp_fallback = 0.1',
     ":6: guest.thp_fallback: thp_fallback 0.1 with 2097152-byte hugetlbfs pages: THP does not back"),
    ('page_size = "2MiB"', 'page_size = "4KiB"\nthp_share = 0.1', ":6: guest.thp_share: unknown key"),
])
def test_malformed_scenarios_name_file_line_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    p = tmp_path / "bad.toml"
    assert old in GOOD
    p.write_text(GOOD.replace(old, new))
    with pytest.raises(InputError) as e:
        load_scenario(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value)
