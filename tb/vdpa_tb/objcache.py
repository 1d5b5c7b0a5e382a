#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compiler wrapper that shares Verilator's runtime objects between builds (OBJCACHE).

Every Verilator build compiles the same runtime sources (verilated.cpp, verilated_vpi.cpp,
verilated_timing.cpp, ... and cocotb's verilator.cpp main) with the same flags: about ten
seconds of CPU per build, identical each time. verilated.mk prefixes each compile with
``$(OBJCACHE)`` for a compiler cache; tb/vdpa_tb/sim.py points it here. A compile of a source
installed with Verilator or cocotb (immutable) is keyed by its command line, the source and
the compiler, and its object and dependency files are reused; anything else (the model, the
testbench's own C++) is compiled as usual. Standard library only: make runs it as a program.
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
        if not (entry / "obj").exists():
            rc = subprocess.call(argv)
            if rc != 0:
                return rc
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
