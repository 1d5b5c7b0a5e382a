# SPDX-License-Identifier: MIT
"""The charts' own decisions: value labels that do not cover each other, budgets drawn against
the figure they judge, durations written in the unit a reader expects."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest

from vdpa_model.downtime import charts
from vdpa_model.downtime.budget import load_budgets


@pytest.mark.parametrize(("ms", "text"), [
    (0.5, "500 µs"), (21.28, "21.3 ms"), (999.0, "999 ms"), (3049.7, "3.05 s"),
    (385_825.0, "6.43 min"), (9_479_122.9, "158 min")])
def test_durations_in_the_unit_a_reader_expects(ms: float, text: str) -> None:
    assert charts.fmt_time(ms) == text


def test_each_budget_is_drawn_against_the_figure_it_judges(tmp_path: Path) -> None:
    """The talk's per-device budget judges a device's teardown + startup, the per-VM one the
    guest-visible downtime; a phase budget has no line on the staircase."""
    extra = tmp_path / "b.toml"
    extra.write_text('format = 1\n[[budget]]\nname = "DRIVER_OK"\nwhat = "phase"\nphase = "C4.2.9"\n'
                     'per = "device"\nlimit_ms = 20\n[[budget]]\nname = "switch"\nwhat = "downtime1"\n'
                     'per = "device"\nlimit_ms = 50\n')
    lines = charts.budget_lines([*load_budgets(), *load_budgets(extra)])
    assert [(b.label, b.ms, b.series) for b in lines] == [
        ("per-device teardown + startup", 100.0, "pair"), ("per-VM blackout", 1000.0, "guest_visible"),
        ("switch", 50.0, "downtime1")]
    assert {b.series for b in lines} <= {key for key, *_ in charts.SERIES}


class Recorder:
    """Stands for a matplotlib Axes: keeps where each annotation went, in points."""

    def __init__(self) -> None:
        self.labels: list[tuple[str, float, float, float]] = []

    def annotate(self, text: str, xy: tuple[float, float], xytext: tuple[float, float], **_: Any) -> None:
        self.labels.append((text, xy[1], xytext[0], xytext[1]))


@pytest.mark.parametrize("values", [
    [3049.7, 3610.0, 4375.8, 7223.4],      # upstream, THP: four values within half a decade
    [100.0, 101.0, 102.0],                 # three nearly equal values
    [0.01, 10.0, 10_000.0],                # far apart: every label above its point
])
def test_value_labels_cover_neither_labels_nor_markers(values: list[float]) -> None:
    ax = Recorder()
    per_decade = 60.0  # points per decade of the axis
    charts._label_points(ax, 0, [(v, "k") for v in values], per_decade)
    assert sorted(t for t, *_ in ax.labels) == sorted(charts.fmt_time(v) for v in values)
    centre, sides = [], {7: [], -7: []}  # type: dict[int, list[float]]
    for _, y, dx, dy in ax.labels:
        pos = math.log10(y) * per_decade + dy
        if dx:
            sides[int(dx)].append(pos)
        else:
            centre.append(pos)
            assert all(abs(pos - math.log10(v) * per_decade) >= 6.5 for v in values if v != y)
    for column in (centre, *sides.values()):
        column.sort()
        assert all(b - a >= 8.5 for a, b in itertools.pairwise(column))
    if values[-1] / values[0] > 1e3:
        assert all(dy > 0 for *_, dy in ax.labels)
