# SPDX-License-Identifier: MIT
"""The mlx5-cx6dx profile reproduces every single-operation figure it is built from, through the
real model.

Each figure of calibration-figures.md is run as the migration flows run that operation on the
reference device (vdpa_model.downtime.calibration: the suspend of Flow B, the destination's VQ
bring-up, the shadow CVQ's commands, ...); the trace the firmware model writes for it is priced
with the profile and compared with the published figure, written here as published. A profile
edit, or a change of the firmware model's decisions, that drifts from a source fails here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vdpa_model import fwmodel
from vdpa_model.downtime import calibration
from vdpa_model.downtime.calibration import FIGURES, Figure
from vdpa_model.downtime.profile import Profile, load_profile

PUBLISHED_MS = {  # calibration-figures.md, as published
    "C1 after": 60.0, "C1 before": 370.0, "C2 serial": 37.0, "C2 parallel": 13.0,
    "C2 notifier kept": 2.5, "C3 serial": 16.0, "H4 serial": 20.5, "H4 parallel": 13.7,
    "H1": 3000.0, "H2 4 KiB pages": 280.0, "H2 THP": 47.0, "H2 hugetlbfs": 52.0,
}


@pytest.fixture(scope="module")
def mlx5() -> Profile:
    return load_profile("mlx5-cx6dx")


@pytest.mark.parametrize("figure", FIGURES, ids=[f.id for f in FIGURES])
def test_the_model_reproduces_the_published_figure(mlx5: Profile, figure: Figure) -> None:
    value = figure.measure(mlx5)
    assert figure.holds(value), f"{figure.id}: model {value:.3f} {figure.unit}, published {figure.published}"
    if figure.id in PUBLISHED_MS:  # the figure object carries the published value, not the model's
        assert figure.low == figure.high == PUBLISHED_MS[figure.id]


def test_every_figure_of_the_issue_is_covered() -> None:
    ids = {f.id.split()[0] for f in FIGURES}
    assert {"C1", "C2", "C3", "C6", "C7", "C8", "H1", "H2", "H4", "talk"} <= ids


def test_c3_parallel_is_inside_the_published_range(mlx5: Profile) -> None:
    assert 4.5 <= calibration.c3_resume(mlx5, True) <= 5.0


def test_c10_the_firmware_pools_hold_sixteen_commands(mlx5: Profile) -> None:
    """C10: the async command throttle, ~16 in flight, for MODIFY/QUERY rounds and MKEYs. (That
    a pool honours its slots is the scheduler's unit test.)"""
    assert mlx5.pools["fw_cmds"].slots == 16 and mlx5.pools["mtt_writers"].slots == 16


# -- the figures fail when what they rest on drifts -------------------------------------------
@pytest.fixture
def fresh_traces() -> Iterator[None]:
    calibration.migration_trace.cache_clear()
    yield
    calibration.migration_trace.cache_clear()


def test_a_profile_drift_fails_its_figure(mlx5: Profile) -> None:
    drifted = mlx5.with_overrides({"fw.vq_modify.case[0].fixed": 910.534 * 1.1})
    after = next(f for f in FIGURES if f.id == "C1 after")
    assert after.holds(after.measure(mlx5)) and not after.holds(after.measure(drifted))


def test_a_firmware_model_drift_fails_its_figure(mlx5: Profile, monkeypatch: pytest.MonkeyPatch,
                                                 fresh_traces: None) -> None:
    """If the parent readied an INIT VQ with one MODIFY instead of two (the firmware quirk of
    resume_vqs), C1 after would no longer come out of the model."""
    quirk = fwmodel.Mlx5Firmware._resume_vqs

    def one_modify(self: fwmodel.Mlx5Firmware, p: fwmodel._Plan, start: int, n: int) -> bool:
        if start < self.max_vqs and self.vqs[start].fw_state is fwmodel.FwState.INIT:
            self.vqs[start].fw_state = fwmodel.FwState.SUSPEND  # skip the fields-only round
        return quirk(self, p, start, n)

    monkeypatch.setattr(fwmodel.Mlx5Firmware, "_resume_vqs", one_modify)
    after = next(f for f in FIGURES if f.id == "C1 after")
    assert not after.holds(after.measure(mlx5))
