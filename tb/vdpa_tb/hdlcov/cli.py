# SPDX-License-Identifier: MIT
"""``make cov``: the RTL simulations of the test suite with Verilator coverage, merged into
build/coverage/hdl/ (summary, Cobertura XML, HTML), plus the functional coverage report.

1. The simulations that matter (tests/rtl/test_vdpa_nic_top.py, every parameter set;
   test_vdpa_nic_pair.py; test_vdpa_nic_uvm.py) run through pytest with ``HDL_COVERAGE=1``:
   ``sim.build`` builds with line, branch and toggle coverage into a separate ``-cov`` build
   directory and every run writes its own ``coverage.dat`` beside its log.
2. The files are read and merged here, in Python (vdpa_tb.hdlcov.points), with the waivers of
   rtl/coverage_waivers.txt. Nothing but the pinned packages is needed; Verilator's own
   ``verilator_coverage`` can still read the merged.dat written beside the report.

``make regress`` merges the coverage of a seeded regression through the same code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .. import sim
from ..uvm import coverage as fcov
from . import WAIVER_FILE, WaiverError, load_waivers, merge, read_dat, report, report_text

ROOT = sim.ROOT
OUT_DIR = ROOT / "build" / "coverage" / "hdl"
FUNC_DIR = ROOT / "build" / "coverage" / "func"
#: pytest modules whose simulations make up the coverage run (every RTL parameter set the
#: suite runs, the two-device migration, the pyuvm regression, the parent options, and the
#: block-level benches of the command processor, the IOTLB and the engine's blocks)
SIM_TESTS = ("tests/rtl/test_vdpa_nic_top.py", "tests/rtl/test_vdpa_nic_pair.py",
             "tests/rtl/test_vdpa_nic_uvm.py", "tests/rtl/test_vdpa_cmd_proc.py",
             "tests/rtl/test_vdpa_iotlb.py", "tests/rtl/test_vdpa_rx_buffer.py",
             "tests/rtl/test_vdpa_used_writer.py", "tests/rtl/test_vdpa_notifier.py",
             "tests/rtl/test_vdpa_dma_mover.py",
             "tests/rtl/test_vdpa_xlate_cache.py", "tests/rtl/test_vdpa_ring_port.py",
             "tests/rtl/test_vdpa_axi_arb.py", "tests/rtl/test_vdpa_vq_ctx.py",
             "tests/rtl/test_vdpa_split_ring_walker.py",
             "tests/rtl/test_parent_options.py")


def coverage_files() -> list[Path]:
    """The per-run files of coverage builds (``sim_build/<top>/<sim>-<bus>-<params>[-waves]-cov``)."""
    return sorted(sim.SIM_BUILD.glob("*/*-cov/run-*/coverage.dat"))


def run_sims(jobs: int) -> int:
    """The coverage run through pytest; returns pytest's exit status."""
    for old in coverage_files():
        old.unlink()  # a file left from an older run or RTL would be merged silently
    sim.use_pinned_verilator()
    env = dict(os.environ, HDL_COVERAGE="1")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-n", str(jobs),
           f"--junitxml={OUT_DIR / 'junit.xml'}", *SIM_TESTS]
    print("hdlcov: HDL_COVERAGE=1 " + " ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def functional_report() -> str:
    """Merge the pyuvm regression's functional coverage into build/coverage/func/report/."""
    files = fcov.design_files(FUNC_DIR)
    if not files:
        return "functional coverage: no per-test JSON in build/coverage/func (did the pyuvm run fail?)"
    merged = fcov.write_report(files, FUNC_DIR / "report")
    return (f"functional coverage over {len(files)} tests: {fcov.total_percent(merged):.1f} % "
            f"(report: {(FUNC_DIR / 'report' / 'index.html').relative_to(ROOT)})\n"
            + "\n".join(fcov.summary_lines(merged)))


def main(argv: list[str] | None = None) -> int:
    """``python -m vdpa_tb.hdlcov``: run the coverage simulations, merge, report."""
    ap = argparse.ArgumentParser(prog="python -m vdpa_tb.hdlcov", description=main.__doc__)
    ap.add_argument("-j", "--jobs", type=int, default=2, help="pytest-xdist workers")
    ap.add_argument("--no-sim", action="store_true",
                    help="merge the coverage files already in sim_build/ instead of simulating")
    ap.add_argument("--waivers", type=Path, default=WAIVER_FILE)
    ap.add_argument("-o", "--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        waivers = load_waivers(args.waivers, ROOT)  # a bad waiver file fails before a long run
    except WaiverError as e:
        print(f"hdlcov: ERROR: {e}", file=sys.stderr)
        return 2
    rc = 0 if args.no_sim else run_sims(args.jobs)
    dats = coverage_files()
    if not dats:
        print("hdlcov: ERROR: no coverage.dat under sim_build/*/*-cov/: the simulations wrote "
              "none (see the pytest output above)", file=sys.stderr)
        return 2
    raw = merge(read_dat(d.read_text(errors="replace"), ROOT) for d in dats)
    s = report(raw, args.out, waivers,
               extra={"runs": [str(d.relative_to(ROOT)) if d.is_relative_to(ROOT) else str(d)
                               for d in dats]})
    print(f"\nHDL code coverage of rtl/, merged over {len(dats)} runs, "
          f"{len(waivers)} waiver(s) ({time.monotonic() - t0:.0f} s)")
    print(report_text(s), end="")
    shown = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"HTML: {shown}/index.html   Cobertura: {shown}/cobertura.xml   "
          f"summary: {shown}/summary.json\n")
    print(functional_report())
    if rc:
        print(f"hdlcov: the simulations failed (pytest exit {rc}); the coverage above covers "
              "only what ran", file=sys.stderr)
    return 1 if rc else 0
