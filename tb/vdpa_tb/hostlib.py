# SPDX-License-Identifier: MIT
"""The C++ host library of the fast bus models (tb/csrc/vdpa_tb_host.cpp), seen from Python.

Inside a simulation the executable has already loaded ``libvdpa_tb_host.so`` (it is linked,
tb/vdpa_tb/sim.py): asking the dynamic loader for it by its soname with ``RTLD_NOLOAD`` returns
that very instance, so the guest memory Python writes is the one the HDL's AXI4 slave reads and
the queues Python fills are the ones the HDL drains. Outside a simulation (unit tests of the
library) the file is built and loaded on its own.

Every call here is a bulk operation (post a batch, drain a log, take the frames): nothing in
this module runs once per clock cycle.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from vdpa_model.memory import FlatGuestMemory

#: one bus access (vtb_dma_rec): a read beat or a run of enabled write strobes
DMA_RECORD = np.dtype([("pa", "<u8"), ("len", "<u4"), ("vq", "u1"), ("asid", "u1"),
                       ("kind", "u1"), ("flags", "u1")])
DMA_WRITE = 1
DMA_BUS_ERROR = 2
#: one transmitted frame (vtb_tx_frame)
TX_FRAME = np.dtype([("offset", "<u8"), ("len", "<u4"), ("dest", "u1"), ("aborted", "u1"),
                     ("reserved", "<u2"), ("cycle", "<u8")])
#: AXI response codes (AMBA AXI: OKAY, EXOKAY, SLVERR, DECERR)
AXI_RESP = ("OKAY", "EXOKAY", "SLVERR", "DECERR")

_U8P = ctypes.POINTER(ctypes.c_uint8)
_SIG: dict[str, tuple[Any, list[Any]]] = {
    "vtb_dma_rec_size": (ctypes.c_size_t, []),
    "vtb_tx_frame_size": (ctypes.c_size_t, []),
    "vtb_chunk_shift": (ctypes.c_int, []),
    "vtb_channel": (ctypes.c_int, [ctypes.c_char_p]),
    "vtb_mem_open": (_U8P, [ctypes.c_uint64]),
    "vtb_mem_size": (ctypes.c_uint64, []),
    "vtb_mem_dirty": (_U8P, []),
    "vtb_dev_reset": (None, [ctypes.c_int]),
    "vtb_cycles": (ctypes.c_uint64, [ctypes.c_int]),
    "vtb_dma_count": (ctypes.c_size_t, [ctypes.c_int]),
    "vtb_dma_take": (ctypes.c_size_t, [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]),
    "vtb_bytes_read": (ctypes.c_uint64, [ctypes.c_int]),
    "vtb_bytes_written": (ctypes.c_uint64, [ctypes.c_int]),
    "vtb_poison_add": (None, [ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64]),
    "vtb_tx_count": (ctypes.c_size_t, [ctypes.c_int]),
    "vtb_tx_bytes": (ctypes.c_size_t, [ctypes.c_int]),
    "vtb_tx_take": (ctypes.c_size_t, [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]),
    "vtb_rx_push": (ctypes.c_int, [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]),
    "vtb_rx_pending": (ctypes.c_size_t, [ctypes.c_int]),
    "vtb_axil_post": (ctypes.c_uint64, [ctypes.c_int, ctypes.c_int, ctypes.c_uint32,
                                        ctypes.c_uint32]),
    "vtb_axil_completed": (ctypes.c_uint64, [ctypes.c_int]),
    "vtb_axil_result": (ctypes.c_uint64, [ctypes.c_int, ctypes.c_uint64]),
    "vtb_axil_restart": (None, [ctypes.c_int]),
    "vtb_irq_counts": (None, [ctypes.c_int, ctypes.c_void_p]),
    "vtb_rx_evicted_count": (ctypes.c_size_t, [ctypes.c_int]),
    "vtb_rx_evicted_take": (ctypes.c_size_t, [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]),
    "vtb_set_stall": (None, [ctypes.c_int, ctypes.c_int, ctypes.c_uint32, ctypes.c_int]),
    "vtb_settle_arm": (None, [ctypes.c_int]),
    "vtb_protocol_error_count": (ctypes.c_size_t, [ctypes.c_int]),
    "vtb_protocol_error_text": (ctypes.c_size_t, [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]),
    # the HDL side, called from Python only by the library's own unit tests
    "vtb_mem_read": (ctypes.c_uint8, [ctypes.c_int, ctypes.c_longlong, ctypes.c_int, ctypes.c_int,
                                      ctypes.c_void_p]),
    "vtb_mem_write": (ctypes.c_uint8, [ctypes.c_int, ctypes.c_longlong, ctypes.c_int,
                                       ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int]),
    "vtb_tx_beat": (None, [ctypes.c_int, ctypes.c_void_p, ctypes.c_longlong, ctypes.c_uint8,
                           ctypes.c_uint8, ctypes.c_int]),
    "vtb_rx_beat": (ctypes.c_uint8, [ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                                     ctypes.POINTER(ctypes.c_longlong),
                                     ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_int)]),
    "vtb_axil_next": (ctypes.c_uint8, [ctypes.c_int, ctypes.POINTER(ctypes.c_uint8),
                                       ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]),
    "vtb_axil_complete": (ctypes.c_uint8, [ctypes.c_int, ctypes.c_int, ctypes.c_int]),
    "vtb_irq": (None, [ctypes.c_int, ctypes.c_int]),
    "vtb_rx_evicted": (None, [ctypes.c_int, ctypes.c_int, ctypes.c_int]),
    "vtb_cycle": (ctypes.c_int, [ctypes.c_int]),
    "vtb_protocol_error": (None, [ctypes.c_int, ctypes.c_char_p]),
}


class HostLibError(RuntimeError):
    """The host library is missing, cannot be loaded, or disagrees with this module."""


class HostLib:
    """The loaded library: the shared guest memory and one :class:`HostDevice` per NIC."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.c = _load(path)
        for name, (restype, argtypes) in _SIG.items():
            fn = getattr(self.c, name)
            fn.restype, fn.argtypes = restype, argtypes
        for what, dtype, size in (("vtb_dma_rec", DMA_RECORD, self.c.vtb_dma_rec_size()),
                                  ("vtb_tx_frame", TX_FRAME, self.c.vtb_tx_frame_size())):
            if dtype.itemsize != size:
                raise HostLibError(f"{what} is {size} bytes in the library, {dtype.itemsize} "
                                   "in vdpa_tb.hostlib: rebuild it (sim.host_lib)")
        self.chunk_shift = int(self.c.vtb_chunk_shift())
        self._mem: FlatGuestMemory | None = None

    def open_memory(self, size: int) -> FlatGuestMemory:
        """The guest memory, ``size`` bytes, all zero: the one every device of the simulation
        reaches by DMA. Opening it again wipes it (a new test's fresh guest)."""
        base = self.c.vtb_mem_open(size)
        if not base:
            raise HostLibError(f"cannot map {size:#x} bytes of guest memory")
        buf = np.ctypeslib.as_array(base, shape=(size,))
        dirty = np.ctypeslib.as_array(self.c.vtb_mem_dirty(), shape=((size >> self.chunk_shift) + 1,))
        self._mem = FlatGuestMemory(buf, dirty, size, self.chunk_shift)
        return self._mem

    @property
    def memory(self) -> FlatGuestMemory:
        if self._mem is None:
            raise HostLibError("guest memory not opened yet (HostLib.open_memory)")
        return self._mem

    def device(self, index: int) -> HostDevice:
        return HostDevice(self, index)


class HostDevice:
    """The host side of one NIC: its DMA log, streams, AXI-Lite queue, interrupts, stalls."""

    def __init__(self, lib: HostLib, index: int) -> None:
        self.lib = lib
        self.c = lib.c
        self.index = index
        self._irq = np.zeros(256, dtype=np.uint32)

    def reset(self) -> None:
        """Power-on state: queues, logs, counters and stall patterns cleared."""
        self.c.vtb_dev_reset(self.index)

    # -- DMA ---------------------------------------------------------------------------------
    def take_dma(self) -> np.ndarray:
        """Every access logged since the last call, oldest first (:data:`DMA_RECORD`)."""
        n = self.c.vtb_dma_count(self.index)
        out = np.empty(n, dtype=DMA_RECORD)
        if n:
            self.c.vtb_dma_take(self.index, out.ctypes.data, n)
        return out

    @property
    def bytes_read(self) -> int:
        return int(self.c.vtb_bytes_read(self.index))

    @property
    def bytes_written(self) -> int:
        return int(self.c.vtb_bytes_written(self.index))

    def poison(self, lo: int, hi: int) -> None:
        """Guest-physical ``[lo, hi)`` answers SLVERR from now on."""
        self.c.vtb_poison_add(self.index, lo, hi)

    # -- streams -----------------------------------------------------------------------------
    def cycles(self) -> int:
        """Clock cycles this device's host has seen since its reset."""
        return int(self.c.vtb_cycles(self.index))

    def take_tx(self) -> list[tuple[int, bool, bytes, int]]:
        """Completed transmitted frames: (tdest, aborted, bytes, the cycle of :meth:`cycles`
        their last beat left on) each, in order."""
        n = self.c.vtb_tx_count(self.index)
        if not n:
            return []
        frames = np.empty(n, dtype=TX_FRAME)
        data = bytearray(self.c.vtb_tx_bytes(self.index))
        buf = (ctypes.c_char * len(data)).from_buffer(data) if data else None
        self.c.vtb_tx_take(self.index, frames.ctypes.data, buf)
        raw = bytes(data)
        return [(dest, bool(aborted), raw[off:off + length], cycle)
                for off, length, dest, aborted, cycle in zip(
                    frames["offset"].tolist(), frames["len"].tolist(), frames["dest"].tolist(),
                    frames["aborted"].tolist(), frames["cycle"].tolist(), strict=True)]

    def push_rx(self, dest: int, frame: bytes) -> None:
        if self.c.vtb_rx_push(self.index, dest, frame, len(frame)) != 0:
            raise ValueError(f"device {self.index}: cannot receive an empty frame (tdest {dest})")

    @property
    def rx_pending(self) -> int:
        return int(self.c.vtb_rx_pending(self.index))

    # -- AXI-Lite ----------------------------------------------------------------------------
    def post(self, write: bool, addr: int, data: int = 0) -> int:
        """Queue one AXI-Lite access; returns its ticket (completed when completed >= ticket)."""
        return int(self.c.vtb_axil_post(self.index, int(write), addr, data & 0xFFFF_FFFF))

    @property
    def completed(self) -> int:
        return int(self.c.vtb_axil_completed(self.index))

    def restart(self) -> None:
        """After a reset of the HDL master: an access it had in flight goes out again."""
        self.c.vtb_axil_restart(self.index)

    def result(self, ticket: int) -> tuple[int, int]:
        """(read data, AXI response code) of a completed access."""
        r = int(self.c.vtb_axil_result(self.index, ticket))
        return r & 0xFFFF_FFFF, r >> 32

    # -- interrupts, stalls, settle ----------------------------------------------------------
    def irq_counts(self) -> dict[int, int]:
        """Used-buffer notifications so far, per VQ (only VQs that had some)."""
        self.c.vtb_irq_counts(self.index, self._irq.ctypes.data)
        return {int(v): int(self._irq[v]) for v in np.flatnonzero(self._irq)}

    def take_rx_evicted(self) -> list[tuple[int, int]]:
        """(receive VQ, arrival number mod 2^16) of each received frame the device dropped to
        make room since the last call, oldest first."""
        n = int(self.c.vtb_rx_evicted_count(self.index))
        if not n:
            return []
        out = np.zeros(n, dtype=np.uint32)
        got = int(self.c.vtb_rx_evicted_take(self.index, out.ctypes.data, n))
        return [(int(r) >> 16, int(r) & 0xFFFF) for r in out[:got]]

    def set_stall(self, channel: str, pattern: Sequence[int] | None) -> None:
        """Hold ``channel`` off on cycle k of every ``len(pattern)`` when ``pattern[k]`` is set;
        None or an empty pattern never stalls. Channels: rx, b, r (valid), tx, aw, w, ar (ready)."""
        chan = self.c.vtb_channel(channel.encode())
        if chan < 0:
            raise ValueError(f"unknown stall channel {channel!r}")
        pattern = list(pattern or [])
        if len(pattern) > 32:
            raise ValueError(f"stall pattern of {len(pattern)} cycles: at most 32")
        bits = sum(1 << k for k, p in enumerate(pattern) if p)
        self.c.vtb_set_stall(self.index, chan, bits, len(pattern))

    def settle_arm(self) -> None:
        """Restart the quiet count: the next rise of ``settled`` comes after this call."""
        self.c.vtb_settle_arm(self.index)

    def protocol_errors(self) -> tuple[int, str]:
        """How many bus protocol errors the HDL reported, and the first one's text."""
        n = int(self.c.vtb_protocol_error_count(self.index))
        if not n:
            return 0, ""
        buf = ctypes.create_string_buffer(512)
        self.c.vtb_protocol_error_text(self.index, buf, len(buf))
        return n, buf.value.decode(errors="replace")


def _load(path: str | os.PathLike[str] | None) -> ctypes.CDLL:
    """The instance the simulator already holds, else the file at ``path`` (default: built)."""
    from .sim import HOST_LIB_NAME

    try:
        return ctypes.CDLL(HOST_LIB_NAME, mode=os.RTLD_NOLOAD | os.RTLD_GLOBAL)
    except OSError:
        pass
    if path is None:
        path = os.environ.get("VDPA_TB_HOST_LIB")
    if path is None:
        from .sim import host_lib as build_host_lib

        path = build_host_lib()
    try:
        return ctypes.CDLL(os.fspath(path), mode=os.RTLD_GLOBAL)
    except OSError as e:
        raise HostLibError(f"cannot load the host library {path}: {e}") from e


@functools.cache
def host_lib() -> HostLib:
    """The process's host library (one instance, as the simulator has one)."""
    return HostLib()
