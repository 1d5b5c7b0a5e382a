# SPDX-License-Identifier: MIT
"""Verdicts: a scenario (or a measured trace) priced and checked against budgets.

:func:`judge` runs a scenario in its own configuration and, with ``staircase``, in every
cumulative preset from upstream QEMU to everything on, and checks each against the budgets. The
verdict is the scenario's own configuration's; the staircase says at which step the budgets
first hold. ``vdpa-dv downtime --scenario`` and the main job (``make run``) print it.

:func:`judge_measured` is the same for a trace a simulation measured (records with start/end
times or device cycles, e.g. the RTL pair's migration): replayed as measured, checked against
the budgets, and compared phase by phase with a pricing under a profile: of the model's own trace
of the same migration (issue 7's 5 % agreement between the RTL pair's measurement and the
``reference-rtl`` prediction), or of the measured trace itself. The main job judges the default
RTL device's migration with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from ..trace import TraceRecord
from .analysis import PhaseComparison, compare, evaluate
from .budget import Budget, Check, check_all
from .predict import Prediction, predict, staircase
from .profile import Profile
from .report import Result, fmt_ms
from .scenario import Scenario
from .scheduler import PriceOptions


@dataclasses.dataclass
class ScenarioVerdict:
    """A scenario judged in its own configuration, and optionally along the staircase."""

    scenario: Scenario
    judged: Prediction
    checks: list[Check]
    steps: list[Prediction]
    step_checks: list[list[Check]]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def first_holding(self) -> str | None:
        """The first staircase step at which every budget holds (and keeps holding)."""
        first = None
        for p, cs in zip(self.steps, self.step_checks, strict=True):
            first = (first or p.label) if all(c.ok for c in cs) else None
        return first

    @property
    def seconds(self) -> float:
        """Wall time of the flows and the pricing of every configuration judged."""
        preds = self.steps if any(p is self.judged for p in self.steps) else [*self.steps, self.judged]
        return sum(p.flows_s + p.pricing_s for p in preds)

    def staircase_lines(self) -> list[str]:
        """One line per step: the three downtimes and which budgets hold."""
        if not self.steps:
            return []
        w = max(len(p.label) for p in self.steps)
        out = [f"  {'step':<{w}}  {'#1 max ms':>13}{'#2 ms':>16}{'guest ms':>16}  budgets"]
        for p, cs in zip(self.steps, self.step_checks, strict=True):
            r = p.result
            broken = [c.budget.name for c in cs if not c.ok]
            verdict = "pass" if not broken else "FAIL (" + ", ".join(broken) + ")"
            out.append(f"  {p.label:<{w}}  {fmt_ms(r.downtime1_max):>13}{fmt_ms(r.downtime2):>16}"
                       f"{fmt_ms(r.guest_visible):>16}  {verdict}")
        return out


def judge(sc: Scenario, profile: Profile, budgets: list[Budget], *, with_staircase: bool = False,
          overrides: Mapping[str, bool] | None = None) -> ScenarioVerdict:
    """Price ``sc`` in its configuration (``overrides`` applied) and check the budgets; with
    ``with_staircase`` every cumulative preset too (the same overrides on each)."""
    own = sc.with_switches(**overrides) if overrides else sc
    steps = staircase(sc, profile, overrides=overrides) if with_staircase else []
    judged = next((p for p in steps if p.scenario.switches == own.switches), None)
    if judged is None:
        judged = predict(own, profile)
    return ScenarioVerdict(sc, judged, check_all(budgets, judged.result), steps,
                           [check_all(budgets, p.result) for p in steps])


@dataclasses.dataclass
class MeasuredVerdict:
    """A measured trace replayed, checked, and compared with its pricing."""

    result: Result
    checks: list[Check]
    comparison: list[PhaseComparison]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def worst_difference(self) -> float:
        """The largest relative difference of any phase between pricing and measurement."""
        return max((abs(c.difference) for c in self.comparison), default=0.0)


def judge_measured(records: Sequence[TraceRecord], profile: Profile, budgets: list[Budget], *,
                   label: str = "measured", copies: dict[str, int] | None = None,
                   measured_clock_mhz: float | None = None, ram_copy: float = 0.0,
                   predicted: Sequence[TraceRecord] | None = None) -> MeasuredVerdict:
    """The downtimes a simulation measured (``records`` with times or cycles), the budgets
    against them, and every phase's measurement against a pricing under ``profile``: of
    ``predicted`` (the model's trace of the same migration: issue 7's agreement), else of
    ``records`` themselves."""
    opts = PriceOptions(mode="measured", copies=copies or {}, measured_clock_mhz=measured_clock_mhz)
    result = evaluate(records, profile, label=label, options=opts, ram_copy=ram_copy)
    return MeasuredVerdict(result, check_all(budgets, result),
                           compare(records, profile, options=opts, predicted=predicted))
