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
    how each assumed value moves those setups' downtimes, everything on and upstream QEMU;
``host memory``
    the host-memory inputs' defaults and their reasons (:data:`vdpa_model.hostmem.DEFAULTS`);
``contiguity``
    the talk's two setups along the staircase with THP-backed guest RAM (the default) and with
    THP off (every 4 KiB page its own run), and upstream QEMU at fallback shares between.

``python -m vdpa_model.downtime.params_doc --write`` regenerates them; ``--check`` exits 1 when a
document is stale (tests/model/test_downtime_docs.py fails then too).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..hostmem import DEFAULTS, HostMemory
from ..mr import region_shape
from ..ramlayout import RamLayout
from ..switches import STAIRCASE
from .analysis import sensitivity
from .budget import load_budgets
from .calibration import render as render_calibration
from .calibration import reproduce
from .predict import predict
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


def host_memory_section() -> str:
    rows = ["| input | default | basis | reasoning |", "|---|---|---|---|"]
    for d in DEFAULTS:
        value = str(d.value).lower() if isinstance(d.value, bool) else f"{d.value:g}"
        rows.append(f"| `{d.key}` | {value} | {d.basis} | {d.why} |")
    return "\n".join(rows)


#: fallback shares priced for upstream QEMU in the contiguity section
FALLBACKS = (0.001, 0.01, 0.1)


@functools.cache
def _worst_case() -> tuple[ScenarioVerdict, ...]:
    prof, budgets = load_profile(PROFILE), load_budgets()
    return tuple(judge(load_scenario(name).with_host_memory(thp=False), prof, budgets, with_staircase=True)
                 for name in SETUPS)


def _ms(x: float | None) -> str:
    return f"{(x or 0.0) * 1e3:,.1f}"


def contiguity_section() -> str:
    prof = load_profile(PROFILE)
    parts = []
    for v, w in zip(_verdicts(), _worst_case(), strict=True):
        sc = v.scenario
        parts += [f"`{sc.name}` along the staircase, THP-backed guest RAM (the default) / THP off "
                  "(ms; budgets: which hold)", "",
                  "| step | #1 largest, THP | #1, THP off | #2 all devices, THP | #2, THP off | "
                  "guest-visible, THP | guest-visible, THP off | budgets, THP / THP off |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for a, ca, b, cb in zip(v.steps, v.step_checks, w.steps, w.step_checks, strict=True):
            ra, rb = a.result, b.result

            def verdict(cs: list[Any]) -> str:
                return "hold" if all(c.ok for c in cs) else "broken"
            parts.append(f"| {a.label} | {_ms(ra.downtime1_max)} | {_ms(rb.downtime1_max)} | "
                         f"{_ms(ra.downtime2)} | {_ms(rb.downtime2)} | {_ms(ra.guest_visible)} | "
                         f"{_ms(rb.guest_visible)} | {verdict(ca)} / {verdict(cb)} |")
        parts += ["", f"Budgets hold from step {v.first_holding} on with THP, from {w.first_holding} "
                      "on with THP off.", "",
                  f"`{sc.name}`, upstream QEMU, by host memory: the runs of guest RAM (vhost IOTLB "
                  "entries, and the entries of each table copy mlx5 makes) and the translation entries "
                  "of one region build over it, and the downtimes (ms)", "",
                  "| host memory | runs | MTT entries | #1 largest | #2 all devices | guest-visible |",
                  "|---|---:|---:|---:|---:|---:|"]
        up = sc.with_preset("upstream")
        rows: list[tuple[str, HostMemory, Any]] = [("THP (default)", HostMemory(), v.steps[0].result)]
        rows += [(f"THP, {100 * f:g} % of 2 MiB regions in 4 KiB pages", HostMemory(thp_fallback=f),
                  predict(up.with_host_memory(thp_fallback=f), prof).result) for f in FALLBACKS]
        rows.append(("THP off: every 4 KiB page its own run", HostMemory(thp=False), w.steps[0].result))
        for label, host, r in rows:
            layout = RamLayout(sc.ram, sc.page_size, host=host)
            shape = region_shape([s.as_range() for s in layout.sections()], layout.backing)
            parts.append(f"| {label} | {shape.runs:,} | {shape.entries:,} | {_ms(r.downtime1_max)} | "
                         f"{_ms(r.downtime2)} | {_ms(r.guest_visible)} |")
        parts.append("")
    return "\n".join(parts).rstrip()


#: (document, section name, generator)
SECTIONS: tuple[tuple[Path, str, Callable[[], str]], ...] = (
    (DOC_PATH, "assumed profile values", assumed_section),
    (DOC_PATH, "calibration", calibration_section),
    (DOC_PATH, "staircase", staircase_section),
    (DOC_PATH, "sensitivity", sensitivity_section),
    (DOC_PATH, "host memory", host_memory_section),
    (DOC_PATH, "contiguity", contiguity_section),
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
