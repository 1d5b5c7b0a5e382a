# SPDX-License-Identifier: MIT
"""vhost-vdpa's part of the trace: one ``ioctl`` record per ioctl or IOTLB message, the parent
ops nested in it, and the kernel's own work (pinning, interrupt bypass) as ``host`` records."""

from __future__ import annotations

import errno
from fractions import Fraction
from typing import Any

import pytest

from vdpa_model.device import ReferenceDevice
from vdpa_model.errors import VdpaError, fail
from vdpa_model.forward import ForwardingOps, OpCall
from vdpa_model.hostmem import FRAGMENTED, Backing, RunPattern
from vdpa_model.memory import GiB, GuestMemory, MiB
from vdpa_model.ops import IotlbRange
from vdpa_model.options import DeviceOptions
from vdpa_model.spec import (
    VHOST_ACCESS_RW,
    VHOST_IOTLB_INVALIDATE,
    VIRTIO_CONFIG_S_ACKNOWLEDGE,
    VIRTIO_CONFIG_S_DRIVER,
    VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FEATURES_OK,
)
from vdpa_model.sync import run
from vdpa_model.trace import IOCTLS, Layer, Trace, TraceRecord
from vdpa_model.tracing import TracingOps
from vdpa_model.vhost import MAX_UNBATCHED_RUNS, UnbatchedMapTooLarge, VhostVdpa

RW = VHOST_ACCESS_RW


def stack(trace: Trace | None, backing=None, **opts: object) -> VhostVdpa:  # type: ignore[no-untyped-def]
    dev = ReferenceDevice(GuestMemory(size=1 << 44), DeviceOptions(**opts))  # type: ignore[arg-type]
    v = VhostVdpa(TracingOps(dev, trace), trace=trace, backing=backing)
    run(v.open())
    run(v.set_backend_features(run(v.get_backend_features())))
    return v


def children(trace: Trace, rec: TraceRecord) -> list[TraceRecord]:
    return [r for r in trace.records if r.parent == rec.seq]


def names(records: list[TraceRecord]) -> list[str]:
    return [r.name for r in records]


def test_a_batch_is_visible_and_set_map_runs_at_its_end() -> None:
    trace = Trace()
    v = stack(None)
    v.trace = v.ops.trace = trace  # type: ignore[attr-defined]
    run(v.map(0, [IotlbRange(0, 2 * GiB, 0, RW), IotlbRange(4 * GiB, 2 * GiB, 4 * GiB, RW)]))
    top = [r for r in trace.records if r.parent is None]
    assert names(top) == ["VHOST_IOTLB_BATCH_BEGIN", "VHOST_IOTLB_UPDATE", "VHOST_IOTLB_UPDATE",
                          "VHOST_IOTLB_BATCH_END"]
    assert [names(children(trace, r)) for r in top] == [[], ["pin"], ["pin"], ["set_map"]]
    (set_map,) = children(trace, top[-1])
    assert set_map.layer is Layer.OP and set_map.args == {"asid": 0, "ranges": 2, "bytes": 4 * GiB}


def test_unbatched_updates_each_rebuild_the_table() -> None:
    """Ground rule 3: without a batch a set_map parent gets the whole table after every UPDATE."""
    trace = Trace()
    v = stack(trace)
    trace.records.clear()
    run(v.map(1, [IotlbRange(0x1000, 0x1000, 0x1000, RW), IotlbRange(0x3000, 0x1000, 0x3000, RW)],
              batch=False))
    sets = [r for r in trace.records if r.name == "set_map"]
    assert [r.args["ranges"] for r in sets] == [1, 2]
    assert all(trace.records[r.parent].name == "VHOST_IOTLB_UPDATE" for r in sets)  # type: ignore[index]


def test_an_unbatched_update_rebuilds_the_table_after_each_run() -> None:
    """vhost_vdpa_pa_map calls vhost_vdpa_map, and with it set_map, once per physically
    contiguous run outside a batch: an 8 KiB ring in two 4 KiB pages of QEMU's memory is two
    set_maps, the first with the first page only; inside one 2 MiB folio it is one run."""
    for backing, sizes in ((FRAGMENTED, [4096, 8192]), (Backing.uniform(RunPattern(2 * MiB)), [8192])):
        trace = Trace()
        v = stack(trace, backing=backing)
        trace.records.clear()
        run(v.map(1, [IotlbRange(0x10000, 0x2000, 0x10000, RW)], batch=False))
        sets = [r for r in trace.records if r.name == "set_map"]
        assert [r.args["bytes"] for r in sets] == sizes
        assert [r.args["ranges"] for r in sets] == [1] * len(sizes)
    # the device ends with the whole entry, and the table holds it as one range
    assert v.as_tables[1].ranges() == [IotlbRange(0x10000, 0x2000, 0x10000, RW)]


class FailSecondSetMap(ForwardingOps):
    """A parent whose second set_map fails, as a firmware error would."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.tables: list[list[IotlbRange]] = []

    async def _through(self, name: str, args: tuple[Any, ...], call: OpCall) -> Any:
        if name == "set_map":
            self.tables.append(list(args[1]))
            if len(self.tables) == 2:
                raise fail(errno.ENOMEM, "set_map", "firmware out of memory keys")
        return await super()._through(name, args, call)


def test_a_run_that_fails_to_map_unwinds_the_whole_update() -> None:
    """vhost_vdpa_pa_map's error path: vhost_vdpa_unmap of what the UPDATE mapped, whose set_map
    hands the parent the table without it; the UPDATE fails and leaves nothing behind."""
    dev = ReferenceDevice(GuestMemory(size=1 << 36), DeviceOptions())
    ops = FailSecondSetMap(dev)
    v = VhostVdpa(ops, backing=FRAGMENTED)
    run(v.open())
    run(v.set_backend_features(run(v.get_backend_features())))
    ring = IotlbRange(0x10000, 0x2000, 0x10000, RW)
    with pytest.raises(VdpaError, match="ENOMEM"):
        run(v.map(1, [ring], batch=False))
    first_page = IotlbRange(0x10000, 0x1000, 0x10000, RW)
    assert ops.tables == [[first_page], [ring], []]
    assert v.as_tables[1].ranges() == []


def test_a_huge_unbatched_update_is_refused_by_name() -> None:
    """With a trace, the model would misprice an UPDATE whose runs it does not walk one by one;
    without one it skips the intermediate tables, and the device ends in the same state."""
    v = stack(Trace())
    size = (MAX_UNBATCHED_RUNS + 1) * 4096
    with pytest.raises(UnbatchedMapTooLarge, match=f"{MAX_UNBATCHED_RUNS + 1} physically contiguous runs"):
        run(v.map(0, [IotlbRange(0, size, 0, RW)], batch=False))
    assert not v.as_tables[0].ranges()  # nothing changed
    run(v.map(0, [IotlbRange(0, size, 0, RW)]))  # in a batch: one set_map at its end
    assert v.set_map_calls == 1
    untraced = stack(None)
    run(untraced.map(0, [IotlbRange(0, size, 0, RW)], batch=False))
    assert untraced.set_map_calls == 1 and untraced.as_tables[0].ranges() == [IotlbRange(0, size, 0, RW)]


@pytest.mark.parametrize("page", [4096, 2 * MiB, GiB])
def test_pin_counts_pages_of_the_backing_size_and_512_page_calls(page: int) -> None:
    trace = Trace()
    v = stack(trace, backing=Backing.uniform(RunPattern(page)))
    trace.records.clear()
    run(v.map(0, [IotlbRange(4 * GiB, 128 * GiB, 4 * GiB, RW)]))
    (pin,) = [r for r in trace.records if r.name == "pin"]
    assert pin.layer is Layer.HOST
    assert pin.args["bytes"] == 128 * GiB
    assert pin.args["page_size"] == page and pin.args["pages"] == 128 * GiB // page
    # pin_user_pages works on 4 KiB struct pages whatever backs them, 512 per call (H3)
    assert pin.args["calls"] == 128 * GiB // 4096 // 512
    assert pin.args["runs"] == 128 * GiB // page


def test_an_unaligned_chunk_counts_its_partial_runs() -> None:
    trace = Trace()
    v = stack(trace, backing=Backing.uniform(RunPattern(2 * MiB)))
    trace.records.clear()
    run(v.map(0, [IotlbRange(0, 4 * MiB, 1 * MiB, RW)]))  # PA [1, 5) MiB spans three 2 MiB pages
    (pin,) = [r for r in trace.records if r.name == "pin"]
    assert pin.args["runs"] == 3


def test_thp_with_fallback_regions_pins_two_folio_sizes() -> None:
    """THP with a fallback share: the 2 MiB regions THP could not back are 4 KiB folios, priced
    as 4 KiB pins (H2), the rest 2 MiB folios; every 4 KiB page of a fallback region is a run.
    1/8 of 1 GiB's 512 regions, spread evenly: 64 regions of 512 pages each."""
    trace = Trace()
    v = stack(trace, backing=Backing.uniform(RunPattern(2 * MiB, Fraction(1, 8))))
    trace.records.clear()
    run(v.map(0, [IotlbRange(0, GiB, 0, RW)]))
    pins = {r.args["page_size"]: r.args for r in trace.records if r.name == "pin"}
    assert pins[2 * MiB]["bytes"] == 448 * 2 * MiB and pins[2 * MiB]["runs"] == 448
    assert pins[4096]["bytes"] == 64 * 2 * MiB and pins[4096]["runs"] == 64 * 512
    assert pins[4096]["calls"] == 64  # 512 pages per pin_user_pages call


def test_unpin_is_always_4k_pages() -> None:
    trace = Trace()
    v = stack(trace, backing=Backing.uniform(RunPattern(GiB)))
    run(v.map(0, [IotlbRange(0, 2 * GiB, 0, RW)]))
    trace.records.clear()
    run(v.process_iotlb_msg(0, VHOST_IOTLB_INVALIDATE, 0, 2 * GiB))
    inval, unpin, set_map = trace.records
    assert (inval.name, unpin.name, set_map.name) == ("VHOST_IOTLB_INVALIDATE", "unpin", "set_map")
    assert unpin.args == {"bytes": 2 * GiB, "pages": 2 * GiB // 4096, "page_size": 4096, "ranges": 1}
    assert set_map.args["ranges"] == 0


def test_driver_ok_and_reset_record_the_interrupt_bypass() -> None:
    trace = Trace()
    v = stack(trace)
    feats = run(v.get_features())
    run(v.set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER))
    run(v.set_features(feats))
    ok = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK
    run(v.set_status(ok))
    trace.records.clear()
    run(v.set_status(ok | VIRTIO_CONFIG_S_DRIVER_OK))
    run(v.set_status(0))
    host = [(r.name, r.args) for r in trace.records if r.layer is Layer.HOST]
    nvqs = v.ops.nvqs
    assert host == [("irq_bypass", {"vqs": nvqs, "flags": 1}), ("irq_bypass", {"vqs": nvqs, "flags": 0})]
    statuses = [r for r in trace.records if r.name == "VHOST_VDPA_SET_STATUS"]
    assert [r.args["status"] for r in statuses] == [ok | VIRTIO_CONFIG_S_DRIVER_OK, 0]
    # vhost_vdpa_set_status reads the old status, drops the bypass, then resets (IOTLB_PERSIST
    # is acked here, so vdpa_reset calls plain reset, not compat_reset(CLEAN_MAP))
    assert [r.name for r in children(trace, statuses[1])] == ["get_status", "irq_bypass", "reset",
                                                              "get_vq_num_max"]


def test_a_refused_ioctl_records_its_errno() -> None:
    trace = Trace()
    v = stack(trace)
    with pytest.raises(VdpaError):
        run(v.set_vring_num(0, 100))
    assert (trace.records[-1].name, trace.records[-1].errno) == ("VHOST_SET_VRING_NUM", errno.EINVAL)


def test_every_ioctl_name_is_catalogued() -> None:
    trace = Trace()
    v = stack(trace)
    run(v.set_owner())
    run(v.get_config(0, 6))
    run(v.get_vring_num())
    run(v.get_device_id())
    run(v.set_vring_kick(0))
    run(v.set_vring_call(0))
    run(v.get_vring_group(0))
    run(v.kick(0))
    assert {r.name for r in trace.records if r.layer is Layer.IOCTL} <= set(IOCTLS)


def test_without_a_trace_the_same_calls_record_nothing() -> None:
    v = stack(None)
    run(v.map(0, [IotlbRange(0, GiB, 0, RW)]))
    assert v.trace is None and v.set_map_calls == 1
