# SPDX-License-Identifier: MIT
"""Shared pytest set-up: import paths for a plain checkout, Hypothesis profiles, and the tally
of clock cycles the RTL simulations simulated (printed at the end of the run)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
for sub in ("model", "tb"):
    path = str(ROOT / sub)
    if path not in sys.path:
        sys.path.insert(0, path)

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - hypothesis is a pinned test dependency
    pass
else:
    # "ci" keeps the whole model suite well inside its two-minute budget on two cores;
    # "thorough" is for nightly runs (HYPOTHESIS_PROFILE=thorough).
    settings.register_profile("ci", max_examples=60, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("thorough", max_examples=2000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    """The controller (not an xdist worker) opens a fresh ledger; workers inherit its path."""
    if hasattr(config, "workerinput"):
        return
    from vdpa_tb import sim

    ledger = ROOT / "build" / "sim_runs"
    shutil.rmtree(ledger, ignore_errors=True)
    ledger.mkdir(parents=True)
    os.environ[sim.LEDGER_ENV] = str(ledger)
    config.stash[_LEDGER] = ledger


_LEDGER = pytest.StashKey[Path]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    if _LEDGER not in config.stash:
        return
    from vdpa_tb import sim

    for line in sim.ledger_summary(config.stash[_LEDGER]):
        terminalreporter.write_line(line)
