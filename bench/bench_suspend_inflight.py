# SPDX-License-Identifier: MIT
"""Benchmark of suspend latency against the work in flight (issue 10): SUSPEND's device cycles
for 0, 64, 256, 1500, 9000 and 60000-byte chains on 1, 2 and 4 busy transmitqs, beside the bus
limit of the rest of the chains it waited for, at the default DATA_W.

Run from the repository root (``make bench`` does)::

    python bench/bench_suspend_inflight.py

It runs tb/vdpa_tb/tests/bench_suspend_inflight.py on vdpa_nic_top, and again against a host
that answers late (LATE_HOST), and writes bench/results/suspend_inflight.json and
suspend_inflight.png (cycles against the bytes posted, one line per busy-queue count, the limit
and the late host's figures beside each). `vdpa-dv fit-rtl` fits the drain part of
the reference-rtl profile from the JSON. This is a script, not a test: nothing here asserts a
speed.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tb"))

from results_file import commit, machine, run_bench_module, write_results  # noqa: E402

OUT = ROOT / "bench" / "results" / "suspend_inflight.json"
PNG = OUT.with_suffix(".png")


# the same device against a host that answers like PCIe (tb_nic_host RD_LATENCY / WR_LATENCY:
# a read's data 100 cycles after its address, 1 us at the bench's 100 MHz; a write's response
# 20 cycles after its last beat): what the drain costs where the device really is
LATE_HOST = {"MEM_RD_LATENCY": 100, "MEM_WR_LATENCY": 20}


def measure(params: dict[str, int] | None = None) -> dict[str, Any]:
    return run_bench_module("vdpa_tb.tests.bench_suspend_inflight", params or {},
                            name="late-host" if params else None)


def chart(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["rows"]
    fig, ax = plt.subplots(figsize=(8, 5))
    for q in sorted({r["queues"] for r in rows}):
        pts = sorted((r for r in rows if r["queues"] == q), key=lambda r: r["frame_bytes"])
        xs = [max(r["frame_bytes"], 1) for r in pts]
        line, = ax.plot(xs, [r["suspend_cycles"] for r in pts], marker="o",
                        label=f"{q} queue(s) busy")
        late = sorted((r for r in res.get("late_host", {}).get("rows", [])
                       if r["queues"] == q), key=lambda r: r["frame_bytes"])
        if late:
            ax.plot([max(r["frame_bytes"], 1) for r in late],
                    [r["suspend_cycles"] for r in late], marker="s", linestyle=":",
                    color=line.get_color(), label=f"{q} queue(s), host 100/20 cycles late")
        ax.plot(xs, [max(r["limit_cycles"], 1) for r in pts], linestyle="--",
                color=line.get_color(), label=f"bus limit, {q} queue(s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bytes per chain posted per busy queue (0 drawn at 1)")
    ax.set_ylabel("SUSPEND device cycles")
    ax.set_title(f"SUSPEND latency by work in flight, DATA_W {res['data_w']}, issued "
                 f"{res['issue_cycles']} cycles after the kick")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    fig = measure()
    late = measure(LATE_HOST)
    res: dict[str, Any] = {
        "what": "SUSPEND_ALL device cycles by the work in flight, beside the bus limit of the "
                "drain (bench module drain_limit)",
        "machine": machine(),
        "run": {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "commit": commit()},
        **fig,
        "late_host": {"params": LATE_HOST, "rows": late["rows"]},
    }
    late_rows = {(r["frame_bytes"], r["queues"]): r for r in late["rows"]}
    print(f"\n{'bytes':>6}{'q':>3}{'cycles':>8}{'drained B':>11}{'chains':>8}{'limit':>7}"
          f"{'late host':>11}{'drained B':>11}{'chains':>8}")
    for r in fig["rows"]:
        lr = late_rows.get((r["frame_bytes"], r["queues"]))
        tail = (f"{lr['suspend_cycles']:>11}{lr['drained_bytes']:>11}{lr['drained_chains']:>8}"
                if lr else "")
        print(f"{r['frame_bytes']:>6}{r['queues']:>3}{r['suspend_cycles']:>8}"
              f"{r['drained_bytes']:>11}{r['drained_chains']:>8}{r['limit_cycles']:>7}" + tail)
    write_results(res, OUT)
    chart(res, PNG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
