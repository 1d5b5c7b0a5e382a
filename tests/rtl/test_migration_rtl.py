# SPDX-License-Identifier: MIT
"""Live migrations on the RTL pair (tb/vdpa_tb/tests/test_migration_rtl.py), one simulation per
configuration, each measured step by step (build/migration-rtl/rtl-<switches>.json and .jsonl).

CI runs upstream QEMU and everything on; ``make migrate-rtl`` (VDPA_MIGRATION_PRESETS=all) runs
every cumulative preset of vdpa_model.switches.PRESETS and a few combinations beside them.
"""

from __future__ import annotations

import json
import os

import pytest

from vdpa_model.switches import STAIRCASE
from vdpa_tb import sim

TOP = "vdpa_nic_pair"
#: the pair as the migrations need it: room in the IOTLB for a guest's RAM and its rings twice
#: over (a table built beside the one in force)
PARAMS = {"IOTLB_ENTRIES": 64, "MTT_DEPTH": 32768}
CI = ("upstream", "all-on")
#: beside the staircase, combinations the presets do not reach: firmware that cannot resume
#: (trap 11), deferred frees of whole-RAM tables, everything on but the resumable switch
MIXED = ("upstream,fw_resumable=off", "parallel_mkey,deferred_mr_free", "all-on,-resumable_vqs")
CONFIGS = (*STAIRCASE, *MIXED) if os.environ.get("VDPA_MIGRATION_PRESETS") == "all" else CI
OUT = sim.ROOT / "build" / "migration-rtl"


@pytest.mark.sim
@pytest.mark.parametrize("switches", CONFIGS)
def test_migration_on_the_rtl_pair(switches: str) -> None:
    label = switches.replace(",", "_")
    sim.run(TOP, "vdpa_tb.tests.test_migration_rtl", PARAMS, name=f"migrate-{label}",
            extra_env={"VDPA_MIGRATION_SWITCHES": switches, "VDPA_MIGRATION_OUT": str(OUT)})
    summary = json.loads((OUT / f"rtl-{label}.json").read_text())
    assert summary["ok"]
    print(f"\n{switches}: {summary['simulated_cycles']:,} cycles simulated in "
          f"{summary['wall_seconds']} s (limit 60 s on two cores)")
