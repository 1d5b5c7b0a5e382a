# SPDX-License-Identifier: MIT
"""The code coverage flow (tb/vdpa_tb/hdlcov) on hand-made coverage files: reading and merging
Verilator's format, design-unit points, the three figures, waivers, Cobertura XML and HTML. No
simulator or Debian tool needed; the expected figures are counted by hand from the input."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vdpa_tb import hdlcov
from vdpa_tb.hdlcov import CoverageDb, WaiverError, design_points, points

ROOT = Path("/proj")


def _entry(f: str, line: int, metric: str, module: str, comment: str, count: int,
           hier: str = "top.u0", col: int = 3, span: str = "") -> str:
    kv = {"f": f, "l": str(line), "n": str(col), "t": metric, "page": f"v_{metric}/{module}",
          "o": comment}
    if span:
        kv["S"] = span
    kv["h"] = hier
    return "C '" + "".join(f"\x01{k}\x02{v}" for k, v in kv.items()) + f"' {count}"


DAT = "\n".join([
    "# SystemC::Coverage-3",
    # the same toggle bit in two instances (and a parameterised copy): one design-unit point
    _entry("/proj/rtl/fifo.sv", 10, "toggle", "fifo", "cnt[0]:0->1", 0, "top.a"),
    _entry("/proj/rtl/fifo.sv", 10, "toggle", "fifo__Dz1", "cnt[0]:0->1", 4, "top.b"),
    _entry("/proj/rtl/fifo.sv", 10, "toggle", "fifo", "cnt[0]:1->0", 0, "top.a"),
    # a block over lines 20-22 and an if arm over 23-24 whose implicit else was never taken
    _entry("/proj/rtl/fifo.sv", 20, "line", "fifo", "block", 7, span="20-22"),
    _entry("/proj/rtl/fifo.sv", 23, "branch", "fifo", "if", 2, span="23-24"),
    _entry("/proj/rtl/fifo.sv", 23, "branch", "fifo", "else", 0),
    _entry("/proj/rtl/eng.sv", 5, "line", "eng", "block", 0),
    _entry("/proj/rtl/eng.sv", 6, "line", "eng", "block", 1, span="6,8"),
    _entry("/proj/tb/harness.sv", 1, "line", "harness", "block", 0),  # not rtl/: dropped
])


#: the sources DAT's points lie in, line for line (what a waiver quotes)
SOURCES = {
    "fifo.sv": {10: "logic [3:0] cnt;", 20: "wr_ptr <= wr_ptr + 1;", 21: "mem[wr_ptr] <= din;",
                22: "cnt <= cnt + 1;", 23: "if (rd && !empty) begin", 24: "rd_ptr <= rd_ptr + 1;"},
    "eng.sv": {5: "default: state <= IDLE;", 6: "state <= RUN;", 8: "busy <= 1'b1;"},
}


def write_sources(rtl: Path, edits: dict[str, dict[int, str]] | None = None,
                  shift: int = 0) -> Path:
    """SOURCES as files under ``rtl`` (other lines blank), ``edits`` applied, every line moved
    down by ``shift`` (lines inserted at the top)."""
    rtl.mkdir(parents=True, exist_ok=True)
    for name, lines in SOURCES.items():
        text = {**lines, **(edits or {}).get(name, {})}
        body = ["// inserted"] * shift + [text.get(n, "") for n in range(1, 31)]
        (rtl / name).write_text("\n".join(body) + "\n")
    return rtl


def test_read_dat_keeps_rtl_sources_relative_to_the_checkout() -> None:
    raw = hdlcov.read_dat(DAT, ROOT)
    files = {points.split_point(k)["f"] for k in raw}
    assert files == {"rtl/fifo.sv", "rtl/eng.sv"}
    assert len(raw) == 8 and sum(raw.values()) == 14


def test_design_points_collapse_instances_and_expand_spans() -> None:
    pts = design_points(hdlcov.read_dat(DAT, ROOT))
    tog = sorted((p.comment, p.count, p.module) for p in pts if p.metric == "toggle")
    assert tog == [("cnt[0]:0->1", 4, "fifo"), ("cnt[0]:1->0", 0, "fifo")]
    block = next(p for p in pts if p.metric == "line" and p.line == 20)
    assert block.lines == (20, 21, 22)
    assert next(p for p in pts if p.line == 6).lines == (6, 8)
    assert len(pts) == 7


def test_merge_adds_counts_of_identical_points() -> None:
    a = hdlcov.read_dat(DAT, ROOT)
    m = hdlcov.merge([a, a])
    assert m.keys() == a.keys() and all(m[k] == 2 * a[k] for k in a)


def test_pack_and_accumulate_equal_a_plain_merge() -> None:
    a = hdlcov.read_dat(DAT, ROOT)
    b = {k: (3 if i % 2 else 0) for i, k in enumerate(sorted(a))}
    other_layout = {next(iter(a)): 5}
    acc = hdlcov.Accumulator()
    for r in (a, b, other_layout):
        acc.add(hdlcov.pack(r))
    assert acc.runs == 3
    assert acc.raw() == hdlcov.merge([a, b, other_layout])
    bad = hdlcov.pack(a)
    with pytest.raises(ValueError, match="counts for"):
        acc.add(points.Packed(bad.layout, bad.names, hdlcov.pack({"x": 1}).counts))


def test_written_dat_reads_back(tmp_path: Path) -> None:
    raw = hdlcov.read_dat(DAT, ROOT)
    hdlcov.write_dat(raw, tmp_path / "m.dat")
    text = (tmp_path / "m.dat").read_text()
    assert text.startswith(points.HEADER + "\n")
    # already relative: reading it against any root gives the same points
    assert hdlcov.read_dat(text, tmp_path) == raw


def test_figures_count_lines_arms_and_bits() -> None:
    s = CoverageDb(design_points(hdlcov.read_dat(DAT, ROOT))).summary()
    # lines: 20,21,22 (block, 7), 23,24 (if arm, 2) in fifo; 5 (0), 6 and 8 (1) in eng
    assert s["modules"]["fifo"]["line"] == {"hit": 5, "total": 5, "waived": 0, "percent": 100.0}
    assert s["modules"]["eng"]["line"] == {"hit": 2, "total": 3, "waived": 0, "percent": 66.67}
    assert s["overall"]["branch"] == {"hit": 1, "total": 2, "waived": 0, "percent": 50.0}
    assert s["modules"]["fifo"]["toggle"]["percent"] == 50.0
    # a module without points of a metric counts as covered for it
    assert s["modules"]["eng"]["toggle"]["percent"] == 100.0


def test_waivers_leave_the_figures_and_report_what_they_removed(tmp_path: Path) -> None:
    pts = design_points(hdlcov.read_dat(DAT, ROOT))
    rtl = write_sources(tmp_path / "rtl")
    (rtl / "other.sv").write_text("module other; endmodule\n")
    waivers = hdlcov.parse_waivers(
        "UNR eng.sv line -- the reset arm cannot be left\n"
        "  | default: state <= IDLE;\n"
        "LOW_RISK fifo.sv toggle:*:1->0 -- falling edges of cnt mirror its rising edges\n"
        "UNR fifo.sv branch:else -- the else of a guard that always holds\n"
        "  | if (rd && !empty) begin\n"
        "EXTERNAL other.sv * -- stale: names a file no point lies in\n", rtl_dir=rtl)
    s = CoverageDb(pts, waivers).summary()
    assert s["overall"]["line"] == {"hit": 7, "total": 7, "waived": 1, "percent": 100.0}
    assert s["overall"]["branch"] == {"hit": 1, "total": 1, "waived": 1, "percent": 100.0}
    assert s["modules"]["fifo"]["toggle"] == {"hit": 1, "total": 1, "waived": 1, "percent": 100.0}
    raw = CoverageDb(pts).summary()["overall"]
    assert s["raw"] == {m: {k: v for k, v in raw[m].items() if k != "waived"} for m in raw}
    assert [w["removed"] for w in s["waivers"]] == [1, 1, 1, 0]
    assert s["unused_waivers"] == ["coverage_waivers.txt:6"]
    assert s["contradicted_waivers"] == []
    text = hdlcov.report_text(s)
    assert "WARNING: waiver coverage_waivers.txt:6 matches no coverage point" in text
    # a waiver that removes a point some run hit is flagged: its claim is contradicted
    hit = CoverageDb(pts, hdlcov.parse_waivers(
        "UNR fifo.sv line -- wrongly called dead\n"
        "  | wr_ptr <= wr_ptr + 1;\n  | mem[wr_ptr] <= din;\n  | cnt <= cnt + 1;\n", rtl_dir=rtl))
    h = hit.summary()
    assert h["waivers"][0]["removed"] == h["waivers"][0]["removed_but_hit"] == 3
    assert h["contradicted_waivers"] == ["coverage_waivers.txt:1"]
    assert "removes 3 line(s), arm(s) or fully toggled bit(s) a run reached" in hdlcov.report_text(h)
    # a toggle waiver is contradicted only by a bit that went both ways
    one_way = CoverageDb(pts, hdlcov.parse_waivers("UNR fifo.sv toggle:cnt* -- tied\n")).summary()
    assert one_way["waivers"][0]["removed"] == 2 and one_way["contradicted_waivers"] == []
    both = dict(hdlcov.read_dat(DAT, ROOT))
    both[next(k for k in both if "cnt[0]:1->0" in k)] = 1
    flip = CoverageDb(design_points(both), hdlcov.parse_waivers("UNR fifo.sv toggle:cnt* -- x\n"))
    assert flip.summary()["waivers"][0]["removed_but_hit"] == 1
    assert "raw (no waivers)" in text


def test_waiver_quotes_metrics_and_patterns(tmp_path: Path) -> None:
    rtl = write_sources(tmp_path / "rtl")
    (w,) = hdlcov.parse_waivers("# comment\n\nUNSUPPORTED fifo.sv branch:cond_* -- no MQ\n"
                                "    |   cnt <= cnt + 1;\n|if (rd && !empty) begin\n", rtl_dir=rtl)
    assert (w.category, w.file, w.first, w.last, w.metric, w.pattern, w.reason) == (
        "UNSUPPORTED", "fifo.sv", 22, 23, "branch", "cond_*", "no MQ")
    assert w.quote == ("  cnt <= cnt + 1;", "if (rd && !empty) begin")
    assert w.covers("rtl/fifo.sv", 23, "branch", "cond_then")
    assert not w.covers("rtl/fifo.sv", 24, "branch", "cond_then")
    assert not w.covers("rtl/fifo.sv", 23, "line", "block")
    assert not w.covers("rtl/eng.sv", 23, "branch", "cond_then")
    assert not w.covers("rtl/fifo.sv", 23, "branch", "if")
    # without a quote a waiver covers its whole file
    (whole,) = hdlcov.parse_waivers("UNR eng.sv * -- a debug block\n", rtl_dir=rtl)
    assert whole.covers("rtl/eng.sv", 1, "line", "block")
    assert whole.covers("rtl/eng.sv", 10_000, "toggle", "x[0]:0->1")


QUOTED = ("# the engine's default arm\n"
          "UNR eng.sv line -- only an unencoded state reaches it\n"
          "  | default: state <= IDLE;\n"
          "  | state <= RUN;\n")


def test_a_quoted_waiver_follows_its_lines_when_the_file_around_them_changes(
        tmp_path: Path) -> None:
    (w,) = hdlcov.parse_waivers(QUOTED, rtl_dir=write_sources(tmp_path / "a"))
    assert (w.first, w.last) == (5, 6)
    # eleven lines inserted above: the waiver moves with its lines, onto no other line
    (moved,) = hdlcov.parse_waivers(QUOTED, rtl_dir=write_sources(tmp_path / "b", shift=11))
    assert (moved.first, moved.last) == (16, 17)
    pts = design_points(hdlcov.read_dat(DAT, ROOT))
    assert CoverageDb(pts, [w]).summary()["overall"]["line"]["waived"] == 2  # lines 5, 6
    # re-indented quoted lines still match: blanks at either end are not the source's meaning
    (indented,) = hdlcov.parse_waivers(QUOTED, rtl_dir=write_sources(
        tmp_path / "c", {"eng.sv": {5: "        default:   state <= IDLE;  "}}))
    assert (indented.first, indented.last) == (5, 6)


def test_a_stale_waiver_is_an_error_naming_the_waiver_the_file_and_the_line(
        tmp_path: Path) -> None:
    # the quoted arm was edited: the waiver must not silently cover whatever is there now
    rtl = write_sources(tmp_path / "rtl", {"eng.sv": {6: "state <= HALT;"}})
    with pytest.raises(WaiverError) as e:
        hdlcov.parse_waivers(QUOTED, "w.txt", rtl_dir=rtl)
    msg = str(e.value)
    assert msg.startswith("w.txt:2: waiver 'UNR eng.sv line' is stale")
    assert "rtl/eng.sv" in msg and "'default: state <= IDLE;' is at line(s) 5" in msg
    # gone altogether
    rtl = write_sources(tmp_path / "gone", {"eng.sv": {5: "", 6: ""}})
    with pytest.raises(WaiverError, match=r"w\.txt:2: .*is nowhere in the file"):
        hdlcov.parse_waivers(QUOTED, "w.txt", rtl_dir=rtl)
    # a quote found twice names both places
    rtl = write_sources(tmp_path / "twice", {"eng.sv": {20: "default: state <= IDLE;",
                                                        21: "state <= RUN;"}})
    with pytest.raises(WaiverError, match=r"w\.txt:2: .*found 2 times in rtl/eng\.sv "
                                          r"\(at lines 5, 20\)"):
        hdlcov.parse_waivers(QUOTED, "w.txt", rtl_dir=rtl)
    with pytest.raises(WaiverError, match=r"w\.txt:2: .*names rtl/eng\.sv, which does not exist"):
        hdlcov.parse_waivers(QUOTED, "w.txt", rtl_dir=tmp_path / "empty")


@pytest.mark.parametrize("line, msg", [
    ("WAIVE a.sv line -- why", "category 'WAIVE'"),
    ("UNR a.sv lines -- why", "metric 'lines'"),
    ("UNR a.sv line --   ", "needs a reason"),
    ("UNR a.sv line because", "expected 'CATEGORY"),
    ("UNR a.sv:9-12 line -- why", "does not name line numbers"),
    ("  | a quoted line below a comment", "belongs right below a waiver"),
])
def test_bad_waivers_name_the_line(line: str, msg: str) -> None:
    with pytest.raises(WaiverError, match=r"w\.txt:2: .*") as e:
        hdlcov.parse_waivers("# header\n" + line, "w.txt")
    assert msg in str(e.value)


def test_shipped_waiver_file_parses_and_anchors_on_the_rtl() -> None:
    waivers = hdlcov.load_waivers(hdlcov.WAIVER_FILE)  # a stale quote raises here
    for w in waivers:
        assert (hdlcov.WAIVER_FILE.parent / w.file).exists(), f"{w.where}: no rtl/{w.file}"
        if w.quote:
            assert w.last - w.first + 1 == len(w.quote), w.where
    assert any(w.quote for w in waivers)


def test_cobertura_and_html_agree_with_the_summary(tmp_path: Path) -> None:
    raw = hdlcov.read_dat(DAT, ROOT)
    rtl = write_sources(tmp_path / "rtl")
    waivers = hdlcov.parse_waivers("UNR eng.sv line -- why\n | default: state <= IDLE;\n",
                                   rtl_dir=rtl)
    s = hdlcov.report(raw, tmp_path / "out", waivers, root=tmp_path)
    cob = ET.parse(tmp_path / "out" / "cobertura.xml").getroot()
    assert int(cob.get("lines-valid")) == s["overall"]["line"]["total"] == 7
    assert int(cob.get("lines-covered")) == s["overall"]["line"]["hit"]
    assert int(cob.get("branches-valid")) == s["overall"]["branch"]["total"] == 2
    assert float(cob.get("branch-rate")) == 0.5
    line23 = cob.find(".//class[@filename='rtl/fifo.sv']/lines/line[@number='23']")
    assert line23 is not None and line23.get("condition-coverage") == "50% (1/2)"
    assert cob.find(".//class[@filename='rtl/eng.sv']/lines/line[@number='5']") is None, "waived"
    tog = ET.parse(tmp_path / "out" / "cobertura-toggle.xml").getroot()
    assert int(tog.get("branches-valid")) == s["overall"]["toggle"]["total"] == 2
    assert tog.get("line-rate") == "0.0000", "cnt[0] never fell: the signal is not fully toggled"
    index = (tmp_path / "out" / "index.html").read_text()
    assert "files/fifo.sv.html" in index and "eng.sv:5" in index
    assert "<pre>default: state &lt;= IDLE;</pre>" in index, "the quoted source beside its reason"
    assert s["waivers"][0]["quote"] == ["default: state <= IDLE;"]
    page = (tmp_path / "out" / "files" / "fifo.sv.html").read_text()
    assert "branch 1/2 missed: else" in page and "toggle 1/2 missed: cnt[0]:1-&gt;0" in page
    assert (tmp_path / "out" / "merged.dat").exists()
    assert hdlcov.read_dat((tmp_path / "out" / "merged.dat").read_text(), tmp_path) == raw


def test_bad_waiver_file_stops_make_cov_before_simulating(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vdpa_tb.hdlcov import cli

    bad = tmp_path / "w.txt"
    bad.write_text("UNR vdpa_fifo.sv line\n")
    assert cli.main(["--waivers", str(bad)]) == 2
    assert "w.txt:1: expected 'CATEGORY" in capsys.readouterr().err
    # a waiver whose quoted RTL is gone stops it too, before any simulation
    bad.write_text("UNR vdpa_fifo.sv line -- dead\n  | this line is in no fifo\n")
    assert cli.main(["--waivers", str(bad)]) == 2
    assert "w.txt:1: waiver 'UNR vdpa_fifo.sv line' is stale" in capsys.readouterr().err
