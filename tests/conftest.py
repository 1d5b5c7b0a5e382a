# SPDX-License-Identifier: MIT
"""Shared pytest set-up: import paths for a plain checkout and Hypothesis profiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
