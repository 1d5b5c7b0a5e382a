# SPDX-License-Identifier: MIT
"""Cobertura XML (coverage-04.dtd), the format CI servers read (GitLab, Jenkins' Coverage
plugin, Azure DevOps, codecov), from the merged coverage with waivers applied.

``cobertura.xml``: line and branch coverage. Each executable, unwaived source line is a
``<line>`` with the hits of its statement; a line with branch arms carries them as
``condition-coverage``, so ``branch-rate`` is the branch figure of the summary.

``cobertura-toggle.xml``: toggle coverage in the same shape, since Cobertura has no toggle
metric. Each signal's declaration line is a ``<line>`` whose conditions are its bits in both
directions: ``branch-rate`` is the toggle figure, and a line counts as hit only when every one
of its bits toggled both ways (``line-rate``: the share of fully toggled signals).

Waived lines and points are left out, as lcov leaves out LCOV_EXCL lines.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from .db import CoverageDb, SourceLine
from .points import Point

VERSION = "vdpa-dv hdlcov 1"


def _rate(hit: int, total: int) -> str:
    return f"{hit / total:.4f}" if total else "1"


def _cond(points: list[Point]) -> str:
    hit = sum(p.count > 0 for p in points)
    return f"{round(100 * hit / len(points))}% ({hit}/{len(points)})"


class _Counter:
    def __init__(self) -> None:
        self.lines = [0, 0]
        self.branches = [0, 0]

    def add(self, line_hit: bool, arms: Iterable[Point]) -> None:
        self.lines[0] += line_hit
        self.lines[1] += 1
        for p in arms:
            self.branches[0] += p.count > 0
            self.branches[1] += 1

    def attrs(self, el: ET.Element) -> None:
        el.set("line-rate", _rate(*self.lines))
        el.set("branch-rate", _rate(*self.branches))
        el.set("complexity", "0")


def _rows(db: CoverageDb, sl: SourceLine, toggle: bool) -> tuple[int, list[Point]] | None:
    """(hits, conditions) of a line in the chosen view, or None if it has no place there."""
    if toggle:
        bits = [p for p in sl.toggles if p not in db.waived]
        return (min(p.count for p in bits), bits) if bits else None
    if not sl.executable or sl.waived:
        return None
    return sl.hits, [p for p in sl.branches if p not in db.waived]


def write(db: CoverageDb, path: Path, source_root: Path, toggle: bool = False) -> dict[str, float]:
    """Write one view (line+branch, or toggle) to ``path``; return its rates."""
    root = ET.Element("coverage")
    ET.SubElement(ET.SubElement(root, "sources"), "source").text = str(source_root)
    classes_by_pkg: dict[str, ET.Element] = {}
    total = _Counter()
    per_pkg: dict[str, _Counter] = {}
    pkgs = ET.SubElement(root, "packages")
    for file, lines in sorted(db.files.items()):
        pkg_name = str(Path(file).parent).replace("/", ".")
        if pkg_name not in classes_by_pkg:
            pkg = ET.SubElement(pkgs, "package", name=pkg_name)
            classes_by_pkg[pkg_name] = ET.SubElement(pkg, "classes")
            per_pkg[pkg_name] = _Counter()
        modules = sorted({sl.module for sl in lines.values() if sl.module})
        cls = ET.Element("class", name=" ".join(modules) or Path(file).stem, filename=file)
        ET.SubElement(cls, "methods")
        lines_el = ET.SubElement(cls, "lines")
        counter = _Counter()
        for n, sl in sorted(lines.items()):
            row = _rows(db, sl, toggle)
            if row is None:
                continue
            hits, conds = row
            el = ET.SubElement(lines_el, "line", number=str(n), hits=str(hits))
            if conds:
                el.set("branch", "true")
                el.set("condition-coverage", _cond(conds))
            else:
                el.set("branch", "false")
            for c in (counter, per_pkg[pkg_name], total):
                c.add(hits > 0, conds)
        if counter.lines[1]:
            counter.attrs(cls)
            classes_by_pkg[pkg_name].append(cls)
    for pkg in pkgs:
        per_pkg[pkg.get("name", "")].attrs(pkg)
    total.attrs(root)
    root.set("lines-covered", str(total.lines[0]))
    root.set("lines-valid", str(total.lines[1]))
    root.set("branches-covered", str(total.branches[0]))
    root.set("branches-valid", str(total.branches[1]))
    root.set("version", VERSION)
    root.set("timestamp", str(int(time.time() * 1000)))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(root)
    path.write_text('<?xml version="1.0" ?>\n<!DOCTYPE coverage SYSTEM '
                    '"http://cobertura.sourceforge.net/xml/coverage-04.dtd">\n'
                    + ET.tostring(root, encoding="unicode") + "\n")
    return {"line-rate": float(root.get("line-rate", 0)),
            "branch-rate": float(root.get("branch-rate", 0))}
