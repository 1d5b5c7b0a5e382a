# SPDX-License-Identifier: MIT
"""Run the pyuvm tests of vdpa_nic_top (tb/vdpa_tb/tests/test_vdpa_nic_uvm.py) on the default
build, then merge their functional coverage into build/coverage/func/report/ and check it.
The merge/report functions are also tested here on hand-made JSON, without a simulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vdpa_tb import sim
from vdpa_tb.uvm import coverage as cov

TOP = "vdpa_nic_top"
FUNC_DIR = sim.ROOT / "build" / "coverage" / "func"
#: the negative test's JSON proves nothing about the design; it is left out of the merge
(NEGATIVE,) = cov.NEGATIVE_TESTS


@pytest.mark.sim
def test_vdpa_nic_uvm() -> None:
    for old in FUNC_DIR.glob("*.json"):
        old.unlink()
    xml = sim.run(TOP, "vdpa_tb.tests.test_vdpa_nic_uvm", {},
                  extra_env={"VDPA_FUNC_COV_DIR": str(FUNC_DIR)})
    # the negative test must have failed for the coverage reason, not for any other error
    log = (xml.parent / "sim.log").read_text()
    assert "required bin(s) not hit: op_outcome_cg.suspend:EBUSY" in log
    assert f"{NEGATIVE} passed: failed as expected" in log
    neg = json.loads((FUNC_DIR / f"{NEGATIVE}.json").read_text())
    assert neg["covergroups"]["op_outcome_cg"]["bins"]["set_status:ok"] > 0, \
        "the negative test should have run its stimulus"
    files = cov.design_files(FUNC_DIR)
    assert len(files) >= 10, f"missing per-test coverage files: {[p.name for p in files]}"
    merged = cov.write_report(files, FUNC_DIR / "report")
    print(cov.report_text(merged))
    s = cov.summary(merged)
    assert set(s) == set(cov.CoverageModel().groups), s
    missed = {g: [b for b, n in merged["covergroups"][g]["bins"].items() if not n]  # type: ignore[index]
              for g in s}
    # every covergroup is closed by the suite; a hole names its bins
    assert all(not m for m in missed.values()), f"coverage holes: {missed}"
    assert (FUNC_DIR / "report" / "index.html").read_text().count("class='hit'") == \
        sum(hit for hit, _, _ in s.values())


def _write(tmp: Path, name: str, model: cov.CoverageModel) -> Path:
    return model.export(tmp / f"{name}.json", name)


def test_merge_adds_hits_and_reports_misses(tmp_path: Path) -> None:
    a, b = cov.CoverageModel(), cov.CoverageModel()
    a["ring_error_cg"].sample("chain_loop")
    a["ring_error_cg"].sample("chain_loop")
    b["ring_error_cg"].sample("chain_loop")
    b["ring_error_cg"].sample("head_ge_size")
    b["vq_state_cg"].sample("NONE->RDY")  # outside the bins: reported, not counted
    merged = cov.merge([_write(tmp_path, "a", a), _write(tmp_path, "b", b)])
    g = merged["covergroups"]["ring_error_cg"]  # type: ignore[index]
    assert g["bins"]["chain_loop"] == 3 and g["bins"]["head_ge_size"] == 1
    hit, total, pct = cov.summary(merged)["ring_error_cg"]
    assert (hit, total) == (2, len(cov.RING_ERRORS)) and pct == pytest.approx(200 / total)
    assert merged["tests"] == ["a", "b"]
    text = cov.report_text(merged)
    assert "MISS      0  indirect_len" in text and "UNEXPECTED      1  NONE->RDY" in text
    html = cov.report_html(merged)
    assert html.count("class='miss'") == sum(t - h for h, t, _ in cov.summary(merged).values())


def test_required_bin_check_fires() -> None:
    m = cov.CoverageModel()
    m["op_outcome_cg"].sample("suspend:ok")
    assert m.missing([("op_outcome_cg", "suspend:ok")]) == []
    assert m.missing([("op_outcome_cg", "suspend:EBUSY"), ("nope_cg", "x")]) == [
        "op_outcome_cg.suspend:EBUSY", "nope_cg.x"]


def test_merge_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = cov.CoverageModel()
    m["traffic_cg"].sample("simple:small:tx")
    f = _write(tmp_path, "t", m)
    assert cov.main([str(f), "-o", str(tmp_path / "r")]) == 0
    assert "traffic_cg: 1/18 bins" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "merged.json").read_text())["tests"] == ["t"]
