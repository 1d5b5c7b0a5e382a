# SPDX-License-Identifier: MIT
"""The downtime model: migration op traces priced into downtimes, checked against budgets."""

from .profile import Profile, load_profile
from .tomlfile import InputError

__all__ = ["InputError", "Profile", "load_profile"]
