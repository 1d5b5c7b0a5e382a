# SPDX-License-Identifier: MIT
"""pyuvm layer over the vdpa_nic_top testbench: items, sequences, agent, scoreboard, functional
coverage. See docs/testbench.md. Importing this package creates no uvm object (pyuvm clears its
singletons per test; objects made at import time would leak between tests)."""
