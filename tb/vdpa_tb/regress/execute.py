# SPDX-License-Identifier: MIT
"""Running one regression job on a worker, and what comes back to the machine that merges.

:func:`run_job` is the task a Dask worker executes. It starts a fresh Python process
(``python -m vdpa_tb.regress.execute JOB.json``) that builds the job's parameter set unless an
up-to-date build exists (``sim.ensure_build``: one build per parameter set per machine, shared
by every worker of that machine under its lock) and runs the simulation with a wall-clock limit.
A separate process per simulation keeps a crash, a hang or a leak of one run out of the worker
and out of every other run. The task then harvests the run directory into a :class:`Result`:
the JUnit test cases, the coverage (code coverage packed, functional coverage as exported),
and for a run that did not pass, the end of its log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import devices, sim
from ..hdlcov import points as covpoints
from .jobs import Job

#: a finished run's verdicts
PASSED, FAILED, ERROR, TIMEOUT = "passed", "failed", "error", "timeout"
#: how long a job may wait for a build (another worker's, under the lock) and compile its own
BUILD_TIMEOUT = 3600.0
#: the end of a failing run's log that travels back with its result
LOG_TAIL_LINES = 400
OUTCOME = "outcome.json"
FUNC_DIR = "func"
#: the run directory's folder of pyuvm scoreboard records (what each test compared)
SCOREBOARD_DIR = "scoreboard"


@dataclass
class Case:
    """One cocotb test case of a run, as its JUnit XML says."""

    name: str
    status: str          # passed | failed | skipped
    time: float
    sim_ns: float
    message: str = ""


@dataclass
class Result:
    """What a worker returns for one job."""

    job: dict[str, Any]
    status: str
    message: str = ""
    cases: list[Case] = field(default_factory=list)
    host: str = ""
    worker: str = ""             # the Dask worker that ran it ("" outside Dask)
    run_dir: str = ""
    built: bool = False          # this job compiled its build (else reused it)
    build_s: float = 0.0         # waiting for and compiling the build
    sim_s: float = 0.0           # the simulation, wall clock
    seed_logged: int | None = None
    log_tail: str = ""
    code_cov: covpoints.Packed | None = None
    func_cov: list[dict[str, Any]] = field(default_factory=list)
    scoreboards: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    @property
    def the_job(self) -> Job:
        return Job.from_dict(self.job)

    def summary(self) -> dict[str, Any]:
        """Everything but the coverage and the log, for JSON."""
        d = asdict(self)
        d.pop("code_cov")
        d.pop("func_cov")
        return d


def run_dir_of(job: Job) -> Path:
    base = Path(job.runs_dir)
    return (base if base.is_absolute() else sim.ROOT / base) / job.id


def _cases(xml: Path) -> list[Case]:
    out = []
    for tc in ET.parse(xml).iter("testcase"):
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
        skipped = tc.find("skipped") is not None
        msg = ""
        if bad is not None:
            msg = (bad.get("message") or "") + ("\n" + bad.text if bad.text else "")
        out.append(Case(tc.get("name", "?"), "failed" if bad is not None else
                         "skipped" if skipped else "passed", float(tc.get("time") or 0),
                         float(props.get("sim_time_duration") or 0), msg.strip()))
    return out


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


def harvest(job: Job, run_dir: Path, outcome: dict[str, Any]) -> Result:
    """The result of a finished run, from its directory."""
    r = Result(job.to_dict(), ERROR, host=socket.gethostname(), run_dir=str(run_dir),
               built=bool(outcome.get("built")), build_s=float(outcome.get("build_s", 0)),
               sim_s=float(outcome.get("sim_s", 0)))
    log = run_dir / sim.SIM_LOG
    r.seed_logged = sim.seed_of_log(log)
    xml = run_dir / sim.RESULTS_XML
    if outcome.get("error"):
        r.status = TIMEOUT if outcome.get("timeout") else ERROR
        r.message = str(outcome["error"])
    elif not xml.exists():
        r.message = "the simulation wrote no results (it died before cocotb finished)"
    else:
        try:
            r.cases = _cases(xml)
        except ET.ParseError as e:
            r.message = f"{xml}: unreadable JUnit XML: {e}"
        else:
            failed = [c.name for c in r.cases if c.status == "failed"]
            ran = [c for c in r.cases if c.status != "skipped"]
            if failed:
                r.status, r.message = FAILED, f"{len(failed)} of {len(r.cases)} failed: {', '.join(failed)}"
            elif not ran:
                r.message = f"no test ran (filter {job.test_filter!r} matched nothing in {job.module})"
            else:
                r.status = PASSED
    if job.cov and (run_dir / "coverage.dat").exists():
        r.code_cov = covpoints.pack(covpoints.read_dat(
            (run_dir / "coverage.dat").read_text(errors="replace"), sim.ROOT))
    for f in sorted((run_dir / FUNC_DIR).glob("*.json")):
        r.func_cov.append(json.loads(f.read_text()))
    for f in sorted((run_dir / SCOREBOARD_DIR).glob("*.json")):
        r.scoreboards.append(json.loads(f.read_text()))
    if not r.passed:
        r.log_tail = _tail(log) or _tail(run_dir / "build.log")
    return r


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return ""


def run_job(job_dict: dict[str, Any]) -> Result:
    """The Dask task: run one job in its own process and harvest it. Never raises for a failing
    or crashing simulation: that is a result like any other."""
    job = Job.from_dict(job_dict)
    run_dir = run_dir_of(job)
    try:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        (run_dir / "job.json").write_text(json.dumps(job.to_dict(), indent=1))
        cmd = [sys.executable, "-m", "vdpa_tb.regress.execute", str(run_dir / "job.json")]
        env = dict(os.environ)
        env.pop("PYTEST_CURRENT_TEST", None)
        with open(run_dir / "runner.log", "w") as out:
            proc = subprocess.Popen(cmd, cwd=sim.ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                proc.wait(timeout=BUILD_TIMEOUT + job.timeout + 60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        outcome_file = run_dir / OUTCOME
        if outcome_file.exists():
            outcome = json.loads(outcome_file.read_text())
        else:
            outcome = {"error": f"the job process ended ({proc.returncode}) without an outcome; "
                                f"see {run_dir / 'runner.log'}"}
        result = harvest(job, run_dir, outcome)
        result.worker = _worker_address()
        if not result.log_tail and not result.passed:
            result.log_tail = _tail(run_dir / "runner.log")
        return result
    except Exception:  # the worker must always answer, so the regression goes on
        return Result(job.to_dict(), ERROR, message=traceback.format_exc(),
                      host=socket.gethostname(), run_dir=str(run_dir))


def execute(job: Job, run_dir: Path) -> dict[str, Any]:
    """In the job's own process: build (or reuse) and simulate; the outcome for the harvest."""
    outcome: dict[str, Any] = {}
    t0 = time.monotonic()
    device = devices.parse(job.device) if job.device else None
    try:
        _, outcome["built"] = sim.ensure_build(job.top, job.params, bus=job.bus, cov=job.cov,
                                               waves=job.waves, device=device)
    except Exception as e:
        outcome.update(error=f"build of {job.build} ({job.top} {dict(job.params)}) failed: {e}",
                       build_s=time.monotonic() - t0)
        return outcome
    outcome["build_s"] = time.monotonic() - t0
    t1 = time.monotonic()
    env = dict(job.env)
    env["VDPA_FUNC_COV_DIR"] = str(run_dir / FUNC_DIR)
    env["VDPA_SCOREBOARD_DIR"] = str(run_dir / SCOREBOARD_DIR)
    try:
        sim.simulate(job.top, job.module, job.params, test_dir=run_dir, bus=job.bus,
                     test_filter=job.test_filter, seed=job.seed, extra_env=env, cov=job.cov,
                     waves=job.waves, wall_timeout=job.timeout, device=device)
    except RuntimeError as e:
        # the runner raises when the simulator exits non-zero; coreutils timeout says 124
        if f"return code: {sim.TIMEOUT_STATUS}" in str(e):
            outcome.update(error=f"stopped after {job.timeout:.0f} s of wall clock (the job's "
                                 "timeout)", timeout=True)
        else:
            outcome["error"] = f"the simulator failed: {e}; see {run_dir / sim.SIM_LOG}"
    outcome["sim_s"] = time.monotonic() - t1
    return outcome


def main(argv: list[str] | None = None) -> int:
    """``python -m vdpa_tb.regress.execute JOB.json``: the job's own process."""
    args = sys.argv[1:] if argv is None else argv
    job_file = Path(args[0])
    job = Job.from_dict(json.loads(job_file.read_text()))
    outcome = execute(job, job_file.parent)
    (job_file.parent / OUTCOME).write_text(json.dumps(outcome, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
