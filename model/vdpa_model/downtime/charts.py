# SPDX-License-Identifier: MIT
"""PNG charts of downtime results. matplotlib is imported here, lazily, so the model and the
pricing run without it.

* :func:`staircase`: downtime #1 (largest device) and downtime #2 per result, in the order
  given: the optimisation staircase when the results are cumulative presets.
* :func:`phase_bars`: per result a stacked bar of what each step costs, downtime #1's steps
  (Flow A, one device) beside downtime #2's (B and C 4.2, all devices), as shares of the bar
  with its total on top when there are several results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .report import MS, Result, phase_key


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def staircase(results: Sequence[Result], path: Path | str, title: str = "",
              budgets_ms: Sequence[tuple[str, float]] = ()) -> Path:
    """Downtime #1 and #2 per result on a log scale, with budget lines ``(label, ms)``."""
    plt = _pyplot()
    labels = [r.label or f"trace {i + 1}" for i, r in enumerate(results)]
    d1 = [max(r.downtime1_max * MS, 1e-3) for r in results]
    d2 = [max(r.downtime2 * MS, 1e-3) for r in results]
    gv = [max((r.guest_visible or 0.0) * MS, 1e-3) for r in results]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 + 0.9 * len(results)), 4.8))
    x = list(range(len(results)))
    ax.step(x, d1, where="mid", marker="o", label="downtime #1 (Flow A, largest device)")
    ax.step(x, d2, where="mid", marker="s", label="downtime #2 (B + C4.2, all devices)")
    if any(r.guest_visible is not None for r in results):
        ax.plot(x, gv, linestyle=":", marker=".", color="grey", label="guest-visible")
    for name, ms in budgets_ms:
        ax.axhline(ms, color="red", linewidth=0.8, linestyle="--")
        ax.annotate(f"per-VM budget: {name} ({ms:g} ms)", (x[0] if x else 0, ms), fontsize=7, color="red",
                    xytext=(0, 2), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title(title or "downtime per step")
    ax.grid(True, which="both", axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


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
            totals[p.phase] = totals.get(p.phase, 0.0) + v * MS
        values.append(d)
    ranked = sorted(totals, key=lambda k: -totals[k])
    shown = sorted(ranked[:keep], key=phase_key)
    rest = set(ranked[keep:])
    names = [*shown, *(["other steps"] if rest else [])]
    rows = [[d.get(ph, 0.0) for ph in shown] + ([sum(d.get(ph, 0.0) for ph in rest)] if rest else [])
            for d in values]
    return names, rows


def _short_ms(ms: float) -> str:
    """A total for a bar label: 3 significant digits, in ms below a second, else in s."""
    return f"{ms:.3g} ms" if ms < 1000 else f"{ms / 1000:,.3g} s" if ms < 1e6 else f"{ms / 1000:,.0f} s"


def phase_bars(results: Sequence[Result], path: Path | str, title: str = "", keep: int = 12) -> Path:
    """Stacked bars per result: downtime #1's steps (left) and downtime #2's (right). Along a
    staircase the totals span orders of magnitude, so with more than one result each bar shows
    its steps' shares and carries its total in ms on top; one result is drawn in ms."""
    plt = _pyplot()
    labels = [r.label or f"trace {i + 1}" for i, r in enumerate(results)]
    shares = len(results) > 1
    fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 2.0 + 1.6 * len(results)), 5.6))
    for ax, windows, per_device, sub in (
            (axes[0], {"A"}, True, "downtime #1: Flow A steps (largest device)"),
            (axes[1], {"B", "C4.2"}, False, "downtime #2: B and C4.2 steps (all devices)")):
        names, rows = _stack(results, windows, per_device, keep)
        totals = [sum(row) for row in rows]
        colours = plt.get_cmap("tab20")
        bottom = [0.0] * len(results)
        for j, name in enumerate(names):
            vals = [(100.0 * row[j] / tot if tot else 0.0) if shares else row[j]
                    for row, tot in zip(rows, totals, strict=True)]
            ax.bar(range(len(results)), vals, bottom=bottom, label=name, color=colours(j % 20))
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        if shares:
            for x, (top, tot) in enumerate(zip(bottom, totals, strict=True)):
                ax.annotate(_short_ms(tot), (x, top), ha="center", va="bottom", fontsize=7,
                            xytext=(0, 2), textcoords="offset points")
            ax.set_ylim(0, 112)
        ax.set_xticks(range(len(results)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("% of the bar (its total on top)" if shares else "ms")
        ax.set_title(sub, fontsize=9)
        if names:
            ax.legend(fontsize=7, ncols=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title or "what each step costs")
    return _save(plt, fig, path)
