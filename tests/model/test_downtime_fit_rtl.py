# SPDX-License-Identifier: MIT
"""The reference-rtl profile: fitted from the RTL's benchmark figures, it reproduces the cycle
counts docs/rtl-interface.md states, extrapolates with the right step, and is not stale."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vdpa_model.downtime import fit_rtl
from vdpa_model.downtime.fit_rtl import Observation, fit, profile_text
from vdpa_model.downtime.profile import PROFILE_DIR, load_profile
from vdpa_model.trace import Layer

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "results" / "rtl_vdpa_nic_top.json"


@pytest.fixture(scope="module")
def rtl() -> object:
    return load_profile("reference-rtl")


def cycles(profile: object, kind: str, within: tuple[str, ...] = (), **args: int) -> float:
    item = profile.item(Layer.FW, kind)  # type: ignore[attr-defined]
    rule = item.rule("", args.get("page_size"), set(within))
    return rule.run.seconds(args) * profile.clock_mhz * 1e6  # type: ignore[attr-defined]


@pytest.mark.parametrize("pages", [1, 16, 256, 1024, 4096, 100_000])
def test_map_is_pages_plus_6(rtl: object, pages: int) -> None:
    """docs/rtl-interface.md: MAP = pages + 6 (one MTT word per page); extrapolates linearly."""
    assert cycles(rtl, "mkey_create", entries=pages) == pytest.approx(pages + 6)


@pytest.mark.parametrize("size", [2, 16, 64, 100, 256, 1024, 32768])
def test_create_vq_is_ceil_size_over_64_plus_5(rtl: object, size: int) -> None:
    """docs/rtl-interface.md: CREATE_VQ = ceil(size / 64) + 5 (64 heads cleared per cycle)."""
    assert cycles(rtl, "vq_create", qsize=size) == pytest.approx(math.ceil(size / 64) + 5)


def test_other_commands_and_contexts(rtl: object) -> None:
    assert cycles(rtl, "vq_modify") == pytest.approx(5)
    assert cycles(rtl, "vq_modify", ("resume",)) == pytest.approx(5)
    # SUSPEND_ALL idle, plus half the measured drain of a 1500-byte chain (the default share)
    sus = json.loads(BENCH.read_text())["suspend_cycles"]
    drain = sus["draining_one_1500B_chain"] - sus["idle"]
    assert cycles(rtl, "vq_modify", ("suspend",)) == pytest.approx(sus["idle"] + 0.5 * drain)
    assert cycles(rtl, "dev_command", ("set_group_asid",)) == pytest.approx(6)
    assert cycles(rtl, "dev_command", ("set_status",)) == pytest.approx(2)
    assert cycles(rtl, "mkey_destroy", entries=1024) == pytest.approx(6)


def test_fit_finds_the_step_of_a_chunked_cost() -> None:
    xs = [1, 8, 16, 17, 40, 64, 200]
    obs = [Observation("X", "vq_create", None, {"qsize": x}, 3 + 2 * math.ceil(x / 16), "") for x in xs]
    fixed, terms, fitted = fit(obs)
    assert fixed == pytest.approx(3) and terms == [("qsize", pytest.approx(2), 16)]
    assert fitted == pytest.approx([o.cycles for o in obs])


def test_stated_clock_and_firmware_latency(tmp_path: Path) -> None:
    bench = json.loads(BENCH.read_text())
    path = tmp_path / "rtl-250.toml"
    path.write_text(profile_text(bench, clock_mhz=250, fw_latency=1000))
    p = load_profile(path)
    assert p.clock_mhz == 250
    # the latency is added to every command the RTL runs, and nothing else
    assert cycles(p, "mkey_create", entries=10) == pytest.approx(10 + 6 + 1000)
    assert cycles(p, "vq_query") == pytest.approx(5 + 1000)
    assert cycles(p, "link_notifier") == 0


def test_driver_ok_sweep_priced_within_5_percent() -> None:
    bench = json.loads(BENCH.read_text())
    checks = fit_rtl.driver_ok_check(bench, PROFILE_DIR / "reference-rtl.toml")
    assert [v for v, _, _ in checks] == [2, 4, 8]
    for _, measured, priced in checks:
        assert priced == pytest.approx(measured, rel=0.05)


def test_shipped_profile_is_what_the_fit_gives() -> None:
    """Regenerate with `vdpa-dv fit-rtl` after `make bench`."""
    bench = json.loads(BENCH.read_text())
    assert (PROFILE_DIR / "reference-rtl.toml").read_text() == profile_text(bench)


def test_missing_sweeps_are_named() -> None:
    bench = json.loads(BENCH.read_text())
    del bench["unmap_cycles_by_pages"]
    with pytest.raises(ValueError, match="lack unmap_cycles_by_pages: rerun `make bench`"):
        profile_text(bench)
