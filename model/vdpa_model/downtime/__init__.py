# SPDX-License-Identifier: MIT
"""The downtime model: migration op traces priced into downtimes, checked against budgets."""

from .analysis import compare, evaluate, sensitivity
from .budget import Budget, check_all, load_budgets
from .profile import Profile, load_profile
from .report import Result, compose
from .scheduler import PriceOptions, PricingError, Schedule, price, window_of
from .tomlfile import InputError

__all__ = ["Budget", "InputError", "PriceOptions", "PricingError", "Profile", "Result", "Schedule",
           "check_all", "compare", "compose", "evaluate", "load_budgets", "load_profile", "price",
           "sensitivity", "window_of"]
