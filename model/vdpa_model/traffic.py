# SPDX-License-Identifier: MIT
"""Guest traffic through a migration, and the ledger that says whether any of it went wrong.

:class:`Traffic` plays the guest (one :class:`~vdpa_model.guest.GuestNetDriver` per NIC) and the
wire: every round it sends a few frames and posts a few receive buffers on every queue pair in
use, injects as many frames from the wire, kicks, lets QEMU and the device run, and reaps.
Every frame carries a unique tag, so :class:`Ledger` can account for each posted buffer and
each frame when the migration is over.

What the contract allows, precisely (the checks in :meth:`Ledger.checks`):

* every TX buffer and every RX buffer the guest posts is completed exactly once (the guest
  driver refuses a second completion of a head, and nothing is outstanding at the end);
* every TX frame reaches the wire; it may reach it twice only if its buffer was made available
  to a device that then stopped without completing it, and QEMU rewound it (vhost_svq_stop
  unpops it, or the ring position read at suspend is the device's used index), so the next
  device sent it again: a device may have transmitted a chain it had not yet marked used.
  Frames of one queue leave in the order they were posted (the repeat of a rewound frame
  aside);
* an RX frame is delivered intact, at most once. It may be lost only if it reached a device
  that was stopped (suspended, reset, or the source after stop-and-copy) or that was still
  holding it, with no buffer to put it in, when it was stopped: the network gap of a
  migration. No other frame may be lost.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from .guest import GuestNetDriver
from .ops import DeviceHarness, TxPacket


class Endpoint(Protocol):
    """Where a guest NIC's traffic goes now: QEMU's device (kicks, running it) and the harness
    of the device under it (frames in and out)."""

    mode: str

    async def guest_kick(self, idx: int) -> None: ...

    async def pump(self) -> None: ...


@dataclasses.dataclass
class Nic:
    """One guest NIC: its driver, the queue pairs in use, and where it is attached now."""

    name: str
    driver: GuestNetDriver
    pairs: int
    qemu: Endpoint
    harness: DeviceHarness


@dataclasses.dataclass
class Ledger:
    """Every frame and buffer, by tag."""

    tx_order: dict[tuple[str, int], list[bytes]] = dataclasses.field(default_factory=dict)
    frames: dict[bytes, bytes] = dataclasses.field(default_factory=dict)
    tx_wire: Counter[bytes] = dataclasses.field(default_factory=Counter)
    tx_wire_order: dict[tuple[str, int], list[bytes]] = dataclasses.field(default_factory=dict)
    tx_rewound: set[bytes] = dataclasses.field(default_factory=set)
    tx_completed: Counter[bytes] = dataclasses.field(default_factory=Counter)
    rx_injected: dict[bytes, tuple[str, int]] = dataclasses.field(default_factory=dict)
    rx_delivered: Counter[bytes] = dataclasses.field(default_factory=Counter)
    rx_wrong: list[str] = dataclasses.field(default_factory=list)
    rx_may_lose: set[bytes] = dataclasses.field(default_factory=set)
    stray_tx: list[str] = dataclasses.field(default_factory=list)

    def checks(self, outstanding: dict[str, tuple[int, int]]) -> list[tuple[str, bool, str]]:
        """(name, ok, detail) for each promise of the module docstring."""
        out: list[tuple[str, bool, str]] = []
        posted = [tag for tags in self.tx_order.values() for tag in tags]
        bad_tx = [t for t in posted if self.tx_wire[t] != 1
                  and not (self.tx_wire[t] == 2 and t in self.tx_rewound)]
        seen = self.tx_wire[bad_tx[0]] if bad_tx else 0
        out.append(("traffic: every TX frame on the wire once (twice only if rewound)",
                    not bad_tx and not self.stray_tx,
                    f"{len(posted)} frames, {sum(self.tx_wire.values()) - len(posted)} repeats"
                    if not bad_tx and not self.stray_tx else
                    f"{len(bad_tx)} wrong, first {bad_tx[:1]!r} seen {seen} times; "
                    f"stray {self.stray_tx[:2]}"))
        disordered = []
        for key, tags in self.tx_order.items():
            wire = list(dict.fromkeys(self.tx_wire_order.get(key, [])))
            if wire != tags:
                disordered.append(key)
        out.append(("traffic: each TX queue's frames leave in posting order", not disordered,
                    f"{len(self.tx_order)} queues" if not disordered else f"out of order: {disordered}"))
        twice = [t for t, n in self.tx_completed.items() if n != 1]
        not_done = {k: v[0] for k, v in outstanding.items() if v[0]}
        out.append(("traffic: every TX buffer completed exactly once", not twice and not not_done,
                    f"{sum(self.tx_completed.values())} completions" if not twice and not not_done
                    else f"completed twice {twice[:2]}, outstanding {not_done}"))
        rx_left = {k: v[1] for k, v in outstanding.items() if v[1]}
        out.append(("traffic: every RX buffer completed exactly once", not rx_left,
                    "none outstanding" if not rx_left else f"outstanding {rx_left}"))
        dup = [t for t, n in self.rx_delivered.items() if n > 1]
        lost = [t for t in self.rx_injected if not self.rx_delivered[t] and t not in self.rx_may_lose]
        gap = [t for t in self.rx_may_lose if not self.rx_delivered[t]]
        ok = not dup and not lost and not self.rx_wrong
        out.append(("traffic: RX frames delivered intact at most once, lost only in the gap", ok,
                    f"{sum(self.rx_delivered.values())} delivered, {len(gap)} lost in the gap" if ok
                    else f"duplicated {dup[:2]}, lost {lost[:2]}, wrong {self.rx_wrong[:2]}"))
        return out


class Traffic:
    """Rounds of guest traffic on every queue pair in use of every NIC."""

    def __init__(self, nics: Sequence[Nic], frames: int = 4, seed: int = 1) -> None:
        self.nics = list(nics)
        self.frames = frames
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self._seq = 0

    def _frame(self, nic: Nic, qp: int, kind: str) -> bytes:
        self._seq += 1
        tag = f"{kind}:{nic.name}:q{qp}:#{self._seq}:".encode()
        return tag + self.rng.randbytes(self.rng.choice((0, 40, 200, 1400)))

    @staticmethod
    def tag(frame: bytes) -> bytes:
        """``kind:nic:qN:#seq``, the unique part of a frame (the rest is random padding)."""
        return b":".join(frame.split(b":", 4)[:4])

    async def round(self, *, inject: bool = True, pump: bool = True) -> None:
        """The guest posts on every queue pair in use and kicks; frames arrive from the wire;
        then (``pump``) QEMU and the devices run until quiet. Without it the work is left in
        flight: a device that runs beside the caller (a simulation) takes it on meanwhile."""
        for nic in self.nics:
            d = nic.driver
            for qp in range(nic.pairs):
                for _ in range(self.frames):
                    frame = self._frame(nic, qp, "tx")
                    d.send(qp, frame, kick=False)
                    self.ledger.frames[self.tag(frame)] = frame
                    self.ledger.tx_order.setdefault((nic.name, qp), []).append(self.tag(frame))
                d.post_rx(qp, self.frames, 2048, kick=False)
                for idx in (d.tx_index(qp), d.rx_index(qp)):
                    d.vqs[idx].publish()
                    await nic.qemu.guest_kick(idx)
                if inject:
                    for _ in range(self.frames):
                        await self.offer(nic, qp)
        if pump:
            await self.pump()

    async def offer(self, nic: Nic, qp: int) -> None:
        """One frame from the wire for receive queue ``qp``; may be lost if the device is not
        running now."""
        frame = self._frame(nic, qp, "rx")
        tag = self.tag(frame)
        self.ledger.frames[tag] = frame
        self.ledger.rx_injected[tag] = (nic.name, qp)
        if nic.qemu.mode == "stopped":
            self.ledger.rx_may_lose.add(tag)
        await nic.harness.inject_rx(nic.driver.rx_index(qp), frame)

    async def pump(self) -> None:
        """QEMU and the devices run; the guest reaps; the wire is read."""
        for nic in self.nics:
            await nic.qemu.pump()
            self.collect(nic)

    def collect(self, nic: Nic) -> None:
        self.wire(nic.name, nic.harness.take_tx(), nic.driver)
        self.reap(nic)

    def wire(self, name: str, pkts: Sequence[TxPacket], driver: GuestNetDriver) -> None:
        for p in pkts:
            tag = self.tag(p.data)
            if self.ledger.frames.get(tag) != p.data or not tag.startswith(b"tx:"):
                self.ledger.stray_tx.append(repr(p.data[:24]))
                continue
            self.ledger.tx_wire[tag] += 1
            qp = (p.vq - 1) // 2
            self.ledger.tx_wire_order.setdefault((name, qp), []).append(tag)

    def reap(self, nic: Nic) -> None:
        d = nic.driver
        for qp in range(nic.pairs):
            for c in d.reap_tx(qp):
                assert isinstance(c.token, bytes)
                self.ledger.tx_completed[self.tag(c.token)] += 1
            for frame in d.reap_rx(qp):
                tag = self.tag(frame)
                self.ledger.rx_delivered[tag] += 1
                if (self.ledger.rx_injected.get(tag) != (nic.name, qp)
                        or self.ledger.frames.get(tag) != frame):
                    self.ledger.rx_wrong.append(f"{tag!r} on {nic.name} q{qp}")

    def stopping(self, nic: Nic) -> None:
        """``nic``'s device is about to stop: what it holds may be lost (RX frames it has not
        delivered) or sent again (TX buffers in flight, if they get rewound)."""
        self.collect(nic)
        delivered = self.ledger.rx_delivered
        for tag, (name, _) in self.ledger.rx_injected.items():
            if name == nic.name and not delivered[tag]:
                self.ledger.rx_may_lose.add(tag)
        done = self.ledger.tx_completed
        for (name, _), tags in self.ledger.tx_order.items():
            if name == nic.name:
                self.ledger.tx_rewound.update(t for t in tags if not done[t])

    async def drain(self, rounds: int = 8) -> None:
        """Let every TX buffer complete and fill every RX buffer with a frame."""
        for _ in range(rounds):
            for nic in self.nics:
                d = nic.driver
                for qp in range(nic.pairs):
                    for idx in (d.tx_index(qp), d.rx_index(qp)):
                        await nic.qemu.guest_kick(idx)
                    for _ in range(d.rx_vq(qp).num_outstanding):
                        await self.offer(nic, qp)
            await self.pump()
            if not any(self.outstanding().values()):
                return

    def outstanding(self) -> dict[str, tuple[int, int]]:
        """Per NIC: (TX buffers, RX buffers) not completed yet."""
        return {nic.name: (sum(nic.driver.tx_vq(q).num_outstanding for q in range(nic.pairs)),
                           sum(nic.driver.rx_vq(q).num_outstanding for q in range(nic.pairs)))
                for nic in self.nics}
