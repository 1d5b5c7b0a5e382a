# SPDX-License-Identifier: MIT
"""Testbench for ``vdpa_nic_top``: reset, bus models, guest memory, parent driver, monitors.

The bus models are those the simulation was built for (``VDPA_BUS_MODEL``, set by
:func:`vdpa_tb.sim.run`): the fast HDL/C++ ones by default, cocotbext-axi on request and on
Icarus (vdpa_tb.buses). Tests see the same ``Tb`` either way. No coroutine here wakes on every
clock edge: the watchdog runs on a timer, the monitors on edges of rare signals.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import cocotb
from cocotb.triggers import RisingEdge, Timer

from vdpa_model.memory import Allocator, GuestMemory
from vdpa_model.options import DeviceOptions
from vdpa_model.trace import Trace

from .buses import CLK_NS, BusModels, CocotbextBus, HdlBus
from .cmdport import RtlCommandPort
from .hostmem import MappingCheck, describe
from .parent import RtlParentDriver
from .usedorder import used_order_problems

GUEST_SIZE = 1 << 30
# a chain moves at least a byte every few cycles; 200k cycles of standstill is a hang
WATCHDOG_CYCLES = 200_000
#: stall pattern of the idle/backpressure runs: held off three cycles of four (verification-
#: style §1.2 item 7, cocotbext's cycle_pause)
STALL_PATTERN = (1, 1, 1, 0)
#: host-library device index of each device prefix (tb/hdl tops: host, d0_host, d1_host)
DEVICE_INDEX = {"": 0, "d0_": 0, "d1_": 1}


def param(name: str, default: int) -> int:
    """An RTL parameter as the pytest side passed it (PARAM_<NAME>), else its default."""
    return int(os.environ.get(f"PARAM_{name}", default))


def bus_model(dut: Any) -> str:
    """The bus models this simulation was built for: what vdpa_tb.sim.run says, else what the
    top is (a testbench top of tb/hdl carries the fast ones)."""
    return os.environ.get("VDPA_BUS_MODEL") or ("hdl" if dut._name.startswith("tb_")
                                                else "cocotbext")


class Tb:
    """Owns reset, the bus models, guest memory and the parent driver of one device; ``prefix``
    selects a device of a multi-device top (``d0_``, ``d1_``). A second device of the same
    guest passes the first one's ``mem``."""

    #: the parent driver class (a device file's ``[python] parent``, vdpa_tb.devices)
    parent_cls: type[RtlParentDriver] = RtlParentDriver

    def __init__(self, dut: Any, prefix: str = "", start_clock: bool = True,
                 mem: GuestMemory | None = None, guest_size: int = GUEST_SIZE) -> None:
        self.dut = dut
        self.prefix = prefix
        self.log = logging.getLogger("cocotb.tb")
        self.log.setLevel(logging.INFO)
        self.data_w = param("DATA_W", 64)
        self.bus: BusModels
        if bus_model(dut) == "hdl":
            self.bus = HdlBus(dut, prefix, DEVICE_INDEX[prefix], self.data_w // 8, mem,
                              guest_size)
        else:
            self.bus = CocotbextBus(dut, prefix, self.data_w // 8, mem, guest_size, start_clock)
        self.target = self.bus.target
        self.mem = self.bus.mem
        self.alloc = Allocator(0x10000, guest_size)
        self.rst = self.sig("rst")
        self.port = RtlCommandPort(self.bus, self.sig("irq_cpl"))
        self.drv: RtlParentDriver | None = None
        #: the parent's mlx5 behaviour for the next start(): the reference device's options
        #: (fw_resumable, precreated_vqs, parallel_fw_cmds, ...; vdpa_model.options)
        self.parent_options = DeviceOptions()
        self._monitors = False

    def sig(self, name: str) -> Any:
        return getattr(self.dut, f"{self.prefix}{name}")

    @property
    def irq_count(self) -> dict[int, int]:
        """Used-buffer notifications per VQ so far (the NOTIFY_COUNT registers count the same)."""
        return self.bus.irq_count

    def set_idle_generator(self, pattern: Sequence[int] | None = None) -> None:
        """Hold off the valid of every channel the testbench sources (received frames, AXI4
        read data and write responses) on the cycles ``pattern`` marks, repeated."""
        self.bus.set_idle(pattern)

    def set_backpressure_generator(self, pattern: Sequence[int] | None = None) -> None:
        """Hold off the ready of every channel the testbench sinks (transmitted frames, AXI4
        addresses and write data) on the cycles ``pattern`` marks, repeated."""
        self.bus.set_backpressure(pattern)

    def set_stall(self, channel: str, pattern: Sequence[int] | None = None) -> None:
        """Hold off one channel on the cycles ``pattern`` marks, repeated: a source's valid
        (rx, b, r) or a sink's ready (tx, aw, w, ar), the others left as they are."""
        self.bus.set_stall(channel, pattern)

    async def cycles(self, n: int) -> None:
        """Let ``n`` clock cycles pass (on a timer: Python does not wake per edge)."""
        await Timer(n * CLK_NS, "ns")

    async def cycle_reset(self) -> None:
        await self.bus.reset(self.rst, 5)

    async def start(self, check_dma: bool = True, trace: Trace | None = None) -> RtlParentDriver:
        """Reset, probe the device and judge its DMA against the driver's mappings (unless
        ``check_dma`` is off: a checker of its own, such as the contract shadow, judges it).
        Calling it again gives a fresh device (power-on state) with a fresh parent driver.
        With ``trace`` the parent's fw records go there from the device's creation on."""
        self.target.drain()  # DMA of the previous device life, judged by its own mappings
        await self.cycle_reset()
        self.port = RtlCommandPort(self.bus, self.sig("irq_cpl"))
        self.port.recorder.trace = trace
        self.drv = await self.parent_cls.probe(self.port, self.bus, self.parent_options)
        self.target.check = MappingCheck(self.drv.allowed_ranges, self.data_w // 8) \
            if check_dma else None
        self.port.before_mapping_change = self._mappings_change
        # the control VQ runs in the parent, over the same guest memory
        self.drv.mem = self.target.mem
        self.drv.access_log = self.target.access_log
        if not self._monitors:
            self._monitors = True
            self.bus.start()
            cocotb.start_soon(self._run_fault_monitor())
            cocotb.start_soon(self._run_watchdog())
        return self.drv

    def _mappings_change(self) -> None:
        """A command that changes the parent's mappings completed: judge what was logged before
        it against the mappings before it, then let the check rebuild its ranges."""
        self.target.drain()
        if self.target.check is not None:
            self.target.check.invalidate()

    def engine(self) -> Any:
        """The device's vdpa_vq_engine instance (its signals the testbench may read: tb_public.vlt)."""
        inst = {"": None, "d0_": "dev0_inst", "d1_": "dev1_inst"}[self.prefix]
        # the fast path's testbench tops hold the device as dut_inst
        root = self.dut.dut_inst if self.bus.name == "hdl" else self.dut
        return (getattr(root, inst) if inst else root).vq_inst

    async def _run_watchdog(self, period: int = WATCHDOG_CYCLES) -> None:
        """Fail the test if the data path stays busy without progress for ``period`` cycles.

        Sampled every ``period`` cycles on a timer (no per-cycle work): the states of the
        engine's three stages, the bytes moved in the current chain and the DMA byte counters
        must not all stand still while the engine is busy. A device that hangs on bad input
        trips this even when the test itself would only time out.
        """
        eng = self.engine()
        last = None
        while True:
            await Timer(period * CLK_NS, "ns")
            busy = int(eng.eng_busy.value)
            snap = (int(eng.walker_inst.e_state_reg.value), int(eng.ms_state_reg.value),
                    int(eng.cs_state_reg.value), int(eng.mv_moved.value),
                    self.target.bytes_read, self.target.bytes_written)
            if busy and snap == last:
                raise AssertionError(f"watchdog: {self.prefix or 'device'} data path busy "
                                     f"without progress for {period} cycles (walker, move and "
                                     f"completion stage states {snap[:3]})")
            last = snap if busy else None

    async def _run_fault_monitor(self) -> None:
        """Hand fault records to the current parent driver whenever the FIFO is non-empty."""
        irq = self.sig("irq_fault")
        while True:
            if not int(irq.value):
                await RisingEdge(irq)
            assert self.drv is not None
            await self.drv.read_faults()

    def assert_used_order(self, queues: Sequence[Any], start: int = 0) -> None:
        """Every used element of ``queues`` (guest virtqueues) was written before the used.idx
        write that published it, in the DMA logged from record ``start`` on (usedorder)."""
        problems = [p for q in queues
                    for p in used_order_problems(self.target.log, q.used_gpa, q.num, start)]
        assert not problems, f"{len(problems)} used-ring order problem(s), first: {problems[0]}"

    def assert_dma_clean(self) -> None:
        """Every DMA so far fell inside an allowed mapping."""
        self.target.drain()
        v = self.target.violations
        assert not v, (f"{len(v)} DMA access(es) outside the mappings in force, first: "
                       f"{describe(v[0])}")
