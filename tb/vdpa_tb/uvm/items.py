# SPDX-License-Identifier: MIT
"""Transaction items of the vDPA agent: one vhost-vdpa/VdpaOps call, one traffic burst, one
malformed ring. Items carry their stimulus, what the sequence expects (from the contract or the
guest's own view, never from the device), and after the driver ran them, what happened."""

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
    or an errno name; ``expect_value`` checks the returned value when not None."""

    def __init__(self, name: str = "op", call: str = "", args: tuple[Any, ...] = (),
                 layer: str = "vhost", expect: str | None = None,
                 expect_value: Any = None) -> None:
        super().__init__(name)
        self.call = call
        self.args = args
        self.layer = layer
        self.expect = expect
        self.expect_value = expect_value
        self.result: Any = None

    def __str__(self) -> str:
        return f"#{self.uid} {self.layer}.{self.call}{self.args!r} -> {self.outcome} {self.detail}"


class TrafficItem(VdpaItem):
    """Frames on one queue pair. ``direction``: "tx" (send, expect them on the wire), "rx"
    (post buffers, offer frames, expect them in the buffers), "tx_held" (send while suspended:
    nothing may move), "tx_drain" (after resume: the held frames must leave, in order).
    ``layout``: "simple", "split" (header and data apart) or "indirect"."""

    def __init__(self, name: str = "traffic", qp: int = 0, direction: str = "tx",
                 sizes: tuple[int, ...] = (), layout: str = "simple", seed: int = 0) -> None:
        super().__init__(name)
        self.qp = qp
        self.direction = direction
        self.sizes = sizes
        self.layout = layout
        self.seed = seed
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
    the reference's parent, or "ok" for a ring the parent accepts)."""

    def __init__(self, name: str = "ring_fault", kind: str = "") -> None:
        super().__init__(name)
        self.kind = kind
        self.expect = ""

    def __str__(self) -> str:
        return f"#{self.uid} ring fault {self.kind} (want {self.expect}) -> {self.outcome}"
