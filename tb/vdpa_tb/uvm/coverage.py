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
#: Ring error classes and the errno drivers/vhost/vringh.c gives each (EFAULT: IOTLB).
RING_ERRORS = {
    "head_ge_size": "EINVAL", "next_ge_size": "EINVAL", "chain_loop": "ELOOP",
    "indirect_len": "EINVAL", "indirect_in_indirect": "EINVAL",
    "readable_after_writable": "EINVAL", "writable_on_tx": "EPROTO", "readable_on_rx": "EPROTO",
    "efault_unmapped": "EFAULT", "efault_read_only": "EFAULT",
}
VQ_TRANSITIONS = ("INIT->RDY", "RDY->SUSPEND", "SUSPEND->RDY", "RDY->ERR", "ERR->INIT",
                  "RDY->INIT")
LAYOUTS = ("simple", "split", "indirect")
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
            Covergroup("ring_error_cg", list(RING_ERRORS),
                       "malformed ring or translation fault class seen as a device fault"),
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
        """Required ``(covergroup, bin)`` pairs not hit; an unknown pair counts as missed."""
        out = []
        for cg, b in required:
            g = self.groups.get(cg)
            if g is None or not g.bins.get(b, 0):
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
    ap.add_argument("-o", "--out", type=Path, default=Path("build/coverage/func/report"))
    args = ap.parse_args(argv)
    files = args.files or sorted(Path("build/coverage/func").glob("*.json"))
    if not files:
        print("no coverage JSON found (run tests/rtl/test_vdpa_nic_uvm.py first)")
        return 1
    merged = write_report(files, args.out)
    print(report_text(merged), end="")
    print(f"HTML: {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
