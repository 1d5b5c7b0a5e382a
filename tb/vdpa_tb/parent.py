# SPDX-License-Identifier: MIT
"""Parent driver for the RTL device: ``VdpaOps`` over the AXI-Lite command interface.

It plays the role drivers/vdpa/mlx5/net/mlx5_vnet.c plays over mlx5 firmware, and it takes its
decisions where the reference device's mlx5 parent takes them: from the model's firmware-work
model, :class:`vdpa_model.fwmodel.Mlx5Firmware`, configured by the same
:class:`vdpa_model.options.DeviceOptions` (``fw_resumable``, ``precreated_vqs``,
``parallel_fw_cmds``, ``keep_link_notifier``, ``parallel_mkey``, ``deferred_mr_free``,
``driver_ok_first_qp_only``). For every op the model says what mlx5 would ask its firmware to
do, in which rounds; this driver carries each unit out with the device's mailbox commands
(:meth:`RtlParentDriver._carry_out`) and records it in the model's vocabulary
(:mod:`vdpa_tb.fwtrace`), so the RTL's trace and the reference device's differ only in time.

What is the RTL's own: the commands each unit becomes (a VQ object's CREATE/MODIFY/QUERY/
DESTROY, a table built beside the one in force with TABLE_NEW and MAPs and put in force with
TABLE_SWITCH, TABLE_FREE), the commands an op needs on this device whatever mlx5 plans
(SET_FEATURES, SET_STATUS, RESET, SET_GROUP_ASID, RESET_MAP), the ring addresses and indices
the commands carry, and the device's limits (a table that does not fit fails the op and leaves
the one in force, as mlx5 keeps its old MR; out of tables or MTT space, retired tables are
collected first). The control virtqueue is emulated here in software, as mlx5_vnet.c does
(mlx5_cvq_kick_handler over vringh and a software copy of the IOTLB), with the model's
:func:`vdpa_model.ctrl.serve_control`. The bench-facing side (settle, frames, faults) is
:class:`vdpa_tb.harness.RtlHarness`.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
from collections.abc import Sequence
from typing import Any

from vdpa_model import spec
from vdpa_model.ctrl import serve_control
from vdpa_model.datapath import Chain, RingError, SegmentMover, SplitRing

# mlx5 group layout, defined once in the model (mlx5_vnet.c: MLX5_VDPA_*_GROUP)
from vdpa_model.device import CVQ_GROUP, DATAVQ_DESC_GROUP, DATAVQ_GROUP
from vdpa_model.dma import AccessLog, DmaPort
from vdpa_model.errors import fail
from vdpa_model.fwmodel import DEFAULT_VQ_SIZE, FwState, FwWork, Mlx5Firmware
from vdpa_model.iotlb import AddressSpace, Iotlb, check_perm
from vdpa_model.memory import GuestMemory
from vdpa_model.mr import MAX_KEY
from vdpa_model.ops import DeviceFault, IotlbRange, IovaRange, TxPacket, VdpaOps, VqState
from vdpa_model.options import DeviceOptions
from vdpa_model.trace import Trace, TraceRecord

from .cmdport import Cmd, Completion, RtlCommandPort
from .harness import RtlHarness
from .regmap import REGMAP

RM = REGMAP
#: a command with the fw record it serves (None: the op's own command)
Planned = tuple[str, dict[str, int], "TraceRecord | None"]
U64 = (1 << 64) - 1
# config space defaults (the reference device's defaults, so both answer alike)
MAC = DeviceOptions().mac
MTU = DeviceOptions().mtu
#: What the parent serves in software on top of what the device offers: its control VQ handles
#: MAC_ADDR_SET and VLAN filtering (mlx5_vnet.c: get_supported_features adds CTRL_MAC_ADDR and
#: CTRL_VLAN; handle_ctrl_mac, handle_ctrl_vlan).
SOFTWARE_FEATURES = (spec.bit(spec.VIRTIO_NET_F_CTRL_MAC_ADDR)
                     | spec.bit(spec.VIRTIO_NET_F_CTRL_VLAN))

NONE = RM.vq_state["NONE"]
INIT = RM.vq_state["INIT"]
RDY = RM.vq_state["RDY"]
SUSPEND = RM.vq_state["SUSPEND"]
ERR = RM.vq_state["ERR"]
#: the device's VQ object state for each state of the parent's view (mvq->fw_state)
HW_STATE = {FwState.NONE: NONE, FwState.INIT: INIT, FwState.RDY: RDY, FwState.SUSPEND: SUSPEND}
STATE_MASK = 1 << RM.modify_bit["STATE"]
ADDRS_MASK = 1 << RM.modify_bit["ADDRS"]
INDEX_MASK = (1 << RM.modify_bit["AVAIL_IDX"]) | (1 << RM.modify_bit["USED_IDX"])
RESET_CLEAN_MAP = 1
RESET_KEEP_VQS = 2
#: statuses a command may answer without failing its op: the object it names is gone or in ERR
#: (mlx5 only warns when it destroys or modifies a VQ that faulted)
TOLERATED = ("BAD_STATE",)
#: a table build that runs out of room: collect the retired tables and try once more
OUT_OF_ROOM = ("NO_SPACE", "NO_MEM")


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
    num: int = DEFAULT_VQ_SIZE
    ready: bool = False
    callback: bool = False
    avail_index: int = 0
    #: ring addresses changed since the object last took them (MLX5_VIRTQ_MODIFY_MASK_*_ADDRS)
    modified: bool = False
    #: an index set (set_vq_state) that the object has not taken yet (*_AVAIL_IDX, *_USED_IDX)
    idx_pending: bool = False


#: a translation table of the device: (ASID, handle)
Table = tuple[int, int]


@dataclasses.dataclass
class _Regions:
    """The region work of one op. For set_map: the ASID, the ranges its new table translates,
    whether the model's parent had a region there before, the new table's handle once
    TABLE_NEW answered (and the record TABLE_NEW stands for), and the tables a switch retired
    (with whether they back a region of the model's parent, whose destruction it then plans).
    A reset passes one without ranges: the regions it destroys the device releases itself."""

    asid: int = 0
    ranges: list[IotlbRange] = dataclasses.field(default_factory=list)
    had_region: bool = False
    handle: int | None = None
    table_record: TraceRecord | None = None
    retired: list[tuple[Table, bool]] = dataclasses.field(default_factory=list)


def translations(ranges: Sequence[IotlbRange]) -> list[IotlbRange]:
    """The MAPs of a table: what mlx5 makes a direct key (mr.c: create_user_mr merges IOVA-
    contiguous entries of one permission into chains, add_direct_chain cuts them at
    MAX_KLM_SIZE), also cut where the physical address jumps, since one MAP is one linear
    translation here."""
    out: list[IotlbRange] = []
    chain_start = -1
    for r in sorted(ranges, key=lambda r: r.iova):
        last = out[-1] if out else None
        if last is not None and last.iova + last.size == r.iova and last.perm == r.perm:
            room = chain_start + (r.iova - chain_start) // MAX_KEY * MAX_KEY + MAX_KEY - last.iova
            if last.pa + last.size == r.pa and last.size + r.size <= room:
                out[-1] = IotlbRange(last.iova, last.size + r.size, last.pa, last.perm)
                continue
            iova, pa, size = r.iova, r.pa, r.size
        else:
            chain_start = r.iova
            iova, pa, size = r.iova, r.pa, r.size
        # cut at the chain's key boundaries
        while size:
            end = chain_start + ((iova - chain_start) // MAX_KEY + 1) * MAX_KEY
            n = min(size, end - iova)
            out.append(IotlbRange(iova, n, pa, r.perm))
            iova, pa, size = iova + n, pa + n, size - n
    return out


class RtlParentDriver(VdpaOps, RtlHarness):
    """``VdpaOps`` + ``DeviceHarness`` implemented over the RTL device in a cocotb simulation.

    VQ indices 0..NVQ-1 are hardware data VQs; the control VQ (index 2, or NVQ with MQ, as
    mlx5_vnet.c's ctrl_vq_idx) is run by this driver in software over guest memory, through
    its own copy of the IOTLB of group 1's ASID. ``options`` are the reference device's
    (DeviceOptions); the device's own capabilities (VQs, queue size, features) come from its
    registers.
    """

    def __init__(self, port: RtlCommandPort, caps: dict[str, int], bus: Any = None,
                 options: DeviceOptions | None = None) -> None:
        self.port = port
        self.hw_vqs = caps["nvq"]
        self.nvqs = caps["nvq"] + 1
        self.ngroups = caps["ngroups"]
        self.nas = caps["nas"]
        self.max_qsize = caps["max_qsize"]
        self.device_features = caps["features"] | SOFTWARE_FEATURES
        self.fw_slots = caps["slots"]
        self.mtt_writers = caps["mtt_writers"]
        self.page_shift = caps["page_shift"]
        self.options = options or DeviceOptions()
        #: the decisions: mlx5_vnet.c's, from the model (module docstring)
        self.fw = Mlx5Firmware(self.options, self.hw_vqs, self.device_features)
        self.bus = bus
        self.vq_cfg = [_SwVq(num=self.max_qsize) for _ in range(self.nvqs)]
        #: size of each hardware VQ object as created (the queue size is fixed at CREATE_VQ)
        self.hw_num = [0] * self.hw_vqs
        #: objects the device reported in ERR at their last QUERY (a fault the model's parent
        #: does not see: mlx5 only learns of it from the firmware event)
        self.hw_err: set[int] = set()
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
        #: retired tables in the order the model's parent deferred their regions
        #: (deferred_mr_free; None: the device freed it already, at a map-cleaning reset)
        self.retired: list[Table | None] = []
        #: retired tables the model's parent has no region for (an empty table replaced): the
        #: device's own, freed with the next collection
        self.spare: list[Table] = []
        self.mem: GuestMemory | None = None
        self.access_log: AccessLog | None = None
        self.mac = MAC
        self.cur_queue_pairs = 1
        #: VLAN filter of the control VQ (mlx5: one steering rule pair per id)
        self.vlans: set[int] = set()
        self.cvq_broken = False
        self.cvq_notifications = 0
        self.cvq_last_avail = 0
        self.cvq_used = 0
        self.sw_needs_reset = False

        self.last_error: Completion | None = None
        self._faults: list[DeviceFault] = []
        self._tx: list[TxPacket] = []
        self.tx_aborted = 0
        #: when the first and the last frame taken so far left the device (ps; a probe such as
        #: mig_mon sees a migration's network gap between the source's last and the
        #: destination's first)
        self.tx_first_ps: int | None = None
        self.tx_last_ps: int | None = None

    @classmethod
    async def probe(cls, port: RtlCommandPort, bus: Any = None,
                    options: DeviceOptions | None = None) -> RtlParentDriver:
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
        drv = cls(port, caps, bus, options)
        await drv._carry_out(drv.fw.device_add(), "probe")
        return drv

    @property
    def trace(self) -> Trace | None:
        """Where the fw records of the work this driver carries out go (None: nowhere)."""
        return self.port.recorder.trace

    @trace.setter
    def trace(self, trace: Trace | None) -> None:
        self.port.recorder.trace = trace

    def has_op(self, name: str) -> bool:
        """The optional ops the reference device's mlx5 parent offers with these options."""
        opts = self.options
        optional = {"suspend": opts.has_suspend, "resume": opts.offers_resume,
                    "dma_map": opts.incremental_map, "dma_unmap": opts.incremental_map,
                    "set_map": not opts.incremental_map}
        return optional.get(name, super().has_op(name))

    @property
    def hw_state(self) -> list[int]:
        """The device's VQ objects as the parent sees them (ERR once a QUERY showed it)."""
        return [ERR if i in self.hw_err else HW_STATE[self.fw.fw_state(i)]
                for i in range(self.hw_vqs)]

    # -- helpers ----------------------------------------------------------------------------
    def _fail(self, c: Completion, name: str, what: str = "") -> Exception:
        self.last_error = c
        return fail(RM.errno_of(c.status), name,
                    f"{what}device answered {c.op} with {c.status_name}")

    async def _cmd(self, op: str, name: str, **args: int) -> Completion:
        """A command the op itself needs (no fw record: its time is the op's)."""
        c = await self.port.execute(op, **args)
        if not c.ok:
            raise self._fail(c, name)
        return c

    def _check_idx(self, idx: int, op: str) -> None:
        if not 0 <= idx < self.nvqs:
            raise fail(errno.EINVAL, op, f"vq {idx} out of range (nvqs {self.nvqs})")

    def _driver_ok(self) -> bool:
        return bool(self.status & spec.VIRTIO_CONFIG_S_DRIVER_OK)

    def _is_hw(self, idx: int) -> bool:
        return idx < self.hw_vqs and not self.is_cvq(idx)

    def _create_args(self, idx: int, filled: bool) -> dict[str, int]:
        """CREATE_VQ with the configured ring (``filled``) or blank at the default size, as
        mlx5's create_virtqueue(filled) / pre-creation does."""
        v = self.vq_cfg[idx] if filled else _SwVq(num=min(DEFAULT_VQ_SIZE, self.max_qsize))
        return {
            "VQ": idx, "SIZE": v.num, "DESC_LO": _lo(v.desc), "DESC_HI": _hi(v.desc),
            "DRIVER_LO": _lo(v.driver), "DRIVER_HI": _hi(v.driver),
            "DEVICE_LO": _lo(v.device), "DEVICE_HI": _hi(v.device),
            "IDX": (v.avail_index << 16) | v.avail_index,
            "GROUPS": (DATAVQ_DESC_GROUP << 8) | DATAVQ_GROUP,
        }

    def _modify_args(self, idx: int, state: FwState | None) -> dict[str, int]:
        """MODIFY_VQ to ``state``, with the fields changed since the object last took them
        (mlx5's modified_fields); None writes every field without a state change (the first
        MODIFY of a pre-created object, resume_vqs' firmware quirk)."""
        v = self.vq_cfg[idx]
        a: dict[str, int] = {"VQ": idx}
        mask = 0
        if state is None:
            mask = ADDRS_MASK | INDEX_MASK
        else:
            mask = STATE_MASK
            a["STATE"] = HW_STATE[state]
            if state is FwState.RDY:
                mask |= (ADDRS_MASK if v.modified else 0) | (INDEX_MASK if v.idx_pending else 0)
        if mask & ADDRS_MASK:
            a.update(DESC_LO=_lo(v.desc), DESC_HI=_hi(v.desc), DRIVER_LO=_lo(v.driver),
                     DRIVER_HI=_hi(v.driver), DEVICE_LO=_lo(v.device), DEVICE_HI=_hi(v.device))
        if mask & INDEX_MASK:
            a["IDX"] = (v.avail_index << 16) | v.avail_index
        a["MASK"] = mask
        return a

    async def query_vq(self, idx: int) -> dict[str, int]:
        """QUERY_VQ, outside any plan (testbench introspection)."""
        return self._note_query(idx, await self._cmd("QUERY_VQ", "query_vq", VQ=idx))

    def _note_query(self, idx: int, c: Completion) -> dict[str, int]:
        st, ix, en, gr = c.data
        q = {"state": st & 0xFF, "size": st >> 16, "avail": ix & 0xFFFF, "used": ix >> 16,
             "errno": en, "data_group": gr & 0xFF, "desc_group": (gr >> 8) & 0xFF}
        if idx < self.hw_vqs:
            if q["state"] == ERR:
                self.hw_err.add(idx)
            else:
                self.hw_err.discard(idx)
        return q

    # -- carrying out the model's plan ------------------------------------------------------
    async def _carry_out(self, plan: Sequence[FwWork], name: str, build: _Regions | None = None
                         ) -> list[int]:
        """Every unit of ``plan`` as mailbox commands, a round's units submitted together, one
        fw record each. Returns the used indices the plan's QUERYs read, in order. A command
        that fails (beyond :data:`TOLERATED`) fails the op with its errno."""
        if plan and plan[0].kind == "cvq_command":
            # a control command's record holds the work it caused (the rest of its plan)
            with self.port.recorder.span("cvq_command", **plan[0].args):
                return await self._carry_out(plan[1:], name, build)
        used: list[int] = []
        i = 0
        while i < len(plan):
            j = i + 1
            if plan[i].round is not None:
                while j < len(plan) and plan[j].round == plan[i].round:
                    j += 1
            used += await self._round(plan[i:j], name, build)
            i = j
        return used

    async def _round(self, units: Sequence[FwWork], name: str, build: _Regions | None
                     ) -> list[int]:
        """One unit, or the units of one parallel round, as commands."""
        group = self.port.recorder.new_group() if units[0].round is not None else None
        cmds: list[Cmd] = []
        records: list[TraceRecord | None] = []
        owners: list[FwWork] = []
        for w in units:
            for op, args, rec in await self._commands(w, group, build, name):
                cmds.append((op, args))
                records.append(rec)
                owners.append(w)
        if group is not None:
            done = await self.port.execute_many(cmds, records)
        else:  # issued one after another, each waited for (a serial build's MAPs too)
            done = [await self.port.execute(op, rec, **args)
                    for (op, args), rec in zip(cmds, records, strict=True)]
        used: list[int] = []
        for w, (op, args), c in zip(owners, cmds, done, strict=True):
            if not c.ok and c.status_name not in TOLERATED:
                if op in ("TABLE_NEW", "MAP") and c.status_name in OUT_OF_ROOM:
                    raise _OutOfRoom(c)
                raise self._fail(c, name)
            used += self._done(w, op, args, c, build)
        return used

    async def _commands(self, w: FwWork, group: int | None, build: _Regions | None, name: str
                        ) -> list[Planned]:
        """The commands that carry out unit ``w`` (with its record), in submission order."""
        rec = self.port.recorder.record
        k, a = w.kind, w.args
        if k == "vq_create":
            return [("CREATE_VQ", self._create_args(a["vq"], w.filled), rec(k, group, **a))]
        if k == "vq_destroy":
            return [("DESTROY_VQ", {"VQ": a["vq"]}, rec(k, group, **a))]
        if k == "vq_modify":
            return [("MODIFY_VQ", self._modify_args(a["vq"], w.state), rec(k, group, **a))]
        if k == "vq_query":
            return [("QUERY_VQ", {"VQ": a["vq"]}, rec(k, group, **a))]
        if k == "mkey_create":
            assert build is not None, "a region build outside set_map"
            if build.handle is not None:
                return []  # the first unit wrote every translation of the table
            await self._table_new(build, name)
            assert build.handle is not None
            writers = self.mtt_writers if self.options.parallel_mkey else 1
            return [("MAP", {"ASID": build.asid, "IOVA_LO": _lo(r.iova), "IOVA_HI": _hi(r.iova),
                             "LAST_LO": _lo(r.last), "LAST_HI": _hi(r.last), "PA_LO": _lo(r.pa),
                             "PA_HI": _hi(r.pa), "PERM": r.perm, "TABLE": build.handle,
                             "WRITERS": writers},
                     rec(k, group, entries=-(-r.size >> self.page_shift), bytes=r.size,
                         writers=writers))
                    for r in translations(build.ranges)]
        if k == "mr_indirect_create" and build is not None and build.handle is not None:
            # TABLE_NEW went first, before the MAPs that need its handle; it stands for this unit
            if build.table_record is not None:
                build.table_record.args.update(a)
            return []
        if k == "mr_table_switch" and build is not None:
            r = rec(k, group, **a)
            if a.get("flags"):  # the ASID is left with no region: an empty table goes in force
                await self._table_new(build, name, r)
            assert build.handle is not None
            return [("TABLE_SWITCH", {"ASID": a["asid"], "TABLE": build.handle}, r)]
        if k in ("mr_indirect_destroy", "mr_dma_destroy"):
            table = self._region_table(build)
            if table is not None:
                return [("TABLE_FREE", {"ASID": table[0], "TABLE": table[1]},
                         rec(k, group, **a))]
        # what the RTL does without a command: steering, RQT, the link notifier, the software
        # CVQ's copy, the 1:1 key (the identity default), the direct keys a TABLE_FREE released
        rec(k, group, **a)
        return []

    async def _table_new(self, build: _Regions, name: str, rec: TraceRecord | None = None) -> None:
        """TABLE_NEW for ``build``; recorded as the region's indirect key unless ``rec`` (an
        empty table for a switch) is given."""
        if rec is None:
            rec = build.table_record = self.port.recorder.record("mr_indirect_create")
        c = await self.port.execute("TABLE_NEW", rec, ASID=build.asid)
        if not c.ok:
            if c.status_name in OUT_OF_ROOM:
                raise _OutOfRoom(c)
            raise self._fail(c, name)
        build.handle = c.data[RM.result_index("TABLE_NEW", "TABLE")]

    def _region_table(self, build: _Regions | None) -> Table | None:
        """The table behind a region the model's parent destroys now: one a switch of this
        set_map retired, else the oldest deferred one (the collector). None: the device
        releases it itself (a reset, RESET_MAP) or did already (a map-cleaning reset)."""
        if build is not None:
            for k, (table, modelled) in enumerate(build.retired):
                if modelled:
                    del build.retired[k]
                    return table
            return None
        return self.retired.pop(0) if self.retired else None

    def _done(self, w: FwWork, op: str, args: dict[str, int], c: Completion,
              build: _Regions | None) -> list[int]:
        """The driver's copy of the device after a unit's command completed."""
        vq = w.args.get("vq", -1)
        if op == "CREATE_VQ" and c.ok:
            self.hw_num[vq] = args["SIZE"]
            self.hw_err.discard(vq)
            if w.filled:
                self.vq_cfg[vq].modified = self.vq_cfg[vq].idx_pending = False
        elif op == "MODIFY_VQ" and c.ok and w.state is not FwState.SUSPEND:
            v = self.vq_cfg[vq]
            if args["MASK"] & ADDRS_MASK:
                v.modified = False
            if args["MASK"] & INDEX_MASK:
                v.idx_pending = False
        elif op == "DESTROY_VQ":
            self.hw_err.discard(vq)
        elif op == "QUERY_VQ":
            q = self._note_query(vq, c)
            if q["state"] != RDY and not self.vq_cfg[vq].idx_pending:
                # suspend_vqs / save_channel_info keep the index: a VQ created again later
                # (a map change without resumable firmware) continues there
                self.vq_cfg[vq].avail_index = q["used"]
            return [q["used"]]
        elif op == "TABLE_SWITCH" and build is not None:
            old = c.data[RM.result_index("TABLE_SWITCH", "OLD_TABLE")]
            self.table[build.asid] = args["TABLE"]
            build.retired.append(((build.asid, old), build.had_region))
            sp = self.spaces[build.asid]
            sp.passthrough = False
            sp.table = Iotlb(build.ranges if not w.args.get("flags") else ())
        return []

    # -- virtqueue configuration --------------------------------------------------------
    async def set_vq_address(self, idx: int, desc_area: int, driver_area: int,
                             device_area: int) -> None:
        # stored; applied when the VQ next starts (mlx5_vdpa_set_vq_address). The DRIVER_OK
        # check is vhost-vdpa's, not the parent's.
        self._check_idx(idx, "set_vq_address")
        v = self.vq_cfg[idx]
        v.desc, v.driver, v.device = desc_area, driver_area, device_area
        v.modified = True
        if self._is_hw(idx):
            self.fw.set_vq_address(idx)

    async def set_vq_num(self, idx: int, num: int) -> None:
        self._check_idx(idx, "set_vq_num")
        if num <= 0 or num & (num - 1) or num > self.max_qsize:
            raise fail(errno.EINVAL, "set_vq_num", f"size {num} not a power of two <= "
                       f"{self.max_qsize}")
        self.vq_cfg[idx].num = num
        if self._is_hw(idx):
            self.fw.set_vq_num(idx, num)

    async def kick_vq(self, idx: int) -> None:
        # mlx5_vdpa_kick_vq: invalid index or not-ready VQ ignored; the doorbell is a 16-bit
        # write of idx. The hardware keeps a kick that arrives while suspended.
        if not 0 <= idx < self.nvqs or not self.vq_cfg[idx].ready:
            return
        if self.is_cvq(idx):
            await self._run_cvq()
        elif idx < self.hw_vqs:
            await self.port.doorbell(idx)

    async def set_vq_cb(self, idx: int, enabled: bool) -> None:
        """mlx5_vdpa_set_vq_cb: the callback (the call eventfd) is stored; the device counts
        its notifications whatever it is (NOTIFY_COUNT, irq_vq)."""
        self._check_idx(idx, "set_vq_cb")
        self.vq_cfg[idx].callback = enabled

    async def set_vq_ready(self, idx: int, ready: bool) -> None:
        """mlx5_vdpa_set_vq_ready: ignored before features are set; the control VQ is the
        parent's own; a data VQ is suspended (not ready) or resumed after DRIVER_OK as the model
        decides (resume_vq fails without resumable firmware, and the VQ stays not ready)."""
        self._check_idx(idx, "set_vq_ready")
        if not self.features:
            return
        v = self.vq_cfg[idx]
        if not self._is_hw(idx):
            v.ready = ready
            if ready and self.is_cvq(idx) and self._driver_ok() and not self.suspended:
                await self._run_cvq()
            return
        await self._carry_out(self.fw.set_vq_ready(idx, ready), "set_vq_ready")
        v.ready = self.fw.vqs[idx].ready

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
        if self._is_hw(idx) and self.fw.fw_state(idx) is FwState.RDY and idx not in self.hw_err:
            raise fail(errno.EINVAL, "set_vq_state", f"vq {idx} object is RDY")
        v.avail_index = state.avail_index
        if self._is_hw(idx):
            v.idx_pending = self.fw.fw_state(idx) is not FwState.NONE
            self.fw.set_vq_state(idx)
        if self.is_cvq(idx):
            self.cvq_last_avail = self.cvq_used = state.avail_index

    async def get_vq_state(self, idx: int) -> VqState:
        """mlx5_vdpa_get_vq_state: the CVQ's own index; a live object's used index (one QUERY,
        as the model plans); the saved or set index otherwise, and also while the object has
        not taken an index set since."""
        self._check_idx(idx, "get_vq_state")
        if self.is_cvq(idx):
            return VqState(self.cvq_used)
        if not self._is_hw(idx):
            return VqState(self.vq_cfg[idx].avail_index)
        used = await self._carry_out(self.fw.get_vq_state(idx), "get_vq_state")
        if used and not self.vq_cfg[idx].idx_pending:
            return VqState(used[-1])
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

    async def set_group_asid(self, group: int, asid: int) -> None:
        if not 0 <= group < self.ngroups or not 0 <= asid < self.nas:
            raise fail(errno.EINVAL, "set_group_asid", f"group {group} / asid {asid} out of "
                       f"range ({self.ngroups} groups, {self.nas} ASIDs)")
        await self._cmd("SET_GROUP_ASID", "set_group_asid", GROUP=group, ASID=asid)
        self.group2asid[group] = asid
        await self._carry_out(self.fw.set_group_asid(group, asid), "set_group_asid")

    # -- features and status ------------------------------------------------------------
    async def get_device_features(self) -> int:
        return self.device_features

    async def get_backend_features(self) -> int:
        """mlx5_vdpa_get_backend_features, as the reference device's options say."""
        out = 0
        if self.options.enable_after_driver_ok:
            out |= spec.bit(spec.VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK)
        if self.options.group_asid_after_driver_ok:
            out |= spec.bit(spec.VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)
        return out

    async def set_driver_features(self, features: int) -> None:
        """mlx5_vdpa_set_driver_features: ACCESS_PLATFORM required (-EOPNOTSUPP), MQ needs
        CTRL_VQ (-EINVAL); the device keeps what it offered."""
        if not features & spec.bit(spec.VIRTIO_F_ACCESS_PLATFORM):
            raise fail(errno.EOPNOTSUPP, "set_driver_features", "ACCESS_PLATFORM not acked")
        if features & spec.bit(spec.VIRTIO_NET_F_MQ) and not features & spec.bit(
                spec.VIRTIO_NET_F_CTRL_VQ):
            raise fail(errno.EINVAL, "set_driver_features", "MQ without CTRL_VQ")
        self._keep_tx()
        self.features = features & self.device_features
        hw = self.features & ~SOFTWARE_FEATURES
        await self._cmd("SET_FEATURES", "set_driver_features", FEATURES_LO=_lo(hw),
                        FEATURES_HI=_hi(hw))
        self.fw.set_driver_features(features)

    async def get_driver_features(self) -> int:
        return self.features

    async def get_status(self) -> int:
        hw = await self.port.read("DEV_STATUS")
        nr = spec.VIRTIO_CONFIG_S_NEEDS_RESET
        return self.status | (hw & nr) | (nr if self.sw_needs_reset else 0)

    async def set_status(self, status: int) -> None:
        """mlx5_vdpa_set_status: DRIVER_OK 0->1 brings the VQs up as the model decides (a C11
        teardown, then the pre-created VQs configured and the first queue pair readied, or
        every VQ created); clearing DRIVER_OK without a reset is ignored; 0 resets. The device
        then takes the status (its data path runs only with DRIVER_OK)."""
        if status == 0:
            await self.reset()
            return
        ok = spec.VIRTIO_CONFIG_S_DRIVER_OK
        rising = bool(status & ok) and not self._driver_ok()
        kept = self.status & ok
        self.status = (status & ~spec.VIRTIO_CONFIG_S_NEEDS_RESET) | kept
        await self._carry_out(self.fw.set_status(self.status), "set_status")
        await self._cmd("SET_STATUS", "set_status", STATUS=self.status)
        if rising:
            for i, v in enumerate(self.vq_cfg):
                if v.ready and self.is_cvq(i) and not self.suspended:
                    await self._run_cvq()

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
        """mlx5_vdpa_compat_reset as the model plans it (the VQ objects torn down after a run,
        re-created blank with pre-creation), then the device's RESET: it keeps the objects
        still in INIT (the blank ones), frees every table with CLEAN_MAP (the regions the
        model's parent releases; nothing is left for the collector) and clears bindings,
        status and features."""
        self._keep_tx()
        await self._carry_out(self.fw.reset(clean_map), "reset", _Regions())
        flags = (RESET_CLEAN_MAP if clean_map else 0) | RESET_KEEP_VQS
        await self._cmd("RESET", "reset", FLAGS=flags)
        self.status = 0
        self.features = 0
        self.suspended = False
        self.generation += 1
        # mlx5 re-creates blank VQs of the default size at reset
        self.vq_cfg = [_SwVq(num=self.max_qsize) for _ in range(self.nvqs)]
        self.hw_err.clear()
        self.group2asid = [0] * self.ngroups
        self.mac = MAC
        self.vlans = set()
        self.cur_queue_pairs = 1
        self.cvq_broken = False
        self.sw_needs_reset = False
        self.cvq_last_avail = self.cvq_used = 0
        if clean_map:
            for sp in self.spaces:
                sp.restore_default()
            self.table = [a + 1 for a in range(self.nas)]
            self.spare = []
        self._sync_retired(freed=clean_map)

    def _sync_retired(self, freed: bool) -> None:
        """One retired table per region the model's parent deferred, in its order; regions
        deferred by a map-cleaning reset have no table left (the RESET freed them)."""
        if freed:
            self.retired = [None] * len(self.retired)
        missing = len(self.fw.deferred) - len(self.retired)
        if missing < 0:
            raise AssertionError(f"{len(self.retired)} retired tables for "
                                 f"{len(self.fw.deferred)} deferred regions")
        self.retired += [None] * missing

    async def suspend(self) -> None:
        """mlx5_vdpa_suspend as the model plans it: the active RDY objects go to SUSPEND once
        their chain in flight is done (a MODIFY round), then their indices are read (a QUERY
        round); the link notifier goes unless kept."""
        if not self.options.has_suspend:
            await super().suspend()
        await self._carry_out(self.fw.suspend(), "suspend")
        self.suspended = True

    async def resume(self) -> None:
        """mlx5_vdpa_resume as the model plans it: the active objects back to RDY with the
        fields changed meanwhile; control commands kicked meanwhile run now. Offered only with
        resumable firmware."""
        if not self.options.offers_resume:
            await super().resume()
        self.suspended = False
        await self._carry_out(self.fw.resume(), "resume")
        if self._driver_ok():
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

    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        """mlx5 set_map_data as the model plans it: a table for the whole ASID built beside
        the one in force (TABLE_NEW and MAPs), put in force by TABLE_SWITCH inside the
        map-change path (suspend, switch, resume; or every VQ destroyed and re-created when
        the firmware cannot resume) or directly when the ASID had no region; the old table
        freed now or left to the collector. A table that cannot be built fails the op and
        leaves the one in force as it was (mlx5 keeps the old MR); out of tables or MTT space,
        the retired tables are collected and the build tried once more."""
        self._check_asid(asid, "set_map")
        ranges = list(iotlb)
        for attempt in (1, 2):
            saved = copy.deepcopy(self.fw)
            build = _Regions(asid, ranges, had_region=self.fw.mr.get(asid) is not None)
            try:
                await self._carry_out(self.fw.set_map(asid, ranges), "set_map", build)
            except _OutOfRoom as e:
                self.fw = saved  # the model's parent never saw a set_map that failed
                if build.handle is not None:
                    await self._cmd("TABLE_FREE", "set_map", ASID=asid, TABLE=build.handle)
                if attempt == 2 or not (self.spare or any(h is not None for h in self.retired)):
                    raise self._fail(e.completion, "set_map", "table build: ") from None
                await self.collect_garbage()
                continue
            # a retired table the model's parent has no region for (an empty one) is the
            # device's own; the rest wait for the collector, in the model's order
            for table, modelled in build.retired:
                (self.retired if modelled else self.spare).append(table)
            self._sync_retired(freed=False)
            return

    async def collect_garbage(self) -> None:
        """mlx5's MR garbage collector (MLX5_VDPA_MR_GC_TRIGGER_MS, calibration C9) as the model
        plans it: every deferred region's table freed; then the device's own spare tables. A
        harness calls it where that time has passed; a build that runs out of tables or MTT
        space calls it itself."""
        await self._carry_out(self.fw.collect_garbage(), "collect_garbage")
        spare, self.spare = self.spare, []
        for c in await self.port.execute_many([("TABLE_FREE", {"ASID": a, "TABLE": h})
                                               for a, h in spare]):
            if not c.ok:
                raise self._fail(c, "collect_garbage")

    async def reset_map(self, asid: int) -> None:
        """mlx5_vdpa_reset_mr as the model plans it: the ASID's region goes (now or to the
        collector) and ASID 0 gets its 1:1 key back; on the device one RESET_MAP, which
        empties the table in force and restores the identity default."""
        self._check_asid(asid, "reset_map")
        await self._cmd("RESET_MAP", "reset_map", ASID=asid)
        self.spaces[asid].restore_default()
        await self._carry_out(self.fw.reset_map(asid), "reset_map", _Regions(asid))
        self._sync_retired(freed=False)

    # -- the control VQ, in software (mlx5_vnet.c: mlx5_cvq_kick_handler) ------------------
    async def _run_cvq(self) -> None:
        """Handle every available control command, as the parent's CVQ work item does; each
        command's firmware work is the model's (change_num_qps, steering) and runs before the
        command is completed."""
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
                plans: list[list[FwWork]] = []
                written = self._control(SegmentMover(port), chain, plans)
                for plan in plans:
                    await self._carry_out(plan, "cvq")
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

    def _control(self, mover: SegmentMover, chain: Chain, plans: list[list[FwWork]]) -> int:
        """One command (the model's serve_control, mlx5's VLAN table); the model's plan for it
        lands in ``plans``."""
        def decided(cls: int, cmd: int, ok: bool, changed: bool) -> None:
            plans.append(self.fw.control(cls, cmd, ok, changed, self.cur_queue_pairs))

        vlans = self.vlans if self.features & spec.bit(spec.VIRTIO_NET_F_CTRL_VLAN) else None
        return serve_control(mover, chain, self, self.hw_vqs // 2, vlans, decided)

    # -- what the bench checks DMA against ------------------------------------------------
    def allowed_ranges(self, write: bool) -> list[tuple[int, int]]:
        """Guest-physical ``[lo, hi)`` of every mapping in force, in an ASID some group is
        bound to, with the permission ``write`` needs (vdpa_tb.hostmem.MappingCheck)."""
        need = spec.VHOST_ACCESS_WO if write else spec.VHOST_ACCESS_RO
        return [(r.pa, r.pa + r.size) for a in sorted(set(self.group2asid))
                for r in self.spaces[a].ranges() if r.perm & need]

    # -- frames: the header length of the features each frame was sent with ---------------
    def _keep_tx(self) -> None:
        """Read the frames sent so far with the features in force now, before they change (a
        reset, new features): their header length is the one the device sent them with."""
        self._tx += RtlHarness.take_tx(self)

    def take_tx(self) -> list[TxPacket]:
        out, self._tx = self._tx + RtlHarness.take_tx(self), []
        times = [p.t_ps for p in out if p.t_ps is not None]
        if times:
            self.tx_first_ps = min(times) if self.tx_first_ps is None else self.tx_first_ps
            self.tx_last_ps = max(times + ([self.tx_last_ps] if self.tx_last_ps else []))
        return out


class _OutOfRoom(Exception):
    """A table build found no free table or MTT space (the device's limit, not mlx5's)."""

    def __init__(self, completion: Completion) -> None:
        super().__init__(completion.status_name)
        self.completion = completion
