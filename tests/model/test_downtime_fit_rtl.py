# SPDX-License-Identifier: MIT
"""The reference-rtl profile: fitted from the RTL's benchmarks, it reproduces what they measured
(every expected value below is arithmetic on the benchmark files, never a copied number),
extrapolates with the right step, prices the rounds of every build and the model's own DRIVER_OK
plan as measured, and is not stale."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vdpa_model.downtime import fit_rtl
from vdpa_model.downtime.fit_rtl import Observation, fit, profile_text
from vdpa_model.downtime.profile import PROFILE_DIR, Profile, load_profile
from vdpa_model.downtime.scheduler import price
from vdpa_model.downtime.tomlfile import InputError
from vdpa_model.fwmodel import Drain, Mlx5Firmware
from vdpa_model.options import DeviceOptions
from vdpa_model.trace import Layer, Trace

ROOT = Path(__file__).resolve().parents[2]
BENCH = json.loads((ROOT / "bench" / "results" / "rtl_vdpa_nic_top.json").read_text())
SWEEPS = json.loads((ROOT / "bench" / "results" / "rtl_commands.json").read_text())
DRAIN = json.loads((ROOT / "bench" / "results" / "suspend_inflight.json").read_text())
HW = fit_rtl._hardware_build(SWEEPS)
AXR, AXW = BENCH["axil_read_cycles"], BENCH["axil_write_cycles"]
WAIT = AXR                            # the CMD_STATUS read of a collection
COLLECT = 6 * AXR + AXW               # a completion's reads and its pop


@pytest.fixture(scope="module")
def rtl() -> Profile:
    return load_profile("reference-rtl")


def alone(profile: Profile, kind: str, within: tuple[str, ...] = (), grouped: bool = False,
          **args: int) -> float:
    """A record run on its own, as the scheduler prices it: issue, run, the pool's wait."""
    t = Trace()
    with t.in_phase("B1", "dev"):
        outer = [t.span(Layer.OP, w) for w in within]
        for o in outer:
            o.__enter__()
        t.add(Layer.FW, kind, group=t.new_group() if grouped else None, **args)
        for o in reversed(outer):
            o.__exit__(None, None, None)
    return price(t.records, profile).sections[0].duration * profile.clock_mhz * 1e6


def map_cycles(writers: int, pages: int) -> float:
    """MAP device cycles from the sweep: measured where measured, else its slope onward."""
    by_pages = {int(p): c for p, c in HW["map"]["cycles"][str(writers)].items()}
    if pages in by_pages:
        return by_pages[pages]
    top = max(by_pages)
    return by_pages[top] + math.ceil(pages / writers) - math.ceil(top / writers)


@pytest.mark.parametrize("pages", [1, 16, 256, 1024, 4096, 100_000])
def test_a_map_alone_writes_a_page_a_cycle_and_pays_its_register_accesses(rtl: Profile,
                                                                         pages: int) -> None:
    """A MAP alone (one write port) costs its sweep's device cycles plus the parent's accesses
    around it: its wall time at one page, as the default build measured it, extrapolated a page
    a cycle."""
    wall_1 = BENCH["wall_cycles_per_command"]["MAP"]
    assert alone(rtl, "mkey_create", entries=pages) == pytest.approx(
        wall_1 + map_cycles(1, pages) - map_cycles(1, 1))


@pytest.mark.parametrize("pages", [1, 64, 1024, 65_536])
def test_a_map_in_a_round_uses_every_write_port(rtl: Profile, pages: int) -> None:
    """parallel_mkey: the build's MAPs come as a round and write with every port."""
    w = BENCH["mtt_writers"]
    assert w > 1
    got = alone(rtl, "mkey_create", grouped=True, entries=pages)
    assert got == pytest.approx(BENCH["wall_cycles_per_command"]["MAP"] - map_cycles(1, 1)
                                + map_cycles(w, pages))


@pytest.mark.parametrize("size", [16, 64, 100, 256, 1024, 32768])
def test_create_vq_by_queue_size(rtl: Profile, size: int) -> None:
    """CREATE_VQ clears the in-flight table 64 heads a cycle: the sweep's step, extrapolated."""
    sweep = {int(s): c for s, c in BENCH["create_vq_cycles_by_size"].items()}
    top = max(sweep)
    device = sweep.get(size, sweep[top] + math.ceil(size / 64) - math.ceil(top / 64))
    wall = BENCH["wall_cycles_per_command"]["CREATE_VQ"] - BENCH["cycles_per_command"]["CREATE_VQ"]
    assert alone(rtl, "vq_create", qsize=size) == pytest.approx(wall + device)


@pytest.mark.parametrize("kind, command", [
    ("vq_modify", "MODIFY_VQ"), ("vq_query", "QUERY_VQ"), ("vq_destroy", "DESTROY_VQ"),
    ("mr_indirect_create", "TABLE_NEW"), ("mr_table_switch", "TABLE_SWITCH"),
    ("mr_indirect_destroy", "TABLE_FREE"), ("mr_dma_destroy", "TABLE_FREE")])
def test_each_unit_alone_costs_its_commands_measured_wall(rtl: Profile, kind: str,
                                                          command: str) -> None:
    assert alone(rtl, kind) == pytest.approx(BENCH["wall_cycles_per_command"][command])


def test_the_units_the_rtl_does_without_a_command_are_free_and_ops_pay_their_own(rtl: Profile
                                                                                 ) -> None:
    walls = BENCH["wall_cycles_per_command"]
    # an empty table put in force: TABLE_NEW then TABLE_SWITCH, each with its collection
    assert alone(rtl, "mr_table_switch", flags=1) == pytest.approx(walls["TABLE_NEW"]
                                                                   + walls["TABLE_SWITCH"])
    # a region a reset releases is the RESET's work: nothing beside the op's own
    assert alone(rtl, "mr_indirect_destroy", ("compat_reset",)) == alone(rtl, "link_notifier",
                                                                         ("compat_reset",))
    for kind in ("link_notifier", "dev_resources_create", "rqt_update", "mkey_destroy",
                 "mr_dma_create", "cvq_iotlb_update", "dev_command"):
        assert alone(rtl, kind) == 0, kind
    for op, cmd in fit_rtl.OP_COMMANDS.items():
        item = rtl.item(Layer.OP, op)
        assert item is not None
        assert item.rules[-1].run.seconds({}) * rtl.clock_mhz * 1e6 == pytest.approx(walls[cmd])
    kick = rtl.item(Layer.OP, "kick_vq")
    assert kick is not None and kick.rules[-1].run.seconds({}) * 100e6 == pytest.approx(AXW)


def test_a_round_overlaps_like_the_device(rtl: Profile) -> None:
    """At no firmware latency a round of MODIFYs is bus-bound: the no-latency build's measured
    round times, within a few cycles."""
    for n, r in HW["rounds"]["modify"].items():
        t = Trace()
        with t.in_phase("B1", "dev"), t.span(Layer.OP, "suspend"):
            g = t.new_group()
            for v in range(int(n)):
                t.add(Layer.FW, "vq_modify", group=g, vq=v)
        got = price(t.records, rtl).sections[0].duration * 100e6
        assert got == pytest.approx(r["parallel"]["round_cycles"], rel=0.03), n


def test_rounds_of_every_build_are_priced_within_ten_percent() -> None:
    """The builds with firmware latency of hundreds of cycles and 1 to 8 slots: each round priced
    by the profile fitted at that build's latencies and slots."""
    rows = fit_rtl.rounds_check(BENCH, SWEEPS)
    assert len(rows) >= 4 * 2 * 2 * 4
    worst = max(rows, key=lambda r: abs(r[5] - r[4]) / r[4])
    assert abs(worst[5] - worst[4]) / worst[4] < 0.10, worst


def test_every_class_latency_adds_exactly() -> None:
    rows = fit_rtl.latency_check(SWEEPS)
    assert rows and all(measured == set_ for *_, measured, set_ in rows), \
        [r for r in rows if r[3] != r[4]][:3]


def test_the_models_driver_ok_plan_is_priced_as_the_rtl_measured_it(rtl: Profile) -> None:
    checks = fit_rtl.driver_ok_check(BENCH, rtl)
    assert [v for v, _, _ in checks] == sorted(int(v) for v in BENCH["driver_ok_cycles_by_vqs"])
    for _, measured, priced in checks:
        assert priced == pytest.approx(measured, rel=0.02)


def test_stated_clock_and_firmware_latency(tmp_path: Path) -> None:
    path = tmp_path / "rtl-250.toml"
    path.write_text(profile_text(BENCH, SWEEPS, clock_mhz=250,
                                 fw_latency={"VQ_MODIFY": 1000, "MAP": 300}))
    p = load_profile(path)
    base = load_profile("reference-rtl")
    assert p.clock_mhz == 250
    # the latency is added to the commands of its class only, in cycles at the stated clock
    for kind, shift in (("vq_query", 1000), ("vq_modify", 1000), ("mkey_create", 300),
                        ("vq_destroy", 0)):
        assert alone(p, kind) == pytest.approx(alone(base, kind) + shift), kind
    with pytest.raises(InputError, match="no command class 'WARP'"):
        profile_text(BENCH, SWEEPS, fw_latency={"WARP": 1})


def test_fit_finds_the_step_of_a_chunked_cost() -> None:
    xs = [1, 8, 16, 17, 40, 64, 200]
    obs = [Observation("X", {"qsize": x}, 3 + 2 * math.ceil(x / 16), "") for x in xs]
    fixed, terms, fitted = fit(obs)
    assert fixed == pytest.approx(3) and terms == [("qsize", pytest.approx(2), 16)]
    assert fitted == pytest.approx([o.cycles for o in obs])


def test_shipped_profile_is_what_the_fit_gives() -> None:
    """Regenerate with `vdpa-dv fit-rtl` after `make bench`."""
    assert (PROFILE_DIR / "reference-rtl.toml").read_text() == profile_text(BENCH, SWEEPS,
                                                                           drain=DRAIN)


def test_missing_figures_are_named() -> None:
    bench = {k: v for k, v in BENCH.items() if k != "settle_cycles"}
    with pytest.raises(InputError, match="lack settle_cycles: rerun `make bench`"):
        profile_text(bench, SWEEPS)
    with pytest.raises(InputError, match="no build without firmware latency"):
        profile_text(BENCH, {"builds": {}})


# -- a suspend's drain: priced by the work in flight ------------------------------------------
def suspend_trace(drain: dict[int, Drain] | None, parallel: bool = True) -> Trace:
    """The model's own suspend plan over four RDY VQs (mlx5_vdpa_suspend), with ``drain``."""
    fw = Mlx5Firmware(DeviceOptions(parallel_fw_cmds=parallel), 8,
                      DeviceOptions().device_features, trace=None)
    fw.device_add()
    fw.set_driver_features(DeviceOptions().device_features)
    for i in range(4):
        fw.set_vq_num(i, 64)
        fw.set_vq_address(i)
        fw.set_vq_ready(i, True)
    fw.set_status(0x0F)
    t = Trace()
    fw.trace = t
    with t.in_phase("B1", "dev"), t.span(Layer.OP, "suspend"):
        fw.suspend(drain)
    return t


def priced(profile: Profile, t: Trace) -> float:
    return price(t.records, profile).sections[0].duration * profile.clock_mhz * 1e6


@pytest.mark.parametrize("parallel", [True, False])
def test_a_suspend_costs_what_the_bench_measured_for_the_work_it_waited_for(
        rtl: Profile, parallel: bool) -> None:
    """For every point of the suspend bench, the model's suspend plan (four RDY VQs) with that
    work in flight on one VQ costs the idle plan plus what the bench measured beyond its idle
    suspend (within the fit's residual): exactly, one MODIFY after another; in a round
    (parallel_fw_cmds) less by at most the register accesses of the three MODIFYs after it
    (bus-bound: submissions and completion reads), which the drain overlaps on the RTL too.
    The drain lands on the MODIFY of that VQ alone."""
    rows = DRAIN["rows"]
    idle_cycles = min(r["suspend_cycles"] for r in rows if not r["drained_chains"])
    idle = priced(rtl, suspend_trace(None, parallel))
    assert priced(rtl, suspend_trace({}, parallel)) == idle
    # the fit runs through the idle suspend (fit_drain), as the profile prices it
    fit = fit_rtl.fit_drain(DRAIN)
    assert fit.fixed == idle_cycles
    tol = fit.max_residual
    for r in rows:
        d = {1: Drain(r["drained_bytes"], r["drained_chains"])}
        t = suspend_trace(d, parallel)
        drained = [rec for rec in t.records if rec.args.get("drain_chains")]
        assert [(rec.name, rec.args["vq"]) for rec in drained] == (
            [("vq_modify", 1)] if r["drained_chains"] else [])
        want = r["suspend_cycles"] - idle_cycles
        got = priced(rtl, t) - idle
        if parallel:
            overlap = 3 * ((BENCH["command_args"]["MODIFY_VQ"] + 1) * AXW + COLLECT)
            assert want - overlap - tol <= got <= want + tol, r
        else:
            assert got == pytest.approx(want, abs=tol + 1e-6), r


def test_the_drain_fit_needs_idle_and_busy_points() -> None:
    busy = {"rows": [r for r in DRAIN["rows"] if r["drained_chains"]]}
    with pytest.raises(InputError, match="idle points and points with a chain in flight"):
        fit_rtl.fit_drain(busy)
    with pytest.raises(InputError, match=r"rows\[0\] lack suspend_cycles"):
        fit_rtl.fit_drain({"rows": [{"drained_bytes": 0, "drained_chains": 0}]})
