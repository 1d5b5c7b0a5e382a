# SPDX-License-Identifier: MIT
"""Merged code coverage with waivers applied: per source line, per module and overall.

The three figures:

line
    Source lines with a statement: the lines of Verilator's line and branch points (a block's
    or an arm's own line and the further lines it spans). A line is covered when any point on
    it was hit: the statement ran. This is what Cobertura and lcov call line coverage.
branch
    Verilator's branch points: each arm of an ``if``/``else``/``case`` and each side of a
    ``?:``, an implicit ``else`` included.
toggle
    Each bit of each signal, in each direction (0->1 and 1->0).

A waived line or point leaves both the hit count and the total; the raw figures, before
waivers, are kept beside the waived ones, and a waiver that removes nothing is reported (the RTL
moved under it: review it again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .points import METRICS, Point
from .waivers import Waiver


@dataclass
class SourceLine:
    """What is known of one source line: its statement points, branch arms and toggle bits."""

    number: int
    module: str = ""
    statements: list[Point] = field(default_factory=list)   # line and branch points over it
    branches: list[Point] = field(default_factory=list)     # branch points whose own line it is
    toggles: list[Point] = field(default_factory=list)      # toggle points declared on it
    waived: bool = False                                     # the line itself (line metric)

    @property
    def executable(self) -> bool:
        return bool(self.statements)

    @property
    def hits(self) -> int:
        """The most any statement point on this line was hit (the line ran that often)."""
        return max((p.count for p in self.statements), default=0)


def _figure(hit: int, total: int, waived: int = 0) -> dict[str, Any]:
    # nothing to cover counts as covered, as in genhtml and UCIS reports
    return {"hit": hit, "total": total, "waived": waived,
            "percent": round(100.0 * hit / total, 2) if total else 100.0}


class CoverageDb:
    """Design-unit points and waivers, indexed by file and line."""

    def __init__(self, points: Iterable[Point], waivers: Iterable[Waiver] = ()) -> None:
        self.points = list(points)
        self.waivers = list(waivers)
        self.files: dict[str, dict[int, SourceLine]] = {}
        self.waived: set[Point] = set()
        self.waiver_use = {w.where: 0 for w in self.waivers}
        # what a waiver removes although a run reached it: its claim (unreachable, fixed by a
        # parameter) is contradicted, so it needs review. A line or branch arm that ran; a
        # toggle bit that went both ways (a bit tied to 1 shows one 0->1 at power-on, which
        # says nothing against the waiver)
        self.waiver_hit = {w.where: 0 for w in self.waivers}
        waived_bits: dict[str, dict[tuple[str, int, str], list[int]]] = {}
        for p in self.points:
            lines = self.files.setdefault(p.file, {})
            if p.metric in ("line", "branch"):
                for n in p.lines:
                    sl = lines.setdefault(n, SourceLine(n, p.module))
                    sl.statements.append(p)
            if p.metric == "branch":
                lines.setdefault(p.line, SourceLine(p.line, p.module)).branches.append(p)
            elif p.metric == "toggle":
                lines.setdefault(p.line, SourceLine(p.line, p.module)).toggles.append(p)
        for file, lines in self.files.items():
            for sl in lines.values():
                if sl.executable:
                    w = self._waiver(file, sl.number, "line",
                                     tuple(p.comment for p in sl.statements), sl.hits > 0)
                    sl.waived = w is not None
                for p in sl.branches:
                    if self._waiver(file, p.line, p.metric, p.comment, p.count > 0) is not None:
                        self.waived.add(p)
                for p in sl.toggles:
                    w = self._waiver(file, p.line, p.metric, p.comment, False)
                    if w is not None:
                        self.waived.add(p)
                        bit = waived_bits.setdefault(w.where, {}).setdefault(
                            (file, p.line, p.comment.rsplit(":", 1)[0]), [0, 0])
                        bit[0] += p.count > 0
                        bit[1] += 1
        for where, bits in waived_bits.items():
            self.waiver_hit[where] += sum(hit == n > 1 for hit, n in bits.values())

    def _waiver(self, file: str, line: int, metric: str, names: tuple[str, ...] | str,
                hit: bool) -> Waiver | None:
        w = next((w for w in self.waivers if w.covers(file, line, metric, names)), None)
        if w is not None:
            self.waiver_use[w.where] += 1
            self.waiver_hit[w.where] += hit
        return w

    # --- figures ---------------------------------------------------------------------------

    def _tally(self, waived: bool) -> dict[str, dict[str, list[int]]]:
        """module -> metric -> [hit, total, waived] (``waived``: apply the waivers)."""
        acc: dict[str, dict[str, list[int]]] = {}

        def add(module: str, metric: str, hit: bool, off: bool) -> None:
            c = acc.setdefault(module, {m: [0, 0, 0] for m in METRICS})[metric]
            if off and waived:
                c[2] += 1
                return
            c[0] += hit
            c[1] += 1

        for lines in self.files.values():
            for sl in lines.values():
                if sl.executable:
                    add(sl.module, "line", sl.hits > 0, sl.waived)
                for p in (*sl.branches, *sl.toggles):
                    add(p.module, p.metric, p.count > 0, p in self.waived)
        return acc

    def summary(self) -> dict[str, Any]:
        """Per module and overall, for each metric: hit, total, waived and percent over the
        unwaived; ``raw`` the same overall before waivers; each waiver with what it removed."""
        acc = self._tally(True)
        raw = self._tally(False)
        modules = {mod: {m: _figure(*v) for m, v in mets.items()} for mod, mets in sorted(acc.items())}

        def total(a: Mapping[str, Mapping[str, list[int]]], m: str) -> dict[str, Any]:
            return _figure(*(sum(a[mod][m][i] for mod in a) for i in range(3)))

        return {
            "modules": modules,
            "overall": {m: total(acc, m) for m in METRICS},
            "raw": {m: {k: v for k, v in total(raw, m).items() if k != "waived"} for m in METRICS},
            "waivers": [{"where": w.where, "category": w.category, "file": w.file,
                         "lines": [w.first, w.last if w.last < 1 << 62 else None],
                         "metric": w.metric, "pattern": w.pattern, "reason": w.reason,
                         "quote": list(w.quote),
                         "removed": self.waiver_use[w.where],
                         "removed_but_hit": self.waiver_hit[w.where]} for w in self.waivers],
            "unused_waivers": [w.where for w in self.waivers if not self.waiver_use[w.where]],
            "contradicted_waivers": [w.where for w in self.waivers if self.waiver_hit[w.where]],
        }

    def misses(self, metric: str) -> list[tuple[str, int, str]]:
        """Unwaived points (or lines) of ``metric`` never hit: (file, line, name)."""
        out = []
        for file, lines in sorted(self.files.items()):
            for n, sl in sorted(lines.items()):
                if metric == "line" and sl.executable and not sl.waived and not sl.hits:
                    out.append((file, n, sl.statements[0].comment))
                pts = sl.branches if metric == "branch" else sl.toggles if metric == "toggle" else []
                out += [(file, n, p.comment) for p in pts if not p.count and p not in self.waived]
        return out


def report_text(s: Mapping[str, Any]) -> str:
    """The per-module table, the overall and raw figures and the waivers, as printed."""

    def cell(f: Mapping[str, Any]) -> str:
        return f"{f['hit']:>6}/{f['total']:<6} {f['percent']:6.2f} %"

    head = f"{'module':<18}" + "".join(f"{m:>23}" for m in METRICS)
    lines = [head, "-" * len(head)]
    for mod, mets in s["modules"].items():
        lines.append(f"{mod:<18}" + "".join(f"{cell(mets[m]):>23}" for m in METRICS))
    lines.append("-" * len(head))
    lines.append(f"{'overall':<18}" + "".join(f"{cell(s['overall'][m]):>23}" for m in METRICS))
    lines.append(f"{'raw (no waivers)':<18}" + "".join(f"{cell(s['raw'][m]):>23}" for m in METRICS))
    for w in s["waivers"]:
        lines.append(f"waiver {w['where']}: {w['category']} {w['file']} {w['metric']}:"
                     f"{w['pattern']} removes {w['removed']} -- {w['reason']}")
    for where in s["unused_waivers"]:
        lines.append(f"WARNING: waiver {where} matches no coverage point: review it against the RTL")
    for w in s["waivers"]:
        if w["removed_but_hit"]:
            lines.append(f"WARNING: waiver {w['where']} removes {w['removed_but_hit']} line(s), "
                         "arm(s) or fully toggled bit(s) a run reached; review it")
    return "\n".join(lines) + "\n"
