# SPDX-License-Identifier: MIT
"""``python -m vdpa_tb.regress``."""

from .cli import main

raise SystemExit(main())
