# SPDX-License-Identifier: MIT
"""The one exception type of the contract: a failed vDPA operation carrying the kernel errno."""

from __future__ import annotations

import errno as _errno


class VdpaError(Exception):
    """An operation failed with ``-errno``, as the kernel op or ioctl would return it.

    ``errno`` is the positive value from :mod:`errno` (``errno.EINVAL``...). ``op`` names the
    operation that refused, and the message says which argument or state was wrong.
    """

    def __init__(self, err: int, op: str, reason: str) -> None:
        self.errno = err
        self.op = op
        self.reason = reason
        name = _errno.errorcode.get(err, str(err))
        super().__init__(f"{op}: -{name}: {reason}")


def fail(err: int, op: str, reason: str) -> VdpaError:
    """Build a :class:`VdpaError`; written ``raise fail(errno.EINVAL, "op", "why")``."""
    return VdpaError(err, op, reason)
