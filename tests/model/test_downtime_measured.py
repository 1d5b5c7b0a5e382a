# SPDX-License-Identifier: MIT
"""A measured migration summarised: cycles per step from the records' times (gaps between
top-level records not counted), per op, device cycles per step, and the network gap."""

from __future__ import annotations

from vdpa_model.downtime.measured import render, summarize
from vdpa_model.downtime.profile import load_profile
from vdpa_model.trace import Layer, Trace

MHZ = 100.0          # a 10 ns cycle
CYCLE_PS = 10_000


def test_a_measured_trace_in_cycles() -> None:
    now = [0]
    t = Trace(clock=lambda: now[0])

    def at(cycle: int) -> None:
        now[0] = cycle * CYCLE_PS

    with t.in_phase("B1", "src0"):
        at(100)
        with t.span(Layer.IOCTL, "VHOST_VDPA_SUSPEND"), t.span(Layer.OP, "suspend"):
            rec = t.add(Layer.FW, "vq_modify", vq=0, flags=0)
            at(130)
            rec.t_end_ps, rec.cycles = now[0], 25
    at(1000)  # Python's time between steps takes no simulated time in the replay
    with (t.in_phase("C4.2.9", "dst0"), t.span(Layer.IOCTL, "VHOST_VDPA_SET_STATUS"),
          t.span(Layer.OP, "set_status")):
        at(1070)
    with t.in_phase("C4.2.9", "dst0"), t.span(Layer.OP, "set_status"):
        at(1100)
    s = summarize(t.records, load_profile("reference-rtl"), MHZ, tx_last_ps=120 * CYCLE_PS,
                  tx_first_ps=1090 * CYCLE_PS, label="hand-made")
    assert s["phases"] == {"src0": {"B1": 30}, "dst0": {"C4.2.9": 70 + 30}}
    assert s["windows"] == {"src0": {"B": 30}, "dst0": {"C4.2": 100}}
    assert s["ops"] == {"src0": {"suspend": {"count": 1, "cycles": 30}},
                        "dst0": {"set_status": {"count": 2, "cycles": 100}}}
    assert s["device_cycles"] == {"src0": {"B1": 25}}
    assert s["network_gap_cycles"] == 1090 - 120 and s["label"] == "hand-made"
    text = render(s)
    assert text.index("src0") < text.index("dst0") and "970 cycles" in text
    assert summarize(t.records, load_profile("reference-rtl"), MHZ)["network_gap_cycles"] is None
