# SPDX-License-Identifier: MIT
"""Run the suspend-in-flight benchmark (tb/vdpa_tb/tests/bench_suspend_inflight.py) on the
default device, print the table, and check that every point was measured and none beats its
bus limit (a suspend that waited for less than the rest of the chain in flight did not drain
it, or the count is wrong). `bench/bench_suspend_inflight.py` keeps the figures in
bench/results/suspend_inflight.json with a PNG."""

from __future__ import annotations

import json

import pytest

from vdpa_tb import sim

MODULE = "vdpa_tb.tests.bench_suspend_inflight"
TOP = "vdpa_nic_top"


def run_bench(out) -> dict:
    sim.run(TOP, MODULE, {}, extra_env={"BENCH_OUT": str(out)})
    return json.loads(out.read_text())


@pytest.mark.sim
def test_bench_suspend_inflight(tmp_path) -> None:
    res = run_bench(tmp_path / "bench.json")
    print(f"\nSUSPEND_ALL by work in flight, DATA_W {res['data_w']}, issued "
          f"{res['issue_cycles']} cycles after the kick (device cycles, bus limit)")
    for r in res["rows"]:
        print(f"  {r['frame_bytes']:>6} B x {r['queues']} q: {r['suspend_cycles']:>6} cycles, "
              f"drained {r['drained_bytes']:>6} B / {r['drained_chains']} chain(s), "
              f"limit {r['limit_cycles']:>5}")
    assert {(r["frame_bytes"], r["queues"]) for r in res["rows"]} == {
        (b, q) for b in (0, 64, 256, 1500, 9000, 60000) for q in (1, 2, 4)}
    for r in res["rows"]:
        assert r["suspend_cycles"] >= r["limit_cycles"], r
