# SPDX-License-Identifier: MIT
"""Device files (tb/vdpa_tb/devices.py): the project's own parse into the builds the tests use,
and every mistake a vendor can make is refused naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vdpa_tb import devices, sim
from vdpa_tb.devices import InputError, parse

GOOD = """\
[device]
name = "acme_nic"
top = "vdpa_nic_top"
sources = ["{root}/rtl/vdpa_nic_top.f"]
tb_top = "tb_vdpa_nic_top"
tb_sources = ["{root}/tb/hdl/tb_vdpa_nic_top.f"]

[parameters]
NVQ = 4

[python]
parent = "vdpa_tb.parent:RtlParentDriver"
context = "vdpa_tb.uvm.context:RtlNicContext"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "dev.toml"
    p.write_text(text.format(root=sim.ROOT))
    return p


def test_project_devices_are_the_builds_the_tests_use() -> None:
    """The default device file gives exactly the sources and tops the naming convention gave;
    the second file is the same RTL with its own parameters."""
    by_name = {d.name: d for d in devices.project_devices()}
    assert next(iter(by_name)) == "vdpa_nic_top" and "vdpa_nic_small" in by_name
    default = by_name["vdpa_nic_top"]
    for bus in sim.BUS_MODELS:
        assert sim.design(default.top, bus, default) == sim.design(default.top, bus)
    small = by_name["vdpa_nic_small"]
    assert small.sources == default.sources and small.parameters["DATA_W"] == 32
    assert small.with_parameters(NVQ=8).parameters["NVQ"] == 8
    assert devices.load_device("vdpa_nic_small") == small


def test_good_file_relative_paths_and_parameters(tmp_path: Path) -> None:
    d = parse(write(tmp_path, GOOD))
    assert d.name == "acme_nic" and d.parameters == {"NVQ": 4}
    # the filelist expanded in its order
    assert [p.name for p in d.tb_sources] == ["tb_nic_host.sv", "tb_engine_occupancy.sv",
                                              "tb_vdpa_nic_top.sv"]
    assert d.sources[0].name == "vdpa_regs_pkg.sv"


@pytest.mark.parametrize(("edit", "where", "what"), [
    (("NVQ = 4", "NVQ = 4\nNQV = 2"), ":10: parameters.NQV", "has no parameter 'NQV'"),
    (("NVQ = 4", 'NVQ = "four"'), ":9: parameters.NVQ", "must be a number"),
    (('name = "acme_nic"', 'name = "acme nic"'), ":2: device.name", "plain identifier"),
    (("vdpa_nic_top.f", "vdpa_nic_topp.f"), ":4: device.sources[0]", "no such file"),
    (('top = "vdpa_nic_top"', 'top = "acme_top"'), ":3: device.top", "declares module 'acme_top'"),
    (('tb_sources = ["{root}/tb/hdl/tb_vdpa_nic_top.f"]\n', ""), ":5: device.tb_top",
     "needs tb_sources"),
    (("vdpa_tb.parent:RtlParentDriver", "vdpa_tb.parent.RtlParentDriver"), ":12: python.parent",
     "'package.module:Class'"),
    (('context = "vdpa_tb.uvm.context:RtlNicContext"\n', ""), ":11: python",
     "missing key 'context'"),
    (("[parameters]", "[params]"), ":8: params", "unknown key 'params'"),
])
def test_mistakes_name_file_line_and_key(tmp_path: Path, edit: tuple[str, str], where: str,
                                        what: str) -> None:
    text = GOOD.replace(*edit)
    assert text != GOOD
    with pytest.raises(InputError) as e:
        parse(write(tmp_path, text))
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "dev.toml") + where) and what in msg, msg


def test_class_that_cannot_be_imported_is_named(tmp_path: Path) -> None:
    d = parse(write(tmp_path, GOOD.replace("RtlParentDriver", "NoSuchDriver")))
    with pytest.raises(InputError, match=r"dev.toml:12: python.parent: cannot import"):
        d.parent_class()


def test_filelist_that_includes_itself_is_refused(tmp_path: Path) -> None:
    loop = tmp_path / "loop.f"
    loop.write_text("loop.f\n")
    with pytest.raises(InputError, match="includes itself"):
        parse(write(tmp_path, GOOD.replace("{root}/rtl/vdpa_nic_top.f", str(loop))))
