# SPDX-License-Identifier: MIT
"""Scenario files: the talk's two setups, the switch and preset names of the migration flows,
and every malformed scenario refused naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vdpa_model.downtime.scenario import PRESETS, SWITCHES, load_scenario, preset_switches
from vdpa_model.downtime.tomlfile import InputError

GiB = 1 << 30

# issue 6: "Every optimisation of migration-sequence.md §5 is a named switch ... plus the firmware
# capability fw_resumable", and the presets: upstream QEMU, then cumulatively each step
ISSUE6_SWITCHES = ["early_map_dest", "desc_group_asid", "persistent_iotlb", "batch_ring_maps",
                   "resumable_vqs", "precreated_vqs", "parallel_fw_cmds", "parallel_mkey", "deferred_mr_free",
                   "parallel_cvq_load", "fw_resumable"]


def test_switch_names_are_the_flows_names() -> None:
    assert list(SWITCHES) == ISSUE6_SWITCHES
    steps = [s for step in PRESETS.values() for s in step]
    assert steps == [s for s in ISSUE6_SWITCHES if s != "fw_resumable"]


def test_presets_are_cumulative() -> None:
    assert not any(preset_switches("upstream").values())
    first_four = ("early_map_dest", "desc_group_asid", "persistent_iotlb", "batch_ring_maps")
    assert preset_switches("batch_ring_maps") == {s: s in first_four
                                                  for s in ISSUE6_SWITCHES if s != "fw_resumable"}
    assert all(preset_switches("parallel_cvq_load").values())
    on = preset_switches("parallel_mkey")
    assert on["parallel_mkey"] and on["deferred_mr_free"] and not on["parallel_cvq_load"]


def test_the_talks_two_setups() -> None:
    a = load_scenario("talk-128g")
    assert (a.ram, a.page_size, a.devices, a.data_vqs, a.queue_size) == (128 * GiB, 4096, 2, 4, 256)
    b = load_scenario("talk-256g")
    assert (b.ram, b.devices, b.data_vqs) == (256 * GiB, 4, 32)
    assert a.final_ram_copy_s == pytest.approx(0.3)
    assert a.preset == "upstream" and a.switches["fw_resumable"] and not a.switches["precreated_vqs"]
    top = a.with_preset("parallel_cvq_load")
    assert all(top.switches.values()) and top.ram == a.ram


GOOD = """format = 1
name = "s"
[guest]
ram = "64GiB"
page_size = "2MiB"
[devices]
count = 3
queue_pairs = 4
max_queue_pairs = 8
queue_size = 1024
[cvq]
mac = "02:00:00:00:00:01"
mac_table = ["01:00:5e:00:00:01"]
vlans = [10, 20]
rx_mode = { promisc = true }
[migration]
preset = "persistent_iotlb"
switches = { parallel_cvq_load = true, persistent_iotlb = false }
"""


def test_a_full_scenario(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(GOOD)
    s = load_scenario(p)
    assert (s.ram, s.page_size, s.max_queue_pairs, s.vlans, s.rx_mode) == (64 * GiB, 2 << 20, 8, (10, 20),
                                                                           {"promisc": True})
    assert s.switches["early_map_dest"] and s.switches["desc_group_asid"]
    assert not s.switches["persistent_iotlb"] and s.switches["parallel_cvq_load"]


@pytest.mark.parametrize("old, new, message", [
    ('ram = "64GiB"', 'ram = "64 gigs"', ":4: guest.ram: not a size"),
    ('page_size = "2MiB"', 'page_size = "64KiB"', ":5: guest.page_size: backing pages are 4KiB, 2MiB, 1GiB"),
    ('ram = "64GiB"', 'ram = 5000', ":4: guest.ram: 5000 is not a whole number of 2MiB pages"),
    ("queue_pairs = 4", "queue_pairs = 9", ":8: devices.queue_pairs: 9 queue pairs exceed max_queue_pairs 8"),
    ("queue_size = 1024", "queue_size = 1000", ":10: devices.queue_size: must be a power of two"),
    ("count = 3", "count = 0", ":7: devices.count: must be between 1 and 4096"),
    ('mac = "02:00:00:00:00:01"', 'mac = "02:00:00:00:01"', ":12: cvq.mac: not a MAC address"),
    ("vlans = [10, 20]", "vlans = [10, 4096]", ":14: cvq.vlans: VLAN ids are 0..4095"),
    ("vlans = [10, 20]", "vlans = [10, 10]", "a VLAN id is listed twice"),
    ("rx_mode = { promisc = true }", "rx_mode = { turbo = true }",
     ":15: cvq.rx_mode.turbo: unknown key 'turbo'"),
    ('preset = "persistent_iotlb"', 'preset = "everything"',
     ":17: migration.preset: unknown preset 'everything'"),
    ("parallel_cvq_load = true", "warp = true", ":18: migration.switches.warp: unknown key 'warp'"),
    ("parallel_cvq_load = true", "parallel_cvq_load = 1",
     "migration.switches.parallel_cvq_load: must be true or false"),
    ("parallel_cvq_load = true", "resumable_vqs = true, fw_resumable = false",
     "switch 'resumable_vqs' needs the firmware capability 'fw_resumable'"),
    ("[cvq]", "[cvq]\ncolour = 1", ":12: cvq.colour: unknown key 'colour'"),
])
def test_malformed_scenarios_name_file_line_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    p = tmp_path / "bad.toml"
    assert old in GOOD
    p.write_text(GOOD.replace(old, new))
    with pytest.raises(InputError) as e:
        load_scenario(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value)
