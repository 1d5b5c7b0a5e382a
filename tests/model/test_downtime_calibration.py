# SPDX-License-Identifier: MIT
"""The mlx5-cx6dx profile reproduces every single-operation figure it is built from.

Each test prices a trace of one operation, built from the command counts of
../shared/reference/migration-sequence.md (§1 item 7, §2 A1, §4.2 9, §6) with the profile, and
compares it with the published figure of calibration-figures.md, written here as published. A
profile edit that drifts from its sources fails here.
"""

from __future__ import annotations

import pytest

from vdpa_model.downtime.profile import Profile, load_profile
from vdpa_model.downtime.scheduler import price
from vdpa_model.trace import Layer, Trace

GiB = 1 << 30
VQS = 32  # C1-C3: one device with 16 queue pairs


@pytest.fixture(scope="module")
def mlx5() -> Profile:
    return load_profile("mlx5-cx6dx")


def ms(trace: Trace, profile: Profile) -> float:
    s = price(trace.records, profile)
    return sum(sec.duration for sec in s.sections) * 1e3


def op(name: str, phase: str = "B1") -> tuple[Trace, object]:
    t = Trace()
    t.phase, t.device = phase, "dev"
    return t, t.span(Layer.OP, name)


# -- C2: device suspend, 32 VQs (A1/B1: one MODIFY round to SUSPEND, one QUERY round) ----------
def suspend(parallel: bool, notifier: bool) -> Trace:
    t, span = op("suspend")
    with span:  # type: ignore[attr-defined]
        if parallel:
            g = t.new_group()
            for _ in range(VQS):
                t.add(Layer.FW, "vq_modify", group=g, vqs=1)
            g = t.new_group()
            for _ in range(VQS):
                t.add(Layer.FW, "vq_query", group=g, vqs=1)
        else:  # before the async series: suspend and query each VQ in turn
            for _ in range(VQS):
                t.add(Layer.FW, "vq_modify", vqs=1)
                t.add(Layer.FW, "vq_query", vqs=1)
        if notifier:  # unregistered in suspend until the series kept it registered
            t.add(Layer.FW, "link_notifier")
    return t


@pytest.mark.parametrize("parallel, notifier, published_ms", [
    (False, True, 37.0),   # C2 serial
    (True, True, 13.0),    # C2 parallel async suspend + query
    (True, False, 2.5),    # C2 ... also keeping the link notifier registered
])
def test_c2_suspend(mlx5: Profile, parallel: bool, notifier: bool, published_ms: float) -> None:
    assert ms(suspend(parallel, notifier), mlx5) == pytest.approx(published_ms, rel=0.02)


# -- C3: device resume, 32 VQs (one MODIFY round to RDY, then the notifier registered) -----------
@pytest.mark.parametrize("parallel, published_ms", [(False, 16.0), (True, 4.75)])  # C3: 16 -> 4.5-5
def test_c3_resume(mlx5: Profile, parallel: bool, published_ms: float) -> None:
    t, span = op("resume")
    with span:  # type: ignore[attr-defined]
        g = t.new_group() if parallel else None
        for _ in range(VQS):
            t.add(Layer.FW, "vq_modify", group=g, vqs=1)
        t.add(Layer.FW, "link_notifier")
    got = ms(t, mlx5)
    assert got == pytest.approx(published_ms, rel=0.02)
    if parallel:
        assert 4.5 <= got <= 5.0


# -- C1: destination DRIVER_OK VQ work, 32 VQs, serial firmware commands ------------------------
def test_c1_driver_ok_with_pre_created_vqs(mlx5: Profile) -> None:
    """C1 after: configure + resume only, each INIT VQ takes two MODIFYs (fields, then state)."""
    t, span = op("set_status", "C4.2.9")
    with span:  # type: ignore[attr-defined]
        for _ in range(VQS):
            t.add(Layer.FW, "vq_modify", vqs=1)
            t.add(Layer.FW, "vq_modify", vqs=1)
    assert ms(t, mlx5) == pytest.approx(60.0, rel=0.02)


def test_c1_driver_ok_with_full_creation(mlx5: Profile) -> None:
    """C1 before: every VQ created (CQ, QPs, umems, counter, object: one vq_create each) and
    moved to ready, plus the device's RQT, TIR and steering."""
    t, span = op("set_status", "C4.2.9")
    with span:  # type: ignore[attr-defined]
        t.add(Layer.FW, "dev_resources_create")
        for _ in range(VQS):
            t.add(Layer.FW, "vq_create", vqs=1, qsize=256)
            t.add(Layer.FW, "vq_modify", vqs=1)
    assert ms(t, mlx5) == pytest.approx(370.0, rel=0.02)


def test_c1_pre_creation_saves_about_300_ms_per_device(mlx5: Profile) -> None:
    """The talk: VQ pre-creation saves ~300 ms per device (the difference of C1's two figures)."""
    before, after = Trace(), Trace()
    for t, create in ((before, True), (after, False)):
        with t.in_phase("C4.2.9", "dev"), t.span(Layer.OP, "set_status"):
            if create:
                t.add(Layer.FW, "dev_resources_create")
            for _ in range(VQS):
                if create:
                    t.add(Layer.FW, "vq_create", qsize=256)
                else:
                    t.add(Layer.FW, "vq_modify")
                t.add(Layer.FW, "vq_modify")
    assert ms(before, mlx5) - ms(after, mlx5) == pytest.approx(310.0, rel=0.05)


# -- H4: CVQ state restore through SVQ, 4099 commands -----------------------------------------
@pytest.mark.parametrize("parallel, published_ms", [(False, 20.5), (True, 13.7)])
def test_h4_cvq_replay(mlx5: Profile, parallel: bool, published_ms: float) -> None:
    t = Trace()
    with t.in_phase("C4.2.10", "dev"):
        g = t.new_group() if parallel else None  # QEMU >= 8.2 waits once for all answers
        for _ in range(4099):
            t.add(Layer.HOST, "cvq_command", group=g, cmds=1)
    assert ms(t, mlx5) == pytest.approx(published_ms, rel=0.02)


# -- H1, H2: pinning and unpinning -------------------------------------------------------------
def pin(name: str, phase: str, size: int, page_size: int) -> Trace:
    t = Trace()
    with t.in_phase(phase, "dev"):
        t.add(Layer.HOST, name, pages=size // page_size, page_size=page_size, bytes=size)
    return t


def test_h1_cold_pin_at_qemu_start(mlx5: Profile) -> None:
    """H1: ~3 s for 50 GB when QEMU >= 10.1 maps guest RAM at start (C 4.1.4)."""
    assert ms(pin("pin", "C4.1.4", 50 * GiB, 4096), mlx5) == pytest.approx(3000.0, rel=0.02)


@pytest.mark.parametrize("page_size, published_ms", [(4096, 280.0), (2 << 20, 47.0), (1 << 30, 52.0)])
def test_h2_warm_pin(mlx5: Profile, page_size: int, published_ms: float) -> None:
    """H2: warm pin + map of 16 GB: 4 KiB pages 0.280 s, THP 0.047 s, hugetlbfs 0.052 s (A16)."""
    assert ms(pin("pin", "A16", 16 * GiB, page_size), mlx5) == pytest.approx(published_ms, rel=0.02)


def test_h2_unmap_taken_for_unpin(mlx5: Profile) -> None:
    """No vhost-vdpa unpin figure: H2's 4 KiB unmap (0.312 s for 16 GB) stands in for it, and
    vhost-vdpa unpins 4 KiB at a time whatever the backing, so huge pages cost the same."""
    for page_size in (4096, 2 << 20, 1 << 30):
        assert ms(pin("unpin", "A7", 16 * GiB, page_size), mlx5) == pytest.approx(312.0, rel=0.02)


# -- C6-C8: memory-key creation and destruction ------------------------------------------------
def region(kind: str, gib: int, page_size: int, parallel: bool) -> Trace:
    """One region over ``gib`` GiB: a direct key per GiB with one MTT entry per page."""
    t = Trace()
    with t.in_phase("B2", "dev"), t.span(Layer.OP, "set_map"):
        g = t.new_group() if parallel else None
        for _ in range(gib):
            t.add(Layer.FW, kind, group=g, entries=GiB // page_size, keys=1)
    return t


@pytest.mark.parametrize("gib", [16, 64, 128])
@pytest.mark.parametrize("page_size", [4096, 2 << 20])
def test_c6_parallel_mkey_creation_3_to_5_times_faster(mlx5: Profile, gib: int, page_size: int) -> None:
    ratio = ms(region("mkey_create", gib, page_size, False), mlx5) / ms(region("mkey_create", gib, page_size,
                                                                                True), mlx5)
    assert 3.0 <= ratio <= 5.0


def test_c7_parallel_mkey_destruction_about_8_times_faster(mlx5: Profile) -> None:
    serial = ms(region("mkey_destroy", 128, 4096, False), mlx5)
    ratio = serial / ms(region("mkey_destroy", 128, 4096, True), mlx5)
    assert ratio == pytest.approx(8.0, rel=0.125)


@pytest.mark.parametrize("page_size", [4096, 2 << 20])
def test_c8_deletion_costs_30_to_40_percent_of_creation(mlx5: Profile, page_size: int) -> None:
    ratio = ms(region("mkey_destroy", 64, page_size, False), mlx5) / ms(region("mkey_create", 64, page_size,
                                                                               False), mlx5)
    assert 0.30 <= ratio <= 0.40


# -- C10: at most ~16 firmware commands in flight -----------------------------------------------
def test_c10_sixteen_commands_in_flight(mlx5: Profile) -> None:
    """A round of 17 long firmware commands needs a second wave; 16 do not."""
    def round_of(n: int) -> float:
        t = Trace()
        with t.in_phase("B1", "dev"), t.span(Layer.OP, "suspend"):
            g = t.new_group()
            for _ in range(n):
                t.add(Layer.FW, "vq_create", group=g)  # ~10 ms each: far longer than a submission
        return ms(t, mlx5)

    one_create = round_of(1)
    assert round_of(16) < 1.1 * one_create
    assert round_of(17) > 1.9 * one_create
