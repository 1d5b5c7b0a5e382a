# SPDX-License-Identifier: MIT
"""The device stack the agent drives, the guest around it, and the state sequences ask about.

``VhostVdpa -> OpRecorder -> ContractShadow -> Lockstep(DUT, ReferenceDevice)``: vhost-vdpa
applies the ioctl-layer rules, the recorder notes every VdpaOps call and its outcome (for
coverage), the shadow keeps an independent record of the mappings and bindings in force (for
the isolation check), and the lockstep runs every call on both devices and compares results,
guest memory, frames and faults at each settle point. How each item runs on it is
:mod:`vdpa_tb.uvm.execute`.

:class:`DeviceContext` is device-neutral; :class:`RtlNicContext` plugs in vdpa_nic_top through
the existing :class:`vdpa_tb.nic_tb.Tb` (all signal-level work stays there). A device file
(vdpa_tb.devices) names the context class of its device; a vendor subclasses
:class:`DeviceContext` and implements :meth:`DeviceContext.open_dut` (and, for the hostile
sequences, :meth:`~DeviceContext.idle`, :meth:`~DeviceContext.poison_dut` and
:meth:`~DeviceContext.set_stalls`); sequences, scoreboard and coverage are unchanged.
"""

from __future__ import annotations

from typing import Any

import cocotb.queue

from vdpa_model import ringcases, spec
from vdpa_model.device import ReferenceDevice
from vdpa_model.dma import AccessLog
from vdpa_model.errors import VdpaError
from vdpa_model.forward import ForwardingOps, OpCall
from vdpa_model.guest import GuestNetDriver
from vdpa_model.lockstep import Divergence, Lockstep, MirroredMemory
from vdpa_model.memory import Allocator, GuestMemory, MiB
from vdpa_model.ops import IotlbRange, VqObjectState
from vdpa_model.options import DeviceOptions
from vdpa_model.shadow import ContractShadow
from vdpa_model.vhost import VhostVdpa

from ..devices import DeviceConfig
from ..hostmem import describe
from .coverage import errno_name
from .items import VdpaItem

# guest RAM the sequences map: 2 MiB at GPA 1 MiB, as in the plain cocotb tests
RAM_BASE = 0x10_0000
RAM_SIZE = 0x20_0000
#: the top of RAM holds what a bus error poisons: never handed out again (a poisoned range
#: stays poisoned for the rest of the test)
POISON_POOL = 0x4_0000
#: IOVA windows the churn and race sequences map and unmap: WINDOW_SLOTS slots, each
#: WINDOW_SIZE bytes at IOVA WINDOW_IOVA + slot * WINDOW_STRIDE, backed by guest memory at
#: WINDOW_PA + slot * WINDOW_SIZE (outside RAM, so IOVA and PA differ)
WINDOW_IOVA = 0x4000_0000
WINDOW_STRIDE = 0x10_0000
WINDOW_PA = 8 * MiB
WINDOW_SIZE = 0x4000
WINDOW_SLOTS = 4


class OpRecorder(ForwardingOps):
    """VdpaOps proxy that appends (op, outcome) of every call to ``sink``: the forwarding
    base's hook sees each op once, whatever its name."""

    def __init__(self, inner: Any, sink: list[tuple[str, str]]) -> None:
        super().__init__(inner)
        self.sink = sink

    async def _through(self, name: str, args: tuple[Any, ...], call: OpCall) -> Any:
        try:
            out = await call(self.inner)
        except VdpaError as e:
            self.sink.append((name, errno_name(e.errno)))
            raise
        except Divergence:
            self.sink.append((name, "DIVERGENCE"))
            raise
        self.sink.append((name, "ok"))
        return out


def window(slot: int) -> IotlbRange:
    """The mapping of window ``slot`` (read/write)."""
    if not 0 <= slot < WINDOW_SLOTS:
        raise ValueError(f"window slot {slot} not in 0..{WINDOW_SLOTS - 1}")
    return IotlbRange(WINDOW_IOVA + slot * WINDOW_STRIDE, WINDOW_SIZE,
                      WINDOW_PA + slot * WINDOW_SIZE, spec.VHOST_ACCESS_RW)


class DeviceContext:
    """Guest memory, guest driver, device stack and the checks' raw data for one test. A
    subclass is constructed as ``cls(dut, device)``: the simulator's top handle and the
    device file (vdpa_tb.devices.DeviceConfig) of the run."""

    def __init__(self) -> None:
        self.log = None  # set by open_dut implementations that have a logger
        self.op_sink: list[tuple[str, str]] = []
        self.broken: str | None = None
        self.net: GuestNetDriver | None = None
        self.held: dict[int, list[bytes]] = {}
        #: work posted and kicked but not settled, per VQ index: (frames, used index at post)
        self.inflight: dict[int, tuple[list[bytes], int]] = {}
        #: (VQ, errno) faults a race in flight may end in (TX from a window an unmap can win)
        self.race_faults: set[tuple[int, int]] = set()
        #: a reset won a race: what was in flight and not done is gone, on every queue
        self.reset_cut = False
        #: the bus stalls in force (idle, backpressure)
        self.stalls = (False, False)
        self.items_run = 0
        #: vhost-vdpa opened once per device life
        self.opened = False
        #: how many of the shadow's isolation findings were already handed to an item
        self._iso_mark = 0
        #: completed items, driver -> monitor (a cocotb queue, like TinyALU's BFM queues)
        self.completed: Any = cocotb.queue.Queue()

    # -- to implement per device ---------------------------------------------------------------
    async def open_dut(self) -> tuple[Any, GuestMemory, AccessLog, int]:
        """Start the device; return (parent driver, its guest memory, its DMA access log with
        VQ/ASID/kind per access, bitmask of ASIDs that are identity-mapped at power-on)."""
        raise NotImplementedError

    async def dut_vq_states(self, idxs: list[int]) -> dict[int, VqObjectState]:
        """The DUT's own object states of VQs ``idxs`` where it exposes them (checked against
        the reference); {} when unknown."""
        return {}

    def bus_violations(self) -> list[str]:
        """DMA the bus-level checker refused (outside every mapping in force)."""
        return []

    async def idle(self, cycles: int) -> None:
        """Let the DUT run ``cycles`` clock cycles with nothing new from the bench (a race's
        delay). A device without a clock of its own may leave it empty."""

    #: whether :meth:`poison_dut` is implemented (the bus-error sequence needs it)
    can_poison = False
    #: whether :meth:`set_stalls` is implemented (the stall sequence needs it)
    can_stall = False

    def poison_dut(self, lo: int, hi: int) -> None:
        """Make host-physical ``[lo, hi)`` answer the DUT's accesses with a bus error."""
        raise NotImplementedError(f"{type(self).__name__} cannot make host memory fail")

    def set_stalls(self, idle: bool, backpressure: bool) -> None:
        """Hold off the valids the bench sources (``idle``) and the readies it sinks
        (``backpressure``) on a repeating pattern, or stop doing so."""
        raise NotImplementedError(f"{type(self).__name__} cannot stall its buses")

    # -- common ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the DUT and build the reference device like it: its data queue pairs (nvqs
        less the control VQ), its largest queue size and its feature bits."""
        dut, dut_mem, access_log, identity_mask = await self.open_dut()
        self.dut = dut
        self.access_log = access_log
        ref_mem = GuestMemory(dut_mem.size)
        #: data queue pairs of the device (its VQs less the control VQ, virtio 1.2 §5.1.2)
        self.max_qps = (dut.nvqs - 1) // 2
        opts = DeviceOptions(queue_pairs=self.max_qps, max_queue_size=await dut.get_vq_num_max(),
                             device_features=dut.device_features, incremental_map=True)
        self.ref = ReferenceDevice(ref_mem, opts)
        self.lock = Lockstep(dut, self.ref, dut_mem, ref_mem)
        ids = frozenset(a for a in range(self.lock.nas) if identity_mask >> a & 1)
        # given the log, the shadow judges the DUT's DMA by time: what came before an op that
        # changes the contract against the contract before it, what came while the op ran
        # (the DUT works all through it, a raced op most of all) against before or after it
        self.shadow = ContractShadow(self.lock, ids, access_log)
        self.ops = OpRecorder(self.shadow, self.op_sink)
        self.v = VhostVdpa(self.ops, user_memory=dut_mem.size)
        self.mem = MirroredMemory(dut_mem, ref_mem)
        self.poison_alloc = Allocator(RAM_BASE + RAM_SIZE - POISON_POOL, RAM_BASE + RAM_SIZE)
        self.alloc = self._ring_allocator()
        #: RAM and the windows the ring catalogue needs around it (read-only, split, unmapped)
        self.layout = ringcases.RingLayout(RAM_BASE, RAM_SIZE, dut_mem.size)
        self.device_features = dut.device_features

    def _ring_allocator(self) -> Allocator:
        return Allocator(RAM_BASE, RAM_BASE + RAM_SIZE - POISON_POOL)

    def new_net(self, queue_pairs: int, queue_size: int, features: int) -> GuestNetDriver:
        """A fresh guest driver (new rings from guest RAM), as after a guest driver reload. The
        device was reset before (bring-up does so), so the previous rings and buffers are
        dead and their memory is handed out again: a device that still touched them would
        show up in the lockstep's memory comparison."""
        self.alloc = self._ring_allocator()
        self.net = GuestNetDriver(self.mem, self.alloc, queue_pairs=queue_pairs,
                                  queue_size=queue_size, features=features)
        self.held = {}
        self.inflight = {}
        self.race_faults = set()
        self.reset_cut = False
        return self.net

    def poison(self, lo: int, hi: int) -> None:
        """Host-physical ``[lo, hi)`` answers DMA with an error, in the DUT's host and in the
        reference alike (vdpa_model.device.ReferenceDevice.poison)."""
        self.poison_dut(lo, hi)
        self.ref.poison(lo, hi)

    def device_state(self) -> str:
        """The device state an item meets (vdpa_tb.uvm.coverage.DEVICE_STATES), from the status
        and the suspend flag both devices agree on (the lockstep compares get_status)."""
        st = self.ref.status
        if st & spec.VIRTIO_CONFIG_S_NEEDS_RESET:
            return "needs_reset"
        if st == 0:
            return "stopped"
        if not st & spec.VIRTIO_CONFIG_S_DRIVER_OK:
            return "configuring"
        return "suspended" if self.ref.suspended else "running"

    def mapped(self, asid: int, r: IotlbRange) -> bool:
        """Whether the contract (the shadow's record of the ops the device accepted) has
        exactly ``r`` mapped in ``asid``."""
        space = self.shadow.spaces[asid]
        return not space.passthrough and r in space.ranges()

    def judge_isolation(self) -> list[str]:
        """Every isolation violation found since the last call: the shadow judges what was
        logged before each op that changes the contract as that op starts, what was logged
        while it ran against the contract before or after it, and the rest now. The bindings
        and maps change with resets, set_group_asid and maps, so the log is judged item by
        item, never at the end against the final state."""
        self.shadow.judge()
        bad = self.shadow.found[self._iso_mark:]
        self._iso_mark = len(self.shadow.found)
        return bad

    def isolation_violations(self) -> list[str]:
        self.shadow.judge()
        return list(self.shadow.found)

    def ref_states(self) -> tuple[str, ...]:
        return tuple(vq.state.name for vq in self.ref.vqs)

    async def execute(self, item: VdpaItem) -> None:
        """Run ``item`` (vdpa_tb.uvm.execute); every failure becomes the item's outcome, never
        an exception, so the monitor still publishes it and the scoreboard reports it."""
        from .execute import execute

        await execute(self, item)


class RtlNicContext(DeviceContext):
    """vdpa_nic_top through the existing Tb (clock, reset, AXI models), with the parent driver
    class its device file names."""

    can_poison = True
    can_stall = True

    def __init__(self, dut: Any, device: DeviceConfig | None = None) -> None:
        super().__init__()
        from vdpa_tb.nic_tb import Tb

        self.tb = Tb(dut)
        if device is not None:
            self.tb.parent_cls = device.parent_class()
        self.log = self.tb.log

    async def open_dut(self) -> tuple[Any, GuestMemory, AccessLog, int]:
        log = AccessLog()
        self.tb.target.access_log = log
        drv = await self.tb.start()
        return drv, self.tb.mem, log, drv.identity_mask

    async def dut_vq_states(self, idxs: list[int]) -> dict[int, VqObjectState]:
        out = {}
        for i in idxs:
            if self.dut._is_hw(i):
                out[i] = VqObjectState((await self.dut.query_vq(i))["state"])
        return out

    def bus_violations(self) -> list[str]:
        self.tb.target.drain()
        return [describe(v) for v in self.tb.target.violations]

    async def idle(self, cycles: int) -> None:
        if cycles:
            await self.tb.cycles(cycles)

    def poison_dut(self, lo: int, hi: int) -> None:
        self.tb.target.poison(lo, hi)

    def set_stalls(self, idle: bool, backpressure: bool) -> None:
        from vdpa_tb.nic_tb import STALL_PATTERN

        self.tb.set_idle_generator(STALL_PATTERN if idle else None)
        self.tb.set_backpressure_generator(STALL_PATTERN if backpressure else None)
