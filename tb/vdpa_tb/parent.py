# SPDX-License-Identifier: MIT
"""Parent driver for the RTL device: ``VdpaOps`` over the AXI-Lite command interface.

It plays the role drivers/vdpa/mlx5/net/mlx5_vnet.c plays over mlx5 firmware: it keeps the
virtqueue configuration in software until DRIVER_OK, then creates the hardware VQ objects and
moves them to RDY; suspend/resume become SUSPEND_ALL/RESUME_ALL; address and index changes made
while suspended are pushed with MODIFY_VQ when the VQ is resumed. The control virtqueue is
emulated here in software, as mlx5_vnet.c does (mlx5_cvq_kick_handler over vringh and a software
copy of the IOTLB): the parent keeps its own copy of every mapping, walks the control ring itself
and executes commands with the model's :func:`vdpa_model.ctrl.serve_control`.

Every operation's hardware commands, their status and cycle counts are recorded in
``RtlCommandPort.history`` so benchmarks and timing fits can read what the device did. The
bench-facing side (settle, frames, faults) is :class:`vdpa_tb.harness.RtlHarness`.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Sequence
from typing import Any

import cocotb
from cocotb.triggers import RisingEdge, with_timeout

from vdpa_model import spec
from vdpa_model.ctrl import serve_control
from vdpa_model.datapath import Chain, RingError, SplitRing

# mlx5 group layout, defined once in the model (mlx5_vnet.c: MLX5_VDPA_*_GROUP)
from vdpa_model.device import CVQ_GROUP, DATAVQ_DESC_GROUP, DATAVQ_GROUP
from vdpa_model.dma import AccessLog, DmaPort
from vdpa_model.errors import fail
from vdpa_model.iotlb import AddressSpace, Iotlb, check_perm
from vdpa_model.memory import GuestMemory
from vdpa_model.ops import (
    DeviceFault,
    IotlbRange,
    IovaRange,
    VdpaOps,
    VqState,
)
from vdpa_model.options import DeviceOptions
from vdpa_model.trace import Trace

from .fwtrace import FwRecorder
from .harness import RtlHarness
from .parent_policy import MapChange, ParentOptions, ParentPolicy
from .regmap import REGMAP

RM = REGMAP
U64 = (1 << 64) - 1
# command slots assumed until probe reads the real number from CMD_STATUS
CMD_DEPTH = 8

#: commands after which the mappings in force change: DMA logged before one completes is judged
#: against the mappings before it (RtlCommandPort.before_mapping_change)
MAPPING_COMMANDS = frozenset({"MAP", "UNMAP", "RESET_MAP", "RESET", "SET_GROUP_ASID",
                              "TABLE_SWITCH"})
# config space defaults (the reference device's defaults, so both answer alike)
MAC = DeviceOptions().mac
MTU = DeviceOptions().mtu


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


class RtlCommandPort:
    """The command mailbox: argument registers, submit, completion FIFO; doorbells.

    ``bus`` carries the AXI-Lite accesses: anything with ``async access_many([(write, addr,
    value), ...]) -> [read data, ...]`` (vdpa_tb.buses). The accesses of one step (a command's
    arguments and submit, a completion's registers) go as one batch, which the fast bus models
    complete with a single wake-up of Python.
    """

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
        #: fw records of every command into an op trace, once one is attached (``trace``)
        self.recorder = FwRecorder()

    @property
    def trace(self) -> Trace | None:
        """The op trace each command is recorded into as one ``fw`` record (None: no record)."""
        return self.recorder.trace

    @trace.setter
    def trace(self, trace: Trace | None) -> None:
        self.recorder.trace = trace

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

    async def submit(self, op: str, **args: int) -> int:
        """Queue command ``op`` with named arguments (missing ones are 0); return its tag."""
        return (await self._submit_many([(op, args)]))[0]

    async def _submit_many(self, cmds: Sequence[tuple[str, dict[str, int]]]) -> list[int]:
        """Submit in order, as many per batch as the device has free command slots."""
        for op, args in cmds:
            self._check_args(op, args)
        tags: list[int] = []
        pending = list(cmds)
        while pending:
            while len(self._outstanding) >= self.depth:
                await self._collect()
            async with self._lock:
                ops: list[tuple[bool, int, int]] = []
                while pending and len(self._outstanding) < self.depth:
                    op, args = pending.pop(0)
                    tag, writes = self._submit_ops(op, args)
                    self.recorder.submitted(tag, op, args)
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
                self.recorder.completed(tag, status, cycles, c.data)
                mapping |= c.op in MAPPING_COMMANDS and c.ok
        if mapping and self.before_mapping_change is not None:
            self.before_mapping_change()

    async def wait(self, tag: int) -> Completion:
        while tag not in self._done:
            await self._collect()
        return self._done.pop(tag)

    async def execute(self, op: str, **args: int) -> Completion:
        return await self.wait(await self.submit(op, **args))

    async def execute_many(self, cmds: Sequence[tuple[str, dict[str, int]]]) -> list[Completion]:
        """Submit all, then collect all: independent commands overlap in the device (one
        ``group`` in the trace)."""
        with self.recorder.round():
            tags = await self._submit_many(cmds)
        return [await self.wait(t) for t in tags]

    async def doorbell(self, vq: int) -> None:
        await self.write("DOORBELL", vq)


def _lo(v: int) -> int:
    return v & 0xFFFFFFFF


def _hi(v: int) -> int:
    return (v >> 32) & 0xFFFFFFFF


@dataclasses.dataclass
class _SwVq:
    """Software copy of one VQ's configuration (mlx5_vdpa_virtqueue's driver-side fields)."""

    desc: int = 0
    driver: int = 0
    device: int = 0
    num: int = 256
    ready: bool = False
    avail_index: int = 0
    #: ring addresses changed since the object last took them (MLX5_VIRTQ_MODIFY_MASK_*_ADDRS)
    modified: bool = False
    #: an index set (set_vq_state) that the object has not taken yet (*_AVAIL_IDX, *_USED_IDX)
    idx_pending: bool = False
    #: any field set since the object was created blank (needs_vqs_reset looks at VQ 0's)
    touched: bool = False


NONE = RM.vq_state["NONE"]
INIT = RM.vq_state["INIT"]
RDY = RM.vq_state["RDY"]
SUSPEND = RM.vq_state["SUSPEND"]
ERR = RM.vq_state["ERR"]
STATE_MASK = 1 << RM.modify_bit["STATE"]
FIELD_MASK = ((1 << RM.modify_bit["ADDRS"]) | (1 << RM.modify_bit["AVAIL_IDX"])
              | (1 << RM.modify_bit["USED_IDX"]))
RESET_CLEAN_MAP = 1
RESET_KEEP_VQS = 2

Cmd = tuple[str, dict[str, int]]


class RtlParentDriver(VdpaOps, RtlHarness):
    """``VdpaOps`` + ``DeviceHarness`` implemented over the RTL device in a cocotb simulation.

    VQ indices 0..NVQ-1 are hardware data VQs; the control VQ (index 2, or NVQ with MQ, as
    mlx5_vnet.c's ctrl_vq_idx) is run by this driver in software over guest memory, through
    its own copy of the IOTLB of group 1's ASID.

    Where mlx5_vnet.c changed over kernel releases, :class:`ParentOptions` chooses and
    :class:`ParentPolicy` decides; the op methods below only carry the decisions out.
    """

    def __init__(self, port: RtlCommandPort, caps: dict[str, int], bus: Any = None,
                 options: ParentOptions | None = None) -> None:
        self.port = port
        self.hw_vqs = caps["nvq"]
        self.nvqs = caps["nvq"] + 1
        self.ngroups = caps["ngroups"]
        self.nas = caps["nas"]
        self.max_qsize = caps["max_qsize"]
        self.device_features = caps["features"]
        self.fw_slots = caps["slots"]
        self.options = options or ParentOptions()
        self.policy = ParentPolicy(self.options, self.hw_vqs, caps["mtt_writers"])
        self.bus = bus
        self.vq_cfg = [_SwVq(num=self.max_qsize) for _ in range(self.nvqs)]
        #: the device's VQ objects as this driver last saw them: state and size
        self.hw_state = [NONE] * self.hw_vqs
        self.hw_num = [0] * self.hw_vqs
        self.status = 0
        self.features = 0
        self.suspended = False
        self.generation = 0
        self.group2asid = [0] * self.ngroups
        self.identity_mask = caps["identity_mask"]
        # software copy of every ASID's mappings: for the control VQ and the DMA checker
        self.spaces = [AddressSpace(a, identity=bool(self.identity_mask >> a & 1))
                       for a in range(self.nas)]
        #: the device's table in force per ASID (handles; ASID a starts with table a + 1)
        self.table = [a + 1 for a in range(self.nas)]
        #: replaced tables waiting for the collector (deferred_mr_free): (asid, handle)
        self.retired: list[tuple[int, int]] = []
        self.mem: GuestMemory | None = None
        self.access_log: AccessLog | None = None
        self.mac = MAC
        self.cur_queue_pairs = 1
        self.cvq_broken = False
        self.cvq_notifications = 0
        self.cvq_last_avail = 0
        self.cvq_used = 0
        self.sw_needs_reset = False

        self.last_error: Completion | None = None
        self._faults: list[DeviceFault] = []
        self.tx_aborted = 0

    @classmethod
    async def probe(cls, port: RtlCommandPort, bus: Any = None,
                    options: ParentOptions | None = None) -> RtlParentDriver:
        """Read identification and capabilities, as a parent's probe does, then add the device
        (mlx5_vdpa_dev_add: with ``precreated_vqs`` every VQ object is created blank)."""
        ident = await port.read("ID")
        if ident != RM.device_id:
            raise RuntimeError(f"ID register reads {ident:#x}, expected {RM.device_id:#x}")
        c0 = await port.read("CAPS0")
        c4 = await port.read("CAPS4")
        caps = {
            "nvq": c0 & 0xFF, "ngroups": (c0 >> 8) & 0xFF, "nas": (c0 >> 16) & 0xFF,
            "page_shift": (c0 >> 24) & 0xFF, "max_qsize": await port.read("CAPS1"),
            "identity_mask": await port.read("CAPS2") >> 16,
            "features": (await port.read("DEV_FEATURES_HI") << 32)
            | await port.read("DEV_FEATURES_LO"),
            "slots": max(1, c4 & 0xFF), "mtt_writers": max(1, (c4 >> 8) & 0xFF),
        }
        # the firmware-command throttle (mlx5_core cmd.c, C10): no more commands outstanding
        # than the device runs at once, nor than its FIFO holds (its free slots now, with
        # nothing outstanding)
        port.depth = min(max(1, await port.read("CMD_STATUS") & 0xFF), caps["slots"])
        port.recorder.page_shift = caps["page_shift"]
        port.recorder.mtt_writers = caps["mtt_writers"]
        drv = cls(port, caps, bus, options)
        await drv._create_vqs(drv.policy.vqs_created_at_add(), "probe", filled=False)
        return drv

    def has_op(self, name: str) -> bool:
        offered = self.policy.offers(name)
        return super().has_op(name) if offered is None else offered

    # -- helpers ----------------------------------------------------------------------------
    async def _cmd(self, op: str, name: str, **args: int) -> Completion:
        c = await self.port.execute(op, **args)
        if not c.ok:
            self.last_error = c
            raise fail(RM.errno_of(c.status), name,
                       f"device answered {op} with {RM.status_name(c.status)}")
        return c

    async def _rounds(self, rounds: list[list[Cmd]], name: str,
                      tolerate: tuple[str, ...] = ()) -> list[Completion]:
        """Run rounds of commands: each round submitted at once, one round after the other.
        A failure other than the ``tolerate``d statuses raises with ``name``'s errno."""
        out: list[Completion] = []
        for rnd in rounds:
            if len(rnd) == 1:
                out.append(await self.port.execute(rnd[0][0], **rnd[0][1]))
            else:
                out += await self.port.execute_many(rnd)
        for c in out:
            if not c.ok and RM.status_name(c.status) not in tolerate:
                self.last_error = c
                raise fail(RM.errno_of(c.status), name,
                           f"device answered {c.op} with {RM.status_name(c.status)}")
        return out

    def _check_idx(self, idx: int, op: str) -> None:
        if not 0 <= idx < self.nvqs:
            raise fail(errno.EINVAL, op, f"vq {idx} out of range (nvqs {self.nvqs})")

    def _driver_ok(self) -> bool:
        return bool(self.status & spec.VIRTIO_CONFIG_S_DRIVER_OK)

    def _created(self, idx: int) -> bool:
        return idx < self.hw_vqs and self.hw_state[idx] != NONE

    def _create_args(self, idx: int, filled: bool = True) -> dict[str, int]:
        """CREATE_VQ with the configured ring (``filled``) or blank at the default size, as
        mlx5's create_virtqueue(filled) / pre-creation does."""
        v = self.vq_cfg[idx] if filled else _SwVq(num=self.max_qsize)
        return {
            "VQ": idx, "SIZE": v.num, "DESC_LO": _lo(v.desc), "DESC_HI": _hi(v.desc),
            "DRIVER_LO": _lo(v.driver), "DRIVER_HI": _hi(v.driver),
            "DEVICE_LO": _lo(v.device), "DEVICE_HI": _hi(v.device),
            "IDX": (v.avail_index << 16) | v.avail_index,
            "GROUPS": (DATAVQ_DESC_GROUP << 8) | DATAVQ_GROUP,
        }

    def _modify_args(self, idx: int, state: int | None, fields: int = 0) -> dict[str, int]:
        """MODIFY_VQ to ``state`` (None: fields only) with the changed addresses and any of
        ``fields`` (FIELD_MASK bits) written from the configuration."""
        v = self.vq_cfg[idx]
        mask = fields | ((1 << RM.modify_bit["ADDRS"]) if v.modified else 0)
        a: dict[str, int] = {"VQ": idx}
        if state is not None:
            mask |= STATE_MASK
            a["STATE"] = state
        if mask & (1 << RM.modify_bit["ADDRS"]):
            a.update(DESC_LO=_lo(v.desc), DESC_HI=_hi(v.desc), DRIVER_LO=_lo(v.driver),
                     DRIVER_HI=_hi(v.driver), DEVICE_LO=_lo(v.device), DEVICE_HI=_hi(v.device))
        if v.idx_pending:
            mask |= FIELD_MASK & ~(1 << RM.modify_bit["ADDRS"])
        if mask & FIELD_MASK & ~(1 << RM.modify_bit["ADDRS"]):
            a["IDX"] = (v.avail_index << 16) | v.avail_index
        a["MASK"] = mask
        return a

    async def query_vq(self, idx: int) -> dict[str, int]:
        c = await self._cmd("QUERY_VQ", "query_vq", VQ=idx)
        return self._note_query(idx, c)

    def _note_query(self, idx: int, c: Completion) -> dict[str, int]:
        st, ix, en, gr = c.data
        q = {"state": st & 0xFF, "size": st >> 16, "avail": ix & 0xFFFF, "used": ix >> 16,
             "errno": en, "data_group": gr & 0xFF, "desc_group": (gr >> 8) & 0xFF}
        if idx < self.hw_vqs:
            self.hw_state[idx] = q["state"]
        return q

    # -- VQ objects: creation, destruction, state rounds (mlx5_vnet.c) -----------------------
    async def _create_vqs(self, vqs: list[int], name: str, filled: bool = True) -> None:
        """setup_vq for each, one at a time; blank objects take the default ring size."""
        for i in vqs:
            await self._rounds(self.policy.serial([("CREATE_VQ", self._create_args(i, filled))]),
                               name)
            self.hw_state[i] = INIT
            self.hw_num[i] = self.vq_cfg[i].num if filled else self.max_qsize
            if filled:
                self.vq_cfg[i].modified = self.vq_cfg[i].idx_pending = False
            else:
                self.vq_cfg[i].touched = False

    async def _destroy_vqs(self, vqs: list[int], name: str) -> None:
        """teardown_vq for each existing object, one at a time (last first, as
        teardown_virtqueues walks them). An object already gone (BAD_STATE) only warns in
        mlx5 (destroy_virtqueue); here too it is not an error."""
        for i in sorted((i for i in vqs if self._created(i)), reverse=True):
            await self._rounds(self.policy.serial([("DESTROY_VQ", {"VQ": i})]), name,
                               tolerate=("BAD_STATE",))
            self.hw_state[i] = NONE

    async def _suspend_vqs(self, vqs: list[int], name: str) -> None:
        """suspend_vqs: a MODIFY round to SUSPEND, then a QUERY round for the indices. A VQ
        that has meanwhile gone to ERR refuses the MODIFY; the QUERY shows it."""
        vqs = [i for i in vqs if self.hw_state[i] == RDY]
        await self._rounds(self.policy.rounds([("MODIFY_VQ", {"VQ": i, "MASK": STATE_MASK,
                                                              "STATE": SUSPEND}) for i in vqs]),
                           name, tolerate=("BAD_STATE",))
        done = await self._rounds(self.policy.rounds([("QUERY_VQ", {"VQ": i}) for i in vqs]),
                                  name)
        for i, c in zip(vqs, done, strict=True):
            # kept as the VQ's index, as suspend_vqs keeps mvq->avail_idx / used_idx: a VQ
            # created again later (size change, map change without resume) continues there
            self.vq_cfg[i].avail_index = self._note_query(i, c)["used"]

    async def _ready_vqs(self, vqs: list[int], name: str) -> None:
        """resume_vqs: SUSPEND -> RDY in one MODIFY round with the fields changed meanwhile;
        INIT -> RDY in the policy's rounds (fields, then state, with pre-created objects)."""
        vqs = [i for i in vqs if self.hw_state[i] in (INIT, SUSPEND)]
        init = [i for i in vqs if self.hw_state[i] == INIT]
        rounds: list[list[Cmd]] = []
        if init and self.policy.ready_rounds_from_init() == 2:
            rounds += self.policy.rounds([("MODIFY_VQ", self._modify_args(i, None, FIELD_MASK))
                                          for i in init])
        rounds += self.policy.rounds([("MODIFY_VQ", self._modify_args(i, RDY)) for i in vqs])
        await self._rounds(rounds, name, tolerate=("BAD_STATE",))
        for i in vqs:
            self.hw_state[i] = RDY  # a VQ that faulted meanwhile is seen at its next QUERY
            self.vq_cfg[i].modified = self.vq_cfg[i].idx_pending = False

    def _active(self) -> list[int]:
        """Hardware data VQs DRIVER_OK, suspend and resume act on (mlx5's cur_num_vqs)."""
        n = self.policy.active_vqs(self.cur_queue_pairs)
        return [i for i in range(n) if self._is_hw(i)]

    # -- virtqueue configuration --------------------------------------------------------
    async def set_vq_address(self, idx: int, desc_area: int, driver_area: int,
                             device_area: int) -> None:
        # stored; applied when the VQ next starts (mlx5_vdpa_set_vq_address). The DRIVER_OK
        # check is vhost-vdpa's, not the parent's.
        self._check_idx(idx, "set_vq_address")
        v = self.vq_cfg[idx]
        v.desc, v.driver, v.device = desc_area, driver_area, device_area
        v.modified = v.touched = True

    async def set_vq_num(self, idx: int, num: int) -> None:
        self._check_idx(idx, "set_vq_num")
        if num <= 0 or num & (num - 1) or num > self.max_qsize:
            raise fail(errno.EINVAL, "set_vq_num", f"size {num} not a power of two <= "
                       f"{self.max_qsize}")
        self.vq_cfg[idx].num = num

    async def kick_vq(self, idx: int) -> None:
        # mlx5_vdpa_kick_vq: invalid index or not-ready VQ ignored; the doorbell is a 16-bit
        # write of idx. The hardware keeps a kick that arrives while suspended.
        if not 0 <= idx < self.nvqs or not self.vq_cfg[idx].ready:
            return
        if self.is_cvq(idx):
            await self._run_cvq()
        elif idx < self.hw_vqs:
            await self.port.doorbell(idx)

    async def set_vq_ready(self, idx: int, ready: bool) -> None:
        """mlx5_vdpa_set_vq_ready: ignored before features are set; !ready suspends a RDY
        object (suspend_vq); ready after DRIVER_OK (and not suspended) starts it (resume_vq)."""
        self._check_idx(idx, "set_vq_ready")
        if not self.features:
            return
        v = self.vq_cfg[idx]
        if not ready:
            v.ready = False
            if self._created(idx):
                await self._suspend_vqs([idx], "set_vq_ready")
            return
        v.ready = True
        if self._driver_ok() and not self.suspended:
            await self._start(idx)

    async def _start(self, idx: int) -> None:
        """resume_vq for one VQ: INIT/SUSPEND -> RDY with the configured ring, creating (or
        re-creating after a size change) the object first. With pre-created VQs a VQ beyond
        the active queue pairs waits for the MQ command (resume_vqs ignores it)."""
        if not self._is_hw(idx):
            if self.is_cvq(idx):
                await self._run_cvq()
            return
        if idx not in self._active():
            return
        v = self.vq_cfg[idx]
        if self._created(idx) and self.hw_num[idx] != v.num:
            if (await self.query_vq(idx))["state"] == ERR:
                return
            await self._destroy_vqs([idx], "set_vq_ready")
        if not self._created(idx):
            await self._create_vqs([idx], "set_vq_ready")
        state = (await self.query_vq(idx))["state"]
        if state == SUSPEND and not self.policy.offers_resume():
            # resume_vq: "vq is not resumable", and set_vq_ready leaves it not ready
            v.ready = False
            return
        await self._ready_vqs([idx], "set_vq_ready")

    async def get_vq_ready(self, idx: int) -> bool:
        self._check_idx(idx, "get_vq_ready")
        return self.vq_cfg[idx].ready

    async def set_vq_state(self, idx: int, state: VqState) -> None:
        """mlx5_vdpa_set_vq_state: refused while the object is RDY; sets the hardware avail
        and used index alike, taken by the object at its next MODIFY (or creation), as mlx5
        keeps it in modified_fields. Never touches ring memory."""
        self._check_idx(idx, "set_vq_state")
        if not 0 <= state.avail_index <= spec.U16_MASK:
            raise fail(errno.EINVAL, "set_vq_state", f"avail_index {state.avail_index} is not u16")
        v = self.vq_cfg[idx]
        if self._created(idx) and self.hw_state[idx] == RDY and \
                (await self.query_vq(idx))["state"] == RDY:
            raise fail(errno.EINVAL, "set_vq_state", f"vq {idx} object is RDY")
        v.avail_index = state.avail_index
        v.touched = True
        v.idx_pending = self._created(idx)
        if self.is_cvq(idx):
            self.cvq_last_avail = self.cvq_used = state.avail_index

    async def get_vq_state(self, idx: int) -> VqState:
        self._check_idx(idx, "get_vq_state")
        if self.is_cvq(idx):
            return VqState(self.cvq_used)
        if self._created(idx) and not self.vq_cfg[idx].idx_pending:
            # mlx5_vdpa_get_vq_state reports the hardware used index; after suspend the two
            # indices are equal
            q = await self.query_vq(idx)
            return VqState(q["used"])
        # no object (never created, or destroyed by a map change), or an index it has not
        # taken yet: the index last set or saved
        return VqState(self.vq_cfg[idx].avail_index)

    async def get_vq_num_max(self) -> int:
        return self.max_qsize

    async def get_vq_size(self, idx: int) -> int:
        self._check_idx(idx, "get_vq_size")
        return self.vq_cfg[idx].num

    # -- groups and address spaces ------------------------------------------------------
    async def get_vq_group(self, idx: int) -> int:
        self._check_idx(idx, "get_vq_group")
        return CVQ_GROUP if self.is_cvq(idx) else DATAVQ_GROUP

    async def get_vq_desc_group(self, idx: int) -> int:
        self._check_idx(idx, "get_vq_desc_group")
        return CVQ_GROUP if self.is_cvq(idx) else DATAVQ_DESC_GROUP

    def cvq_index(self) -> int:
        """mlx5_vnet.c: ctrl_vq_idx: 2 without MQ, ``2 * max_qps`` with MQ negotiated."""
        if self.features & spec.bit(spec.VIRTIO_NET_F_MQ):
            return self.hw_vqs
        return 2

    def is_cvq(self, idx: int) -> bool:
        return bool(self.features & spec.bit(spec.VIRTIO_NET_F_CTRL_VQ)) and idx == self.cvq_index()

    def _is_hw(self, idx: int) -> bool:
        return idx < self.hw_vqs and not self.is_cvq(idx)

    async def set_group_asid(self, group: int, asid: int) -> None:
        if not 0 <= group < self.ngroups or not 0 <= asid < self.nas:
            raise fail(errno.EINVAL, "set_group_asid", f"group {group} / asid {asid} out of "
                       f"range ({self.ngroups} groups, {self.nas} ASIDs)")
        await self._cmd("SET_GROUP_ASID", "set_group_asid", GROUP=group, ASID=asid)
        self.group2asid[group] = asid

    # -- features and status ------------------------------------------------------------
    async def get_device_features(self) -> int:
        return self.device_features

    async def get_backend_features(self) -> int:
        # mlx5_vdpa_get_backend_features
        return 1 << spec.VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK

    async def set_driver_features(self, features: int) -> None:
        """mlx5_vdpa_set_driver_features: ACCESS_PLATFORM required (-EOPNOTSUPP), MQ needs
        CTRL_VQ (-EINVAL); the device keeps what it offered."""
        if not features & spec.bit(spec.VIRTIO_F_ACCESS_PLATFORM):
            raise fail(errno.EOPNOTSUPP, "set_driver_features", "ACCESS_PLATFORM not acked")
        if features & spec.bit(spec.VIRTIO_NET_F_MQ) and not features & spec.bit(
                spec.VIRTIO_NET_F_CTRL_VQ):
            raise fail(errno.EINVAL, "set_driver_features", "MQ without CTRL_VQ")
        self.features = features & self.device_features
        await self._cmd("SET_FEATURES", "set_driver_features", FEATURES_LO=_lo(self.features),
                        FEATURES_HI=_hi(self.features))

    async def get_driver_features(self) -> int:
        return self.features

    async def get_status(self) -> int:
        hw = await self.port.read("DEV_STATUS")
        nr = spec.VIRTIO_CONFIG_S_NEEDS_RESET
        return self.status | (hw & nr) | (nr if self.sw_needs_reset else 0)

    async def set_status(self, status: int) -> None:
        """mlx5_vdpa_set_status: DRIVER_OK 0->1 brings the VQs up (:meth:`_setup_driver_ok`);
        clearing DRIVER_OK without a reset is ignored; 0 resets. NEEDS_RESET is the device's
        own bit."""
        if status == 0:
            await self.reset()
            return
        ok = spec.VIRTIO_CONFIG_S_DRIVER_OK
        rising = bool(status & ok) and not self._driver_ok()
        kept = self.status & ok
        self.status = (status & ~spec.VIRTIO_CONFIG_S_NEEDS_RESET) | kept
        if rising and not self.suspended:
            await self._setup_driver_ok()
        await self._cmd("SET_STATUS", "set_status", STATUS=self.status)

    async def _setup_driver_ok(self) -> None:
        """mlx5_vdpa_set_status, DRIVER_OK rising. C11's conditions tear pre-created objects
        down first; objects that do not exist are created one at a time with their ring, each
        ready active VQ brought to RDY right after its creation (setup_vq → resume_vq); objects
        that existed already are brought to RDY in MODIFY rounds (resume_vqs(0, cur_num_vqs)).
        Without pre-creation only the enabled VQs get objects, as the reference device runs
        only those."""
        ready = [i for i in range(self.hw_vqs) if self.vq_cfg[i].ready and self._is_hw(i)]
        active = [i for i in self._active() if i in ready]
        sizes_differ = any(self._created(i) and self.hw_num[i] != self.vq_cfg[i].num
                           for i in range(self.hw_vqs))
        if self.policy.needs_teardown(self.features, self.device_features, sizes_differ):
            await self._destroy_vqs(list(range(self.hw_vqs)), "set_status")
        wanted = self.policy.objects_at_driver_ok(ready)
        stale = [i for i in wanted if self._created(i) and self.hw_num[i] != self.vq_cfg[i].num]
        await self._destroy_vqs(stale, "set_status")
        missing = [i for i in wanted if not self._created(i)]
        for i in missing:
            await self._create_vqs([i], "set_status")
            if i in active:
                await self._ready_vqs([i], "set_status")
        await self._ready_vqs([i for i in active if i not in missing], "set_status")
        for i, v in enumerate(self.vq_cfg):
            if v.ready and not self._is_hw(i):
                await self._start(i)

    async def get_generation(self) -> int:
        return self.generation

    async def get_device_id(self) -> int:
        return spec.VIRTIO_ID_NET

    @property
    def config(self) -> bytes:
        """struct virtio_net_config, kept by the parent as mlx5_vnet.c does (ndev->config)."""
        return spec.VIRTIO_NET_CONFIG_STRUCT.pack(self.mac, spec.VIRTIO_NET_S_LINK_UP,
                                                  self.hw_vqs // 2, MTU)

    async def get_config(self, offset: int, length: int) -> bytes:
        """struct virtio_net_config; bytes past the end read as zero."""
        if offset < 0:
            return bytes(length)
        return (self.config[offset:offset + length] + bytes(length))[:length]

    async def set_config(self, offset: int, data: bytes) -> None:
        """Config is written through the CVQ on a modern device (mlx5_vdpa_set_config: no-op)."""

    async def get_config_size(self) -> int:
        return len(self.config)

    async def get_iova_range(self) -> IovaRange:
        return IovaRange(0, U64)


    # -- reset, suspend, resume ---------------------------------------------------------
    async def reset(self) -> None:
        await self._reset(clean_map=False)

    async def compat_reset(self, flags: int) -> None:
        await self._reset(clean_map=bool(flags & spec.VDPA_RESET_F_CLEAN_MAP))

    async def _reset(self, clean_map: bool) -> None:
        """mlx5_vdpa_compat_reset: the VQ objects are torn down one at a time when the policy
        says the device was used (needs_vqs_reset), the device reset, and with pre-creation the
        torn-down objects are created again blank. With CLEAN_MAP every table goes (the
        device frees them; nothing is left for the collector)."""
        vq0 = self._created(0) and self.hw_state[0] == INIT and not self.vq_cfg[0].touched
        torn = self.policy.reset_tears_down(self._driver_ok(), vq0)
        if torn:
            await self._destroy_vqs(list(range(self.hw_vqs)), "reset")
        flags = (RESET_CLEAN_MAP if clean_map else 0) | (0 if torn else RESET_KEEP_VQS)
        await self._cmd("RESET", "reset", FLAGS=flags)
        self.status = 0
        self.features = 0
        self.suspended = False
        self.generation += 1
        # mlx5 re-creates blank VQs of the default size at reset
        self.vq_cfg = [_SwVq(num=self.max_qsize) for _ in range(self.nvqs)]
        self.group2asid = [0] * self.ngroups
        self.mac = MAC
        self.cur_queue_pairs = 1
        self.cvq_broken = False
        self.sw_needs_reset = False
        self.cvq_last_avail = self.cvq_used = 0
        if clean_map:
            for sp in self.spaces:
                sp.restore_default()
            self.table = [a + 1 for a in range(self.nas)]
            self.retired = []
        if torn:
            self.hw_state = [NONE] * self.hw_vqs
            await self._create_vqs(self.policy.vqs_created_at_reset(torn), "reset", filled=False)

    async def suspend(self) -> None:
        """mlx5_vdpa_suspend → suspend_vqs(0, cur_num_vqs): the RDY objects go to SUSPEND once
        their chain in flight is done (a MODIFY round), then their indices are read (a QUERY
        round)."""
        await self._suspend_vqs(self._active(), "suspend")
        self.suspended = True

    async def resume(self) -> None:
        """mlx5_vdpa_resume → resume_vqs(0, cur_num_vqs): ready objects in INIT/SUSPEND go back
        to RDY with any fields changed meanwhile (MODIFY rounds); VQs whose object is missing or
        of another size are started one by one. Offered only with ``fw_resumable``."""
        if not self.policy.offers_resume():
            await super().resume()
        self.suspended = False
        if not self._driver_ok():
            return
        ready = [i for i in self._active() if self.vq_cfg[i].ready]
        changed = [i for i in ready
                   if not self._created(i) or self.hw_num[i] != self.vq_cfg[i].num]
        await self._ready_vqs([i for i in ready if i not in changed], "resume")
        for i in changed:
            await self._start(i)
        await self._run_cvq()

    # -- DMA mapping --------------------------------------------------------------------
    def _check_asid(self, asid: int, op: str) -> None:
        if not 0 <= asid < self.nas:
            raise fail(errno.EINVAL, op, f"asid {asid} out of range ({self.nas})")

    async def dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
        """Incremental map into the table in force, as vdpa_sim's dma_map; offered with
        ``incremental_map`` (a lockstep run against an incremental reference calls it anyway)."""
        self._check_asid(asid, "dma_map")
        check_perm(perm, "dma_map")
        if size <= 0 or iova + size - 1 > U64:
            self.spaces[asid].leave_passthrough()
            raise fail(errno.EINVAL, "dma_map", "empty or wrapping range")
        last = iova + size - 1
        try:
            await self._cmd("MAP", "dma_map", ASID=asid, IOVA_LO=_lo(iova), IOVA_HI=_hi(iova),
                            LAST_LO=_lo(last), LAST_HI=_hi(last), PA_LO=_lo(pa), PA_HI=_hi(pa),
                            PERM=perm)
        finally:
            # the device leaves identity on the first map even when it fails (vdpasim_dma_map)
            self.spaces[asid].leave_passthrough()
        self.spaces[asid].table.add_range(IotlbRange(iova, size, pa, perm), "dma_map")

    async def dma_unmap(self, asid: int, iova: int, size: int) -> None:
        self._check_asid(asid, "dma_unmap")
        last = iova + size - 1
        await self._cmd("UNMAP", "dma_unmap", ASID=asid, IOVA_LO=_lo(iova), IOVA_HI=_hi(iova),
                        LAST_LO=_lo(last), LAST_HI=_hi(last))
        self.spaces[asid].leave_passthrough()
        self.spaces[asid].table.del_range(iova, size)

    def _has_region(self, asid: int) -> bool:
        """mvdev->mres.mr[asid] is set: the identity default (mlx5's DMA MR) or a non-empty
        table."""
        sp = self.spaces[asid]
        return sp.passthrough or len(sp.table) > 0

    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        """mlx5 set_map_data: a new table for the whole ASID is built beside the one in force
        (mlx5_vdpa_create_mr), then put in force, through mlx5_vdpa_change_map if the ASID had
        a region (suspend, switch, resume; or, without resumable firmware, every VQ destroyed
        and re-created if running); the old table is freed now or by the collector. A table
        that cannot be built fails the op and leaves the one in force as it was."""
        self._check_asid(asid, "set_map")
        ranges = list(iotlb)
        new = await self._build_table(asid, ranges)
        plan = self.policy.map_change(self._has_region(asid), self._driver_ok(), self.suspended)
        if plan is None:
            old = await self._switch_table(asid, new, ranges)
        else:
            old = await self._change_map(asid, new, ranges, plan)
        if self.group2asid[CVQ_GROUP] == asid:
            # mlx5_vdpa_update_cvq_iotlb: the software CVQ's copy of the table, in the parent
            self.port.recorder.note("cvq_iotlb_update", asid=asid, ranges=len(ranges))
        if self.policy.free_old_table_now():
            await self._free_tables([(asid, old)], "set_map")
        else:
            self.retired.append((asid, old))

    async def _build_table(self, asid: int, ranges: list[IotlbRange]) -> int:
        """TABLE_NEW and one MAP per range into it (the policy's rounds and write ports). Out of
        tables or MTT space, the retired tables are collected and the build tried once more."""
        for attempt in (1, 2):
            c = await self.port.execute("TABLE_NEW", ASID=asid)
            if c.ok:
                handle = c.data[RM.result_index("TABLE_NEW", "TABLE")]
                maps = [("MAP", {"ASID": asid, "IOVA_LO": _lo(r.iova), "IOVA_HI": _hi(r.iova),
                                 "LAST_LO": _lo(r.last), "LAST_HI": _hi(r.last),
                                 "PA_LO": _lo(r.pa), "PA_HI": _hi(r.pa), "PERM": r.perm,
                                 "TABLE": handle, "WRITERS": self.policy.map_writers()})
                        for r in ranges]
                done = await self._rounds(self.policy.map_rounds(maps), "set_map",
                                          tolerate=("NO_SPACE", "NO_MEM", "EXISTS", "BAD_PARAM"))
                bad = [x for x in done if not x.ok]
                if not bad:
                    return handle
                await self._free_tables([(asid, handle)], "set_map")
                c = bad[0]
            full = RM.status_name(c.status) in ("NO_SPACE", "NO_MEM")
            if not (full and self.retired and attempt == 1):
                self.last_error = c
                raise fail(RM.errno_of(c.status), "set_map",
                           f"table build: {c.op} answered {RM.status_name(c.status)}")
            await self.collect_garbage()
        raise AssertionError("unreachable")

    async def _switch_table(self, asid: int, handle: int, ranges: list[IotlbRange]) -> int:
        """TABLE_SWITCH (between chains); returns the table it retired. The parent's copy of
        the ASID's mappings follows at once, so DMA after the switch is judged against it."""
        c = await self._cmd("TABLE_SWITCH", "set_map", ASID=asid, TABLE=handle)
        self.table[asid] = handle
        sp = self.spaces[asid]
        sp.passthrough = False
        sp.table = Iotlb(ranges)
        return c.data[RM.result_index("TABLE_SWITCH", "OLD_TABLE")]

    async def _change_map(self, asid: int, handle: int, ranges: list[IotlbRange],
                          plan: MapChange) -> int:
        """mlx5_vdpa_change_map: suspend the active VQs; without resumable firmware save their
        state and destroy every object; switch; if running, create them again (the ready ones
        back to RDY) or resume them."""
        active = [i for i in self._active() if self.hw_state[i] == RDY]
        if plan.suspend:
            await self._suspend_vqs(active, "set_map")
        torn: list[int] = []
        if plan.teardown:
            # save_channel_info: the indices are those the suspend round just read
            torn = [i for i in range(self.hw_vqs) if self._created(i)]
            await self._destroy_vqs(torn, "set_map")
        old = await self._switch_table(asid, handle, ranges)
        if plan.restore:
            for i in sorted(torn):
                await self._create_vqs([i], "set_map")
                if self.vq_cfg[i].ready and i in self._active():
                    await self._ready_vqs([i], "set_map")
        elif plan.resume and not plan.teardown:
            await self._ready_vqs([i for i in active if self.hw_state[i] == SUSPEND], "set_map")
        return old

    async def _free_tables(self, tables: list[tuple[int, int]], name: str) -> None:
        """TABLE_FREE each (together, as the collector destroys regions)."""
        await self._rounds(self.policy.map_rounds(
            [("TABLE_FREE", {"ASID": a, "TABLE": h}) for a, h in tables]), name)

    async def collect_garbage(self) -> None:
        """Free every retired table: mlx5's MR garbage collector, which runs 2 s after a region
        was replaced (MLX5_VDPA_MR_GC_TRIGGER_MS, calibration C9). A harness calls it where that
        time has passed; a build that runs out of tables or MTT space calls it itself."""
        pending, self.retired = self.retired, []
        if pending:
            await self._free_tables(pending, "collect_garbage")

    async def reset_map(self, asid: int) -> None:
        self._check_asid(asid, "reset_map")
        await self._cmd("RESET_MAP", "reset_map", ASID=asid)
        self.spaces[asid].restore_default()

    # -- the control VQ, in software (mlx5_vnet.c: mlx5_cvq_kick_handler) ------------------
    async def _run_cvq(self) -> None:
        """Handle every available control command, as the parent's CVQ work item does."""
        idx = self.cvq_index()
        if (not self.features & spec.bit(spec.VIRTIO_NET_F_CTRL_VQ) or self.mem is None
                or not self._driver_ok() or self.suspended or self.cvq_broken
                or not self.vq_cfg[idx].ready):
            return
        v = self.vq_cfg[idx]
        space = self.spaces[self.group2asid[CVQ_GROUP]]
        log = self.access_log if self.access_log is not None else AccessLog()
        port = DmaPort(self.mem, space, idx, log)
        ring = SplitRing(port, port, v.desc, v.driver, v.device, v.num,
                         bool(self.features & spec.bit(spec.VIRTIO_RING_F_EVENT_IDX)))
        try:
            while True:
                avail = ring.avail_idx()
                pending = (avail - self.cvq_last_avail) & spec.U16_MASK
                if pending == 0:
                    ring.publish_avail_event(self.cvq_last_avail)
                    return
                if pending > ring.num:
                    raise RingError(errno.EFAULT, f"control avail.idx {avail} is {pending} "
                                                  f"ahead of {self.cvq_last_avail}")
                head = ring.head_at(self.cvq_last_avail)
                chain = ring.walk(head, allow_read=True, allow_write=True)
                pairs = self.cur_queue_pairs
                written = self._control(ring, chain)
                self.port.recorder.note("cvq_command", cmds=1)
                if self.cur_queue_pairs != pairs:
                    await self._change_num_qps(pairs)
                self.cvq_last_avail = (self.cvq_last_avail + 1) & spec.U16_MASK
                old = self.cvq_used
                self.cvq_used = ring.complete(old, head, written)
                if ring.need_notify(old, self.cvq_used):
                    self.cvq_notifications += 1
        except RingError as e:
            self.cvq_broken = True
            self.sw_needs_reset = True
            f = e.fault
            self._faults.append(DeviceFault(idx, e.errno, e.reason, e.asid,
                                            f.iova if f else None, f.write if f else None))

    def _control(self, ring: SplitRing, chain: Chain) -> int:
        return serve_control(ring, chain, self, self.hw_vqs // 2)

    async def _change_num_qps(self, before: int) -> None:
        """mlx5_vnet.c: change_num_qps after an MQ_VQ_PAIRS_SET: more pairs bring the ready
        VQs of the new pairs up (created first if missing, then a resume round); fewer suspend
        the VQs of the pairs dropped (or destroy them, without resumable firmware). Only
        pre-created VQs are gated by the pair count (see ParentPolicy.active_vqs)."""
        lo = self.policy.active_vqs(before)
        hi = self.policy.active_vqs(self.cur_queue_pairs)
        if hi > lo:
            vqs = [i for i in range(lo, hi) if self._is_hw(i) and self.vq_cfg[i].ready]
            missing = [i for i in vqs if not self._created(i)]
            for i in missing:
                await self._create_vqs([i], "change_num_qps")
                await self._ready_vqs([i], "change_num_qps")
            await self._ready_vqs([i for i in vqs if i not in missing], "change_num_qps")
        elif hi < lo:
            vqs = [i for i in range(hi, lo) if self._created(i)]
            if self.policy.offers_resume():
                await self._suspend_vqs(vqs, "change_num_qps")
            else:
                await self._destroy_vqs(vqs, "change_num_qps")

    # -- what the bench checks DMA against ------------------------------------------------
    def allowed_ranges(self, write: bool) -> list[tuple[int, int]]:
        """Guest-physical ``[lo, hi)`` of every mapping in force, in an ASID some group is
        bound to, with the permission ``write`` needs (vdpa_tb.hostmem.MappingCheck)."""
        need = spec.VHOST_ACCESS_WO if write else spec.VHOST_ACCESS_RO
        return [(r.pa, r.pa + r.size) for a in sorted(set(self.group2asid))
                for r in self.spaces[a].ranges() if r.perm & need]
