# SPDX-License-Identifier: MIT
"""``fw`` records of the RTL parent driver for an op trace (:mod:`vdpa_model.trace`).

The RTL parent takes its decisions from the model's firmware-work model
(:class:`vdpa_model.fwmodel.Mlx5Firmware`) and carries out each unit of work it plans as
mailbox commands. Each unit becomes one record in the model's vocabulary, with the model's cost
drivers, so one cost profile prices the RTL's trace and the reference device's alike: the
record opens when its first command is submitted, and each completion adds the cycles the
device reported and moves its end to the time the completion was read. Work the RTL does without
a command (steering, the link notifier, the software CVQ's copy of a table) is a record of no
duration. The exception is a region build: the RTL writes one MAP per contiguous translation
where mlx5 creates a direct key, so each MAP is its own ``mkey_create`` record with the pages it
writes (``entries``), its bytes and the MTT write ports it used (``writers``).

Commands that implement an op itself rather than planned firmware work (SET_STATUS,
SET_FEATURES, RESET, SET_GROUP_ASID, RESET_MAP, a doorbell, DEV_STATUS) have no record: their
time is their op record's (docs/rtl-interface.md, Op trace). Nothing is recorded when no trace
is attached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from vdpa_model.trace import Layer, Trace, TraceRecord


class FwRecorder:
    """Opens fw records for planned work and closes them from the command completions."""

    def __init__(self) -> None:
        self.trace: Trace | None = None
        self._by_tag: dict[int, TraceRecord] = {}

    def new_group(self) -> int | None:
        """A trace group for one parallel round (None without a trace)."""
        return self.trace.new_group() if self.trace is not None else None

    def record(self, kind: str, group: int | None = None, **args: int) -> TraceRecord | None:
        """A record of ``kind`` starting now; its commands' completions end it."""
        if self.trace is None:
            return None
        return self.trace.add(Layer.FW, kind, group=group, **args)

    @contextlib.contextmanager
    def span(self, kind: str, **args: int) -> Iterator[None]:
        """A record of ``kind`` that holds every record made in the body (a control command
        and the firmware work it caused)."""
        if self.trace is None:
            yield
            return
        with self.trace.span(Layer.FW, kind, **args):
            yield

    def attach(self, tag: int, rec: TraceRecord | None) -> None:
        """Command ``tag`` serves ``rec``."""
        if rec is not None:
            self._by_tag[tag] = rec

    def completed(self, tag: int, errno: int, cycles: int) -> None:
        """Command ``tag`` completed: its cycles add to its record, which ends now."""
        rec = self._by_tag.pop(tag, None)
        if rec is None or self.trace is None:
            return
        rec.cycles = (rec.cycles or 0) + cycles
        if self.trace.clock is not None:
            rec.t_end_ps = self.trace.clock()
        if errno and not rec.errno:
            rec.errno = errno
