# SPDX-License-Identifier: MIT
"""cocotb test modules, one per RTL top (run from tests/rtl through vdpa_tb.sim)."""
