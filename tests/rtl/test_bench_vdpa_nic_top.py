# SPDX-License-Identifier: MIT
"""Run the vdpa_nic_top benchmarks (tb/vdpa_tb/tests/bench_vdpa_nic_top.py) and print the
figures: `python -m pytest tests/rtl/test_bench_vdpa_nic_top.py -s`."""

from __future__ import annotations

import json

import pytest

from vdpa_tb import sim

# where the figures are kept for the timing model and for trend tracking
OUT = sim.ROOT / "bench" / "results" / "rtl_vdpa_nic_top.json"

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
