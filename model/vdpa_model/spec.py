# SPDX-License-Identifier: MIT
"""Virtio, virtio-net and vhost-vdpa constants: the one place each number is written.

Names follow the headers they come from so a kernel developer can grep for them:
``include/uapi/linux/virtio_ring.h`` (ring layout and flags), ``virtio_config.h`` (status and
transport feature bits), ``virtio_net.h`` (net feature bits and header), ``vhost_types.h``
(backend features and IOTLB messages), ``include/linux/vdpa.h`` (reset flags) and the OASIS
virtio 1.2 specification (section numbers given beside each group).
"""

from __future__ import annotations

import struct
from typing import Final

# --------------------------------------------------------------------------------------------
# Split virtqueue layout (virtio 1.2 §2.7; virtio_ring.h). Offsets are relative to each area.
# --------------------------------------------------------------------------------------------

VRING_DESC_SIZE: Final = 16
VRING_DESC_ALIGN: Final = 16
VRING_AVAIL_ALIGN: Final = 2
VRING_USED_ALIGN: Final = 4
VRING_USED_ELEM_SIZE: Final = 8

# struct vring_desc { le64 addr; le32 len; le16 flags; le16 next; }
VRING_DESC_STRUCT: Final = struct.Struct("<QIHH")

# struct vring_avail { le16 flags; le16 idx; le16 ring[N]; le16 used_event; }
VRING_AVAIL_FLAGS_OFF: Final = 0
VRING_AVAIL_IDX_OFF: Final = 2
VRING_AVAIL_RING_OFF: Final = 4

# struct vring_used { le16 flags; le16 idx; struct vring_used_elem ring[N]; le16 avail_event; }
VRING_USED_FLAGS_OFF: Final = 0
VRING_USED_IDX_OFF: Final = 2
VRING_USED_RING_OFF: Final = 4
VRING_USED_ELEM_STRUCT: Final = struct.Struct("<II")

# Descriptor flags.
VRING_DESC_F_NEXT: Final = 1
VRING_DESC_F_WRITE: Final = 2
VRING_DESC_F_INDIRECT: Final = 4

# Driver → device suppression (avail.flags) and device → driver suppression (used.flags).
VRING_AVAIL_F_NO_INTERRUPT: Final = 1
VRING_USED_F_NO_NOTIFY: Final = 1

# Largest queue size the split ring format allows (virtio 1.2 §2.7: "Queue Size ... 32768").
VIRTQUEUE_MAX_SIZE: Final = 32768
# vhost core refuses SET_VRING_NUM above this (drivers/vhost/vhost.c: vhost_vring_set_num).
VHOST_VRING_NUM_LIMIT: Final = 0xFFFF
U16_MASK: Final = 0xFFFF


def desc_table_size(num: int) -> int:
    """Bytes of a descriptor table for queue size ``num`` (virtio 1.2 §2.7.5)."""
    return VRING_DESC_SIZE * num


def avail_ring_size(num: int) -> int:
    """Bytes of the driver area including ``used_event`` (virtio 1.2 §2.7.6)."""
    return VRING_AVAIL_RING_OFF + 2 * num + 2


def used_ring_size(num: int) -> int:
    """Bytes of the device area including ``avail_event`` (virtio 1.2 §2.7.8)."""
    return VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * num + 2


def used_event_off(num: int) -> int:
    """Offset of ``used_event`` in the driver area (written by the driver, read by the device)."""
    return VRING_AVAIL_RING_OFF + 2 * num


def avail_event_off(num: int) -> int:
    """Offset of ``avail_event`` in the device area (written by the device, read by the driver)."""
    return VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * num


def vring_need_event(event_idx: int, new_idx: int, old_idx: int) -> bool:
    """Event-index notification test (virtio_ring.h: vring_need_event; virtio 1.2 §2.7.10).

    True when ``event_idx`` lies in the half-open window ``[old_idx, new_idx)`` with u16 wrap.
    """
    return ((new_idx - event_idx - 1) & U16_MASK) < ((new_idx - old_idx) & U16_MASK)


# --------------------------------------------------------------------------------------------
# Device status (virtio 1.2 §2.1; virtio_config.h).
# --------------------------------------------------------------------------------------------

VIRTIO_CONFIG_S_ACKNOWLEDGE: Final = 0x01
VIRTIO_CONFIG_S_DRIVER: Final = 0x02
VIRTIO_CONFIG_S_DRIVER_OK: Final = 0x04
VIRTIO_CONFIG_S_FEATURES_OK: Final = 0x08
VIRTIO_CONFIG_S_NEEDS_RESET: Final = 0x40
VIRTIO_CONFIG_S_FAILED: Final = 0x80

# --------------------------------------------------------------------------------------------
# Feature bits: transport (virtio_config.h, virtio_ring.h) and net (virtio_net.h). Bit numbers.
# --------------------------------------------------------------------------------------------

VIRTIO_NET_F_CSUM: Final = 0
VIRTIO_NET_F_GUEST_CSUM: Final = 1
VIRTIO_NET_F_MTU: Final = 3
VIRTIO_NET_F_MAC: Final = 5
VIRTIO_NET_F_MRG_RXBUF: Final = 15
VIRTIO_NET_F_STATUS: Final = 16
VIRTIO_NET_F_CTRL_VQ: Final = 17
VIRTIO_NET_F_CTRL_RX: Final = 18
VIRTIO_NET_F_CTRL_VLAN: Final = 19
VIRTIO_NET_F_MQ: Final = 22
VIRTIO_NET_F_CTRL_MAC_ADDR: Final = 23
VIRTIO_RING_F_INDIRECT_DESC: Final = 28
VIRTIO_RING_F_EVENT_IDX: Final = 29
VIRTIO_F_VERSION_1: Final = 32
VIRTIO_F_ACCESS_PLATFORM: Final = 33
VIRTIO_F_RING_PACKED: Final = 34
VIRTIO_F_IN_ORDER: Final = 35
VIRTIO_F_ORDER_PLATFORM: Final = 36
VIRTIO_F_NOTIFICATION_DATA: Final = 38
VIRTIO_F_RING_RESET: Final = 40


def bit(n: int) -> int:
    """Feature mask for feature bit number ``n``."""
    return 1 << n


# --------------------------------------------------------------------------------------------
# virtio-net header (virtio 1.2 §5.1.6; virtio_net.h: struct virtio_net_hdr_v1).
# --------------------------------------------------------------------------------------------

# struct virtio_net_hdr { u8 flags; u8 gso_type; le16 hdr_len, gso_size, csum_start, csum_offset; }
VIRTIO_NET_HDR_STRUCT: Final = struct.Struct("<BBHHHH")
# ... followed by le16 num_buffers in the v1 / mergeable-buffers layout.
VIRTIO_NET_HDR_NUM_BUFFERS_STRUCT: Final = struct.Struct("<H")
VIRTIO_NET_HDR_LEGACY_LEN: Final = 10
VIRTIO_NET_HDR_V1_LEN: Final = 12


_HDR_V1_FEATURES: Final = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_MRG_RXBUF)


def net_hdr_len(features: int) -> int:
    """virtio-net header length for the negotiated ``features`` (virtio 1.2 §5.1.6.1).

    With VERSION_1 or MRG_RXBUF the header carries ``num_buffers`` and is 12 bytes; otherwise 10.
    """
    if features & _HDR_V1_FEATURES:
        return VIRTIO_NET_HDR_V1_LEN
    return VIRTIO_NET_HDR_LEGACY_LEN


# --------------------------------------------------------------------------------------------
# vhost-vdpa backend features (vhost_types.h). Bit numbers; userspace passes 1 << n.
# --------------------------------------------------------------------------------------------

VHOST_BACKEND_F_IOTLB_MSG_V2: Final = 1
VHOST_BACKEND_F_IOTLB_BATCH: Final = 2
VHOST_BACKEND_F_IOTLB_ASID: Final = 3
VHOST_BACKEND_F_SUSPEND: Final = 4
VHOST_BACKEND_F_RESUME: Final = 5
VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK: Final = 6
VHOST_BACKEND_F_DESC_ASID: Final = 7
VHOST_BACKEND_F_IOTLB_PERSIST: Final = 8
# Seen in the 2026 development tree only; modelled as an option (vdpa-semantics.md "Version caveat").
VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK: Final = 9

# --------------------------------------------------------------------------------------------
# IOTLB messages (vhost_types.h: struct vhost_iotlb_msg, struct vhost_msg_v2).
# --------------------------------------------------------------------------------------------

VHOST_IOTLB_MISS: Final = 1
VHOST_IOTLB_UPDATE: Final = 2
VHOST_IOTLB_INVALIDATE: Final = 3
VHOST_IOTLB_ACCESS_FAIL: Final = 4
VHOST_IOTLB_BATCH_BEGIN: Final = 5
VHOST_IOTLB_BATCH_END: Final = 6

VHOST_ACCESS_RO: Final = 0x1
VHOST_ACCESS_WO: Final = 0x2
VHOST_ACCESS_RW: Final = 0x3

#: struct vhost_msg { int type; union { struct vhost_iotlb_msg iotlb; u8 padding[64]; } }: the
#: iotlb message at offset 8 after a 4-byte hole, no asid; also 72 bytes on 64-bit.
VHOST_IOTLB_MSG: Final = 0x1
VHOST_IOTLB_MSG_V2: Final = 0x2
# struct vhost_msg_v2 { u32 type; u32 asid; struct vhost_iotlb_msg iotlb; u8 padding[..] } = 72 bytes
# struct vhost_iotlb_msg { u64 iova, size, uaddr; u8 perm, type; }
VHOST_MSG_V2_STRUCT: Final = struct.Struct("<IIQQQBB38x")

# Host pinning of IOTLB UPDATEs (drivers/vhost/vdpa.c: vhost_vdpa_pa_map): pages of the host's
# PAGE_SIZE (x86-64), pinned in calls of one page of page pointers (PAGE_SIZE / sizeof(void *)).
HOST_PAGE_SIZE: Final = 4096
VHOST_PIN_BATCH_PAGES: Final = HOST_PAGE_SIZE // 8

# --------------------------------------------------------------------------------------------
# include/linux/vdpa.h
# --------------------------------------------------------------------------------------------

# vdpa_reset() flag: also restore the parent's default mapping (compat_reset only).
VDPA_RESET_F_CLEAN_MAP: Final = 1

# virtio device id of a network card (virtio 1.2 §5).
VIRTIO_ID_NET: Final = 1

# --------------------------------------------------------------------------------------------
# virtio-net control virtqueue (virtio 1.2 §5.1.6.5; virtio_net.h).
# --------------------------------------------------------------------------------------------

VIRTIO_NET_OK: Final = 0
VIRTIO_NET_ERR: Final = 1
VIRTIO_NET_CTRL_RX: Final = 0
VIRTIO_NET_CTRL_RX_PROMISC: Final = 0
VIRTIO_NET_CTRL_RX_ALLMULTI: Final = 1
VIRTIO_NET_CTRL_MAC: Final = 1
VIRTIO_NET_CTRL_MAC_TABLE_SET: Final = 0
VIRTIO_NET_CTRL_MAC_ADDR_SET: Final = 1
VIRTIO_NET_CTRL_MQ: Final = 4
VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET: Final = 0
VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN: Final = 1
VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX: Final = 0x8000
VIRTIO_NET_CTRL_VLAN: Final = 2
VIRTIO_NET_CTRL_VLAN_ADD: Final = 0
VIRTIO_NET_CTRL_VLAN_DEL: Final = 1
#: VLAN ids are 12 bits (IEEE 802.1Q); virtio-net keeps a 4096-bit filter.
VIRTIO_NET_MAX_VLAN: Final = 4095

# struct virtio_net_config { u8 mac[6]; le16 status; le16 max_virtqueue_pairs; le16 mtu; }
VIRTIO_NET_CONFIG_STRUCT: Final = struct.Struct("<6sHHH")
VIRTIO_NET_S_LINK_UP: Final = 1

# Largest frame a TX chain may carry after the header (a 64 KiB GSO frame), virtio 1.2 §5.1.6.2.
VIRTIO_NET_MAX_FRAME: Final = 65550
