# SPDX-License-Identifier: MIT
"""The tables of docs/downtime.md and docs/migration.md that the model computes.

Each is a generated section between ``<!-- BEGIN GENERATED: NAME ... -->`` and
``<!-- END GENERATED: NAME -->``:

``assumed``
    every shipped profile's assumed values (the named parameters no source gives);
``calibration``
    the single-operation figures the mlx5 profile is built from, published beside the model's
    value for the same operation run through the flows (:mod:`.calibration`);
``staircase``
    the talk's two setups along every cumulative preset with the mlx5 profile and the default
    budgets (in both documents);
``sensitivity``
    how each assumed value moves those setups' downtimes, everything on and upstream QEMU.

``python -m vdpa_model.downtime.params_doc --write`` regenerates them; ``--check`` exits 1 when a
document is stale (tests/model/test_downtime_docs.py fails then too).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path

from ..switches import STAIRCASE
from .analysis import sensitivity
from .budget import load_budgets
from .calibration import render as render_calibration
from .calibration import reproduce
from .profile import PROFILE_DIR, assumed_table, load_profile
from .scenario import load_scenario
from .verdict import ScenarioVerdict, judge

DOCS = Path(__file__).resolve().parents[3] / "docs"
DOC_PATH = DOCS / "downtime.md"
MIGRATION_DOC = DOCS / "migration.md"
COMMAND = "python -m vdpa_model.downtime.params_doc --write"
PROFILE = "mlx5-cx6dx"
SETUPS = ("talk-128g", "talk-256g")
#: a parameter row is shown when it moves some downtime by at least this much (relative)
SHOWN = 0.001


def begin(name: str) -> str:
    return f"<!-- BEGIN GENERATED: {name} ({COMMAND}) -->"


def end(name: str) -> str:
    return f"<!-- END GENERATED: {name} -->"


def assumed_section() -> str:
    parts = []
    for path in sorted(PROFILE_DIR.glob("*.toml")):
        prof = load_profile(path)
        parts += [f"#### `{prof.name}` ({len(prof.assumed)} assumed of {len(prof.params)} values)", "",
                  assumed_table(prof) if prof.assumed else "Every value has a source.", ""]
    return "\n".join(parts).rstrip()


def calibration_section() -> str:
    return render_calibration(reproduce(load_profile(PROFILE)))


@functools.cache
def _verdicts() -> tuple[ScenarioVerdict, ...]:
    prof, budgets = load_profile(PROFILE), load_budgets()
    return tuple(judge(load_scenario(name), prof, budgets, with_staircase=True) for name in SETUPS)


def staircase_section() -> str:
    parts = []
    for v in _verdicts():
        sc = v.scenario
        parts += [f"`{sc.name}`: {sc.description} (profile {PROFILE}, budgets: per-device teardown + "
                  f"startup < 100 ms, per-VM blackout < 1 s; final RAM copy {sc.final_ram_copy_s * 1e3:g} ms "
                  f"inside the guest-visible downtime)", "",
                  "| step | downtime #1, largest device (ms) | downtime #2, all devices (ms) | "
                  "per device teardown + startup (ms) | guest-visible (ms) | budgets |",
                  "|---|---:|---:|---:|---:|---|"]
        for p, checks in zip(v.steps, v.step_checks, strict=True):
            r = p.result
            broken = [c.budget.name for c in checks if not c.ok]
            pair = max(r.pairs, key=lambda x: x.total).total
            parts.append(f"| {p.label} | {r.downtime1_max * 1e3:,.1f} | {r.downtime2 * 1e3:,.1f} | "
                         f"{pair * 1e3:,.1f} | {(r.guest_visible or 0) * 1e3:,.1f} | "
                         f"{'hold' if not broken else 'broken: ' + ', '.join(broken)} |")
        parts += ["", f"Budgets hold from step {v.first_holding} on." if v.first_holding
                  else "Budgets hold at no step.", ""]
    return "\n".join(parts).rstrip()


def sensitivity_section() -> str:
    prof = load_profile(PROFILE)
    parts = []
    for v in _verdicts():
        for pred in (v.judged, v.steps[0]):
            rows = sensitivity(pred.records, prof, options=pred.options, ram_copy=pred.result.ram_copy)
            label = pred.label + (" (everything on)" if pred.label == STAIRCASE[-1] else "")
            parts += [f"`{v.scenario.name}`, {label}: relative change of each downtime with the "
                      f"parameter halved / doubled", "",
                      "| parameter | default | #1 largest | #2 | guest-visible |",
                      "|---|---:|---:|---:|---:|"]

            def pair(x: tuple[float, float]) -> str:
                return f"{100 * x[0]:+.1f} / {100 * x[1]:+.1f} %"
            shown = [r for r in rows if r.largest >= SHOWN]
            for r in shown:
                parts.append(f"| `{r.key}` | {r.value:g} | {pair(r.downtime1)} | {pair(r.downtime2)} | "
                             f"{pair(r.guest_visible)} |")
            parts += ["", f"{len(rows) - len(shown)} further assumed value(s) move nothing by "
                          f"{100 * SHOWN:g} % or more.", ""]
    return "\n".join(parts).rstrip()


#: (document, section name, generator)
SECTIONS: tuple[tuple[Path, str, Callable[[], str]], ...] = (
    (DOC_PATH, "assumed profile values", assumed_section),
    (DOC_PATH, "calibration", calibration_section),
    (DOC_PATH, "staircase", staircase_section),
    (DOC_PATH, "sensitivity", sensitivity_section),
    (MIGRATION_DOC, "staircase", staircase_section),
)


def generated(name: str, body: str) -> str:
    return f"{begin(name)}\n\n{body}\n\n{end(name)}"


def rewrite(doc: str, path: Path, name: str, body: str) -> str:
    b, e = begin(name), end(name)
    if b not in doc or e not in doc:
        raise ValueError(f"{path}: no generated section {name!r} ({b} ... {e})")
    head, rest = doc.split(b, 1)
    return head + generated(name, body) + rest.split(e, 1)[1]


def regenerate() -> dict[Path, tuple[str, str]]:
    """Every document: (as it is, as it should be)."""
    bodies: dict[str, str] = {}
    out: dict[Path, tuple[str, str]] = {}
    for path, name, make in SECTIONS:
        old, new = out.get(path, (path.read_text(), path.read_text()))
        if name not in bodies:
            bodies[name] = make()
        out[path] = (old, rewrite(new, path, name, bodies[name]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the generated sections")
    ap.add_argument("--check", action="store_true", help="exit 1 if a document is stale")
    args = ap.parse_args(argv)
    try:
        docs = regenerate()
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    stale = [p for p, (old, new) in docs.items() if old != new]
    if args.check:
        for p in docs:
            print(f"{p}: {'stale' if p in stale else 'up to date'}")
        return 1 if stale else 0
    if args.write:
        for p in stale:
            p.write_text(docs[p][1])
            print(f"wrote {p}")
        return 0
    for p, (_, new) in docs.items():
        print(f"--- {p}\n{new}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
