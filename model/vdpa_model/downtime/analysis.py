# SPDX-License-Identifier: MIT
"""What a priced trace says beyond its downtimes: how much each unsourced profile value matters
(sensitivity), and how a measured trace compares with its pricing, phase by phase."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..trace import TraceRecord
from .profile import Profile
from .report import Result, compose
from .scheduler import PriceOptions, price


def evaluate(records: Sequence[TraceRecord], profile: Profile, *, label: str = "",
             options: PriceOptions | None = None, ram_copy: float = 0.0,
             probe_interval: float | None = None) -> Result:
    """Price ``records`` and compose the downtimes (times in seconds)."""
    return compose(price(records, profile, options), label, ram_copy, probe_interval)


@dataclasses.dataclass
class Sensitivity:
    """How the three downtimes move when one assumed value is divided and multiplied by a factor
    (each a (low, high) pair of relative changes against the default)."""

    key: str
    value: float
    factor: float
    downtime1: tuple[float, float]
    downtime2: tuple[float, float]
    guest_visible: tuple[float, float]

    @property
    def largest(self) -> float:
        return max(abs(x) for pair in (self.downtime1, self.downtime2, self.guest_visible) for x in pair)


def _rel(new: float | None, base: float | None) -> float:
    if not base or new is None:
        return 0.0
    return (new - base) / base


def sensitivity(records: Sequence[TraceRecord], profile: Profile, *, factor: float = 2.0,
                options: PriceOptions | None = None, ram_copy: float = 0.0) -> list[Sensitivity]:
    """Every assumed value of ``profile`` divided and multiplied by ``factor``, one at a time;
    rows for the values that change something, largest effect first."""
    base = evaluate(records, profile, options=options, ram_copy=ram_copy)
    rows = []
    for p in profile.assumed:
        if p.value == 0 or p.key.endswith((".slots", ".workers")) or p.key == "devices.parallel":
            continue
        lo = evaluate(records, profile.with_overrides({p.key: p.value / factor}), options=options,
                      ram_copy=ram_copy)
        hi = evaluate(records, profile.with_overrides({p.key: p.value * factor}), options=options,
                      ram_copy=ram_copy)
        row = Sensitivity(p.key, p.value, factor,
                          (_rel(lo.downtime1_max, base.downtime1_max),
                           _rel(hi.downtime1_max, base.downtime1_max)),
                          (_rel(lo.downtime2, base.downtime2), _rel(hi.downtime2, base.downtime2)),
                          (_rel(lo.guest_visible, base.guest_visible),
                           _rel(hi.guest_visible, base.guest_visible)))
        if row.largest > 0:
            rows.append(row)
    return sorted(rows, key=lambda r: -r.largest)


def render_sensitivity(rows: Sequence[Sensitivity], profile: Profile) -> str:
    out = [f"sensitivity to the assumed values of {profile.name} (each / and x the factor; "
           f"relative change of the downtime)",
           f"  {'parameter':<40}{'default':>12}{'#1 max':>18}{'#2':>18}{'guest':>18}"]
    for r in rows:
        def pair(x: tuple[float, float]) -> str:
            return f"{100 * x[0]:+.1f}/{100 * x[1]:+.1f} %"
        out.append(f"  {r.key:<40}{r.value:>12g}{pair(r.downtime1):>18}{pair(r.downtime2):>18}"
                   f"{pair(r.guest_visible):>18}")
    if not rows:
        out.append("  (no assumed value changes anything in this trace)")
    return "\n".join(out)


@dataclasses.dataclass
class PhaseComparison:
    device: str
    window: str
    phase: str
    measured: float
    priced: float

    @property
    def difference(self) -> float:
        """Priced relative to measured (0.05 = the pricing is 5 % above the measurement)."""
        return (self.priced - self.measured) / self.measured if self.measured else 0.0


def compare(records: Sequence[TraceRecord], profile: Profile, *,
            options: PriceOptions | None = None,
            predicted: Sequence[TraceRecord] | None = None) -> list[PhaseComparison]:
    """``records`` replayed as measured against their pricing by ``profile``, per device and
    phase; with ``predicted``, against the pricing of that trace instead (the model's trace of
    the same migration on the reference device). A phase only one side has counts as 0 on the
    other."""
    base = options or PriceOptions()
    measured = price(records, profile, dataclasses.replace(base, mode="measured"))
    priced = price(predicted if predicted is not None else records, profile,
                   dataclasses.replace(base, mode="priced"))
    by_key = {(p.device, p.window): p for p in priced.sections}
    out = []
    seen: set[tuple[str, str, str]] = set()
    for m in measured.sections:
        p = by_key.get((m.device, m.window))
        for ph, t in m.phases.items():
            out.append(PhaseComparison(m.device, m.window, ph, t,
                                       p.phases.get(ph, 0.0) if p is not None else 0.0))
            seen.add((m.device, m.window, ph))
    for p in priced.sections:
        for ph, t in p.phases.items():
            if (p.device, p.window, ph) not in seen:
                out.append(PhaseComparison(p.device, p.window, ph, 0.0, t))
    return out


def render_comparison(rows: Sequence[PhaseComparison]) -> str:
    out = [f"  {'device':<10}{'phase':<12}{'measured ms':>14}{'priced ms':>14}{'difference':>12}"]
    for r in rows:
        out.append(f"  {r.device:<10}{r.phase or '(none)':<12}{r.measured * 1e3:>14.6f}"
                   f"{r.priced * 1e3:>14.6f}{100 * r.difference:>+11.2f}%")
    return "\n".join(out)
