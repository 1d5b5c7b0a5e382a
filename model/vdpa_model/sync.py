# SPDX-License-Identifier: MIT
"""Run contract coroutines without an event loop when the implementation never waits.

The reference device's ops are ``async def`` (the contract is shared with hardware, where every
op takes time) but never suspend, so a coroutine can be driven to completion with one ``send``.
This keeps the model usable from plain Python and fast in tests and benchmarks.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class WouldBlock(RuntimeError):
    """The coroutine awaited something real: it needs an event loop (e.g. cocotb)."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive ``coro`` to completion; raise :class:`WouldBlock` if it tries to suspend."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise WouldBlock(f"{coro!r} suspended; run it under an event loop")
