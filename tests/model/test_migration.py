# SPDX-License-Identifier: MIT
"""Flows A, B and C on the reference device: traffic through them, and the trace each switch
leaves, against the step lists and counts of migration-sequence.md (§§2-5).

Expected numbers are derived in each test from the document and the setup (queue pairs, RAM
sections, the guest's control state), never copied from a run.
"""

from __future__ import annotations

import functools
from collections import Counter

import pytest

from vdpa_model.device import ReferenceDevice
from vdpa_model.flows import FlowError
from vdpa_model.hostmem import HostMemory
from vdpa_model.memory import GiB, KiB
from vdpa_model.migration import Migration, MigrationResult, MigrationSetup, reference_factory
from vdpa_model.ops import VqState
from vdpa_model.options import MLX5_NET_FEATURES, Parent
from vdpa_model.ramlayout import RamLayout
from vdpa_model.spec import VIRTIO_NET_F_CTRL_RX, bit
from vdpa_model.switches import PRESETS, SwitchError, Switches, parse_switches
from vdpa_model.sync import run
from vdpa_model.trace import HOST_KINDS, IOCTLS, Layer, TraceRecord, read_jsonl
from vdpa_model.vhost import VhostOptions

QP = 4
DATA_VQS = 2 * QP
#: the talk's guest, 4 KiB pages with THP off: every page its own run, the counts below written
#: for 4 KiB-fragmented memory (tests/model/test_hostmem.py takes the other contiguities)
LAYOUT = RamLayout(128 * GiB, host=HostMemory(thp=False))
SECTIONS = len(LAYOUT.sections())
VLANS = (100, 200)


@functools.cache
def migrate(spec: str, parent: Parent = Parent.MLX5, devices: int = 2,
            layout: RamLayout = LAYOUT, traffic: bool = True) -> MigrationResult:
    setup = MigrationSetup(parent=parent, devices=devices, queue_pairs=QP if parent is Parent.MLX5 else 1,
                           layout=layout, switches=parse_switches(spec), vlans=VLANS, traffic=traffic)
    return run(Migration(setup).run())


def recs(res: MigrationResult, phase: str, device: str = "src0", name: str | None = None,
         layer: Layer | None = None) -> list[TraceRecord]:
    return [r for r in res.trace.records if r.phase == phase and r.device == device
            and (name is None or r.name == name) and (layer is None or r.layer is layer)]


def count(res: MigrationResult, phase: str, name: str, device: str = "src0",
          layer: Layer | None = None) -> int:
    """Units of work: a record with ``count`` stands for that many."""
    return sum(r.args.get("count", 1) for r in recs(res, phase, device, name, layer))


def phases(res: MigrationResult, flow: str, device: str = "src0") -> set[str]:
    return {r.phase for r in res.trace.records if r.device == device and r.phase.startswith(flow)}


def entries(res: MigrationResult, phase: str, device: str = "src0") -> int:
    return sum(r.args["entries"] * r.args.get("count", 1) for r in recs(res, phase, device, "mkey_create"))


RAM_ENTRIES_4K = (LAYOUT.size - (0xC0000 - 0xA0000)) // (4 * KiB)  # every RAM page but the VGA hole


# ------------------------------------------------------------------------------------------
# functional: both parents, every preset, traffic on every queue pair
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_migrates_mlx5_under_traffic(preset: str) -> None:
    res = migrate(preset)
    assert res.report.ok, res.report.render()
    names = [c.name for c in res.report.checks]
    assert sum("isolation" in n for n in names) == 4 and sum("traffic" in n for n in names) == 5


@pytest.mark.parametrize("spec", ["upstream", "+early_map_dest",
                                  "persistent_iotlb,batch_ring_maps,parallel_cvq_load"])
def test_the_sim_parent_migrates_under_traffic(spec: str) -> None:
    res = migrate(spec, Parent.SIM)
    assert res.report.ok, res.report.render()
    assert not [r for r in res.trace.records if r.layer is Layer.FW]  # vdpa_sim has no firmware


def test_traffic_flows_on_every_queue_pair_through_every_device() -> None:
    res = migrate("upstream")
    detail = {c.name: c.detail for c in res.report.checks}
    queues = detail["traffic: each TX queue's frames leave in posting order"]
    assert queues == f"{2 * QP} queues"  # two NICs x QP queue pairs


def test_identical_nics_leave_identical_traces() -> None:
    """Why tracing one NIC of a shape is enough: src1's records are src0's, renamed."""
    res = migrate("upstream")

    def shape(dev: str) -> list[tuple[str, str, str, tuple[tuple[str, int], ...], int]]:
        rs = [r for r in res.trace.records if r.device == dev]
        return [(r.layer, r.name, r.phase, tuple(sorted(r.args.items())), r.errno) for r in rs]

    assert shape("src0") == shape("src1") and shape("dst0") == shape("dst1")
    one = run(Migration(MigrationSetup(devices=2, layout=LAYOUT, vlans=VLANS, trace_devices=1)).run())
    assert {r.device for r in one.trace.records} == {"src0", "dst0"}
    assert one.traced == ["src0", "dst0"] and one.device_count == 2


def test_a_4_tib_guest_runs_through_every_flow() -> None:
    layout = RamLayout(4096 * GiB, host=HostMemory(thp=False))
    res = migrate("upstream", devices=1, layout=layout, traffic=False)
    assert res.report.ok, res.report.render()
    # A16 maps all of it: one translation entry per 4 KiB page
    assert entries(res, "A16") >= (layout.size - 0x20000) // (4 * KiB)


# ------------------------------------------------------------------------------------------
# the baseline trace against migration-sequence.md §§2-4
# ------------------------------------------------------------------------------------------
def test_baseline_flow_a_steps_and_counts() -> None:
    res = migrate("upstream")
    assert phases(res, "A") == {f"A{n}" for n in (1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                  17, 18, 19, 20)}
    assert count(res, "A1", "suspend") == 1
    assert count(res, "A3", "get_vq_state") == DATA_VQS  # one query per data VQ, serially
    assert all(r.group is None for r in recs(res, "A3", name="vq_query"))
    assert count(res, "A5", "set_map") == 2 and count(res, "A9", "set_map") == 2
    # A6: a map-cleaning reset tears every provisioned VQ down; without pre-creation none return
    assert [r.name for r in recs(res, "A6", layer=Layer.OP)][1] == "compat_reset"
    assert count(res, "A6", "vq_destroy") == DATA_VQS and count(res, "A6", "vq_create") == 0
    # A7 and A16: one INVALIDATE / UPDATE per RAM section in one batch, one set_map each
    for phase, msg, work in (("A7", "VHOST_IOTLB_INVALIDATE", "unpin"),
                             ("A16", "VHOST_IOTLB_UPDATE", "pin")):
        assert count(res, phase, msg) == SECTIONS and count(res, phase, work) == SECTIONS
        assert count(res, phase, "set_map") == 1
    assert entries(res, "A16") >= RAM_ENTRIES_4K
    # two unbatched ring maps per data VQ, and each makes one set_map per physically contiguous
    # run of QEMU's own 4 KiB pages (vhost_vdpa_pa_map -> vhost_vdpa_map per run): the driver
    # area (256 x 16-byte descriptors + a 4 + 2 x 256 + 2-byte avail ring) is two pages, the
    # device area (a 4 + 8 x 256 + 2-byte used ring) one
    assert count(res, "A14", "VHOST_IOTLB_UPDATE") == 2 * DATA_VQS
    assert count(res, "A14", "set_map") == (2 + 1) * DATA_VQS
    assert count(res, "A15", "set_map") == 4             # two CVQ buffers, two CVQ ring areas
    assert count(res, "A17", "vq_create") == DATA_VQS    # DRIVER_OK pays full creation (C1 before)
    # A19: MAC (CTRL_MAC_ADDR), MQ, one VLAN add each; mlx5 offers no CTRL_RX
    assert count(res, "A19", "cvq_command", layer=Layer.FW) == 2 + len(VLANS)
    assert count(res, "A19", "cvq_command", layer=Layer.HOST) == 2 + len(VLANS)
    assert count(res, "A19", "rqt_update") == 1 and count(res, "A19", "flow_rule_add") == 2 * len(VLANS)
    assert count(res, "A20", "set_vq_ready") == DATA_VQS


def test_baseline_flow_b_rebuilds_the_whole_region_per_ring_unmap() -> None:
    """Trap 2: B2 is 2 x data VQs full-region rebuilds, B4 two more."""
    res = migrate("upstream")
    b2 = recs(res, "B2", name="set_map")
    assert len(b2) == 2 * DATA_VQS and all(r.args["asid"] == 0 for r in b2)
    assert entries(res, "B2") >= 2 * DATA_VQS * RAM_ENTRIES_4K
    assert count(res, "B2", "svq_stop") == DATA_VQS
    assert count(res, "B4", "set_map") == 2 and entries(res, "B4") >= 2 * RAM_ENTRIES_4K
    assert count(res, "B5", "vq_destroy") == DATA_VQS
    assert count(res, "B6", "unpin") == SECTIONS and count(res, "B7", "set_map") == 2
    assert not recs(res, "B3")  # ring positions come from QEMU: no ioctl


def test_baseline_flow_c_steps_and_counts() -> None:
    res = migrate("upstream")
    c = phases(res, "C", "dst0")
    assert c == {"C4.1.1", "C4.1.2", "C4.1.3"} | {f"C4.2.{n}" for n in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11)}
    assert count(res, "C4.2.4", "set_vq_state", "dst0") == DATA_VQS
    c426 = recs(res, "C4.2.6", "dst0", "set_map")
    assert [r.args["asid"] for r in c426] == [1, 1]
    # the first map creates ASID 1's region and puts it in force, the second rebuilds it
    # through a map change (the suspend round: none, the device is not running)
    assert count(res, "C4.2.6", "mr_table_switch", "dst0") == 2
    assert count(res, "C4.2.8", "pin", "dst0") == SECTIONS
    assert entries(res, "C4.2.8", "dst0") >= RAM_ENTRIES_4K
    assert count(res, "C4.2.9", "vq_create", "dst0") == DATA_VQS
    assert count(res, "C4.2.10", "cvq_command", "dst0", Layer.FW) == 2 + len(VLANS)
    assert count(res, "C4.2.11", "set_vq_ready", "dst0") == DATA_VQS


def test_names_come_from_the_trace_vocabulary() -> None:
    res = migrate("all-on")
    assert {r.name for r in res.trace.records if r.layer is Layer.HOST} <= set(HOST_KINDS)
    assert {r.name for r in res.trace.records if r.layer is Layer.IOCTL} <= set(IOCTLS)


def test_the_trace_round_trips_through_json_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = migrate("upstream")
    res.trace.write_jsonl(tmp_path / "t.jsonl")
    assert read_jsonl(tmp_path / "t.jsonl") == res.trace.records


# ------------------------------------------------------------------------------------------
# each switch changes the trace as §5 says
# ------------------------------------------------------------------------------------------
def work_of(res: MigrationResult, flow: str, device: str = "src0") -> Counter[tuple[str, str, str]]:
    return Counter((r.phase, r.layer, r.name) for r in res.trace.records
                   if r.device == device and r.phase.startswith(flow))


def test_early_map_dest_moves_the_destination_map_before_the_window() -> None:
    base, early = migrate("upstream"), migrate("early_map_dest")
    assert "C4.2.8" in phases(base, "C", "dst0") and "C4.2.8" not in phases(early, "C", "dst0")
    def work(res: MigrationResult, phase: str) -> list[tuple[str, str, tuple[tuple[str, int], ...]]]:
        return [(r.layer, r.name, tuple(r.args.items())) for r in recs(res, phase, "dst0")
                if r.name != "cvq_iotlb_update"]

    # the same messages, pins and region build; early, the CVQ group is still on ASID 0, so mlx5
    # also refreshes the CVQ's table copy (it is bound to ASID 1 only at C 4.2.6)
    assert work(early, "C4.1.4") == work(base, "C4.2.8")
    assert count(early, "C4.1.4", "cvq_iotlb_update", "dst0") == 1
    assert work_of(early, "A") == work_of(base, "A") and work_of(early, "B") == work_of(base, "B")


def test_desc_group_asid_moves_the_rings_to_asid_1() -> None:
    base, desc = migrate("upstream"), migrate("desc_group_asid")
    b2 = recs(desc, "B2", name="set_map")
    assert len(b2) == 2 * DATA_VQS and {r.args["asid"] for r in b2} == {1}
    assert entries(desc, "B2") < entries(base, "B2") // 1000  # the small ASID-1 table, not RAM
    binds = [r.args for phase in ("A14", "A15") for r in recs(desc, phase, name="set_group_asid")]
    assert binds == [{"group": 2, "asid": 1}, {"group": 1, "asid": 1}]
    # guest RAM is still unmapped and mapped again (only persistent_iotlb removes A7/A16)
    assert "A7" in phases(desc, "A") and "A16" in phases(desc, "A")


def test_persistent_iotlb_keeps_regions_and_the_listener() -> None:
    base, pers = migrate("upstream"), migrate("persistent_iotlb")
    assert {"A7", "A16", "B6"} <= phases(base, "A") | phases(base, "B")
    assert not {"A7", "A16", "B6"} & (phases(pers, "A") | phases(pers, "B"))
    for phase in ("A6", "B5"):
        assert recs(pers, phase, layer=Layer.OP)[1].name == "reset"  # no CLEAN_MAP
        assert not [r for r in recs(pers, phase, layer=Layer.FW) if r.name.endswith("destroy")
                    and r.name.startswith(("mkey", "mr_"))]
        assert count(pers, phase, "vq_destroy") == DATA_VQS  # VQs still go with the reset


def test_batch_ring_maps_turns_each_steps_ring_maps_into_one_set_map() -> None:
    base, batch = migrate("upstream"), migrate("batch_ring_maps")
    # one batch per step; A15 has two, the CVQ's buffers (vhost_vdpa_net_cvq_start) and then
    # its ring (the CVQ's own vhost_dev start), both in ASID 0
    for phase, batches in (("A5", 1), ("A9", 1), ("A14", 1), ("A15", 2), ("B2", 1), ("B4", 1),
                           ("B7", 1)):
        msgs = ("VHOST_IOTLB_UPDATE", "VHOST_IOTLB_INVALIDATE")
        assert sum(count(batch, phase, m) for m in msgs) == sum(count(base, phase, m) for m in msgs)
        # unbatched: one set_map per message, but one per run for a map of more than one page
        # (A14's driver areas, two pages each: see test_baseline_flow_a_steps_and_counts)
        extra = DATA_VQS if phase == "A14" else 0
        assert count(base, phase, "set_map") == sum(count(base, phase, m) for m in msgs) + extra, phase
        assert count(batch, phase, "set_map") == batches, phase
        assert count(batch, phase, "VHOST_IOTLB_BATCH_END") == batches
    # the same functions map the destination's CVQ buffers and ring
    assert count(batch, "C4.2.6", "set_map", "dst0") == 1


def test_resumable_vqs_replaces_the_reset_by_suspend_and_resume() -> None:
    res = migrate("desc_group_asid,persistent_iotlb,resumable_vqs")
    assert phases(res, "A") == {"A1", "A2", "A3", "A10", "A11", "A14", "A22"}
    assert count(res, "A22", "resume") == 1 and count(res, "A22", "VHOST_VDPA_RESUME") == 1
    a14 = recs(res, "A14", layer=Layer.OP)
    assert [r.args for r in a14 if r.name == "set_group_asid"] == [{"group": 2, "asid": 1}]
    assert count(res, "A14", "set_vq_address") == DATA_VQS and count(res, "A14", "set_vq_state") == DATA_VQS
    assert not count(res, "A", "set_status")
    assert "B5" not in phases(res, "B")
    assert not [r for r in res.trace.records if r.device == "src0" and r.name in ("vq_create", "vq_destroy")
                and r.phase.startswith(("A", "B"))]


def test_precreated_vqs_moves_creation_from_driver_ok_to_add_and_resets() -> None:
    base, pre = migrate("upstream"), migrate("precreated_vqs")
    assert count(base, "A17", "vq_create") == DATA_VQS and count(pre, "A17", "vq_create") == 0
    assert count(base, "C4.2.9", "vq_create", "dst0") == DATA_VQS
    assert count(pre, "C4.2.9", "vq_create", "dst0") == 0
    assert count(pre, "add", "vq_create", "dst0") == DATA_VQS
    for phase in ("A6", "B5"):  # trap 3: the source still pays creation, at every reset
        assert count(pre, phase, "vq_create") == DATA_VQS
    # C1 "after": the first queue pair configured and readied, two MODIFY rounds
    assert count(pre, "C4.2.9", "vq_modify", "dst0") == 2 * 2


def test_parallel_fw_cmds_groups_modify_and_query_rounds_only() -> None:
    base, par = migrate("precreated_vqs"), migrate("precreated_vqs,parallel_fw_cmds")
    for phase in ("A1", "B1"):
        for kind in ("vq_modify", "vq_query"):
            rs = recs(par, phase, name=kind)
            assert len(rs) == DATA_VQS and len({r.group for r in rs}) == 1 and rs[0].group is not None
            assert all(r.group is None for r in recs(base, phase, name=kind))
        assert count(base, phase, "link_notifier") == 1 and count(par, phase, "link_notifier") == 0
    assert all(r.group is None for r in recs(par, "A3", name="vq_query"))  # one ioctl per VQ
    assert all(r.group is None for r in par.trace.records if r.name in ("vq_create", "vq_destroy"))


def test_parallel_mkey_and_deferred_free() -> None:
    base = migrate("upstream")
    mk = migrate("parallel_mkey")
    for r in recs(base, "A16", name="mkey_create"):
        assert r.group is None
    assert len({r.group for r in recs(mk, "A16", name="mkey_create")}) == 1
    free = migrate("deferred_mr_free")
    destroyed = ("mkey_destroy", "mr_indirect_destroy", "mr_dma_destroy")
    inline = [r for r in free.trace.records if r.name in destroyed and r.phase != "GC"]
    assert not inline
    assert sum(1 for r in base.trace.records if r.name in destroyed) == \
        sum(1 for r in free.trace.records if r.name in destroyed and r.phase == "GC")


def test_parallel_cvq_load_waits_once() -> None:
    """Serially each QEMU round trip holds its wait, so the device's work nests in it; in
    parallel the commands of one load share a group and the device works after them."""
    base, par = migrate("upstream"), migrate("parallel_cvq_load")
    n = 2 + len(VLANS)
    for phase, dev in (("A19", "src0"), ("C4.2.10", "dst0")):
        for res in (base, par):
            assert count(res, phase, "cvq_command", dev, Layer.HOST) == n
            assert count(res, phase, "cvq_command", dev, Layer.FW) == n
        host_b = recs(base, phase, dev, "cvq_command", Layer.HOST)
        host_p = recs(par, phase, dev, "cvq_command", Layer.HOST)
        assert all(r.group is None for r in host_b) and len({r.group for r in host_p}) == 1
        assert host_p[0].group is not None
        nested = {r.seq for r in host_b}
        assert all(r.parent in nested for r in recs(base, phase, dev, "cvq_command", Layer.FW))
        assert not [r for r in recs(par, phase, dev, "cvq_command", Layer.FW)
                    if r.parent in {h.seq for h in host_p}]


def test_the_multiqueue_command_s_modifies_nest_in_its_cvq_command() -> None:
    res = migrate("precreated_vqs")
    (mq,) = [r for r in recs(res, "A19", name="cvq_command", layer=Layer.FW)
             if any(c.parent == r.seq and c.name == "rqt_update" for c in res.trace.records)]
    assert sum(1 for c in res.trace.records if c.parent == mq.seq and c.name == "vq_modify") == \
        2 * (DATA_VQS - 2)


def test_trap_11_firmware_that_cannot_resume_throws_pre_created_vqs_away() -> None:
    res = migrate("precreated_vqs,fw_resumable=off")
    assert res.report.ok, res.report.render()
    # A7's empty map hits ASID 0's region: every pre-created VQ is destroyed, DRIVER_OK creates
    assert count(res, "A7", "vq_destroy") == DATA_VQS
    assert count(res, "A17", "vq_create") == DATA_VQS
    # the destination's second CVQ buffer map (C 4.2.6) does the same
    assert count(res, "C4.2.6", "vq_destroy", "dst0") == DATA_VQS
    assert count(res, "C4.2.9", "vq_create", "dst0") == DATA_VQS


# ------------------------------------------------------------------------------------------
# refusals, and checks that can fail
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "parent", "message"), [
    ("desc_group_asid", Parent.SIM, "desc_group_asid refused: .* does not offer VHOST_BACKEND_F_DESC_ASID"),
    ("precreated_vqs", Parent.SIM, "precreated_vqs refused: .*sim parent"),
    ("fw_resumable=off", Parent.SIM, "fw_resumable=False refused"),
    ("resumable_vqs", Parent.MLX5, "resumable_vqs refused: it needs desc_group_asid and persistent_iotlb"),
    ("+resumable_vqs,fw_resumable=off", Parent.MLX5, "resumable_vqs refused: the firmware cannot resume"),
])
def test_a_switch_the_device_does_not_offer_is_refused(spec: str, parent: Parent, message: str) -> None:
    setup = MigrationSetup(parent=parent, queue_pairs=1, switches=parse_switches(spec))
    with pytest.raises(SwitchError, match=message):
        run(Migration(setup).run())


def test_resumable_vqs_needs_a_kernel_that_lets_the_group_move_after_driver_ok() -> None:
    setup = MigrationSetup(queue_pairs=1, switches=PRESETS["+resumable_vqs"], vhost=VhostOptions())
    with pytest.raises(SwitchError, match="GROUP_ASID_AFTER_DRIVER_OK"):
        run(Migration(setup).run())


def test_a_replay_command_the_parent_does_not_understand_fails_the_start() -> None:
    """A device offering CTRL_RX on an mlx5-like parent: QEMU replays the MAC table, mlx5's
    CVQ answers VIRTIO_NET_ERR, and the start fails as QEMU's does (-EIO)."""
    setup = MigrationSetup(queue_pairs=1)
    opts = setup.device_options()
    opts = type(opts)(**{**opts.__dict__, "device_features": MLX5_NET_FEATURES | bit(VIRTIO_NET_F_CTRL_RX)})

    async def make(name, mem, log, trace):  # type: ignore[no-untyped-def]
        return ReferenceDevice(mem, opts, log, trace=trace)

    with pytest.raises(FlowError, match="refused MAC_TABLE_SET"):
        run(Migration(setup, make).run())


class ForgetsOneBuffer(ReferenceDevice):
    """Reports one more buffer used than it used: a buffer in flight is lost in migration."""

    async def get_vq_state(self, idx: int) -> VqState:
        st = await super().get_vq_state(idx)
        return VqState((st.avail_index + 1) & 0xFFFF) if idx == 1 else st


class SendsTwice(ReferenceDevice):
    """Transmits every frame of TX queue 3 twice."""

    def take_tx(self):  # type: ignore[no-untyped-def]
        out = super().take_tx()
        return out + [p for p in out if p.vq == 3]


@pytest.mark.parametrize(("cls", "failing"), [
    (ForgetsOneBuffer, "every TX frame on the wire"),
    (SendsTwice, "every TX frame on the wire"),
])
def test_the_traffic_checks_catch_a_device_that_loses_or_repeats(cls: type, failing: str) -> None:
    setup = MigrationSetup(queue_pairs=2, layout=RamLayout(8 * GiB))
    base = reference_factory(setup)
    opts = setup.device_options()

    async def make(name, mem, log, trace):  # type: ignore[no-untyped-def]
        if name.startswith("src"):
            return cls(mem, opts, log, trace=trace)
        return await base(name, mem, log, trace)

    res = run(Migration(setup, make).run())
    assert not res.report.ok
    assert any(failing in c.name for c in res.report.failures()), res.report.render()


def test_switches_are_any_combination() -> None:
    sw = parse_switches("all-on,-parallel_mkey,fw_resumable=on")
    assert not sw.parallel_mkey and sw.deferred_mr_free and sw.resumable_vqs
    assert Switches().with_(batch_ring_maps=True).enabled() == ("batch_ring_maps",)


def test_qemu_configures_every_provisioned_pair_while_the_guest_uses_fewer() -> None:
    """Ground rule 1: vhost_devs over the maximum queue pairs; the MQ replay carries the
    guest's count, and mlx5 readies only that many (change_num_qps)."""
    setup = MigrationSetup(queue_pairs=QP, active_pairs=2, layout=RamLayout(8 * GiB), vlans=())
    res = run(Migration(setup).run())
    assert res.report.ok, res.report.render()
    assert count(res, "A13", "set_vq_num") == DATA_VQS and count(res, "A20", "set_vq_ready") == DATA_VQS
    # A19's MQ readies the second pair only: two MODIFY rounds over VQs 2 and 3
    assert sorted(r.args["vq"] for r in recs(res, "A19", name="vq_modify")) == [2, 2, 3, 3]
    assert count(res, "C4.2.10", "cvq_command", "dst0", Layer.FW) == 2  # MAC and MQ, no VLANs
