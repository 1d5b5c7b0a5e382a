# SPDX-License-Identifier: MIT
"""TOML input files that remember where each key was written, so an error names file, line and key.

Profiles, budgets and scenarios are TOML. :mod:`tomllib` parses them but keeps no positions, so
:func:`key_lines` scans the text once more for table headers (``[a.b]``, ``[[a.b]]``), keys
(``k = ...``, dotted and quoted keys) and the keys of one-line inline tables, and maps each key
path to its line. The scan only has to agree with :mod:`tomllib` on files that parse, which it
does for everything but multi-line arrays and strings, whose inner lines are skipped; a key
inside those is reported at the line where its value starts.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

KeyPath = tuple[str | int, ...]


class InputError(ValueError):
    """A profile, budget, scenario or trace file is wrong. The message names the file, line and
    key (or record) and what is wrong with it; nothing was written or changed."""


def _split_key(text: str) -> tuple[str, ...]:
    """``a."b.c" .d`` -> ("a", "b.c", "d")."""
    parts: list[str] = []
    cur = ""
    quote = ""
    for ch in text.strip():
        if quote:
            if ch == quote:
                quote = ""
            else:
                cur += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return tuple(parts)


def _unquoted(text: str) -> Iterator[tuple[int, str]]:
    """(index, character) of ``text`` outside quoted strings (quotes excluded)."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        else:
            yield i, ch


def _find_outside_quotes(text: str, targets: str) -> int:
    return next((i for i, ch in _unquoted(text) if ch in targets), -1)


def _inline_keys(body: str) -> Iterable[tuple[str, ...]]:
    """Keys at the first level of a one-line inline table ``{ a = 1, b.c = "x" }``."""
    depth = 0
    seg_start = 0
    seen_eq = False
    for i, ch in _unquoted(body):
        if ch in "{[":
            depth += 1
            if depth == 1:
                seg_start, seen_eq = i + 1, False
        elif ch in "}]":
            depth -= 1
        elif depth == 1 and ch == ",":
            seg_start, seen_eq = i + 1, False
        elif depth == 1 and ch == "=" and not seen_eq:
            seen_eq = True
            yield _split_key(body[seg_start:i])


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every table and key path of a TOML text to the line (1-based) it is written on."""
    out: dict[KeyPath, int] = {}
    table: KeyPath = ()
    arrays: dict[KeyPath, int] = {}
    multiline = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if multiline:
            if multiline in line:
                multiline = ""
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("[["):
            path = _split_key(line[2:line.index("]]")])
            idx = arrays.get(path, 0)
            arrays[path] = idx + 1
            out.setdefault(path, n)
            table = (*path, idx)
            out[table] = n
            continue
        if line.startswith("["):
            end = _find_outside_quotes(line[1:], "]")
            table = _split_key(line[1:end + 1])
            out[table] = n
            continue
        eq = _find_outside_quotes(line, "=")
        if eq < 0:
            continue
        key = (*table, *_split_key(line[:eq]))
        for i in range(len(table) + 1, len(key) + 1):
            out.setdefault(key[:i], n)
        out[key] = n
        value = line[eq + 1:].strip()
        if value.startswith("{"):
            for inner in _inline_keys(value):
                out[(*key, *inner)] = n
        for delim in ('"""', "'''"):
            if value.startswith(delim) and value.count(delim) == 1:
                multiline = delim
        if value.startswith("[") and _find_outside_quotes(value, "]") < 0:
            multiline = "]"
    return out


@dataclasses.dataclass
class TomlFile:
    """A parsed TOML file with the line of every key, and helpers that read it strictly."""

    path: Path
    data: dict[str, Any]
    lines: dict[KeyPath, int]

    def line(self, key: KeyPath) -> int:
        """The line of ``key``, or of its longest written prefix (1 if none)."""
        for i in range(len(key), 0, -1):
            if key[:i] in self.lines:
                return self.lines[key[:i]]
        return 1

    def error(self, key: KeyPath, message: str) -> InputError:
        return InputError(f"{self.path}:{self.line(key)}: {dotted(key) or '(top level)'}: {message}")

    def table(self, key: KeyPath, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, not {type(value).__name__} {value!r}")
        return value

    def check_keys(self, key: KeyPath, table: dict[str, Any], allowed: Iterable[str],
                   required: Iterable[str] = ()) -> None:
        """Refuse keys of ``table`` not in ``allowed`` and report the first missing required one."""
        allowed = set(allowed)
        for k in table:
            if k not in allowed:
                raise self.error((*key, k), f"unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")
        for k in required:
            if k not in table:
                raise self.error(key, f"missing key {k!r}")

    def string(self, key: KeyPath, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, not {value!r}")
        return value

    def number(self, key: KeyPath, value: Any, *, integer: bool = False, positive: bool = False) -> float:
        """A finite, non-negative number (an int if ``integer``; > 0 if ``positive``)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise self.error(key, f"must be finite, not {value!r}")
        if integer and not isinstance(value, int):
            raise self.error(key, f"must be an integer, not {value!r}")
        if value < 0:
            raise self.error(key, f"must not be negative, got {value!r}")
        if positive and value == 0:
            raise self.error(key, "must be greater than 0")
        return float(value)


def dotted(key: KeyPath) -> str:
    """("fw", "vq_modify", "case", 0, "fixed") -> 'fw.vq_modify.case[0].fixed'."""
    out = ""
    for k in key:
        if isinstance(k, int):
            out += f"[{k}]"
        else:
            part = k if k.replace("_", "").replace("-", "").isalnum() else f'"{k}"'
            out += ("." if out else "") + part
    return out


def load(path: Path | str) -> TomlFile:
    """Parse ``path``; a syntax error names the file and the line :mod:`tomllib` reports."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p}: not valid TOML: {e}") from None
    return TomlFile(p, data, key_lines(text))
