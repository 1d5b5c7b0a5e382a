# SPDX-License-Identifier: MIT
"""The RTL device's command mailbox as a parent driver sees it (docs/rtl-interface.md, Command
mailbox): argument registers, submit, the completion FIFO, doorbells.

``bus`` carries the AXI-Lite accesses: anything with ``async access_many([(write, addr, value),
...]) -> [read data, ...]`` (vdpa_tb.buses). The accesses of one step (a command's arguments
and submit, a completion's registers) go as one batch, which the fast bus models complete with
a single wake-up of Python. No more commands are outstanding than the device runs at once
(``depth``, read at probe: the parent's firmware-command throttle, calibration C10).

A command may carry the ``fw`` trace record of the firmware work it carries out
(:class:`vdpa_tb.fwtrace.FwRecorder`): its completion closes the record with the device's
cycles and the simulation time it was read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import cocotb
from cocotb.triggers import RisingEdge, with_timeout

from vdpa_model.trace import TraceRecord

from .fwtrace import FwRecorder
from .regmap import REGMAP as RM

#: command slots assumed until probe reads the real number from CMD_STATUS and CAPS4
CMD_DEPTH = 8
#: commands after which the mappings in force change: DMA logged before one completes is judged
#: against the mappings before it (RtlCommandPort.before_mapping_change)
MAPPING_COMMANDS = frozenset({"MAP", "UNMAP", "RESET_MAP", "RESET", "SET_GROUP_ASID",
                              "TABLE_SWITCH"})

#: one command: opcode name and named arguments (missing ones are 0)
Cmd = tuple[str, dict[str, int]]


@dataclasses.dataclass
class Completion:
    """One command completion as the device reported it."""

    tag: int
    op: str
    status: int
    cycles: int
    data: tuple[int, int, int, int]

    @property
    def ok(self) -> bool:
        return self.status == RM.status["OK"].code

    @property
    def status_name(self) -> str:
        return RM.status_name(self.status)


class RtlCommandPort:
    """The command mailbox of one device (module docstring)."""

    def __init__(self, bus: Any, irq_cpl: Any) -> None:
        self.bus = bus
        self.irq_cpl = irq_cpl
        self._next_tag = 0
        self._outstanding: set[int] = set()
        self._done: dict[int, Completion] = {}
        self._lock = cocotb.triggers.Lock()
        self.history: list[Completion] = []
        self._op_names = {c.opcode: c.name for c in RM.cmd.values()}
        self.depth = CMD_DEPTH
        #: called when a completion of a MAPPING_COMMANDS command is collected, before the
        #: parent driver updates its copy of the mappings (the testbench judges DMA there)
        self.before_mapping_change: Any = None
        #: where the parent's fw records go (its ``trace``: None records nothing)
        self.recorder = FwRecorder()

    @staticmethod
    def _addr(reg: str, index: int = 0) -> int:
        return RM.reg[reg] + index * RM.reg_stride[reg]

    async def read(self, reg: str, index: int = 0) -> int:
        return (await self.bus.access_many([(False, self._addr(reg, index), 0)]))[0]

    async def write(self, reg: str, value: int, index: int = 0) -> None:
        await self.bus.access_many([(True, self._addr(reg, index), value & 0xFFFFFFFF)])

    @staticmethod
    def _check_args(op: str, args: dict[str, int]) -> None:
        cmd = RM.cmd[op]
        unknown = set(args) - set(cmd.args)
        if unknown:
            raise ValueError(f"{op} has no argument(s) {sorted(unknown)}; it takes {cmd.args}")

    def _submit_ops(self, op: str, args: dict[str, int]) -> tuple[int, list[tuple[bool, int, int]]]:
        """Allocate a tag; the argument and submit writes of command ``op``."""
        cmd = RM.cmd[op]
        tag = self._next_tag
        self._next_tag = (self._next_tag + 1) & 0xFF
        ops = [(True, self._addr("CMD_ARG0", i), args.get(name, 0) & 0xFFFFFFFF)
               for i, name in enumerate(cmd.args)]
        ops.append((True, self._addr("CMD_SUBMIT"), (tag << 8) | cmd.opcode))
        return tag, ops

    async def _submit_many(self, cmds: Sequence[Cmd],
                           records: Sequence[TraceRecord | None] | None = None) -> list[int]:
        """Submit in order, as many per batch as the device has free command slots; each
        command serves the record beside it in ``records``, if any."""
        for op, args in cmds:
            self._check_args(op, args)
        tags: list[int] = []
        pending = list(zip(cmds, records or [None] * len(cmds), strict=True))
        while pending:
            while len(self._outstanding) >= self.depth:
                await self._collect()
            async with self._lock:
                ops: list[tuple[bool, int, int]] = []
                while pending and len(self._outstanding) < self.depth:
                    (op, args), rec = pending.pop(0)
                    tag, writes = self._submit_ops(op, args)
                    self.recorder.attach(tag, rec)
                    ops += writes
                    self._outstanding.add(tag)
                    tags.append(tag)
                await self.bus.access_many(ops)
        return tags

    async def _collect(self, timeout_cycles: int = 2_000_000) -> None:
        """Move every waiting completion into ``_done``; wait for one if none is waiting."""
        if not int(self.irq_cpl.value):
            await with_timeout(RisingEdge(self.irq_cpl), timeout_cycles * 10, "ns")
        # one completion: its six registers read, then popped
        one = [(False, self._addr("CPL_HEAD"), 0), (False, self._addr("CPL_CYCLES"), 0),
               *[(False, self._addr("CPL_DATA0", i), 0) for i in range(4)],
               (True, self._addr("CPL_POP"), 1)]
        mapping = False
        async with self._lock:
            # every completion waiting now, in one batch (wait() comes back for later ones)
            waiting = (await self.read("CMD_STATUS") >> 8) & 0xFF
            got = await self.bus.access_many(one * waiting) if waiting else []
            for k in range(waiting):
                head, cycles, *data = got[len(one) * k:len(one) * (k + 1) - 1]
                if not head >> 31:
                    raise RuntimeError(f"CMD_STATUS counted {waiting} completions, "
                                       f"CPL_HEAD is empty at the {k + 1}th")
                tag, opc, status = head & 0xFF, (head >> 8) & 0xFF, (head >> 16) & 0xFF
                c = Completion(tag, self._op_names.get(opc, f"op{opc:#x}"), status, cycles,
                               tuple(data))  # type: ignore[arg-type]
                self._outstanding.discard(tag)
                self._done[tag] = c
                self.history.append(c)
                self.recorder.completed(tag, RM.errno_of(status), cycles)
                mapping |= c.op in MAPPING_COMMANDS and c.ok
        if mapping and self.before_mapping_change is not None:
            self.before_mapping_change()

    async def wait(self, tag: int) -> Completion:
        while tag not in self._done:
            await self._collect()
        return self._done.pop(tag)

    async def submit(self, op: str, **args: int) -> int:
        """Queue command ``op``; return its tag (:meth:`wait` for it)."""
        return (await self._submit_many([(op, args)]))[0]

    async def execute(self, op: str, rec: TraceRecord | None = None, **args: int) -> Completion:
        """One command, waited for; it serves fw record ``rec`` if given."""
        return await self.wait((await self._submit_many([(op, args)], [rec]))[0])

    async def execute_many(self, cmds: Sequence[Cmd],
                           records: Sequence[TraceRecord | None] | None = None
                           ) -> list[Completion]:
        """Submit all, then collect all: independent commands overlap in the device. Each
        serves the fw record beside it in ``records``, if any."""
        tags = await self._submit_many(cmds, records)
        return [await self.wait(t) for t in tags]

    async def doorbell(self, vq: int) -> None:
        await self.write("DOORBELL", vq)
