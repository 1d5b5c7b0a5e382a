# SPDX-License-Identifier: MIT
"""Run a device under test in lockstep with the reference device and compare every effect.

:class:`Lockstep` is itself a device (``VdpaOps`` + ``DeviceHarness``): every op goes to the
reference and to the DUT, and the return values or errnos must match. Guest memory is mirrored
(:class:`MirroredMemory`): the guest driver writes both copies, each device DMAs into its own,
and after every :meth:`Lockstep.settle` the two memories, the transmitted frames and the
faults must be identical. A mismatch raises :class:`Divergence` naming the op and both answers,
so the first difference stops the run where it happened.

This is the scoreboard of the design brief ("same ops, same guest memory, same packets → same
effects, same errors"), kept simulator-free so a cocotb test bench and a plain pytest use it alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from .errors import VdpaError
from .memory import GuestMemory
from .ops import DeviceFault, DeviceHarness, IotlbRange, IovaRange, TxPacket, VdpaOps, VqState

T = TypeVar("T")


class Divergence(AssertionError):
    """The device under test and the reference device disagreed."""


class MirroredMemory(GuestMemory):
    """Guest memory seen by the guest driver: writes go to both copies, reads come from the DUT's.

    Reading the DUT's copy means the guest reacts to what the device under test really wrote;
    the reference copy is compared against it at each settle point.
    """

    def __init__(self, dut: GuestMemory, ref: GuestMemory) -> None:
        super().__init__(size=dut.size)
        self.dut = dut
        self.ref = ref

    @property
    def allocated_bytes(self) -> int:
        return self.dut.allocated_bytes

    def read(self, addr: int, length: int) -> bytes:
        return self.dut.read(addr, length)

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        self.dut.write(addr, data)
        self.ref.write(addr, data)

    def fill(self, addr: int, length: int, value: int) -> None:
        self.dut.fill(addr, length, value)
        self.ref.fill(addr, length, value)

    def unpack(self, fmt: Any, addr: int) -> tuple[int, ...]:
        return self.dut.unpack(fmt, addr)

    def pack(self, fmt: Any, addr: int, *values: int) -> None:
        self.dut.pack(fmt, addr, *values)
        self.ref.pack(fmt, addr, *values)

    def snapshot(self) -> dict[int, bytes]:
        return self.dut.snapshot()


def memory_differences(a: GuestMemory, b: GuestMemory, limit: int = 4) -> list[str]:
    """Byte ranges where two memories differ (never-written chunks read as zero)."""
    sa, sb = a.snapshot(), b.snapshot()
    out: list[str] = []
    for base in sorted(set(sa) | set(sb)):
        ca = sa.get(base)
        cb = sb.get(base)
        size = len(ca if ca is not None else cb)  # type: ignore[arg-type]
        ca = ca if ca is not None else bytes(size)
        cb = cb if cb is not None else bytes(size)
        if ca == cb:
            continue
        first = next(i for i in range(size) if ca[i] != cb[i])
        last = next(i for i in range(size - 1, -1, -1) if ca[i] != cb[i])
        out.append(f"[{base + first:#x}, {base + last:#x}]: dut {ca[first:first + 8].hex()} "
                   f"ref {cb[first:first + 8].hex()}")
        if len(out) >= limit:
            break
    return out


class Lockstep(VdpaOps, DeviceHarness):
    """The device under test and the reference device, driven together and compared."""

    def __init__(self, dut: Any, ref: Any, dut_mem: GuestMemory, ref_mem: GuestMemory) -> None:
        self.dut = dut
        self.ref = ref
        self.dut_mem = dut_mem
        self.ref_mem = ref_mem
        self.nvqs, self.ngroups, self.nas = ref.nvqs, ref.ngroups, ref.nas
        for name in ("nvqs", "ngroups", "nas"):
            if getattr(dut, name) != getattr(ref, name):
                raise Divergence(f"{name}: dut {getattr(dut, name)}, ref {getattr(ref, name)}")
        self.ops_compared = 0
        self.settles_compared = 0
        self._tx: list[TxPacket] = []
        self._faults: list[DeviceFault] = []

    def has_op(self, name: str) -> bool:
        return bool(self.ref.has_op(name))

    async def _both(self, op: str, call: Callable[[Any], Awaitable[T]]) -> T:
        """Call ``op`` on both devices; same result or same errno, else :class:`Divergence`."""
        results: list[tuple[str, Any]] = []
        for dev in (self.ref, self.dut):
            try:
                results.append(("ok", await call(dev)))
            except VdpaError as e:
                results.append(("err", e))
        (rk, rv), (dk, dv) = results
        self.ops_compared += 1
        if rk == "err" and dk == "err":
            if rv.errno != dv.errno:
                raise Divergence(f"{op}: ref failed with {rv}, dut with {dv}")
            raise rv
        if rk != dk or (rk == "ok" and rv != dv):
            raise Divergence(f"{op}: ref {_outcome(rk, rv)}, dut {_outcome(dk, dv)}")
        return rv  # type: ignore[no-any-return]

    # -- VdpaOps ------------------------------------------------------------------------------
    async def set_vq_address(self, idx: int, desc_area: int, driver_area: int,
                             device_area: int) -> None:
        await self._both("set_vq_address",
                         lambda d: d.set_vq_address(idx, desc_area, driver_area, device_area))

    async def set_vq_num(self, idx: int, num: int) -> None:
        await self._both("set_vq_num", lambda d: d.set_vq_num(idx, num))

    async def kick_vq(self, idx: int) -> None:
        await self._both("kick_vq", lambda d: d.kick_vq(idx))

    async def set_vq_ready(self, idx: int, ready: bool) -> None:
        await self._both("set_vq_ready", lambda d: d.set_vq_ready(idx, ready))

    async def get_vq_ready(self, idx: int) -> bool:
        return await self._both("get_vq_ready", lambda d: d.get_vq_ready(idx))

    async def set_vq_state(self, idx: int, state: VqState) -> None:
        await self._both("set_vq_state", lambda d: d.set_vq_state(idx, state))

    async def get_vq_state(self, idx: int) -> VqState:
        return await self._both("get_vq_state", lambda d: d.get_vq_state(idx))

    async def get_vq_num_max(self) -> int:
        return await self._both("get_vq_num_max", lambda d: d.get_vq_num_max())

    async def get_vq_size(self, idx: int) -> int:
        return await self._both("get_vq_size", lambda d: d.get_vq_size(idx))

    async def get_vq_group(self, idx: int) -> int:
        return await self._both("get_vq_group", lambda d: d.get_vq_group(idx))

    async def get_vq_desc_group(self, idx: int) -> int:
        return await self._both("get_vq_desc_group", lambda d: d.get_vq_desc_group(idx))

    async def set_group_asid(self, group: int, asid: int) -> None:
        await self._both("set_group_asid", lambda d: d.set_group_asid(group, asid))

    async def get_device_features(self) -> int:
        return await self._both("get_device_features", lambda d: d.get_device_features())

    async def get_backend_features(self) -> int:
        return await self._both("get_backend_features", lambda d: d.get_backend_features())

    async def set_driver_features(self, features: int) -> None:
        await self._both("set_driver_features", lambda d: d.set_driver_features(features))

    async def get_driver_features(self) -> int:
        return await self._both("get_driver_features", lambda d: d.get_driver_features())

    async def get_status(self) -> int:
        return await self._both("get_status", lambda d: d.get_status())

    async def set_status(self, status: int) -> None:
        await self._both("set_status", lambda d: d.set_status(status))

    async def get_generation(self) -> int:
        return await self._both("get_generation", lambda d: d.get_generation())

    async def get_device_id(self) -> int:
        return await self._both("get_device_id", lambda d: d.get_device_id())

    async def get_config(self, offset: int, length: int) -> bytes:
        return await self._both("get_config", lambda d: d.get_config(offset, length))

    async def set_config(self, offset: int, data: bytes) -> None:
        await self._both("set_config", lambda d: d.set_config(offset, data))

    async def get_config_size(self) -> int:
        return await self._both("get_config_size", lambda d: d.get_config_size())

    async def get_iova_range(self) -> IovaRange:
        return await self._both("get_iova_range", lambda d: d.get_iova_range())

    async def reset(self) -> None:
        await self._both("reset", lambda d: d.reset())

    async def compat_reset(self, flags: int) -> None:
        await self._both("compat_reset", lambda d: d.compat_reset(flags))

    async def suspend(self) -> None:
        await self._both("suspend", lambda d: d.suspend())

    async def resume(self) -> None:
        await self._both("resume", lambda d: d.resume())

    async def set_map(self, asid: int, iotlb: Sequence[IotlbRange]) -> None:
        await self._both("set_map", lambda d: d.set_map(asid, iotlb))

    async def dma_map(self, asid: int, iova: int, size: int, pa: int, perm: int) -> None:
        await self._both("dma_map", lambda d: d.dma_map(asid, iova, size, pa, perm))

    async def dma_unmap(self, asid: int, iova: int, size: int) -> None:
        await self._both("dma_unmap", lambda d: d.dma_unmap(asid, iova, size))

    async def reset_map(self, asid: int) -> None:
        await self._both("reset_map", lambda d: d.reset_map(asid))

    # -- DeviceHarness ------------------------------------------------------------------------
    async def settle(self) -> None:
        """Let both run dry, then compare memory, frames on the wire and faults."""
        await self.ref.settle()
        await self.dut.settle()
        self.settles_compared += 1
        diff = memory_differences(self.dut_mem, self.ref_mem)
        if diff:
            raise Divergence("guest memory differs after settle: " + "; ".join(diff))
        ref_tx, dut_tx = self.ref.take_tx(), self.dut.take_tx()
        if _tx_key(ref_tx) != _tx_key(dut_tx):
            raise Divergence(f"transmitted frames differ: ref {_tx_summary(ref_tx)}, "
                             f"dut {_tx_summary(dut_tx)}")
        self._tx.extend(dut_tx)
        ref_f, dut_f = self.ref.take_faults(), self.dut.take_faults()
        if _fault_key(ref_f) != _fault_key(dut_f):
            raise Divergence(f"faults differ: ref {ref_f}, dut {dut_f}")
        self._faults.extend(dut_f)

    async def inject_rx(self, vq: int, frame: bytes) -> None:
        await self.ref.inject_rx(vq, frame)
        await self.dut.inject_rx(vq, frame)

    def take_tx(self) -> list[TxPacket]:
        out, self._tx = self._tx, []
        return out

    def take_faults(self) -> list[DeviceFault]:
        out, self._faults = self._faults, []
        return out


def _tx_key(pkts: list[TxPacket]) -> dict[int, list[bytes]]:
    """Frames per transmit queue, in order: queues may interleave differently on the wire, but
    each queue's frames must leave in ring order (virtio 1.2 §5.1.6.2)."""
    per_queue: dict[int, list[bytes]] = {}
    for p in pkts:
        per_queue.setdefault(p.vq, []).append(p.header + p.data)
    return per_queue


def _outcome(kind: str, value: object) -> str:
    return f"returned {value!r}" if kind == "ok" else f"raised {value}"


def _tx_summary(pkts: list[TxPacket]) -> str:
    return f"{len(pkts)} frames " + ", ".join(f"vq{p.vq}:{len(p.data)}B" for p in pkts[:6])


def _fault_key(faults: list[DeviceFault]) -> list[tuple[int, int, int | None, int | None, bool | None]]:
    """Faults compared on what the contract fixes (VQ, errno, ASID, IOVA, direction), not text."""
    return sorted((f.vq, f.errno, f.asid, f.iova, f.write) for f in faults)
