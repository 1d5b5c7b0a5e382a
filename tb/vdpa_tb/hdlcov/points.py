# SPDX-License-Identifier: MIT
"""Verilator's coverage files (``coverage.dat``, format "SystemC::Coverage-3") read and merged in
Python, so code coverage needs nothing beyond the pinned packages.

Each line of the file is ``C '<point>' <count>``. The point is a list of keys and values, each
key preceded by \\x01 and each value by \\x02 (include/verilated_cov_key.h): ``f`` source file,
``l`` line, ``n`` column, ``t`` type (line, branch, toggle), ``page`` ``v_<type>/<module>``
(``__D<n>`` appended for a parameterised copy), ``o`` the point's name (``block``, ``if``,
``cond_then``, ``sig[3]:0->1``), ``S`` the further source lines a block covers
(``12-15,17``), ``h`` the instance. Merging adds the counts of identical point strings, as
``verilator_coverage --write`` does.

Here points are made relative to the checkout (``rtl/x.sv``), so runs from several machines and
checkouts merge, and only points of sources under ``rtl/`` are kept: the testbench tops add
nothing to the design's figures.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: a point of a coverage file: its name string and its count
_ENTRY = re.compile(r"^C '(.*)' (\d+)$")
HEADER = "# SystemC::Coverage-3"
METRICS = ("line", "branch", "toggle")
#: sources whose points count, relative to the checkout
DESIGN_DIR = "rtl"

Raw = dict[str, int]


def split_point(name: str) -> dict[str, str]:
    """Keys and values of a point name."""
    return dict(f.split("\x02", 1) for f in name.split("\x01")[1:] if "\x02" in f)


def join_point(kv: Mapping[str, str]) -> str:
    return "".join(f"\x01{k}\x02{v}" for k, v in kv.items())


def read_dat(text: str, root: Path, design_dir: str = DESIGN_DIR) -> Raw:
    """Points of a coverage file whose source lies under ``root/design_dir``, with file paths
    made relative to ``root``; counts of points that become identical are added."""
    base = os.path.normpath(str(root.resolve()))
    out: Raw = {}
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if not m:
            continue
        kv = split_point(m.group(1))
        path = os.path.normpath(kv.get("f", ""))
        rel = os.path.relpath(path, base) if os.path.isabs(path) else path
        if not rel.startswith(design_dir + os.sep):
            continue
        kv["f"] = rel
        key = join_point(kv)
        out[key] = out.get(key, 0) + int(m.group(2))
    return out


def merge(runs: Iterable[Mapping[str, int]]) -> Raw:
    """The sum of several runs' points."""
    out: Raw = {}
    for r in runs:
        for k, n in r.items():
            out[k] = out.get(k, 0) + n
    return out


def write_dat(raw: Mapping[str, int], path: Path) -> None:
    """A coverage file Verilator's own tools read (``verilator_coverage --annotate``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        for k in sorted(raw):
            f.write(f"C '{k}' {raw[k]}\n")


# --- compact form for moving a run's coverage between machines -------------------------------

@dataclass(frozen=True)
class Packed:
    """A run's points as a layout (the point names, identical for every run of one build) and
    counts in layout order, both compressed: a regression carries hundreds of these to the
    machine that merges them, and decompresses each layout's names once."""

    layout: str          # digest of the names
    names: bytes         # zlib of the names joined by \n
    counts: bytes        # zlib of little-endian uint64 counts


def pack(raw: Mapping[str, int]) -> Packed:
    names = sorted(raw)
    blob = "\n".join(names).encode()
    counts = np.fromiter((raw[n] for n in names), dtype="<u8", count=len(names))
    return Packed(hashlib.sha1(blob).hexdigest(), zlib.compress(blob, 6),
                  zlib.compress(counts.tobytes(), 6))


class Accumulator:
    """Sums packed runs per layout with numpy; ``raw()`` gives the merged points."""

    def __init__(self) -> None:
        self._names: dict[str, list[str]] = {}
        self._sums: dict[str, np.ndarray] = {}
        self.runs = 0

    def add(self, p: Packed) -> None:
        counts = np.frombuffer(zlib.decompress(p.counts), dtype="<u8")
        if p.layout not in self._names:
            self._names[p.layout] = zlib.decompress(p.names).decode().split("\n") if counts.size \
                else []
            self._sums[p.layout] = np.zeros(counts.size, dtype="<u8")
        if counts.size != self._sums[p.layout].size:
            raise ValueError(f"coverage layout {p.layout[:12]}: {counts.size} counts for "
                             f"{self._sums[p.layout].size} points")
        self._sums[p.layout] += counts
        self.runs += 1

    def raw(self) -> Raw:
        return merge({n: int(c) for n, c in zip(self._names[lay], self._sums[lay], strict=True)}
                     for lay in self._names)


# --- design-unit points ---------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    """One coverage point of a design unit, its count summed over instances and parameter sets
    (a point is covered if any instance, in any parameter set, hit it)."""

    file: str              # relative to the checkout, e.g. rtl/vdpa_fifo.sv
    line: int
    col: int
    metric: str            # line | branch | toggle
    module: str
    comment: str           # toggle: "sig[3]:0->1"; branch: "cond_then", "if", "else"; line: "block"
    count: int
    lines: tuple[int, ...] = ()   # every source line the point covers, its own first

    @property
    def name(self) -> str:
        return Path(self.file).name


def expand_lines(first: int, spec: str) -> tuple[int, ...]:
    """``first`` and the lines of an ``S`` value (``12-15,17``)."""
    out = [first]
    for part in filter(None, spec.split(",")):
        a, _, b = part.partition("-")
        out += [n for n in range(int(a), int(b or a) + 1) if n != first]
    return tuple(dict.fromkeys(out))


def _module(page: str, file: str) -> str:
    # v_<metric>/<module>, with __D<n> appended for a parameterised copy
    return page.split("/", 1)[1].split("__", 1)[0] if "/" in page else Path(file).stem


def design_points(raw: Mapping[str, int]) -> list[Point]:
    """Points per design unit: instances and parameterisations of a module that share a source
    point (file, line, column, type, name) share its count."""
    counts: dict[tuple[str, int, int, str, str, str], int] = {}
    covered: dict[tuple[str, int, int, str, str, str], tuple[int, ...]] = {}
    for key, n in raw.items():
        kv = split_point(key)
        page = kv.get("page", "")
        metric = kv.get("t") or page.split("/", 1)[0].removeprefix("v_")
        file = kv.get("f", "")
        line = int(kv.get("l", 0))
        k = (file, line, int(kv.get("n", 0)), metric, _module(page, file), kv.get("o", ""))
        counts[k] = counts.get(k, 0) + n
        if k not in covered:
            covered[k] = expand_lines(line, kv.get("S", ""))
    return [Point(*k, counts[k], covered[k]) for k in sorted(counts)]


def read_files(paths: Iterable[Path], root: Path) -> Iterator[Raw]:
    for p in paths:
        yield read_dat(p.read_text(errors="replace"), root)
