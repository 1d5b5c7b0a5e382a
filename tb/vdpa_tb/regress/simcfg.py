# SPDX-License-Identifier: MIT
"""The regression configuration (testplan/vdpa_nic_sim.yaml): builds, test modules, per-test
settings, groups and named regressions, as data; and the cocotb tests the modules hold.

A test, a seed count and a parameter set are entries of the YAML file, never code: a new build
(another parameter set, a mutant selected by a parameter, a second device's top) is a
``builds`` entry; a new test is found in its module and inherits the module's settings. Every
mistake in the file is reported with the file, the key and the value at fault.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import devices, sim
from ..devices import DeviceConfig, InputError

SIM_CFG = sim.ROOT / "testplan" / "vdpa_nic_sim.yaml"
TEST_DIR = sim.TB_DIR / "vdpa_tb" / "tests"
TEST_PACKAGE = "vdpa_tb.tests"
#: what ``*`` in a regression's items stands for
ALL = "*"


class SimCfgError(ValueError):
    """A mistake in the regression configuration, naming the file, key and value."""


# --- discovery of cocotb tests --------------------------------------------------------------

def _decorated_with_test(node: ast.AST) -> bool:
    """``@cocotb.test(...)`` or ``@pyuvm.test(...)`` (called or bare)."""
    for d in getattr(node, "decorator_list", []):
        f = d.func if isinstance(d, ast.Call) else d
        if isinstance(f, ast.Attribute) and f.attr == "test" and \
                isinstance(f.value, ast.Name) and f.value.id in ("cocotb", "pyuvm"):
            return True
    return False


def tests_in_source(source: str) -> list[str]:
    """Names of the cocotb and pyuvm tests a module's source defines, in source order."""
    nodes = [n for n in ast.walk(ast.parse(source))
             if isinstance(n, (ast.AsyncFunctionDef, ast.FunctionDef, ast.ClassDef))
             and _decorated_with_test(n)]
    return [n.name for n in sorted(nodes, key=lambda n: n.lineno)]


def discover(test_dir: Path = TEST_DIR, package: str = TEST_PACKAGE) -> dict[str, list[str]]:
    """Module name -> its tests, read from the source (importing would need a simulator)."""
    out = {}
    for path in sorted(test_dir.glob("*.py")):
        names = tests_in_source(path.read_text())
        if names:
            out[f"{package}.{path.stem}"] = names
    return out


# --- the configuration ----------------------------------------------------------------------

@dataclass(frozen=True)
class Build:
    """A parameter set of a top, on one bus model; ``only``: the tests allowed on it.
    ``device``: the device file (vdpa_tb.devices) the build comes from, if any: its sources,
    tops and Python classes; ``top`` and ``params`` are then the file's (``params`` over the
    file's parameters)."""

    name: str
    top: str
    params: Mapping[str, int | str]
    bus: str = "hdl"
    only: tuple[str, ...] | None = None
    device: str | None = None

    def allows(self, test: str) -> bool:
        return self.only is None or test in self.only

    def device_config(self) -> DeviceConfig | None:
        """The parsed device file (None for a build named by its top alone)."""
        return None if self.device is None else devices.parse(self.device)


@dataclass(frozen=True)
class TestSpec:
    """How one cocotb test runs: its module, builds, whether seeds matter, limits, env."""

    name: str
    module: str
    builds: tuple[str, ...]
    seeded: bool
    timeout: float
    env: Mapping[str, str] = field(default_factory=dict)
    #: the module's builds its own ``builds`` or ``skip_builds`` leave out: a group it belongs
    #: to does not run it there either
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """What one simulation runs: one test, or a group of tests of one module."""

    name: str
    module: str
    tests: tuple[str, ...]
    builds: tuple[str, ...]
    seeded: bool
    timeout: float
    env: Mapping[str, str] = field(default_factory=dict)
    group: bool = False


@dataclass(frozen=True)
class Regression:
    name: str
    items: tuple[str, ...]
    seeds: int | None = None


@dataclass
class SimCfg:
    path: Path
    name: str
    testplan: Path
    builds: dict[str, Build]
    tests: dict[str, TestSpec]
    items: dict[str, Item]
    regressions: dict[str, Regression]
    not_regressed: tuple[str, ...] = ()

    def select(self, tokens: Iterable[str]) -> tuple[list[Item], int | None]:
        """The items named by ``tokens`` (regression names, group names, test names or globs
        over test and group names, ``*`` for every group and ungrouped test), in a stable
        order without repeats, and the seed count a named regression fixes (else None)."""
        chosen: dict[str, Item] = {}
        seeds = None
        for tok in tokens:
            tok = tok.strip()
            if not tok:
                continue
            if tok in self.regressions:
                reg = self.regressions[tok]
                sub, _ = self.select(reg.items)
                seeds = reg.seeds if reg.seeds is not None else seeds
                chosen.update((i.name, i) for i in sub)
                continue
            if tok == ALL:
                grouped = {t for i in self.items.values() if i.group for t in i.tests}
                chosen.update((n, i) for n, i in self.items.items()
                              if i.group or n not in grouped)
                continue
            hits = [n for n in self.items if fnmatch.fnmatchcase(n, tok)]
            if not hits:
                raise SimCfgError(
                    f"{self.path.name}: no regression, group or test matches {tok!r} "
                    f"(regressions: {', '.join(self.regressions)}; groups: "
                    f"{', '.join(n for n, i in self.items.items() if i.group)}; "
                    f"`python -m vdpa_tb.regress list` shows the tests)")
            chosen.update((n, self.items[n]) for n in hits)
        return list(chosen.values()), seeds

    def module_builds(self, module: str) -> dict[str, Build]:
        """The builds the tests of ``module`` run on (what its pytest entry parametrizes)."""
        return {b: self.builds[b] for b in sorted({x for t in self.tests.values()
                                                   if t.module == module for x in t.builds})}

    def tests_on(self, module: str, build: str) -> list[str]:
        """The tests of ``module`` that run on ``build``: those whose builds name it (a test's
        own ``builds`` over its module's) and that the build allows (``only``)."""
        b = self.builds[build]
        return [t.name for t in self.tests.values()
                if t.module == module and build in t.builds and b.allows(t.name)]

    def testpoints(self) -> list[dict[str, Any]]:
        """The testplan's testpoints (name, stage, tests, ...)."""
        return list(yaml.safe_load(self.testplan.read_text())["testpoints"])


def _err(path: Path, key: str, msg: str) -> SimCfgError:
    return SimCfgError(f"{path}: {key}: {msg}")


def _mapping(path: Path, key: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(path, key, f"expected a mapping, got {value!r}")
    return value


def _names(path: Path, key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _err(path, key, f"expected a list of names, got {value!r}")
    return tuple(value)


def _check_keys(path: Path, key: str, d: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    for k in d:
        if k not in allowed:
            raise _err(path, f"{key}.{k}", f"unknown key (allowed: {', '.join(allowed)})")


def _settings(path: Path, key: str, d: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """seeded / timeout / env over ``base``, each checked."""
    out = dict(base)
    if "seeded" in d:
        if not isinstance(d["seeded"], bool):
            raise _err(path, f"{key}.seeded", f"expected true or false, got {d['seeded']!r}")
        out["seeded"] = d["seeded"]
    if "timeout" in d:
        t = d["timeout"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0:
            raise _err(path, f"{key}.timeout", f"expected wall seconds > 0, got {t!r}")
        out["timeout"] = float(t)
    if "env" in d:
        env = _mapping(path, f"{key}.env", d["env"])
        out["env"] = {**out.get("env", {}), **{str(k): str(v) for k, v in env.items()}}
    return out


def load(path: Path = SIM_CFG, discovered: Mapping[str, list[str]] | None = None) -> SimCfg:
    """Read and check the configuration against the tests the modules define."""
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SimCfgError(f"{path}: not valid YAML: {e}") from None
    raw = _mapping(path, "(top level)", raw)
    _check_keys(path, "(top level)", raw, ("name", "testplan", "builds", "modules",
                                            "not_regressed", "tests", "groups", "regressions"))
    found = discover() if discovered is None else dict(discovered)
    owner = {t: m for m, ts in found.items() for t in ts}
    dup = sorted({t for m, ts in found.items() for t in ts if owner[t] != m})
    if dup:
        raise SimCfgError(f"test names must be unique across modules, to be selected by name: {dup}")

    builds: dict[str, Build] = {}
    for name, b in _mapping(path, "builds", raw.get("builds")).items():
        key = f"builds.{name}"
        b = _mapping(path, key, b)
        _check_keys(path, key, b, ("top", "params", "bus", "only", "device"))
        device = None
        if "device" in b:
            # a device file, relative to this file: it says the top, sources and parameters
            dev_path = (path.parent / str(b["device"])).resolve()
            try:
                dev = devices.parse(dev_path)
            except (InputError, OSError) as e:
                raise _err(path, f"{key}.device", str(e)) from None
            if b.get("top", dev.top) != dev.top:
                raise _err(path, f"{key}.top", f"{b['top']!r} is not the top of its device "
                                               f"file ({dev.top!r})")
            top, device = dev.top, str(dev_path)
        else:
            top = b.get("top")
            if not isinstance(top, str) or not (sim.RTL_DIR / f"{top}.f").exists():
                raise _err(path, f"{key}.top", f"no filelist rtl/{top}.f for top {top!r}")
        params = _mapping(path, f"{key}.params", b.get("params"))
        for k, v in params.items():
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                raise _err(path, f"{key}.params.{k}", f"expected an integer or string, got {v!r}")
        bus = b.get("bus", "hdl")
        if bus not in sim.BUS_MODELS:
            raise _err(path, f"{key}.bus", f"{bus!r} is not one of {', '.join(sim.BUS_MODELS)}")
        only = _names(path, f"{key}.only", b["only"]) if "only" in b else None
        for t in only or ():
            if t not in owner:
                raise _err(path, f"{key}.only", f"no cocotb test named {t!r}")
        if device is not None:
            params = {**devices.parse(device).parameters, **params}
        builds[name] = Build(name, top, params, bus, only, device)

    modules = _mapping(path, "modules", raw.get("modules"))
    not_regressed = _names(path, "not_regressed", raw.get("not_regressed", []))
    for m in not_regressed:
        if m not in found:
            raise _err(path, "not_regressed", f"no test module {m!r} in {TEST_DIR}")
    missing = sorted(set(found) - set(modules) - set(not_regressed))
    if missing:
        raise _err(path, "modules", f"test module(s) neither regressed nor listed under "
                                    f"not_regressed: {missing}")
    defaults = {"seeded": False, "timeout": 600.0, "env": {}}
    module_settings: dict[str, dict[str, Any]] = {}
    module_builds: dict[str, tuple[str, ...]] = {}
    for m, d in modules.items():
        key = f"modules.{m}"
        d = _mapping(path, key, d)
        _check_keys(path, key, d, ("builds", "seeded", "timeout", "env"))
        if m not in found:
            raise _err(path, key, f"no test module {m!r} in {TEST_DIR} (or it defines no test)")
        module_builds[m] = _builds(path, f"{key}.builds", d.get("builds"), builds)
        module_settings[m] = _settings(path, key, d, defaults)

    per_test = _mapping(path, "tests", raw.get("tests"))
    tests: dict[str, TestSpec] = {}
    for m in modules:
        for t in found[m]:
            d = _mapping(path, f"tests.{t}", per_test.get(t))
            _check_keys(path, f"tests.{t}", d, ("builds", "skip_builds", "seeded", "timeout",
                                                 "env"))
            s = _settings(path, f"tests.{t}", d, module_settings[m])
            b = _builds(path, f"tests.{t}.builds", d["builds"], builds) if "builds" in d \
                else module_builds[m]
            b = tuple(x for x in b if builds[x].allows(t))
            if "skip_builds" in d:
                b = _skip(path, f"tests.{t}", d, b, builds)
            own = "builds" in d or "skip_builds" in d
            skipped = tuple(x for x in module_builds[m]
                            if x not in b and builds[x].allows(t)) if own else ()
            tests[t] = TestSpec(t, m, b, s["seeded"], s["timeout"], s["env"], skipped)
    for t in per_test:
        if t not in tests:
            raise _err(path, f"tests.{t}", "no such cocotb test in a regressed module")

    items: dict[str, Item] = {t: Item(t, s.module, (t,), s.builds, s.seeded, s.timeout, s.env)
                              for t, s in tests.items()}
    for g, d in _mapping(path, "groups", raw.get("groups")).items():
        key = f"groups.{g}"
        d = _mapping(path, key, d)
        _check_keys(path, key, d, ("module", "tests", "builds", "timeout"))
        if g in items:
            raise _err(path, key, "a group cannot have the name of a test")
        m = d.get("module")
        if m not in modules:
            raise _err(path, f"{key}.module", f"{m!r} is not a regressed module")
        pats = _names(path, f"{key}.tests", d.get("tests"))
        members = tuple(t for t in found[m] if any(fnmatch.fnmatchcase(t, p) for p in pats))
        if not members:
            raise _err(path, f"{key}.tests", f"{list(pats)} matches no test of {m}")
        specs = [tests[t] for t in members]
        env: dict[str, str] = {}
        for s in specs:
            for k, v in s.env.items():
                if env.setdefault(k, v) != v:
                    raise _err(path, key, f"its tests set {k} differently; one simulation "
                                          "has one environment")
        b = _builds(path, f"{key}.builds", d["builds"], builds) if "builds" in d \
            else module_builds[m]
        timeout = _settings(path, key, d, {"timeout": sum(s.timeout for s in specs)})["timeout"]
        items[g] = Item(g, m, members, b, any(s.seeded for s in specs), timeout, env, group=True)

    regressions: dict[str, Regression] = {}
    for r, d in _mapping(path, "regressions", raw.get("regressions")).items():
        key = f"regressions.{r}"
        d = _mapping(path, key, d)
        _check_keys(path, key, d, ("items", "seeds"))
        if r in items:
            raise _err(path, key, "a regression cannot have the name of a test or group")
        seeds = d.get("seeds")
        if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, int)
                                  or seeds < 1):
            raise _err(path, f"{key}.seeds", f"expected an integer >= 1, got {seeds!r}")
        regressions[r] = Regression(r, _names(path, f"{key}.items", d.get("items")), seeds)

    testplan = path.parent / str(raw.get("testplan", "vdpa_nic.yaml"))
    if not testplan.exists():
        raise _err(path, "testplan", f"no file {testplan}")
    cfg = SimCfg(path, str(raw.get("name", path.stem)), testplan, builds, tests, items,
                 regressions, not_regressed)
    for r in regressions.values():
        try:
            cfg.select(r.items)
        except SimCfgError as e:
            raise _err(path, f"regressions.{r.name}.items", str(e)) from None
    return cfg


def _skip(path: Path, key: str, d: Mapping[str, Any], chosen: tuple[str, ...],
          builds: Mapping[str, Build]) -> tuple[str, ...]:
    """A test's builds without its ``skip_builds``: the module's list minus the builds the
    test cannot run on, so a build added to the module later runs the test too (a test's own
    ``builds`` would silently leave it out). Each skipped build must be one the test would run
    on, or the entry would hide nothing and go stale unseen."""
    if "builds" in d:
        raise _err(path, key, "give builds or skip_builds, not both")
    skip = _builds(path, f"{key}.skip_builds", d["skip_builds"], builds)
    stray = [b for b in skip if b not in chosen]
    if stray:
        raise _err(path, f"{key}.skip_builds",
                   f"{stray} not among the builds the test runs on ({', '.join(chosen)})")
    return tuple(b for b in chosen if b not in skip)


def _builds(path: Path, key: str, value: object, builds: Mapping[str, Build]) -> tuple[str, ...]:
    names = _names(path, key, value)
    for b in names:
        if b not in builds:
            raise _err(path, key, f"unknown build {b!r} (known: {', '.join(builds)})")
    return names
