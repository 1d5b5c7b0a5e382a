# SPDX-License-Identifier: MIT
"""The downtime model: migrations priced into downtimes, checked against budgets.

::

    scenario (data/scenarios/*.toml) --predict--> the migration flows on the reference device
              |                                   (one NIC per shape, copies for the rest)
    trace (vdpa_model.trace, JSON lines)      profile (data/profiles/*.toml)
              \\                                  /
               scheduler.price: event-driven, nested records, groups up to the pools'
               concurrency, counts of identical units, devices in sections, priced once
                                  |
               report.compose: downtime #1, #2, guest-visible; per phase, device, kind
                     /                  |                    \\
         budget.check_all        charts (PNG, lazy)     analysis: sensitivity,
         (data/budgets/*.toml)                           measured versus priced
                     \\
               verdict.judge (a scenario, along the staircase) / judge_measured (a trace a
               simulation measured)

Modules: :mod:`.profile` (the cost-profile format and loader), :mod:`.scheduler`,
:mod:`.report`, :mod:`.budget`, :mod:`.analysis`, :mod:`.charts`, :mod:`.scenario` (the
scenario file), :mod:`.predict` (a scenario through the flows, priced), :mod:`.verdict`,
:mod:`.calibration` (the published single-operation figures run through the model),
:mod:`.fit_rtl` (``vdpa-dv fit-rtl``: the reference-rtl profile from the RTL's measured
cycles), :mod:`.command` (``vdpa-dv downtime``), :mod:`.params_doc` (the generated tables of
the docs). docs/downtime.md describes the formats, the shipped profiles and their assumed
parameters.

Nothing here imports matplotlib except :mod:`.charts`, and nothing imports a simulator.
"""

from .analysis import compare, evaluate, sensitivity
from .budget import Budget, check_all, load_budgets
from .profile import Profile, load_profile
from .report import Result, compose
from .scenario import Scenario, load_scenario
from .scheduler import PriceOptions, PricingError, Schedule, price, window_of
from .tomlfile import InputError

__all__ = [
    "Budget",
    "InputError",
    "PriceOptions",
    "PricingError",
    "Profile",
    "Result",
    "Scenario",
    "Schedule",
    "check_all",
    "compare",
    "compose",
    "evaluate",
    "load_budgets",
    "load_profile",
    "load_scenario",
    "price",
    "sensitivity",
    "window_of",
]
