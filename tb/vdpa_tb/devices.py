# SPDX-License-Identifier: MIT
"""A device under test, described by a TOML file: what to build and which Python drives it.

The RTL tests and the UVM regression take their device from such a file instead of from a
subclass of the tests. ``tb/devices/vdpa_nic_top.toml`` describes the reference device at its
default parameters; ``tb/devices/vdpa_nic_small.toml`` another build of it. A vendor writes one
for its own RTL (docs/testbench.md, "Plugging in another device")::

    [device]
    name = "vdpa_nic_top"                    # names the build directory and the reports
    top = "vdpa_nic_top"                     # HDL top of the device
    sources = ["../../rtl/vdpa_nic_top.f"]   # files or filelists (.f, nested), relative to here
    tb_top = "tb_vdpa_nic_top"               # fast-path testbench top (optional)
    tb_sources = ["../hdl/tb_nic_host.sv", "../hdl/tb_vdpa_nic_top.sv"]
    verilator_control = ["../hdl/tb_public.vlt"]   # public signals (optional)
    bare_verilator_control = ["../hdl/rtl_top_public.vlt"]

    [parameters]                             # HDL parameters (integers) over the RTL defaults
    DATA_W = 32

    [python]
    parent = "vdpa_tb.parent:RtlParentDriver"        # VdpaOps + DeviceHarness over the RTL
    context = "vdpa_tb.uvm.context:RtlNicContext"    # DeviceContext the UVM tests drive

Every error names the file, the line, the key and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vdpa_model.downtime.tomlfile import InputError, TomlFile, load

#: where the project's own device files live
DEVICES_DIR = Path(__file__).resolve().parents[1] / "devices"
#: the device the tests use unless told otherwise
DEFAULT_DEVICE = DEVICES_DIR / "vdpa_nic_top.toml"
#: environment variable naming the device file of a run (set by vdpa_tb.sim for the simulator)
DEVICE_ENV = "VDPA_DEVICE"

_DEVICE_KEYS = ("name", "top", "sources", "tb_top", "tb_sources", "verilator_control",
                "bare_verilator_control")
_PYTHON_KEYS = ("parent", "context")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*$")


@dataclasses.dataclass(frozen=True)
class DeviceConfig:
    """One device file, checked. Paths are absolute; ``sources`` and ``tb_sources`` are the
    compile order with filelists expanded."""

    path: Path
    name: str
    top: str
    sources: tuple[Path, ...]
    tb_top: str | None
    tb_sources: tuple[Path, ...]
    verilator_control: tuple[Path, ...]
    bare_verilator_control: tuple[Path, ...]
    parameters: Mapping[str, int]
    parent: str
    context: str

    def parent_class(self) -> type:
        """The parent driver class (``[python] parent``)."""
        return _import(self, "parent", self.parent)

    def context_class(self) -> type:
        """The UVM device context class (``[python] context``)."""
        return _import(self, "context", self.context)

    def with_parameters(self, **overrides: int) -> DeviceConfig:
        """The same device built with some parameters changed (a build sweep)."""
        return dataclasses.replace(self, parameters={**self.parameters, **overrides})

    def param(self, name: str, default: int) -> int:
        return int(self.parameters.get(name, default))


def _import(cfg: DeviceConfig, key: str, ref: str) -> type:
    mod_name, _, attr = ref.partition(":")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        tf = load(cfg.path)
        raise tf.error(("python", key), f"cannot import {ref!r}: {e}") from None
    if not isinstance(obj, type):
        raise load(cfg.path).error(("python", key), f"{ref!r} is not a class")
    return obj


def expand(tf: TomlFile, key: tuple[str | int, ...], entries: list[Any]) -> tuple[Path, ...]:
    """Files in compile order: each entry is a source file, or a filelist (``.f``: one path per
    word, relative to the filelist, nested filelists allowed); paths relative to the device
    file. A missing file is reported at the entry that names it."""
    out: list[Path] = []

    def add(p: Path, where: tuple[str | int, ...], seen: tuple[Path, ...]) -> None:
        if not p.is_file():
            via = f" (listed in {seen[-1]})" if seen else ""
            raise tf.error(where, f"no such file {p}{via}")
        if p.suffix == ".f":
            if p in seen:
                raise tf.error(where, f"filelist {p} includes itself")
            for word in p.read_text().split():
                add((p.parent / word).resolve(), where, (*seen, p))
        else:
            out.append(p)

    if not isinstance(entries, list) or not entries:
        raise tf.error(key, f"must be a non-empty list of paths, not {entries!r}")
    for i, e in enumerate(entries):
        add((tf.path.parent / tf.string((*key, i), e)).resolve(), (*key, i), ())
    return tuple(out)


def declared_parameters(sources: tuple[Path, ...], top: str) -> set[str] | None:
    """Parameter names of module ``top`` in ``sources`` (its header's ``parameter`` list), or
    None if no source declares the module."""
    pattern = re.compile(rf"\bmodule\s+{re.escape(top)}\b(.*?)\)\s*\(", re.S)
    for src in sources:
        m = pattern.search(src.read_text(errors="replace"))
        if m:
            return set(re.findall(r"\bparameter\b[^=;,]*?\b([A-Za-z_]\w*)\s*=", m.group(1)))
    return None


def parse(path: Path | str) -> DeviceConfig:
    """Read and check a device file."""
    tf = load(Path(path).resolve())
    tf.check_keys((), tf.data, ("device", "parameters", "python"), ("device", "python"))
    dev = tf.table(("device",), tf.data["device"])
    tf.check_keys(("device",), dev, _DEVICE_KEYS, ("name", "top", "sources"))
    name = tf.string(("device", "name"), dev["name"])
    if not _NAME.match(name):
        raise tf.error(("device", "name"), f"{name!r} must be a plain identifier (it names "
                                           "the build directory)")
    top = tf.string(("device", "top"), dev["top"])
    sources = expand(tf, ("device", "sources"), dev["sources"])
    tb_top = tf.string(("device", "tb_top"), dev["tb_top"]) if "tb_top" in dev else None
    if tb_top is not None and "tb_sources" not in dev:
        raise tf.error(("device", "tb_top"), "a testbench top needs tb_sources")
    tb_sources = expand(tf, ("device", "tb_sources"), dev["tb_sources"]) if tb_top else ()
    vlt = expand(tf, ("device", "verilator_control"), dev["verilator_control"]) \
        if "verilator_control" in dev else ()
    bare_vlt = expand(tf, ("device", "bare_verilator_control"), dev["bare_verilator_control"]) \
        if "bare_verilator_control" in dev else ()
    params_t = tf.table(("parameters",), tf.data.get("parameters", {}))
    declared = declared_parameters(sources, top)
    if declared is None:
        raise tf.error(("device", "top"), f"no source of device.sources declares module {top!r}")
    params: dict[str, int] = {}
    for k, v in params_t.items():
        if k not in declared:
            raise tf.error(("parameters", k), f"module {top} has no parameter {k!r} "
                                              f"(it has {', '.join(sorted(declared))})")
        params[k] = int(tf.number(("parameters", k), v, integer=True))
    py = tf.table(("python",), tf.data["python"])
    tf.check_keys(("python",), py, _PYTHON_KEYS, _PYTHON_KEYS)
    refs = {}
    for k in _PYTHON_KEYS:
        ref = tf.string(("python", k), py[k])
        if not re.match(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*$", ref):
            raise tf.error(("python", k), f"{ref!r} must be 'package.module:Class'")
        refs[k] = ref
    return DeviceConfig(tf.path, name, top, sources, tb_top, tb_sources, vlt, bare_vlt, params,
                        refs["parent"], refs["context"])


def load_device(ref: Path | str | None = None) -> DeviceConfig:
    """The device file ``ref`` (a path, or the name of a file in tb/devices/), else the one
    $VDPA_DEVICE names, else the default device."""
    if ref is None:
        ref = os.environ.get(DEVICE_ENV) or DEFAULT_DEVICE
    p = Path(ref)
    if not p.suffix and not p.exists():
        p = DEVICES_DIR / f"{ref}.toml"
    return parse(p)


def project_devices() -> list[DeviceConfig]:
    """Every device file of tb/devices/, default first."""
    files = sorted(DEVICES_DIR.glob("*.toml"), key=lambda p: (p != DEFAULT_DEVICE, p.name))
    return [parse(p) for p in files]


__all__ = ["DEFAULT_DEVICE", "DEVICE_ENV", "DeviceConfig", "InputError", "load_device", "parse",
           "project_devices"]
