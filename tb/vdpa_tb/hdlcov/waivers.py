# SPDX-License-Identifier: MIT
"""Coverage waivers (rtl/coverage_waivers.txt): OpenTitan's exclusion categories, each with the
reason a reviewer signs off.

``CATEGORY  FILE[:LINE[-LINE]]  METRIC[:PATTERN]  -- reason``, one a line, ``#`` for comments.
FILE is a path under rtl/; a line or range narrows it. METRIC is line, branch, toggle or ``*``;
PATTERN is a glob on the point's name (toggle ``sig[3]:0->1``, branch ``cond_then``; for a
line, the name of any point on it).
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass
from pathlib import Path

from .points import DESIGN_DIR, METRICS

#: OpenTitan's exclusion categories (docs: reference verification style, coverage practice)
CATEGORIES = ("UNR", "NON_RTL", "UNSUPPORTED", "EXTERNAL", "LOW_RISK")


class WaiverError(ValueError):
    """A malformed waiver file, naming the file and line."""


@dataclass(frozen=True)
class Waiver:
    category: str
    file: str        # under rtl/
    first: int
    last: int
    metric: str      # line | branch | toggle | *
    pattern: str     # fnmatch on the point's name, "*" for all
    reason: str
    where: str       # waiver file and line, for messages

    def covers(self, file: str, line: int, metric: str, names: tuple[str, ...] | str) -> bool:
        """Whether this waiver removes the ``metric`` point(s) at ``file:line`` named ``names``
        (``file`` relative to the checkout, e.g. rtl/x.sv)."""
        if isinstance(names, str):
            names = (names,)
        return (file == f"{DESIGN_DIR}/{self.file}" and self.first <= line <= self.last
                and self.metric in ("*", metric)
                and (self.pattern == "*" or any(fnmatch.fnmatchcase(n, self.pattern)
                                                for n in names)))


def parse_waivers(text: str, source: str = "coverage_waivers.txt") -> list[Waiver]:
    """Parse a waiver file. Every waiver needs a known category and a reason: the reason is
    what the reviewer signs off, so an empty one is an error."""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{n}"
        head, sep, reason = line.partition("--")
        fields = head.split()
        if not sep or len(fields) != 3:
            raise WaiverError(f"{where}: expected 'CATEGORY FILE[:LINE[-LINE]] METRIC[:PATTERN] "
                              f"-- reason', got {line!r}")
        cat, loc, met = fields
        if cat not in CATEGORIES:
            raise WaiverError(f"{where}: category {cat!r} is not one of {', '.join(CATEGORIES)}")
        metric, _, pattern = met.partition(":")
        if metric not in (*METRICS, "*"):
            raise WaiverError(f"{where}: metric {metric!r} is not one of {', '.join(METRICS)} or *")
        if not reason.strip():
            raise WaiverError(f"{where}: a waiver needs a reason after '--'")
        file, _, rng = loc.partition(":")
        try:
            a, _, b = rng.partition("-")
            first = int(a) if a else 1
            last = int(b) if b else (first if a else sys.maxsize)
        except ValueError:
            raise WaiverError(f"{where}: line range {rng!r} is not LINE or LINE-LINE") from None
        if last < first:
            raise WaiverError(f"{where}: line range {first}-{last} is empty")
        out.append(Waiver(cat, file, first, last, metric, pattern or "*", reason.strip(), where))
    return out


def load_waivers(path: Path, root: Path | None = None) -> list[Waiver]:
    """The waivers of ``path`` (none if it does not exist), named relative to ``root``."""
    if not path.exists():
        return []
    name = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    return parse_waivers(path.read_text(), name)
