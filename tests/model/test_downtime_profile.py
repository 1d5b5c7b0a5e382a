# SPDX-License-Identifier: MIT
"""Cost profiles: the shipped ones load, every malformed one is refused naming file, line and key,
overrides replace values by name, and the parameter table in docs/downtime.md is current."""

from __future__ import annotations

from pathlib import Path

import pytest
from downtime_helpers import HEAD, make_profile, profile_text

from vdpa_model.downtime.profile import PROFILE_DIR, assumed_table, load_profile, profile_path
from vdpa_model.downtime.tomlfile import InputError, key_lines
from vdpa_model.trace import FW_KINDS, Layer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["mlx5-cx6dx", "reference-rtl"])
def test_shipped_profiles_load_and_price_every_fw_kind(name: str) -> None:
    p = load_profile(name)
    assert p.name == name
    for kind in FW_KINDS:
        assert p.item(Layer.FW, kind) is not None, kind
    # every value says where it comes from or why it was assumed
    for param in p.params.values():
        assert (param.source is None) != (param.assumed is None), param.key
        assert (param.source or param.assumed or "").strip()


def test_units_convert_to_seconds(tmp_path: Path) -> None:
    us = make_profile(tmp_path, '[op.x]\nfixed = { value = 250, source = "t" }\n')
    assert us.item(Layer.OP, "x").rules[-1].run.seconds({}) == pytest.approx(250e-6)  # type: ignore[union-attr]
    head = HEAD.replace('time_unit = "us"', 'time_unit = "cycles"\nclock_mhz = { value = 200, source = "t" }')
    cyc = make_profile(tmp_path, '[op.x]\nfixed = { value = 250, source = "t" }\n', "c.toml", head)
    assert cyc.item(Layer.OP, "x").rules[-1].run.seconds({}) == pytest.approx(250 / 200e6)  # type: ignore[union-attr]


def test_per_driver_terms_and_steps(tmp_path: Path) -> None:
    p = make_profile(tmp_path, """
[fw.vq_create]
fixed = { value = 5, source = "t" }
per.qsize = { value = 1, step = 64, source = "t" }
per.vqs = { value = 10, source = "t" }
""")
    cost = p.item(Layer.FW, "vq_create").rules[-1].run  # type: ignore[union-attr]
    # 5 + ceil(100 / 64) * 1 + 3 * 10 = 37 us
    assert cost.seconds({"qsize": 100, "vqs": 3}) == pytest.approx(37e-6)
    assert cost.seconds({}) == pytest.approx(5e-6)


def test_wildcard_prices_other_names_of_its_layer(tmp_path: Path) -> None:
    p = make_profile(tmp_path, '[ioctl."*"]\nfixed = { value = 2, source = "t" }\n'
                               '[ioctl.VHOST_VDPA_SUSPEND]\nfixed = { value = 9, source = "t" }\n')
    assert p.item(Layer.IOCTL, "VHOST_VDPA_SUSPEND").name == "VHOST_VDPA_SUSPEND"  # type: ignore[union-attr]
    assert p.item(Layer.IOCTL, "VHOST_SET_VRING_NUM").name == "*"  # type: ignore[union-attr]
    assert p.item(Layer.HOST, "pin") is None


def test_overrides_replace_values_by_key_and_unknown_keys_are_refused() -> None:
    base = load_profile("mlx5-cx6dx")
    changed = base.with_overrides({"fw.vq_destroy.fixed": 1000.0})
    assert changed.params["fw.vq_destroy.fixed"].value == 1000.0
    assert changed.params["fw.vq_destroy.fixed"].overridden
    assert base.params["fw.vq_destroy.fixed"].value != 1000.0
    with pytest.raises(InputError, match=r"no value named fw\.nothing\.fixed"):
        base.with_overrides({"fw.nothing.fixed": 1.0})


def test_a_case_can_price_the_members_of_a_round_apart(tmp_path: Path) -> None:
    """``grouped``: a device may run work submitted together differently (the RTL's table build
    uses every write port when its MAPs come in one round), so a case can match it."""
    p = make_profile(tmp_path, """
[fw.mkey_create]
per.entries = { value = 1, source = "t" }
[[fw.mkey_create.case]]
grouped = true
per.entries = { value = 0.25, source = "t" }
""")
    item = p.item(Layer.FW, "mkey_create")
    assert item is not None
    alone, together = item.rule("", {}, (), False), item.rule("", {}, (), True)
    assert alone.run.seconds({"entries": 8}) == pytest.approx(8e-6)
    assert together.run.seconds({"entries": 8}) == pytest.approx(2e-6)
    assert together.describe() == "in a round"


def test_shipped_name_or_path() -> None:
    assert profile_path("mlx5-cx6dx") == PROFILE_DIR / "mlx5-cx6dx.toml"
    with pytest.raises(InputError, match=r"no profile 'vendor-x'.*mlx5-cx6dx"):
        profile_path("vendor-x")


# -- every error class names the file, the line and the key -----------------------------------
BAD = [
    ("unknown key", '[fw.vq_create]\nfixed = { value = 1, source = "t" }\ncolour = "red"\n',
     "fw.vq_create.colour", "unknown key 'colour'"),
    ("unknown top-level table", '[gpu]\nfixed = 1\n', "gpu", "unknown key 'gpu'"),
    ("missing cost", '[fw.vq_create]\npool = "p"\n[pool.p]\nslots = { value = 1, source = "t" }\n'
     'issue = { value = 0, source = "t" }\n', "fw.vq_create", "missing cost"),
    ("negative value", '[fw.vq_create]\nfixed = { value = -3, source = "t" }\n',
     "fw.vq_create.fixed.value", "must not be negative"),
    ("non-numeric value", '[fw.vq_create]\nfixed = { value = "fast", source = "t" }\n',
     "fw.vq_create.fixed.value", "must be a number"),
    ("boolean value", '[fw.vq_create]\nfixed = { value = true, source = "t" }\n',
     "fw.vq_create.fixed.value", "must be a number"),
    ("bare number", '[fw.vq_create]\nfixed = 3\n', "fw.vq_create.fixed", "must be a table"),
    ("unknown fw kind", '[fw.warp_drive]\nfixed = { value = 1, source = "t" }\n',
     "fw.warp_drive", "unknown fw kind 'warp_drive'"),
    ("unknown cost driver", '[fw.vq_create]\nper.gigabytes = { value = 1, source = "t" }\n',
     "fw.vq_create.per.gigabytes", "unknown cost driver 'gigabytes'"),
    ("no source", '[fw.vq_create]\nfixed = { value = 1 }\n', "fw.vq_create.fixed", "needs exactly one of"),
    ("source and assumed", '[fw.vq_create]\nfixed = { value = 1, source = "a", assumed = "b" }\n',
     "fw.vq_create.fixed", "needs exactly one of"),
    ("unknown pool", '[fw.vq_create]\npool = "nowhere"\nfixed = { value = 1, source = "t" }\n',
     "fw.vq_create.pool", "unknown pool 'nowhere'"),
    ("zero step", '[fw.vq_create]\nper.qsize = { value = 1, step = 0, source = "t" }\n',
     "fw.vq_create.per.qsize.step", "greater than 0"),
    ("case without condition", '[fw.vq_create]\nfixed = { value = 1, source = "t" }\n'
     '[[fw.vq_create.case]]\nfixed = { value = 2, source = "t" }\n', "fw.vq_create.case[0]",
     "needs a condition"),
    ("grouped not a boolean", '[fw.mkey_create]\nfixed = { value = 1, source = "t" }\n'
     '[[fw.mkey_create.case]]\ngrouped = "yes"\nfixed = { value = 2, source = "t" }\n',
     "fw.mkey_create.case[0].grouped", "must be true or false"),
    ("workers above slots", '[pool.p]\nslots = { value = 2, source = "t" }\n'
     'workers = { value = 3, source = "t" }\nissue = { value = 0, source = "t" }\n', "pool.p.workers",
     "cannot exceed slots"),
]


@pytest.mark.parametrize("what, body, key, message", BAD, ids=[b[0] for b in BAD])
def test_malformed_profile_names_file_line_and_key(tmp_path: Path, what: str, body: str, key: str,
                                                   message: str) -> None:
    path = tmp_path / "vendor.toml"
    text = profile_text(body)
    path.write_text(text)
    with pytest.raises(InputError) as e:
        load_profile(path)
    msg = str(e.value)
    assert message in msg
    assert f": {key}: " in msg
    # the line named is the line the offending key (or its table) is written on
    assert msg.startswith(f"{path}:")
    line = int(msg[len(str(path)) + 1:].split(":")[0])
    token = key.split(".")[-1].split("[")[0]
    assert token in text.splitlines()[line - 1], (line, text.splitlines()[line - 1])


def test_missing_fw_kind_is_a_missing_cost(tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    text = profile_text("")
    path.write_text(text.replace('[fw.rqt_update]\nfixed = { value = 0, source = "test" }\n', ""))
    with pytest.raises(InputError, match=r"short\.toml:\d+: fw: missing cost for fw kind\(s\) rqt_update"):
        load_profile(path)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(HEAD + "\n[fw.vq_create\nfixed = 1\n")
    with pytest.raises(InputError, match=r"broken\.toml: not valid TOML: .*line 10"):
        load_profile(path)


def test_cycles_need_a_clock(tmp_path: Path) -> None:
    head = HEAD.replace('time_unit = "us"', 'time_unit = "cycles"')
    with pytest.raises(InputError, match=r"unit\.toml:5: profile\.time_unit: .*needs profile\.clock_mhz"):
        make_profile(tmp_path, "", head=head)


def test_key_lines_follow_tables_arrays_inline_and_quoted_keys() -> None:
    text = ('# c\n[a]\nx = 1  # y = 2\n[b."*"]\nz = { value = 1, note = "p, q = r" }\n'
            '[[b.c]]\nw = 1\n[[b.c]]\nw = 2\nd.e = 3\n')
    lines = key_lines(text)
    assert lines[("a", "x")] == 3 and ("a", "y") not in lines
    assert lines[("b", "*", "z", "value")] == 5 and lines[("b", "*", "z", "note")] == 5
    assert ("b", "*", "z", "q") not in lines
    assert lines[("b", "c", 0, "w")] == 7 and lines[("b", "c", 1, "w")] == 9
    assert lines[("b", "c", 1, "d", "e")] == 10


def test_the_assumed_table_lists_every_assumed_value() -> None:
    mlx5 = load_profile("mlx5-cx6dx")
    table = assumed_table(mlx5)
    for p in mlx5.assumed:
        assert f"`{p.key}`" in table
