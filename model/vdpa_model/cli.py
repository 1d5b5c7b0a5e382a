# SPDX-License-Identifier: MIT
"""Command line of the model (``vdpa-dv``).

``run`` runs the conformance scenario on the reference model; ``migrate`` runs Flows A, B and C
(vdpa_model.migration) for a preset or any switches and a guest RAM layout, prints what every
step did and writes the trace as JSON lines under build/; ``downtime`` prices migration op traces
against a cost profile and budgets; ``fit-rtl`` fits the reference RTL's cost profile from its
benchmark figures.
"""

from __future__ import annotations

import argparse
import sys
import time

from .conformance import DeviceUnderTest, ScenarioConfig, run_scenario
from .device import ReferenceDevice
from .dma import AccessLog
from .downtime import command as downtime_command
from .downtime import fit_rtl
from .memory import GuestMemory
from .options import DeviceOptions, Parent
from .sync import run


def _model_factory(options: DeviceOptions):  # type: ignore[no-untyped-def]
    async def make(mem: GuestMemory, log: AccessLog) -> DeviceUnderTest:
        return ReferenceDevice(mem, options, log)  # type: ignore[return-value]
    return make


def run_model_scenario(parent: Parent, seed: int) -> bool:
    """Run the conformance scenario on the reference model with ``parent``'s options; print it."""
    options = DeviceOptions.for_parent(parent)
    cfg = ScenarioConfig(queue_pairs=options.queue_pairs, seed=seed)
    print(f"vdpa-dv: conformance scenario on the reference model (parent={parent.value}, "
          f"seed={seed})")
    t0 = time.perf_counter()
    report = run(run_scenario(_model_factory(options), cfg, options.identity_asids,
                              progress=lambda name: print(f"  .. {name}", flush=True)))
    print(report.render())
    print(f"model scenario: {'PASS' if report.ok else 'FAIL'} in {time.perf_counter() - t0:.2f} s"
          f"  (rerun: python -m vdpa_model.cli run --parent {parent.value} --seed {seed})")
    return report.ok


def cmd_run(args: argparse.Namespace) -> int:
    return 0 if run_model_scenario(Parent(args.parent), args.seed) else 1


def cmd_migrate(args: argparse.Namespace) -> int:
    """Run the flows for one configuration; print the checks and a per-step table; write the
    trace (JSON lines) and a summary (JSON) under ``args.out``."""
    from .migrate_report import migrate_command
    return migrate_command(args)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vdpa-dv", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("run", help="run the conformance scenario on the reference model")
    p.add_argument("--parent", choices=[x.value for x in Parent], default=Parent.MLX5.value)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_run)
    from .migrate_report import add_migrate_arguments
    m = sub.add_parser("migrate", help="run Flows A, B and C on the reference model, write the trace")
    add_migrate_arguments(m)
    m.set_defaults(func=cmd_migrate)
    downtime_command.add_parser(sub)
    fit_rtl.add_parser(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
