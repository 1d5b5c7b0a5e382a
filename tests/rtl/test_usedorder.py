# SPDX-License-Identifier: MIT
"""The used-ring order checker (tb/vdpa_tb/usedorder.py) on logs written by hand: the orders a
device may use pass, an element published before it is written fails, whatever the write sizes."""

from __future__ import annotations

import numpy as np
import pytest

from vdpa_model.dma import AccessKind
from vdpa_tb.hostlib import DMA_RECORD, DMA_WRITE
from vdpa_tb.hostmem import DmaLog
from vdpa_tb.usedorder import used_order_problems

USED = 0x10_0000
NUM = 4


def log_of(*writes: tuple[int, int]) -> DmaLog:
    """A log of used-ring writes (offset into the ring, length), plus one unrelated buffer
    write and one read of the idx, which the rule must ignore."""
    recs = np.zeros(len(writes) + 2, dtype=DMA_RECORD)
    for i, (off, n) in enumerate(writes):
        recs[i] = (USED + off, n, 1, 0, int(AccessKind.USED), DMA_WRITE)
    recs[-2] = (USED + 2, 2, 1, 0, int(AccessKind.USED), 0)
    recs[-1] = (0x20_0000, 64, 1, 0, int(AccessKind.BUFFER), DMA_WRITE)
    log = DmaLog()
    log.add(recs, np.ones(len(recs), dtype=bool))
    return log


def elem(slot: int) -> int:
    return 4 + 8 * slot


@pytest.mark.parametrize("writes", [
    [(elem(0), 8), (2, 2)],                                   # one write per element
    [(elem(0), 4), (elem(0) + 4, 4), (2, 2)],                 # id, then len
    [(elem(0), 8), (elem(1), 8), (elem(2), 8), (2, 2)],       # three, published together
    [(elem(0), 8), (2, 1), (3, 1)],                           # idx in two pieces
    [(elem(s % NUM), 8) for s in range(6)] + [(2, 2)],        # the ring wraps
], ids=["whole", "split-elem", "batched", "split-idx", "wrap"])
def test_orders_a_device_may_use(writes: list[tuple[int, int]]) -> None:
    assert used_order_problems(log_of(*writes), USED, NUM) == []


@pytest.mark.parametrize("writes", [
    [(2, 2), (elem(0), 8)],                                   # idx first
    [(elem(0), 4), (2, 2), (elem(0) + 4, 4)],                 # idx between id and len
    [(elem(0), 8), (2, 2), (2, 2), (elem(1), 8)],             # the second idx before its element
], ids=["idx-first", "idx-before-len", "second-early"])
def test_an_element_published_before_it_is_written(writes: list[tuple[int, int]]) -> None:
    (problem,) = used_order_problems(log_of(*writes), USED, NUM)
    assert f"{USED:#x}" in problem and "published before it was written" in problem


def test_start_skips_what_came_before() -> None:
    log = log_of((2, 2), (elem(0), 8), (2, 2))
    assert used_order_problems(log, USED, NUM)                 # from the start: idx first
    assert used_order_problems(log, USED, NUM, start=1) == []  # from the element on


def test_bad_ring_size_is_refused() -> None:
    with pytest.raises(ValueError, match="0 entries"):
        used_order_problems(DmaLog(), USED, 0)
