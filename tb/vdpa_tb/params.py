# SPDX-License-Identifier: MIT
"""RTL parameter sets that several test and benchmark modules share, so they share one build.

``FW_LATENCY`` gives every command class a firmware latency of hundreds of cycles, large against
the parent's register writes, so that a parallel round and a serial one differ clearly in
simulated time; the figures are in the order of mlx5's relative costs (creating a VQ about twice
a MODIFY, calibration C5), scaled down to keep simulations short.
"""

from __future__ import annotations

from .regmap import REGMAP


def latencies(*cycles: int) -> dict[str, int]:
    """FW_LAT_* parameters, given in the register map's class-code order."""
    classes = sorted(REGMAP.fw_class.values(), key=lambda f: f.code)
    return {f.param: c for f, c in zip(classes, cycles, strict=True)}


#: VQ_CREATE, VQ_DESTROY, VQ_MODIFY, MAP, UNMAP, RESET, OTHER
FW_LATENCY = latencies(800, 400, 400, 300, 200, 300, 20)
NO_LATENCY = latencies(0, 0, 0, 0, 0, 0, 0)

#: the build the parent-option tests and the command benchmarks use (one build for both); few
#: translation tables, so deferred frees run out of them within a test
OPTIONS_BUILD = {"MAX_QSIZE": 1024, "IOTLB_TABLES": 8, **FW_LATENCY}
