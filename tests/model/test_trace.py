# SPDX-License-Identifier: MIT
"""The op trace: nesting, phases, groups, the JSON-lines round trip and its error messages."""

from __future__ import annotations

import errno
import json

import pytest

from vdpa_model.errors import VdpaError, fail
from vdpa_model.trace import STEP_IDS, STEP_NAMES, Layer, Trace, TraceFormatError, read_jsonl


def test_nesting_phase_device_and_times() -> None:
    now = iter(range(0, 1000, 10))
    t = Trace(clock=lambda: next(now))
    with (t.in_phase("A1", device="src0"), t.span(Layer.IOCTL, "VHOST_VDPA_SUSPEND"),
          t.span(Layer.OP, "suspend", vqs=8)):
        g = t.new_group()
        t.add(Layer.FW, "vq_modify", group=g, vqs=1, cycles=7)
        t.add(Layer.FW, "vq_modify", group=g, vqs=1)
    t.add(Layer.HOST, "pin", pages=3, page_size=4096)
    ioctl, op, fw1, fw2, pin = t.records
    assert (op.parent, fw1.parent, fw2.parent, pin.parent) == (ioctl.seq, op.seq, op.seq, None)
    assert fw1.group == fw2.group == g and fw1.cycles == 7 and fw2.cycles is None
    assert {r.phase for r in (ioctl, op, fw1, fw2)} == {"A1"} and pin.phase == ""
    assert ioctl.device == "src0" and pin.device == ""
    assert ioctl.t_start_ps is not None and ioctl.t_end_ps is not None
    assert ioctl.t_start_ps < op.t_start_ps < op.t_end_ps < ioctl.t_end_ps


def test_failed_span_records_errno() -> None:
    t = Trace()
    with pytest.raises(VdpaError), t.span(Layer.OP, "set_map", asid=3):
        raise fail(errno.EINVAL, "set_map", "asid 3 out of range")
    with pytest.raises(RuntimeError), t.span(Layer.OP, "suspend"):
        raise RuntimeError("no errno")
    assert [r.errno for r in t.records] == [errno.EINVAL, -1]
    assert t.records[0].t_start_ps is None  # no clock: the reference device


def test_jsonl_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    t = Trace(clock=lambda: 5)
    with t.in_phase("C4.2.6", "dst1"), t.span(Layer.OP, "set_map", asid=1, ranges=2, bytes=8192):
        t.add(Layer.FW, "mkey_create", cycles=9, entries=2)
    t.write_jsonl(tmp_path / "t.jsonl")
    assert read_jsonl(tmp_path / "t.jsonl") == t.records


@pytest.mark.parametrize("line, message", [
    ('{"seq":0,"layer":"op","name":"x","args":{"bogus":1}}', "unknown argument 'bogus'"),
    ('{"seq":0,"layer":"op","name":"x","args":{"vqs":"8"}}', "'vqs' must be an integer"),
    ('{"seq":0,"layer":"nowhere","name":"x"}', "nowhere"),
    ('{"seq":0,"layer":"op","name":"x","colour":1}', "unknown field(s) ['colour']"),
    ('{"seq":0,"layer":"fw","name":"MAGIC"}', "unknown fw work 'MAGIC'"),
    ("not json", "not JSON"),
])
def test_bad_records_name_file_and_line(tmp_path, line: str, message: str) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"vdpa_dv_trace": 1}) + "\n" + line + "\n")
    with pytest.raises(TraceFormatError) as e:
        read_jsonl(p)
    assert f"{p}:2" in str(e.value) and message in str(e.value)


def test_wrong_format_version_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "old.jsonl"
    p.write_text(json.dumps({"vdpa_dv_trace": 99}) + "\n")
    with pytest.raises(TraceFormatError, match="format 1"):
        read_jsonl(p)


def test_unknown_argument_refused_when_recording() -> None:
    with pytest.raises(TraceFormatError, match="unknown argument 'gigabytes'"):
        Trace().add(Layer.HOST, "pin", gigabytes=4)


def test_every_step_has_a_name_and_only_steps_do() -> None:
    """The charts' legends say what each step id is: one name per id of STEP_IDS."""
    assert list(STEP_NAMES) == list(STEP_IDS)
    assert all(name and name == name.strip() for name in STEP_NAMES.values())
