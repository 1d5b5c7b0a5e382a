# SPDX-License-Identifier: MIT
"""The tables of docs/downtime.md that come from the shipped profiles: their assumed values.

``python -m vdpa_model.downtime.params_doc --write`` regenerates them; ``--check`` exits 1 when
the document is stale (tests/model/test_downtime_profile.py fails then too)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .profile import PROFILE_DIR, assumed_table, load_profile

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "downtime.md"
BEGIN = "<!-- BEGIN GENERATED: assumed profile values (python -m vdpa_model.downtime.params_doc --write) -->"
END = "<!-- END GENERATED -->"


def generated_section() -> str:
    parts = [BEGIN]
    for path in sorted(PROFILE_DIR.glob("*.toml")):
        prof = load_profile(path)
        parts += ["", f"#### `{prof.name}` ({len(prof.assumed)} assumed of {len(prof.params)} values)", "",
                  assumed_table(prof) if prof.assumed else "Every value has a source."]
    parts += ["", END]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="rewrite the generated section")
    ap.add_argument("--check", action="store_true", help="exit 1 if the document is stale")
    args = ap.parse_args(argv)
    doc = DOC_PATH.read_text()
    if BEGIN not in doc or END not in doc:
        print(f"{DOC_PATH}: no generated section ({BEGIN} ... {END})", file=sys.stderr)
        return 2
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    new = head + generated_section() + tail
    if args.check:
        stale = new != doc
        print(f"{DOC_PATH}: {'stale' if stale else 'up to date'}")
        return 1 if stale else 0
    if args.write:
        DOC_PATH.write_text(new)
        print(f"wrote {DOC_PATH}")
    else:
        print(generated_section())
    return 0


if __name__ == "__main__":
    sys.exit(main())
