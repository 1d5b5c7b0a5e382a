# SPDX-License-Identifier: MIT
"""The ``op`` layer of the trace: one record per ``struct vdpa_config_ops`` call.

:class:`TracingOps` stands between vhost-vdpa and the parent (above the contract shadow, so the
shadow's own look-ups are not counted) and records every op that passes the forwarding base's
hook: its name, the cost drivers of its arguments (:data:`OP_SUMMARY`, in the words of
:data:`vdpa_model.trace.ARG_KEYS`), its outcome and errno, and (from the :class:`Trace`) the
phase, the device and the simulation time. The work a parent does for the op (``fw`` records)
and the ioctl it serves (``ioctl`` records) nest around it through the trace's stack.

``trace`` may be set to None at any time: the wrapper then forwards without a record, which is
how the flows keep guest traffic between migration steps out of the trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from .errors import VdpaError
from .forward import ForwardingOps, OpCall
from .ops import IotlbRange
from .trace import Layer, Trace, TraceRecord, check_args

T = TypeVar("T")


def _vq(idx: int, *_: Any) -> dict[str, int]:
    return {"vq": idx}


def _set_map(asid: int, iotlb: Sequence[IotlbRange]) -> dict[str, int]:
    return {"asid": asid, "ranges": len(iotlb), "bytes": sum(r.size for r in iotlb)}


def _one_range(asid: int, iova: int, size: int, *_: Any) -> dict[str, int]:
    return {"asid": asid, "ranges": 1, "bytes": size}


#: What an op's cost depends on, from its arguments. Ops absent here record no arguments.
OP_SUMMARY: dict[str, Callable[..., dict[str, int]]] = {
    "set_vq_address": _vq,
    "set_vq_num": lambda idx, num: {"vq": idx, "qsize": num},
    "kick_vq": _vq,
    "set_vq_cb": _vq,
    "set_vq_ready": lambda idx, ready: {"vq": idx, "flags": int(bool(ready))},
    "get_vq_ready": _vq,
    "set_vq_state": _vq,
    "get_vq_state": _vq,
    "get_vq_size": _vq,
    "get_vq_group": _vq,
    "get_vq_desc_group": _vq,
    "set_group_asid": lambda group, asid: {"group": group, "asid": asid},
    "set_status": lambda status: {"status": status},
    "compat_reset": lambda flags: {"flags": flags},
    "set_map": _set_map,
    "dma_map": _one_range,
    "dma_unmap": _one_range,
    "reset_map": lambda asid: {"asid": asid},
}


def begin_with_args(trace: Trace, layer: Layer, name: str, args: dict[str, int]) -> TraceRecord:
    """:meth:`Trace.begin` with the cost drivers in a mapping. The ``group`` cost driver (a
    virtqueue group) has the name of ``begin``'s own keyword for a parallel round, so it is
    checked like the others and then stored directly."""
    vq_group = args.pop("group", None)
    rec = trace.begin(layer, name, **args)
    if vq_group is not None:
        check_args({"group": vq_group}, f"{layer}:{name}")
        rec.args["group"] = vq_group
    return rec


async def recorded(trace: Trace, layer: Layer, name: str, args: dict[str, int],
                   call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call`` inside one record of ``trace``: opened before, closed after with the
    errno of a :class:`VdpaError` it raised (-1 for any other exception)."""
    rec = begin_with_args(trace, layer, name, args)
    try:
        out = await call()
    except VdpaError as e:
        trace.end(rec, e.errno)
        raise
    except BaseException:
        trace.end(rec, -1)
        raise
    trace.end(rec)
    return out


class TracingOps(ForwardingOps):
    """Records every op into ``trace`` (when set) as an ``op`` record, then forwards it."""

    def __init__(self, inner: Any, trace: Trace | None = None) -> None:
        super().__init__(inner)
        self.trace = trace

    async def _through(self, name: str, args: tuple[Any, ...], call: OpCall) -> Any:
        trace = self.trace
        if trace is None:
            return await call(self.inner)
        summary = OP_SUMMARY.get(name)
        return await recorded(trace, Layer.OP, name, summary(*args) if summary else {},
                              lambda: call(self.inner))
