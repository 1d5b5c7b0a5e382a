# SPDX-License-Identifier: MIT
"""A scenario to downtimes: the migration flows run on the reference device, the trace priced.

::

    scenario (data/scenarios/*.toml)  --migration_setup-->  MigrationSetup, one NIC
         |                                                       |
         |                                   vdpa_model.migration: Flows A, C 4.1, B, C 4.2
         |                                   on the reference device (mlx5 parent), traced
         |                                                       |
         +-- copies: the NIC stands for every device ---> analysis.evaluate (profile) -> Result

All devices of a scenario have one shape, and devices share nothing in the model (every
device has its own fd, pins on its own, and QEMU walks them one after another;
migration-sequence.md §1 items 2 and 11), so the flows run one NIC and the trace's ``src0`` and
``dst0`` stand for all of them (``copies``), which keeps a 256-device VM as cheap as one.
The flows run with their checks (every buffer completed once, isolation, the control state
migrated): a prediction from a migration that failed them would mean nothing, so that raises.

:func:`staircase` does the same for every cumulative preset of :data:`vdpa_model.switches.
STAIRCASE`, upstream QEMU first, with the scenario's own switch settings on top of each.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence

from ..migration import Migration, MigrationSetup
from ..options import Parent
from ..ramlayout import RamLayout
from ..switches import STAIRCASE
from ..sync import run
from ..trace import TraceRecord
from .analysis import evaluate
from .profile import Profile
from .report import Result
from .scenario import Scenario
from .scheduler import PriceOptions

#: The device names of the one traced NIC.
SOURCE, DESTINATION = "src0", "dst0"


class FlowCheckError(RuntimeError):
    """The migration flows failed their own checks: the trace cannot be trusted."""


@dataclasses.dataclass
class Prediction:
    """One configuration of a scenario, priced: the result, the trace it came from and how long
    the flows and the pricing took (wall seconds)."""

    scenario: Scenario
    label: str
    result: Result
    records: list[TraceRecord]
    copies: dict[str, int]
    flows_s: float
    pricing_s: float

    @property
    def options(self) -> PriceOptions:
        return PriceOptions(copies=self.copies)


def migration_setup(sc: Scenario) -> MigrationSetup:
    """The flows' setup for one NIC of ``sc`` (see the module docstring)."""
    setup = MigrationSetup(parent=Parent.MLX5, devices=1, queue_pairs=sc.max_queue_pairs,
                           active_pairs=sc.queue_pairs, queue_size=sc.queue_size,
                           layout=RamLayout(sc.ram, sc.page_size, host=sc.host), switches=sc.switches,
                           vlans=sc.vlans, trace_devices=1)
    mac = sc.mac_bytes
    if mac != setup.device_options().mac:  # the guest set its own address at boot
        setup = dataclasses.replace(setup, guest_mac=mac)
    return setup


def scenario_trace(sc: Scenario) -> tuple[list[TraceRecord], dict[str, int]]:
    """The trace of one NIC of ``sc`` under its switches, and the copies it stands for."""
    result = run(Migration(migration_setup(sc)).run())
    if not result.report.ok:
        raise FlowCheckError(f"scenario {sc.name} ({sc.switches.describe()}): the migration failed "
                             f"its checks:\n{result.report.render()}")
    return result.trace.records, {SOURCE: sc.devices, DESTINATION: sc.devices}


def predict(sc: Scenario, profile: Profile, label: str | None = None) -> Prediction:
    """Run ``sc``'s flows and price them with ``profile``."""
    t0 = time.perf_counter()
    records, copies = scenario_trace(sc)
    t1 = time.perf_counter()
    result = evaluate(records, profile, label=label or sc.preset or sc.switches.describe(),
                      options=PriceOptions(copies=copies), ram_copy=sc.final_ram_copy_s)
    t2 = time.perf_counter()
    return Prediction(sc, result.label, result, records, copies, t1 - t0, t2 - t1)


def staircase(sc: Scenario, profile: Profile, steps: Sequence[str] = STAIRCASE,
              overrides: Mapping[str, bool] | None = None) -> list[Prediction]:
    """Every cumulative preset of ``steps`` for ``sc``'s VM, its file's switch settings and then
    ``overrides`` on top of each (raises SwitchError for a step they make impossible)."""
    return [predict(sc.with_preset(step, **(overrides or {})), profile, step) for step in steps]
