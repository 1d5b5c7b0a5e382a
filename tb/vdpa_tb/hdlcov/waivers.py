# SPDX-License-Identifier: MIT
"""Coverage waivers (rtl/coverage_waivers.txt): OpenTitan's exclusion categories, each with the
reason a reviewer signs off.

``CATEGORY  FILE  METRIC[:PATTERN]  -- reason``, one a line, ``#`` for comments. FILE is a path
under rtl/. METRIC is line, branch, toggle or ``*``; PATTERN is a glob on the point's name
(toggle ``sig[3]:0->1``, branch ``cond_then``; for a line, the name of any point on it).

A waiver that covers part of a file quotes the source lines it covers, each on a line of its
own beginning with ``|`` right below it::

    UNR  vdpa_split_ring_walker.sv  line  -- the FSM's default arm: only an unencoded state reaches it
      | default: begin
      |     e_state_reg <= E_IDLE;
      | end

The quote is the waiver's anchor: it is found in the RTL when the waivers are loaded (lines
compared without their leading and trailing blanks), so the waiver follows its lines when the
file around them changes, and an edit of the quoted lines themselves stops ``make cov`` and
``make regress`` with an error naming the waiver, the file and where its first quoted line is
now, instead of moving the waiver silently onto other lines. A quote must occur exactly once in
its file (add a line of context where it does not). Line numbers are not accepted: they are
the anchor that moves with every edit above them.
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .. import sim
from .points import DESIGN_DIR, METRICS

#: OpenTitan's exclusion categories (docs: reference verification style, coverage practice)
CATEGORIES = ("UNR", "NON_RTL", "UNSUPPORTED", "EXTERNAL", "LOW_RISK")
#: what begins a quoted source line below a waiver
QUOTE = "|"
WHOLE_FILE = (1, sys.maxsize)


class WaiverError(ValueError):
    """A malformed or stale waiver, naming the waiver file and line."""


@dataclass(frozen=True)
class Waiver:
    category: str
    file: str        # under rtl/
    first: int       # the quoted lines in the RTL (the whole file when nothing is quoted)
    last: int
    metric: str      # line | branch | toggle | *
    pattern: str     # fnmatch on the point's name, "*" for all
    reason: str
    where: str       # waiver file and line, for messages
    quote: tuple[str, ...] = ()   # the source lines it covers, as written under it

    def covers(self, file: str, line: int, metric: str, names: tuple[str, ...] | str) -> bool:
        """Whether this waiver removes the ``metric`` point(s) at ``file:line`` named ``names``
        (``file`` relative to the checkout, e.g. rtl/x.sv)."""
        if isinstance(names, str):
            names = (names,)
        return (file == f"{DESIGN_DIR}/{self.file}" and self.first <= line <= self.last
                and self.metric in ("*", metric)
                and (self.pattern == "*" or any(fnmatch.fnmatchcase(n, self.pattern)
                                                for n in names)))

    @property
    def head(self) -> str:
        """The waiver as its first line names it, for messages."""
        return f"{self.category} {self.file} {self.metric}" + (
            f":{self.pattern}" if self.pattern != "*" else "")


def _norm(line: str) -> str:
    return " ".join(line.split())


def find_quote(source: Sequence[str], quote: Sequence[str]) -> list[int]:
    """1-based first lines at which ``quote`` occurs in ``source`` as consecutive lines, each
    compared without leading, trailing or repeated blanks."""
    want = [_norm(q) for q in quote]
    have = [_norm(s) for s in source]
    n = len(want)
    return [i + 1 for i in range(len(have) - n + 1) if have[i:i + n] == want]


def anchor(w: Waiver, rtl_dir: Path) -> Waiver:
    """``w`` placed on the lines of ``rtl_dir/w.file`` its quote names; a waiver without a
    quote covers its whole file. Raises :class:`WaiverError` naming the waiver, the file and
    the lines when the file is missing or the quote is not there exactly once."""
    path = rtl_dir / w.file
    if not path.is_file():
        raise WaiverError(f"{w.where}: waiver '{w.head}' names {DESIGN_DIR}/{w.file}, which "
                          "does not exist")
    if not w.quote:
        return replace(w, first=WHOLE_FILE[0], last=WHOLE_FILE[1])
    source = path.read_text(errors="replace").splitlines()
    found = find_quote(source, w.quote)
    if len(found) == 1:
        return replace(w, first=found[0], last=found[0] + len(w.quote) - 1)
    rel = f"{DESIGN_DIR}/{w.file}"
    if found:
        raise WaiverError(f"{w.where}: waiver '{w.head}' quotes {len(w.quote)} line(s) found "
                          f"{len(found)} times in {rel} (at lines "
                          f"{', '.join(map(str, found))}): quote a line of context more so "
                          "that it names one place")
    first = find_quote(source, w.quote[:1])
    seen = (f"its first quoted line {w.quote[0].strip()!r} is at line(s) "
            f"{', '.join(map(str, first))} but the lines after it differ" if first else
            f"its first quoted line {w.quote[0].strip()!r} is nowhere in the file")
    raise WaiverError(f"{w.where}: waiver '{w.head}' is stale: the source it quotes is no "
                      f"longer in {rel} ({seen}). The RTL changed under the waiver: review the "
                      "waiver against the new lines and quote them again, or remove it")


def parse_waivers(text: str, source: str = "coverage_waivers.txt",
                  rtl_dir: Path | None = None) -> list[Waiver]:
    """Parse a waiver file. Every waiver needs a known category and a reason: the reason is
    what the reviewer signs off, so an empty one is an error. With ``rtl_dir`` each waiver is
    anchored on its quoted lines there (:func:`anchor`); without it, quoted waivers keep
    ``first``/``last`` 0 (they cover nothing until anchored)."""
    out: list[Waiver] = []
    quotes: list[list[str]] = []
    previous = ""  # what the line before was: "waiver", "quote" or ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{source}:{n}"
        if line.startswith(QUOTE):
            if previous not in ("waiver", "quote"):
                raise WaiverError(f"{where}: a quoted source line ('{QUOTE} ...') belongs right "
                                  "below a waiver or another quoted line")
            body = raw.split(QUOTE, 1)[1]
            quotes[-1].append(body[1:] if body.startswith(" ") else body)
            previous = "quote"
            continue
        previous = ""
        if not line or line.startswith("#"):
            continue
        head, sep, reason = line.partition("--")
        fields = head.split()
        if not sep or len(fields) != 3:
            raise WaiverError(f"{where}: expected 'CATEGORY FILE METRIC[:PATTERN] -- reason', "
                              f"got {line!r}")
        cat, file, met = fields
        if cat not in CATEGORIES:
            raise WaiverError(f"{where}: category {cat!r} is not one of {', '.join(CATEGORIES)}")
        metric, _, pattern = met.partition(":")
        if metric not in (*METRICS, "*"):
            raise WaiverError(f"{where}: metric {metric!r} is not one of {', '.join(METRICS)} or *")
        if not reason.strip():
            raise WaiverError(f"{where}: a waiver needs a reason after '--'")
        if ":" in file:
            raise WaiverError(f"{where}: {file!r}: a waiver does not name line numbers (they "
                              "move with every edit above them); quote the lines it covers "
                              f"below it, each as '{QUOTE} <source line>'")
        out.append(Waiver(cat, file, *WHOLE_FILE, metric, pattern or "*", reason.strip(), where))
        quotes.append([])
        previous = "waiver"
    placed = []
    for w, q in zip(out, quotes, strict=True):
        if q:
            w = replace(w, quote=tuple(q), first=0, last=0)
        placed.append(anchor(w, rtl_dir) if rtl_dir is not None else w)
    return placed


def load_waivers(path: Path, root: Path | None = None,
                 rtl_dir: Path = sim.RTL_DIR) -> list[Waiver]:
    """The waivers of ``path`` (none if it does not exist), named relative to ``root`` and
    anchored on the sources of ``rtl_dir``."""
    if not path.exists():
        return []
    name = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    return parse_waivers(path.read_text(), name, rtl_dir)
