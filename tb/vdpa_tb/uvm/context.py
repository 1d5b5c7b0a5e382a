# SPDX-License-Identifier: MIT
"""The device stack the agent drives, and how one item is executed on it.

``VhostVdpa -> OpRecorder -> ContractShadow -> Lockstep(DUT, ReferenceDevice)``: vhost-vdpa
applies the ioctl-layer rules, the recorder notes every VdpaOps call and its outcome (for
coverage), the shadow keeps an independent record of the mappings and bindings in force (for
the isolation check), and the lockstep runs every call on both devices and compares results,
guest memory, frames and faults at each settle point.

:class:`DeviceContext` is device-neutral; :class:`RtlNicContext` plugs in vdpa_nic_top through
the existing :class:`vdpa_tb.nic_tb.Tb` (all signal-level work stays there). A vendor
subclasses :class:`DeviceContext` and implements :meth:`DeviceContext.open_dut` for its own
parent driver; sequences, scoreboard and coverage are unchanged.
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
from vdpa_model.memory import Allocator, GuestMemory
from vdpa_model.ops import VqObjectState
from vdpa_model.options import DeviceOptions
from vdpa_model.shadow import ContractShadow
from vdpa_model.vhost import VhostVdpa

from ..devices import DeviceConfig
from ..hostmem import describe
from .coverage import errno_name
from .items import OpItem, RingFaultItem, TrafficItem, VdpaItem

# guest RAM the sequences map: 2 MiB at GPA 1 MiB, as in the plain cocotb tests
RAM_BASE = 0x10_0000
RAM_SIZE = 0x20_0000

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
        self.items_run = 0
        #: vhost-vdpa opened, and (asid, iova) ranges the sequences mapped, per device life
        self.opened = False
        self.mapped: set[tuple[int, int]] = set()
        #: isolation findings so far, and how much of the access log was already judged
        self.iso_violations: list[str] = []
        self._iso_mark = 0
        #: completed items, driver -> monitor (a cocotb queue, like TinyALU's BFM queues)
        self.completed: Any = cocotb.queue.Queue()

    # -- to implement per device ---------------------------------------------------------------
    async def open_dut(self) -> tuple[Any, GuestMemory, AccessLog, int]:
        """Start the device; return (parent driver, its guest memory, its DMA access log with
        VQ/ASID/kind per access, bitmask of ASIDs that are identity-mapped at power-on)."""
        raise NotImplementedError

    def dut_vq_state(self, idx: int) -> VqObjectState | None:
        """The DUT's own object state of VQ ``idx`` if it exposes one (checked against the
        reference); None when unknown."""
        return None

    async def dut_vq_states(self, idxs: list[int]) -> dict[int, VqObjectState]:
        return {}

    def bus_violations(self) -> list[str]:
        """DMA the bus-level checker refused (outside every mapping in force)."""
        return []

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
        self.shadow = ContractShadow(self.lock, ids)
        self.ops = OpRecorder(self.shadow, self.op_sink)
        self.v = VhostVdpa(self.ops, user_memory=dut_mem.size)
        self.mem = MirroredMemory(dut_mem, ref_mem)
        self.alloc = Allocator(RAM_BASE, RAM_BASE + RAM_SIZE)
        #: RAM and the windows the ring catalogue needs around it (read-only, split, unmapped)
        self.layout = ringcases.RingLayout(RAM_BASE, RAM_SIZE, dut_mem.size)
        self.device_features = dut.device_features

    def new_net(self, queue_pairs: int, queue_size: int, features: int) -> GuestNetDriver:
        """A fresh guest driver (new rings from guest RAM), as after a guest driver reload."""
        self.net = GuestNetDriver(self.mem, self.alloc, queue_pairs=queue_pairs,
                                  queue_size=queue_size, features=features)
        self.held = {}
        return self.net

    def judge_isolation(self) -> list[str]:
        """Judge the DMA since the last call against the shadow's record *now*: the bindings
        and maps change with resets and set_group_asid, so the log is judged item by item,
        never at the end against the final state."""
        bad = self.shadow.violations(self.access_log.entries(self._iso_mark))
        self._iso_mark = len(self.access_log)
        self.iso_violations += bad
        return bad

    def isolation_violations(self) -> list[str]:
        self.judge_isolation()
        return self.iso_violations

    def ref_states(self) -> tuple[str, ...]:
        return tuple(vq.state.name for vq in self.ref.vqs)

    # -- execution -------------------------------------------------------------------------
    async def execute(self, item: VdpaItem) -> None:
        """Run ``item``; every failure becomes the item's outcome, never an exception, so the
        monitor still publishes it and the scoreboard reports it in check_phase."""
        if self.broken:
            item.outcome, item.detail = "SKIPPED", f"after: {self.broken}"
            return
        self.op_sink.clear()
        before = self.ref_states()
        self.judge_isolation()  # anything between items belongs to the state before this one
        try:
            if isinstance(item, OpItem):
                await self._op(item)
            elif isinstance(item, TrafficItem):
                await self._traffic(item)
            elif isinstance(item, RingFaultItem):
                await self._ring_fault(item)
            else:
                raise TypeError(f"unknown item {type(item).__name__}")
        except Divergence as e:
            item.outcome, item.detail = "DIVERGENCE", str(e)
            self.broken = f"#{item.uid} {e}"
        except AssertionError as e:  # a bus-level checker (watchdog, DMA check) fired
            item.outcome, item.detail = "ERROR", str(e)
            self.broken = f"#{item.uid} {e}"
        item.ops = list(self.op_sink)
        bad = self.judge_isolation()
        if bad:
            item.problems.append(f"{len(bad)} DMA access(es) broke isolation, first: {bad[0]}")
        item.vq_states = self.ref_states()
        self.items_run += 1
        changed = [i for i, (a, b) in enumerate(zip(before, item.vq_states, strict=True))
                   if a != b]
        if changed and not self.broken:
            # the DUT's object state must follow the reference wherever the reference moved:
            # INIT is also met as NONE (the RTL creates objects only at DRIVER_OK)
            for idx, st in (await self.dut_vq_states(changed)).items():
                want = item.vq_states[idx]
                if st.name != want and not (want == "INIT" and st is VqObjectState.NONE):
                    item.problems.append(f"vq {idx}: dut object state {st.name}, ref {want}")

    async def _op(self, item: OpItem) -> None:
        if item.layer == "vhost":
            target: Any = self.v
            if item.call == "set_status" and item.args == (0,):
                item.meta["reset_kind"] = "persist" if self.v._reset_flags() == 0 else "clean_map"
        else:
            target = self.ops
            if item.call in ("reset", "compat_reset"):
                clean = item.call == "compat_reset" and item.args[0] & spec.VDPA_RESET_F_CLEAN_MAP
                item.meta["reset_kind"] = "clean_map" if clean else "persist"
        if "reset_kind" in item.meta:
            # the data rings' group (2) binding in force when the reset happens
            item.meta["rings_asid"] = self.shadow.group2asid[2]
        try:
            item.result = await getattr(target, item.call)(*item.args)
            item.outcome = "ok"
        except VdpaError as e:
            item.outcome, item.detail = errno_name(e.errno), str(e)
        if item.call == "set_features" and item.outcome == "ok":
            item.meta["features"] = item.args[0]
        if item.expect is not None and item.outcome != item.expect:
            item.problems.append(f"expected {item.expect}, got {item.outcome} {item.detail}")
        if item.expect_value is not None and item.result != item.expect_value:
            item.problems.append(f"returned {item.result!r}, expected {item.expect_value!r}")

    async def _traffic(self, item: TrafficItem) -> None:
        net = self.net
        assert net is not None, "traffic before bring-up"
        post = {"split_header": item.layout == "split", "indirect": item.layout == "indirect"}
        frames = item.frames()
        qp = item.qp
        if item.direction == "rx":
            net.post_rx(qp, len(frames), 2048, kick=False, **post)
            await self._kick(net.rx_vq(qp))
            for f in frames:
                await self.lock.inject_rx(net.rx_index(qp), f)
            await self.lock.settle()
            got = net.reap_rx(qp)
            item.delivered = [len(f) for f in got]
            if got != frames:
                item.problems.append(f"received {len(got)} frames, not the {len(frames)} offered")
        elif item.direction in ("tx", "tx_held"):
            n_dma = len(self.access_log)
            used = net.tx_vq(qp).used_idx
            for f in frames:
                net.send(qp, f, kick=False, **post)
            await self._kick(net.tx_vq(qp))
            await self.lock.settle()
            out = [p for p in self.lock.take_tx()]
            if item.direction == "tx_held":
                # suspended: no descriptor consumed, no frame out, no DMA at all
                self.held.setdefault(qp, []).extend(frames)
                if out or net.tx_vq(qp).used_idx != used or len(self.access_log) != n_dma:
                    item.problems.append(f"work done while suspended: {len(out)} frames, "
                                         f"{len(self.access_log) - n_dma} DMA accesses")
            else:
                net.reap_tx(qp)
                item.delivered = [len(p.data) for p in out]
                if [p.data for p in out] != frames or any(p.header != bytes(net.hdr_len)
                                                           for p in out):
                    item.problems.append(f"transmitted {len(out)} frames, not the "
                                         f"{len(frames)} sent")
        elif item.direction == "tx_drain":
            await self.lock.settle()
            out = self.lock.take_tx()
            want = self.held.pop(qp, [])
            net.reap_tx(qp)
            item.delivered = [len(p.data) for p in out]
            item.sizes = tuple(len(f) for f in want)
            if [p.data for p in out] != want:
                item.problems.append(f"after resume {len(out)} frames left, {len(want)} held")
        else:
            raise ValueError(f"unknown direction {item.direction}")
        item.outcome = "MISMATCH" if item.problems else "ok"

    async def _kick(self, vq: Any) -> None:
        vq.publish()
        if vq.kick_needed():
            await self.v.kick(vq.index)

    async def _ring_fault(self, item: RingFaultItem) -> None:
        """Post catalogue entry ``item.kind`` on queue pair 0 (vdpa_model.ringcases), kick, offer
        a frame to a receive queue, settle; then the catalogue's answer for the reference's
        parent: one fault with its errno and site and NEEDS_RESET, or a normal completion."""
        net = self.net
        assert net is not None, "ring fault before bring-up"
        case = ringcases.case(item.kind)
        q = net.tx_vq(0) if case.queue == "tx" else net.rx_vq(0)
        expect = await case.build(ringcases.RingBench(self.mem, self.alloc, self.v, self.layout,
                                                      net.hdr_len), q)
        q.publish()
        await self.v.kick(q.index)  # unconditionally: some entries publish nothing new
        if case.queue == "rx":
            await self.lock.inject_rx(q.index, ringcases.PROBE_FRAME)
        await self.lock.settle()
        faults = self.lock.take_faults()
        got = [(f.vq, errno_name(f.errno)) for f in faults]
        item.meta["faults"] = got
        want = case.expected_errno(self.ref.options.parent)
        item.expect = "ok" if want is None else errno_name(want)
        if want is None:
            item.outcome = "ok" if not got else f"{len(got)} faults"
            if got:
                item.problems.append(f"faults {got}, expected none")
            if case.queue == "tx":
                q.reap()
                if [p.data for p in self.lock.take_tx()] != [ringcases.TX_PAYLOAD]:
                    item.problems.append("the accepted chain was not transmitted")
            return
        item.outcome = got[0][1] if len(got) == 1 else f"{len(got)} faults"
        if got != [(q.index, item.expect)]:
            item.problems.append(f"faults {got}, expected [({q.index}, {item.expect})]")
        elif expect.site is not None:
            s, f = expect.site, faults[0]
            if (f.asid, f.iova, f.write) != (s.asid, s.iova, s.write):
                item.problems.append(f"fault site asid {f.asid} iova {f.iova} write {f.write}, "
                                     f"expected asid {s.asid} iova {s.iova:#x} write {s.write}")
        status = await self.ops.get_status()
        if not status & spec.VIRTIO_CONFIG_S_NEEDS_RESET:
            item.problems.append("no NEEDS_RESET after a ring error")


class RtlNicContext(DeviceContext):
    """vdpa_nic_top through the existing Tb (clock, reset, AXI models), with the parent driver
    class its device file names."""

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
