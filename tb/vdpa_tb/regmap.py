# SPDX-License-Identifier: MIT
"""Register map of the RTL device, loaded from the one machine-readable description.

``rtl/regmap/vdpa_regmap.toml`` is the source of truth. This module reads it for Python users
(the parent driver, the tests) and generates ``rtl/vdpa_regs_pkg.sv`` from it::

    python -m vdpa_tb.regmap --write-sv     # regenerate the SystemVerilog package
    python -m vdpa_tb.regmap --check-sv     # exit 1 if the committed package is stale
    python -m vdpa_tb.regmap --write-doc    # regenerate the tables in docs/rtl-interface.md
"""

from __future__ import annotations

import argparse
import dataclasses
import errno as _errno
import itertools
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOML_PATH = ROOT / "rtl" / "regmap" / "vdpa_regmap.toml"
SV_PATH = ROOT / "rtl" / "vdpa_regs_pkg.sv"
DOC_PATH = ROOT / "docs" / "rtl-interface.md"
DOC_BEGIN = "<!-- BEGIN GENERATED from rtl/regmap/vdpa_regmap.toml -->"
DOC_END = "<!-- END GENERATED -->"


#: Execution units and ordering scopes, with the codes the SystemVerilog package gives them.
UNITS = {"dev": 0, "iotlb": 1, "vq": 2, "all": 3}
ORDERS = {"none": 0, "object": 1, "unit": 2, "build": 3, "barrier": 4}


@dataclasses.dataclass(frozen=True)
class Command:
    """One command: opcode, execution unit, ordering scope, firmware latency class, the firmware
    work it stands for in an op trace, argument and result word names."""

    name: str
    opcode: int
    unit: str
    order: str
    fw_class: str
    fw_kind: str
    args: tuple[str, ...]
    results: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class FwClass:
    """A firmware latency class: its code, the RTL parameter that sets its latency."""

    name: str
    code: int
    param: str
    desc: str


@dataclasses.dataclass(frozen=True)
class Status:
    """One completion status code and the kernel errno a parent driver reports for it."""

    name: str
    code: int
    errno: int


class RegMap:
    """Everything in the TOML, as dicts keyed by name."""

    def __init__(self, path: Path = TOML_PATH) -> None:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        self.path = path
        self.device_id: int = raw["device"]["id"]
        self.version: int = raw["device"]["version"]
        self.reg: dict[str, int] = {}
        self.reg_count: dict[str, int] = {}
        self.reg_stride: dict[str, int] = {}
        for r in raw["reg"]:
            self.reg[r["name"]] = r["offset"]
            self.reg_count[r["name"]] = r.get("count", 1)
            self.reg_stride[r["name"]] = r.get("stride", 4)
        self.fw_class: dict[str, FwClass] = {
            f["name"]: FwClass(f["name"], f["code"], f["param"], f["desc"]) for f in raw["fw_class"]
        }
        self.cmd: dict[str, Command] = {}
        for c in raw["cmd"]:
            try:
                self.cmd[c["name"]] = Command(c["name"], c["opcode"], c["unit"], c["order"],
                                              c["fw_class"], c["fw_kind"], tuple(c["args"]),
                                              tuple(c["results"]))
            except KeyError as e:
                raise ValueError(f"{path}: command {c.get('name', '?')} lacks {e}") from None
        self.status: dict[str, Status] = {}
        for s in raw["status"]:
            err = 0 if s["errno"] == "0" else getattr(_errno, s["errno"])
            self.status[s["name"]] = Status(s["name"], s["code"], err)
        self.vq_state: dict[str, int] = {s["name"]: s["value"] for s in raw["vq_state"]}
        self.modify_bit: dict[str, int] = {m["name"]: m["bit"] for m in raw["modify_bit"]}
        self.fault: dict[str, int] = {f["name"]: f["code"] for f in raw["fault"]}
        self._raw = raw
        self._check()

    def _check(self) -> None:
        """Refuse a description with clashing numbers: it would silently alias on hardware."""
        spans: list[tuple[int, int, str]] = []
        for name, off in self.reg.items():
            if off % 4:
                raise ValueError(f"{self.path}: register {name} offset {off:#x} not 4-aligned")
            end = off + self.reg_count[name] * self.reg_stride[name]
            spans.append((off, end, name))
        spans.sort()
        for (_a0, a1, an), (b0, _b1, bn) in itertools.pairwise(spans):
            if b0 < a1:
                raise ValueError(f"{self.path}: registers {an} and {bn} overlap at {b0:#x}")
        for table, what in ((self.cmd, "opcode"),):
            seen: dict[int, str] = {}
            for c in table.values():
                if c.opcode in seen:
                    raise ValueError(f"{self.path}: {what} {c.opcode:#x} used by {seen[c.opcode]} "
                                     f"and {c.name}")
                seen[c.opcode] = c.name
        codes = [s.code for s in self.status.values()]
        if len(codes) != len(set(codes)):
            raise ValueError(f"{self.path}: duplicate status code")
        nargs = self.reg_count["CMD_ARG0"]
        nres = self.reg_count["CPL_DATA0"]
        from vdpa_model.trace import FW_KINDS

        codes = sorted(f.code for f in self.fw_class.values())
        if codes != list(range(len(codes))):
            raise ValueError(f"{self.path}: fw_class codes must be 0..{len(codes) - 1}, got {codes}")
        for c in self.cmd.values():
            where = f"{self.path}: command {c.name}"
            if len(c.args) > nargs or len(c.results) > nres:
                raise ValueError(f"{where} has too many args/results")
            if c.unit not in UNITS:
                raise ValueError(f"{where}: unit {c.unit!r} is not one of {sorted(UNITS)}")
            if c.order not in ORDERS:
                raise ValueError(f"{where}: order {c.order!r} is not one of {sorted(ORDERS)}")
            if c.order in ("object", "build") and (not c.args or c.args[0] not in ("VQ", "ASID")):
                raise ValueError(f"{where}: order {c.order!r} needs argument 0 to be VQ or ASID")
            if c.order == "build" and "TABLE" not in c.args:
                raise ValueError(f"{where}: order 'build' needs a TABLE argument")
            if (c.order == "barrier") != (c.unit == "all"):
                raise ValueError(f"{where}: only a barrier runs on all units, and it must")
            if c.fw_class not in self.fw_class:
                raise ValueError(f"{where}: fw_class {c.fw_class!r} is not one of "
                                 f"{sorted(self.fw_class)}")
            if c.fw_kind and c.fw_kind not in FW_KINDS:
                raise ValueError(f"{where}: fw_kind {c.fw_kind!r} is not in "
                                 "vdpa_model.trace.FW_KINDS")

    def errno_of(self, code: int) -> int:
        """Kernel errno for completion status ``code`` (EIO for an unknown code)."""
        for s in self.status.values():
            if s.code == code:
                return s.errno
        return _errno.EIO

    def status_name(self, code: int) -> str:
        for s in self.status.values():
            if s.code == code:
                return s.name
        return f"UNKNOWN({code})"

    def arg_index(self, cmd: str, arg: str) -> int:
        return self.cmd[cmd].args.index(arg)

    def result_index(self, cmd: str, res: str) -> int:
        return self.cmd[cmd].results.index(res)

    def sv_localparams(self) -> dict[str, tuple[int, int]]:
        """Every constant the package defines: name -> (bit width, value)."""
        out: dict[str, tuple[int, int]] = {
            "VDPA_ID": (32, self.device_id),
            "VDPA_VERSION": (32, self.version),
        }
        for name, off in self.reg.items():
            out[f"REG_{name}"] = (16, off)
        for c in self.cmd.values():
            out[f"OP_{c.name}"] = (8, c.opcode)
        for s in self.status.values():
            out[f"ST_{s.name}"] = (8, s.code)
        for name, v in self.vq_state.items():
            out[f"VQS_{name}"] = (3, v)
        for name, b in self.modify_bit.items():
            out[f"MOD_{name}"] = (32, b)
        for name, v in self.fault.items():
            out[f"FAULT_{name}"] = (8, v)
        for name, v in UNITS.items():
            out[f"UNIT_{name.upper()}"] = (2, v)
        for name, v in ORDERS.items():
            out[f"ORD_{name.upper()}"] = (3, v)
        for f in self.fw_class.values():
            out[f"FWC_{f.name}"] = (3, f.code)
        return out

    def _sv_case_function(self, name: str, width: int, doc: str,
                          value: dict[str, str], default: str) -> list[str]:
        """A package function mapping an opcode to one constant per command."""
        lines = [f"    // {doc}",
                 f"    function automatic logic [{width - 1}:0] {name}(input logic [7:0] op);",
                 "        case (op)"]
        for c in self.cmd.values():
            lines.append(f"            OP_{c.name}: return {value[c.name]};")
        lines += [f"            default: return {default};", "        endcase",
                  "    endfunction", ""]
        return lines

    def render_sv(self) -> str:
        """The SystemVerilog package text, deterministic so it can be compared byte for byte."""
        lines = [
            "// SPDX-License-Identifier: MIT",
            "// GENERATED from rtl/regmap/vdpa_regmap.toml by tb/vdpa_tb/regmap.py. Do not edit.",
            "// Regenerate: PYTHONPATH=tb python -m vdpa_tb.regmap --write-sv",
            "",
            "`resetall",
            "`timescale 1ns / 1ps",
            "`default_nettype none",
            "",
            "/* Register offsets, command opcodes, status codes and VQ states of the vdpa NIC */",
            "package vdpa_regs_pkg;",
            "",
            "// Lint waiver, reviewed: the package is the whole interface and every module uses a",
            "// subset of it, so unused constants are expected here and only here.",
            "/* verilator lint_off UNUSEDPARAM */",
            "",
        ]
        for name, (width, value) in self.sv_localparams().items():
            lines.append(f"    localparam logic [{width - 1}:0] {name} = {width}'h{value:x};")
        lines += [
            "",
            f"    // Command argument words (CMD_ARG{0}..{self.reg_count['CMD_ARG0'] - 1})",
        ]
        for c in self.cmd.values():
            for i, a in enumerate(c.args):
                lines.append(f"    localparam int ARG_{c.name}_{a} = {i};")
            for i, r in enumerate(c.results):
                lines.append(f"    localparam int RES_{c.name}_{r} = {i};")
        lines += ["", "    // Firmware latency classes (FWC_*), one latency parameter each",
                  f"    localparam int NFW_CLASSES = {len(self.fw_class)};", ""]
        lines += self._sv_case_function(
            "unit_of", 2, "Execution unit of a command (unknown opcodes: the device unit)",
            {c.name: f"UNIT_{c.unit.upper()}" for c in self.cmd.values()}, "UNIT_DEV")
        lines += self._sv_case_function(
            "order_of", 3, "What a command is ordered with (ORD_*; unknown opcodes: nothing)",
            {c.name: f"ORD_{c.order.upper()}" for c in self.cmd.values()}, "ORD_NONE")
        lines += self._sv_case_function(
            "fw_class_of", 3, "Firmware latency class of a command (unknown opcodes: OTHER)",
            {c.name: f"FWC_{c.fw_class}" for c in self.cmd.values()}, "FWC_OTHER")
        lines += ["/* verilator lint_on UNUSEDPARAM */", "", "endpackage", "", "`resetall", ""]
        return "\n".join(lines)


    def render_md(self) -> str:
        """Markdown tables of the whole interface, for docs/rtl-interface.md."""
        raw = self._raw
        out = [DOC_BEGIN, "",
               "Regenerate with `PYTHONPATH=tb python -m vdpa_tb.regmap --write-doc`.", "",
               f"Device ID `{self.device_id:#010x}`, interface version `{self.version:#010x}`.",
               "", "### Registers", "",
               "| Offset | Name | Access | Meaning |", "|---|---|---|---|"]
        for r in raw["reg"]:
            off = f"`{r['offset']:#06x}`"
            if r.get("count", 1) > 1:
                last = r["offset"] + (r["count"] - 1) * r.get("stride", 4)
                off = f"`{r['offset']:#06x}`..`{last:#06x}`"
            out.append(f"| {off} | {r['name']} | {r['access']} | {r['desc']} |")
        out += ["", "### Commands", "",
                "| Opcode | Command | Unit | Order | FW class | Trace kind | Arguments (CMD_ARGn) | "
                "Results (CPL_DATAn) | Meaning |", "|---|---|---|---|---|---|---|---|---|"]
        for c in raw["cmd"]:
            args = ", ".join(f"{i}:{a}" for i, a in enumerate(c["args"])) or "-"
            res = ", ".join(f"{i}:{a}" for i, a in enumerate(c["results"])) or "-"
            out.append(f"| `{c['opcode']:#04x}` | {c['name']} | {c['unit']} | {c['order']} | "
                       f"{c['fw_class']} | {c['fw_kind'] or '(its op)'} | {args} | {res} | {c['desc']} |")
        out += ["", "### Firmware latency classes", "",
                "| Code | Class | Parameter | Commands | Meaning |", "|---|---|---|---|---|"]
        for f in self.fw_class.values():
            members = ", ".join(c.name for c in self.cmd.values() if c.fw_class == f.name)
            out.append(f"| {f.code} | {f.name} | {f.param} | {members} | {f.desc} |")
        out += ["", "### Completion status codes", "",
                "| Code | Name | errno | Meaning |", "|---|---|---|---|"]
        for st in raw["status"]:
            out.append(f"| {st['code']} | {st['name']} | {st['errno']} | {st['desc']} |")
        out += ["", "### VQ object states", "", "| Value | State |", "|---|---|"]
        out += [f"| {v['value']} | {v['name']} |" for v in raw["vq_state"]]
        out += ["", "### MODIFY_VQ field-select bits (MASK)", "", "| Bit | Field |", "|---|---|"]
        out += [f"| {m['bit']} | {m['name']} |" for m in raw["modify_bit"]]
        out += ["", "### Fault codes (FAULT_HEAD errno)", "", "| errno | Name | Meaning |",
                "|---|---|---|"]
        out += [f"| {f['code']} | {f['name']} | {f['desc']} |" for f in raw["fault"]]
        out += ["", DOC_END]
        return "\n".join(out)

    def splice_doc(self, text: str) -> str:
        """``text`` with the generated block replaced by the current tables."""
        if DOC_BEGIN not in text or DOC_END not in text:
            raise ValueError(f"{DOC_PATH} lacks the generated-section markers")
        head, rest = text.split(DOC_BEGIN, 1)
        _, tail = rest.split(DOC_END, 1)
        return head + self.render_md() + tail


REGMAP = RegMap()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-sv", action="store_true", help=f"write {SV_PATH.relative_to(ROOT)}")
    ap.add_argument("--check-sv", action="store_true", help="exit 1 if the package is stale")
    ap.add_argument("--write-doc", action="store_true",
                    help=f"regenerate the tables in {DOC_PATH.relative_to(ROOT)}")
    ns = ap.parse_args(argv)
    if ns.write_doc:
        DOC_PATH.write_text(REGMAP.splice_doc(DOC_PATH.read_text()))
        return 0
    text = REGMAP.render_sv()
    if ns.write_sv:
        SV_PATH.write_text(text)
        return 0
    if ns.check_sv:
        if not SV_PATH.exists() or SV_PATH.read_text() != text:
            print(f"{SV_PATH} is stale: regenerate with --write-sv", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
