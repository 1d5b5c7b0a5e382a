# SPDX-License-Identifier: MIT
"""Functional coverage model of the vDPA NIC: covergroups, JSON export, merge and report.

Plain Python on purpose: sampling is a dict increment (no per-sample solver or cocotb value
resolution), the model imports nothing from cocotb or pyuvm so pytest can merge and render it,
and the JSON is ours to merge across seeds and tests. Each covergroup has an explicit list of
bins; a sampled value outside them is kept as ``unexpected`` so a stimulus the plan did not
foresee shows up in the report instead of vanishing.
"""

from __future__ import annotations

import errno as _errno
import html
import itertools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vdpa_model import ringcases

#: VdpaOps calls the sequences issue (directly or through vhost-vdpa), each covered with "ok".
OPS_USED = (
    "get_backend_features", "get_device_features", "set_driver_features", "get_driver_features",
    "get_status", "set_status", "reset", "compat_reset", "get_vq_num_max", "get_vq_size",
    "set_vq_num", "set_vq_address", "set_vq_state", "get_vq_state", "set_vq_ready",
    "get_vq_ready", "kick_vq", "get_vq_group", "get_vq_desc_group", "set_group_asid",
    "dma_map", "dma_unmap", "reset_map", "suspend", "resume", "get_config", "get_iova_range",
    "get_device_id", "get_generation", "get_config_size",
)
#: Error outcomes the contract defines for bad arguments (include/linux/vdpa.h kdoc and
#: drivers/vhost/vdpa.c: out-of-range index, size not a power of two, ASID >= nas, ...).
OP_ERRORS = {
    "set_vq_num": ("EINVAL",), "set_group_asid": ("EINVAL",), "reset_map": ("EINVAL",),
    "get_vq_size": ("EINVAL",), "get_vq_group": ("EINVAL",), "get_vq_desc_group": ("EINVAL",),
    "get_vq_state": ("EINVAL",), "set_vq_state": ("EINVAL",), "set_vq_address": ("EINVAL",),
    "set_vq_ready": ("EINVAL",), "get_vq_ready": ("EINVAL",), "dma_map": ("EINVAL",),
}
#: Ring catalogue entries (vdpa_model.ringcases) the bad-ring sequences run in lockstep: every
#: entry the reference RTL answers like the model, on a mapped ASID. The others are checked one
#: by one by test_ring_case (an entry with an rtl_divergence mark diverges as marked; the
#: identity-default ones need a device life of their own).
RING_CASES = tuple(c.name for c in ringcases.lockstep_cases() if c.mapped)
VQ_TRANSITIONS = ("INIT->RDY", "RDY->SUSPEND", "SUSPEND->RDY", "RDY->ERR", "ERR->INIT",
                  "RDY->INIT")

# -- the hostile stimulus (tb/vdpa_tb/uvm/hostile.py): every covergroup below is crossed with
#    the device state the item met, from the status bits and the suspend flag ------------------
#: status 0; ACK..FEATURES_OK without DRIVER_OK; DRIVER_OK; DRIVER_OK and suspended;
#: NEEDS_RESET set by the device after an error
DEVICE_STATES = ("stopped", "configuring", "running", "suspended", "needs_reset")
#: the states a driver-side op can be issued in on purpose (needs_reset is met, not chosen)
OP_STATES = ("stopped", "configuring", "running", "suspended")
#: running, with traffic in flight that the op races (OpItem.race)
IN_FLIGHT = "in_flight"
#: classes of illegal op (hostile.IllegalOpsSeq): refused for the device's state (EBUSY /
#: EINVAL), a VQ index >= nvqs (ENOBUFS), a group >= ngroups or an ASID >= nas (EINVAL), an
#: UPDATE overlapping a mapping (EEXIST), an IOTLB message for another ASID in an open batch
ILLEGAL_CLASSES = ("wrong_state", "bad_vq", "bad_group", "bad_asid", "overlap_map",
                   "batch_misuse")
#: a malformed ring after healthy chains on its own queue, or beside traffic on the others
RING_PLACEMENTS = ("after_healthy", "beside_traffic")
#: ring items put across two IOTLB ranges (ringcases.RingCase.straddles) x queue: each access
#: split in two, completed like any other (ring_straddle_cg)
STRADDLE_BINS = tuple(dict.fromkeys(f"{c.straddles}:{c.queue}" for c in ringcases.CATALOGUE
                                    if c.straddles is not None and c.name in RING_CASES))
#: how much of the work in flight the DUT had done when the racing op took effect. A TX
#: chain starts at its doorbell and SUSPEND_ALL / UNMAP wait for the chain in flight, so a
#: race against TX alone always finds some of it done: "none" is a bin for RX alone only.
RACE_PROGRESS = ("none", "some", "all")
SUSPEND_RACE_BINS = ("none:rx", "some:rx", "all:rx", "some:tx", "all:tx", "some:both",
                     "all:both")
#: reset kinds (hostile.ResetMixSeq): status 0 through vhost-vdpa with IOTLB_PERSIST acked
#: (parent reset) or not (compat_reset CLEAN_MAP); the parent ops themselves
RESET_KINDS = ("vhost_persist", "vhost_clean", "reset", "compat_keep", "compat_clean",
               "reset_map_a0", "reset_map_a1")
RESET_STATES = ("configuring", "running", "suspended", "needs_reset")
MAP_OPS = ("map", "unmap", "overlap")
#: where a bus error hits (hostile.BusErrorSeq)
BUS_TARGETS = ("tx_buffer", "rx_buffer", "rx_data_segment", "used_ring_tx", "used_ring_rx",
               "desc_table_tx")


def _ring_mix_bins() -> list[str]:
    """errno:queue of the catalogue entries the bad-ring sequences run, per placement (after
    healthy chains only where the entry allows chains ahead of it)."""
    out: list[str] = []
    for placement in RING_PLACEMENTS:
        for c in ringcases.CATALOGUE:
            if c.name not in RING_CASES or (placement == "after_healthy" and not c.prefix_ok):
                continue
            err = c.errno[ringcases.Parent.MLX5]
            b = f"{errno_name(err) if err is not None else 'ok'}:{c.queue}:{placement}"
            if b not in out:
                out.append(b)
    return out
LAYOUTS = ("simple", "split", "indirect")
#: covergroups of the hostile stimulus; they close over many seeds (bench/bench_hostile.py
#: reports their closure on their own)
HOSTILE_GROUPS = ("illegal_op_cg", "ring_mix_cg", "ring_straddle_cg", "suspend_race_cg",
                  "reset_mix_cg", "rebind_cg",
                  "map_churn_cg", "unmap_race_cg", "bus_error_cg", "stall_cg", "rx_flood_cg")
SIZE_BUCKETS = ("small", "medium", "large")
DIRECTIONS = ("tx", "rx")


def size_bucket(n: int) -> str:
    """Frame size bucket: a header-sized frame, a typical one, one near the 1514-byte MTU."""
    return "small" if n <= 128 else "medium" if n < 1024 else "large"


def errno_name(err: int) -> str:
    return _errno.errorcode.get(err, str(err))


def _cross(*axes: Iterable[str]) -> list[str]:
    return [":".join(p) for p in itertools.product(*axes)]


class Covergroup:
    """Named bins with hit counts; ``sample(bin)`` counts one hit."""

    def __init__(self, name: str, bins: Iterable[str], desc: str = "") -> None:
        if not name.endswith("_cg"):
            raise ValueError(f"covergroup names end in _cg (testplan convention): {name}")
        self.name = name
        self.desc = desc
        self.bins: dict[str, int] = dict.fromkeys(bins, 0)
        self.unexpected: dict[str, int] = {}

    def sample(self, value: str) -> None:
        if value in self.bins:
            self.bins[value] += 1
        else:
            self.unexpected[value] = self.unexpected.get(value, 0) + 1

    @property
    def hit(self) -> list[str]:
        return [b for b, n in self.bins.items() if n]

    @property
    def missed(self) -> list[str]:
        return [b for b, n in self.bins.items() if not n]

    @property
    def percent(self) -> float:
        return 100.0 * len(self.hit) / len(self.bins) if self.bins else 100.0

    def to_dict(self) -> dict[str, object]:
        return {"desc": self.desc, "bins": dict(self.bins), "unexpected": dict(self.unexpected)}


class CoverageModel:
    """All covergroups of the NIC; one instance per test run."""

    def __init__(self) -> None:
        op_bins = [f"{op}:ok" for op in OPS_USED]
        op_bins += [f"{op}:{e}" for op, errs in OP_ERRORS.items() for e in errs]
        self.groups: dict[str, Covergroup] = {}
        for cg in (
            Covergroup("op_outcome_cg", op_bins,
                       "every VdpaOps op used x outcome (ok / the errno the contract defines)"),
            Covergroup("ring_error_cg", RING_CASES,
                       "ring catalogue entry answered as the catalogue says (fault or completion)"),
            Covergroup("vq_state_cg", VQ_TRANSITIONS,
                       "VQ object state transitions (mlx5 INIT/RDY/SUSPEND/ERR)"),
            Covergroup("feature_combo_cg", _cross(("event_idx", "no_event_idx"),
                                                  ("indirect", "no_indirect"), ("mq", "no_mq")),
                       "negotiated EVENT_IDX x INDIRECT_DESC x MQ at FEATURES_OK"),
            Covergroup("reset_kind_cg", _cross(("persist", "clean_map"),
                                               ("rings_asid0", "rings_asid1")),
                       "reset keeping or cleaning maps x data-ring group binding at reset"),
            Covergroup("traffic_cg", _cross(LAYOUTS, SIZE_BUCKETS, DIRECTIONS),
                       "completed frames: descriptor layout x size bucket x direction"),
            Covergroup("illegal_op_cg",
                       [f"wrong_state:{st}" for st in OP_STATES[1:]]
                       + _cross(ILLEGAL_CLASSES[1:], OP_STATES),
                       "illegal op class x device state, refused with the contract's errno"),
            Covergroup("ring_mix_cg", _ring_mix_bins(),
                       "malformed ring (errno:queue) among healthy ones: after healthy chains "
                       "on its queue, or beside traffic on the others"),
            Covergroup("ring_straddle_cg", STRADDLE_BINS,
                       "ring item across two IOTLB ranges (descriptor, avail entry, used "
                       "element) x queue: split into two translated accesses and completed"),
            Covergroup("suspend_race_cg", SUSPEND_RACE_BINS,
                       "suspend racing traffic in flight: DUT progress at suspend x direction"),
            Covergroup("reset_mix_cg", _cross(RESET_KINDS, (*RESET_STATES, IN_FLIGHT)),
                       "reset kind (IOTLB_PERSIST acked or not, parent ops) x device state, "
                       "traffic in flight included"),
            Covergroup("rebind_cg", _cross(("g0", "g1", "g2"), ("a0", "a1"),
                                           (*OP_STATES, IN_FLIGHT)),
                       "SET_GROUP_ASID group x ASID x device state (EBUSY once running "
                       "through vhost-vdpa; the parent op racing traffic in flight)"),
            Covergroup("map_churn_cg", _cross(MAP_OPS, ("batch", "single"), OP_STATES)
                       + _cross(MAP_OPS[:2], ("batch", "single"), (IN_FLIGHT,)),
                       "IOTLB UPDATE / INVALIDATE / overlapping UPDATE x batched x state, "
                       "UPDATE / INVALIDATE racing traffic in flight"),
            Covergroup("unmap_race_cg", _cross(RACE_PROGRESS[1:], ("alone", "beside_traffic")),
                       "unmap racing TX from the window: DUT progress x other queues busy"),
            Covergroup("bus_error_cg", _cross(BUS_TARGETS, ("alone", "beside_traffic")),
                       "host error response: where it hits x other queues busy"),
            Covergroup("stall_cg", _cross(("idle_off", "idle_on"), ("bp_off", "bp_on"),
                                          DIRECTIONS),
                       "traffic completed under AXI idle x backpressure, per direction"),
            Covergroup("rx_flood_cg", _cross(("none_dropped", "some_dropped"),
                                             ("alone", "beside_traffic")),
                       "frames for a receive queue with no buffer: the device kept them all "
                       "or dropped its oldest x other receive queues busy or not"),
        ):
            self.groups[cg.name] = cg

    def __getitem__(self, name: str) -> Covergroup:
        return self.groups[name]

    def to_dict(self) -> dict[str, object]:
        return {name: cg.to_dict() for name, cg in self.groups.items()}

    def export(self, path: Path, test: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"tests": [test], "covergroups": self.to_dict()}, indent=1))
        return path

    def missing(self, required: Iterable[tuple[str, str]]) -> list[str]:
        """Required ``(covergroup, bin)`` pairs not hit; bin ``*`` asks for any bin of the
        covergroup (a random test that must have done something of its kind). An unknown
        pair counts as missed."""
        out = []
        for cg, b in required:
            g = self.groups.get(cg)
            hit = g is not None and (bool(g.hit) if b == "*" else bool(g.bins.get(b, 0)))
            if not hit:
                out.append(f"{cg}.{b}")
        return out


#: tests whose coverage proves nothing about the design: the negative test requires a bin no
#: stimulus reaches, to show the check can fail (test_vdpa_nic_uvm.CoverageHoleTest)
NEGATIVE_TESTS = ("CoverageHoleTest",)


def design_files(func_dir: Path) -> list[Path]:
    """The per-test JSON files of ``func_dir`` that count toward the design's coverage."""
    return sorted(p for p in func_dir.glob("*.json") if p.stem not in NEGATIVE_TESTS)


def merge(paths: Iterable[Path]) -> dict[str, object]:
    """Merge per-test JSON files: hit counts add up, bins are the union, tests are listed."""
    return merge_data(json.loads(Path(p).read_text()) for p in paths)


def merge_data(runs: Iterable[Mapping[str, Any]]) -> dict[str, object]:
    """Merge exported coverage (``CoverageModel.export``'s content) of any number of runs."""
    tests: list[str] = []
    groups: dict[str, dict[str, object]] = {}
    for data in runs:
        tests += data["tests"]
        for name, g in data["covergroups"].items():
            m = groups.setdefault(name, {"desc": g.get("desc", ""), "bins": {}, "unexpected": {}})
            for key in ("bins", "unexpected"):
                tgt = m[key]
                assert isinstance(tgt, dict)
                for b, n in g[key].items():
                    tgt[b] = tgt.get(b, 0) + n
    return {"tests": tests, "covergroups": groups}


def summary(merged: Mapping[str, object]) -> dict[str, tuple[int, int, float]]:
    """Per covergroup: (bins hit, bins total, percent)."""
    out = {}
    for name, g in merged["covergroups"].items():  # type: ignore[attr-defined]
        bins = g["bins"]
        hit = sum(1 for n in bins.values() if n)
        out[name] = (hit, len(bins), 100.0 * hit / len(bins) if bins else 100.0)
    return out


def total_percent(merged: Mapping[str, object]) -> float:
    """Mean of the covergroup percentages (each covergroup weighs the same, as in UCIS/VCS)."""
    s = summary(merged)
    return sum(p for _, _, p in s.values()) / len(s) if s else 0.0


def report_text(merged: Mapping[str, object]) -> str:
    lines = [f"functional coverage over {len(merged['tests'])} test(s): "  # type: ignore[arg-type]
             f"{total_percent(merged):.1f} %"]
    for name, g in merged["covergroups"].items():  # type: ignore[attr-defined]
        hit, total, pct = summary(merged)[name]
        lines.append(f"\n{name}: {hit}/{total} bins, {pct:.1f} %  ({g['desc']})")
        for b, n in g["bins"].items():
            lines.append(f"  {'HIT ' if n else 'MISS'} {n:6d}  {b}")
        for b, n in g["unexpected"].items():
            lines.append(f"  UNEXPECTED {n:6d}  {b}")
    return "\n".join(lines) + "\n"


def report_html(merged: Mapping[str, object]) -> str:
    e = html.escape
    rows = []
    for name, g in merged["covergroups"].items():  # type: ignore[attr-defined]
        hit, total, pct = summary(merged)[name]
        rows.append(f"<tr class='cg'><th colspan='3'>{e(name)}: {hit}/{total} bins, "
                    f"{pct:.1f} %<br><small>{e(g['desc'])}</small></th></tr>")
        for b, n in g["bins"].items():
            cls = "hit" if n else "miss"
            rows.append(f"<tr class='{cls}'><td>{e(b)}</td><td>{n}</td>"
                        f"<td>{'hit' if n else 'MISSED'}</td></tr>")
        for b, n in g["unexpected"].items():
            rows.append(f"<tr class='unexp'><td>{e(b)}</td><td>{n}</td><td>unexpected</td></tr>")
    tests = ", ".join(e(t) for t in merged["tests"])  # type: ignore[attr-defined]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>vdpa-dv functional "
            "coverage</title><style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:2px 8px;text-align:left}.hit{background:#cfc}"
            ".miss{background:#fcc}.unexp{background:#ffc}.cg th{background:#ddd}</style>"
            f"</head><body><h1>Functional coverage: {total_percent(merged):.1f} %</h1>"
            f"<p>tests: {tests}</p><table><tr><th>bin</th><th>hits</th><th>status</th></tr>"
            + "".join(rows) + "</table></body></html>\n")


def write_report(json_files: Iterable[Path], out_dir: Path) -> dict[str, object]:
    """Merge ``json_files`` into ``out_dir``/merged.json, report.txt and index.html."""
    merged = merge(json_files)
    write_merged(merged, out_dir)
    return merged


def write_merged(merged: Mapping[str, object], out_dir: Path) -> None:
    """Write merged coverage to ``out_dir``: merged.json, report.txt and index.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "merged.json").write_text(json.dumps(merged, indent=1))
    (out_dir / "report.txt").write_text(report_text(merged))
    (out_dir / "index.html").write_text(report_html(merged))


def summary_lines(merged: Mapping[str, object]) -> list[str]:
    """One line per covergroup: bins hit, bins, percent."""
    return [f"  {name:<20} {hit:>3}/{total:<3} {pct:5.1f} %"
            for name, (hit, total, pct) in summary(merged).items()]


def main(argv: list[str] | None = None) -> int:
    """``python -m vdpa_tb.uvm.coverage [json ...] [-o DIR]``: merge and render."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("-o", "--out", type=Path, default=Path("build/coverage/func/vdpa_nic_top/report"))
    args = ap.parse_args(argv)
    files = args.files or sorted(Path("build/coverage/func/vdpa_nic_top").glob("*.json"))
    if not files:
        print("no coverage JSON found (run tests/rtl/test_vdpa_nic_uvm.py first)")
        return 1
    merged = write_report(files, args.out)
    print(report_text(merged), end="")
    print(f"HTML: {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
