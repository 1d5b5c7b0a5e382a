# SPDX-License-Identifier: MIT
"""The switch set, the cumulative presets, and what refuses a switch before any op runs."""

from __future__ import annotations

import pytest

from vdpa_model.options import Parent
from vdpa_model.spec import (
    VHOST_BACKEND_F_DESC_ASID,
    VHOST_BACKEND_F_IOTLB_ASID,
    VHOST_BACKEND_F_IOTLB_BATCH,
    VHOST_BACKEND_F_IOTLB_MSG_V2,
    VHOST_BACKEND_F_IOTLB_PERSIST,
    VHOST_BACKEND_F_RESUME,
    VHOST_BACKEND_F_SUSPEND,
    bit,
)
from vdpa_model.switches import PRESETS, SWITCHES, SwitchError, Switches, parse_switches
from vdpa_model.vhost import VhostOptions

#: The issue's cumulative order (issue 6: "then cumulatively ...").
ORDER = [(), ("early_map_dest",), ("desc_group_asid",), ("persistent_iotlb",), ("batch_ring_maps",),
         ("resumable_vqs",), ("precreated_vqs",), ("parallel_fw_cmds",),
         ("parallel_mkey", "deferred_mr_free"), ("parallel_cvq_load",)]


def test_presets_add_one_step_at_a_time_in_the_issues_order() -> None:
    steps = [p for p in PRESETS if p != "all-on"]
    assert len(steps) == len(ORDER)
    on: set[str] = set()
    for name, adds in zip(steps, ORDER, strict=True):
        on |= set(adds)
        assert set(PRESETS[name].enabled()) == on, name
        assert PRESETS[name].fw_resumable
    assert set(PRESETS["all-on"].enabled()) == set(SWITCHES)
    for sw in PRESETS.values():
        sw.check()  # every preset is a valid combination


def test_parse_any_combination() -> None:
    assert parse_switches("upstream") == Switches()
    assert parse_switches("+batch_ring_maps,-early_map_dest") == PRESETS["+batch_ring_maps"].with_(
        early_map_dest=False)
    assert parse_switches("precreated_vqs,parallel_mkey").enabled() == ("precreated_vqs", "parallel_mkey")
    assert not parse_switches("fw_resumable=off").fw_resumable


@pytest.mark.parametrize(("text", "message"), [
    ("turbo", "unknown switch"),
    ("precreated_vqs,upstream", "preset 'upstream' must come first"),
    ("precreated_vqs=maybe", "not on/off"),
])
def test_bad_switch_text_is_named(text: str, message: str) -> None:
    with pytest.raises(SwitchError, match=message):
        parse_switches(text)


OFFERED_ALL = (bit(VHOST_BACKEND_F_IOTLB_MSG_V2) | bit(VHOST_BACKEND_F_IOTLB_BATCH)
               | bit(VHOST_BACKEND_F_IOTLB_ASID) | bit(VHOST_BACKEND_F_SUSPEND)
               | bit(VHOST_BACKEND_F_RESUME) | bit(VHOST_BACKEND_F_DESC_ASID)
               | bit(VHOST_BACKEND_F_IOTLB_PERSIST))
LAX = VhostOptions(group_asid_busy_after_driver_ok=False)


@pytest.mark.parametrize(("name", "feature"), [
    ("desc_group_asid", VHOST_BACKEND_F_DESC_ASID),
    ("persistent_iotlb", VHOST_BACKEND_F_IOTLB_PERSIST),
    ("batch_ring_maps", VHOST_BACKEND_F_IOTLB_BATCH),
])
def test_a_backend_feature_not_offered_refuses_its_switch(name: str, feature: int) -> None:
    sw = Switches().with_(**{name: True})
    sw.check_backend(OFFERED_ALL, LAX)
    with pytest.raises(SwitchError, match=f"{name} refused: dev0 does not offer"):
        sw.check_backend(OFFERED_ALL & ~bit(feature), LAX, "dev0")


def test_upstream_acks_only_what_qemu_negotiates_and_switches_add_theirs() -> None:
    upstream = Switches().backend_features(OFFERED_ALL)
    assert upstream == (bit(VHOST_BACKEND_F_IOTLB_MSG_V2) | bit(VHOST_BACKEND_F_IOTLB_BATCH)
                        | bit(VHOST_BACKEND_F_IOTLB_ASID) | bit(VHOST_BACKEND_F_SUSPEND))
    full = PRESETS["all-on"].backend_features(OFFERED_ALL)
    assert full == OFFERED_ALL


def test_device_options_carry_the_parent_switches() -> None:
    opts = PRESETS["all-on"].device_options(Parent.MLX5)
    assert (opts.precreated_vqs, opts.parallel_fw_cmds, opts.parallel_mkey, opts.deferred_mr_free,
            opts.fw_resumable) == (True, True, True, True, True)
    assert not Switches().device_options(Parent.MLX5).precreated_vqs
    with pytest.raises(SwitchError, match="parallel_mkey refused"):
        Switches(parallel_mkey=True).device_options(Parent.SIM)
