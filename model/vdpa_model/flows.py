# SPDX-License-Identifier: MIT
"""Short QEMU-side procedures over vhost-vdpa for contract tests, written once for every device.

Each function is a sequence of ioctls hw/virtio/vhost-vdpa.c issues for one step of a bare
device's life: open and negotiate backend features, map guest memory, start the device, suspend
it and read its ring positions, move traffic. They take a :class:`VhostVdpa` (over any
:class:`VdpaOps`) and a :class:`DeviceHarness`, so the same code runs instantly on the reference
device and cycle-accurately on an RTL parent driver. A migration as QEMU really runs it (one
vhost_dev per queue pair, the shadowed control VQ, the Shadow VirtQueue, every step of
migration-sequence.md) is :mod:`vdpa_model.qemu` and :mod:`vdpa_model.migration`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from .guest import GuestNetDriver, GuestVirtqueue
from .ops import DeviceHarness, IotlbRange, TxPacket
from .spec import (
    VHOST_ACCESS_RW,
    VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK,
    VHOST_BACKEND_F_IOTLB_PERSIST,
    VIRTIO_CONFIG_S_ACKNOWLEDGE,
    VIRTIO_CONFIG_S_DRIVER,
    VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FEATURES_OK,
    bit,
)
from .vhost import VhostVdpa

#: ACKNOWLEDGE | DRIVER | FEATURES_OK: the status before DRIVER_OK (virtio 1.2 §3.1.1 steps 1-6).
STATUS_FEATURES_OK = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK
STATUS_RUNNING = STATUS_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK


class FlowError(AssertionError):
    """A device did not do what the contract promised during a flow."""


@dataclasses.dataclass(frozen=True)
class MemoryRegion:
    """A guest RAM region as QEMU's memory listener reports it: GPA range mapped at IOVA=GPA."""

    gpa: int
    size: int

    def as_range(self) -> IotlbRange:
        return IotlbRange(self.gpa, self.size, self.gpa, VHOST_ACCESS_RW)


async def open_device(v: VhostVdpa, *, persist: bool = True, group_asid_late: bool = False) -> int:
    """vhost_vdpa_init: open, then ack every offered backend feature the flow wants. Returns
    the acked set. IOTLB_PERSIST is acked only with ``persist`` (QEMU's x-svq-persist style)."""
    await v.open()
    offered = await v.get_backend_features()
    wanted = offered
    if not persist:
        wanted &= ~bit(VHOST_BACKEND_F_IOTLB_PERSIST)
    if not group_asid_late:
        wanted &= ~bit(VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)
    await v.set_backend_features(wanted)
    return wanted


async def map_guest_memory(v: VhostVdpa, regions: Iterable[MemoryRegion], asid: int = 0) -> None:
    """vhost_vdpa_listener_commit: all regions in one IOTLB batch."""
    await v.map(asid, [r.as_range() for r in regions], batch=True)


async def start_device(v: VhostVdpa, vqs: Sequence[GuestVirtqueue], *, features: int,
                       bases: dict[int, int] | None = None,
                       enable_after_driver_ok: bool = False) -> None:
    """vhost_dev_start + vhost_vdpa_dev_start: status handshake, per-VQ num/addr/base, enable,
    DRIVER_OK. With ``enable_after_driver_ok`` VQs are enabled after DRIVER_OK, as QEMU does
    when the parent offers VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK."""
    await v.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE)
    await v.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)
    await v.set_features(features)
    await v.set_status(STATUS_FEATURES_OK)
    if not await v.get_status() & VIRTIO_CONFIG_S_FEATURES_OK:
        raise FlowError("device refused FEATURES_OK")
    for vq in vqs:
        await v.set_vring_num(vq.index, vq.num)
        await v.set_vring_addr(vq.index, vq.desc_area, vq.driver_area, vq.device_area)
        await v.set_vring_base(vq.index, (bases or {}).get(vq.index, vq.used_idx))
        if not enable_after_driver_ok:
            await v.set_vring_enable(vq.index, True)
    await v.set_status(STATUS_RUNNING)
    if enable_after_driver_ok:
        for vq in vqs:
            await v.set_vring_enable(vq.index, True)


async def stop_device(v: VhostVdpa, vq_indices: Iterable[int]) -> dict[int, int]:
    """vhost_vdpa_suspend + vhost_vdpa_get_vring_base for every VQ: the state that migrates."""
    await v.suspend()
    return {idx: await v.get_vring_base(idx) for idx in vq_indices}


async def kick_if_needed(v: VhostVdpa, vq: GuestVirtqueue) -> bool:
    """Publish, and ring the doorbell when the driver's suppression rules ask for it."""
    vq.publish()
    if vq.kick_needed():
        await v.kick(vq.index)
        return True
    return False


async def transmit(v: VhostVdpa, dev: DeviceHarness, driver: GuestNetDriver, qp: int,
                   frames: Sequence[bytes], **post: bool) -> list[TxPacket]:
    """Send ``frames`` on transmitq ``qp``, let the device run, reap, and return what left."""
    for frame in frames:
        driver.send(qp, frame, kick=False, **post)
    await kick_if_needed(v, driver.tx_vq(qp))
    await dev.settle()
    driver.reap_tx(qp)
    return dev.take_tx()


async def receive(v: VhostVdpa, dev: DeviceHarness, driver: GuestNetDriver, qp: int,
                  frames: Sequence[bytes], buf_size: int = 2048, **post: bool) -> list[bytes]:
    """Post one buffer per frame on receiveq ``qp``, offer the frames, reap what arrived."""
    driver.post_rx(qp, len(frames), buf_size, kick=False, **post)
    await kick_if_needed(v, driver.rx_vq(qp))
    for frame in frames:
        await dev.inject_rx(driver.rx_index(qp), frame)
    await dev.settle()
    return driver.reap_rx(qp)
