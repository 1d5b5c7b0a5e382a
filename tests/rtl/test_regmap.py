# SPDX-License-Identifier: MIT
"""The register map has one source: rtl/regmap/vdpa_regmap.toml. The SystemVerilog package is
generated from it and must be current; the Python constants must say the same numbers."""

from __future__ import annotations

import errno
import re

from vdpa_model.downtime.fit_rtl import OP_COMMANDS, UNIT_COMMANDS
from vdpa_tb import regmap
from vdpa_tb.regmap import REGMAP, SV_PATH


def test_sv_package_is_generated_from_toml() -> None:
    assert SV_PATH.read_text() == REGMAP.render_sv(), (
        f"{SV_PATH} is stale: run PYTHONPATH=tb python -m vdpa_tb.regmap --write-sv")
    assert regmap.main(["--check-sv"]) == 0


def test_sv_constants_match_python() -> None:
    """Parse the committed package independently of the generator and compare every value."""
    text = SV_PATH.read_text()
    found = {m.group(1): int(m.group(2), 16) for m in re.finditer(
        r"localparam logic \[\d+:0\] (\w+) = \d+'h([0-9a-f]+);", text)}
    assert found["VDPA_ID"] == REGMAP.device_id
    for name, off in REGMAP.reg.items():
        assert found[f"REG_{name}"] == off, name
    for c in REGMAP.cmd.values():
        assert found[f"OP_{c.name}"] == c.opcode, c.name
    for s in REGMAP.status.values():
        assert found[f"ST_{s.name}"] == s.code, s.name
    for name, v in REGMAP.vq_state.items():
        assert found[f"VQS_{name}"] == v, name
    for name, v in REGMAP.fault.items():
        assert found[f"FAULT_{name}"] == v, name


def test_numbers_follow_the_kernel() -> None:
    """VQ states are mlx5_ifc_vdpa.h's, fault codes are Linux errnos, statuses map to errnos."""
    assert REGMAP.vq_state == {"INIT": 0, "RDY": 1, "SUSPEND": 2, "ERR": 3, "NONE": 4}
    assert REGMAP.modify_bit["STATE"] == 0 and REGMAP.modify_bit["ADDRS"] == 6
    assert REGMAP.modify_bit["AVAIL_IDX"] == 7 and REGMAP.modify_bit["USED_IDX"] == 8
    for name, code in REGMAP.fault.items():
        assert getattr(errno, name) == code, name
    assert REGMAP.errno_of(REGMAP.status["BAD_STATE"].code) == errno.EINVAL
    assert REGMAP.errno_of(REGMAP.status["EXISTS"].code) == errno.EEXIST


def test_overlapping_registers_are_refused(tmp_path) -> None:
    src = regmap.TOML_PATH.read_text().replace("offset = 0x0004", "offset = 0x0000", 1)
    bad = tmp_path / "bad.toml"
    bad.write_text(src)
    try:
        regmap.RegMap(bad)
    except ValueError as e:
        assert "overlap" in str(e)
    else:
        raise AssertionError("a register map with two registers at 0x0 was accepted")


def test_doc_tables_are_generated_from_toml() -> None:
    text = regmap.DOC_PATH.read_text()
    assert REGMAP.splice_doc(text) == text, (
        f"{regmap.DOC_PATH} tables are stale: run PYTHONPATH=tb python -m vdpa_tb.regmap "
        "--write-doc")
    for name in REGMAP.cmd:
        assert f"| {name} |" in text, name


def test_fw_classes_are_rtl_parameters() -> None:
    """Every firmware latency class has its parameter on both tops and the command processor,
    and no other FW_LAT_* parameter exists there."""
    want = {c.param for c in REGMAP.fw_class.values()}
    for name in ("vdpa_nic_top.sv", "vdpa_nic_pair.sv", "vdpa_cmd_proc.sv"):
        text = (SV_PATH.parent / name).read_text()
        assert set(re.findall(r"parameter int (FW_LAT_\w+)", text)) == want, name


def test_bad_command_descriptions_are_refused(tmp_path) -> None:
    """A command whose trace kind, latency class or ordering scope is unknown, or whose ordering
    names no object, is refused with the command named."""
    src = regmap.TOML_PATH.read_text()
    cases = [
        (src.replace('fw_kind = "vq_query"', 'fw_kind = "vq_peek"', 1), "QUERY_VQ.*vq_peek"),
        (src.replace('fw_class = "VQ_CREATE"', 'fw_class = "VQ_BIRTH"', 1), "CREATE_VQ.*VQ_BIRTH"),
        (src.replace('order = "build"', 'order = "sometimes"', 1), "MAP.*sometimes"),
        (src.replace('order = "unit"\nfw_class = "VQ_MODIFY"', 'order = "object"\nfw_class = '
                     '"VQ_MODIFY"', 1), "SUSPEND_ALL.*argument 0"),
    ]
    for text, msg in cases:
        assert text != src, msg
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        try:
            regmap.RegMap(bad)
        except ValueError as e:
            assert re.search(msg, str(e)), str(e)
        else:
            raise AssertionError(f"accepted a register map that should fail with {msg!r}")


def test_the_trace_kind_of_each_command_is_the_profile_fits() -> None:
    """The register map says which unit of the model's plan each command carries out; the
    reference-rtl fit prices each unit by that command and each op by the command it issues for
    itself (vdpa_model.downtime.fit_rtl): the two catalogues agree."""
    for c in REGMAP.cmd.values():
        if c.fw_kind:
            assert UNIT_COMMANDS.get(c.fw_kind) == c.name, (c.name, c.fw_kind)
    for op, cmd in OP_COMMANDS.items():
        if op not in ("dma_map",):  # MAP also carries out a table build's mkey_create
            assert REGMAP.cmd[cmd].fw_kind == "", (op, cmd)
    assert set(UNIT_COMMANDS.values()) <= set(REGMAP.cmd)
