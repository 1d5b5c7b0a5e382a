# SPDX-License-Identifier: MIT
"""PNG charts of downtime results. matplotlib is imported here, lazily, so the model and the
pricing run without it.

* :func:`staircase`: downtime #1 (largest device) and downtime #2 per result, in the order
  given: the optimisation staircase when the results are cumulative presets.
* :func:`phase_bars`: per result a stacked bar of what each step costs, downtime #1's steps
  (Flow A, one device) beside downtime #2's (B and C 4.2, all devices).
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


def phase_bars(results: Sequence[Result], path: Path | str, title: str = "", keep: int = 12) -> Path:
    """Stacked bars per result: downtime #1's steps (left) and downtime #2's (right)."""
    plt = _pyplot()
    labels = [r.label or f"trace {i + 1}" for i, r in enumerate(results)]
    fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 2.0 + 1.6 * len(results)), 5.2))
    for ax, windows, per_device, sub in (
            (axes[0], {"A"}, True, "downtime #1: Flow A steps (largest device)"),
            (axes[1], {"B", "C4.2"}, False, "downtime #2: B and C4.2 steps (all devices)")):
        names, rows = _stack(results, windows, per_device, keep)
        colours = plt.get_cmap("tab20")
        bottom = [0.0] * len(results)
        for j, name in enumerate(names):
            vals = [row[j] for row in rows]
            ax.bar(range(len(results)), vals, bottom=bottom, label=name, color=colours(j % 20))
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_xticks(range(len(results)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel("ms")
        ax.set_title(sub, fontsize=9)
        if names:
            ax.legend(fontsize=7, ncols=2)
    fig.suptitle(title or "what each step costs")
    return _save(plt, fig, path)
