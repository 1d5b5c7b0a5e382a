# SPDX-License-Identifier: MIT
"""Firmware latency parameters by command class. The builds themselves (every parameter set
the tests and benchmarks run) are in testplan/vdpa_nic_sim.yaml."""

from __future__ import annotations

from .regmap import REGMAP


def latencies(*cycles: int) -> dict[str, int]:
    """FW_LAT_* parameters, given in the register map's class-code order."""
    classes = sorted(REGMAP.fw_class.values(), key=lambda f: f.code)
    return {f.param: c for f, c in zip(classes, cycles, strict=True)}


#: every class without firmware latency (the default device)
NO_LATENCY = latencies(0, 0, 0, 0, 0, 0, 0)
