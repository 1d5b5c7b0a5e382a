# SPDX-License-Identifier: MIT
"""Budgets: the file format and its errors, pass and fail per device and per VM, and a broken
budget explained by the steps that cost most."""

from __future__ import annotations

from pathlib import Path

import pytest
from downtime_helpers import make_profile

from vdpa_model.downtime.budget import DEFAULT_BUDGETS, check, check_all, explain, load_budgets
from vdpa_model.downtime.report import Result, compose
from vdpa_model.downtime.scheduler import price
from vdpa_model.downtime.tomlfile import InputError
from vdpa_model.trace import Layer, Trace

BODY = """
[fw.vq_create]
fixed = { value = 30000, source = "t" }      # 30 ms

[fw.vq_modify]
fixed = { value = 1000, source = "t" }       # 1 ms

[op."*"]
fixed = { value = 0, source = "t" }

[ioctl."*"]
fixed = { value = 0, source = "t" }
"""


def result(tmp_path: Path, creates: int) -> Result:
    """Two device pairs; each destination's DRIVER_OK creates ``creates`` VQs (30 ms each),
    each source's suspend modifies 4 (1 ms each) and its reset re-creates 2 (60 ms)."""
    prof = make_profile(tmp_path, BODY)
    t = Trace()
    for i in range(2):
        with t.in_phase("A1", f"src{i}"), t.span(Layer.OP, "suspend"):
            for _ in range(4):
                t.add(Layer.FW, "vq_modify")
    for i in range(2):
        with t.in_phase("B1", f"src{i}"), t.span(Layer.OP, "suspend"):
            for _ in range(4):
                t.add(Layer.FW, "vq_modify")
        with t.in_phase("B5", f"src{i}"), t.span(Layer.OP, "compat_reset"):
            for _ in range(2):
                t.add(Layer.FW, "vq_create")
    for i in range(2):
        with t.in_phase("C4.2.9", f"dst{i}"), t.span(Layer.OP, "set_status"):
            for _ in range(creates):
                t.add(Layer.FW, "vq_create")
        with t.in_phase("C4.2.11", f"dst{i}"):
            t.add(Layer.IOCTL, "VHOST_VDPA_SET_VRING_ENABLE")
    return compose(price(t.records, prof), f"{creates} creates", ram_copy=0.3)


def budgets(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "budgets.toml"
    p.write_text("format = 1\n" + body)
    return p


def test_default_budgets_are_the_talks() -> None:
    b = load_budgets()
    assert [(x.what, x.per, x.limit) for x in b] == [("downtime2", "device", 0.1),
                                                     ("guest_visible", "vm", 1.0)]
    assert all(str(DEFAULT_BUDGETS) in x.where for x in b)


def test_default_budgets_pass_and_fail(tmp_path: Path) -> None:
    small = result(tmp_path, 0)   # per pair: 4 + 60 = 64 ms; guest: 64 + 300 + 0 = 364 ms
    assert all(c.ok for c in check_all(load_budgets(), small))
    big = result(tmp_path, 2)     # per pair: 64 + 60 = 124 ms > 100 ms
    per_device, per_vm = check_all(load_budgets(), big)
    assert not per_device.ok and per_device.value == pytest.approx(0.124)
    assert [w for w, _ in per_device.broken_at] == ["src0 -> dst0", "src1 -> dst1"]
    # guest-visible: the last suspend (src1's B1) to the end: 64 + 300 + 2 x 60 = 484 ms
    assert per_vm.ok and per_vm.value == pytest.approx(0.484)


def test_broken_budget_is_explained_by_its_costliest_steps(tmp_path: Path) -> None:
    big = result(tmp_path, 2)
    c = check_all(load_budgets(), big)[0]
    text = explain(c, big)
    assert "BROKEN per-device teardown + startup: 124.000 ms > 100.000 ms" in text
    assert "talk.toml:" in text
    lines = text.splitlines()
    steps = lines.index("    costliest steps (src0 -> dst0):")
    # the two 60-ms steps first, then the 4-ms suspend, with their share of the 124 ms
    assert lines[steps + 1].split()[:3] == ["B5", "60.000", "ms"] or lines[steps + 1].split()[:3] == \
        ["C4.2.9", "60.000", "ms"]
    assert "48.4 %" in lines[steps + 1]
    assert lines[steps + 3].split()[:2] == ["B1", "4.000"]
    assert "costliest records in them:" in text and "src0 B5 op compat_reset" in text


@pytest.mark.parametrize("body, value_ms, ok", [
    ('[[budget]]\nname = "A"\nwhat = "downtime1"\nper = "device"\nlimit_ms = 5\n', 4.0, True),
    ('[[budget]]\nname = "A"\nwhat = "downtime1"\nper = "vm"\nlimit_ms = 5\n', 8.0, False),
    ('[[budget]]\nname = "#2"\nwhat = "downtime2"\nper = "vm"\nlimit_ms = 200\n', 248.0, False),
    ('[[budget]]\nname = "mr"\nwhat = "phase"\nphase = "C4.2"\nper = "device"\nlimit_ms = 61\n', 60.0, True),
    ('[[budget]]\nname = "mr"\nwhat = "phase"\nphase = "C4.2.9"\nper = "vm"\nlimit_ms = 100\n', 120.0, False),
    ('[[budget]]\nname = "b5"\nwhat = "phase"\nphase = "B5"\nper = "device"\nlimit_ms = 59\n', 60.0, False),
])
def test_vendor_budgets_per_phase_device_and_vm(tmp_path: Path, body: str, value_ms: float, ok: bool) -> None:
    (b,) = load_budgets(budgets(tmp_path, body))
    c = check(b, result(tmp_path, 2))
    assert c.value is not None and c.value * 1e3 == pytest.approx(value_ms)
    assert c.ok is ok
    if not ok:
        assert "costliest steps" in explain(c, result(tmp_path, 2))


X = '[[budget]]\nname = "x"\n'


@pytest.mark.parametrize("body, message", [
    (X + 'what = "latency"\nper = "vm"\nlimit_ms = 1\n', ":4: budget[0].what: unknown 'latency'"),
    (X + 'what = "downtime2"\nper = "rack"\nlimit_ms = 1\n', ":5: budget[0].per: unknown 'rack'"),
    (X + 'what = "guest_visible"\nper = "device"\nlimit_ms = 1\n', "per-VM figure"),
    (X + 'what = "phase"\nper = "vm"\nlimit_ms = 1\n', "'phase' is required"),
    (X + 'what = "downtime2"\nper = "vm"\nlimit_ms = -1\n', ":6: budget[0].limit_ms: must not be negative"),
    (X + 'what = "downtime2"\nper = "vm"\nlimit_ms = "1s"\n', "must be a number"),
    (X + 'what = "downtime2"\nper = "vm"\nlimit_ms = 1\nunit = "s"\n', "unknown key 'unit'"),
    (X + 'what = "downtime2"\nper = "vm"\n', "missing key 'limit_ms'"),
])
def test_malformed_budgets_name_file_line_and_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(InputError) as e:
        load_budgets(budgets(tmp_path, body))
    assert str(e.value).startswith(str(tmp_path / "budgets.toml"))
    assert message in str(e.value)


def test_nothing_to_measure_is_not_a_pass_or_a_failure(tmp_path: Path) -> None:
    (b,) = load_budgets(budgets(tmp_path, '[[budget]]\nname = "x"\nwhat = "phase"\nphase = "A16"\n'
                                          'per = "device"\nlimit_ms = 1\n'))
    c = check(b, result(tmp_path, 0))
    assert c.value is None and c.ok and "nothing in the trace" in c.line()
