# SPDX-License-Identifier: MIT
"""Helpers of the downtime tests: small profiles written in the test, in round numbers."""

from __future__ import annotations

from pathlib import Path

from vdpa_model.downtime.profile import Profile, load_profile
from vdpa_model.trace import FW_KINDS

HEAD = """
[profile]
format = 1
name = "unit"
time_unit = "us"

[devices]
parallel = { value = 1, source = "test" }
"""


def profile_text(body: str, head: str = HEAD) -> str:
    """``head`` + ``body``, every fw kind ``body`` does not price priced 0 (all must be)."""
    text = head + body
    for kind in FW_KINDS:
        if f"[fw.{kind}]" not in body:
            text += f'\n[fw.{kind}]\nfixed = {{ value = 0, source = "test" }}\n'
    return text


def make_profile(tmp_path: Path, body: str, name: str = "unit.toml", head: str = HEAD) -> Profile:
    p = tmp_path / name
    p.write_text(profile_text(body, head))
    return load_profile(p)


def us(seconds: float) -> float:
    return round(seconds * 1e6, 6)
