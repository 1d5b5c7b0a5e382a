# SPDX-License-Identifier: MIT
"""Regression jobs: one simulation of an item (a test or a group) on a build with a seed.

A job carries everything a worker needs (top, parameters, bus models, module, tests, seed,
limits, environment), so a worker on another machine needs the checkout and the pinned
environment but not the configuration file. Seeds are derived from the regression's base seed,
the item, the build and the seed index, so a regression is reproducible from its base seed and
every run from its own seed, whatever the order or the subset that runs.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .simcfg import Item, SimCfg

#: the command that reruns a job by hand, from the checkout (printed with every failure)
CLI = ".venv/bin/python -m vdpa_tb.regress"


def derive_seed(base: int, item: str, build: str, index: int) -> int:
    """A 32-bit seed for the ``index``-th run of ``item`` on ``build`` in a regression of base
    seed ``base``: independent of which other items or builds run."""
    h = hashlib.sha256(f"{base}:{item}:{build}:{index}".encode()).digest()
    return int.from_bytes(h[:4], "little")


def cocotb_filter(tests: Iterable[str]) -> str:
    """COCOTB_TEST_FILTER for exactly these tests and their parametrized variants (cocotb
    searches the filter in ``<module>.<test>[/<params>]``)."""
    names = "|".join(re.escape(t) for t in tests)
    return rf"\.(?:{names})(?:/|$)"


@dataclass(frozen=True)
class Job:
    """One simulation. ``tests`` are the cocotb tests it runs (one, or a group's)."""

    item: str
    module: str
    tests: tuple[str, ...]
    build: str
    top: str
    params: Mapping[str, Any]
    bus: str
    seed: int
    index: int
    timeout: float
    env: Mapping[str, str] = field(default_factory=dict)
    cov: bool = False
    waves: bool = False
    #: where the worker puts the run directory: relative to its checkout, or absolute
    runs_dir: str = "build/regress/runs"
    #: the build's device file (vdpa_tb.devices), if it comes from one
    device: str | None = None

    @property
    def id(self) -> str:
        return f"{self.item}.{self.build}.{self.seed}" + (".waves" if self.waves else "")

    @property
    def test_filter(self) -> str:
        return cocotb_filter(self.tests)

    def rerun_command(self, waves: bool = True) -> str:
        """The one command that reruns this simulation with its seed and writes an FST waveform
        (in a waveform build without coverage: coverage counters change no behaviour)."""
        cmd = [CLI, "rerun", self.item, "--build", self.build, "--seed", str(self.seed)]
        if waves:
            cmd.append("--waves")
        return " ".join(shlex.quote(c) if c != CLI else c for c in cmd)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tests"] = list(self.tests)
        d["params"] = dict(self.params)
        d["env"] = dict(self.env)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Job:
        return cls(**{**d, "tests": tuple(d["tests"])})


def job_for(cfg: SimCfg, item: Item, build: str, seed: int, index: int = 0, *,
            cov: bool = False, waves: bool = False,
            runs_dir: str = "build/regress/runs") -> Job | None:
    """The job of ``item`` on ``build`` with ``seed``; None if it runs none of its tests there
    (a build's ``only`` list, a test's own ``builds`` or ``skip_builds``: a group's job leaves
    out the members that do not run on its build)."""
    b = cfg.builds[build]
    tests = tuple(t for t in item.tests
                  if b.allows(t) and (t not in cfg.tests or build not in cfg.tests[t].skipped))
    if not tests:
        return None
    return Job(item.name, item.module, tests, build, b.top, dict(b.params), b.bus, seed, index,
               item.timeout, dict(item.env), cov, waves, runs_dir, b.device)


def expand(cfg: SimCfg, items: Iterable[Item], seeds: int, base_seed: int, *,
           builds: Iterable[str] | None = None, cov: bool = False,
           runs_dir: str = "build/regress/runs") -> list[Job]:
    """Items x their builds (narrowed to ``builds`` if given) x seeds (``seeds`` for seeded
    items, one for the others), ordered so the first jobs of different builds come first: two
    workers then compile two parameter sets at once instead of one waiting for the other."""
    wanted = None if builds is None else set(builds)
    per_build: dict[str, list[Job]] = {}
    for item in items:
        for build in item.builds:
            if wanted is not None and build not in wanted:
                continue
            for k in range(seeds if item.seeded else 1):
                job = job_for(cfg, item, build, derive_seed(base_seed, item.name, build, k), k,
                              cov=cov, runs_dir=runs_dir)
                if job is not None:
                    per_build.setdefault(build, []).append(job)
    return interleave(per_build)


def interleave(per_build: Mapping[str, list[Job]]) -> list[Job]:
    """The jobs of every build taken in turn, so that the first jobs of different builds come
    first: two workers then compile two parameter sets at once instead of one waiting."""
    out: list[Job] = []
    queues = [list(q) for q in per_build.values()]
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out
