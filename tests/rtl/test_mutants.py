# SPDX-License-Identifier: MIT
"""The mutant catalogue agrees with the RTL, and the mutation campaign can fail.

Fast checks (no simulator run): every id of rtl/vdpa_mutants_pkg.sv has one catalogue entry
(tb/vdpa_tb/mutants.py) and the other way round, ids are unique, each mutant has its marked hook
in the module it names, is documented in docs/mutation.md, names killers the kill set runs, and
lints clean under verilator -Wall. The simulation test runs a small campaign through the
regression engine: a mutant the chosen test must kill is killed, one it cannot see survives (so
the campaign fails), and the unmutated build passes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from vdpa_tb import mutants as M
from vdpa_tb import sim
from vdpa_tb.regress import mutate, simcfg

DOC = sim.ROOT / "docs" / "mutation.md"
RTL_SOURCES = sorted(sim.RTL_DIR.glob("*.sv"))


def test_ids_unique_and_none_is_zero() -> None:
    ids = M.read_ids()
    assert ids["MUT_NONE"] == 0
    values = list(ids.values())
    assert len(values) == len(set(values)), ids


def test_every_id_has_one_entry_and_back() -> None:
    ids = set(M.read_ids()) - {"MUT_NONE"}
    entries = [m.ident for m in M.CATALOGUE]
    assert len(entries) == len(set(entries))
    assert set(entries) == ids, (f"in the package only: {sorted(ids - set(entries))}; in the "
                                 f"catalogue only: {sorted(set(entries) - ids)}")
    assert len(M.CATALOGUE) >= 10


def test_read_ids_refuses_a_repeated_id(tmp_path) -> None:
    p = tmp_path / "pkg.sv"
    p.write_text("localparam int MUT_A = 1;\nlocalparam int MUT_A = 2;\n")
    with pytest.raises(M.MutantCatalogueError, match="MUT_A declared twice"):
        M.read_ids(p)


@pytest.mark.parametrize("m", M.CATALOGUE, ids=[m.name for m in M.CATALOGUE])
def test_hook_is_in_its_module_and_marked(m: M.Mutant) -> None:
    text = (sim.RTL_DIR / f"{m.module}.sv").read_text()
    assert f"mutant {m.ident}" in text, f"{m.module}.sv has no `// mutant {m.ident}` marker"
    assert re.search(rf"MUTANT\s*[!=]=\s*{m.ident}\b", text), \
        f"{m.module}.sv does not compare MUTANT with {m.ident}"


def test_no_hook_names_an_unknown_id() -> None:
    ids = set(M.read_ids())
    for f in RTL_SOURCES:
        used = set(re.findall(r"\bMUT_[A-Z0-9_]+\b", f.read_text()))
        assert used <= ids, f"{f.name} uses {sorted(used - ids)}, not in {M.PKG.name}"


@pytest.mark.parametrize("m", M.CATALOGUE, ids=[m.name for m in M.CATALOGUE])
def test_documented_with_killers_in_the_kill_set(m: M.Mutant) -> None:
    assert m.breaks and m.rule and m.killers
    assert f"`{m.name}`" in DOC.read_text(), f"docs/mutation.md does not describe {m.name}"
    cfg = simcfg.load()
    assert m.base in cfg.builds, f"{m.name}: base build {m.base!r} is not in the configuration"
    items, _ = cfg.select(mutate.KILL_SET)
    mine = [i for i in items if m.base in i.builds]
    runnable = {i.name for i in mine} | {t for i in mine for t in i.tests}
    assert set(m.killers) <= runnable, (f"{m.name}: killers {sorted(set(m.killers) - runnable)} "
                                        f"are not in the kill set on build {m.base}")


@pytest.mark.parametrize("m", M.CATALOGUE, ids=[m.name for m in M.CATALOGUE])
def test_mutant_lints_clean(m: M.Mutant) -> None:
    sim.use_pinned_verilator()
    files = [str(f) for f in sim.filelist("vdpa_nic_top")]
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "vdpa_nic_top",
                        f"-G{M.PARAM}={m.value}", *files],
                       capture_output=True, text=True, cwd=sim.RTL_DIR)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr


@pytest.mark.sim
def test_campaign_kills_and_reports_a_survivor(tmp_path) -> None:
    """test_ring_case must kill no_needs_reset (it checks NEEDS_RESET after each refused ring)
    and cannot see reset_keeps_groups (no group is rebound there): the campaign reports one
    kill, one survivor, the unmutated build passing, a score of 50 %, and fails."""
    out = tmp_path / "mutation.json"
    r = subprocess.run([sys.executable, "-m", "vdpa_tb.regress", "mutate",
                        "--mutants", "no_needs_reset,reset_keeps_groups",
                        "--tests", "test_ring_case", "--seeds", "1", "-j", "2",
                        "--out", str(out), "--runs-dir", str(tmp_path / "runs")],
                       capture_output=True, text=True, cwd=sim.ROOT, timeout=1200)
    assert out.exists(), r.stdout + r.stderr
    v = json.loads(out.read_text())
    rows = {row["mutant"]: row for row in v["mutants"]}
    assert v["clean"]["ok"], v["clean"]
    assert rows["no_needs_reset"]["killed"], rows["no_needs_reset"]
    assert any(t.startswith("test_ring_case") for t in rows["no_needs_reset"]["killed_by"])
    assert not rows["reset_keeps_groups"]["killed"], rows["reset_keeps_groups"]
    assert v["score"] == 50.0
    assert r.returncode == 1, r.stdout + r.stderr
    assert "mutation score: 1/2 = 50.0 %" in r.stdout
