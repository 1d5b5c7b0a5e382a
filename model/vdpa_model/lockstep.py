# SPDX-License-Identifier: MIT
"""Run a device under test in lockstep with the reference device and compare every effect.

:class:`Lockstep` is itself a device (a :class:`~vdpa_model.forward.ForwardingOps`): every op
goes to the reference and to the DUT, and the return values or errnos must match. Guest memory is mirrored
(:class:`MirroredMemory`): the guest driver writes both copies, each device DMAs into its own,
and after every :meth:`Lockstep.settle` the two memories, the transmitted frames and the
faults must be identical. A mismatch raises :class:`Divergence` naming the op and both answers,
so the first difference stops the run where it happened.

This is the scoreboard of the design brief ("same ops, same guest memory, same packets → same
effects, same errors"), kept simulator-free so a cocotb test bench and a plain pytest use it alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .errors import VdpaError
from .forward import ForwardingOps, OpCall
from .memory import GuestMemory
from .ops import DeviceFault, TxPacket

#: brings the reference device to where the DUT is (Lockstep.dut_first)
CatchUp = Callable[[], Awaitable[None]]


class Divergence(AssertionError):
    """The device under test and the reference device disagreed.

    A divergence found at a settle point carries what each device reported there
    (``dut_faults``, ``ref_faults``, ``dut_tx``, ``ref_tx``), so a test that expects a known
    divergence can check the DUT's side of it; the message names every effect that differed.
    """

    def __init__(self, message: str, *, dut_faults: list[DeviceFault] | None = None,
                 ref_faults: list[DeviceFault] | None = None,
                 dut_tx: list[TxPacket] | None = None,
                 ref_tx: list[TxPacket] | None = None) -> None:
        super().__init__(message)
        self.dut_faults = dut_faults or []
        self.ref_faults = ref_faults or []
        self.dut_tx = dut_tx or []
        self.ref_tx = ref_tx or []


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


class Lockstep(ForwardingOps):
    """The device under test and the reference device, driven together and compared.

    Every op reaches :meth:`_through` (the forwarding base's hook) and runs on both devices;
    ``has_op`` and the device constants are the reference's.
    """

    def __init__(self, dut: Any, ref: Any, dut_mem: GuestMemory, ref_mem: GuestMemory) -> None:
        super().__init__(ref)
        self.dut = dut
        self.ref = ref
        self.dut_mem = dut_mem
        self.ref_mem = ref_mem
        for name in ("nvqs", "ngroups", "nas"):
            if getattr(dut, name) != getattr(ref, name):
                raise Divergence(f"{name}: dut {getattr(dut, name)}, ref {getattr(ref, name)}")
        self.ops_compared = 0
        self.settles_compared = 0
        self.races = 0
        self._tx: list[TxPacket] = []
        self._faults: list[DeviceFault] = []
        self._dut_first: tuple[str, CatchUp] | None = None

    def dut_first(self, op: str, catch_up: CatchUp) -> None:
        """Let the next ``op`` race the traffic in flight.

        A hardware device works between ops; the reference device works only at settle points.
        An op issued while work is in flight (kicked, not settled: a suspend storm, an unmap
        under traffic) is therefore run on the DUT first; ``catch_up()`` then brings the
        reference to where the DUT was when the op took effect (it completes the chains the
        DUT completed, as the guest can read them from the used rings: the promises the
        contract makes about that moment, such as a vring base after suspend, are checked
        against it); then the reference runs the op and both results must agree as usual."""
        self._dut_first = (op, catch_up)

    def cancel_dut_first(self) -> bool:
        """Drop a :meth:`dut_first` the next ops did not use (the op never reached the parent,
        e.g. a suspend vhost-vdpa answers itself before DRIVER_OK); True if one was pending."""
        pending, self._dut_first = self._dut_first is not None, None
        return pending

    async def _through(self, name: str, args: tuple[Any, ...], call: OpCall) -> Any:
        """Call ``name`` on both devices; same result or same errno, else :class:`Divergence`."""
        self._forget_rx_evicted()
        results: list[tuple[str, Any]] = []
        order: tuple[Any, ...] = (self.ref, self.dut)
        catch_up = None
        if self._dut_first is not None and self._dut_first[0] == name:
            catch_up = self._dut_first[1]
            self._dut_first = None
            self.races += 1
            order = (self.dut, self.ref)
        for dev in order:
            try:
                results.append(("ok", await call(dev)))
            except VdpaError as e:
                results.append(("err", e))
            if dev is self.dut and catch_up is not None:
                self._forget_rx_evicted()
                await catch_up()
        if catch_up is not None:
            results.reverse()
        (rk, rv), (dk, dv) = results
        self.ops_compared += 1
        if rk == "err" and dk == "err":
            if rv.errno != dv.errno:
                raise Divergence(f"{name}: ref failed with {rv}, dut with {dv}")
            raise rv
        if rk != dk or (rk == "ok" and rv != dv):
            raise Divergence(f"{name}: ref {_outcome(rk, rv)}, dut {_outcome(dk, dv)}")
        return rv

    # -- DeviceHarness ------------------------------------------------------------------------
    def _forget_rx_evicted(self) -> None:
        """Tell the reference which received frames the DUT dropped to make room
        (DeviceHarness.take_rx_evicted), before the reference serves its receive queues or
        runs an op (a reset drops what it holds): such a frame must be one the reference
        has not delivered."""
        for vq, arrival in self.dut.take_rx_evicted():
            if not self.ref.rx_evicted(vq, arrival):
                raise Divergence(f"the dut dropped received frame #{arrival} of vq {vq} to make "
                                 f"room, a frame the reference delivered or never had there")

    async def settle(self) -> None:
        """Let both run dry, then compare memory, frames on the wire and faults. Every effect
        is taken from both devices before anything is judged, so a :class:`Divergence` names
        all that differed and hands over what each device reported. The DUT runs dry first:
        the received frames it dropped to make room are marked dropped in the reference before
        the reference serves its queues."""
        await self.dut.settle()
        self._forget_rx_evicted()
        await self.ref.settle()
        self.settles_compared += 1
        ref_tx, dut_tx = self.ref.take_tx(), self.dut.take_tx()
        ref_f, dut_f = self.ref.take_faults(), self.dut.take_faults()
        problems = []
        diff = memory_differences(self.dut_mem, self.ref_mem)
        if diff:
            problems.append("guest memory differs after settle: " + "; ".join(diff))
        if _tx_key(ref_tx) != _tx_key(dut_tx):
            problems.append(f"transmitted frames differ: ref {_tx_summary(ref_tx)}, "
                            f"dut {_tx_summary(dut_tx)}")
        if _fault_key(ref_f) != _fault_key(dut_f):
            problems.append(f"faults differ: ref {ref_f}, dut {dut_f}")
        if problems:
            raise Divergence("; ".join(problems), dut_faults=dut_f, ref_faults=ref_f,
                             dut_tx=dut_tx, ref_tx=ref_tx)
        self._tx.extend(dut_tx)
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
