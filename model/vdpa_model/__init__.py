# SPDX-License-Identifier: MIT
"""vdpa_model: the executable reference model of the Linux vDPA live-migration contract.

Pure Python (numpy only), no simulator import: usable on its own by kernel and QEMU developers,
and the golden reference the test bench scores devices against.
"""

from .device import ReferenceDevice
from .errors import VdpaError
from .memory import Allocator, GuestMemory
from .ops import IotlbRange, VdpaOps, VqObjectState, VqState
from .options import DeviceOptions, Parent
from .vhost import VhostVdpa

__all__ = [
    "Allocator",
    "DeviceOptions",
    "GuestMemory",
    "IotlbRange",
    "Parent",
    "ReferenceDevice",
    "VdpaError",
    "VdpaOps",
    "VhostVdpa",
    "VqObjectState",
    "VqState",
]
