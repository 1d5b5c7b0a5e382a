# SPDX-License-Identifier: MIT
"""What every benchmark script does the same way: the machine and commit it ran on, a cocotb
bench module run for its JSON figures, and its results file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def commit() -> str:
    """The checkout's short commit id, with "+changes" when the tree differs from it (what was
    measured is then not that commit: the figures are committed after the change they
    measure)."""
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                       text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + ("+changes" if dirty else "")


def run_bench_module(module: str, params: Mapping[str, object], name: str | None = None,
                     env: Mapping[str, str] | None = None, top: str = "vdpa_nic_top"
                     ) -> dict[str, Any]:
    """Run the cocotb bench ``module`` (tb/vdpa_tb/tests/) on ``top`` built with ``params`` and
    return the figures it wrote to $BENCH_OUT."""
    sys.path.insert(0, str(ROOT / "tb"))
    from vdpa_tb import sim

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        sim.run(top, module, dict(params), name=name,
                extra_env={"BENCH_OUT": str(out), **(env or {})})
        return json.loads(out.read_text())  # type: ignore[no-any-return]


def write_results(results: dict[str, Any], out: Path) -> None:
    """Write ``results`` as JSON to ``out`` and say where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
