# SPDX-License-Identifier: MIT
"""Seeded regressions at scale (``make regress``): the configuration as data (simcfg), jobs and
seeds (jobs), one job on a worker (execute), Dask distribution (engine), the merged report
(report) and the command line (cli). See docs/regression.md."""
