# SPDX-License-Identifier: MIT
"""Distributing jobs with Dask distributed: a LocalCluster on this machine by default, or any
running Dask cluster by its scheduler address (``dask scheduler`` and ``dask worker`` by hand,
dask-jobqueue on a Slurm or LSF farm: docs/regression.md).

Workers run :func:`execute.run_job`, one job per worker thread, each in its own process.
Results come back to this process as they finish and are handed to the caller one by one,
with a progress line (done/total, failures, ETA); a failing or crashing job is a result like
any other and never stops the others.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from .execute import ERROR, Result, run_job
from .jobs import Job


class Progress:
    """``regress: 37/120 done, 1 failed, 2 running, 12.0 runs/min, 3m05s, ETA 6m55s``: rewritten
    in place on a terminal, printed every ``every`` seconds otherwise; between results too (a
    heartbeat), so a long build or simulation never leaves the line silent."""

    def __init__(self, total: int, workers: int, stream: TextIO = sys.stderr,
                 every: float = 15.0) -> None:
        self.total = total
        self.workers = max(1, workers)
        self.stream = stream
        self.every = every
        self.done = 0
        self.failed = 0
        self.t0 = time.monotonic()
        self._last = 0.0
        self._tty = stream.isatty()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def line(self) -> str:
        elapsed = time.monotonic() - self.t0
        running = min(self.workers, self.total - self.done)
        rate = f", {60 * self.done / elapsed:.1f} runs/min" if self.done and elapsed else ""
        if self.done == self.total:
            return (f"regress: {self.done}/{self.total} done, {self.failed} failed, 0 running"
                    f"{rate}, took {_dur(elapsed)}")
        eta = _dur(elapsed / self.done * (self.total - self.done)) if self.done else "--"
        return (f"regress: {self.done}/{self.total} done, {self.failed} failed, {running} running"
                f"{rate}, {_dur(elapsed)}, ETA {eta}")

    def _show(self, force: bool) -> None:
        now = time.monotonic()
        if self._tty:
            self.stream.write("\r\x1b[K" + self.line() + ("\n" if self.done == self.total else ""))
        elif force or now - self._last >= self.every:
            self.stream.write(self.line() + "\n")
        else:
            return
        self._last = now
        self.stream.flush()

    def update(self, passed: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += not passed
            self._show(self.done == self.total)

    def drop(self, n: int) -> None:
        """``n`` runs will not be made after all (cancelled)."""
        with self._lock:
            self.total -= n
            self._show(self.done == self.total)

    def start(self) -> None:
        """Print the first line and keep it alive until :meth:`stop`."""
        self._show(True)

        def beat() -> None:
            while not self._stop.wait(1.0 if self._tty else self.every):
                with self._lock:
                    self._show(False)

        self._beat = threading.Thread(target=beat, name="regress-progress", daemon=True)
        self._beat.start()

    def stop(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()


def _dur(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else \
        f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


@contextlib.contextmanager
def client(scheduler: str | None = None, workers: int = 2,
           local_directory: str | None = None) -> Iterator[object]:
    """A Dask client: of a running cluster at ``scheduler`` (``tcp://host:8786``, or a scheduler
    file written by ``dask scheduler --scheduler-file``), else of a LocalCluster of ``workers``
    single-threaded worker processes on the loopback interface."""
    from distributed import Client, LocalCluster

    if scheduler:
        kw = {"scheduler_file": scheduler} if scheduler.endswith(".json") else {"address": scheduler}
        with Client(**kw) as c:  # type: ignore[arg-type]
            yield c
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None, silence_logs=40,
                      local_directory=local_directory) as cluster, Client(cluster) as c:
        yield c


def worker_count(c: object) -> int:
    info = c.scheduler_info()  # type: ignore[attr-defined]
    return sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()) or 1


def run(jobs: Sequence[Job], c: object, on_result: Callable[[Result], None],
        progress: Progress | None = None,
        stop_group: Callable[[Job], str | None] | None = None) -> list[Result]:
    """Submit every job, hand each result to ``on_result`` as it arrives; return them all in
    submission order. A job whose task itself failed (a worker lost mid-run three times, an
    exception in the task) comes back as an ERROR result naming what happened.

    With ``stop_group``, a job that does not pass cancels the jobs of its group
    (``stop_group(job)``; None: no group) that have not finished: they return no result (a
    mutant that is killed needs no more runs)."""
    from distributed import as_completed

    futures = {}
    for n, job in enumerate(jobs):
        # earlier jobs first: the order interleaves builds so that workers compile in parallel
        f = c.submit(run_job, job.to_dict(), key=f"vdpa-{job.id}-{n}", pure=False,  # type: ignore[attr-defined]
                     priority=-n)
        futures[f] = n
    results: list[Result | None] = [None] * len(jobs)
    if progress is not None:
        progress.start()
    try:
        stopped: set[str] = set()
        for f in as_completed(list(futures)):
            n = futures[f]
            group = stop_group(jobs[n]) if stop_group is not None else None
            if group is not None and group in stopped and f.cancelled():
                continue
            try:
                r = f.result()
            except Exception as e:  # the task did not return: lost worker, cancelled
                r = Result(jobs[n].to_dict(), ERROR, message=f"the Dask task failed: {e!r}")
            results[n] = r
            on_result(r)
            if progress is not None:
                progress.update(r.passed)
            f.release()
            if group is not None and not r.passed and group not in stopped:
                stopped.add(group)
                rest = [g for g, k in futures.items() if results[k] is None and not g.done()
                        and stop_group(jobs[k]) == group]  # type: ignore[misc]
                for g in rest:
                    g.cancel()
                if progress is not None:
                    progress.drop(len(rest))
    except KeyboardInterrupt:
        for f in futures:
            f.cancel()
        raise
    finally:
        if progress is not None:
            progress.stop()
    return [r for r in results if r is not None]
