# SPDX-License-Identifier: MIT
"""The two sets of bus models a :class:`vdpa_tb.nic_tb.Tb` can drive one device through.

Both give the testbench the same face: an AXI-Lite transport for the command port (``read``,
``write``, ``access_many``), the DMA target with its log and checks (``target``), the guest
memory (``mem``), received frames in (``inject_rx``), transmitted frames out (``take_tx``),
interrupt counts (``irq_count``), stall patterns, and ``settle`` (wait until the device and
every bus are quiet, then judge what was logged).

:class:`HdlBus` (``BUS_MODEL=hdl``, the default)
    tb/hdl/tb_nic_host.sv and the C++ host library do the cycle-level work. Python posts
    accesses and frames in bulk and wakes on two rare events: the AXI-Lite queue running dry
    (``axil_done`` toggles) and ``settled`` rising.
:class:`CocotbextBus` (``BUS_MODEL=cocotbext``)
    cocotbext-axi's models on the bare device top with a cocotb ``Clock``: every channel is
    served from Python, cycle by cycle. Slower by two orders of magnitude, kept as the
    reference the fast path is compared with (the suite runs part of itself on both).
"""

from __future__ import annotations

import abc
import itertools
import logging
from collections.abc import Sequence
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, SimTimeoutError, Timer, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import (
    AxiBus,
    AxiLiteBus,
    AxiLiteMaster,
    AxiSlave,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

from vdpa_model.memory import GuestMemory

from .hostlib import AXI_RESP, host_lib
from .hostmem import DmaTarget, DpiMemoryTarget, HostMemoryTarget, describe
from .regmap import REGMAP

#: clock period of every testbench top, ns (tb/hdl/tb_vdpa_nic_*.sv: CLK_PERIOD)
CLK_NS = 10
#: which stall channels the two kinds of pattern act on (cocotbext-axi's naming): idle holds
#: off a source's valid, backpressure a sink's ready
IDLE_CHANNELS = ("rx", "b", "r")
BACKPRESSURE_CHANNELS = ("tx", "aw", "w", "ar")


class BusError(AssertionError):
    """A bus model saw the device break the protocol, or DMA outside the mappings in force."""


class BusModels(abc.ABC):
    """The face both bus-model sets show the testbench (module docstring), with what they
    share: the DMA target and the checks made at each settle."""

    name = ""

    def __init__(self, target: DmaTarget) -> None:
        self.target = target
        self.mem: GuestMemory = target.mem
        self._violations_seen = 0

    def verify(self) -> None:
        """Judge every access made so far; fail on the first one outside the mappings."""
        self.target.drain()
        v = self.target.violations
        if len(v) > self._violations_seen:
            first = v[self._violations_seen]
            n = len(v) - self._violations_seen
            self._violations_seen = len(v)
            raise BusError(f"{n} DMA access(es) outside the mappings in force, first: "
                           f"{describe(first)}")

    async def read(self, addr: int) -> int:
        return (await self.access_many([(False, addr, 0)]))[0]

    @abc.abstractmethod
    async def access_many(self, ops: Sequence[tuple[bool, int, int]]) -> list[int]:
        """AXI-Lite accesses ``(write, addr, value)`` in order; the read data of each."""

    @abc.abstractmethod
    async def inject_rx(self, vq: int, frame: bytes) -> None: ...

    @abc.abstractmethod
    def take_tx(self) -> list[tuple[int, bool, bytes, int | None]]:
        """Transmitted frames so far: (tdest, aborted, bytes, the simulation time in ps its
        last beat left the device, or None where the bus model cannot tell) each."""

    @abc.abstractmethod
    def take_rx_evicted(self) -> list[tuple[int, int]]:
        """(receive VQ, arrival number) of each pulse of the device's rx_evict port since the
        last call, oldest first (DeviceHarness.take_rx_evicted)."""

    @property
    @abc.abstractmethod
    def irq_count(self) -> dict[int, int]: ...

    @abc.abstractmethod
    def set_stall(self, channel: str, pattern: Sequence[int] | None) -> None:
        """Hold ``channel`` off on the cycles ``pattern`` marks, repeated (None or empty: never).
        Channels: rx, b, r (their valid, IDLE_CHANNELS); tx, aw, w, ar (their ready,
        BACKPRESSURE_CHANNELS); a ValueError names any other."""

    def set_idle(self, pattern: Sequence[int] | None) -> None:
        for ch in IDLE_CHANNELS:
            self.set_stall(ch, pattern)

    def set_backpressure(self, pattern: Sequence[int] | None) -> None:
        for ch in BACKPRESSURE_CHANNELS:
            self.set_stall(ch, pattern)

    @abc.abstractmethod
    def start(self) -> None:
        """Start whatever must run in the background (once per Tb)."""

    @abc.abstractmethod
    async def reset(self, rst: Any, cycles: int) -> None:
        """Hold ``rst`` for ``cycles`` cycles, then wait as long again."""

    @abc.abstractmethod
    async def settle(self, timeout_cycles: int) -> None:
        """Wait until the device and the buses are quiet, then :meth:`verify`."""


class HdlBus(BusModels):
    """One device's tb_nic_host and its host-library device (module docstring)."""

    name = "hdl"

    def __init__(self, dut: Any, prefix: str, index: int, word_bytes: int,
                 mem: GuestMemory | None, guest_size: int) -> None:
        lib = host_lib()
        self.dev = lib.device(index)
        self.dev.reset()
        if mem is None:
            mem = lib.open_memory(guest_size)
        elif mem is not lib.memory:
            raise ValueError("with BUS_MODEL=hdl every device shares the host library's guest "
                             "memory; pass the first Tb's mem, not another GuestMemory")
        super().__init__(DpiMemoryTarget(self.dev, mem, word_bytes))
        self._done = getattr(dut, f"{prefix}axil_done")
        self._settled = getattr(dut, f"{prefix}settled")

    async def access_many(self, ops: Sequence[tuple[bool, int, int]]) -> list[int]:
        """Queue every access, then wait for the queue to run dry once."""
        dev = self.dev
        tickets = [dev.post(w, a, v) for w, a, v in ops]
        while dev.completed < tickets[-1]:
            await self._done.value_change
        out = []
        for (write, addr, _), t in zip(ops, tickets, strict=True):
            data, resp = dev.result(t)
            if resp:
                raise BusError(f"AXI-Lite {'write' if write else 'read'} of {addr:#06x} answered "
                               f"{AXI_RESP[resp]}")
            out.append(data)
        return out

    async def inject_rx(self, vq: int, frame: bytes) -> None:
        self.dev.push_rx(vq, frame)

    def take_tx(self) -> list[tuple[int, bool, bytes, int | None]]:
        # the host counts this device's cycles; the same clock runs the simulation, so a frame's
        # cycle is as many periods before now as the count has moved on since
        now_ps = int(get_sim_time("ps"))
        count = self.dev.cycles()
        return [(dest, aborted, data, now_ps - (count - cycle) * CLK_NS * 1000)
                for dest, aborted, data, cycle in self.dev.take_tx()]

    def take_rx_evicted(self) -> list[tuple[int, int]]:
        return self.dev.take_rx_evicted()

    @property
    def irq_count(self) -> dict[int, int]:
        return self.dev.irq_counts()

    def set_stall(self, channel: str, pattern: Sequence[int] | None) -> None:
        self.dev.set_stall(channel, pattern)

    def start(self) -> None:
        """Nothing runs in Python between events: interrupts are counted in the HDL."""

    async def reset(self, rst: Any, cycles: int) -> None:
        rst.value = 1
        await Timer(cycles * CLK_NS, "ns")
        # the reset dropped any access the AXI-Lite master had in flight (a fault monitor's
        # read, say): it goes out again, so nobody waits for it forever
        self.dev.restart()
        rst.value = 0
        await Timer(cycles * CLK_NS, "ns")

    async def run_until_settled(self, timeout_cycles: int) -> None:
        """Wait for ``settled`` to rise after this call: the device idle, no frame or access
        queued or moving, no fault record unread, for tb_nic_host's QUIET_CYCLES in a row.
        The simulation runs without Python until then."""
        self.dev.settle_arm()
        try:
            await with_timeout(self._settled.rising_edge, timeout_cycles * CLK_NS, "ns")
        except SimTimeoutError:
            raise TimeoutError(f"device {self.dev.index}: data path did not go quiet in "
                               f"{timeout_cycles} cycles: the device may be hung") from None

    async def settle(self, timeout_cycles: int) -> None:
        """:meth:`run_until_settled`, then judge every access made so far."""
        await self.run_until_settled(timeout_cycles)
        self.verify()

    def verify(self) -> None:
        n, first = self.dev.protocol_errors()
        if n:
            raise BusError(f"device {self.dev.index}: {n} bus protocol error(s), first: {first}")
        super().verify()


class CocotbextBus(BusModels):
    """cocotbext-axi models on the bare device top (module docstring)."""

    name = "cocotbext"

    def __init__(self, dut: Any, prefix: str, word_bytes: int, mem: GuestMemory | None,
                 guest_size: int, start_clock: bool) -> None:
        self.dut = dut
        self.prefix = prefix
        rst = getattr(dut, f"{prefix}rst")
        if start_clock:
            Clock(dut.clk, CLK_NS, unit="ns").start()
        # the user sideband of the burst being served, per direction (_sideband)
        self._burst_user = {False: 0, True: 0}
        super().__init__(HostMemoryTarget(mem if mem is not None else GuestMemory(guest_size),
                                          word_bytes, sideband=self._sideband))
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, f"{prefix}s_axil"), dut.clk, rst)
        self.axi = AxiSlave(AxiBus.from_prefix(dut, f"{prefix}m_axi"), dut.clk, rst,
                            target=self.target)
        self._keep_burst_user(self.axi.read_if.ar_channel, "aruser", False)
        self._keep_burst_user(self.axi.write_if.aw_channel, "awuser", True)
        self.tx_sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, f"{prefix}m_axis_tx"),
                                     dut.clk, rst)
        self.rx_source = AxiStreamSource(AxiStreamBus.from_prefix(dut, f"{prefix}s_axis_rx"),
                                         dut.clk, rst)
        for bus in ("m_axi", "s_axil", "m_axis_tx", "s_axis_rx"):
            logging.getLogger(f"cocotb.{dut._name}.{prefix}{bus}").setLevel(logging.WARNING)
        self._irq_count: dict[int, int] = {}
        self._irq_fault = getattr(dut, f"{prefix}irq_fault")
        self._rx_evicted: list[tuple[int, int]] = []
        self._monitor: Any = None
        self._evict_monitor: Any = None

    def _keep_burst_user(self, channel: Any, field: str, write: bool) -> None:
        """The slave model takes an address from ``channel``, then serves that burst's beats
        before it takes the next (cocotbext-axi's AxiSlaveRead/AxiSlaveWrite), while the
        device may already present later addresses: so the burst's sideband is the one its
        address carried, kept as the model takes it, not the bus's at the time of a beat."""
        take = channel.recv

        async def recv() -> Any:
            t = await take()
            self._burst_user[write] = int(getattr(t, field))
            return t

        channel.recv = recv

    def _sideband(self, write: bool) -> tuple[int, int, int]:
        u = self._burst_user[write]
        return u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0x7

    async def access_many(self, ops: Sequence[tuple[bool, int, int]]) -> list[int]:
        out = []
        for write, addr, value in ops:
            if write:
                await self.axil.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))
                out.append(0)
            else:
                out.append(int.from_bytes(await self.axil.read(addr, 4), "little"))
        return out

    async def inject_rx(self, vq: int, frame: bytes) -> None:
        await self.rx_source.send(AxiStreamFrame(frame, tdest=vq))

    def take_tx(self) -> list[tuple[int, bool, bytes, int | None]]:
        out: list[tuple[int, bool, bytes, int | None]] = []
        while not self.tx_sink.empty():
            f = self.tx_sink.recv_nowait()
            user = f.tuser if isinstance(f.tuser, list) else [f.tuser]
            tdest = f.tdest[0] if isinstance(f.tdest, list) else f.tdest
            out.append((int(tdest), bool(user and user[-1]), bytes(f.tdata), None))
        return out

    def take_rx_evicted(self) -> list[tuple[int, int]]:
        out, self._rx_evicted = self._rx_evicted, []
        return out

    @property
    def irq_count(self) -> dict[int, int]:
        return dict(self._irq_count)

    def set_stall(self, channel: str, pattern: Sequence[int] | None) -> None:
        models = {"rx": self.rx_source, "b": self.axi.write_if.b_channel,
                  "r": self.axi.read_if.r_channel, "tx": self.tx_sink,
                  "aw": self.axi.write_if.aw_channel, "w": self.axi.write_if.w_channel,
                  "ar": self.axi.read_if.ar_channel}
        if channel not in models:
            raise ValueError(f"unknown stall channel {channel!r}; known: {sorted(models)}")
        models[channel].set_pause_generator(itertools.cycle(pattern) if pattern else None)
        if not pattern:
            # cocotbext-axi keeps the last value a cleared generator gave (StreamPause
            # set_pause_generator): a stall ended in a held cycle would hold the channel for good
            models[channel].pause = False

    def start(self) -> None:
        if self._monitor is None:
            self._monitor = cocotb.start_soon(self._run_irq_monitor())
        if self._evict_monitor is None:
            self._evict_monitor = cocotb.start_soon(self._run_evict_monitor())

    async def _run_evict_monitor(self) -> None:
        """Log rx_evict pulses (never two in consecutive cycles: the frame let in takes one)."""
        valid = getattr(self.dut, f"{self.prefix}rx_evict")
        vq_sig = getattr(self.dut, f"{self.prefix}rx_evict_vq")
        seq_sig = getattr(self.dut, f"{self.prefix}rx_evict_seq")
        while True:
            await RisingEdge(valid)
            if not (vq_sig.value.is_resolvable and seq_sig.value.is_resolvable):
                raise BusError("rx_evict rose with an unknown rx_evict_vq or rx_evict_seq")
            self._rx_evicted.append((int(vq_sig.value), int(seq_sig.value)))

    async def _run_irq_monitor(self) -> None:
        """Count notification pulses (the NOTIFY_COUNT registers count the same)."""
        valid = getattr(self.dut, f"{self.prefix}irq_vq_valid")
        vq_sig = getattr(self.dut, f"{self.prefix}irq_vq")
        while True:
            await RisingEdge(valid)
            if not vq_sig.value.is_resolvable:
                raise BusError("irq_vq_valid rose with an unknown irq_vq")
            vq = int(vq_sig.value)
            self._irq_count[vq] = self._irq_count.get(vq, 0) + 1

    async def reset(self, rst: Any, cycles: int) -> None:
        rst.value = 1
        getattr(self.dut, f"{self.prefix}s_axis_rx_tdest").value = 0
        await Timer(cycles * CLK_NS, "ns")
        rst.value = 0
        await Timer(cycles * CLK_NS, "ns")

    async def settle(self, timeout_cycles: int) -> None:
        """Wait until the data path is quiescent twice in a row, 16 cycles apart, and no
        fault record is left unread (CMD_STATUS polled: this bus model has no idle event)."""
        await with_timeout(self.rx_source.wait(), timeout_cycles * CLK_NS, "ns")
        quiet = 0
        waited = 0
        while quiet < 2 or int(self._irq_fault.value):
            st = await self.read(REGMAP.reg["CMD_STATUS"])
            quiet = quiet + 1 if st >> 18 & 1 else 0
            await Timer(16 * CLK_NS, "ns")
            waited += 20
            if waited > timeout_cycles:
                raise TimeoutError("data path did not go quiet: the device may be hung")
        self.verify()
