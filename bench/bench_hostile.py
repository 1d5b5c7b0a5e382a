# SPDX-License-Identifier: MIT
"""The hostile stimulus over many seeds, on each device the UVM regression runs: seeds that
passed, mismatches and isolation violations the scoreboards found, seeds per hour, and the
closure of the hostile covergroups (``coverage.HOSTILE_GROUPS``) merged over the seeds.

Run from the repository root::

    python bench/bench_hostile.py                  # 300 seeds per build, bench/results/hostile.json
    python bench/bench_hostile.py --seeds 20       # a quicker look (written to build/bench/)
    python bench/bench_hostile.py --builds w32-q1024-fw
    python bench/bench_hostile.py --seeds 500 --base-seed 7   # other seeds than the last soak

Each seed is one simulation of ``HostileMixTest`` (the virtual sequence that mixes every
hostile sequence) through ``make regress``'s own engine: ``make regress TESTS=HostileMixTest
BUILDS=<build> SEEDS=<n> COV=0`` (no code-coverage build, so the figure is the stimulus's own
cost), after a one-seed warm-up that compiles the build outside the timing. A seed passes when
its scoreboard found nothing: no mismatch between the device and the model, no DMA outside the
mappings, no isolation violation, every item completed; a failed seed's rerun command is in
the regression's report. The machine's load average is kept beside each figure. Nothing here
asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tb"))

from bench_regress import regress  # noqa: E402
from results_file import machine, write_results  # noqa: E402
from vdpa_tb.regress import simcfg  # noqa: E402
from vdpa_tb.uvm import coverage as cov  # noqa: E402

TEST = "HostileMixTest"
CFG = simcfg.load()
#: the builds the regression configuration runs the test on: one per device file
BUILDS = CFG.tests[TEST].builds


def merged_func(report: Path) -> dict[str, Any]:
    """A regression's merged functional coverage."""
    return json.loads((report / "func" / "merged.json").read_text())  # type: ignore[no-any-return]


def hostile_closure(merged: dict[str, Any]) -> dict[str, Any]:
    """The hostile covergroups of merged functional coverage: bins hit, and which were
    missed."""
    groups = cov.summary(merged)
    per = {g: groups[g] for g in cov.HOSTILE_GROUPS if g in groups}
    hit = sum(h for h, _, _ in per.values())
    total = sum(t for _, t, _ in per.values())
    return {"bins_hit": hit, "bins": total,
            "percent": round(100.0 * hit / total, 1) if total else 0.0,
            "missing_groups": [g for g in cov.HOSTILE_GROUPS if g not in groups],
            "per_group": {g: {"hit": h, "bins": t, "percent": round(p, 1)}
                          for g, (h, t, p) in per.items()},
            "missed": {g: [b for b, n in merged["covergroups"][g]["bins"].items() if not n]
                       for g in per if per[g][0] < per[g][1]}}


def measure(build: str, seeds: int, base_seed: int, work: Path) -> dict[str, Any]:
    regress(TEST, build, 1, False, work / f"{build}-warmup", base_seed)
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    s = regress(TEST, build, seeds, False, work / build, base_seed)
    wall = time.monotonic() - t0
    board = s["scoreboard"] or {}
    fig = {"build": build, "device": str(Path(CFG.builds[build].device or "").relative_to(ROOT)),
           "command": f".venv/bin/python -m vdpa_tb.regress run --tests {TEST} --builds {build} "
                      f"--seeds {seeds} --seed {base_seed} --no-cov -j 2",
           "base_seed": s["base_seed"], "seeds": s["runs"], "passed": s["runs_passed"],
           "failures": [{"id": f["id"], "message": f["message"].splitlines()[0] if f["message"]
                         else "", "rerun": f["rerun"]} for f in s["failures"]],
           "mismatches": board.get("divergences", 0),
           "isolation_violations": board.get("isolation_violations", 0),
           "dma_outside_mappings": board.get("bus_violations", 0),
           "items": board.get("items", 0), "ops_compared": board.get("ops_compared", 0),
           "settles_compared": board.get("settles", 0), "races": board.get("races", 0),
           "dma_accesses_judged": board.get("dma_accesses", 0),
           "wall_s": round(wall, 1), "workers": s["workers"],
           "seeds_per_hour": round(3600 * s["runs"] / wall),
           "mean_simulation_s": s["items"][0]["mean_sim_s"] if s["items"] else None,
           "hostile_coverage": hostile_closure(merged_func(work / build)),
           "load_average_before": round(load0, 2),
           "load_average_after": round(os.getloadavg()[0], 2)}
    c = fig["hostile_coverage"]
    print(f"{build:<14} {fig['passed']}/{fig['seeds']} seeds passed, {fig['mismatches']} mismatches, "
          f"{fig['isolation_violations']} isolation violations, {fig['dma_outside_mappings']} DMA "
          f"outside the mappings; {fig['items']} items, {fig['races']} races; "
          f"{fig['seeds_per_hour']} seeds/hour; hostile bins {c['bins_hit']}/{c['bins']} "
          f"({c['percent']} %)  (load {fig['load_average_before']} -> "
          f"{fig['load_average_after']})", flush=True)
    for g, missed in c["missed"].items():
        print(f"    {g}: missed {', '.join(missed)}")
    for f in fig["failures"][:10]:
        print(f"    FAILED {f['id']}: {f['message']}\n      rerun: {f['rerun']}")
    return fig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=300)
    ap.add_argument("--base-seed", type=int, default=1,
                    help="the regression's base seed: each run's seed derives from it (default 1)")
    ap.add_argument("--builds", default=",".join(BUILDS),
                    help=f"comma-separated builds (default: {','.join(BUILDS)})")
    args = ap.parse_args()
    record = args.seeds >= 300
    out = (ROOT / "bench" / "results" if record else ROOT / "build" / "bench") / "hostile.json"
    work = ROOT / "build" / "bench" / "hostile"
    results: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                               "reproduce": f"python bench/bench_hostile.py --seeds {args.seeds} "
                                            f"--base-seed {args.base_seed} --builds {args.builds}",
                               "test": TEST, "builds": {}}
    for build in args.builds.split(","):
        results["builds"][build] = measure(build, args.seeds, args.base_seed, work)
    figs = results["builds"].values()
    # the soak as a whole: every build's seeds, and the hostile bins over all of them
    both = hostile_closure(cov.merge_data(merged_func(work / b) for b in results["builds"]))
    results["total"] = {
        "seeds": sum(f["seeds"] for f in figs), "passed": sum(f["passed"] for f in figs),
        **{k: sum(f[k] for f in figs) for k in ("mismatches", "isolation_violations",
                                                "dma_outside_mappings", "items", "races")},
        "hostile_coverage": both}
    t = results["total"]
    print(f"all builds     {t['passed']}/{t['seeds']} seeds passed, {t['mismatches']} mismatches, "
          f"{t['isolation_violations']} isolation violations; hostile bins "
          f"{both['bins_hit']}/{both['bins']} ({both['percent']} %)")
    for g, missed in both["missed"].items():
        print(f"    {g}: missed {', '.join(missed)}")
    write_results(results, out)
    return 0 if all(b["passed"] == b["seeds"] for b in results["builds"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
