# SPDX-License-Identifier: MIT
"""ConfigDB keys of the pyuvm layer, in one place so a typo is a NameError, not a silent miss.

Every key is set by a test's ``build_phase`` (or by the env) and read by components at their
own ``build_phase``/``run_phase``; nothing is set at import time (pyuvm clears its singletons
per test, so a value set at import would vanish after the first test).
"""

from __future__ import annotations

#: The :class:`vdpa_tb.uvm.context.DeviceContext` (Tb + Lockstep + shadow + vhost-vdpa).
DEVICE_CTX = "DEVICE_CTX"
#: The op/traffic sequencer, for virtual sequences.
SEQR = "SEQR"
#: ``[(covergroup, bin), ...]`` the test's stimulus must hit; a miss fails report_phase.
REQUIRED_BINS = "REQUIRED_BINS"
#: True to report missed required bins as warnings only (SimpleMem's DISABLE_COVERAGE_ERRORS).
DISABLE_COVERAGE_ERRORS = "DISABLE_COVERAGE_ERRORS"
#: Name of the per-test coverage JSON (``build/coverage/func/<device>/<name>.json``).
COVERAGE_NAME = "COVERAGE_NAME"
#: Seed of the sequences' random choices (logged so a failure reruns with it).
SEQ_SEED = "SEQ_SEED"
#: Number of rounds of RandomMixSeq.
RANDOM_ROUNDS = "RANDOM_ROUNDS"
