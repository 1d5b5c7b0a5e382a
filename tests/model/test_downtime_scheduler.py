# SPDX-License-Identifier: MIT
"""The scheduler on hand-built traces. Each expected time is worked out in the test from the
profile's numbers (microseconds), independently of the implementation."""

from __future__ import annotations

from pathlib import Path

import pytest
from downtime_helpers import make_profile, us

from vdpa_model.downtime.profile import Profile
from vdpa_model.downtime.report import compose
from vdpa_model.downtime.scheduler import PriceOptions, PricingError, price, window_of
from vdpa_model.trace import Layer, Trace, TraceRecord

BODY = """
[pool.cmd]          # two in flight, 1 us of the submitter per command
slots = { value = 2, source = "t" }
issue = { value = 1, source = "t" }

[pool.narrow]       # four in flight but one executing
slots = { value = 4, source = "t" }
workers = { value = 1, source = "t" }
issue = { value = 0, source = "t" }

[pool.wide]         # issue-bound: many slots, 3 us per submission, 2 us per wait
slots = { value = 16, source = "t" }
issue = { value = 3, source = "t" }
wait = { value = 2, source = "t" }

[fw.vq_query]
pool = "cmd"
fixed = { value = 10, source = "t" }

[fw.vq_destroy]
pool = "narrow"
fixed = { value = 10, source = "t" }

[fw.vq_create]
pool = "wide"
fixed = { value = 2, source = "t" }
per.qsize = { value = 1, step = 64, source = "t" }

[fw.vq_modify]
fixed = { value = 3, source = "t" }

[[fw.vq_modify.case]]
within = "suspend"
fixed = { value = 7, source = "t" }

[fw.mkey_create]
pool = "wide"
fixed = { value = 1, source = "t" }
issue.per.entries = { value = 0.5, source = "t" }

[op."*"]
fixed = { value = 1, source = "t" }

[ioctl."*"]
fixed = { value = 2, source = "t" }

[host.pin]
per.pages = { value = 1, source = "t" }

[[host.pin.case]]
phase = "C4.1"
per.pages = { value = 4, source = "t" }

[[host.pin.case]]
page_size = 2097152
per.pages = { value = 100, source = "t" }
"""


@pytest.fixture
def prof(tmp_path: Path) -> Profile:
    return make_profile(tmp_path, BODY)


def one_section_us(records: list[TraceRecord], profile: Profile, **kw: object) -> float:
    s = price(records, profile, PriceOptions(**kw))  # type: ignore[arg-type]
    assert len(s.sections) == 1
    return us(s.sections[0].duration)


def test_serial_children_add_up(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("B1", "d"), t.span(Layer.OP, "get_vq_state"):
        for _ in range(3):
            t.add(Layer.FW, "vq_query")
    # op own 1 + 3 x (issue 1 + run 10)
    assert one_section_us(t.records, prof) == 1 + 3 * 11


def test_group_overlaps_up_to_its_slots(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("B1", "d"), t.span(Layer.OP, "suspend"):
        g = t.new_group()
        for _ in range(5):
            t.add(Layer.FW, "vq_query", group=g)
    # two slots, the submitter spends 1 us per command, each command runs 10 us after it:
    #   q0 issue 0-1 run 1-11 | q1 issue 1-2 run 2-12 | q2 waits for q0's slot: 11-12, 12-22
    #   q3 waits for q1's slot: 12-13, 13-23 | q4 waits for q2's: 22-23, 23-33 -> 33, + op's 1
    assert one_section_us(t.records, prof) == 1 + 33


def test_workers_below_slots_serialise_execution(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("B1", "d"), t.span(Layer.OP, "reset"):
        g = t.new_group()
        for _ in range(3):
            t.add(Layer.FW, "vq_destroy", group=g)
    # all three are in flight at once (no issue time) but one worker runs them: 3 x 10, + op's 1
    assert one_section_us(t.records, prof) == 1 + 30


def test_issue_bound_group_and_one_wait_per_group(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("C4.2.9", "d"), t.span(Layer.OP, "set_status"):
        g = t.new_group()
        for _ in range(4):
            t.add(Layer.FW, "vq_create", group=g, qsize=256)
        t.add(Layer.FW, "vq_create", qsize=16)
    # group: four submissions of 3 us, the last runs 2 + ceil(256/64) = 6 us after its own:
    #   12 + 6 = 18, then one wait of 2 -> 20
    # serial one: issue 3 + run 2 + ceil(16/64) = 3 + wait 2 -> 8;  op's own 1
    assert one_section_us(t.records, prof) == 1 + 20 + 8


def test_issue_can_scale_with_a_driver(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("B2", "d"), t.span(Layer.OP, "set_map"):
        g = t.new_group()
        for _ in range(3):
            t.add(Layer.FW, "mkey_create", group=g, entries=10)
    # each submission 3 + 0.5 x 10 = 8 us; the last runs 1 us after it; one wait of 2
    assert one_section_us(t.records, prof) == 1 + 3 * 8 + 1 + 2


def test_nesting_adds_own_cost_to_children(prof: Profile) -> None:
    t = Trace()
    with (t.in_phase("A1", "d"), t.span(Layer.IOCTL, "VHOST_VDPA_SUSPEND"),
          t.span(Layer.OP, "suspend")):
        t.add(Layer.FW, "vq_modify")
        t.add(Layer.HOST, "pin", pages=5, page_size=4096)
    # ioctl 2 + (op 1 + modify 7 (inside suspend) + pin 5 x 1)
    s = price(t.records, prof)
    sec = s.sections[0]
    assert us(sec.duration) == 2 + 1 + 7 + 5
    kinds = {k: us(v.busy) for k, v in sec.kinds.items()}
    assert kinds[("op", "suspend")] == 1 + 7 + 5
    assert kinds[("fw", "vq_modify")] == 7


def test_cases_by_context_phase_and_page_size(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("A12", "d"), t.span(Layer.OP, "set_driver_features"):
        t.add(Layer.FW, "vq_modify")                             # default 3
    with t.in_phase("A16", "d"):
        t.add(Layer.HOST, "pin", pages=10, page_size=4096)      # default 10 x 1
        t.add(Layer.HOST, "pin", pages=10, page_size=2 << 20)   # 2 MiB case 10 x 100
    s = price(t.records, prof)
    assert us(s.sections[0].duration) == (1 + 3) + 10 + 1000
    t2 = Trace()
    with t2.in_phase("C4.1.4", "dst"):
        t2.add(Layer.HOST, "pin", pages=10, page_size=4096)     # phase C4.1 case, 10 x 4
    assert one_section_us(t2.records, prof) == 40


def test_pools_are_shared_by_nested_work(tmp_path: Path) -> None:
    """Two concurrently running group members whose children use the one-worker pool wait for
    each other: the pool belongs to the device, not to the parent."""
    prof = make_profile(tmp_path, BODY + '\n[host.cvq_command]\nfixed = { value = 0, source = "t" }\n')
    t = Trace()
    with t.in_phase("B1", "d"), t.span(Layer.OP, "suspend"):
        g = t.new_group()
        for _ in range(2):
            with t.span(Layer.HOST, "cvq_command", group=g):
                t.add(Layer.FW, "vq_destroy")
    # both host commands start at once (no pool) but their vq_destroy share one worker: 2 x 10
    assert one_section_us(t.records, prof) == 1 + 20


def test_unpriced_records_are_named(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("A1", "d"):
        t.add(Layer.HOST, "teleport")
        t.add(Layer.HOST, "teleport")
    with pytest.raises(PricingError, match=r"unit\.toml: no cost for host 'teleport' \(2 records\)"):
        price(t.records, prof)


def test_a_parent_must_come_first(prof: Profile) -> None:
    recs = [TraceRecord(0, Layer.OP, "suspend", "d", "B1", parent=5)]
    with pytest.raises(PricingError, match="parent 5 is not an earlier record"):
        price(recs, prof)


# -- devices, windows, copies ---------------------------------------------------------------
def migration(devices: int, copies_of_first: int = 1) -> list[TraceRecord]:
    """Per source device: A1 (suspend: one modify, 1 + 7) and B1 (same) and B2 (ioctl 2);
    per destination: C4.1.4 pin of 3 pages (3 x 4), C4.2.9 (op 1 + 3) and C4.2.11 (ioctl 2)."""
    t = Trace()
    for i in range(devices):
        with t.in_phase("A1", f"src{i}"), t.span(Layer.OP, "suspend"):
            t.add(Layer.FW, "vq_modify")
    for i in range(devices):
        with t.in_phase("B1", f"src{i}"), t.span(Layer.OP, "suspend"):
            t.add(Layer.FW, "vq_modify")
        with t.in_phase("B2", f"src{i}"):
            t.add(Layer.IOCTL, "VHOST_IOTLB_INVALIDATE")
    for i in range(devices):
        with t.in_phase("C4.1.4", f"dst{i}"):
            t.add(Layer.HOST, "pin", pages=3, page_size=4096)
        with t.in_phase("C4.2.9", f"dst{i}"), t.span(Layer.OP, "set_status"):
            t.add(Layer.FW, "vq_modify")
        with t.in_phase("C4.2.11", f"dst{i}"):
            t.add(Layer.IOCTL, "VHOST_VDPA_SET_VRING_ENABLE")
    return t.records


def test_windows_and_the_three_downtimes(prof: Profile) -> None:
    r = compose(price(migration(2), prof), "two devices", ram_copy=100e-6, probe_interval=50e-6)
    # downtime #1 per device: A1 = op 1 + modify 7
    assert {k: us(v) for k, v in r.downtime1.items()} == {"src0": 8, "src1": 8}
    # source stop per device: B1 8 + B2 2 = 10; destination start: C4.2.9 4 + C4.2.11 2 = 6
    assert us(r.source_stop) == 20 and us(r.destination_start) == 12
    assert us(r.downtime2) == 32
    assert [(p.source, p.destination, us(p.total)) for p in r.pairs] == [("src0", "dst0", 16),
                                                                         ("src1", "dst1", 16)]
    # from the start of the last suspend (src1's B1 at 10) to the end: 10 + RAM 100 + 12
    assert us(r.last_suspend_offset) == 10
    assert r.guest_visible is not None and us(r.guest_visible) == 10 + 100 + 12
    assert r.probe_view is not None and us(r.probe_view) == 150
    # before the window, in no downtime: 2 x 3 pages x 4
    assert us(r.destination_prepare) == 24
    phases = {(p.window, p.phase): us(p.seconds) for p in r.phases}
    assert phases == {("A", "A1"): 16, ("C4.1", "C4.1.4"): 24, ("B", "B1"): 16, ("B", "B2"): 4,
                      ("C4.2", "C4.2.9"): 8, ("C4.2", "C4.2.11"): 4}


def test_copies_price_identical_devices_once_and_count_them(prof: Profile) -> None:
    one = compose(price(migration(1), prof, PriceOptions(copies={"src0": 256, "dst0": 256})), "x256")
    many = compose(price(migration(4), prof), "x4")
    assert one.priced_sections == 4 and many.priced_sections == 4  # A, B, C4.1, C4.2 once each
    assert us(one.downtime2) == 256 * 16
    assert us(many.downtime2) == 4 * 16
    assert one.pairs[0].count == 256 and us(one.pairs[0].total) == 16
    b1 = next(p for p in one.phases if p.phase == "B1")
    assert us(b1.seconds) == 256 * 8 and us(b1.per_device["src0"]) == 8
    counts = {(k.layer, k.name): k.count for k in one.kinds}
    assert counts[("fw", "vq_modify")] == 256 * 3


def test_dedup_can_be_turned_off_with_the_same_result(prof: Profile) -> None:
    a = compose(price(migration(3), prof), "")
    b = compose(price(migration(3), prof, PriceOptions(dedup=False)), "")
    assert b.priced_sections == 3 * 4 and a.priced_sections == 4
    assert (a.downtime2, a.guest_visible, a.downtime1) == (b.downtime2, b.guest_visible, b.downtime1)


def test_device_parallelism_overlaps_devices(tmp_path: Path) -> None:
    from downtime_helpers import HEAD
    prof = make_profile(tmp_path, BODY, head=HEAD.replace('parallel = { value = 1', 'parallel = { value = 2'))
    r = compose(price(migration(3), prof), "")
    # three 10-us source stops on two lanes: 20; three 6-us starts: 12
    assert us(r.source_stop) == 20 and us(r.destination_start) == 12


def test_measured_replay_uses_times_and_cycles(tmp_path: Path) -> None:
    from downtime_helpers import HEAD
    head = HEAD.replace('time_unit = "us"', 'time_unit = "cycles"\nclock_mhz = { value = 100, source = "t" }')
    prof = make_profile(tmp_path, BODY.replace("value = 10, source", "value = 1000, source"), head=head)
    t = Trace()
    with t.in_phase("B1", "d"), t.span(Layer.OP, "get_vq_state"):
        t.add(Layer.FW, "vq_query", cycles=500)  # measured run 500 cycles; its issue is priced (1)
    with t.in_phase("B2", "d"):
        rec = t.add(Layer.IOCTL, "VHOST_IOTLB_INVALIDATE")
    rec.t_start_ps, rec.t_end_ps = 1_000_000, 4_000_000  # measured 3 us whatever the profile says
    priced = price(t.records, prof)
    measured = price(t.records, prof, PriceOptions(mode="measured"))
    # priced at 100 MHz: op 1 + issue 1 + run 1000 cycles; ioctl 2 cycles
    assert priced.sections[0].phases["B1"] * 100e6 == pytest.approx(1002)
    assert priced.sections[0].phases["B2"] * 100e6 == pytest.approx(2)
    assert measured.sections[0].phases["B1"] * 100e6 == pytest.approx(1 + 1 + 500)
    assert us(measured.sections[0].phases["B2"]) == 3


def test_measured_cycles_need_a_clock(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("B1", "d"):
        t.add(Layer.FW, "vq_query", cycles=5)
    with pytest.raises(PricingError, match="measured cycles but no clock"):
        price(t.records, prof, PriceOptions(mode="measured"))
    sched = price(t.records, prof, PriceOptions(mode="measured", measured_clock_mhz=1.0))
    assert sched.sections[0].duration == pytest.approx(1e-6 + 5e-6)


def test_window_of_step_ids() -> None:
    assert [window_of(p) for p in ("A1", "A21", "B2", "C4.1.4", "C4.2", "C4.2.10", "", "C4.3", "Z1")] == \
        ["A", "A", "B", "C4.1", "C4.2", "C4.2", "other", "other", "other"]


def test_a_deadlock_is_reported(tmp_path: Path) -> None:
    body = BODY.replace('[fw.vq_modify]\nfixed', '[fw.vq_modify]\npool = "narrow"\nfixed')
    prof = make_profile(tmp_path, body + '\n[host.cvq_command]\npool = "narrow"\n'
                                         'fixed = { value = 1, source = "t" }\n')
    t = Trace()
    with t.in_phase("B1", "d"):
        g = t.new_group()
        for _ in range(2):
            with t.span(Layer.HOST, "cvq_command", group=g):
                t.add(Layer.FW, "vq_modify")  # needs the one worker its parent holds
    with pytest.raises(PricingError, match="deadlocked"):
        price(t.records, prof)


@pytest.mark.parametrize("kind, entries", [("vq_query", 0), ("vq_destroy", 0), ("mkey_create", 7)])
def test_large_leaf_groups_take_the_direct_loop_with_the_engines_result(
        prof: Profile, monkeypatch: pytest.MonkeyPatch, kind: str, entries: int) -> None:
    from vdpa_model.downtime import scheduler

    t = Trace()
    with t.in_phase("B2", "d"), t.span(Layer.OP, "set_map"):
        g = t.new_group()
        for _ in range(100):
            t.add(Layer.FW, kind, group=g, entries=entries)
        t.add(Layer.FW, kind, entries=entries)
    fast = price(t.records, prof).sections[0]
    monkeypatch.setattr(scheduler, "LEAF_GROUP_MIN", 10**9)
    slow = price(t.records, prof).sections[0]
    assert fast.duration == pytest.approx(slow.duration)
    assert {k: (v.count, pytest.approx(v.busy), pytest.approx(v.span)) for k, v in fast.kinds.items()} == \
        {k: (v.count, v.busy, v.span) for k, v in slow.kinds.items()}
    # vq_query: 2 slots, 1 + 10 us each -> 100 in 50 waves of two, the second a submission later
    if kind == "vq_query":
        assert us(slow.duration) == 1 + 11 * 50 + 1 + 11


def test_copies_of_an_absent_device_are_warned_about(prof: Profile) -> None:
    s = price(migration(1), prof, PriceOptions(copies={"src7": 4}))
    assert "copies given for device(s) src7, which have no records" in s.warnings


def test_the_text_table_lists_the_costliest_devices_and_the_json_all(prof: Profile) -> None:
    from vdpa_model.downtime.report import LISTED, render

    r = compose(price(migration(LISTED + 2), prof), "many")
    text = render(r)
    assert "... 2 more devices in the JSON" in text and "... 2 more device pairs in the JSON" in text
    doc = r.to_json()
    assert len(doc["downtime_ms"]["downtime1_per_device"]) == LISTED + 2
    assert len(doc["device_pairs"]) == LISTED + 2


# -- count: a record standing for identical units ------------------------------------------------
def _records_of(units: list[tuple[int, int]], grouped: bool, kind: str) -> list[TraceRecord]:
    """One set_map whose fw work is ``units`` as (count, entries); with count 0 the same work is
    written out as one record per unit, for comparison."""
    t = Trace()
    with t.in_phase("B2", "d"), t.span(Layer.OP, "set_map"):
        g = t.new_group() if grouped else None
        for count, entries in units:
            if count > 0:
                t.add(Layer.FW, kind, group=g, count=count, entries=entries)
            else:
                t.add(Layer.FW, kind, group=g, entries=entries)
    return t.records


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("kind", ["vq_query", "vq_destroy", "mkey_create", "vq_modify"])
@pytest.mark.parametrize("n", [3, 40])  # below and above LEAF_GROUP_MIN
def test_a_count_prices_as_that_many_records(prof: Profile, grouped: bool, kind: str, n: int) -> None:
    compact = price(_records_of([(n, 5), (2, 9)], grouped, kind), prof).sections[0]
    spelled = price(_records_of([(0, 5)] * n + [(0, 9)] * 2, grouped, kind), prof).sections[0]
    assert compact.duration == pytest.approx(spelled.duration)
    for k in spelled.kinds:
        assert compact.kinds[k].count == spelled.kinds[k].count
        assert compact.kinds[k].busy == pytest.approx(spelled.kinds[k].busy)
    assert compact.kinds[("fw", kind)].count == n + 2


def test_a_serial_count_repeats_issue_run_and_wait(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("C4.2.9", "d"), t.span(Layer.OP, "set_status"):
        t.add(Layer.FW, "vq_create", count=3, qsize=64)
    # op 1 + 3 x (issue 3 + run 2 + ceil(64/64) + wait 2)
    assert one_section_us(t.records, prof) == 1 + 3 * 8


def test_a_count_on_a_record_with_children_is_refused(prof: Profile) -> None:
    t = Trace()
    with t.in_phase("B1", "d"), t.span(Layer.OP, "suspend", count=2):
        t.add(Layer.FW, "vq_modify")
    with pytest.raises(PricingError, match="count 2 on a record with children"):
        price(t.records, prof)


def test_cases_on_a_records_flags(tmp_path: Path) -> None:
    prof = make_profile(tmp_path, BODY + '\n[fw.link_notifier]\nfixed = { value = 3, source = "t" }\n'
                                         '[[fw.link_notifier.case]]\nflags = 0\n'
                                         'fixed = { value = 11, source = "t" }\n')
    t = Trace()
    with t.in_phase("B1", "d"):
        t.add(Layer.FW, "link_notifier", flags=1)   # registered: default 3
        t.add(Layer.FW, "link_notifier", flags=0)   # unregistered: the case, 11
        t.add(Layer.FW, "link_notifier")            # no flags: the default
    assert one_section_us(t.records, prof) == 3 + 11 + 3


def test_steps_outside_the_windows_are_priced_without_a_warning(prof: Profile) -> None:
    t = Trace()
    for phase in ("add", "GC", "Z9"):
        with t.in_phase(phase, "d"), t.span(Layer.OP, "reset"):
            pass
    s = price(t.records, prof)
    assert [sec.window for sec in s.sections] == ["other"]
    assert s.warnings == ["1 top-level record(s) of device(s) d have no flow step id (A*, B*, C4.1*, "
                          "C4.2*, or add, GC): priced, but in no downtime"]


@pytest.mark.parametrize("qsize", [64, 640, 6400])
def test_many_identical_units_after_other_work_schedule_as_if_written_out(
        prof: Profile, qsize: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shortcut for thousands of identical keys starts from whatever the round's earlier
    members left in the pool (here VQ creations of growing length in the same pool)."""
    from vdpa_model.downtime import scheduler

    taken: list[bool] = []
    real = scheduler._issue_bound
    monkeypatch.setattr(scheduler, "_issue_bound", lambda *a: taken.append(real(*a)) or taken[-1])
    def records(spelled: bool) -> list[TraceRecord]:
        t = Trace()
        with t.in_phase("B2", "d"), t.span(Layer.OP, "set_map"):
            g = t.new_group()
            for _ in range(5):
                t.add(Layer.FW, "vq_create", group=g, qsize=qsize)
            for _ in range(300 if spelled else 1):
                t.add(Layer.FW, "mkey_create", group=g, entries=4, **({} if spelled else {"count": 300}))
        return t.records

    compact = price(records(False), prof).sections[0]
    assert any(taken)
    spelled = price(records(True), prof).sections[0]
    assert compact.duration == pytest.approx(spelled.duration)
    kind = ("fw", "mkey_create")
    assert compact.kinds[kind].busy == pytest.approx(spelled.kinds[kind].busy)
