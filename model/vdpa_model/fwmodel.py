# SPDX-License-Identifier: MIT
"""The parent's firmware-work model: what an mlx5-like parent asks its device to do, per op.

:class:`Mlx5Firmware` follows drivers/vdpa/mlx5/net/mlx5_vnet.c and core/mr.c
(migration-sequence.md §1 items 5-8 and §6): it keeps the parent's own bookkeeping (which
hardware VQ objects exist and in which firmware state, whether the RQT/TIR/steering exist, the
current queue-pair count, the memory region of each ASID, the link notifier) and, for every op
the parent receives, decides the firmware work that op costs. The work comes back as a list of
:class:`FwWork` (a :data:`~vdpa_model.trace.FW_KINDS` name, its cost drivers, and a round number
shared by commands submitted together) and, when a trace is attached, is recorded as ``fw``
records nested in the op.

The decisions depend only on the op stream and on seven parent options (one
:class:`FirmwareOptions`), so the reference device and the RTL parent driver take the same
decisions from this one class: the reference device records the plan, the RTL parent driver
(tb/vdpa_tb/parent.py) carries each item out as mailbox commands. A :class:`FwWork` says
what its item does beyond its cost drivers where an executor needs it (the state a MODIFY
moves a VQ to, whether a VQ is created with its ring or blank).

=====================  ============================================================  =========
option                 effect                                                        mlx5
=====================  ============================================================  =========
``fw_resumable``       a SUSPENDED VQ can go back to RDY; without it the map-change  firmware
                       path destroys every VQ (and re-creates them only if the       cap
                       device runs) and the parent offers no ``resume``
``precreated_vqs``     VQs are created blank at device add and re-created at every   ~v6.11
                       reset after DRIVER_OK; DRIVER_OK only configures and readies
``parallel_fw_cmds``   MODIFY and QUERY rounds go out together                       ~v6.12
``keep_link_notifier`` the link notifier stays registered across suspend/resume;    ~v6.12
                       None: as ``parallel_fw_cmds`` (the series shipped both)
``parallel_mkey``      a region's direct keys are created (and destroyed) together   ~v6.12
``deferred_mr_free``   an old region is destroyed by a collector 2 s later (C9)      ~v6.12
``driver_ok_first_     DRIVER_OK readies the first queue pair, the MQ command the    set_status,
qp_only``              rest (off: every ready VQ at DRIVER_OK, the MQ command only   change_num
                       rewrites the RQT; for benches that run queue pairs without    _qps
                       a control VQ)
=====================  ============================================================  =========

VQ creation and destruction are serial whatever the options (§1 item 7). The ``vq_create``
record stands for the ~15 commands of mlx5_vnet.c: setup_vq (CQ, two QPs and their state
changes, counter set, umems, IRQ, the object) and ``vq_destroy`` for teardown_vq's.

A ``vq_modify`` of an object in INIT state carries ``flags`` 1: it writes every field of a
blank or freshly created object (addresses, indices, memory keys, features) or takes it from
INIT to RDY (resume_vqs' two MODIFYs, a firmware quirk), where any other MODIFY changes the
state or the memory keys of a running object (flags 0); C1 and C3 price the two differently.
A ``link_notifier`` carries ``flags`` 1 when it registers and 0 when it unregisters.

``mr_table_switch`` is every mlx5_vdpa_update_mr that puts a new region in force: inside the
map-change path, and on an ASID that had none (no VQ holds its key yet); ``flags`` 1 says the
ASID is left with no region at all (an empty table: set_map_data's "empty iotlbs don't have an
mr").
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Protocol

from .hostmem import Backing
from .mr import RegionShape, region_shape
from .ops import IotlbRange
from .spec import (
    VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_CTRL_MAC,
    VIRTIO_NET_CTRL_MAC_ADDR_SET,
    VIRTIO_NET_CTRL_MQ,
    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
    VIRTIO_NET_CTRL_VLAN,
    VIRTIO_NET_CTRL_VLAN_ADD,
    VIRTIO_NET_CTRL_VLAN_DEL,
    VIRTIO_NET_F_CSUM,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_F_STATUS,
    bit,
)
from .trace import Layer, Trace

#: mlx5_vnet.c's virtqueue groups: MLX5_VDPA_DATAVQ_GROUP (data buffers and, without a descriptor
#: group, rings), MLX5_VDPA_CVQ_GROUP (the control VQ, whose ASID's table the software CVQ
#: copies) and MLX5_VDPA_DATAVQ_DESC_GROUP (data rings).
DATAVQ_GROUP = 0
CVQ_GROUP = 1
DATAVQ_DESC_GROUP = 2
#: MLX5V_DEFAULT_VQ_COUNT: data VQs current after a reset (the first queue pair).
DEFAULT_VQ_COUNT = 2
#: MLX5V_DEFAULT_VQ_SIZE: size of a blank, pre-created VQ.
DEFAULT_VQ_SIZE = 256
#: mlx5_vdpa_set_driver_features: features whose change from provisioning forces a full VQ
#: teardown at DRIVER_OK (NEEDS_TEARDOWN_MASK; calibration C11).
NEEDS_TEARDOWN_MASK = bit(VIRTIO_NET_F_MRG_RXBUF) | bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_F_VERSION_1)


class FwState(enum.Enum):
    """mvq->fw_state (MLX5_VIRTIO_NET_Q_OBJECT_STATE_*; NONE: no object)."""

    NONE = "none"
    INIT = "init"
    RDY = "rdy"
    SUSPEND = "suspend"


class FirmwareOptions(Protocol):
    """The parent options the decisions depend on (the module table), by the names the
    reference device's DeviceOptions and the RTL parent driver's options both use."""

    @property
    def fw_resumable(self) -> bool: ...

    @property
    def precreated_vqs(self) -> bool: ...

    @property
    def parallel_fw_cmds(self) -> bool: ...

    @property
    def keep_link_notifier(self) -> bool | None: ...

    @property
    def parallel_mkey(self) -> bool: ...

    @property
    def deferred_mr_free(self) -> bool: ...

    @property
    def driver_ok_first_qp_only(self) -> bool: ...


@dataclasses.dataclass(frozen=True, slots=True)
class FwWork:
    """One unit of firmware work: ``kind`` from FW_KINDS, its cost drivers, and ``round``, the
    same for every command submitted together (None: issued on its own, after the previous).

    What an executor needs beyond the cost drivers (never recorded): ``state``, the firmware
    state a ``vq_modify`` moves its VQ to (None: it writes fields only, the first of the two
    MODIFYs that ready a pre-created VQ), and ``filled``, whether a ``vq_create`` builds the VQ
    with the ring the driver configured or blank (pre-creation)."""

    kind: str
    args: dict[str, int]
    round: int | None = None
    state: FwState | None = None
    filled: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Drain:
    """Work in flight on one VQ when a suspend reaches it: the bytes its started chains still
    have to move and how many chains they are (the trace's ``drain_bytes``, ``drain_chains``)."""

    bytes: int
    chains: int


def _drain_args(d: Drain | None) -> dict[str, int]:
    """The cost drivers of ``d``; none for no work in flight (an idle MODIFY's record)."""
    if d is None or not (d.bytes or d.chains):
        return {}
    return {"drain_bytes": d.bytes, "drain_chains": d.chains}


@dataclasses.dataclass(slots=True)
class _Vq:
    """The parent's view of one hardware VQ (struct mlx5_vdpa_virtqueue)."""

    initialized: bool = False
    fw_state: FwState = FwState.NONE
    ready: bool = False
    num_ent: int = DEFAULT_VQ_SIZE
    #: modified_fields that make needs_vqs_reset true (state, addresses, indices)
    touched: bool = False


class _Plan:
    """The work of one op, in issue order."""

    def __init__(self) -> None:
        self.items: list[FwWork] = []
        self._rounds = 0

    def one(self, kind: str, *, state: FwState | None = None, filled: bool = True,
            **args: int) -> None:
        self.add(kind, args, state, filled)

    def add(self, kind: str, args: dict[str, int], state: FwState | None = None,
            filled: bool = True) -> None:
        """One command issued on its own, its cost drivers given as a dict."""
        self.items.append(FwWork(kind, args, None, state, filled))

    def together(self, kind: str, each: Sequence[dict[str, int]], parallel: bool,
                 state: FwState | None = None) -> None:
        """Commands of one kind submitted as a round (parallel) or one after another."""
        if not each:
            return
        self._rounds += 1
        for args in each:
            self.items.append(FwWork(kind, args, self._rounds if parallel else None, state))


class ParentFirmware:
    """A parent without firmware (vdpa_sim): every op is work done in the kernel itself, priced
    from the op record; no ``fw`` records. The mlx5 model overrides each event."""

    def __init__(self, trace: Trace | None = None) -> None:
        self.trace = trace

    def device_add(self) -> list[FwWork]:
        return []

    def set_driver_features(self, features: int) -> list[FwWork]:
        return []

    def set_vq_num(self, idx: int, num: int) -> list[FwWork]:
        return []

    def set_vq_address(self, idx: int) -> list[FwWork]:
        return []

    def set_vq_state(self, idx: int) -> list[FwWork]:
        return []

    def get_vq_state(self, idx: int) -> list[FwWork]:
        return []

    def set_vq_ready(self, idx: int, ready: bool) -> list[FwWork]:
        return []

    def set_status(self, status: int) -> list[FwWork]:
        return []

    def reset(self, clean_map: bool) -> list[FwWork]:
        return []

    def suspend(self, drain: Mapping[int, Drain] | None = None) -> list[FwWork]:
        return []

    def resume(self) -> list[FwWork]:
        return []

    def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> list[FwWork]:
        return []

    def reset_map(self, asid: int) -> list[FwWork]:
        return []

    def set_group_asid(self, group: int, asid: int) -> list[FwWork]:
        return []

    def control(self, cls: int, cmd: int, ok: bool, changed: bool, value: int = 0) -> list[FwWork]:
        return []

    def collect_garbage(self) -> list[FwWork]:
        return []

    def _emit(self, plan: _Plan) -> list[FwWork]:
        """Record ``plan`` as ``fw`` records (one trace group per round) and return it."""
        trace = self.trace
        if trace is not None and plan.items:
            groups: dict[int, int] = {}
            for w in plan.items:
                g = None
                if w.round is not None:
                    g = groups.get(w.round)
                    if g is None:
                        g = groups[w.round] = trace.new_group()
                trace.add(Layer.FW, w.kind, group=g, **w.args)
        return plan.items


class Mlx5Firmware(ParentFirmware):
    """mlx5_vnet.c's decisions over ``data_vqs`` hardware VQs (2 x provisioned queue pairs).

    ``provisioned`` are the device features (mlx_features); ``backing`` is the host memory
    behind the addresses (:mod:`vdpa_model.hostmem`), for the region geometry
    (:mod:`vdpa_model.mr`).
    """

    def __init__(self, options: FirmwareOptions, data_vqs: int, provisioned: int,
                 trace: Trace | None = None, backing: Backing | None = None) -> None:
        super().__init__(trace)
        self.options = options
        self.max_vqs = data_vqs
        self.provisioned = provisioned
        self.backing = backing
        self.vqs = [_Vq() for _ in range(data_vqs)]
        self.setup = False
        self.needs_teardown = False
        self.cur_num_vqs = self._initial_vqs()
        self.nb_registered = False
        self.status = 0
        self.suspended = False
        self.features = 0
        self.group2asid = [0, 0, 0]
        #: the region of each ASID: a RegionShape, "dma" for the 1:1 key, or None
        self.mr: dict[int, RegionShape | str | None] = {}
        self.deferred: list[RegionShape | str] = []

    @property
    def keeps_link_notifier(self) -> bool:
        """The link notifier survives suspend/resume ("vdpa/mlx5: Keep notifiers during
        suspend/resume"); unless the option says otherwise, with parallel_fw_cmds."""
        keep = self.options.keep_link_notifier
        return self.options.parallel_fw_cmds if keep is None else keep

    @property
    def driver_ok(self) -> bool:
        return bool(self.status & VIRTIO_CONFIG_S_DRIVER_OK)

    def _initial_vqs(self) -> int:
        """cur_num_vqs after add and reset: MLX5V_DEFAULT_VQ_COUNT (the first queue pair), or
        every data VQ without driver_ok_first_qp_only."""
        return DEFAULT_VQ_COUNT if self.options.driver_ok_first_qp_only else self.max_vqs

    def fw_state(self, idx: int) -> FwState:
        """The parent's view of data VQ ``idx``'s object (NONE: no object)."""
        return self.vqs[idx].fw_state if self._data(idx) else FwState.NONE

    def _data(self, idx: int) -> bool:
        return 0 <= idx < self.max_vqs

    # -- building blocks, named after mlx5_vnet.c / mr.c -------------------------------------
    def _modify_round(self, p: _Plan, vqs: Sequence[int], state: FwState | None,
                      drain: Mapping[int, Drain] | None = None) -> None:
        """modify_virtqueues: one MODIFY per VQ (state and/or fields), one round; ``flags`` 1
        on the MODIFYs that configure an INIT object (see the module docstring); a VQ's
        ``drain`` on its MODIFY (:meth:`Mlx5Firmware.suspend`)."""
        each = [{"vq": i, "flags": int(self.vqs[i].fw_state is FwState.INIT),
                 **_drain_args((drain or {}).get(i))} for i in vqs]
        p.together("vq_modify", each, self.options.parallel_fw_cmds, state)
        if state is not None:
            for i in vqs:
                self.vqs[i].fw_state = state

    def _suspend_vqs(self, p: _Plan, start: int, n: int,
                     drain: Mapping[int, Drain] | None = None) -> None:
        """suspend_vqs: nothing unless the first VQ is a RDY object; then a MODIFY round to
        SUSPEND and a QUERY round for the indices. Serial firmware does one VQ at a time."""
        if start >= self.cur_num_vqs or not self.vqs[start].initialized:
            return
        if self.vqs[start].fw_state is not FwState.RDY:
            return
        vqs = [i for i in range(start, min(start + n, self.max_vqs))
               if self.vqs[i].initialized and self.vqs[i].fw_state is FwState.RDY]
        if self.options.parallel_fw_cmds:
            self._modify_round(p, vqs, FwState.SUSPEND, drain)
            p.together("vq_query", [{"vq": i} for i in vqs], True)
        else:
            for i in vqs:  # the serial predecessor: suspend_vq, then query_virtqueue, per VQ
                p.add("vq_modify", {"vq": i, "flags": 0, **_drain_args((drain or {}).get(i))},
                      FwState.SUSPEND)
                p.one("vq_query", vq=i)
                self.vqs[i].fw_state = FwState.SUSPEND

    def _resume_vqs(self, p: _Plan, start: int, n: int) -> bool:
        """resume_vqs: INIT objects need two MODIFY rounds (fields, then state: a firmware
        quirk), SUSPEND objects one (and resumable firmware); VQs beyond the current queue
        pairs are left alone. False when the firmware cannot resume."""
        if start >= self.max_vqs or not self.vqs[start].initialized:
            return True
        if start >= self.cur_num_vqs:
            return True
        # mlx5 readies every object of the range, enabled or not (at DRIVER_OK QEMU has enabled
        # none yet); without first-pair gating only the enabled ones start, as the reference
        # device starts them
        gated = self.options.driver_ok_first_qp_only
        vqs = [i for i in range(start, min(start + n, self.max_vqs))
               if self.vqs[i].initialized and (gated or self.vqs[i].ready)]
        if not vqs:
            return True
        state = self.vqs[vqs[0]].fw_state
        if state is FwState.INIT:
            self._modify_round(p, vqs, None)
        elif state is FwState.SUSPEND:
            if not self.options.fw_resumable:
                return False
        elif state is FwState.RDY:
            return True
        self._modify_round(p, vqs, FwState.RDY)
        for i in vqs:
            self.vqs[i].touched = False
        return True

    def _setup_vq(self, p: _Plan, i: int, filled: bool) -> None:
        """setup_vq: the serial create (CQ, QPs, counter, umems, IRQ, object), then resume if
        the driver had made it ready."""
        vq = self.vqs[i]
        if vq.initialized:
            return
        p.one("vq_create", filled=filled, vq=i, qsize=vq.num_ent)
        vq.initialized = True
        vq.fw_state = FwState.INIT
        if not filled:
            vq.touched = False
        if vq.ready:
            self._resume_vqs(p, i, 1)

    def _teardown_vq(self, p: _Plan, i: int) -> None:
        vq = self.vqs[i]
        if not vq.initialized:
            return
        self._suspend_vqs(p, i, 1)
        p.one("vq_destroy", vq=i)
        vq.initialized = False
        vq.fw_state = FwState.NONE

    def _setup_vq_resources(self, p: _Plan, filled: bool) -> None:
        """setup_vq_resources: every provisioned VQ, then RQT, TIR, flow table and MAC rules."""
        if self.setup:
            return
        for i in range(self.max_vqs):
            self._setup_vq(p, i, filled)
        p.one("dev_resources_create", vqs=self.max_vqs)
        self.setup = True

    def _teardown_vq_resources(self, p: _Plan) -> None:
        if not self.setup:
            return
        p.one("dev_resources_destroy", vqs=self.max_vqs)
        for i in reversed(range(self.max_vqs)):
            self._teardown_vq(p, i)
        self.setup = False
        self.needs_teardown = False

    def _defaults(self) -> None:
        """mvqs_set_defaults: every VQ back to NONE, 256 entries, not ready."""
        self.vqs = [_Vq() for _ in range(self.max_vqs)]

    def _link(self, p: _Plan, register: bool) -> None:
        if register and not self.nb_registered and self.features & bit(VIRTIO_NET_F_STATUS):
            p.one("link_notifier", flags=1)
            self.nb_registered = True
        elif not register and self.nb_registered:
            p.one("link_notifier", flags=0)
            self.nb_registered = False

    def _build_mr(self, p: _Plan, iotlb: Sequence[IotlbRange]) -> RegionShape:
        """mlx5_vdpa_create_mr → create_user_mr: the direct keys (together with parallel_mkey),
        then the indirect key over them; then _mlx5_vdpa_create_mr keeps a copy of the table in
        the region (dup_iotlb into mr->iotlb, one entry per run: what mlx5_set_group_asid later
        copies to the CVQ). The 1:1 key's copy is one entry, inside mr_dma_create."""
        shape = region_shape(iotlb, self.backing)
        p.together("mkey_create", [{"count": k.count, "entries": k.entries, "bytes": k.length}
                                   for k in shape.keys], self.options.parallel_mkey)
        p.one("mr_indirect_create", keys=shape.klms)
        p.one("mr_iotlb", flags=1, runs=shape.runs)
        return shape

    def _destroy_mr(self, p: _Plan, mr: RegionShape | str) -> None:
        if mr == "dma":
            p.one("mr_dma_destroy")
            return
        assert isinstance(mr, RegionShape)
        # _mlx5_vdpa_destroy_mr: destroy_user_mr (indirect key, then the direct ones), then
        # vhost_iotlb_free of the region's table copy
        p.one("mr_indirect_destroy", keys=mr.klms)
        p.together("mkey_destroy", [{"count": k.count, "entries": k.entries, "bytes": k.length}
                                    for k in mr.keys], self.options.parallel_mkey)
        p.one("mr_iotlb", flags=0, runs=mr.runs)

    def _put_mr(self, p: _Plan, mr: RegionShape | str | None) -> None:
        """The last reference to an old region is dropped: destroyed now, or by the collector
        2 s later with deferred_mr_free ("vdpa/mlx5: Postpone MR deletion", C9)."""
        if mr is None:
            return
        if self.options.deferred_mr_free:
            self.deferred.append(mr)
        else:
            self._destroy_mr(p, mr)

    def _create_dma_mr(self, p: _Plan) -> None:
        p.one("mr_dma_create")
        self.mr[0] = "dma"

    def _update_cvq_iotlb(self, p: _Plan, asid: int) -> None:
        """mlx5_vdpa_update_cvq_iotlb: the software CVQ's copy of its ASID's table, rebuilt
        entry by entry (prune, then dup_iotlb) when the CVQ group uses that ASID."""
        if self.group2asid[CVQ_GROUP] != asid:
            return
        mr = self.mr.get(asid)
        runs = mr.runs if isinstance(mr, RegionShape) else (1 if mr == "dma" else 0)
        p.one("cvq_iotlb_update", asid=asid, runs=runs)

    def _change_map(self, p: _Plan, new: RegionShape | None, asid: int) -> None:
        """mlx5_vdpa_change_map: suspend, (without resumable firmware: save the VQs and destroy
        every VQ resource), switch, and bring the VQs back only if the device runs."""
        teardown = not self.options.fw_resumable
        self._suspend_vqs(p, 0, self.cur_num_vqs)
        if teardown:
            p.together("vq_query", [{"vq": i} for i, v in enumerate(self.vqs) if v.initialized],
                       False)  # save_channels_info: one query per VQ
            self._teardown_vq_resources(p)
        old = self.mr.get(asid)
        self.mr[asid] = new
        if new is None:  # set_map_data: "empty iotlbs don't have an mr"
            p.one("mr_table_switch", asid=asid, flags=1)
        else:
            p.one("mr_table_switch", asid=asid)
        if self.driver_ok and not self.suspended:
            if teardown:
                self._setup_vq_resources(p, filled=True)
            self._resume_vqs(p, 0, self.cur_num_vqs)
        self._put_mr(p, old)

    # -- ops --------------------------------------------------------------------------------
    def device_add(self) -> list[FwWork]:
        """mlx5_vdpa_dev_add: the 1:1 key of ASID 0, and (pre-creation) every VQ blank."""
        p = _Plan()
        self._create_dma_mr(p)
        if self.options.precreated_vqs:
            self._setup_vq_resources(p, filled=False)
        return self._emit(p)

    def set_driver_features(self, features: int) -> list[FwWork]:
        """Marks VQ fields modified; decides C11's feature half of needs_teardown."""
        self.features = features & self.provisioned
        self.needs_teardown = bool((self.provisioned ^ self.features) & NEEDS_TEARDOWN_MASK)
        return []

    def set_vq_num(self, idx: int, num: int) -> list[FwWork]:
        """C11's other half: a size other than the object's forces a teardown at DRIVER_OK."""
        if self._data(idx):
            self.needs_teardown |= num != self.vqs[idx].num_ent
            self.vqs[idx].num_ent = num
        return []

    def set_vq_address(self, idx: int) -> list[FwWork]:
        if self._data(idx):
            self.vqs[idx].touched = True
        return []

    def set_vq_state(self, idx: int) -> list[FwWork]:
        if self._data(idx):
            self.vqs[idx].touched = True
        return []

    def get_vq_state(self, idx: int) -> list[FwWork]:
        """mlx5_vdpa_get_vq_state: one QUERY of a live object; the cached index otherwise."""
        p = _Plan()
        if self._data(idx) and self.vqs[idx].initialized:
            p.one("vq_query", vq=idx)
        return self._emit(p)

    def set_vq_ready(self, idx: int, ready: bool) -> list[FwWork]:
        p = _Plan()
        if not self.features or not self._data(idx):
            return []
        self.vqs[idx].ready = ready
        if not ready:
            self._suspend_vqs(p, idx, 1)
        elif self.driver_ok and not self._resume_vqs(p, idx, 1):
            self.vqs[idx].ready = False  # resume_vq failed: set_vq_ready leaves it not ready
        return self._emit(p)

    def set_status(self, status: int) -> list[FwWork]:
        """mlx5_vdpa_set_status at DRIVER_OK: link notifier; a C11 teardown if needed; then
        either the pre-created VQs are configured and the first queue pair readied, or every
        VQ is created in full (setup_vq_resources)."""
        p = _Plan()
        if status & VIRTIO_CONFIG_S_DRIVER_OK and not self.driver_ok:
            self._link(p, register=True)
            if self.needs_teardown:
                self._teardown_vq_resources(p)
            if self.setup:
                self._resume_vqs(p, 0, self.cur_num_vqs)
            else:
                self._setup_vq_resources(p, filled=True)
        self.status = status
        return self._emit(p)

    def _needs_vqs_reset(self) -> bool:
        vq0 = self.vqs[0]
        return self.driver_ok or vq0.fw_state is not FwState.INIT or vq0.touched

    def reset(self, clean_map: bool) -> list[FwWork]:
        """mlx5_vdpa_compat_reset: drop the link notifier; after a run tear every VQ down and
        (pre-creation) create them all again blank; with CLEAN_MAP every region goes and ASID 0
        gets its 1:1 key back."""
        p = _Plan()
        self._link(p, register=False)
        vq_reset = self._needs_vqs_reset()
        if vq_reset:
            self._teardown_vq_resources(p)
            self._defaults()
        if clean_map:
            for asid in sorted(self.mr):
                self._put_mr(p, self.mr.pop(asid))
        self.status = 0
        self.suspended = False
        self.cur_num_vqs = self._initial_vqs()
        self.features = 0
        self.group2asid = [0, 0, 0]
        if clean_map:
            self._create_dma_mr(p)
        if vq_reset and self.options.precreated_vqs:
            self._setup_vq_resources(p, filled=False)
        return self._emit(p)

    def suspend(self, drain: Mapping[int, Drain] | None = None) -> list[FwWork]:
        """mlx5_vdpa_suspend. Before "keep notifiers registered" suspend also dropped the
        link notifier (C2, C4), and resume registered it again. ``drain``: per VQ, the work in
        flight its MODIFY to SUSPEND waits for (suspend_vq returns once the queue has stopped:
        the chains the engine started finish first), carried on that MODIFY as ``drain_bytes``
        and ``drain_chains`` for a profile to price; the model's own device runs whole chains
        between settle points and has none, so only a caller that knows (a harness of a device
        that works between them) passes it."""
        p = _Plan()
        if not self.keeps_link_notifier:
            self._link(p, register=False)
        self._suspend_vqs(p, 0, self.cur_num_vqs, drain or {})
        self.suspended = True
        return self._emit(p)

    def resume(self) -> list[FwWork]:
        p = _Plan()
        self.suspended = False
        self._resume_vqs(p, 0, self.cur_num_vqs)
        if self.keeps_link_notifier:
            p.one("dev_command")  # queue_link_work: one vport state query
        else:
            self._link(p, register=True)
        return self._emit(p)

    def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> list[FwWork]:
        """set_map_data: build a region over the whole table (none for an empty one); the
        map-change path if the ASID had one; then the CVQ's table copy."""
        p = _Plan()
        new = self._build_mr(p, iotlb) if iotlb else None
        if self.mr.get(asid) is None:
            if new is not None:  # mlx5_vdpa_update_mr: no VQ holds this ASID's key yet
                p.one("mr_table_switch", asid=asid)
            self.mr[asid] = new
        else:
            self._change_map(p, new, asid)
        self._update_cvq_iotlb(p, asid)
        return self._emit(p)

    def reset_map(self, asid: int) -> list[FwWork]:
        """mlx5_vdpa_reset_mr: the region goes; ASID 0 gets its 1:1 key back."""
        p = _Plan()
        self._put_mr(p, self.mr.pop(asid, None))
        if asid == 0:
            self._create_dma_mr(p)
        else:
            self._update_cvq_iotlb(p, asid)
        return self._emit(p)

    def set_group_asid(self, group: int, asid: int) -> list[FwWork]:
        """mlx5_set_group_asid: no hardware change until the next MODIFY (trap 8); the CVQ's
        table copy follows its group."""
        p = _Plan()
        if 0 <= group < len(self.group2asid):
            self.group2asid[group] = asid
        if group == CVQ_GROUP and self.mr.get(asid) is not None:
            self._update_cvq_iotlb(p, asid)
        return self._emit(p)

    def control(self, cls: int, cmd: int, ok: bool, changed: bool, value: int = 0) -> list[FwWork]:
        """One command of mlx5_cvq_kick_handler, after the device applied it: ``changed`` says
        whether it changed the state, ``value`` carries the new queue-pair count (MQ). The
        ``cvq_command`` record holds the firmware work the command caused."""
        trace = self.trace
        command = trace.begin(Layer.FW, "cvq_command", cmds=1) if trace is not None else None
        p = _Plan()
        if ok and changed:
            if cls == VIRTIO_NET_CTRL_MAC and cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET:
                # mlx5_vdpa_change_mac: MPFS entry swapped, the untagged rules re-created
                p.one("dev_command")
                p.one("dev_command")
                p.one("flow_rule_del", count=2)
                p.one("flow_rule_add", count=2)
            elif cls == VIRTIO_NET_CTRL_MQ and cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET:
                self._change_num_qps(p, value)
            elif cls == VIRTIO_NET_CTRL_VLAN and cmd == VIRTIO_NET_CTRL_VLAN_ADD:
                p.one("flow_rule_add", count=2, vlans=1)  # mac_vlan_add: unicast + multicast
            elif cls == VIRTIO_NET_CTRL_VLAN and cmd == VIRTIO_NET_CTRL_VLAN_DEL:
                p.one("flow_rule_del", count=2, vlans=1)
        work = self._emit(p)  # nested in the command's record: the work it caused
        if trace is not None and command is not None:
            trace.end(command)
        return [FwWork("cvq_command", {"cmds": 1}), *work]

    def _change_num_qps(self, p: _Plan, newqps: int) -> None:
        """change_num_qps: more pairs are set up (if not pre-created) and readied, then the RQT
        rewritten; fewer: RQT first, then the extra VQs suspended (or destroyed)."""
        cur, new = self.cur_num_vqs, 2 * newqps
        if not self.options.driver_ok_first_qp_only:
            p.one("rqt_update", vqs=new)  # every VQ runs already; only the spread changes
            return
        if cur > new:
            p.one("rqt_update", vqs=new)
            if self.options.fw_resumable:
                self._suspend_vqs(p, new, cur - new)
            else:
                for i in range(new, cur):
                    self._teardown_vq(p, i)
            self.cur_num_vqs = new
        elif cur < new:
            self.cur_num_vqs = new
            for i in range(cur, new):
                self._setup_vq(p, i, filled=False)
            self._resume_vqs(p, cur, new - cur)
            p.one("rqt_update", vqs=new)

    def collect_garbage(self) -> list[FwWork]:
        """The MR collector's run (MLX5_VDPA_MR_GC_TRIGGER_MS after the free): every region
        whose destruction was deferred."""
        p = _Plan()
        for mr in self.deferred:
            self._destroy_mr(p, mr)
        self.deferred.clear()
        return self._emit(p)


def firmware_for(kind: str, options: FirmwareOptions, data_vqs: int, provisioned: int,
                 trace: Trace | None = None, backing: Backing | None = None) -> ParentFirmware:
    """The firmware model of a parent kind: ``mlx5`` gets :class:`Mlx5Firmware`, anything else
    (``sim``) a parent without firmware."""
    if kind == "mlx5":
        return Mlx5Firmware(options, data_vqs, provisioned, trace, backing)
    return ParentFirmware(trace)

