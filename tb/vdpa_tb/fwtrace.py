# SPDX-License-Identifier: MIT
"""``fw`` records of the RTL device's commands for an op trace (:mod:`vdpa_model.trace`).

When a :class:`~vdpa_model.trace.Trace` is attached to the command port, every command becomes
one record named by the firmware work it stands for (the register map's ``fw_kind``, one of
``FW_KINDS``), with the cost drivers its arguments and results give, the cycles its completion
reported, simulation start (submit) and end (completion read) time, and a ``group`` shared by the
commands submitted together. Work the parent does in software for a mlx5-like parent (the
control VQ, its copy of a table) is recorded the same way, without cycles. Nothing is recorded
and nothing costs time when no trace is attached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from vdpa_model.trace import Layer, Trace, TraceRecord

from .regmap import REGMAP as RM


def _u64(args: Mapping[str, int], lo: str, hi: str) -> int:
    return (args.get(lo, 0) & 0xFFFFFFFF) | (args.get(hi, 0) & 0xFFFFFFFF) << 32


class FwRecorder:
    """Turns submissions and completions of the command port into ``fw`` trace records."""

    def __init__(self) -> None:
        self.trace: Trace | None = None
        #: the device's MTT page size and write ports (read at probe), for a MAP's entries
        self.page_shift = 12
        self.mtt_writers = 1
        self._open: dict[int, tuple[str, TraceRecord]] = {}
        self._group: int | None = None

    @contextlib.contextmanager
    def round(self) -> Iterator[None]:
        """Commands submitted inside share one ``group`` (one parallel round)."""
        if self.trace is None or self._group is not None:
            yield
            return
        self._group = self.trace.new_group()
        try:
            yield
        finally:
            self._group = None

    def submitted(self, tag: int, op: str, args: Mapping[str, int]) -> None:
        if self.trace is None:
            return
        rec = self.trace.add(Layer.FW, RM.cmd[op].fw_kind, group=self._group,
                             **self.cost_drivers(op, args))
        self._open[tag] = (op, rec)

    def completed(self, tag: int, status: int, cycles: int, data: tuple[int, ...]) -> None:
        entry = self._open.pop(tag, None)
        if entry is None or self.trace is None:
            return
        op, rec = entry
        rec.args.update(self.result_drivers(op, data))
        self.trace.end(rec, RM.errno_of(status), cycles)

    def note(self, kind: str, **args: int) -> None:
        """Software work of the parent itself (no device cycles)."""
        if self.trace is not None:
            self.trace.add(Layer.FW, kind, **args)

    def cost_drivers(self, op: str, a: Mapping[str, int]) -> dict[str, int]:
        """What the command's cost depends on, from its arguments (trace.ARG_KEYS)."""
        if op == "CREATE_VQ":
            return {"vq": a.get("VQ", 0), "qsize": a.get("SIZE", 0)}
        if op in ("MODIFY_VQ", "QUERY_VQ", "DESTROY_VQ"):
            return {"vq": a.get("VQ", 0)}
        if op == "MAP":
            iova = _u64(a, "IOVA_LO", "IOVA_HI")
            last = _u64(a, "LAST_LO", "LAST_HI")
            size = last - iova + 1 if last >= iova else 0
            entries = ((last - iova) >> self.page_shift) + 1 if size else 0
            writers = min(max(a.get("WRITERS", 0), 1), self.mtt_writers)
            return {"asid": a.get("ASID", 0), "ranges": 1, "keys": 1, "bytes": size,
                    "entries": entries, "writers": writers}
        if op in ("UNMAP", "RESET_MAP", "TABLE_NEW", "TABLE_SWITCH", "TABLE_FREE"):
            return {"asid": a.get("ASID", 0)}
        if op == "RESET":
            return {"flags": a.get("FLAGS", 0)}
        if op == "SET_GROUP_ASID":
            return {"group": a.get("GROUP", 0), "asid": a.get("ASID", 0)}
        if op == "QUERY_GROUP":
            return {"group": a.get("GROUP", 0)}
        if op == "SET_STATUS":
            return {"status": a.get("STATUS", 0)}
        return {}

    @staticmethod
    def result_drivers(op: str, data: tuple[int, ...]) -> dict[str, int]:
        """Cost drivers only the completion knows: how much the command found to do."""
        if op in ("SUSPEND_ALL", "RESUME_ALL"):
            return {"vqs": data[RM.result_index(op, "COUNT")]}
        if op == "UNMAP":
            return {"keys": data[RM.result_index(op, "COUNT")]}
        if op == "TABLE_FREE":
            return {"keys": data[RM.result_index(op, "RANGES")],
                    "entries": data[RM.result_index(op, "PAGES")]}
        return {}

