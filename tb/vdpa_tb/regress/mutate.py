# SPDX-License-Identifier: MIT
"""The mutation campaign (``make mutate``, ``python -m vdpa_tb.regress mutate``): proof that the
regression has teeth.

Every mutant of the catalogue (:mod:`vdpa_tb.mutants`) becomes a build of the regression
configuration: the base build's parameters plus ``MUTANT``. The kill set (:data:`KILL_SET`:
deterministic tests and the pyuvm group, hostile sequences included, with :data:`SEEDS` fixed
seeds) runs on every mutant build and on the unmutated base build in the same regression, as
ordinary jobs of the regression engine (Dask, :func:`execute.run_job`). A mutant is killed when a
test of the kill set fails, errs or hangs on its build; once killed, its remaining jobs are
cancelled. Its expected killers run first. The unmutated build must pass all of it, or no kill
counts (a bench that fails everything kills everything).

The table (mutant, killed, by which tests, the first failure) and the mutation score are
printed and written to ``bench/results/mutation.json``. The exit status is 0 only if the
unmutated build passed and every mutant was killed; 1 if a mutant survived (the score dropped
below 100 %) or the unmutated build failed; 2 if the selection is wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import mutants as M
from .. import sim
from . import engine
from .execute import ERROR, Result
from .jobs import CLI, Job, derive_seed, interleave, job_for
from .simcfg import Build, Item, SimCfg, SimCfgError

#: what runs on every build: tests and groups of the regression configuration (each on the
#: builds of those whose base build it runs on: the device's tests on the device; the command
#: processor's, the walker's, the notifier's, the receive buffer's and the DMA mover's block
#: benches on their mutants)
KILL_SET = ("test_traffic_lockstep", "test_iotlb_translation_and_faults", "test_ring_case",
            "test_suspend_resume_state", "test_suspend_waits_for_chain_in_flight",
            "test_suspend_with_work_in_flight",
            "test_reset_keeps_or_cleans_maps", "test_unmap_races_traffic", "uvm",
            "test_reset_barrier", "test_refill_while_move_stage_busy",
            "test_flush_and_ctx_change_drop", "test_notes_against_model",
            "test_unmap_lands_between_receive_chains",
            "test_batched_completion_cut_at_a_refused_element",
            "test_completion_fault_undoes_the_next_chain",
            "test_no_avail_event_behind_a_failing_completion",
            "test_used_ring_made_read_only_between_chains",
            "test_parked_frame_evicted_when_the_wire_waits", "test_read_ahead",
            "test_completion_fault_while_the_next_frame_is_read", "test_next_offer_at_claim")
#: runs of each seeded item, with seeds fixed by :data:`BASE_SEED` and the same on every build
SEEDS = 2
BASE_SEED = 20260
#: a mutant that hangs is stopped after this many seconds of wall clock (a kill by timeout);
#: the unmutated build's runs take well under it
JOB_TIMEOUT = 240.0
RESULTS = sim.ROOT / "bench" / "results" / "mutation.json"


def mutant_builds(cfg: SimCfg, chosen: Sequence[M.Mutant]) -> dict[str, Build]:
    """The builds of ``chosen`` over the base build, added to ``cfg.builds``."""
    out: dict[str, Build] = {}
    for m in chosen:
        base = cfg.builds[m.base]
        b = dataclasses.replace(base, name=m.build, params={**base.params, M.PARAM: m.value})
        cfg.builds[m.build] = out[m.build] = b
    return out


def campaign_jobs(cfg: SimCfg, items: Sequence[Item], chosen: Sequence[M.Mutant], seeds: int,
                  base_seed: int, runs_dir: str) -> list[Job]:
    """The unmutated base builds' jobs and each mutant's (the items of the kill set that run on
    its base build, expected killers first), interleaved so that the first job of every build
    comes early (builds compile in parallel). A mutant runs an item with the seeds its base
    build runs it with."""
    builds = [*dict.fromkeys(m.base for m in chosen), *(m.build for m in chosen)]
    per_build: dict[str, list[Job]] = {}
    for build in builds:
        m = next((x for x in chosen if x.build == build), None)
        base = m.base if m is not None else build
        first = m.killers if m is not None else ()
        mine = [i for i in items if base in i.builds]
        order = sorted(mine, key=lambda i: (i.name not in first,
                                            first.index(i.name) if i.name in first else 0))
        for item in order:
            for k in range(seeds if item.seeded else 1):
                seed = derive_seed(base_seed, item.name, base, k)
                job = job_for(cfg, item, build, seed, k, runs_dir=runs_dir)
                if job is not None:
                    job = dataclasses.replace(job, timeout=min(job.timeout, JOB_TIMEOUT))
                    per_build.setdefault(build, []).append(job)
    return interleave(per_build)


def _first_failure(r: Result) -> str:
    bad = next((c for c in r.cases if c.status == "failed"), None)
    text = (bad.message if bad is not None and bad.message else r.message) or r.status
    first = text.strip().splitlines()[0] if text.strip() else r.status
    return (f"{bad.name}: " if bad is not None else "") + first[:300]


def _failed_tests(r: Result) -> list[str]:
    """The failing test cases of a run (a pyuvm group's tests by name), or its item when it
    failed as a whole (a hang, a crash)."""
    failed = [c.name for c in r.cases if c.status == "failed"]
    return failed or [str(r.job["item"])]


def _build_error(r: Result) -> bool:
    return r.status == ERROR and r.message.startswith("build of ")


def verdicts(results: Sequence[Result], chosen: Sequence[M.Mutant]) -> dict[str, Any]:
    """The campaign's table and score from its results."""
    by_build: dict[str, list[Result]] = {}
    for r in results:
        by_build.setdefault(r.job["build"], []).append(r)
    bases = list(dict.fromkeys(m.base for m in chosen))
    clean = [r for b in bases for r in by_build.get(b, [])]
    clean_fail = [r for r in clean if not r.passed]
    bad_bases = {r.job["build"] for r in clean_fail} | {b for b in bases if b not in by_build}
    rows = []
    for m in chosen:
        rs = by_build.get(m.build, [])
        broken = [r for r in rs if _build_error(r)]
        kills = [r for r in rs if not r.passed and not _build_error(r)]
        rows.append({
            "mutant": m.name, "param": f"{M.PARAM}={m.value}", "module": m.module,
            "base": m.base, "killed": bool(kills) and not broken and m.base not in bad_bases,
            "killed_by": sorted({name for r in kills for name in _failed_tests(r)}),
            "first_failure": _first_failure(kills[0]) if kills else
            (_first_failure(broken[0]) if broken else ""),
            "build_error": bool(broken), "runs": len(rs),
            "breaks": m.breaks, "rule": m.rule, "expected_killers": list(m.killers),
        })
    killed = sum(r["killed"] for r in rows)
    return {
        "clean": {"builds": bases, "runs": len(clean), "passed": len(clean) - len(clean_fail),
                  "ok": bool(clean) and not bad_bases,
                  "failures": [f"{r.job['item']} on {r.job['build']} (seed {r.job['seed']}): "
                               f"{_first_failure(r)}" for r in clean_fail]},
        "mutants": rows, "killed": killed, "total": len(rows),
        "score": round(100.0 * killed / len(rows), 2) if rows else 0.0,
    }


def print_table(v: dict[str, Any], out: Any = sys.stdout) -> None:
    c = v["clean"]
    print(f"\nunmutated builds ({', '.join(c['builds'])}): {c['passed']}/{c['runs']} runs passed"
          + ("" if c["ok"] else " -- THE BENCH FAILS WITHOUT A MUTANT: no kill counts"), file=out)
    for f in c["failures"]:
        print(f"  FAIL {f}", file=out)
    w = max([len(r["mutant"]) for r in v["mutants"]] + [6])
    print(f"\n{'mutant':<{w}}  {'param':<10}  {'killed':<7}  {'by':<40}  first failure", file=out)
    for r in v["mutants"]:
        state = "yes" if r["killed"] else ("BUILD" if r["build_error"] else "NO")
        by = ",".join(r["killed_by"]) or "-"
        print(f"{r['mutant']:<{w}}  {r['param']:<10}  {state:<7}  {by[:40]:<40}  "
              f"{r['first_failure'][:110]}", file=out)
    print(f"\nmutation score: {v['killed']}/{v['total']} = {v['score']:.1f} %", file=out)


def _previous_score(path: Path) -> float | None:
    try:
        return float(json.loads(path.read_text())["score"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cmd_mutate(cfg: SimCfg, args: argparse.Namespace) -> int:
    names = [t for v in (args.mutants or []) for t in v.replace(",", " ").split()]
    tests = [t for v in (args.tests or []) for t in v.replace(",", " ").split()] or list(KILL_SET)
    try:
        chosen = [M.mutant(n) for n in names] if names else list(M.CATALOGUE)
        items, _ = cfg.select(tests)
    except (KeyError, SimCfgError) as e:
        print(f"mutate: ERROR: {e}", file=sys.stderr)
        return 2
    mutant_builds(cfg, chosen)
    runs_dir = args.runs_dir
    jobs = campaign_jobs(cfg, items, chosen, args.seeds, args.seed, runs_dir)
    print(f"mutate: {len(chosen)} mutant(s) + their unmutated builds, kill set {','.join(tests)} "
          f"({args.seeds} seed(s) per seeded item, base seed {args.seed}): {len(jobs)} "
          f"simulations at most; a mutant's runs stop at its first kill", flush=True)
    t0 = time.monotonic()
    results: list[Result] = []
    local_dir = str(sim.ROOT / "build" / "regress" / "dask")
    with engine.client(args.scheduler, args.jobs, local_dir) as client:
        workers = engine.worker_count(client)
        engine.run(jobs, client, results.append, engine.Progress(len(jobs), workers),
                   stop_group=lambda j: j.build if j.build.startswith("mutant-") else None)
    wall = time.monotonic() - t0
    v = verdicts(results, chosen)
    print_table(v)
    prev = _previous_score(args.out)
    again = (f"{CLI} mutate --seeds {args.seeds} --seed {args.seed} --tests {','.join(tests)}"
             + (f" --mutants {','.join(names)}" if names else ""))
    v.update({"wall_s": round(wall, 1), "workers": workers, "kill_set": tests,
              "seeds": args.seeds, "base_seed": args.seed, "simulations": len(results),
              "simulations_planned": len(jobs), "previous_score": prev, "command": again,
              "load_avg": [round(x, 2) for x in os.getloadavg()],
              "cpu_count": os.cpu_count()})
    if args.out is not None and not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(v, indent=2) + "\n")
        print(f"wrote {args.out.relative_to(sim.ROOT) if args.out.is_relative_to(sim.ROOT) else args.out}")
    print(f"campaign: {len(results)} simulations in {wall:.0f} s on {workers} worker(s)"
          + (f"; previous score {prev:.1f} %" if prev is not None else ""))
    ok = v["clean"]["ok"] and v["killed"] == v["total"]
    if prev is not None and v["score"] < prev:
        print(f"mutate: the mutation score dropped from {prev:.1f} % to {v['score']:.1f} %",
              file=sys.stderr)
    return 0 if ok else 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("mutate", help="the mutation campaign: every mutant against the kill set")
    p.add_argument("--mutants", action="append", help="only these mutants (names), comma-separated")
    p.add_argument("--tests", action="append",
                   help=f"the kill set: tests and groups, comma-separated (default {','.join(KILL_SET)})")
    p.add_argument("--seeds", type=int, default=SEEDS, help="runs per seeded item")
    p.add_argument("--seed", type=int, default=BASE_SEED, help="base seed (fixed by default)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="LocalCluster workers")
    p.add_argument("--scheduler", help="a running Dask scheduler (as for run)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results file (JSON)")
    p.add_argument("--no-write", action="store_true", help="do not write the results file")
    p.add_argument("--runs-dir", default="build/mutate/runs", help="run directories")
