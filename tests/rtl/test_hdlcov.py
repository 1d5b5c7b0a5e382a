# SPDX-License-Identifier: MIT
"""The pure parts of the HDL coverage flow (tb/vdpa_tb/hdlcov.py): coverage-file parsing,
waivers, figures and lcov filtering, on hand-made inputs. No simulator or Debian tool needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from vdpa_tb import hdlcov
from vdpa_tb.hdlcov import CoverageError, Point

RTL = Path("/proj/rtl")


def _entry(f: str, line: int, metric: str, module: str, comment: str, count: int,
           hier: str = "top.u0", col: int = 3) -> str:
    kv = {"f": f, "l": str(line), "n": str(col), "t": metric, "page": f"v_{metric}/{module}",
          "o": comment, "h": hier}
    return "C '" + "".join(f"\x01{k}\x02{v}" for k, v in kv.items()) + f"' {count}"


DAT = "\n".join([
    "# SystemC::Coverage-3",
    # the same toggle bit in two instances (and a parameterised copy): one design-unit point
    _entry("/proj/rtl/fifo.sv", 10, "toggle", "fifo", "cnt[0]:0->1", 0, "top.a"),
    _entry("/proj/rtl/fifo.sv", 10, "toggle", "fifo__Dz1", "cnt[0]:0->1", 4, "top.b"),
    _entry("/proj/rtl/fifo.sv", 10, "toggle", "fifo", "cnt[0]:1->0", 0, "top.a"),
    _entry("/proj/rtl/fifo.sv", 20, "line", "fifo", "block", 7),
    _entry("/proj/rtl/fifo.sv", 21, "branch", "fifo", "cond_then", 2),
    _entry("/proj/rtl/fifo.sv", 21, "branch", "fifo", "cond_else", 0),
    _entry("/proj/rtl/eng.sv", 5, "line", "eng", "block", 0),
    _entry("/proj/rtl/eng.sv", 6, "line", "eng", "block", 1),
    _entry("/proj/tb/harness.sv", 1, "line", "harness", "block", 0),  # not rtl/: dropped
])


def test_parse_dat_collapses_instances_and_drops_non_rtl() -> None:
    pts = hdlcov.parse_dat(DAT, RTL)
    assert {p.file for p in pts} == {"fifo.sv", "eng.sv"}
    tog = [p for p in pts if p.metric == "toggle"]
    assert sorted((p.comment, p.count, p.module) for p in tog) == [
        ("cnt[0]:0->1", 4, "fifo"), ("cnt[0]:1->0", 0, "fifo")]
    assert len(pts) == 7


def test_summary_without_and_with_waivers() -> None:
    pts = hdlcov.parse_dat(DAT, RTL)
    s = hdlcov.summarize(pts)
    assert s["overall"]["line"] == {"hit": 2, "total": 3, "waived": 0, "percent": 66.67}
    assert s["overall"]["branch"]["percent"] == 50.0
    assert s["modules"]["fifo"]["toggle"] == {"hit": 1, "total": 2, "waived": 0, "percent": 50.0}
    # a module without points of a metric counts as covered for it
    assert s["modules"]["eng"]["toggle"]["percent"] == 100.0

    waivers = hdlcov.parse_waivers(
        "UNR eng.sv:5 line -- the reset arm cannot be left\n"
        "LOW_RISK fifo.sv toggle:*:1->0 -- falling edges of cnt are the rising edges mirrored\n"
        "EXTERNAL other.sv * -- stale: names a file that is gone\n")
    w = hdlcov.summarize(pts, waivers)
    assert w["overall"]["line"] == {"hit": 2, "total": 2, "waived": 1, "percent": 100.0}
    assert w["modules"]["fifo"]["toggle"] == {"hit": 1, "total": 1, "waived": 1, "percent": 100.0}
    assert w["raw"] == s["raw"] == {m: s["overall"][m] for m in hdlcov.METRICS}
    assert [x["points"] for x in w["waivers"]] == [1, 1, 0]
    assert w["unused_waivers"] == ["coverage_waivers.txt:3"]
    text = hdlcov.report_text(w)
    assert "WARNING: waiver coverage_waivers.txt:3 matches no coverage point" in text
    assert "raw (no waivers)" in text


def test_waiver_ranges_and_metric() -> None:
    (w,) = hdlcov.parse_waivers("# comment\n\nUNSUPPORTED a.sv:10-12 branch:cond_* -- no MQ\n")
    assert (w.category, w.file, w.first, w.last, w.metric, w.pattern, w.reason) == (
        "UNSUPPORTED", "a.sv", 10, 12, "branch", "cond_*", "no MQ")
    hit = Point("a.sv", 11, 0, "branch", "a", "cond_then", 0)
    assert w.matches(hit)
    assert not w.matches(Point("a.sv", 13, 0, "branch", "a", "cond_then", 0))
    assert not w.matches(Point("a.sv", 11, 0, "line", "a", "block", 0))
    assert not w.matches(Point("b.sv", 11, 0, "branch", "b", "cond_then", 0))


@pytest.mark.parametrize("line, msg", [
    ("WAIVE a.sv line -- why", "category 'WAIVE'"),
    ("UNR a.sv lines -- why", "metric 'lines'"),
    ("UNR a.sv line --   ", "needs a reason"),
    ("UNR a.sv line because", "expected 'CATEGORY"),
    ("UNR a.sv:9-3 line -- why", "line range 9-3 is empty"),
])
def test_bad_waivers_name_the_line(line: str, msg: str) -> None:
    with pytest.raises(CoverageError, match=r"w\.txt:2: .*") as e:
        hdlcov.parse_waivers("# header\n" + line, "w.txt")
    assert msg in str(e.value)


def test_shipped_waiver_file_parses() -> None:
    for w in hdlcov.load_waivers():
        assert (hdlcov.RTL_DIR / w.file).exists(), f"{w.where}: no rtl/{w.file}"


INFO = """TN:verilator_coverage
SF:/proj/rtl/fifo.sv
DA:10,0
DA:20,7
end_of_record
TN:verilator_coverage
SF:/usr/share/verilator/include/verilated.v
DA:1,0
end_of_record
TN:verilator_coverage
SF:/proj/rtl/eng.sv
DA:5,0
DA:6,1
DA:7,3
end_of_record
"""


def test_lcov_info_filter_and_counts() -> None:
    kept = hdlcov.filter_info(INFO, RTL)
    assert "verilated.v" not in kept and kept.count("end_of_record") == 2
    assert hdlcov.info_lines(kept) == {"/proj/rtl/fifo.sv": (1, 2), "/proj/rtl/eng.sv": (2, 3)}
    assert hdlcov.filter_info(INFO, Path("/elsewhere")) == ""


def test_missing_tool_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real = hdlcov.shutil.which
    monkeypatch.setattr(hdlcov.shutil, "which", lambda t: None if t == "genhtml" else real(t))
    with pytest.raises(CoverageError, match=r"genhtml not found .*apt-get install lcov"):
        hdlcov.ensure_tools(install=False)


def test_bad_waiver_file_stops_before_simulating(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "w.txt"
    bad.write_text("UNR vdpa_fifo.sv line\n")
    assert hdlcov.main(["--waivers", str(bad)]) == 2
    assert "w.txt:1: expected 'CATEGORY" in capsys.readouterr().err
