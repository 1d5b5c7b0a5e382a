# SPDX-License-Identifier: MIT
"""``vdpa-dv migrate``: checks, the per-step table, the trace and the summary it writes."""

from __future__ import annotations

import json

import pytest

from vdpa_model.cli import main
from vdpa_model.trace import read_jsonl


def test_migrate_prints_the_steps_and_writes_trace_and_summary(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["migrate", "--switches", "all-on", "--ram", "16G", "--page-size", "2M",
               "--devices", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "0 failed" in out and "A22" in out and "C4.2.9" in out
    records = read_jsonl(tmp_path / "migrate-all-on.jsonl")
    assert {r.device for r in records} == {"src0", "dst0"}  # one NIC of the shape traced
    summary = json.loads((tmp_path / "migrate-all-on.json").read_text())
    assert summary["devices"] == 2 and summary["traced_devices"] == ["src0", "dst0"]
    assert summary["page_size"] == 2 << 20 and all(c["ok"] for c in summary["checks"])
    assert summary["steps"]["dst0"]["C4.1.4"]["set_map"] == 1  # early_map_dest


@pytest.mark.parametrize(("argv", "message"), [
    (["--switches", "resumable_vqs"], "resumable_vqs refused"),
    (["--page-size", "64K"], "page size 65536"),
    (["--parent", "sim", "--switches", "precreated_vqs"], "precreated_vqs refused"),
    (["--vlans", "1,x"], "--vlans '1,x'"),
    (["--thp", "off", "--thp-fallback", "0.1"], "thp_fallback 0.1 without THP"),
    (["--page-size", "1G", "--thp-fallback", "0.1"], "THP does not back hugetlbfs memory"),
    (["--thp-fallback", "2"], "not a share between 0 and 1"),
])
def test_migrate_refuses_bad_input_by_name(tmp_path, capsys, argv: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    rc = main(["migrate", "--out", str(tmp_path), "--ram", "4G", *argv])
    assert rc == 2 and message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_sim_parent_runs_with_its_defaults(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["migrate", "--parent", "sim", "--ram", "4G", "--devices", "1",
                 "--out", str(tmp_path)]) == 0
    assert "1 queue pairs" in capsys.readouterr().out


def test_migrate_takes_the_host_memory(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """THP on (the default) gives 2 MiB runs: A16's 16 GiB build writes 512 MTT entries per GiB
    of the section above 4 GiB; THP off 262 144 (migration-sequence.md §1 item 6)."""
    per_gib = {}
    for thp in ("on", "off"):
        out = tmp_path / thp
        assert main(["migrate", "--ram", "16G", "--devices", "1", "--queue-pairs", "1", "--no-traffic",
                     "--thp", thp, "--out", str(out)]) == 0
        summary = json.loads((out / "migrate-upstream.json").read_text())
        assert summary["thp"] is (thp == "on") and summary["thp_fallback"] == 0
        records = read_jsonl(out / "migrate-upstream.jsonl")
        per_gib[thp] = {r.args["entries"] for r in records if r.phase == "A16" and r.name == "mkey_create"
                        and r.args["bytes"] == 1 << 30 and r.args.get("count", 1) > 1}
    assert per_gib == {"on": {512}, "off": {262_144}}
