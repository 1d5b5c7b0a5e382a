# SPDX-License-Identifier: MIT
"""vdpa-dv testbench: the parent driver for the RTL device, bus models and helpers."""
