# SPDX-License-Identifier: MIT
"""The virtio-net control virtqueue, served in software as mlx5_vnet.c does.

drivers/vdpa/mlx5/net/mlx5_vnet.c: mlx5_cvq_kick_handler walks the CVQ with vringh over a
software copy of the IOTLB and applies each command itself; hardware never sees the CVQ. Both the
reference device and the RTL parent driver do the same with :func:`serve_control`, so they agree
by construction on what a command does (virtio 1.2 §5.1.6.5).
"""

from __future__ import annotations

import errno
from typing import Protocol

from .datapath import Chain, RingError, SplitRing
from .spec import (
    VIRTIO_NET_CTRL_MAC,
    VIRTIO_NET_CTRL_MAC_ADDR_SET,
    VIRTIO_NET_CTRL_MQ,
    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN,
    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
    VIRTIO_NET_ERR,
    VIRTIO_NET_OK,
)


class ControlTarget(Protocol):
    """The device state control commands change."""

    mac: bytes
    cur_queue_pairs: int


def serve_control(ring: SplitRing, chain: Chain, dev: ControlTarget, max_queue_pairs: int) -> int:
    """Execute the command in ``chain``, write its ack byte, return the used length (1).

    MAC_ADDR_SET (6 bytes) and MQ_VQ_PAIRS_SET (1..max_queue_pairs) are honoured; anything else,
    including a malformed body, is acked VIRTIO_NET_ERR. A chain without a writable byte for the
    ack cannot be answered at all: -EPROTO, the CVQ goes to error.
    """
    if chain.write_len < 1:
        raise RingError(errno.EPROTO, f"control command at head {chain.head} has no ack byte")
    cmd = ring.pull(chain)
    status = VIRTIO_NET_ERR
    if len(cmd) >= 2:
        cls, code, body = cmd[0], cmd[1], cmd[2:]
        if cls == VIRTIO_NET_CTRL_MAC and code == VIRTIO_NET_CTRL_MAC_ADDR_SET and len(body) == 6:
            dev.mac = bytes(body)
            status = VIRTIO_NET_OK
        elif cls == VIRTIO_NET_CTRL_MQ and code == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET and len(body) == 2:
            pairs = int.from_bytes(body, "little")
            if VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN <= pairs <= max_queue_pairs:
                dev.cur_queue_pairs = pairs
                status = VIRTIO_NET_OK
    ring.push(chain, bytes([status]))
    return 1
