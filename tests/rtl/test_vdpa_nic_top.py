# SPDX-License-Identifier: MIT
"""Build the reference device once per device file (tb/devices/) and build sweep, per bus model,
and run its cocotb tests (tb/vdpa_tb/tests/test_vdpa_nic_top.py)."""

from __future__ import annotations

import pytest

from vdpa_tb import devices, sim

#: every device file of the project (the default device and the second build, vdpa_nic_small)
DEVICES = {d.name: d for d in devices.project_devices()}
DEFAULT = DEVICES["vdpa_nic_top"]

# build sweeps of the default device beyond its device files: (parameters, test filter or None)
SWEEPS: dict[str, tuple[dict[str, int], str | None]] = {
    "nvq64-q32768": ({"NVQ": 64, "MAX_QSIZE": 32768, "IOTLB_ENTRIES": 64}, None),
}

# The cocotbext-axi reference models also run the traffic, fault and isolation tests on the
# default build, so the fast HDL/C++ bus models cannot drift from them unnoticed.
REFERENCE_FILTER = ("test_regs_and_commands|test_traffic_lockstep|test_iotlb_translation_and_faults|"
                    "test_ring_case|test_unmap_races_traffic|test_bus_errors|"
                    "test_dma_outside_mappings_fails_the_run|test_no_interrupt_without_event_idx")
RUNS: dict[str, tuple[devices.DeviceConfig, str, str | None]] = {
    **{f"{name}-hdl": (dev, "hdl", None) for name, dev in DEVICES.items()},
    **{f"{name}-hdl": (DEFAULT.with_parameters(**params), "hdl", flt)
       for name, (params, flt) in SWEEPS.items()},
    "default-cocotbext": (DEFAULT, "cocotbext", REFERENCE_FILTER),
}


@pytest.mark.sim
@pytest.mark.parametrize("run", list(RUNS))
def test_vdpa_nic_top(run: str) -> None:
    device, bus, test_filter = RUNS[run]
    sim.run(device.top, "vdpa_tb.tests.test_vdpa_nic_top", device=device,
            test_filter=test_filter, bus=bus)
