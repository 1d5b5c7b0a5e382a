# SPDX-License-Identifier: MIT
"""Live migrations on the RTL pair (tb/vdpa_tb/tests/test_migration_rtl.py), one simulation per
configuration, each measured step by step (build/migration-rtl/rtl-<switches>.json and .jsonl).

CI runs upstream QEMU and everything on; ``make migrate-rtl`` (VDPA_MIGRATION_PRESETS=all,
through bench/bench_migration_rtl.py) runs every cumulative preset of vdpa_model.switches.PRESETS
and a few combinations beside them. Each run's table is printed (``-s``) with the wall and CPU
time the simulation took, which the benchmark keeps beside its one-minute limit.
"""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

from vdpa_model.downtime.measured import render
from vdpa_model.switches import STAIRCASE
from vdpa_tb import sim

TOP = "vdpa_nic_pair"
#: the pair as the migrations need it: room in the IOTLB for a guest's RAM and its rings twice
#: over (a table built beside the one in force)
PARAMS = {"IOTLB_ENTRIES": 64, "MTT_DEPTH": 32768}
CI = ("upstream", "all-on")
#: beside the staircase, combinations the presets do not reach: firmware that cannot resume
#: (trap 11), deferred frees of whole-RAM tables, everything on but the resumable switch
MIXED = ("upstream,fw_resumable=off", "parallel_mkey,deferred_mr_free", "all-on,-resumable_vqs")
CONFIGS = (*STAIRCASE, *MIXED) if os.environ.get("VDPA_MIGRATION_PRESETS") == "all" else CI
OUT = sim.ROOT / "build" / "migration-rtl"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@pytest.mark.sim
@pytest.mark.parametrize("switches", CONFIGS)
def test_migration_on_the_rtl_pair(switches: str) -> None:
    label = switches.replace(",", "_")
    sim.build(TOP, PARAMS)  # a build is not part of a run's time
    t0, c0 = time.perf_counter(), _children_cpu()
    sim.run(TOP, "vdpa_tb.tests.test_migration_rtl", PARAMS, name=f"migrate-{label}",
            extra_env={"VDPA_MIGRATION_SWITCHES": switches, "VDPA_MIGRATION_OUT": str(OUT)})
    path = OUT / f"rtl-{label}.json"
    summary = json.loads(path.read_text())
    summary["run_seconds"] = round(time.perf_counter() - t0, 2)
    summary["run_cpu_seconds"] = round(_children_cpu() - c0, 2)
    path.write_text(json.dumps(summary, indent=2) + "\n")
    assert summary["ok"]
    print(f"\n{render(summary)}\n  simulation run (start to end): {summary['run_seconds']} s "
          f"wall, {summary['run_cpu_seconds']} s CPU, the migration itself "
          f"{summary['wall_seconds']} s for {summary['simulated_cycles']:,} cycles "
          f"(limit 60 s a run on two cores)")
