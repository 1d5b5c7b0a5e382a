# SPDX-License-Identifier: MIT
"""The virtio-net control virtqueue, served in software as mlx5_vnet.c does.

drivers/vdpa/mlx5/net/mlx5_vnet.c: mlx5_cvq_kick_handler walks the CVQ with vringh over a
software copy of the IOTLB and applies each command itself; hardware never sees the CVQ. Both the
reference device and the RTL parent driver do the same with :func:`serve_control`, so they agree
by construction on what a command does (virtio 1.2 §5.1.6.5).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Protocol

from .datapath import Chain, RingError, SegmentMover
from .spec import (
    VIRTIO_NET_CTRL_MAC,
    VIRTIO_NET_CTRL_MAC_ADDR_SET,
    VIRTIO_NET_CTRL_MQ,
    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN,
    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
    VIRTIO_NET_CTRL_VLAN,
    VIRTIO_NET_CTRL_VLAN_ADD,
    VIRTIO_NET_CTRL_VLAN_DEL,
    VIRTIO_NET_ERR,
    VIRTIO_NET_MAX_VLAN,
    VIRTIO_NET_OK,
)


class ControlTarget(Protocol):
    """The device state control commands change."""

    mac: bytes
    cur_queue_pairs: int


#: Called after each command: (class, command, acked OK, changed the device state).
CommandHook = Callable[[int, int, bool, bool], None]


def serve_control(mover: SegmentMover, chain: Chain, dev: ControlTarget, max_queue_pairs: int,
                  vlans: set[int] | None = None, on_command: CommandHook | None = None) -> int:
    """Execute the command in ``chain``, write its ack byte, return the used length (1).

    MAC_ADDR_SET (6 bytes) and MQ_VQ_PAIRS_SET (1..max_queue_pairs) are honoured, and with a
    ``vlans`` table VLAN_ADD / VLAN_DEL (mlx5_vnet.c: handle_ctrl_vlan: adding an id already
    present fails as mac_vlan_add's -EEXIST does; deleting always succeeds). Anything else,
    including a malformed body and every RX-mode command, is acked VIRTIO_NET_ERR, as
    mlx5_cvq_kick_handler answers a class it does not know. A chain without a writable byte
    for the ack cannot be answered at all: -EPROTO, the CVQ goes to error.
    """
    if chain.write_len < 1:
        raise RingError(errno.EPROTO, f"control command at head {chain.head} has no ack byte")
    cmd = mover.pull(chain)
    status = VIRTIO_NET_ERR
    changed = False
    cls = code = -1
    if len(cmd) >= 2:
        cls, code, body = cmd[0], cmd[1], cmd[2:]
        if cls == VIRTIO_NET_CTRL_MAC and code == VIRTIO_NET_CTRL_MAC_ADDR_SET and len(body) == 6:
            changed = dev.mac != bytes(body)
            dev.mac = bytes(body)
            status = VIRTIO_NET_OK
        elif cls == VIRTIO_NET_CTRL_MQ and code == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET and len(body) == 2:
            pairs = int.from_bytes(body, "little")
            if VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN <= pairs <= max_queue_pairs:
                changed = dev.cur_queue_pairs != pairs
                dev.cur_queue_pairs = pairs
                status = VIRTIO_NET_OK
        elif cls == VIRTIO_NET_CTRL_VLAN and vlans is not None and len(body) == 2:
            vid = int.from_bytes(body, "little")
            if code == VIRTIO_NET_CTRL_VLAN_ADD and vid <= VIRTIO_NET_MAX_VLAN and vid not in vlans:
                vlans.add(vid)
                status, changed = VIRTIO_NET_OK, True
            elif code == VIRTIO_NET_CTRL_VLAN_DEL:
                changed = vid in vlans
                vlans.discard(vid)
                status = VIRTIO_NET_OK
    mover.push(chain, bytes([status]))
    if on_command is not None:
        on_command(cls, code, status == VIRTIO_NET_OK, changed)
    return 1
