# SPDX-License-Identifier: MIT
"""Run the pyuvm tests (tb/vdpa_tb/tests/test_vdpa_nic_uvm.py) on every device the module's
builds in the regression configuration name (testplan/vdpa_nic_sim.yaml: the default device
file and the second one, tb/devices/) and on the one $VDPA_DEVICE names (a vendor's), then
merge each device's functional coverage into build/coverage/func/<device>/report/ and check
it. The merge/report functions are also tested here on hand-made JSON, without a simulator."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vdpa_tb import devices, sim
from vdpa_tb.regress import simcfg
from vdpa_tb.uvm import coverage as cov

MODULE = "vdpa_tb.tests.test_vdpa_nic_uvm"
FUNC_DIR = sim.ROOT / "build" / "coverage" / "func"
#: the negative test's JSON proves nothing about the design; it is left out of the merge
(NEGATIVE,) = cov.NEGATIVE_TESTS
#: the seed of `make test`'s run of the pyuvm tests
FIXED_SEED = 20260801
#: the device of each of the module's builds, and the one $VDPA_DEVICE names
DEVICES: dict[str, devices.DeviceConfig] = {}
for _build in simcfg.load().module_builds(MODULE).values():
    _dev = _build.device_config()
    assert _dev is not None, f"build {_build.name} of {MODULE} names no device file"
    DEVICES[_build.name] = _dev.with_parameters(**{k: int(v) for k, v in _build.params.items()})
if os.environ.get(devices.DEVICE_ENV):
    _extra = devices.load_device()
    DEVICES.setdefault(_extra.name, _extra)


@pytest.mark.sim
@pytest.mark.parametrize("name", list(DEVICES))
def test_vdpa_nic_uvm(name: str) -> None:
    device = DEVICES[name]
    # one directory per build: two builds may share a device file (late-host is the default
    # device against a slower host) and run at once under pytest-xdist
    func_dir = FUNC_DIR / name
    func_dir.mkdir(parents=True, exist_ok=True)
    for old in func_dir.glob("*.json"):
        old.unlink()
    # a fixed seed unless COCOTB_RANDOM_SEED asks for another: `make test` runs the same
    # stimulus every time; make regress runs the hostile tests over many seeds
    seed = int(os.environ.get("COCOTB_RANDOM_SEED", FIXED_SEED))
    xml = sim.run(device.top, MODULE, device=device, seed=seed,
                  extra_env={"VDPA_FUNC_COV_DIR": str(func_dir)})
    # the negative test must have failed for the coverage reason, not for any other error
    log = (xml.parent / "sim.log").read_text()
    assert "required bin(s) not hit: op_outcome_cg.suspend:EBUSY" in log
    assert f"{NEGATIVE} passed: failed as expected" in log
    assert f"on {device.name}: sequence seed" in log, "the tests did not take the device file"
    neg = json.loads((func_dir / f"{NEGATIVE}.json").read_text())
    assert neg["covergroups"]["op_outcome_cg"]["bins"]["set_status:ok"] > 0, \
        "the negative test should have run its stimulus"
    files = cov.design_files(func_dir)
    assert len(files) >= 10, f"missing per-test coverage files: {[p.name for p in files]}"
    merged = cov.write_report(files, func_dir / "report")
    print(cov.report_text(merged))
    s = cov.summary(merged)
    assert set(s) == set(cov.CoverageModel().groups), s
    missed = {g: [b for b, n in merged["covergroups"][g]["bins"].items() if not n]  # type: ignore[index]
              for g in s if g not in cov.HOSTILE_GROUPS}
    # every feature covergroup is closed by one run of the suite; a hole names its bins (the
    # hostile ones close over many seeds: make regress)
    assert all(not m for m in missed.values()), f"coverage holes: {missed}"
    assert all(s[g][0] for g in cov.HOSTILE_GROUPS), "a hostile covergroup saw nothing"
    assert (func_dir / "report" / "index.html").read_text().count("class='hit'") == \
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
    assert (hit, total) == (2, len(cov.RING_CASES)) and pct == pytest.approx(200 / total)
    assert merged["tests"] == ["a", "b"]
    text = cov.report_text(merged)
    assert "MISS      0  indirect_len_not_16" in text and "UNEXPECTED      1  NONE->RDY" in text
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
