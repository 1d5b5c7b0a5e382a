# SPDX-License-Identifier: MIT
"""The downtime model: migration op traces priced into downtimes, checked against budgets.

::

    trace (vdpa_model.trace, JSON lines)      profile (data/profiles/*.toml)
              \\                                  /
               scheduler.price: event-driven, nested records, groups up to the pools'
               concurrency, devices in sections, identical devices priced once
                                  |
               report.compose: downtime #1, #2, guest-visible; per phase, device, kind
                     /                  |                    \\
         budget.check_all        charts (PNG, lazy)     analysis: sensitivity,
         (data/budgets/*.toml)                           measured versus priced

Modules: :mod:`.profile` (the cost-profile format and loader), :mod:`.scheduler`,
:mod:`.report`, :mod:`.budget`, :mod:`.analysis`, :mod:`.charts`, :mod:`.scenario` (the
scenario file the migration flows will run), :mod:`.fit_rtl` (``vdpa-dv fit-rtl``: the
reference-rtl profile from the RTL's measured cycles), :mod:`.command` (``vdpa-dv downtime``).
docs/downtime.md describes the formats, the shipped profiles and their assumed parameters.

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
