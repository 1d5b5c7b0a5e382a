# SPDX-License-Identifier: MIT
"""``python -m vdpa_tb.hdlcov`` (``make cov``)."""

from .cli import main

raise SystemExit(main())
