# SPDX-License-Identifier: MIT
"""vhost-vdpa, the character device between QEMU and a parent: drivers/vhost/vdpa.c in Python.

:class:`VhostVdpa` takes the ioctls and IOTLB messages userspace sends and turns them into
:class:`vdpa_model.ops.VdpaOps` calls on any implementation, with the checks vhost-vdpa and the
vhost core make first. Keeping these checks here, once, means the reference device and a device
under test are both called exactly as the kernel would call them, and a parent is scored only
on what a parent decides.

Method names follow the ioctls (``VHOST_VDPA_SUSPEND`` → :meth:`suspend`) so flows read like
QEMU's hw/virtio/vhost-vdpa.c. Errors are :class:`vdpa_model.errors.VdpaError`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from .errors import VdpaError, fail
from .hostmem import FRAGMENTED, Backing
from .iotlb import U64_MAX, Iotlb
from .ops import IotlbRange, IovaRange, VdpaOps, VqState
from .spec import (
    HOST_PAGE_SIZE,
    U16_MASK,
    VDPA_RESET_F_CLEAN_MAP,
    VHOST_BACKEND_F_DESC_ASID,
    VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK,
    VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK,
    VHOST_BACKEND_F_IOTLB_ASID,
    VHOST_BACKEND_F_IOTLB_BATCH,
    VHOST_BACKEND_F_IOTLB_MSG_V2,
    VHOST_BACKEND_F_IOTLB_PERSIST,
    VHOST_BACKEND_F_RESUME,
    VHOST_BACKEND_F_SUSPEND,
    VHOST_IOTLB_BATCH_BEGIN,
    VHOST_IOTLB_BATCH_END,
    VHOST_IOTLB_INVALIDATE,
    VHOST_IOTLB_MSG,
    VHOST_IOTLB_MSG_V2,
    VHOST_IOTLB_UPDATE,
    VHOST_MSG_V2_STRUCT,
    VHOST_PIN_BATCH_PAGES,
    VHOST_VRING_NUM_LIMIT,
    VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FEATURES_OK,
    bit,
)
from .trace import Layer, Trace
from .tracing import recorded

#: VHOST_VRING_F_LOG, the only flag SET_VRING_ADDR accepts (drivers/vhost/vhost.c).
VHOST_VRING_F_LOG = 0

#: Backend features vhost-vdpa always offers (vhost_vdpa_unlocked_ioctl GET_BACKEND_FEATURES).
ALWAYS_OFFERED = (bit(VHOST_BACKEND_F_IOTLB_MSG_V2) | bit(VHOST_BACKEND_F_IOTLB_BATCH)
                  | bit(VHOST_BACKEND_F_IOTLB_ASID))


_RUNNING = "DRIVER_OK is set and the device is not suspended"

#: Runs of an unbatched UPDATE the model maps one set_map at a time (see
#: VhostVdpa._set_map_per_run); QEMU's unbatched maps are rings and buffers of a few pages.
MAX_UNBATCHED_RUNS = 1 << 12


class UnbatchedMapTooLarge(ValueError):
    """An UPDATE outside a batch with more runs than the model walks; names the range."""

_P = ParamSpec("_P")
_R = TypeVar("_R")
_Method = Callable[Concatenate[Any, _P], Coroutine[Any, Any, _R]]


def ioctl(name: str | Callable[..., str],
          summary: Callable[..., dict[str, int]] | None = None
          ) -> Callable[[_Method[_P, _R]], _Method[_P, _R]]:
    """Mark a :class:`VhostVdpa` method as one ioctl (or IOTLB message): with a trace attached
    it becomes one ``ioctl`` record (``name``, or ``name(*args)`` when it depends on them, with
    the cost drivers ``summary(*args)``) around the parent ops it makes. Without a trace the
    only cost is one attribute test."""
    def deco(fn: _Method[_P, _R]) -> _Method[_P, _R]:
        async def traced(self: Any, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            trace = self.trace
            if trace is None:
                return await fn(self, *args, **kwargs)
            label = name if isinstance(name, str) else name(*args, **kwargs)
            return await recorded(trace, Layer.IOCTL, label,
                                  summary(*args, **kwargs) if summary else {},
                                  lambda: fn(self, *args, **kwargs))
        return cast(_Method[_P, _R], functools.wraps(fn)(traced))
    return deco


def _vq(idx: int, *_: Any) -> dict[str, int]:
    return {"vq": idx}


_IOTLB_NAMES = {VHOST_IOTLB_UPDATE: "VHOST_IOTLB_UPDATE", VHOST_IOTLB_INVALIDATE: "VHOST_IOTLB_INVALIDATE",
                VHOST_IOTLB_BATCH_BEGIN: "VHOST_IOTLB_BATCH_BEGIN",
                VHOST_IOTLB_BATCH_END: "VHOST_IOTLB_BATCH_END"}


def _iotlb_name(asid: int, msg_type: int, *_: Any, **__: Any) -> str:
    return _IOTLB_NAMES.get(msg_type, f"VHOST_IOTLB_TYPE_{msg_type}")


def _iotlb_summary(asid: int, msg_type: int, iova: int = 0, size: int = 0, *_: Any,
                   **__: Any) -> dict[str, int]:
    out = {"asid": asid, "flags": msg_type}
    if msg_type in (VHOST_IOTLB_UPDATE, VHOST_IOTLB_INVALIDATE):
        out.update(ranges=1, bytes=size)
    return out


@dataclasses.dataclass(slots=True)
class VhostVq:
    """The vhost core's own copy of a VQ (struct vhost_virtqueue), which can disagree with the
    device after a refused SET_VRING_ADDR/BASE (vdpa-semantics.md §6 item 3)."""

    num: int = 0
    desc: int = 0
    avail: int = 0
    used: int = 0
    last_avail_idx: int = 0


@dataclasses.dataclass(frozen=True)
class VhostOptions:
    """Behaviour of the kernel version being modelled."""

    #: SET_VRING_NUM also refused above the get_vq_num_max cached at reset (2026 tree).
    check_vq_num_max: bool = True
    #: SET_GROUP_ASID refused with -EBUSY after DRIVER_OK unless
    #: VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK was acked (2026 tree).
    group_asid_busy_after_driver_ok: bool = True


class VhostVdpa:
    """One open vhost-vdpa file descriptor on ``ops``."""

    def __init__(self, ops: VdpaOps, options: VhostOptions | None = None,
                 trace: Trace | None = None, backing: Backing | None = None, *,
                 user_memory: int | None = None) -> None:
        self.ops = ops
        self.options = options or VhostOptions()
        #: Where ioctl and host records go (None: nothing is recorded, nothing is paid).
        self.trace = trace
        #: Host memory by address (folios and runs, :mod:`vdpa_model.hostmem`) for the pin
        #: records; 4 KiB pages, each its own run, if None.
        self.backing = backing or FRAGMENTED
        #: Bytes of the owner's address space that pin_user_pages can pin, from userspace
        #: address 0 (the model takes an UPDATE's uaddr as the guest-physical address, so this
        #: is the guest RAM size). None: every uaddr pins.
        self.user_memory = user_memory
        self.vqs = [VhostVq() for _ in range(ops.nvqs)]
        self.acked_backend = 0
        self.suspended = False
        #: vhost-vdpa's own table per allocated AS (struct vhost_vdpa_as), keyed by ASID.
        self.as_tables: dict[int, Iotlb] = {}
        self.in_batch = False
        self.batch_asid = 0
        self.vq_num_max = 0
        #: Parent calls made on behalf of userspace, for tests and for the timing model.
        self.set_map_calls = 0
        self._iova_range: IovaRange | None = None

    # -- helpers ----------------------------------------------------------------------------
    def _vq_index(self, idx: int, op: str) -> VhostVq:
        """vhost_vdpa_vring_ioctl prologue: an index >= nvqs is -ENOBUFS before anything else."""
        if not 0 <= idx < self.ops.nvqs:
            raise fail(errno.ENOBUFS, op, f"vq index {idx} >= nvqs {self.ops.nvqs}")
        return self.vqs[idx]

    def acked(self, feature_bit: int) -> bool:
        return bool(self.acked_backend & bit(feature_bit))

    async def _driver_ok(self) -> bool:
        return bool(await self.ops.get_status() & VIRTIO_CONFIG_S_DRIVER_OK)

    # -- open / release ---------------------------------------------------------------------
    @ioctl("open")
    async def open(self) -> None:
        """vhost_vdpa_open: reset with flags 0, cache the VQ size limit. The IOVA range the
        kernel reads at probe (vhost_vdpa_set_iova_range) is read here, once."""
        await self._reset(0)
        await self._cached_iova_range()

    @ioctl("release")
    async def release(self) -> None:
        """vhost_vdpa_release → vhost_vdpa_cleanup → vhost_vdpa_remove_as for every AS: reset,
        unmap each entry, then reset_map (vdpa-semantics.md §3.5 'close(fd)')."""
        await self._reset(self._reset_flags())
        for asid in sorted(self.as_tables):
            table = self.as_tables.pop(asid)
            if self.ops.has_op("dma_map"):
                for r in table.ranges():
                    await self.ops.dma_unmap(asid, r.iova, r.size)
            if self.ops.has_op("reset_map"):
                await self.ops.reset_map(asid)

    # -- features ---------------------------------------------------------------------------
    @ioctl("VHOST_GET_FEATURES")
    async def get_features(self) -> int:
        return await self.ops.get_device_features()

    @ioctl("VHOST_SET_FEATURES")
    async def set_features(self, features: int) -> None:
        """vhost_vdpa_set_features: -EBUSY once FEATURES_OK is set; parent failure is -EINVAL."""
        if await self.ops.get_status() & VIRTIO_CONFIG_S_FEATURES_OK:
            raise fail(errno.EBUSY, "VHOST_SET_FEATURES", "FEATURES_OK is already set")
        try:
            await self.ops.set_driver_features(features)
        except VdpaError as e:
            raise fail(errno.EINVAL, "VHOST_SET_FEATURES", e.reason) from e

    @ioctl("VHOST_GET_BACKEND_FEATURES")
    async def get_backend_features(self) -> int:
        """VHOST_GET_BACKEND_FEATURES: MSG_V2|BATCH|ASID always, the rest by parent ability."""
        out = ALWAYS_OFFERED
        if self.ops.has_op("suspend"):
            out |= bit(VHOST_BACKEND_F_SUSPEND)
        if self.ops.has_op("resume"):
            out |= bit(VHOST_BACKEND_F_RESUME)
        if self.ops.has_op("get_vq_desc_group"):
            out |= bit(VHOST_BACKEND_F_DESC_ASID)
        parent = await self.ops.get_backend_features()
        if self._has_persistent_map(parent):
            out |= bit(VHOST_BACKEND_F_IOTLB_PERSIST)
        return out | parent

    def _has_persistent_map(self, parent_features: int) -> bool:
        """vhost_vdpa_has_persistent_map: no DMA ops at all, a reset_map op, or the parent offers
        IOTLB_PERSIST itself."""
        has_dma = self.ops.has_op("set_map") or self.ops.has_op("dma_map")
        return (not has_dma or self.ops.has_op("reset_map")
                or bool(parent_features & bit(VHOST_BACKEND_F_IOTLB_PERSIST)))

    @ioctl("VHOST_SET_BACKEND_FEATURES")
    async def set_backend_features(self, features: int) -> None:
        """VHOST_SET_BACKEND_FEATURES with drivers/vhost/vdpa.c's checks in its order: a bit outside
        the known set -EOPNOTSUPP; SUSPEND/RESUME without the op -EOPNOTSUPP; DESC_ASID without
        IOTLB_ASID -EINVAL *before* its -EOPNOTSUPP for a parent without get_vq_desc_group;
        GROUP_ASID_AFTER_DRIVER_OK likewise -EINVAL then -EOPNOTSUPP if the parent does not offer
        it; IOTLB_PERSIST without a persistent map -EOPNOTSUPP. ENABLE_AFTER_DRIVER_OK is known
        but never checked against the parent (advisory; vdpa-semantics.md §2 bit 6, §6 item 21)."""
        op = "VHOST_SET_BACKEND_FEATURES"
        known = (ALWAYS_OFFERED | bit(VHOST_BACKEND_F_DESC_ASID) | bit(VHOST_BACKEND_F_IOTLB_PERSIST)
                 | bit(VHOST_BACKEND_F_SUSPEND) | bit(VHOST_BACKEND_F_RESUME)
                 | bit(VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK)
                 | bit(VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK))
        if features & ~known:
            raise fail(errno.EOPNOTSUPP, op, f"unknown bits {features & ~known:#x}")

        def acks(n: int) -> bool:
            return bool(features & bit(n))

        for n, name in ((VHOST_BACKEND_F_SUSPEND, "suspend"), (VHOST_BACKEND_F_RESUME, "resume")):
            if acks(n) and not self.ops.has_op(name):
                raise fail(errno.EOPNOTSUPP, op, f"parent has no {name}")
        parent = await self.ops.get_backend_features()
        for n, name, offered in (
                (VHOST_BACKEND_F_DESC_ASID, "DESC_ASID", self.ops.has_op("get_vq_desc_group")),
                (VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK, "GROUP_ASID_AFTER_DRIVER_OK",
                 bool(parent & bit(VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)))):
            if acks(n) and not acks(VHOST_BACKEND_F_IOTLB_ASID):
                raise fail(errno.EINVAL, op, f"{name} requires IOTLB_ASID")
            if acks(n) and not offered:
                raise fail(errno.EOPNOTSUPP, op, f"{name} is not offered by the parent")
        if acks(VHOST_BACKEND_F_IOTLB_PERSIST) and not self._has_persistent_map(parent):
            raise fail(errno.EOPNOTSUPP, op, "parent cannot keep maps across reset")
        self.acked_backend = features

    # -- status and reset -------------------------------------------------------------------
    @ioctl("VHOST_VDPA_GET_STATUS")
    async def get_status(self) -> int:
        return await self.ops.get_status()

    @ioctl("VHOST_SET_OWNER")
    async def set_owner(self) -> None:
        """vhost_dev_set_owner: binds the fd to the caller's mm; no parent op."""

    @ioctl("VHOST_VDPA_GET_DEVICE_ID")
    async def get_device_id(self) -> int:
        return await self.ops.get_device_id()

    @ioctl("VHOST_VDPA_GET_CONFIG", lambda offset, length: {"bytes": length})
    async def get_config(self, offset: int, length: int) -> bytes:
        """vhost_vdpa_get_config: bounds against get_config_size (-EINVAL), then get_config."""
        size = await self.ops.get_config_size()
        if offset < 0 or length < 0 or offset + length > size:
            raise fail(errno.EINVAL, "VHOST_VDPA_GET_CONFIG",
                       f"[{offset}, +{length}) outside config space of {size} bytes")
        return await self.ops.get_config(offset, length)

    @ioctl("VHOST_VDPA_GET_IOVA_RANGE")
    async def get_iova_range(self) -> IovaRange:
        """The range the kernel read from the parent at probe (vhost_vdpa_set_iova_range) and
        checks every UPDATE against; read once, then kept."""
        return await self._cached_iova_range()

    async def _cached_iova_range(self) -> IovaRange:
        if self._iova_range is None:
            self._iova_range = await self.ops.get_iova_range()
        return self._iova_range

    @ioctl("VHOST_VDPA_GET_VRING_NUM")
    async def get_vring_num(self) -> int:
        """VHOST_VDPA_GET_VRING_NUM: the parent's get_vq_num_max."""
        return await self.ops.get_vq_num_max()

    def _reset_flags(self) -> int:
        """_compat_vdpa_reset: CLEAN_MAP unless userspace acked IOTLB_PERSIST."""
        return 0 if self.acked(VHOST_BACKEND_F_IOTLB_PERSIST) else VDPA_RESET_F_CLEAN_MAP

    async def _reset(self, flags: int) -> None:
        """include/linux/vdpa.h: vdpa_reset: compat_reset(flags) if the parent has it and flags
        are non-zero, else reset() (§6 item 14)."""
        if flags and self.ops.has_op("compat_reset"):
            await self.ops.compat_reset(flags)
        else:
            await self.ops.reset()
        self.suspended = False
        self.vq_num_max = await self.ops.get_vq_num_max()

    @ioctl("VHOST_VDPA_SET_STATUS", lambda status: {"status": status})
    async def set_status(self, status: int) -> None:
        """vhost_vdpa_set_status: 0 resets; a non-zero value that clears a set bit is -EINVAL.
        Clearing DRIVER_OK first drops every VQ's interrupt bypass, setting it registers them
        (vhost_vdpa_unsetup_vq_irq, vhost_vdpa_setup_vq_irq): ``host`` records."""
        old = await self.ops.get_status()
        if status and old & ~status:
            raise fail(errno.EINVAL, "VHOST_VDPA_SET_STATUS",
                       f"status {status:#x} clears bits {old & ~status:#x} of {old:#x}")
        if old & VIRTIO_CONFIG_S_DRIVER_OK and not status & VIRTIO_CONFIG_S_DRIVER_OK:
            self._host("irq_bypass", vqs=self.ops.nvqs, flags=0)
        if status == 0:
            await self._reset(self._reset_flags())
            return
        await self.ops.set_status(status)
        if status & VIRTIO_CONFIG_S_DRIVER_OK and not old & VIRTIO_CONFIG_S_DRIVER_OK:
            self._host("irq_bypass", vqs=self.ops.nvqs, flags=1)

    def _host(self, name: str, **args: int) -> None:
        """A ``host`` record of kernel work with no parent op behind it (only with a trace)."""
        if self.trace is not None:
            self.trace.add(Layer.HOST, name, **args)

    # -- virtqueues -------------------------------------------------------------------------
    @ioctl("VHOST_SET_VRING_NUM", lambda idx, num: {"vq": idx, "qsize": num})
    async def set_vring_num(self, idx: int, num: int) -> None:
        """vhost_vring_set_num: nonzero power of two <= 0xffff; (2026) <= get_vq_num_max."""
        vq = self._vq_index(idx, "VHOST_SET_VRING_NUM")
        if not num or num > VHOST_VRING_NUM_LIMIT or num & (num - 1):
            raise fail(errno.EINVAL, "VHOST_SET_VRING_NUM", f"size {num} is not a power of two in 1..65535")
        if self.options.check_vq_num_max and self.vq_num_max and num > self.vq_num_max:
            raise fail(errno.EINVAL, "VHOST_SET_VRING_NUM", f"size {num} > vq_num_max {self.vq_num_max}")
        vq.num = num
        await self.ops.set_vq_num(idx, num)

    @ioctl("VHOST_SET_VRING_ADDR", _vq)
    async def set_vring_addr(self, idx: int, desc: int, avail: int, used: int,
                             flags: int = 0) -> None:
        """vhost_vring_set_addr then vhost_vdpa_vring_ioctl: flags, alignment (avail 2, used 4;
        desc unchecked), then -EINVAL in DRIVER_OK unless suspended. The core's copy is already
        updated when vhost-vdpa refuses (vdpa-semantics.md §6 item 3)."""
        vq = self._vq_index(idx, "VHOST_SET_VRING_ADDR")
        if flags & ~(1 << VHOST_VRING_F_LOG):
            raise fail(errno.EOPNOTSUPP, "VHOST_SET_VRING_ADDR", f"flags {flags:#x}")
        if avail & 1 or used & 3:
            raise fail(errno.EINVAL, "VHOST_SET_VRING_ADDR",
                       f"avail {avail:#x} must be 2-aligned and used {used:#x} 4-aligned")
        vq.desc, vq.avail, vq.used = desc, avail, used
        if await self._driver_ok() and not self.suspended:
            raise fail(errno.EINVAL, "VHOST_SET_VRING_ADDR", _RUNNING)
        try:
            await self.ops.set_vq_address(idx, desc, avail, used)
        except VdpaError as e:  # vhost_vdpa_vring_ioctl: any set_vq_address failure is -EINVAL
            raise fail(errno.EINVAL, "VHOST_SET_VRING_ADDR", str(e)) from e

    @ioctl("VHOST_SET_VRING_BASE", _vq)
    async def set_vring_base(self, idx: int, num: int) -> None:
        """VHOST_SET_VRING_BASE: split values > 0xffff -EINVAL (vhost core), then -EINVAL in
        DRIVER_OK unless suspended, then set_vq_state."""
        vq = self._vq_index(idx, "VHOST_SET_VRING_BASE")
        if not 0 <= num <= U16_MASK:
            raise fail(errno.EINVAL, "VHOST_SET_VRING_BASE", f"base {num} exceeds u16")
        vq.last_avail_idx = num
        if await self._driver_ok() and not self.suspended:
            raise fail(errno.EINVAL, "VHOST_SET_VRING_BASE", _RUNNING)
        await self.ops.set_vq_state(idx, VqState(num))

    @ioctl("VHOST_GET_VRING_BASE", _vq)
    async def get_vring_base(self, idx: int) -> int:
        """VHOST_GET_VRING_BASE: get_vq_state into the core's last_avail_idx, returned."""
        vq = self._vq_index(idx, "VHOST_GET_VRING_BASE")
        vq.last_avail_idx = (await self.ops.get_vq_state(idx)).avail_index
        return vq.last_avail_idx

    @ioctl("VHOST_VDPA_SET_VRING_ENABLE", lambda idx, enable: {"vq": idx, "flags": int(enable)})
    async def set_vring_enable(self, idx: int, enable: bool) -> None:
        """VHOST_VDPA_SET_VRING_ENABLE: set_vq_ready, with no DRIVER_OK check (T8 not merged)."""
        self._vq_index(idx, "VHOST_VDPA_SET_VRING_ENABLE")
        await self.ops.set_vq_ready(idx, enable)

    @ioctl("eventfd_kick", _vq)
    async def kick(self, idx: int) -> None:
        """A write to the VQ's kick eventfd, which vhost polls and forwards as kick_vq
        (drivers/vhost/vdpa.c: handle_vq_kick). A guest with a doorbell page mapped rings the
        device without the kernel; the model routes both here."""
        await self.ops.kick_vq(idx)

    @ioctl("VHOST_SET_VRING_KICK", _vq)
    async def set_vring_kick(self, idx: int) -> None:
        """VHOST_SET_VRING_KICK: vhost_vring_ioctl binds the eventfd vhost polls; no parent op."""
        self._vq_index(idx, "VHOST_SET_VRING_KICK")

    @ioctl("VHOST_SET_VRING_CALL", _vq)
    async def set_vring_call(self, idx: int, enabled: bool = True) -> None:
        """VHOST_SET_VRING_CALL: vhost_vdpa_vring_ioctl installs the callback with set_vq_cb
        (skipped for a parent that models no interrupts)."""
        self._vq_index(idx, "VHOST_SET_VRING_CALL")
        if self.ops.has_op("set_vq_cb"):
            await self.ops.set_vq_cb(idx, enabled)

    @ioctl("VHOST_VDPA_GET_VRING_GROUP", _vq)
    async def get_vring_group(self, idx: int) -> int:
        self._vq_index(idx, "VHOST_VDPA_GET_VRING_GROUP")
        group = await self.ops.get_vq_group(idx)
        if group >= self.ops.ngroups:
            raise fail(errno.EIO, "VHOST_VDPA_GET_VRING_GROUP", f"parent answered group {group}")
        return group

    @ioctl("VHOST_VDPA_GET_VRING_DESC_GROUP", _vq)
    async def get_vring_desc_group(self, idx: int) -> int:
        """Needs DESC_ASID acked and the op (vhost_vdpa_has_desc_group)."""
        self._vq_index(idx, "VHOST_VDPA_GET_VRING_DESC_GROUP")
        if not (self.acked(VHOST_BACKEND_F_DESC_ASID) and self.ops.has_op("get_vq_desc_group")):
            raise fail(errno.EOPNOTSUPP, "VHOST_VDPA_GET_VRING_DESC_GROUP", "DESC_ASID not acked or no op")
        group = await self.ops.get_vq_desc_group(idx)
        if group >= self.ops.ngroups:
            raise fail(errno.EIO, "VHOST_VDPA_GET_VRING_DESC_GROUP", f"parent answered group {group}")
        return group

    @ioctl("VHOST_VDPA_SET_GROUP_ASID", lambda group, asid: {"group": group, "asid": asid})
    async def set_group_asid(self, group: int, asid: int) -> None:
        """VHOST_VDPA_SET_GROUP_ASID: the index is a group but goes through the per-vq prologue
        (-ENOBUFS at >= nvqs, §6 item 2); then group/asid bounds -EINVAL (T2); then -EBUSY after
        DRIVER_OK without GROUP_ASID_AFTER_DRIVER_OK (2026 tree)."""
        self._vq_index(group, "VHOST_VDPA_SET_GROUP_ASID")
        if group >= self.ops.ngroups:
            raise fail(errno.EINVAL, "VHOST_VDPA_SET_GROUP_ASID",
                       f"group {group} >= ngroups {self.ops.ngroups}")
        if not 0 <= asid < self.ops.nas:
            raise fail(errno.EINVAL, "VHOST_VDPA_SET_GROUP_ASID", f"asid {asid} >= nas {self.ops.nas}")
        if (self.options.group_asid_busy_after_driver_ok and await self._driver_ok()
                and not self.acked(VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)):
            raise fail(errno.EBUSY, "VHOST_VDPA_SET_GROUP_ASID", "DRIVER_OK is set")
        await self.ops.set_group_asid(group, asid)

    # -- suspend / resume -------------------------------------------------------------------
    @ioctl("VHOST_VDPA_SUSPEND")
    async def suspend(self) -> None:
        """vhost_vdpa_suspend: 0 without calling the parent when DRIVER_OK is clear (§6 item 4)."""
        if not await self._driver_ok():
            return
        if not self.ops.has_op("suspend"):
            raise fail(errno.EOPNOTSUPP, "VHOST_VDPA_SUSPEND", "parent has no suspend")
        await self.ops.suspend()
        self.suspended = True

    @ioctl("VHOST_VDPA_RESUME")
    async def resume(self) -> None:
        """vhost_vdpa_resume: same shortcut; clears ``suspended`` on success."""
        if not await self._driver_ok():
            return
        if not self.ops.has_op("resume"):
            raise fail(errno.EOPNOTSUPP, "VHOST_VDPA_RESUME", "parent has no resume")
        await self.ops.resume()
        self.suspended = False

    # -- IOTLB messages ---------------------------------------------------------------------
    @ioctl(_iotlb_name, _iotlb_summary)
    async def process_iotlb_msg(self, asid: int, msg_type: int, iova: int = 0, size: int = 0,
                                uaddr: int = 0, perm: int = 0) -> None:
        """vhost_vdpa_process_iotlb_msg with the kernel's internal errno (write() turns every one
        into -EFAULT; see :meth:`write_iotlb`). ``uaddr`` is taken as the guest-physical address
        the pages pin to, one contiguous chunk."""
        op = "vhost_vdpa_process_iotlb_msg"
        if not self.acked(VHOST_BACKEND_F_IOTLB_ASID):
            asid = 0  # vhost_chr_write_iter ignores the field without IOTLB_ASID
        if msg_type in (VHOST_IOTLB_UPDATE, VHOST_IOTLB_BATCH_BEGIN):
            if not 0 <= asid < self.ops.nas:
                raise fail(errno.EINVAL, op, f"asid {asid} >= nas {self.ops.nas}")
            table = self.as_tables.setdefault(asid, Iotlb())  # vhost_vdpa_find_alloc_as
        else:
            found = self.as_tables.get(asid)
            if found is None:
                raise fail(errno.EINVAL, op, f"asid {asid} was never allocated by an UPDATE or BATCH_BEGIN")
            table = found
        if self.in_batch and asid != self.batch_asid:
            raise fail(errno.EINVAL, op, f"asid {asid} differs from open batch asid {self.batch_asid}")
        if msg_type == VHOST_IOTLB_UPDATE:
            await self._update(asid, table, iova, size, uaddr, perm)
        elif msg_type == VHOST_IOTLB_INVALIDATE:
            if size and iova + size - 1 <= U64_MAX:
                removed = table.del_range(iova, size)
            else:
                # vhost_vdpa_unmap works on [iova, iova + size - 1] in u64 arithmetic, and since
                # "vhost: Allow null msg.size on VHOST_IOTLB_INVALIDATE" (v6.6, Cc stable) size 0
                # reaches it: iova 0 size 0 is [0, U64_MAX], every entry. vhost_iotlb_itree_first
                # takes each entry with start <= last and last >= iova.
                last = (iova + size - 1) & U64_MAX
                removed = [r for r in table.ranges() if r.iova <= last and r.last >= iova]
                for r in removed:
                    table.del_range(r.iova, r.size)
            # vhost_vdpa_pa_unmap unpins every removed entry 4 KiB page by 4 KiB page.
            if removed:
                unpinned = sum(r.size for r in removed)
                self._host("unpin", bytes=unpinned, pages=-(-unpinned // HOST_PAGE_SIZE),
                           page_size=HOST_PAGE_SIZE, ranges=len(removed))
            # vhost_vdpa_unmap: dma_unmap per whole entry (vhost_vdpa_general_unmap), and then,
            # independently, set_map outside a batch for a parent that has it.
            if self.ops.has_op("dma_map"):
                for r in removed:
                    await self.ops.dma_unmap(asid, r.iova, r.size)
            if self.ops.has_op("set_map") and not self.in_batch:
                await self._set_map(asid, table)
        elif msg_type == VHOST_IOTLB_BATCH_BEGIN:
            self.batch_asid = asid
            self.in_batch = True
        elif msg_type == VHOST_IOTLB_BATCH_END:
            if self.in_batch and self.ops.has_op("set_map"):  # whatever else the parent has
                await self._set_map(asid, table)
            self.in_batch = False
        else:
            raise fail(errno.EINVAL, op, f"message type {msg_type}")

    async def _update(self, asid: int, table: Iotlb, iova: int, size: int, uaddr: int,
                      perm: int) -> None:
        op = "VHOST_IOTLB_UPDATE"
        if size == 0:
            raise fail(errno.EINVAL, op, "UPDATE with size 0")
        rng = await self._cached_iova_range()
        if iova < rng.first or iova + size - 1 > rng.last or iova + size - 1 < iova:
            raise fail(errno.EINVAL, op, f"[{iova:#x}, +{size:#x}) outside iova range "
                                         f"[{rng.first:#x}, {rng.last:#x}]")
        entry = IotlbRange(iova, size, uaddr, perm)
        per_run = not self.ops.has_op("dma_map") and not self.in_batch
        if per_run and self.trace is not None:
            self._check_unbatched(entry)
        table.add_range(entry, op)
        pin_err = self._pin_error(iova, size, uaddr)
        if pin_err:
            table.del_range(iova, size)
            raise fail(pin_err, op, f"uaddr [{uaddr:#x}, +{size:#x}) is not all pinnable memory "
                                    f"(owner has {self.user_memory:#x} bytes)")
        if self.trace is not None:
            # vhost_vdpa_pa_map: pin_user_pages 512 pages per call, one IOTLB entry per
            # physically contiguous run; what pinning costs depends on the folios (H1, H2), so
            # memory of two folio sizes (THP with 4 KiB fallback regions) is two records.
            for part in self.backing.folios(uaddr, size):
                self._host("pin", bytes=part.bytes, pages=part.runs, page_size=part.size,
                           calls=-(-part.bytes // (HOST_PAGE_SIZE * VHOST_PIN_BATCH_PAGES)),
                           runs=part.runs)
        try:
            if self.ops.has_op("dma_map"):
                await self.ops.dma_map(asid, iova, size, uaddr, perm)
            elif per_run:
                await self._set_map_per_run(asid, table, entry)
        except VdpaError:
            table.del_range(iova, size)  # vhost_vdpa_map unwinds its own entry on failure
            raise

    def _check_unbatched(self, entry: IotlbRange) -> None:
        runs = self.backing.runs(entry.pa, entry.size)
        if runs > MAX_UNBATCHED_RUNS:
            raise UnbatchedMapTooLarge(
                f"VHOST_IOTLB_UPDATE [{entry.iova:#x}, +{entry.size:#x}) outside a batch is {runs} "
                f"physically contiguous runs: the kernel would call set_map {runs} times "
                f"(vhost_vdpa_map), the model stops at {MAX_UNBATCHED_RUNS}; map it in a batch")

    async def _set_map_per_run(self, asid: int, table: Iotlb, entry: IotlbRange) -> None:
        """Outside a batch, vhost_vdpa_pa_map calls vhost_vdpa_map once per physically
        contiguous run, and each call hands a set_map parent the whole table as it stands: the
        first run alone, then the first two, ... (migration-sequence.md §1 item 3). The runs of
        one UPDATE are IOVA-contiguous with one permission, so the table after ``k`` runs is the
        table with a ``k``-run prefix of the entry, which is what each call gets. (A dma_map
        parent also gets one dma_map per run in the kernel; the model makes one, which only
        its op record sees.) QEMU maps guest RAM in batches; unbatched UPDATEs are rings and
        buffers of a few pages. Above :data:`MAX_UNBATCHED_RUNS` runs the intermediate tables
        are skipped, one set_map with the whole table: the device ends in the same state, and
        nothing runs between the calls; with a trace attached that would misprice the UPDATE,
        so there it is refused before anything changes (:meth:`_check_unbatched`)."""
        if self.backing.runs(entry.pa, entry.size) > MAX_UNBATCHED_RUNS:
            await self._set_map(asid, table)
            return
        others = [r for r in table.ranges() if r.iova != entry.iova]
        done = 0
        for n in self.backing.run_lengths(entry.pa, entry.size):
            prefix = IotlbRange(entry.iova, done + n, entry.pa, entry.perm)
            self.set_map_calls += 1
            try:
                await self.ops.set_map(asid, sorted([*others, prefix], key=lambda r: r.iova))
            except VdpaError:
                if done:
                    # vhost_vdpa_pa_map's error path: vhost_vdpa_unmap of what this UPDATE
                    # mapped, whose set_map gives the parent the table without it again (its
                    # own failure is not checked there)
                    self.set_map_calls += 1
                    with contextlib.suppress(VdpaError):
                        await self.ops.set_map(asid, others)
                raise
            done += n

    def _pin_error(self, iova: int, size: int, uaddr: int) -> int:
        """The errno vhost_vdpa_pa_map's pinning would fail with, or 0.

        It pins ``npages`` 4 KiB pages from ``uaddr & PAGE_MASK`` in calls of
        :data:`VHOST_PIN_BATCH_PAGES` (one page of page pointers). pin_user_pages returns an error when
        the first page of a call cannot be pinned (-EFAULT: no VMA there) and a short count when a
        later one cannot, which the caller turns into -ENOMEM after unpinning the partial batch.
        Everything pinned before is unwound, and with one contiguous chunk no parent op was
        called yet. Computed per batch boundary, not per page, so a 4 TiB UPDATE costs nothing.
        """
        if self.user_memory is None:
            return 0
        first = uaddr // HOST_PAGE_SIZE
        npages = (size + (iova & (HOST_PAGE_SIZE - 1)) + HOST_PAGE_SIZE - 1) // HOST_PAGE_SIZE
        limit = self.user_memory // HOST_PAGE_SIZE           # pages [0, limit) can be pinned
        if first + npages <= limit:
            return 0
        if first >= limit or (limit - first) % VHOST_PIN_BATCH_PAGES == 0:
            return errno.EFAULT
        return errno.ENOMEM

    async def _set_map(self, asid: int, table: Iotlb) -> None:
        self.set_map_calls += 1
        await self.ops.set_map(asid, table.ranges())

    async def write_iotlb(self, raw: bytes) -> None:
        """write() on the fd with one ``struct vhost_msg_v2`` (or v1 ``struct vhost_msg``): every
        handler error is -EFAULT (drivers/vhost/vhost.c: vhost_chr_write_iter; vdpa-semantics.md
        §6 item 8); the core's own checks (length, header type, UPDATE of size 0) are -EINVAL."""
        if len(raw) != VHOST_MSG_V2_STRUCT.size:
            raise fail(errno.EINVAL, "write",
                       f"message is {len(raw)} bytes, expected {VHOST_MSG_V2_STRUCT.size}")
        mtype, asid, iova, size, uaddr, perm, itype = VHOST_MSG_V2_STRUCT.unpack(raw)
        if mtype == VHOST_IOTLB_MSG:
            asid = 0  # struct vhost_msg: bytes 4..7 are a hole, not an asid (vhost_chr_write_iter)
        elif mtype != VHOST_IOTLB_MSG_V2:
            raise fail(errno.EINVAL, "write",
                       f"message type {mtype} is neither VHOST_IOTLB_MSG nor VHOST_IOTLB_MSG_V2")
        if itype == VHOST_IOTLB_UPDATE and size == 0:
            # vhost_chr_write_iter refuses this itself, before the handler: -EINVAL, not -EFAULT.
            raise fail(errno.EINVAL, "write", "UPDATE with size 0")
        try:
            await self.process_iotlb_msg(asid, itype, iova, size, uaddr, perm)
        except VdpaError as e:
            raise fail(errno.EFAULT, "write", str(e)) from e

    # -- convenience used by flows ------------------------------------------------------------
    async def map(self, asid: int, ranges: list[IotlbRange], batch: bool = True) -> None:
        """Map ``ranges`` into ``asid`` as QEMU does: one batch (BATCH_BEGIN ... END) if asked."""
        if batch:
            await self.process_iotlb_msg(asid, VHOST_IOTLB_BATCH_BEGIN)
        for r in ranges:
            await self.process_iotlb_msg(asid, VHOST_IOTLB_UPDATE, r.iova, r.size, r.pa, r.perm)
        if batch:
            await self.process_iotlb_msg(asid, VHOST_IOTLB_BATCH_END)
