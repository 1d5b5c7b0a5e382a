# SPDX-License-Identifier: MIT
"""`vdpa-dv downtime`: table, JSON and PNGs from trace files; exit 1 on a broken budget, 2 on a
bad input naming what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vdpa_model.cli import main
from vdpa_model.trace import Layer, Trace


def write_trace(path: Path, vqs: int) -> Path:
    """One device pair: Flow A suspend, B suspend, C DRIVER_OK creating ``vqs`` VQs."""
    t = Trace()
    with t.in_phase("A1", "src0"), t.span(Layer.IOCTL, "VHOST_VDPA_SUSPEND"), t.span(Layer.OP, "suspend"):
        g = t.new_group()
        for _ in range(vqs):
            t.add(Layer.FW, "vq_modify", group=g, vqs=1)
    with t.in_phase("B1", "src0"), t.span(Layer.IOCTL, "VHOST_VDPA_SUSPEND"), t.span(Layer.OP, "suspend"):
        g = t.new_group()
        for _ in range(vqs):
            t.add(Layer.FW, "vq_modify", group=g, vqs=1)
    with (t.in_phase("C4.2.9", "dst0"), t.span(Layer.IOCTL, "VHOST_VDPA_SET_STATUS"),
          t.span(Layer.OP, "set_status")):
        for _ in range(vqs):
            t.add(Layer.FW, "vq_create", vqs=1, qsize=256)
    t.write_jsonl(path)
    return path


def test_breakdown_json_and_charts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = write_trace(tmp_path / "small.jsonl", 2)
    smaller = write_trace(tmp_path / "smaller.jsonl", 1)
    out = tmp_path / "out"
    rc = main(["downtime", "--trace", f"before={small}", "--trace", f"after={smaller}", "--out", str(out),
               "--ram-copy-ms", "100", "--copies", "src0=2", "--copies", "dst0=2"])
    text = capsys.readouterr().out
    # two VQ creations of ~10.5 ms per destination stay inside 100 ms per device
    assert rc == 0, text
    assert "downtime #2 (B + C4.2, all devices)" in text and "staircase:" in text
    assert "per device src0 -> dst0 (x2)" in text
    assert "verdict: all budgets hold" in text
    doc = json.loads((out / "downtime.json").read_text())
    assert [r["label"] for r in doc["results"]] == ["before", "after"]
    before, after = doc["results"]
    assert before["downtime_ms"]["downtime2"] > after["downtime_ms"]["downtime2"] > 0
    assert before["downtime_ms"]["guest_visible"] > 100
    assert {p["phase"] for p in before["phases"]} == {"A1", "B1", "C4.2.9"}
    assert all(c["ok"] for cs in doc["budgets"].values() for c in cs)
    for png in ("staircase.png", "phases.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_broken_budget_exits_1_with_its_breakdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = write_trace(tmp_path / "big.jsonl", 16)  # 16 VQ creations at DRIVER_OK: far over 100 ms
    rc = main(["downtime", "--trace", str(big), "--out", str(tmp_path / "o"), "--no-charts"])
    text = capsys.readouterr().out
    assert rc == 1
    assert "BROKEN per-device teardown + startup" in text and "costliest steps (src0 -> dst0):" in text
    assert "C4.2.9" in text.split("costliest steps")[1]
    assert "verdict: BUDGET BROKEN" in text
    assert not (tmp_path / "o" / "staircase.png").exists()


def test_overrides_and_sensitivity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tr = write_trace(tmp_path / "t.jsonl", 2)
    main(["downtime", "--trace", str(tr), "--out", str(tmp_path / "a"), "--no-charts"])
    main(["downtime", "--trace", str(tr), "--out", str(tmp_path / "b"), "--no-charts",
          "--set", "fw.vq_create.fixed=0", "--sensitivity"])
    text = capsys.readouterr().out
    a = json.loads((tmp_path / "a" / "downtime.json").read_text())["results"][0]["downtime_ms"]["downtime2"]
    b = json.loads((tmp_path / "b" / "downtime.json").read_text())["results"][0]["downtime_ms"]["downtime2"]
    assert b < a / 5
    assert "sensitivity to the assumed values of mlx5-cx6dx" in text


@pytest.mark.parametrize("args, message", [
    (["--profile", "nope"], "no profile 'nope'"),
    (["--set", "fw.unknown.fixed=1"], "no value named fw.unknown.fixed"),
])
def test_bad_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                           message: str) -> None:
    tr = write_trace(tmp_path / "t.jsonl", 1)
    rc = main(["downtime", "--trace", str(tr), "--out", str(tmp_path / "o"), *args])
    assert rc == 2 and message in capsys.readouterr().err


def test_bad_trace_line_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tr = write_trace(tmp_path / "t.jsonl", 1)
    lines = tr.read_text().splitlines()
    lines[3] = lines[3].replace('"vq_modify"', '"vq_teleport"')
    tr.write_text("\n".join(lines) + "\n")
    assert main(["downtime", "--trace", str(tr), "--out", str(tmp_path / "o")]) == 2
    assert f"{tr}:4: unknown fw work 'vq_teleport'" in capsys.readouterr().err


def test_measured_trace_compared_with_its_pricing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = Trace()
    with t.in_phase("B1", "src0"), t.span(Layer.OP, "suspend"):
        t.add(Layer.FW, "vq_modify", cycles=1000)
    tr = tmp_path / "rtl.jsonl"
    t.write_jsonl(tr)
    rc = main(["downtime", "--trace", str(tr), "--profile", "reference-rtl", "--compare", "--no-charts",
               "--out", str(tmp_path / "o")])
    text = capsys.readouterr().out
    assert rc == 0
    assert "measured versus priced" in text
    row = next(r for r in text.splitlines() if r.strip().startswith("src0") and "B1" in r)
    measured, priced = (float(x) for x in row.split()[2:4])
    assert measured > priced  # 1000 measured cycles against a 5-cycle MODIFY


def test_pricing_runs_without_matplotlib() -> None:
    """Only the charts import matplotlib, and only when they are drawn."""
    import subprocess
    import sys

    code = ("import sys, vdpa_model, vdpa_model.cli, vdpa_model.downtime; "
            "from vdpa_model.downtime import charts; "
            "assert 'matplotlib' not in sys.modules, sorted(m for m in sys.modules if 'matplotlib' in m)")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root,
                   env={"PYTHONPATH": str(root / "model"), "PATH": ""})


# -- from scenarios: the flows run, the trace priced, budgets checked --------------------------
def test_a_shipped_scenario_with_its_staircase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = main(["downtime", "--scenario", "talk-128g", "--staircase", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    doc = json.loads((out / "downtime.json").read_text())
    (sc,) = doc["scenarios"]
    assert sc["name"] == "talk-128g" and sc["devices"] == 2 and sc["ok"]
    assert sc["staircase"][0] == "upstream" and len(sc["staircase"]) == 10
    assert sc["judged"] == sc["staircase"][-1]  # its own configuration: every switch on
    steps = [r for r in doc["results"] if r["scenario"] == "talk-128g"]
    assert [r["label"] for r in steps] == sc["staircase"]
    assert [r["judged"] for r in steps].count(True) == 1
    # the two devices are one NIC's records standing for both
    assert {d["device"]: d["copies"] for d in steps[0]["devices"]} == {"src0": 2, "dst0": 2}
    lines = text.split("staircase (cumulative presets; budgets per step):")[1].splitlines()
    assert lines[2].split()[0] == "upstream" and "FAIL" in lines[2]
    assert "budgets hold from step" in text and "verdict: all budgets hold" in text
    for png in ("talk-128g-staircase.png", "talk-128g-phases.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


UPSTREAM_SCENARIO = """format = 1
name = "today"
[guest]
ram = "64GiB"
page_size = "4KiB"
thp = false
[devices]
count = 2
queue_pairs = 4
[migration]
preset = "upstream"
"""


def test_a_scenario_that_breaks_a_budget_names_its_costliest_steps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Upstream QEMU: every unbatched ring unmap of the stop-and-copy (B2) rebuilds the region
    over all guest RAM (migration-sequence.md §7 item 2); in 4 KiB runs (THP off) each rebuild
    writes and copies an entry per page, so B2 is where the time goes."""
    sc = tmp_path / "today.toml"
    sc.write_text(UPSTREAM_SCENARIO)
    rc = main(["downtime", "--scenario", str(sc), "--out", str(tmp_path / "o"), "--no-charts"])
    text = capsys.readouterr().out
    assert rc == 1
    assert "BROKEN per-device teardown + startup" in text and "BROKEN per-VM blackout" in text
    breakdown = text.split("BROKEN per-device teardown + startup")[1]
    steps = breakdown.split("costliest steps (src0 -> dst0):")[1].splitlines()
    assert steps[1].split()[0] == "B2"
    shares = [float(line.split()[-2]) for line in steps[1:7]]
    assert shares == sorted(shares, reverse=True) and sum(shares) <= 100.0
    assert "costliest records in them:" in breakdown
    assert "verdict: BUDGET BROKEN" in text


def test_preset_and_switch_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["downtime", "--scenario", "talk-128g", "--no-charts"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    assert main([*base, "--out", str(tmp_path / "b"), "--switch", "parallel_fw_cmds=off"]) == 0
    capsys.readouterr()

    def judged(d: str) -> dict[str, float]:
        doc = json.loads((tmp_path / d / "downtime.json").read_text())
        (r,) = [r for r in doc["results"] if r["judged"]]
        return r["downtime_ms"]

    # C2: without the parallel rounds the suspends of A1 and B1 take longer
    assert judged("b")["downtime1_max"] > judged("a")["downtime1_max"]
    assert judged("b")["downtime2"] > judged("a")["downtime2"]
    doc = json.loads((tmp_path / "b" / "downtime.json").read_text())
    assert "parallel_fw_cmds" not in doc["scenarios"][0]["switches"]


@pytest.mark.parametrize("args, message", [
    (["--switch", "warp=on"], "--switch: unknown switch(es) ['warp']"),
    (["--switch", "parallel_mkey=maybe"], "expected NAME=on or NAME=off"),
    (["--preset", "upstream", "--switch", "resumable_vqs=on"],
     "scenario talk-128g: resumable_vqs refused: it needs desc_group_asid and persistent_iotlb"),
    (["--preset", "sideways"], "unknown preset 'sideways'"),
    (["--copies", "src0=3"], "--copies is for traces"),
    (["--scenario", "talk-1t"], "no scenario 'talk-1t'"),
    (["--thp", "off", "--thp-fallback", "0.2"],
     "--thp/--thp-fallback for scenario talk-128g: thp_fallback 0.2 without THP"),
    (["--thp-fallback", "-1"], "thp_fallback -1.0 is not a share between 0 and 1"),
    (["--thp", "maybe"], "invalid choice: 'maybe'"),
])
def test_bad_scenario_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    try:
        rc = main(["downtime", "--scenario", "talk-128g", "--out", str(tmp_path / "o"), *args])
    except SystemExit as e:  # argparse refuses a malformed value itself, with status 2
        rc = int(e.code or 0)
    assert rc == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--staircase"], ["--thp", "off"], ["--thp-fallback", "0.1"]])
def test_staircase_flags_need_a_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         flag: list[str]) -> None:
    tr = write_trace(tmp_path / "t.jsonl", 1)
    assert main(["downtime", "--trace", str(tr), *flag, "--out", str(tmp_path / "o")]) == 2
    assert "go with --scenario, not with --trace" in capsys.readouterr().err


def test_host_memory_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--thp off: every 4 KiB page its own run, so every region build of upstream QEMU writes and
    copies 512 times the entries; a fallback share lies between the two."""
    base = ["downtime", "--scenario", "talk-128g", "--preset", "upstream", "--no-charts"]
    for name, extra in (("thp", []), ("fallback", ["--thp-fallback", "0.01"]), ("off", ["--thp", "off"])):
        main([*base, "--out", str(tmp_path / name), *extra])
    capsys.readouterr()

    def doc(d: str) -> dict[str, Any]:
        return dict(json.loads((tmp_path / d / "downtime.json").read_text()))

    def d2(d: str) -> float:
        (r,) = doc(d)["results"]
        return float(r["downtime_ms"]["downtime2"])
    assert d2("thp") < d2("fallback") < d2("off")
    assert doc("off")["scenarios"][0]["host_memory"]["thp"] is False
    assert doc("fallback")["scenarios"][0]["host_memory"]["thp_fallback"] == 0.01
