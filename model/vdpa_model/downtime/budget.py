# SPDX-License-Identifier: MIT
"""Downtime budgets: limits in a file, checked against a :class:`~.report.Result`.

Budgets file (TOML)::

    format = 1

    [[budget]]
    name = "per-device teardown + startup"
    what = "downtime2"          # downtime1, downtime2, guest_visible, or phase
    per = "device"              # device: every device must meet it; vm: the VM's total
    limit_ms = 100
    source = "Netdev 0x18 talk"  # optional: where the limit comes from
    # phase = "C4.2.9"          # with what = "phase": a step id; its sub-steps count too

What each means: ``downtime1`` per device is that device's Flow A, per VM their sum;
``downtime2`` per device is source device k's B plus destination device k's C 4.2, per VM the
whole stop-and-copy device work; ``guest_visible`` is per VM only; ``phase`` per device is the
largest one device spends in that step, per VM the sum over devices. The shipped default
(``data/budgets/talk.toml``) holds the talk's two goals.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .report import MS, Result, fmt_ms
from .tomlfile import load

BUDGETS_FORMAT = 1
DEFAULT_BUDGETS = Path(__file__).resolve().parent / "data" / "budgets" / "talk.toml"
WHAT = ("downtime1", "downtime2", "guest_visible", "phase")
PER = ("device", "vm")


@dataclasses.dataclass(frozen=True)
class Budget:
    name: str
    what: str
    per: str
    limit: float
    phase: str | None
    source: str
    where: str


@dataclasses.dataclass
class Check:
    """A budget against a result: the worst value found and every place that breaks it."""

    budget: Budget
    value: float | None
    at: str
    broken_at: list[tuple[str, float]]

    @property
    def ok(self) -> bool:
        return not self.broken_at

    def line(self) -> str:
        b = self.budget
        verdict = "ok    " if self.ok else "BROKEN"
        val = "n/a" if self.value is None else f"{self.value * MS:,.3f} ms"
        return (f"  {verdict} {b.name}: {val} {'<=' if self.ok else '>'} {b.limit * MS:,.3f} ms "
                f"({b.what}{' ' + b.phase if b.phase else ''} per {b.per}; worst: {self.at})")


def load_budgets(path: Path | str | None = None) -> list[Budget]:
    """Read and check a budgets file (the shipped default if ``path`` is None)."""
    f = load(path or DEFAULT_BUDGETS)
    f.check_keys((), f.data, ("format", "budget"), required=("format", "budget"))
    if f.data["format"] != BUDGETS_FORMAT:
        raise f.error(("format",), f"this reader knows format {BUDGETS_FORMAT}, not {f.data['format']!r}")
    raw = f.data["budget"]
    if not isinstance(raw, list) or not raw:
        raise f.error(("budget",), "give at least one [[budget]] table")
    out: list[Budget] = []
    for i, b in enumerate(raw):
        key = ("budget", i)
        tbl = f.table(key, b)
        f.check_keys(key, tbl, ("name", "what", "per", "limit_ms", "phase", "source"),
                     required=("name", "what", "per", "limit_ms"))
        what = tbl["what"]
        if what not in WHAT:
            raise f.error((*key, "what"), f"unknown {what!r} (known: {', '.join(WHAT)})")
        per = tbl["per"]
        if per not in PER:
            raise f.error((*key, "per"), f"unknown {per!r} (known: {', '.join(PER)})")
        if what == "guest_visible" and per != "vm":
            raise f.error((*key, "per"), "guest_visible is a per-VM figure: per = \"vm\"")
        phase = f.string((*key, "phase"), tbl["phase"]) if "phase" in tbl else None
        if (what == "phase") != (phase is not None):
            raise f.error(key, "'phase' is required with what = \"phase\" and only then")
        limit = f.number((*key, "limit_ms"), tbl["limit_ms"], positive=True) / MS
        source = f.string((*key, "source"), tbl["source"]) if "source" in tbl else ""
        out.append(Budget(f.string((*key, "name"), tbl["name"]), what, per, limit, phase, source,
                          f"{f.path}:{f.line(key)}"))
    return out


def _in_phase(phase: str, step: str) -> bool:
    return phase == step or phase.startswith(step + ".")


def check(budget: Budget, result: Result) -> Check:
    """Evaluate one budget."""
    values: list[tuple[str, float]] = []
    b = budget
    copies = {d.device: d.copies for d in result.devices}
    if b.what == "downtime1":
        if b.per == "device":
            values = [(dev, v) for dev, v in result.downtime1.items()]
        elif result.downtime1:
            values = [("VM", result.downtime1_sum)]
    elif b.what == "downtime2":
        if b.per == "device":
            values = [(f"{p.source} -> {p.destination}", p.total) for p in result.pairs]
        else:
            values = [("VM", result.downtime2)]
    elif b.what == "guest_visible":
        if result.guest_visible is not None:
            values = [("VM", result.guest_visible)]
    else:
        assert b.phase is not None
        per_dev: dict[str, float] = {}
        for p in result.phases:
            if _in_phase(p.phase, b.phase):
                for dev, v in p.per_device.items():
                    per_dev[dev] = per_dev.get(dev, 0.0) + v
        if b.per == "device":
            values = list(per_dev.items())
        elif per_dev:
            values = [("VM", sum(v * copies.get(d, 1) for d, v in per_dev.items()))]
    if not values:
        return Check(b, None, "nothing in the trace to measure", [])
    worst = max(values, key=lambda x: x[1])
    return Check(b, worst[1], worst[0], [(w, v) for w, v in values if v > b.limit])


def check_all(budgets: list[Budget], result: Result) -> list[Check]:
    return [check(b, result) for b in budgets]


def explain(c: Check, result: Result, *, steps: int = 6) -> str:
    """Why a budget broke: the steps that cost most where it broke, and their costliest records."""
    b = c.budget
    lines = [c.line(), f"    budget from {b.where}" + (f" ({b.source})" if b.source else "")]
    where = c.broken_at[0][0] if c.broken_at else c.at
    if b.what == "downtime1":
        phases = result.phases_in(["A"], where if b.per == "device" else None)
        devices = {where} if b.per == "device" else set(result.downtime1)
    elif b.what == "downtime2" and b.per == "device":
        src, _, dst = where.partition(" -> ")
        phases = sorted(result.phases_in(["B"], src) + result.phases_in(["C4.2"], dst), key=lambda r: -r[1])
        devices = {src, dst}
    elif b.what == "phase":
        assert b.phase is not None
        dev = where if b.per == "device" else None
        phases = [r for r in result.phases_in(["A", "B", "C4.1", "C4.2", "other"], dev)
                  if _in_phase(r[0], b.phase)]
        devices = {where} if dev else {d.device for d in result.devices}
    elif b.what == "guest_visible":
        # from the last source device's suspend: its teardown, the RAM copy, every start
        last = result.pairs[-1].source if result.pairs else None
        teardown = result.phases_in(["B"], last) if last else []
        phases = sorted([*teardown, ("final RAM copy", result.ram_copy), *result.phases_in(["C4.2"])],
                        key=lambda r: -r[1])
        devices = {d.device for d in result.devices}
    else:
        phases = result.phases_in(["B", "C4.2"])
        devices = {d.device for d in result.devices}
    total = c.value or 0.0
    if len(c.broken_at) > 1:
        lines.append(f"    broken at {len(c.broken_at)} places: "
                     + ", ".join(f"{w} {fmt_ms(v)} ms" for w, v in c.broken_at[:8]))
    lines.append(f"    costliest steps ({where}):")
    shown = {p for p, _ in phases[:steps]}
    for ph, t in phases[:steps]:
        share = f"{100 * t / total:5.1f} %" if total else ""
        lines.append(f"      {ph or '(none)':<16}{fmt_ms(t):>14} ms  {share}")
    recs = [t for t in result.top if t.device in devices and t.phase in shown][:steps]
    if recs:
        lines.append("    costliest records in them:")
        for rec in recs:
            args = " ".join(f"{k}={v}" for k, v in rec.args.items())
            lines.append(f"      {fmt_ms(rec.seconds):>12} ms  {rec.device} {rec.phase} {rec.layer} "
                         f"{rec.name} {args}")
    return "\n".join(lines)


def render_checks(checks: list[Check], result: Result) -> str:
    """Every budget's line, and the breakdown of each broken one."""
    out = [f"budgets for {result.label or 'trace'}:"]
    for c in checks:
        out.append(explain(c, result) if not c.ok else c.line())
    return "\n".join(out)

