# SPDX-License-Identifier: MIT
"""The Shadow VirtQueue and QEMU's IOVA tree, piece by piece, against a reference device."""

from __future__ import annotations

import pytest

from vdpa_model.device import ReferenceDevice
from vdpa_model.guest import GuestNetDriver
from vdpa_model.iovatree import IovaTree, IovaTreeError
from vdpa_model.memory import Allocator, GiB, GuestMemory, MiB
from vdpa_model.ops import IotlbRange, VqState
from vdpa_model.options import DeviceOptions
from vdpa_model.spec import (
    VHOST_ACCESS_RO,
    VHOST_ACCESS_RW,
    VIRTIO_F_ACCESS_PLATFORM,
    VIRTIO_F_VERSION_1,
    bit,
)
from vdpa_model.svq import GuestRing, ShadowRing, ShadowVirtqueue
from vdpa_model.sync import run

FEATURES = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM)
HOST = 6 * GiB          # QEMU's own memory
SHADOW_IOVA = 1 << 40   # where the rings appear to the device


def test_iova_tree_first_fit_and_translation() -> None:
    t = IovaTree(0, (1 << 48) - 1)
    a = t.alloc(0x3000, addr=HOST)
    b = t.alloc(0x1000, addr=HOST + 0x10000)
    assert (a.iova, b.iova) == (0, 0x3000)
    t.remove(a.iova)
    assert t.alloc(0x2000, addr=HOST + 0x20000).iova == 0  # the hole is reused, lowest first
    ram = t.alloc(2 * GiB, addr=0)
    assert t.translate(0x1000, 0x100) == [(ram.iova + 0x1000, 0x100)]
    with pytest.raises(IovaTreeError, match="not mapped"):
        t.translate(3 * GiB, 8)
    with pytest.raises(IovaTreeError, match="overlaps"):
        t.insert(0x1000, 0x1000, 0)


def test_translation_splits_where_maps_end() -> None:
    t = IovaTree(0, (1 << 48) - 1)
    t.insert(0x100000, 0x1000, 0x5000)
    t.insert(0x900000, 0x1000, 0x6000)
    assert t.translate(0x5800, 0x1000) == [(0x100800, 0x800), (0x900000, 0x800)]


class Bench:
    """A reference device reading a shadow ring in ASID 0, buffers in guest RAM at IOVA = GPA."""

    def __init__(self, num: int = 8) -> None:
        self.mem = GuestMemory(size=8 * GiB)
        self.dev = ReferenceDevice(self.mem, DeviceOptions(queue_pairs=1))
        self.guest = GuestNetDriver(self.mem, Allocator(16 * MiB, GiB), queue_pairs=1, queue_size=num,
                                    features=FEATURES)
        self.host = Allocator(HOST, HOST + 64 * MiB)
        g = self.guest.tx_vq(0)
        self.guest_ring = GuestRing(self.mem, 1, g.desc_gpa, g.avail_gpa, g.used_gpa, g.num)
        self.start(num)

    def start(self, num: int) -> None:
        """A fresh shadow ring mapped for the device, which starts reading it at 0."""
        self.ring = ShadowRing(self.mem, lambda n: self.host.alloc(n, 4096), num)
        self.ring.desc_iova = SHADOW_IOVA
        self.ring.used_iova = SHADOW_IOVA + self.ring.driver_size
        run(self.dev.set_map(0, [
            IotlbRange(0, GiB, 0, VHOST_ACCESS_RW),
            IotlbRange(SHADOW_IOVA, self.ring.driver_size, self.ring.desc_pa, VHOST_ACCESS_RO),
            IotlbRange(self.ring.used_iova, self.ring.device_size, self.ring.used_pa, VHOST_ACCESS_RW)]))
        self.svq = ShadowVirtqueue(self.guest_ring, self.ring, lambda gpa, n: [(gpa, n)])
        run(self.dev.set_driver_features(FEATURES))
        run(self.dev.set_vq_num(1, num))
        run(self.dev.set_vq_address(1, self.ring.desc_iova, self.ring.driver_iova, self.ring.used_iova))
        run(self.dev.set_vq_state(1, VqState(0)))
        run(self.dev.set_status(0xB))
        run(self.dev.set_vq_ready(1, True))
        run(self.dev.set_status(0xF))

    def send(self, frames: list[bytes]) -> None:
        for f in frames:
            self.guest.send(0, f, kick=False)

    def forward_and_run(self) -> list[bytes]:
        if self.svq.handle_guest_kick():
            run(self.dev.kick_vq(1))
        run(self.dev.settle())
        self.svq.flush()
        return [p.data for p in self.dev.take_tx()]


def test_frames_go_through_the_shadow_ring_and_complete_in_the_guest() -> None:
    b = Bench()
    frames = [bytes([i]) * 60 for i in range(5)]
    b.send(frames)
    assert b.forward_and_run() == frames
    done = b.guest.reap_tx(0)
    assert [c.token for c in done] == frames
    assert b.guest_ring.used_idx == 5 and b.guest_ring.notifications == 1
    # every device access was to the shadow ring (rings) or guest RAM (buffers)
    assert b.svq.forwarded == b.svq.completed == 5


def test_a_full_shadow_ring_holds_the_next_element_until_a_flush() -> None:
    b = Bench(num=4)
    frames = [bytes([i]) * 60 for i in range(4)]
    b.send(frames[:3])
    b.svq.handle_guest_kick()  # three in the shadow ring, not yet run
    b.guest.reap_tx(0)
    b.send(frames[3:])
    # the guest ring has room again only after the device completes; the shadow ring too
    out = b.forward_and_run()
    out += b.forward_and_run()
    assert out == frames
    assert b.svq.in_flight == 0


def test_stop_hands_back_used_buffers_and_rewinds_the_rest() -> None:
    """vhost_svq_stop: flush, then every element in flight unpopped, so the next device (here
    the same one, restarted at the rewound index) sends it exactly once."""
    b = Bench()
    frames = [bytes([i]) * 60 for i in range(6)]
    b.send(frames[:2])
    assert b.forward_and_run() == frames[:2]
    b.send(frames[2:])
    b.svq.handle_guest_kick()  # four more reach the shadow ring; the device never runs them
    run(b.dev.suspend())
    rewound = b.svq.stop()
    assert rewound == 4 and b.guest_ring.last_avail_idx == 2 and b.guest_ring.used_idx == 2
    assert [c.token for c in b.guest.reap_tx(0)] == frames[:2]
    # the next device reads a fresh shadow ring; QEMU resubmits from the rewound index, and
    # the four go out once
    run(b.dev.reset())
    b.start(8)
    assert b.forward_and_run() == frames[2:]
    assert [c.token for c in b.guest.reap_tx(0)] == frames[2:]
    assert b.guest_ring.last_avail_idx == b.guest_ring.used_idx == 6
