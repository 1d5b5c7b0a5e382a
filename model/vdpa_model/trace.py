# SPDX-License-Identifier: MIT
"""The op trace: one record of everything a migration did, the input of every cost computed later.

A migration flow runs over :class:`~vdpa_model.vhost.VhostVdpa` on some device; each thing that
costs time becomes one :class:`TraceRecord`, on one of four layers that nest the way the kernel
stack does:

``host``
    QEMU or kernel work with no device op behind it: pinning and unpinning guest pages
    (drivers/vhost/vdpa.c: vhost_vdpa_pa_map, vhost_vdpa_pa_unmap), notifier and doorbell set-up,
    a CVQ command round trip in QEMU (net/vhost-vdpa.c: vhost_vdpa_net_cvq_load).
``ioctl``
    One vhost-vdpa ioctl or IOTLB message (drivers/vhost/vdpa.c: vhost_vdpa_unlocked_ioctl,
    vhost_vdpa_process_iotlb_msg), as :class:`VhostVdpa` receives it.
``op``
    One call of ``struct vdpa_config_ops`` on the parent (``VdpaOps``), nested in its ioctl.
``fw``
    One unit of work the parent hands its device: a firmware command of mlx5_vnet.c
    (create a hardware VQ, a parallel MODIFY round, a memory-key build, ...), or on the RTL
    device one mailbox command with the cycles its completion reported. Nested in its op.

What a record carries is what its cost depends on (:data:`ARG_KEYS`), never the payload: a
4 TiB guest's map is one record with ``bytes`` and ``entries``, not a list of pages. Records
submitted to the device together (one parallel round) share a ``group`` so a scheduler can
overlap them up to the device's concurrency; records without a group ran one after another.

``phase`` is the step id of ``../shared/reference/migration-sequence.md`` the record belongs to
("A1", "B2", "C4.2.6"; "" outside any flow step) and ``device`` names the vhost-vdpa device.
Timestamps are simulation time in picoseconds and device cycles where a simulation measured
them, ``None`` on the reference device, whose trace a cost profile prices instead.

The trace is written as JSON lines, one record per line, so a 256-device run streams to disk
and a vendor's tool reads it without this package.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

#: Version of the JSON-lines format; a reader refuses other versions rather than guess.
TRACE_FORMAT = 1


class Layer(enum.StrEnum):
    """Where in the stack a record's work happens (outermost first)."""

    HOST = "host"
    IOCTL = "ioctl"
    OP = "op"
    FW = "fw"


#: The cost drivers a record may carry, and what each counts. One place, so a profile, the flows
#: and the RTL parent driver use the same words.
ARG_KEYS: dict[str, str] = {
    "vqs": "virtqueues the work touches",
    "qsize": "ring size (entries) of the VQs touched",
    "entries": "translation entries written (MTT entries of a memory-region build)",
    "keys": "direct memory keys (one per contiguous run of at most 1 GiB)",
    "ranges": "IOTLB ranges (one per IOTLB message or set_map table entry)",
    "bytes": "bytes of guest memory mapped, unmapped, pinned or moved",
    "pages": "pages pinned or unpinned, of size page_size",
    "page_size": "backing page size in bytes of the pages counted",
    "cmds": "control-VQ commands",
    "vlans": "VLAN ids",
    "asid": "address space the work applies to",
    "group": "virtqueue group the work applies to",
    "vq": "virtqueue index",
    "status": "device status written",
    "flags": "flags of the work: compat_reset flags, IOTLB message type; on the fw layer 1 for a "
             "link_notifier registered (0 unregistered), for a vq_modify that configures an "
             "INIT object (0 for one that changes a running object's state or keys) and for a "
             "region's IOTLB copy made (0 freed)",
    "beats": "bus beats a DMA moved",
    "calls": "pin_user_pages() calls, each pinning up to 512 4 KiB pages (drivers/vhost/vdpa.c: "
             "vhost_vdpa_pa_map)",
    "runs": "physically contiguous runs, one vhost IOTLB entry each (vhost_vdpa_pa_map); the "
            "software CVQ's table copy and each region's own copy have one entry per run (mr.c: "
            "mlx5_vdpa_update_cvq_iotlb, _mlx5_vdpa_create_mr)",
    "count": "identical units of work the record stands for, each with the record's other "
             "arguments (e.g. a region's direct keys of one size); absent means one",
    "writers": "translation-table write ports a memory-key build used (RTL MAP WRITERS)",
    "drain_bytes": "bytes of the chains in flight a suspend waits for on its VQ: what they still "
                   "have to move when the suspend is issued",
    "drain_chains": "chains in flight a suspend waits for on its VQ (started, not yet used)",
}
#: Cost drivers a record carries only when they are not zero: a suspend's MODIFY with nothing in
#: flight has no ``drain_*``, and a profile that prices them charges it nothing, silently.
ABSENT_MEANS_ZERO: frozenset[str] = frozenset({"drain_bytes", "drain_chains"})


#: The ``fw`` layer's vocabulary: the units of work an mlx5-like parent hands its device, named
#: once so the reference device's parent model, the RTL parent driver (which maps each mailbox
#: command onto one of these) and every cost profile speak of the same things. The source is the
#: mlx5_vnet.c / mr.c function that issues the work.
FW_KINDS: dict[str, str] = {
    "vq_create": "create one hardware VQ with its CQ, QPs, umems, counter (mlx5_vnet.c: setup_vq)",
    "vq_destroy": "destroy one hardware VQ and its resources (mlx5_vnet.c: teardown_vq)",
    "vq_modify": "MODIFY one VQ object: state and/or fields (mlx5_vnet.c: modify_virtqueues)",
    "vq_query": "QUERY one VQ object's state and indices (mlx5_vnet.c: query_virtqueues)",
    "dev_resources_create": "RQT, TIR, flow table and MAC rules of a device (setup_vq_resources)",
    "dev_resources_destroy": "the same, torn down (teardown_vq_resources)",
    "rqt_update": "rewrite the RQT for a new queue-pair count (mlx5_vnet.c: change_num_qps)",
    "flow_rule_add": "one steering rule, two per VLAN (mlx5_vnet.c: mac_vlan_add)",
    "flow_rule_del": "one steering rule removed, two per VLAN or MAC (mlx5_vnet.c: mac_vlan_del)",
    "mkey_create": "one direct memory key over at most 1 GiB, `entries` MTT entries "
                   "(mr.c: create_direct_keys)",
    "mkey_destroy": "one direct memory key destroyed (mr.c: destroy_direct_keys)",
    "mr_indirect_create": "the indirect key over all direct keys of a region (mr.c: create_indirect_key)",
    "mr_indirect_destroy": "the indirect key of a region destroyed (mr.c: destroy_indirect_key)",
    "mr_dma_create": "the 1:1 physical-address key of ASID 0, no translation entries (mr.c: create_dma_mr)",
    "mr_dma_destroy": "the 1:1 physical-address key destroyed (mr.c: destroy_dma_mr)",
    "mr_table_switch": "the engine switched to a newly built region atomically "
                       "(mlx5_vnet.c: mlx5_vdpa_change_map)",
    "cvq_iotlb_update": "the software CVQ's copy of its ASID's table rebuilt "
                        "(mlx5_vnet.c: mlx5_vdpa_update_cvq_iotlb)",
    "mr_iotlb": "a region's own copy of its ASID's vhost IOTLB, `runs` entries: made with the region "
                "(`flags` 1, mr.c: _mlx5_vdpa_create_mr -> dup_iotlb) or freed with it (`flags` 0, "
                "_mlx5_vdpa_destroy_mr -> vhost_iotlb_free)",
    "link_notifier": "link event notifier registered or unregistered (mlx5_vnet.c: register_link_notifier)",
    "cvq_command": "one control-VQ command served by the parent (mlx5_vnet.c: mlx5_cvq_kick_handler)",
    "dev_reset": "the device-wide reset command itself (RTL: RESET)",
    "dev_command": "any other device-wide command without per-VQ work (status, features, group binding)",
}


#: Every step id the flows label records with (``phase``), in the order a migration runs them:
#: migration-sequence.md §§2-4, plus "A22" (the resume of the resumable Flow A, after the
#: document's last step), "add" (device creation, before any migration) and "GC" (mlx5's
#: deferred MR collector, MLX5_VDPA_MR_GC_TRIGGER_MS after a flow). The last two are in no
#: downtime window.
STEP_IDS: tuple[str, ...] = (
    "add", *(f"A{n}" for n in range(1, 23)),
    *(f"C4.1.{n}" for n in range(1, 6)), *(f"B{n}" for n in range(1, 9)),
    *(f"C4.2.{n}" for n in range(1, 12)), "GC",
)
#: Step ids of work outside every downtime window.
OUTSIDE_WINDOWS: tuple[str, ...] = ("add", "GC")

#: What each step id does, in a few words (migration-sequence.md §§2-4), for charts and tables.
STEP_NAMES: dict[str, str] = {
    "add": "device created",
    "A1": "suspend", "A2": "doorbells unmapped", "A3": "ring positions read",
    "A4": "further queue pairs", "A5": "CVQ shadow ring unmapped",
    "A6": "reset: VQs torn down, re-created", "A7": "guest RAM unmapped, unpinned",
    "A8": "status ACK|DRIVER", "A9": "CVQ buffers unmapped", "A10": "notifiers torn down",
    "A11": "notifiers set up", "A12": "features", "A13": "ring sizes",
    "A14": "shadow rings mapped", "A15": "CVQ buffers and ring mapped",
    "A16": "guest RAM pinned, region built", "A17": "DRIVER_OK", "A18": "CVQ enabled",
    "A19": "CVQ state replayed", "A20": "data queues enabled", "A21": "switch complete",
    "A22": "resume (resumable switch)",
    "C4.1.1": "fd opened", "C4.1.2": "device probed", "C4.1.3": "CVQ isolation probe",
    "C4.1.4": "guest RAM mapped early", "C4.1.5": "VQs pre-created",
    "B1": "suspend", "B2": "shadow rings unmapped", "B3": "ring positions (QEMU)",
    "B4": "CVQ shadow ring unmapped", "B5": "reset: VQs torn down, re-created",
    "B6": "guest RAM unmapped, unpinned", "B7": "CVQ buffers unmapped", "B8": "notifiers torn down",
    "C4.2.1": "notifiers wired", "C4.2.2": "data queues start", "C4.2.3": "features",
    "C4.2.4": "rings configured", "C4.2.5": "doorbells mapped", "C4.2.6": "CVQ to ASID 1, buffers mapped",
    "C4.2.7": "CVQ shadow ring mapped", "C4.2.8": "guest RAM pinned, region built",
    "C4.2.9": "DRIVER_OK", "C4.2.10": "CVQ state replayed", "C4.2.11": "data queues enabled",
    "GC": "deferred region collector",
}


#: The ``host`` layer's names: QEMU or kernel work with no parent op behind it, as the flows and
#: :class:`~vdpa_model.vhost.VhostVdpa` record it. Not enforced on reading (a vendor tool may
#: add its own); the flows use only these.
HOST_KINDS: dict[str, str] = {
    "pin": "guest pages pinned for one IOTLB UPDATE; `pages` of the backing `page_size`, `calls` "
           "pin_user_pages calls, `runs` IOTLB entries (drivers/vhost/vdpa.c: vhost_vdpa_pa_map)",
    "unpin": "pages unpinned for one INVALIDATE, always 4 KiB at a time (vhost_vdpa_pa_unmap)",
    "irq_bypass": "the interrupt bypass of `vqs` VQs registered at DRIVER_OK (`flags` 1, "
                  "vhost_vdpa_setup_vq_irq) or dropped when DRIVER_OK is cleared (`flags` 0, "
                  "vhost_vdpa_unsetup_vq_irq)",
    "doorbell": "QEMU maps (`flags` 1) or unmaps (`flags` 0) the doorbell pages of one vhost_dev's "
                "`vqs` data VQs (hw/virtio/vhost-vdpa.c: vhost_vdpa_host_notifiers_init / _uninit)",
    "notifiers": "guest and host notifiers (ioeventfd, irqfd) of one vhost_dev's `vqs` VQs wired "
                 "(`flags` 1) or torn down (`flags` 0) (hw/virtio/vhost.c: vhost_dev_enable_notifiers, "
                 "virtio-pci set_guest_notifiers)",
    "svq_start": "one shadow VQ set up over a fresh shadow ring (hw/virtio/vhost-shadow-virtqueue.c: "
                 "vhost_svq_start)",
    "svq_stop": "one shadow VQ stopped: used buffers handed to the guest, `cmds` in-flight requests "
                "rewound (vhost_svq_stop)",
    "cvq_command": "one control command QEMU sends on the shadow CVQ (net/vhost-vdpa.c: "
                   "vhost_vdpa_net_load_cmd): serially it holds the kick and the wait for the answer "
                   "(and the device's work); sent in parallel (parallel_cvq_load, QEMU >= 8.2) the "
                   "commands share a group and QEMU waits once after them (H4)",
}

#: The ``ioctl`` layer's names: the uapi ioctl or IOTLB message, ``open``/``release`` of the fd,
#: and ``eventfd_kick`` (a write to a VQ's kick eventfd, forwarded by vhost as kick_vq).
IOCTLS: tuple[str, ...] = (
    "open", "release", "eventfd_kick", "VHOST_SET_OWNER", "VHOST_GET_FEATURES",
    "VHOST_SET_FEATURES", "VHOST_GET_BACKEND_FEATURES", "VHOST_SET_BACKEND_FEATURES",
    "VHOST_VDPA_GET_DEVICE_ID", "VHOST_VDPA_GET_CONFIG", "VHOST_VDPA_GET_IOVA_RANGE",
    "VHOST_VDPA_GET_VRING_NUM", "VHOST_VDPA_GET_STATUS", "VHOST_VDPA_SET_STATUS",
    "VHOST_SET_VRING_NUM", "VHOST_SET_VRING_ADDR", "VHOST_SET_VRING_BASE", "VHOST_GET_VRING_BASE",
    "VHOST_SET_VRING_KICK", "VHOST_SET_VRING_CALL", "VHOST_VDPA_SET_VRING_ENABLE",
    "VHOST_VDPA_GET_VRING_GROUP", "VHOST_VDPA_GET_VRING_DESC_GROUP", "VHOST_VDPA_SET_GROUP_ASID",
    "VHOST_VDPA_SUSPEND", "VHOST_VDPA_RESUME", "VHOST_IOTLB_UPDATE", "VHOST_IOTLB_INVALIDATE",
    "VHOST_IOTLB_BATCH_BEGIN", "VHOST_IOTLB_BATCH_END",
)


@dataclasses.dataclass(slots=True)
class TraceRecord:
    """One unit of timed work. ``args`` holds only :data:`ARG_KEYS`, all integers; ``errno`` is
    0 on success, the positive kernel errno on failure, -1 for a failure that carried none."""

    seq: int
    layer: Layer
    name: str
    device: str = ""
    phase: str = ""
    parent: int | None = None
    args: dict[str, int] = dataclasses.field(default_factory=dict)
    errno: int = 0
    group: int | None = None
    t_start_ps: int | None = None
    t_end_ps: int | None = None
    cycles: int | None = None

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layer"] = str(self.layer)
        return {k: v for k, v in d.items() if v is not None and v != {}}

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str = "trace") -> TraceRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise TraceFormatError(f"{where}: unknown field(s) {sorted(unknown)}")
        try:
            rec = cls(**{**d, "layer": Layer(d["layer"])})
        except (KeyError, TypeError, ValueError) as e:
            raise TraceFormatError(f"{where}: {e}") from None
        check_name(rec.layer, rec.name, where)
        check_args(rec.args, where)
        return rec


class TraceFormatError(ValueError):
    """A trace file or record is malformed; the message names where."""


def check_name(layer: Layer, name: str, where: str) -> None:
    """A ``fw`` record must name one of :data:`FW_KINDS`, or no profile could price it."""
    if layer is Layer.FW and name not in FW_KINDS:
        raise TraceFormatError(f"{where}: unknown fw work {name!r} (known: {sorted(FW_KINDS)})")


def check_args(args: dict[str, int], where: str) -> None:
    """Refuse a cost-driver key that is not in :data:`ARG_KEYS` or a value that is not an int."""
    for k, v in args.items():
        if k not in ARG_KEYS:
            raise TraceFormatError(f"{where}: unknown argument {k!r} (known: {sorted(ARG_KEYS)})")
        if not isinstance(v, int) or isinstance(v, bool):
            raise TraceFormatError(f"{where}: argument {k!r} must be an integer, not {v!r}")


class Trace:
    """An append-only list of records with the current device, phase and nesting.

    ``clock`` returns the current simulation time in picoseconds; leave it ``None`` on the
    reference device. Work is opened with :meth:`begin` and closed with :meth:`end` (or used as
    :meth:`span`), and a record opened while another is open becomes its child. Flows run one
    device at a time, so one stack is enough; a caller that interleaves devices passes
    ``parent`` explicitly.
    """

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self.records: list[TraceRecord] = []
        self.clock = clock
        self.device = ""
        self.phase = ""
        self._open: list[TraceRecord] = []
        self._next_group = 0

    def _now(self) -> int | None:
        return self.clock() if self.clock is not None else None

    def begin(self, layer: Layer, name: str, *, parent: int | None = None,
              group: int | None = None, **args: int) -> TraceRecord:
        check_name(Layer(layer), name, f"{layer}:{name}")
        check_args(args, f"{layer}:{name}")
        if parent is None and self._open:
            parent = self._open[-1].seq
        rec = TraceRecord(len(self.records), Layer(layer), name, self.device, self.phase, parent,
                          dict(args), group=group, t_start_ps=self._now())
        self.records.append(rec)
        self._open.append(rec)
        return rec

    def end(self, rec: TraceRecord, errno: int = 0, cycles: int | None = None) -> None:
        rec.errno = errno
        rec.t_end_ps = self._now()
        if cycles is not None:
            rec.cycles = cycles
        with contextlib.suppress(ValueError):
            self._open.remove(rec)

    def add(self, layer: Layer, name: str, *, group: int | None = None, errno: int = 0,
            cycles: int | None = None, **args: int) -> TraceRecord:
        """A record of work that is complete when it is recorded (no children)."""
        rec = self.begin(layer, name, group=group, **args)
        self.end(rec, errno, cycles)
        return rec

    @contextlib.contextmanager
    def span(self, layer: Layer, name: str, **args: int) -> Iterator[TraceRecord]:
        """Open a record for the body; an exception carrying ``errno`` is recorded as it."""
        rec = self.begin(layer, name, **args)
        try:
            yield rec
        except BaseException as e:
            self.end(rec, int(getattr(e, "errno", 0) or 0) or -1)
            raise
        self.end(rec, rec.errno)

    @contextlib.contextmanager
    def in_phase(self, phase: str, device: str | None = None) -> Iterator[None]:
        """Label every record opened in the body with ``phase`` (and ``device``)."""
        saved = self.phase, self.device
        self.phase = phase
        if device is not None:
            self.device = device
        try:
            yield
        finally:
            self.phase, self.device = saved

    def new_group(self) -> int:
        """A fresh id for work submitted together (one parallel round)."""
        self._next_group += 1
        return self._next_group

    # -- files --------------------------------------------------------------------------------
    def write_jsonl(self, path: Path | str) -> None:
        write_jsonl(self.records, path)


def write_jsonl(records: Iterable[TraceRecord], path: Path | str) -> None:
    """Write ``records`` as JSON lines, a header line first."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w") as f:
        f.write(json.dumps({"vdpa_dv_trace": TRACE_FORMAT}) + "\n")
        for r in records:
            f.write(json.dumps(r.to_json(), separators=(",", ":")) + "\n")


def read_jsonl(path: Path | str) -> list[TraceRecord]:
    """Read a trace written by :func:`write_jsonl`; errors name the file and line."""
    p = Path(path)
    out: list[TraceRecord] = []
    with p.open() as f:
        for n, line in enumerate(f, 1):
            where = f"{p}:{n}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise TraceFormatError(f"{where}: not JSON ({e.msg})") from None
            if n == 1:
                if d != {"vdpa_dv_trace": TRACE_FORMAT}:
                    raise TraceFormatError(f"{where}: not a vdpa-dv trace of format {TRACE_FORMAT}")
                continue
            out.append(TraceRecord.from_json(d, where))
    return out
