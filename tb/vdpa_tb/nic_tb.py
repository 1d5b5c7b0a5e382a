# SPDX-License-Identifier: MIT
"""Testbench for ``vdpa_nic_top``: clock, reset, bus models, guest memory and parent driver."""

from __future__ import annotations

import itertools
import logging
import os
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import (
    AxiBus,
    AxiLiteBus,
    AxiLiteMaster,
    AxiSlave,
    AxiStreamBus,
    AxiStreamSink,
    AxiStreamSource,
)

from vdpa_model.memory import Allocator, GuestMemory

from .hostmem import HostMemoryTarget
from .parent import RtlCommandPort, RtlParentDriver
from .parent_policy import ParentOptions

GUEST_SIZE = 1 << 30
# a chain moves at least a byte every few cycles; 200k cycles of standstill is a hang
WATCHDOG_CYCLES = 200_000


def param(name: str, default: int) -> int:
    """An RTL parameter as the pytest side passed it (PARAM_<NAME>), else its default."""
    return int(os.environ.get(f"PARAM_{name}", default))


def cycle_pause() -> itertools.cycle[int]:
    """Stall pattern for idle/backpressure runs (verification-style §1.2 item 7)."""
    return itertools.cycle([1, 1, 1, 0])


class Tb:
    """Owns the clock, reset, AXI/AXI-Stream models, guest memory and the parent driver of one
    device; ``prefix`` selects a device of a multi-device top (``d0_``, ``d1_``)."""

    def __init__(self, dut: Any, prefix: str = "", start_clock: bool = True) -> None:
        self.dut = dut
        self.prefix = prefix
        self.log = logging.getLogger("cocotb.tb")
        self.log.setLevel(logging.INFO)
        self.data_w = param("DATA_W", 64)
        self.mem = GuestMemory(GUEST_SIZE)
        self.alloc = Allocator(0x10000, GUEST_SIZE)
        self.rst = self.sig("rst")
        if start_clock:
            Clock(dut.clk, 10, unit="ns").start()
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, f"{prefix}s_axil"), dut.clk, self.rst)
        self.target = HostMemoryTarget(self.mem, self.data_w // 8, sideband=self._sideband)
        self.axi = AxiSlave(AxiBus.from_prefix(dut, f"{prefix}m_axi"), dut.clk, self.rst,
                            target=self.target)
        self.tx_sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, f"{prefix}m_axis_tx"), dut.clk,
                                     self.rst)
        self.rx_source = AxiStreamSource(AxiStreamBus.from_prefix(dut, f"{prefix}s_axis_rx"),
                                         dut.clk, self.rst)
        for bus in ("m_axi", "s_axil", "m_axis_tx", "s_axis_rx"):
            logging.getLogger(f"cocotb.{dut._name}.{prefix}{bus}").setLevel(logging.WARNING)
        self.port = RtlCommandPort(self.axil, self.sig("irq_cpl"), dut.clk)
        self.drv: RtlParentDriver | None = None
        #: the parent driver's mlx5 behaviour options for the next start()
        self.parent_options = ParentOptions()
        self.irq_count: dict[int, int] = {}
        self._monitors = False
        self._aruser = self.sig("m_axi_aruser")
        self._awuser = self.sig("m_axi_awuser")

    def sig(self, name: str) -> Any:
        return getattr(self.dut, f"{self.prefix}{name}")

    def _sideband(self, write: bool) -> tuple[int, int, int]:
        u = int((self._awuser if write else self._aruser).value)
        return u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0x7

    def set_idle_generator(self, gen: Any = None) -> None:
        if gen:
            self.rx_source.set_pause_generator(gen())
            self.axi.write_if.b_channel.set_pause_generator(gen())
            self.axi.read_if.r_channel.set_pause_generator(gen())

    def set_backpressure_generator(self, gen: Any = None) -> None:
        if gen:
            self.tx_sink.set_pause_generator(gen())
            self.axi.write_if.aw_channel.set_pause_generator(gen())
            self.axi.write_if.w_channel.set_pause_generator(gen())
            self.axi.read_if.ar_channel.set_pause_generator(gen())

    async def cycle_reset(self) -> None:
        self.rst.value = 1
        self.sig("s_axis_rx_tdest").value = 0
        await ClockCycles(self.dut.clk, 5)
        self.rst.value = 0
        await ClockCycles(self.dut.clk, 5)

    async def start(self) -> RtlParentDriver:
        """Reset, probe the device and hook the DMA checker to the driver's mappings. Calling
        it again gives a fresh device (power-on state) with a fresh parent driver."""
        await self.cycle_reset()
        self.port = RtlCommandPort(self.axil, self.sig("irq_cpl"), self.dut.clk)
        self.drv = await RtlParentDriver.probe(self.port, self.tx_sink, self.rx_source,
                                               self.parent_options)
        self.target.allowed = self.drv.dma_allowed
        # the control VQ runs in the parent, over the same guest memory
        self.drv.mem = self.target.mem
        self.drv.access_log = self.target.access_log
        self.drv.watch_faults(self.sig("irq_fault"))
        if not self._monitors:
            self._monitors = True
            cocotb.start_soon(self._run_fault_monitor())
            cocotb.start_soon(self._run_irq_monitor())
            cocotb.start_soon(self._run_watchdog())
        return self.drv

    def _engine(self) -> Any:
        inst = {"": None, "d0_": "dev0_inst", "d1_": "dev1_inst"}[self.prefix]
        return (getattr(self.dut, inst) if inst else self.dut).vq_inst

    async def _run_watchdog(self, period: int = WATCHDOG_CYCLES) -> None:
        """Fail the test if the data path stays busy without progress for ``period`` cycles.

        Sampled every ``period`` cycles (no per-cycle work): the engine state, the bytes moved
        in the current chain and the AXI handshake counters of the bus models must not all
        stand still while the engine is busy. A device that hangs on bad input trips this
        even when the test itself would only time out.
        """
        eng = self._engine()
        last = None
        while True:
            await ClockCycles(self.dut.clk, period)
            busy = int(eng.eng_busy.value)
            snap = (int(eng.e_state_reg.value), int(eng.moved_reg.value),
                    self.target.bytes_read, self.target.bytes_written)
            if busy and snap == last:
                raise AssertionError(f"watchdog: {self.prefix or 'device'} data path busy "
                                     f"without progress for {period} cycles (state {snap[0]})")
            last = snap if busy else None

    async def _run_fault_monitor(self) -> None:
        """Hand fault records to the current parent driver whenever the FIFO is non-empty."""
        irq = self.sig("irq_fault")
        while True:
            if not int(irq.value):
                await RisingEdge(irq)
            assert self.drv is not None
            await self.drv.read_faults()

    async def _run_irq_monitor(self) -> None:
        """Count notification pulses (the NOTIFY_COUNT registers count the same)."""
        valid, vq_sig = self.sig("irq_vq_valid"), self.sig("irq_vq")
        while True:
            await RisingEdge(valid)
            if not vq_sig.value.is_resolvable:
                raise AssertionError("irq_vq_valid rose with an unknown irq_vq")
            vq = int(vq_sig.value)
            self.irq_count[vq] = self.irq_count.get(vq, 0) + 1

    def assert_dma_clean(self) -> None:
        """Every DMA so far fell inside an allowed mapping."""
        v = self.target.violations
        assert not v, f"{len(v)} DMA access(es) outside the mappings in force, first: {v[0]}"
