# SPDX-License-Identifier: MIT
"""Merged HDL code coverage of rtl/ from Verilator's coverage files, in Python alone: read and
merge (points), waivers, figures per module (db), Cobertura XML (cobertura) and HTML (html).
``make cov`` (``python -m vdpa_tb.hdlcov``, cli.py) and ``make regress`` (vdpa_tb.regress)
both report through :func:`report`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import sim
from . import cobertura, html
from .db import CoverageDb, report_text
from .points import Accumulator, Point, Raw, design_points, merge, pack, read_dat, write_dat
from .waivers import CATEGORIES, Waiver, WaiverError, load_waivers, parse_waivers

WAIVER_FILE = sim.RTL_DIR / "coverage_waivers.txt"

__all__ = [
    "CATEGORIES", "WAIVER_FILE", "Accumulator", "CoverageDb", "Point", "Raw", "Waiver",
    "WaiverError", "design_points", "load_waivers", "merge", "pack", "parse_waivers",
    "read_dat", "report", "report_text", "write_dat",
]


def report(raw: Mapping[str, int], out: Path, waivers: Iterable[Waiver] = (),
           root: Path = sim.ROOT, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write the merged coverage under ``out``: merged.dat (Verilator's format), summary.json,
    cobertura.xml (line, branch), cobertura-toggle.xml and index.html with a page per source.
    Returns the summary (figures per module and overall, raw figures, waivers)."""
    db = CoverageDb(design_points(raw), waivers)
    s = db.summary()
    out.mkdir(parents=True, exist_ok=True)
    write_dat(raw, out / "merged.dat")
    s["cobertura"] = {"line_branch": cobertura.write(db, out / "cobertura.xml", root),
                      "toggle": cobertura.write(db, out / "cobertura-toggle.xml", root, toggle=True)}
    s.update(extra or {})
    (out / "summary.json").write_text(json.dumps(s, indent=1) + "\n")
    html.write(db, s, out, root)
    return s
