#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compiler wrapper that shares Verilator's runtime objects between builds (OBJCACHE).

Every Verilator build compiles the same runtime sources (verilated.cpp, verilated_vpi.cpp,
verilated_timing.cpp, ...) with the same flags: about ten seconds of CPU per build, identical
each time. verilated.mk prefixes each compile with ``$(OBJCACHE)`` for a compiler cache;
tb/vdpa_tb/sim.py points it here. A compile of a source installed with Verilator or cocotb
(immutable) is keyed by its command line, the source and the compiler, and its object and
dependency files are reused, but only if every header it included is installed too: cocotb's
verilator.cpp includes the design's own Vtop.h, so it is compiled per build, as is anything
else (the model, the testbench's own C++). Standard library only: make runs it as a program.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _installed(source: str, roots: list[str]) -> bool:
    real = os.path.realpath(source)
    return any(real.startswith(r.rstrip("/") + "/") for r in roots)


def _depends_on_build(dep: str) -> bool:
    """Whether the dependency file lists a header of the build directory (a relative path)."""
    try:
        words = Path(dep).read_text().replace("\\\n", " ").split()
    except OSError:
        return True  # no dependency list: nothing proves the object is the same elsewhere
    return any(not w.endswith(":") and not os.path.isabs(w) for w in words[1:])


def main(argv: list[str]) -> int:
    cache = os.environ.get("VDPA_OBJCACHE_DIR")
    roots = [r for r in os.environ.get("VDPA_OBJCACHE_ROOTS", "").split(os.pathsep) if r]
    sources = [a for a in argv if a.endswith((".cpp", ".cc"))]
    if not cache or "-c" not in argv or len(sources) != 1 or not _installed(sources[0], roots):
        return subprocess.call(argv)
    source = sources[0]
    out = argv[argv.index("-o") + 1] if "-o" in argv else Path(source).with_suffix(".o").name
    dep = str(Path(out).with_suffix(".d"))
    compiler = shutil.which(argv[0]) or argv[0]
    h = hashlib.sha256()
    for part in (*[a for a in argv if a != out], compiler, str(os.stat(compiler).st_mtime_ns)):
        h.update(part.encode() + b"\0")
    h.update(Path(source).read_bytes())
    entry = Path(cache) / h.hexdigest()
    entry.parent.mkdir(parents=True, exist_ok=True)
    # two builds starting together wait for one compile instead of both compiling
    with open(f"{entry}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if Path(f"{entry}.build-specific").exists():
            return subprocess.call(argv)
        if not (entry / "obj").exists():
            rc = subprocess.call(argv)
            if rc != 0:
                return rc
            if _depends_on_build(dep):
                Path(f"{entry}.build-specific").touch()
                return 0
            tmp = Path(cache) / f".{h.hexdigest()}.{os.getpid()}"
            tmp.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out, tmp / "obj")
            if Path(dep).exists():
                shutil.copyfile(dep, tmp / "dep")
            tmp.rename(entry)
            return 0
    shutil.copyfile(entry / "obj", out)
    if (entry / "dep").exists():
        shutil.copyfile(entry / "dep", dep)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
