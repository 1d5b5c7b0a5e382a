# SPDX-License-Identifier: MIT
"""Verdicts: a measured trace checked against budgets and compared with its pricing (the seam the
RTL pair's migration will use), and a scenario judged along its staircase."""

from __future__ import annotations

import pytest

from vdpa_model.downtime.budget import load_budgets
from vdpa_model.downtime.profile import load_profile
from vdpa_model.downtime.scenario import load_scenario
from vdpa_model.downtime.verdict import judge, judge_measured
from vdpa_model.trace import Layer, Trace

CLOCK_MHZ = 100.0  # 10 ns per cycle


def measured_trace(create_cycles: int) -> Trace:
    """A device pair whose every fw record carries the cycles a simulation measured."""
    t = Trace()
    with t.in_phase("B1", "src0"), t.span(Layer.OP, "suspend"):
        t.add(Layer.FW, "vq_modify", cycles=5, vqs=1)
    with t.in_phase("C4.2.9", "dst0"), t.span(Layer.OP, "set_status"):
        for _ in range(4):
            t.add(Layer.FW, "vq_create", cycles=create_cycles, qsize=256)
    return t


def test_a_measured_trace_is_judged_on_its_measurements() -> None:
    rtl = load_profile("reference-rtl")
    budgets = load_budgets()
    # 4 VQ creations of 2.5 M cycles at 100 MHz: 100 ms on the destination, over the 100 ms budget
    slow = judge_measured(measured_trace(2_500_000).records, rtl, budgets, measured_clock_mhz=CLOCK_MHZ)
    assert slow.result.mode == "measured"
    assert slow.result.pairs[0].startup == pytest.approx(4 * 2_500_000 / (CLOCK_MHZ * 1e6), rel=1e-3)
    assert not slow.ok
    assert [c.budget.name for c in slow.checks if not c.ok] == ["per-device teardown + startup"]
    fast = judge_measured(measured_trace(9).records, rtl, budgets, measured_clock_mhz=CLOCK_MHZ)
    assert fast.ok


def test_the_comparison_with_the_pricing_finds_a_disagreement() -> None:
    """The RTL profile prices a 256-entry CREATE_VQ run alone at its measured wall (the parent's
    register accesses around the device's cycles): a measurement of that many cycles agrees with
    it, one of twice as many is far off (the 5 % agreement check)."""
    rtl = load_profile("reference-rtl")
    budgets = load_budgets()
    each = rtl.item(Layer.FW, "vq_create").rules[-1].run.seconds({"qsize": 256}) * rtl.clock_mhz * 1e6  # type: ignore[union-attr]
    close = judge_measured(measured_trace(round(each)).records, rtl, budgets,
                           measured_clock_mhz=rtl.clock_mhz)
    far = judge_measured(measured_trace(round(2 * each)).records, rtl, budgets,
                         measured_clock_mhz=rtl.clock_mhz)
    (near,) = [c for c in close.comparison if c.phase == "C4.2.9"]
    (off,) = [c for c in far.comparison if c.phase == "C4.2.9"]
    assert abs(near.difference) < 0.01 and off.measured > off.priced and abs(off.difference) > 0.05
    assert far.worst_difference >= abs(off.difference)


def test_a_scenario_judged_along_its_staircase() -> None:
    v = judge(load_scenario("talk-128g"), load_profile("mlx5-cx6dx"), load_budgets(), with_staircase=True)
    assert v.judged is v.steps[-1] and v.ok
    assert not all(c.ok for c in v.step_checks[0])  # upstream QEMU misses the talk's goals
    assert v.first_holding is not None and v.first_holding != "upstream"
    lines = v.staircase_lines()
    assert len(lines) == 1 + len(v.steps) and lines[1].split()[0] == "upstream"


def test_a_measured_trace_is_compared_with_the_models_prediction_phase_by_phase() -> None:
    """issue 7's agreement: the measurement against the pricing of another trace (the model's
    of the same migration), phases matched by device and step; a step only the prediction has
    shows with nothing measured."""
    rtl = load_profile("reference-rtl")
    each = rtl.item(Layer.FW, "vq_create").rules[-1].run.seconds({"qsize": 256})  # type: ignore[union-attr]
    measured = measured_trace(round(each * rtl.clock_mhz * 1e6))
    model = Trace()
    with model.in_phase("C4.2.9", "dst0"), model.span(Layer.OP, "set_status"):
        for _ in range(5):  # the model predicts one creation more than the device did
            model.add(Layer.FW, "vq_create", qsize=256)
    with model.in_phase("GC", "dst0"):
        model.add(Layer.FW, "mr_indirect_destroy", keys=1)
    v = judge_measured(measured.records, rtl, load_budgets(), measured_clock_mhz=rtl.clock_mhz,
                       predicted=model.records)
    rows = {(c.device, c.phase): c for c in v.comparison}
    op = rtl.item(Layer.OP, "set_status").rules[-1].run.seconds({})  # type: ignore[union-attr]
    assert rows[("dst0", "C4.2.9")].measured == pytest.approx(op + 4 * each)
    assert rows[("dst0", "C4.2.9")].priced == pytest.approx(op + 5 * each)
    assert rows[("src0", "B1")].priced == 0  # the model's trace has no source at all
    assert rows[("dst0", "GC")].measured == 0 and rows[("dst0", "GC")].priced > 0
