# SPDX-License-Identifier: MIT
"""Run the vdpa_nic_top benchmarks (tb/vdpa_tb/tests/bench_vdpa_nic_top.py) and print the
figures: `python -m pytest tests/rtl/test_bench_vdpa_nic_top.py -s`."""

from __future__ import annotations

import json
import os

import pytest

from vdpa_tb import sim

# Where the figures go. `make bench` sets BENCH_RECORD=1 to update the kept copy in
# bench/results; an ordinary test run writes to build/ so it never dirties the checkout.
OUT = (sim.ROOT / "bench" / "results" if os.environ.get("BENCH_RECORD") == "1"
       else sim.ROOT / "build" / "bench") / "rtl_vdpa_nic_top.json"

TOP = "vdpa_nic_top"


@pytest.mark.sim
def test_bench_vdpa_nic_top(tmp_path) -> None:
    out = tmp_path / "bench.json"
    sim.run(TOP, "vdpa_tb.tests.bench_vdpa_nic_top", {}, extra_env={"BENCH_OUT": str(out)})
    res = json.loads(out.read_text())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print("\nvdpa_nic_top benchmark (default parameters, 10 ns clock)")
    for k, v in res.items():
        print(f"  {k}: {v}")
    assert res["map_cycles_per_page"] == 1.0
    print(f"  (written to {OUT})")
