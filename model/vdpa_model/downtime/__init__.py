# SPDX-License-Identifier: MIT
"""The downtime model: migration op traces priced into downtimes, checked against budgets."""

from .profile import Profile, load_profile
from .scheduler import PriceOptions, PricingError, Schedule, price, window_of
from .tomlfile import InputError

__all__ = ["InputError", "PriceOptions", "PricingError", "Profile", "Schedule", "load_profile", "price",
           "window_of"]
