# SPDX-License-Identifier: MIT
"""PNG charts of downtime results. matplotlib is imported here, lazily, so the model and the
pricing run without it.

Along the optimisation staircase the downtimes span four orders of magnitude (minutes for
upstream QEMU with fragmented host memory, milliseconds with everything on), so:

* :func:`staircase`: per result (a cumulative preset) downtime #1 (largest device), downtime #2
  (all devices), the worst device's teardown + startup and the guest-visible downtime, on a
  logarithmic axis labelled in ms and s, every point with its value written beside it; each
  budget drawn as a line in the colour of the figure it judges, and the steps at which every
  budget holds shaded.
* :func:`phase_bars`: per result a horizontal bar of what each step costs, downtime #1's steps
  (Flow A, one device) beside downtime #2's (B and C 4.2, all devices): shares of the bar, each
  large share labelled with its step id, the bar's total written at its end, one colour per step
  across both panels and a legend that says what each step is (trace.STEP_NAMES). One result is
  drawn in ms instead of shares.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..trace import STEP_NAMES
from .report import MS, Result, phase_key

if TYPE_CHECKING:
    from .budget import Budget
    from .verdict import ScenarioVerdict

#: The figures the staircase plots: key, legend label, colour, marker, where its values go.
SERIES: tuple[tuple[str, str, str, str, int], ...] = (
    ("downtime2", "downtime #2: B + C4.2, all devices", "tab:orange", "s", 8),
    ("pair", "teardown + startup, worst device", "tab:purple", "D", -12),
    ("guest_visible", "guest-visible (incl. final RAM copy)", "tab:grey", "o", 8),
    ("downtime1", "downtime #1: Flow A, largest device", "tab:blue", "^", -12),
)


@dataclasses.dataclass(frozen=True)
class BudgetLine:
    """A budget as the staircase draws it: ``series`` is the key of :data:`SERIES` it judges."""

    label: str
    ms: float
    series: str


def budget_lines(budgets: Sequence[Budget]) -> list[BudgetLine]:
    """The budgets the staircase can draw, each against the figure it judges: per-VM downtime #2,
    a device's teardown + startup, the largest device's downtime #1, guest-visible; per-VM
    downtime #1 and phase budgets have no line of their own."""
    series = {("downtime2", "vm"): "downtime2", ("downtime2", "device"): "pair",
              ("downtime1", "device"): "downtime1", ("guest_visible", "vm"): "guest_visible"}
    return [BudgetLine(b.name, b.limit * MS, series[(b.what, b.per)]) for b in budgets
            if (b.what, b.per) in series]


def scenario_charts(v: ScenarioVerdict, out: Path, profile: str, budgets: Sequence[Budget]) -> list[Path]:
    """A judged scenario's PNGs in ``out``: ``NAME-staircase.png`` (when it has a staircase) and
    ``NAME-phases.png``, titled with the VM and the host memory it was priced on."""
    sc = v.scenario
    title = (f"{sc.name}: {sc.ram / (1 << 30):g} GiB guest, {sc.devices} device(s) x {sc.data_vqs} "
             f"data VQs; profile {profile}\nhost memory: {sc.host.describe(sc.page_size)}")
    results = [p.result for p in v.steps] or [v.judged.result]
    written = []
    if v.steps:
        holds = [all(c.ok for c in cs) for cs in v.step_checks]
        written.append(staircase(results, out / f"{sc.name}-staircase.png", title, budget_lines(budgets),
                                 holds))
    written.append(phase_bars(results, out / f"{sc.name}-phases.png", title))
    return written


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fmt_time(ms: float) -> str:
    """A duration in 2-3 significant digits: µs, ms, s or min."""
    if ms < 1:
        return f"{ms * 1e3:.3g} µs"
    if ms < 1e3:
        return f"{ms:.3g} ms"
    if ms < 60e3:
        return f"{ms / 1e3:.3g} s"
    return f"{ms / 60e3:,.3g} min" if ms < 6e6 else f"{ms / 60e3:,.0f} min"


def _values(r: Result) -> dict[str, float | None]:
    return {"downtime1": r.downtime1_max * MS, "downtime2": r.downtime2 * MS,
            "pair": max((p.total for p in r.pairs), default=0.0) * MS,
            "guest_visible": None if r.guest_visible is None else r.guest_visible * MS}


def staircase(results: Sequence[Result], path: Path | str, title: str = "",
              budgets: Sequence[BudgetLine] = (), holds: Sequence[bool] | None = None) -> Path:
    """The staircase chart (module docstring). ``holds`` says per result whether every budget
    held; those steps are shaded."""
    plt = _pyplot()
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    labels = [r.label or f"trace {i + 1}" for i, r in enumerate(results)]
    x = list(range(len(results)))
    fig, ax = plt.subplots(figsize=(max(8.0, 2.5 + 1.05 * len(results)), 6.2))
    if holds is not None:
        for i, ok in enumerate(holds):
            if ok:
                ax.axvspan(i - 0.5, i + 0.5, color="tab:green", alpha=0.08, linewidth=0)
    shown = []
    lo, hi = math.inf, 0.0
    points: list[list[tuple[float, str]]] = [[] for _ in results]
    for key, label, colour, marker, _ in SERIES:
        vals = [_values(r)[key] for r in results]
        if all(v is None for v in vals):
            continue
        ys = [max(v or 0.0, 1e-3) for v in vals]
        lo, hi = min(lo, *ys), max(hi, *ys)
        ax.plot(x, ys, marker=marker, color=colour, label=label, linewidth=1.4, markersize=5,
                linestyle="--" if key == "pair" else "-")
        for xi, y in enumerate(ys):
            points[xi].append((y, colour))
        shown.append(key)
    colours = {key: colour for key, _, colour, _, _ in SERIES}
    for b in budgets:
        if b.series not in shown:
            continue
        lo, hi = min(lo, b.ms), max(hi, b.ms)
        ax.axhline(b.ms, color=colours[b.series], linewidth=1.0, linestyle=":")
        ax.annotate(f"budget: {b.label} < {fmt_time(b.ms)}", (-0.45, b.ms), ha="left",
                    va="bottom", fontsize=7, color=colours[b.series], xytext=(0, 1),
                    textcoords="offset points")
    ax.set_yscale("log")
    if hi > 0:
        decades = [10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)]
        ax.set_ylim(decades[0] * 3, decades[-1] / 3)
        ax.yaxis.set_major_locator(FixedLocator(decades))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g} ms" if v < 1e3 else f"{v / 1e3:g} s"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        height_pts = ax.get_position().height * fig.get_figheight() * 72
        per_decade = height_pts / (math.log10(decades[-1] / 3) - math.log10(decades[0] * 3))
        for xi, pts in enumerate(points):
            _label_points(ax, xi, pts, per_decade)
    ax.set_xlim(-0.5, len(results) - 0.5)
    ax.set_xticks(x, labels, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("downtime (log scale)")
    ax.set_title(title or "downtime per step", fontsize=10)
    ax.grid(True, which="major", axis="y", alpha=0.35)
    ax.grid(True, which="minor", axis="y", alpha=0.1)
    handles, names = ax.get_legend_handles_labels()
    if holds is not None and any(holds):
        import matplotlib.patches as mpatches

        handles.append(mpatches.Patch(color="tab:green", alpha=0.15))
        names.append("every budget holds")
    ax.legend(handles, names, fontsize=7.5, loc="upper right", framealpha=0.9)
    return _save(plt, fig, path)


def _label_points(ax: Any, x: int, points: Sequence[tuple[float, str]], pts_per_decade: float) -> None:
    """Write each point's value beside it: above or below it, or to its side, wherever the label
    covers neither another label nor another point's marker of that step."""
    logs = [math.log10(y) * pts_per_decade for y, _ in points]  # in points on the page
    placed: dict[str, list[float]] = {"centre": [], "right": [], "left": []}
    for (y, colour), at in sorted(zip(points, logs, strict=True), key=lambda p: -p[1]):
        chosen = None
        for side, dy, column in (("above", 9.0, "centre"), ("below", -10.0, "centre"),
                                 ("right", 0.0, "right"), ("left", 0.0, "left")):
            pos = at + dy
            clear_labels = all(abs(pos - q) >= 8.5 for q in placed[column])
            clear_markers = column != "centre" or all(abs(pos - m) >= 6.5 for m in logs if m != at)
            if clear_labels and clear_markers:
                chosen = (side, dy, column, pos)
                break
        side, dy, column, pos = chosen or ("right", 0.0, "right", at)
        placed[column].append(pos)
        dx, ha = {"above": (0, "center"), "below": (0, "center"), "right": (7, "left"),
                  "left": (-7, "right")}[side]
        ax.annotate(fmt_time(y), (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha,
                    va="center", fontsize=6.5, color=colour,
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75})


def _save(plt: Any, fig: Any, path: Path | str) -> Path:
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _stack(results: Sequence[Result], windows: set[str], per_device: bool,
           keep: int) -> tuple[list[str], list[list[float]]]:
    """Phases worth a colour of their own, and each result's ms per phase (the rest as 'other')."""
    values: list[dict[str, float]] = []
    totals: dict[str, float] = {}
    for r in results:
        d: dict[str, float] = {}
        for p in r.phases:
            if p.window not in windows:
                continue
            v = max(p.per_device.values(), default=0.0) if per_device else p.seconds
            d[p.phase] = d.get(p.phase, 0.0) + v * MS
        values.append(d)
        # rank by each step's share of its bar, so a step that dominates a cheap bar still
        # gets its colour next to one that is large only in the expensive bars
        tot = sum(d.values())
        for ph, v in d.items():
            totals[ph] = max(totals.get(ph, 0.0), v / tot if tot else 0.0)
    ranked = sorted(totals, key=lambda k: -totals[k])
    shown = sorted(ranked[:keep], key=phase_key)
    rest = set(ranked[keep:])
    names = [*shown, *(["other steps"] if rest else [])]
    rows = [[d.get(ph, 0.0) for ph in shown] + ([sum(d.get(ph, 0.0) for ph in rest)] if rest else [])
            for d in values]
    return names, rows


def _colour_map(plt: Any, phases: Sequence[str]) -> dict[str, Any]:
    """One colour per step over both panels, none of them grey; 'other steps' light grey."""
    palette = [plt.get_cmap("tab20")(i) for i in range(20) if i not in (14, 15)]
    palette += [plt.get_cmap("tab20b")(i) for i in range(0, 20, 2)]
    ordered = sorted({p for p in phases if p != "other steps"}, key=phase_key)
    out: dict[str, Any] = {p: palette[i % len(palette)] for i, p in enumerate(ordered)}
    out["other steps"] = (0.85, 0.85, 0.85, 1.0)
    return out


def phase_bars(results: Sequence[Result], path: Path | str, title: str = "", keep: int = 10) -> Path:
    """The breakdown chart (module docstring)."""
    plt = _pyplot()
    labels = [r.label or f"trace {i + 1}" for i, r in enumerate(results)]
    shares = len(results) > 1
    panels = (({"A"}, True, "downtime #1: Flow A steps, largest device"),
              ({"B", "C4.2"}, False, "downtime #2: B and C4.2 steps, all devices"))
    stacks = [_stack(results, windows, per_device, keep) for windows, per_device, _ in panels]
    colours = _colour_map(plt, [n for names, _ in stacks for n in names])
    height = 1.6 + 0.42 * len(results) + 0.16 * max(len(names) for names, _ in stacks)
    fig, axes = plt.subplots(1, 2, figsize=(15.0, max(4.5, height)), sharey=True)
    y = list(range(len(results)))
    for ax, (names, rows), (_, _, sub) in zip(axes, stacks, panels, strict=True):
        totals = [sum(row) for row in rows]
        left = [0.0] * len(results)
        for j, name in enumerate(names):
            vals = [(100.0 * row[j] / tot if tot else 0.0) if shares else row[j]
                    for row, tot in zip(rows, totals, strict=True)]
            legend = name if name == "other steps" else f"{name} {STEP_NAMES.get(name, '')}".strip()
            ax.barh(y, vals, left=left, color=colours[name], label=legend, height=0.7,
                    edgecolor="white", linewidth=0.5)
            for yi, (l0, v) in enumerate(zip(left, vals, strict=True)):
                share = v if shares else (100.0 * v / totals[yi] if totals[yi] else 0.0)
                if share >= 9 and name != "other steps":
                    ax.text(l0 + v / 2, yi, name, ha="center", va="center", fontsize=7)
            left = [a + b for a, b in zip(left, vals, strict=True)]
        for yi, (end, tot) in enumerate(zip(left, totals, strict=True)):
            ax.text(end + (1.0 if shares else 0.01 * max(left, default=1.0)), yi, fmt_time(tot),
                    va="center", fontsize=7.5)
        if shares:
            ax.set_xlim(0, 118)
            ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("% of the bar (its total at its end)" if shares else "ms")
        ax.set_title(sub, fontsize=9)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.09 if shares else -0.12),
                  ncols=2, frameon=False)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].invert_yaxis()  # the first result on top (the axes share y: once for both)
    fig.suptitle(title or "what each step costs", fontsize=10)
    return _save(plt, fig, path)
