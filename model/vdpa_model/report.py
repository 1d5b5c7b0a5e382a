# SPDX-License-Identifier: MIT
"""Named checks in the order they ran, and their verdict: what a scenario or a migration
returns, printed one line per check."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclasses.dataclass
class Report:
    """Named checks in the order they ran."""

    checks: list[Check] = dataclasses.field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def equal(self, name: str, got: object, want: object) -> bool:
        return self.check(name, got == want, "" if got == want else f"got {got!r}, want {want!r}")

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def render(self) -> str:
        width = max((len(c.name) for c in self.checks), default=10)
        lines = [f"  {'PASS' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}".rstrip()
                 for c in self.checks]
        passed = sum(c.ok for c in self.checks)
        lines.append(f"{passed} passed, {len(self.checks) - passed} failed")
        return "\n".join(lines)


__all__ = ["Check", "Report"]
