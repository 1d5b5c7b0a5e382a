# SPDX-License-Identifier: MIT
"""Transaction items of the vDPA agent: one vhost-vdpa/VdpaOps call, one traffic burst, one
malformed ring, one bus error, a change of bus stalls. Items carry their stimulus, what the
sequence expects (from the contract or the guest's own view, never from the device), and
after the driver ran them, what happened."""

from __future__ import annotations

import itertools
import random
from typing import Any

from pyuvm import uvm_sequence_item

_ids = itertools.count()


class VdpaItem(uvm_sequence_item):
    """Common result fields: ``outcome`` is "ok", an errno name, "DIVERGENCE", "MISMATCH",
    "ERROR" or "SKIPPED"; ``ops`` lists every VdpaOps call the item caused as (op, outcome);
    ``problems`` lists check failures the driver found (frames, held work, VQ states)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.uid = next(_ids)
        self.outcome: str | None = None
        self.detail = ""
        self.ops: list[tuple[str, str]] = []
        self.problems: list[str] = []
        #: reference VQ object states (name per VQ) after the item ran
        self.vq_states: tuple[str, ...] = ()
        #: facts for coverage the driver knows at execution time (reset kind, binding, ...)
        self.meta: dict[str, Any] = {}

    @property
    def failed(self) -> bool:
        return self.outcome in ("DIVERGENCE", "MISMATCH", "ERROR", "SKIPPED") or bool(self.problems)


class OpItem(VdpaItem):
    """One call: ``layer`` "vhost" calls VhostVdpa (the ioctl layer), "ops" calls VdpaOps on
    the device stack directly. ``expect`` is None (any outcome both devices agree on), "ok",
    or an errno name; ``expect_value`` checks the returned value when not None.

    ``race`` names the parent op (e.g. "suspend", "dma_unmap") that this call makes while
    traffic is in flight: it runs on the DUT first and the reference catches up with it
    (vdpa_model.lockstep.Lockstep.dut_first), ``delay`` cycles after the bench last acted.
    ``category`` ("<covergroup>/<bin>") is the class of stimulus the sequence meant (an
    illegal-op class, a reset kind, ...); the covergroup crosses it with the device state."""

    def __init__(self, name: str = "op", call: str = "", args: tuple[Any, ...] = (),
                 layer: str = "vhost", expect: str | None = None,
                 expect_value: Any = None, race: str | None = None,
                 category: str = "", delay: int = 0) -> None:
        super().__init__(name)
        self.call = call
        self.args = args
        self.layer = layer
        self.expect = expect
        self.expect_value = expect_value
        self.race = race
        self.category = category
        #: clock cycles the DUT runs on its own before the call (a race's timing)
        self.delay = delay
        self.result: Any = None

    def __str__(self) -> str:
        return f"#{self.uid} {self.layer}.{self.call}{self.args!r} -> {self.outcome} {self.detail}"


class TrafficItem(VdpaItem):
    """Frames on one queue pair. ``direction``: "tx" (send, expect them on the wire), "rx"
    (post buffers, offer frames, expect them in the buffers), "tx_held" (send while suspended:
    nothing may move), "tx_drain" (after resume: the held frames must leave, in order).
    ``layout``: "simple", "split" (header and data apart) or "indirect".

    Traffic in flight, for races: "tx_inflight" / "rx_inflight" post, kick (and offer the
    frames) without settling; "settle" lets everything in flight finish and checks that each
    queue's frames left or arrived in order, as a prefix when a queue faulted (an unmap won
    the race). ``window`` (a window IOVA the context mapped) puts a TX burst's buffers there
    instead of in guest RAM."""

    def __init__(self, name: str = "traffic", qp: int = 0, direction: str = "tx",
                 sizes: tuple[int, ...] = (), layout: str = "simple", seed: int = 0,
                 window: int | None = None) -> None:
        super().__init__(name)
        self.qp = qp
        self.direction = direction
        self.sizes = sizes
        self.layout = layout
        self.seed = seed
        self.window = window
        self.delivered: list[int] = []

    def randomize(self, rng: random.Random, max_frames: int = 4) -> None:
        self.sizes = tuple(rng.randint(1, 1514) for _ in range(rng.randint(1, max_frames)))
        self.seed = rng.getrandbits(32)

    def frames(self) -> list[bytes]:
        rng = random.Random(self.seed)
        return [rng.randbytes(n) for n in self.sizes]

    def __str__(self) -> str:
        return (f"#{self.uid} {self.direction} qp{self.qp} {self.layout} {list(self.sizes)} -> "
                f"{self.outcome} {self.detail}")


class RingFaultItem(VdpaItem):
    """One entry of the ring catalogue (``kind`` = a :mod:`vdpa_model.ringcases` name) posted
    on the first queue pair. The driver fills ``expect`` from the catalogue (the errno name for
    the reference's parent, or "ok" for a ring the parent accepts).

    Among healthy rings: ``before`` healthy frames are posted on the same queue ahead of it
    (they must complete first), and ``alongside`` healthy frame sizes go out on every other
    queue pair in the same settle (they must all leave)."""

    def __init__(self, name: str = "ring_fault", kind: str = "", before: int = 0,
                 alongside: tuple[int, ...] = ()) -> None:
        super().__init__(name)
        self.kind = kind
        self.expect = ""
        self.before = before
        self.alongside = alongside

    def __str__(self) -> str:
        return f"#{self.uid} ring fault {self.kind} (want {self.expect}) -> {self.outcome}"


class BusErrorItem(VdpaItem):
    """A host range that answers with a bus error, and the queue that meets it: ``target`` is
    one of :data:`vdpa_tb.uvm.coverage.BUS_TARGETS` on queue pair ``qp``; ``alongside``
    healthy frame sizes go out on the other queue pairs in the same settle. The context
    poisons the range in the DUT's host and in the reference alike; EIO on that VQ is
    expected, nothing else harmed."""

    def __init__(self, name: str = "bus_error", target: str = "", qp: int = 0,
                 alongside: tuple[int, ...] = ()) -> None:
        super().__init__(name)
        self.target = target
        self.qp = qp
        self.alongside = alongside

    def __str__(self) -> str:
        return f"#{self.uid} bus error at {self.target} qp{self.qp} -> {self.outcome} {self.detail}"


class RxFloodItem(VdpaItem):
    """More frames for receive queue pair ``qp`` than a device may hold while it has no buffer
    (``sizes``), interleaved with frames for the other queue pairs, which have a buffer for
    each (``beside`` sizes per other queue pair); then buffers on ``qp``. A device may drop
    the starved queue's oldest frames to make room (both kernel parents drop a frame for a
    queue with no buffer: vdpa_sim_net.c: vdpasim_net_work), never another queue's. The
    driver fills ``dropped`` (frames of ``qp`` that never arrived)."""

    def __init__(self, name: str = "rx_flood", qp: int = 0, sizes: tuple[int, ...] = (),
                 beside: tuple[int, ...] = (), seed: int = 0) -> None:
        super().__init__(name)
        self.qp = qp
        self.sizes = sizes
        self.beside = beside
        self.seed = seed
        self.dropped = -1
        self.delivered: list[int] = []

    def __str__(self) -> str:
        return (f"#{self.uid} rx flood qp{self.qp} {len(self.sizes)} frames, "
                f"{len(self.beside)} beside each other queue pair -> {self.outcome} "
                f"(dropped {self.dropped}) {self.detail}")


class StallItem(VdpaItem):
    """Turn AXI / AXI-Stream idle cycles (the valids the testbench sources) and backpressure
    (the readies it sinks) on or off for what follows."""

    def __init__(self, name: str = "stalls", idle: bool = False,
                 backpressure: bool = False) -> None:
        super().__init__(name)
        self.idle = idle
        self.backpressure = backpressure

    def __str__(self) -> str:
        return f"#{self.uid} stalls idle={self.idle} backpressure={self.backpressure}"
