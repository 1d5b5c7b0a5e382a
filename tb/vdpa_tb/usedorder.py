# SPDX-License-Identifier: MIT
"""The used ring's publication order, judged from the bus log.

virtio 1.2 §2.7.8.2 (Virtqueue Used Ring, device requirements): "The device MUST set len prior
to updating the used idx". The driver relies on it: drivers/virtio/virtio_ring.c:
virtqueue_get_buf_ctx_split reads ``used->idx``, then (after virtio_rmb) the element; an element
written after the idx that publishes it can be read stale. A settle-point comparison of memory
cannot see the order (both orders leave the same bytes), so this checker reads the order of the
device's writes from the target's log.

Rule checked, per queue: every write that completes ``used.idx`` must come after as many
complete used elements (all eight bytes of ``id`` and ``len``, in one write or several) as there
have been ``used.idx`` writes so far. Each idx write publishes at least one new element, so the
j-th idx write publishes index ``base + j`` or more; a device that batches (several elements, then
one idx write) passes, one that writes idx first fails at its first chain. The log's addresses are
guest-physical: the ring is located by the guest's own ``used_gpa``.
"""

from __future__ import annotations

import numpy as np

from vdpa_model.dma import AccessKind
from vdpa_model.spec import VRING_USED_ELEM_SIZE, VRING_USED_IDX_OFF, VRING_USED_RING_OFF

from .hostlib import DMA_WRITE
from .hostmem import DmaLog

#: the bytes of used.idx inside the used ring
_IDX_BYTES = frozenset(range(VRING_USED_IDX_OFF, VRING_USED_IDX_OFF + 2))
_FULL = (1 << VRING_USED_ELEM_SIZE) - 1


def used_order_problems(log: DmaLog, used_gpa: int, num: int, start: int = 0) -> list[str]:
    """What breaks the rule in the writes of ``log`` from record ``start`` on, for the used
    ring of ``num`` entries at guest-physical ``used_gpa`` (empty if nothing does)."""
    if num <= 0:
        raise ValueError(f"used ring of {num} entries")
    recs, _ = log.columns()
    recs = recs[start:]
    ring_end = used_gpa + VRING_USED_RING_OFF + VRING_USED_ELEM_SIZE * num
    sel = np.flatnonzero(((recs["flags"] & DMA_WRITE) != 0)
                         & (recs["kind"] == int(AccessKind.USED))
                         & (recs["pa"] < ring_end)
                         & (recs["pa"] + recs["len"] > used_gpa))
    problems: list[str] = []
    covered = [0] * num        # bytes of each element written since it was last complete
    idx_bytes: set[int] = set()
    elems = idx_writes = 0
    for i in sel.tolist():
        pa, length = int(recs["pa"][i]), int(recs["len"][i])
        for off in range(max(pa, used_gpa) - used_gpa, min(pa + length, ring_end) - used_gpa):
            if off in _IDX_BYTES:
                idx_bytes.add(off)
            elif off >= VRING_USED_RING_OFF:
                slot, byte = divmod(off - VRING_USED_RING_OFF, VRING_USED_ELEM_SIZE)
                covered[slot] |= 1 << byte
                if covered[slot] == _FULL:
                    covered[slot] = 0
                    elems += 1
        if idx_bytes == _IDX_BYTES:
            idx_bytes.clear()
            idx_writes += 1
            if elems < idx_writes:
                problems.append(f"used ring at {used_gpa:#x}: used.idx write {idx_writes} (log "
                                f"record {start + i}) after only {elems} complete used "
                                f"element(s): an element published before it was written")
    return problems
