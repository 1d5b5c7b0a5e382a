# SPDX-License-Identifier: MIT
"""The seeded soak (vdpa_tb.uvm.soak): a seed reruns exactly, and the summary adds up what the
scoreboards of its seeds said. Two short runs of the hostile virtual sequence on the default
device."""

from __future__ import annotations

import pytest

from vdpa_tb import devices
from vdpa_tb.uvm import coverage as cov
from vdpa_tb.uvm import soak


@pytest.mark.sim
def test_a_seed_reruns_exactly_and_the_soak_adds_up(tmp_path) -> None:  # type: ignore[no-untyped-def]
    device = devices.load_device()
    a = soak.run_seed(str(device.path), 11, soak.DEFAULT_TESTS, str(tmp_path / "a"))
    b = soak.run_seed(str(device.path), 11, soak.DEFAULT_TESTS, str(tmp_path / "b"))
    c = soak.run_seed(str(device.path), 12, soak.DEFAULT_TESTS, str(tmp_path / "a"))
    assert a["passed"] and b["passed"] and c["passed"], (a["error"], b["error"], c["error"])
    strip = [{k: v for k, v in s.items() if k != "errors"} for s in a["scoreboards"]]
    assert strip == [{k: v for k, v in s.items() if k != "errors"} for s in b["scoreboards"]]
    assert a["scoreboards"] != c["scoreboards"], "two seeds drove the same stimulus"
    s = soak.summarize([a, c], 10.0, 1, device.name, tmp_path / "a")
    assert (s["seeds"], s["passed"], s["failed"]) == (2, 2, [])
    assert s["items"] == sum(r["scoreboards"][0]["items"] for r in (a, c)) > 100
    assert s["mismatches"] == 0 and s["isolation_violations"] == 0 and s["races"] > 0
    hc = s["hostile_coverage"]
    assert set(hc["per_group"]) == set(cov.HOSTILE_GROUPS) and 0 < hc["bins_hit"] <= hc["bins"]
    assert s["seeds_per_hour"] == 720
    assert "2/2 seeds passed" in soak.report(s)


def test_a_failing_seed_is_reported_with_its_rerun_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = {"seed": 5, "passed": False, "error": "#3 ... -> DIVERGENCE", "wall_s": 1.0,
           "scoreboards": [{"items": 3, "divergences": 1, "isolation_violations": 0}],
           "sim_ns": 0.0}
    s = soak.summarize([bad], 1.0, 1, "vdpa_nic_top", tmp_path)
    assert s["mismatches"] == 1 and s["passed"] == 0
    assert s["failed"][0]["rerun"] == ("python -m vdpa_tb.uvm.soak --device vdpa_nic_top "
                                       "--first 5 --seeds 1 --waves")
    assert "FAILED seed 5" in soak.report(s)
