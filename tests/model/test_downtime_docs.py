# SPDX-License-Identifier: MIT
"""docs/downtime.md and docs/migration.md hold the tables the model computes today: the assumed
profile values, the calibration against the published figures, the talk's setups along the
staircase and their sensitivity to the assumed values."""

from __future__ import annotations

from pathlib import Path

from vdpa_model.downtime import params_doc

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_tables_are_current() -> None:
    assert params_doc.DOC_PATH == ROOT / "docs" / "downtime.md"
    stale = [str(p.relative_to(ROOT)) for p, (old, new) in params_doc.regenerate().items() if old != new]
    assert not stale, f"stale: {stale}; run: {params_doc.COMMAND}"


def test_every_section_has_its_markers_in_its_document() -> None:
    for path, name, _ in params_doc.SECTIONS:
        text = path.read_text()
        assert params_doc.begin(name) in text and params_doc.end(name) in text, (path, name)
