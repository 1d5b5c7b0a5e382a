# SPDX-License-Identifier: MIT
"""The bench-facing side of the RTL parent driver: ``DeviceHarness`` over the bus models.

:class:`RtlHarness` is mixed into :class:`vdpa_tb.parent.RtlParentDriver`; it turns what the
bus models (vdpa_tb.buses) see on the wire into what the contract's checkers read: settle
points, received frames in, transmitted frames out (virtio-net header split from the frame),
and the device's fault records. The kernel ops stay in parent.py; this is the seam to the
testbench's buses.
"""

from __future__ import annotations

from typing import Any

from vdpa_model import spec
from vdpa_model.ops import DeviceFault, DeviceHarness, TxPacket

from .regmap import REGMAP as RM

FAULT_NAMES = {v: k for k, v in RM.fault.items()}


class RtlHarness(DeviceHarness):
    """``DeviceHarness`` of the RTL device. Expects ``bus`` (the device's bus models, or None
    without traffic), ``port`` (its command port), ``features`` and ``_faults`` (a list)."""

    bus: Any
    port: Any
    features: int
    _faults: list[DeviceFault]
    tx_aborted: int

    async def settle(self, timeout_cycles: int = 1_000_000) -> None:
        """Wait until the data path is quiescent, every received frame taken in and every fault
        record read; then every DMA so far is judged (a violation fails here)."""
        if self.bus is not None:
            await self.bus.settle(timeout_cycles)

    async def inject_rx(self, vq: int, frame: bytes) -> None:
        assert self.bus is not None, "no receive stream source"
        await self.bus.inject_rx(vq, frame)

    def take_tx(self) -> list[TxPacket]:
        """Frames from the TX stream: the virtio-net header (its length set by the negotiated
        features) then the frame. A frame whose last beat has tuser set was aborted by the
        device (bus error) and is discarded, as a MAC drops a frame marked bad."""
        if self.bus is None:
            return []
        out = []
        hdr = spec.net_hdr_len(self.features)
        for dest, aborted, data, t_ps in self.bus.take_tx():
            if aborted:
                self.tx_aborted += 1
                continue
            out.append(TxPacket(dest, data[:hdr], data[hdr:], t_ps))
        return out

    def take_faults(self) -> list[DeviceFault]:
        out, self._faults = self._faults, []
        return out

    def take_rx_evicted(self) -> list[tuple[int, int]]:
        """The device's rx_evict port, logged by the bus model (DeviceHarness.take_rx_evicted)."""
        return self.bus.take_rx_evicted() if self.bus is not None else []

    async def read_faults(self) -> None:
        """Pop every waiting fault record (the testbench calls this when irq_fault rises)."""
        while True:
            head = await self.port.read("FAULT_HEAD")
            if not head >> 31:
                return
            lo = await self.port.read("FAULT_IOVA_LO")
            hi = await self.port.read("FAULT_IOVA_HI")
            await self.port.write("FAULT_POP", 1)
            vq, err, asid = head & 0xFF, (head >> 8) & 0xFF, (head >> 16) & 0xFF
            write, xlate = bool(head >> 24 & 1), bool(head >> 25 & 1)
            iova = (hi << 32) | lo
            name = FAULT_NAMES.get(err, str(err))
            if xlate:
                self._faults.append(DeviceFault(vq, err, f"{name}: translation fault", asid,
                                                iova, write))
            else:
                self._faults.append(DeviceFault(vq, err,
                                                f"{name}: ring error at descriptor {iova}"))
