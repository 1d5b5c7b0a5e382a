# SPDX-License-Identifier: MIT
"""The forwarding base: every op passes its one hook, and the op trace built on it."""

from __future__ import annotations

import errno
import inspect
from typing import Any

import pytest

from vdpa_model.device import ReferenceDevice
from vdpa_model.errors import VdpaError
from vdpa_model.forward import OP_NAMES, ForwardingOps, OpCall
from vdpa_model.lockstep import Lockstep
from vdpa_model.memory import GuestMemory
from vdpa_model.ops import IotlbRange, VdpaOps, VqState
from vdpa_model.shadow import ContractShadow
from vdpa_model.spec import VDPA_RESET_F_CLEAN_MAP, VHOST_ACCESS_RW
from vdpa_model.sync import run
from vdpa_model.trace import Layer, Trace
from vdpa_model.tracing import TracingOps

#: One valid call of every op on a fresh reference device (mlx5 defaults).
CALLS: dict[str, tuple[Any, ...]] = {
    "set_vq_address": (1, 0x1000, 0x2000, 0x3000), "set_vq_num": (1, 64), "kick_vq": (1,),
    "set_vq_cb": (1, True), "set_vq_ready": (1, True), "get_vq_ready": (1,),
    "set_vq_state": (1, VqState(5)), "get_vq_state": (1,), "get_vq_num_max": (),
    "get_vq_size": (1,), "get_vq_group": (1,), "get_vq_desc_group": (1,),
    "set_group_asid": (2, 1), "get_device_features": (), "get_backend_features": (),
    "set_driver_features": (1 << 33,), "get_driver_features": (), "get_status": (),
    "set_status": (0x3,), "get_generation": (), "get_device_id": (), "get_config": (0, 6),
    "set_config": (0, b"\0"), "get_config_size": (), "get_iova_range": (), "reset": (),
    "compat_reset": (VDPA_RESET_F_CLEAN_MAP,), "suspend": (), "resume": (),
    "set_map": (0, [IotlbRange(0, 4096, 0, VHOST_ACCESS_RW)]), "reset_map": (1,),
}


def vdpa_ops_methods() -> set[str]:
    """Every coroutine of the contract class, found by introspection, not listed by hand."""
    return {n for n, f in inspect.getmembers(VdpaOps) if inspect.iscoroutinefunction(f)}


class Hooked(ForwardingOps):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    async def _through(self, name: str, args: tuple[Any, ...], call: OpCall) -> Any:
        self.seen.append((name, args))
        return await call(self.inner)


def test_op_names_are_exactly_the_contract() -> None:
    assert set(OP_NAMES) == vdpa_ops_methods()
    assert len(OP_NAMES) == len(set(OP_NAMES))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_op_reaches_the_hook_once_with_its_arguments(name: str) -> None:
    dev = ReferenceDevice(GuestMemory())
    hooked = Hooked(dev)
    run(getattr(hooked, name)(*CALLS[name]))
    assert hooked.seen == [(name, CALLS[name])]


def test_incremental_ops_reach_the_hook() -> None:
    from vdpa_model.options import DeviceOptions
    dev = ReferenceDevice(GuestMemory(), DeviceOptions(incremental_map=True))
    hooked = Hooked(dev)
    run(hooked.dma_map(0, 0x1000, 0x1000, 0x1000, VHOST_ACCESS_RW))
    run(hooked.dma_unmap(0, 0x1000, 0x1000))
    assert [n for n, _ in hooked.seen] == ["dma_map", "dma_unmap"]


def test_results_and_errors_come_back_unchanged() -> None:
    dev = ReferenceDevice(GuestMemory())
    hooked = Hooked(dev)
    assert run(hooked.get_vq_num_max()) == 256
    with pytest.raises(VdpaError) as e:
        run(hooked.reset_map(9))
    assert e.value.errno == errno.EINVAL
    assert hooked.has_op("get_vq_desc_group") and not hooked.has_op("dma_map")


@pytest.mark.parametrize("cls", [Lockstep, ContractShadow, TracingOps])
def test_the_wrappers_are_built_on_the_base(cls: type) -> None:
    assert issubclass(cls, ForwardingOps)
    # none of them forwards an op by hand: only the hook is theirs
    own = {n for n in cls.__dict__ if n in OP_NAMES}
    assert own == set(), own


def test_trace_records_each_op_with_its_cost_drivers_phase_and_errno() -> None:
    dev = ReferenceDevice(GuestMemory())
    trace = Trace(clock=iter(range(0, 10_000, 10)).__next__)
    ops = TracingOps(dev, trace)
    with trace.in_phase("A14", device="src0"):
        run(ops.set_vq_num(3, 128))
        run(ops.set_map(0, [IotlbRange(0, 8192, 0, VHOST_ACCESS_RW),
                            IotlbRange(1 << 30, 4096, 1 << 30, VHOST_ACCESS_RW)]))
        with pytest.raises(VdpaError):
            run(ops.set_group_asid(0, 7))
    num, smap, bad = trace.records
    assert (num.layer, num.name, num.args) == (Layer.OP, "set_vq_num", {"vq": 3, "qsize": 128})
    assert smap.args == {"asid": 0, "ranges": 2, "bytes": 12288}
    assert bad.errno == errno.EINVAL and bad.args == {"group": 0, "asid": 7}
    assert {r.phase for r in trace.records} == {"A14"}
    assert {r.device for r in trace.records} == {"src0"}
    assert all(r.t_start_ps is not None and r.t_end_ps is not None for r in trace.records)


def test_without_a_trace_nothing_is_recorded() -> None:
    dev = ReferenceDevice(GuestMemory())
    ops = TracingOps(dev)
    run(ops.set_vq_num(0, 64))
    trace = Trace()
    ops.trace = trace
    run(ops.get_vq_size(0))
    ops.trace = None
    run(ops.get_vq_size(0))
    assert [r.name for r in trace.records] == ["get_vq_size"]
