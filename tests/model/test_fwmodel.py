# SPDX-License-Identifier: MIT
"""The mlx5 parent's firmware-work model and the region geometry it prices.

Expected counts come from migration-sequence.md §1 items 5-8 and the mlx5_vnet.c / mr.c code
paths it cites, written out here (a VQ pair is two MODIFY records per round, a pre-created
device has max_vqs blank VQs, ...), never read back from the model.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from fractions import Fraction

import pytest

from vdpa_model.device import ReferenceDevice
from vdpa_model.errors import VdpaError
from vdpa_model.fwmodel import FwState, FwWork, Mlx5Firmware
from vdpa_model.hostmem import Backing, RunPattern
from vdpa_model.memory import GiB, GuestMemory, KiB, MiB
from vdpa_model.mr import MAX_KEY, region_shape
from vdpa_model.ops import IotlbRange, VqState
from vdpa_model.options import MLX5_NET_FEATURES, DeviceOptions, Parent
from vdpa_model.spec import (
    VHOST_ACCESS_RO,
    VHOST_ACCESS_RW,
    VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_NET_CTRL_MQ,
    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
    VIRTIO_NET_CTRL_VLAN,
    VIRTIO_NET_CTRL_VLAN_ADD,
    VIRTIO_NET_F_MRG_RXBUF,
    bit,
)
from vdpa_model.sync import run
from vdpa_model.trace import Layer, Trace

RW = VHOST_ACCESS_RW
QP = 4


def runs_of(page: int) -> Backing:
    """Host memory in ``page``-byte runs at multiples of ``page``, everywhere."""
    return Backing.uniform(RunPattern(page))

MAX_VQS = 2 * QP


# ------------------------------------------------------------------------------------------
# region geometry (mr.c)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("page", "per_gib"), [(4 * KiB, 262_144), (2 * MiB, 512), (GiB, 1)])
def test_translation_entries_per_gib_follow_the_backing_page(page: int, per_gib: int) -> None:
    """§1 item 6: 262 144 entries per GiB for 4 KiB-fragmented memory, 512 for 2 MiB, 1 for 1 GiB."""
    shape = region_shape([IotlbRange(4 * GiB, 126 * GiB, 4 * GiB, RW)], runs_of(page))
    assert shape.direct_keys == 126
    assert all(k.length == MAX_KEY for k in shape.keys)
    assert shape.entries == 126 * per_gib
    assert shape.klms == 126 and shape.ranges == 1 and shape.runs == 126 * GiB // page


def test_an_odd_run_lowers_the_unit_of_its_own_window_only() -> None:
    """A chunk that ends 64 KiB past a 2 MiB boundary: its last key uses 64 KiB units."""
    ranges = [IotlbRange(0, 3 * GiB + 64 * KiB, 0, RW)]
    shape = region_shape(ranges, runs_of(2 * MiB))
    assert [(k.count, k.length, k.entries) for k in shape.keys] == [
        (3, GiB, 512), (1, 64 * KiB, 1)]
    # the same bytes one key later: the odd piece shares the window of a whole 2 MiB page run
    ranges = [IotlbRange(0, 2 * MiB + 64 * KiB, 0, RW)]
    (key,) = region_shape(ranges, runs_of(2 * MiB)).keys
    assert key.entries == (2 * MiB + 64 * KiB) // (64 * KiB)


def test_chains_merge_contiguous_entries_and_holes_cost_null_keys() -> None:
    ranges = [IotlbRange(0, GiB, 0, RW), IotlbRange(GiB, GiB, 5 * GiB, RW),  # one chain
              IotlbRange(2 * GiB, GiB, 9 * GiB, VHOST_ACCESS_RO),             # perm breaks it
              IotlbRange(7 * GiB + 4 * KiB, 4 * KiB, 0x1000, RW)]            # 4 GiB hole before
    shape = region_shape(ranges, runs_of(2 * MiB))
    assert shape.direct_keys == 4
    assert shape.klms == 4 + math.ceil((7 * GiB + 4 * KiB - 3 * GiB) / GiB)


def naive_runs(r: IotlbRange, page: int, fallback: Fraction) -> list[tuple[int, int]]:
    """(iova, length) of every physically contiguous run of ``r``, enumerated: ``page``-byte
    cells, cell j split into 4 KiB pages when floor((j + 1) f) > floor(j f) (hostmem.py)."""
    out, pos = [], 0
    while pos < r.size:
        pa = r.pa + pos
        cell = pa // page
        fell_back = math.floor((cell + 1) * fallback) > math.floor(cell * fallback)
        unit = 4 * KiB if fell_back else page
        n = min(r.size - pos, unit - pa % unit)
        out.append((r.iova + pos, n))
        pos += n
    return out


def naive_entries(ranges: list[IotlbRange], page: int,
                  fallback: Fraction = Fraction(0)) -> list[tuple[int, int]]:
    """mr.c written out the slow way: every run enumerated, every key's gcd taken over them."""
    runs = [(iova, n, r.perm) for r in sorted(ranges, key=lambda r: r.iova)
            for iova, n in naive_runs(r, page, fallback)]
    chains: list[list[tuple[int, int, int]]] = []
    for piece in runs:
        last = chains[-1][-1] if chains else None
        if last is not None and last[0] + last[1] == piece[0] and last[2] == piece[2]:
            chains[-1].append(piece)
        else:
            chains.append([piece])
    out = []
    for chain in chains:
        start, end = chain[0][0], chain[-1][0] + chain[-1][1]
        for ws in range(start, end, MAX_KEY):
            we = min(ws + MAX_KEY, end)
            g = 0
            for iova, n, _ in chain:
                lo, hi = max(ws, iova), min(we, iova + n)
                if lo < hi:
                    g = math.gcd(g, hi - lo)
            unit = 1 << (g.bit_length() - 1)
            out.append((we - ws, -(-(we - ws) // unit)))
    return out


def random_ranges(rnd: random.Random, regions: int) -> list[IotlbRange]:
    ranges, iova = [], rnd.randrange(0, 4) * MiB
    for _ in range(rnd.randrange(1, 5)):
        size = rnd.randrange(1, regions) * 2 * MiB // rnd.choice([1, 8, 32])
        pa = rnd.randrange(0, 1 << 20) * 4 * KiB
        ranges.append(IotlbRange(iova, size, pa, rnd.choice([RW, RW, VHOST_ACCESS_RO])))
        iova += size + rnd.choice([0, 0, 4 * KiB, 3 * GiB])
    return ranges


@pytest.mark.parametrize("seed", range(6))
def test_bulk_geometry_equals_the_run_by_run_computation(seed: int) -> None:
    rnd = random.Random(seed)
    page = rnd.choice([64 * KiB, 2 * MiB])
    ranges = random_ranges(rnd, 2600)
    shape = region_shape(ranges, runs_of(page))
    keys = Counter({(k.length, k.entries): k.count for k in shape.keys})
    assert keys == Counter(naive_entries(ranges, page))
    assert len(shape.keys) == len(keys)  # one record per shape
    assert shape.runs == sum(len(naive_runs(r, page, Fraction(0))) for r in ranges)


@pytest.mark.parametrize("seed", range(6))
def test_thp_fallback_geometry_equals_the_run_by_run_computation(seed: int) -> None:
    """THP with 4 KiB fallback regions: keys by unit and runs, against every run enumerated."""
    rnd = random.Random(100 + seed)
    fallback = rnd.choice([Fraction(1, 3), Fraction(1, 700), Fraction(3, 1000), Fraction(1, 1)])
    ranges = random_ranges(rnd, 1200)
    shape = region_shape(ranges, Backing.uniform(RunPattern(2 * MiB, fallback)))
    assert Counter({(k.length, k.entries): k.count for k in shape.keys}) == Counter(
        naive_entries(ranges, 2 * MiB, fallback))
    assert shape.runs == sum(len(naive_runs(r, 2 * MiB, fallback)) for r in ranges)


def test_a_4_tib_region_is_counted_not_walked() -> None:
    shape = region_shape([IotlbRange(4 * GiB, 4096 * GiB, 4 * GiB, RW)], runs_of(4 * KiB))
    assert len(shape.keys) == 1 and shape.direct_keys == 4096
    assert shape.entries == 4096 * 262_144


# ------------------------------------------------------------------------------------------
# the firmware model's decisions (mlx5_vnet.c)
# ------------------------------------------------------------------------------------------
def fw(**opts: bool) -> Mlx5Firmware:
    """mlx5's decisions: DRIVER_OK readies the first queue pair, the MQ command the rest."""
    return Mlx5Firmware(DeviceOptions(**{"driver_ok_first_qp_only": True, **opts}), MAX_VQS,
                        MLX5_NET_FEATURES)


def kinds(work: list[FwWork]) -> Counter[str]:
    return Counter(w.kind for w in work)


def rounds(work: list[FwWork], kind: str) -> list[list[int]]:
    """The VQs of each parallel round of ``kind``, in order; serial commands are their own."""
    out: list[list[int]] = []
    last = None
    for w in work:
        if w.kind != kind:
            continue
        if w.round is not None and w.round == last:
            out[-1].append(w.args["vq"])
        else:
            out.append([w.args["vq"]])
        last = w.round
    return out


def bring_up(f: Mlx5Firmware, features: int = MLX5_NET_FEATURES, num: int = 256) -> list[FwWork]:
    """QEMU's order: features, per-VQ num and address, DRIVER_OK, then enables (A12-A20)."""
    f.set_driver_features(features)
    for i in range(MAX_VQS):
        f.set_vq_num(i, num)
        f.set_vq_address(i)
    return f.set_status(0xF)


def test_device_add_creates_the_dma_key_and_with_pre_creation_every_vq_blank() -> None:
    assert kinds(fw().device_add()) == Counter({"mr_dma_create": 1})
    work = fw(precreated_vqs=True).device_add()
    assert kinds(work) == Counter({"mr_dma_create": 1, "vq_create": MAX_VQS, "dev_resources_create": 1})
    assert all(w.round is None for w in work)  # creation is always serial (§1 item 7)


def test_driver_ok_without_pre_creation_creates_every_provisioned_vq() -> None:
    f = fw()
    f.device_add()
    assert kinds(bring_up(f)) == Counter({"vq_create": MAX_VQS, "dev_resources_create": 1,
                                          "link_notifier": 1})


@pytest.mark.parametrize("parallel", [False, True])
def test_driver_ok_with_pre_creation_readies_the_first_pair_in_two_rounds(parallel: bool) -> None:
    """§1 item 8: two MODIFY rounds (fields, then RDY) for the first queue pair only."""
    f = fw(precreated_vqs=True, parallel_fw_cmds=parallel)
    f.device_add()
    work = bring_up(f)
    assert kinds(work) == Counter({"vq_modify": 4, "link_notifier": 1})
    assert rounds(work, "vq_modify") == ([[0, 1], [0, 1]] if parallel else [[0], [1], [0], [1]])


def test_what_an_executor_needs_rides_on_each_unit() -> None:
    """The RTL parent carries the plan out: each MODIFY says the state it moves its VQ to (None
    for the fields-only first MODIFY of a pre-created VQ), each creation whether it is blank."""
    f = fw(precreated_vqs=True, parallel_fw_cmds=True)
    assert {w.filled for w in f.device_add() if w.kind == "vq_create"} == {False}
    up = [w.state for w in bring_up(f) if w.kind == "vq_modify"]
    assert up == [None, None, FwState.RDY, FwState.RDY]
    assert {w.state for w in f.suspend() if w.kind == "vq_modify"} == {FwState.SUSPEND}
    assert {w.state for w in f.resume() if w.kind == "vq_modify"} == {FwState.RDY}
    f = fw()
    f.device_add()
    assert {w.filled for w in bring_up(f) if w.kind == "vq_create"} == {True}


def test_without_first_pair_gating_driver_ok_readies_every_ready_vq() -> None:
    """driver_ok_first_qp_only off: every ready VQ starts at DRIVER_OK and the MQ command only
    rewrites the RQT (a bench running its queue pairs without a control VQ)."""
    f = Mlx5Firmware(DeviceOptions(precreated_vqs=True, parallel_fw_cmds=True), MAX_VQS,
                     MLX5_NET_FEATURES)
    f.device_add()
    f.set_driver_features(MLX5_NET_FEATURES)
    for i in range(MAX_VQS - 1):  # the last VQ is never enabled
        f.set_vq_ready(i, True)
    enabled = list(range(MAX_VQS - 1))
    assert rounds(bring_up(f), "vq_modify") == [enabled] * 2
    work = f.control(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, True, True, 1)
    assert kinds(work) == Counter({"cvq_command": 1, "rqt_update": 1})
    assert [f.fw_state(i) for i in range(MAX_VQS)] == [FwState.RDY] * (MAX_VQS - 1) + [FwState.INIT]
    # a VQ enabled after DRIVER_OK starts then, alone
    assert rounds(f.set_vq_ready(MAX_VQS - 1, True), "vq_modify") == [[MAX_VQS - 1]] * 2


def test_an_empty_map_leaves_the_asid_without_a_region() -> None:
    """set_map_data: "empty iotlbs don't have an mr": the switch says so (flags 1), and a later
    map on the ASID puts its region in force without a map change."""
    f = fw()
    f.device_add()
    f.set_map(1, region(1))
    (switch,) = [w for w in f.set_map(1, []) if w.kind == "mr_table_switch"]
    assert switch.args == {"asid": 1, "flags": 1}
    work = f.set_map(1, region(1))
    (switch,) = [w for w in work if w.kind == "mr_table_switch"]
    assert switch.args == {"asid": 1} and "vq_query" not in kinds(work)


@pytest.mark.parametrize("undo", ["qsize", "mrg_rxbuf"])
def test_c11_conditions_undo_pre_creation(undo: str) -> None:
    f = fw(precreated_vqs=True)
    f.device_add()
    if undo == "qsize":
        work = bring_up(f, num=128)
    else:
        work = bring_up(f, features=MLX5_NET_FEATURES & ~bit(VIRTIO_NET_F_MRG_RXBUF))
    k = kinds(work)
    assert k["vq_destroy"] == MAX_VQS and k["vq_create"] == MAX_VQS
    assert k["dev_resources_destroy"] == 1 and k["dev_resources_create"] == 1


def test_the_multiqueue_command_readies_the_other_pairs_and_rewrites_the_rqt() -> None:
    f = fw(precreated_vqs=True, parallel_fw_cmds=True)
    f.device_add()
    bring_up(f)
    work = f.control(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, True, True, QP)
    assert rounds(work, "vq_modify") == [list(range(2, MAX_VQS))] * 2
    assert [w.kind for w in work][-1] == "rqt_update" and kinds(work)["cvq_command"] == 1
    assert kinds(f.control(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, True, True)) == \
        Counter({"cvq_command": 1, "flow_rule_add": 1})
    (rule,) = [w for w in f.control(VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, True, True)
               if w.kind == "flow_rule_add"]
    assert rule.args == {"count": 2, "vlans": 1}  # mac_vlan_add: a unicast and a multicast rule


def test_reset_after_a_run_recreates_every_provisioned_vq_blank() -> None:
    """Trap 3: pre-creation moves creation into every reset, per provisioned VQ."""
    f = fw(precreated_vqs=True, parallel_fw_cmds=True)
    f.device_add()
    bring_up(f)
    f.control(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, True, True, QP)
    f.suspend()
    k = kinds(f.reset(clean_map=True))
    assert k["vq_destroy"] == MAX_VQS and k["vq_create"] == MAX_VQS
    assert k["mr_dma_destroy"] == 1 and k["mr_dma_create"] == 1 and k["link_notifier"] == 1


@pytest.mark.parametrize("parallel", [False, True])
def test_suspend_rounds_and_the_link_notifier(parallel: bool) -> None:
    f = fw(precreated_vqs=True, parallel_fw_cmds=parallel)
    f.device_add()
    bring_up(f)
    f.control(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, True, True, QP)
    work = f.suspend()
    k = kinds(work)
    assert k["vq_modify"] == MAX_VQS and k["vq_query"] == MAX_VQS
    # C2/C4: the serial kernels also dropped the link notifier on suspend
    assert k["link_notifier"] == (0 if parallel else 1)
    assert len(rounds(work, "vq_modify")) == (1 if parallel else MAX_VQS)


@pytest.mark.parametrize("parallel, keep, notifier", [
    (False, None, True), (True, None, False), (True, False, True), (False, True, False)])
def test_the_link_notifier_across_suspend_and_resume(parallel: bool, keep: bool | None,
                                                     notifier: bool) -> None:
    """"Keep notifiers during suspend/resume" came last in the parallel series: by default with
    parallel_fw_cmds; kept apart, it gives the series' intermediate state (C2's 13 ms, C3)."""
    f = Mlx5Firmware(DeviceOptions(precreated_vqs=True, parallel_fw_cmds=parallel,
                                   keep_link_notifier=keep), MAX_VQS, MLX5_NET_FEATURES)
    f.device_add()
    bring_up(f)
    suspended, resumed = kinds(f.suspend()), f.resume()
    assert suspended["link_notifier"] == int(notifier)
    links = [w.args["flags"] for w in resumed if w.kind == "link_notifier"]
    assert links == ([1] if notifier else [])
    assert kinds(resumed)["dev_command"] == int(not notifier)  # the kept notifier's link query


def test_modifies_of_init_objects_are_flagged_as_configuring() -> None:
    """flags 1 on the two MODIFYs that configure an INIT VQ, 0 on a running VQ's state change."""
    f = fw(precreated_vqs=True, parallel_fw_cmds=True)
    f.device_add()
    up = [w.args["flags"] for w in bring_up(f) if w.kind == "vq_modify"]
    assert up == [1] * 4
    down = [w.args["flags"] for w in f.suspend() if w.kind == "vq_modify"]
    assert down == [0] * 2


def test_a_destroyed_region_carries_its_translation_entries() -> None:
    f = fw()
    f.device_add()
    f.set_map(0, region(3))
    work = f.reset_map(0)
    (destroyed,) = [w for w in work if w.kind == "mkey_destroy"]
    assert destroyed.args == {"count": 3, "entries": 262_144, "bytes": GiB}


def region(gib: int) -> list[IotlbRange]:
    return [IotlbRange(4 * GiB, gib * GiB, 4 * GiB, RW)]


@pytest.mark.parametrize("parallel_mkey", [False, True])
def test_set_map_builds_the_whole_region(parallel_mkey: bool) -> None:
    f = fw(parallel_mkey=parallel_mkey)
    f.device_add()
    # ASID 1 has no region yet (ASID 0 holds the 1:1 key): a plain build put in force, no map
    # change; the CVQ group is not bound to ASID 1, so its table copy is left alone
    work = f.set_map(1, [*region(3), IotlbRange(1 << 40, 8 * KiB, 1 << 41, RW)])
    keys = [w for w in work if w.kind == "mkey_create"]
    assert sum(w.args["count"] for w in keys) == 3 + 1 and len(keys) == 2
    # one round for all of them with parallel_mkey; otherwise issued one by one
    assert [w.round is not None for w in keys] == [parallel_mkey] * 2
    assert len({w.round for w in keys}) == 1
    # the indirect key, then the region's own copy of the table (_mlx5_vdpa_create_mr ->
    # dup_iotlb): one entry per 4 KiB run, 3 GiB and 8 KiB of them; then it is put in force
    assert [w.kind for w in work][-3:] == ["mr_indirect_create", "mr_iotlb", "mr_table_switch"]
    assert work[-2].args == {"flags": 1, "runs": 3 * GiB // (4 * KiB) + 2}
    assert not {"vq_modify", "vq_query"} & set(kinds(work))
    # ASID 0 already has its 1:1 key, so a map there is a map change; the CVQ group is on
    # ASID 0 after reset, so its table copy is refreshed last
    work = f.set_map(0, region(1))
    assert kinds(work)["mr_table_switch"] == 1 and kinds(work)["mr_dma_destroy"] == 1
    assert [w.kind for w in work][-1] == "cvq_iotlb_update"


@pytest.mark.parametrize("resumable", [True, False])
def test_a_map_change_while_running(resumable: bool) -> None:
    """§1 item 5: suspend, switch, resume; or, without resumable firmware, every VQ destroyed
    and re-created in full because the device runs."""
    f = fw(precreated_vqs=True, parallel_fw_cmds=True, fw_resumable=resumable)
    f.device_add()
    bring_up(f)
    k = kinds(f.set_map(0, region(2)))
    assert k["mr_table_switch"] == 1 and k["mr_dma_destroy"] == 1
    if resumable:
        assert k["vq_modify"] == 2 * 2 and k["vq_query"] == 2 and k["vq_create"] == 0
    else:
        assert k["vq_destroy"] == MAX_VQS and k["vq_create"] == MAX_VQS


def test_trap_11_an_empty_map_throws_pre_created_vqs_away_on_firmware_that_cannot_resume() -> None:
    f = fw(precreated_vqs=True, parallel_fw_cmds=True, fw_resumable=False)
    f.device_add()
    bring_up(f)
    f.suspend()
    f.reset(clean_map=True)      # A6: VQs re-created blank, ASID 0 gets its 1:1 key
    k = kinds(f.set_map(0, []))  # A7's empty map: a map change on a suspended-free, stopped device
    assert k["vq_destroy"] == MAX_VQS and k["vq_create"] == 0
    assert kinds(bring_up(f))["vq_create"] == MAX_VQS  # DRIVER_OK pays full creation (C1 before)


def test_resumable_firmware_keeps_pre_created_vqs_through_the_empty_map() -> None:
    f = fw(precreated_vqs=True, parallel_fw_cmds=True)
    f.device_add()
    bring_up(f)
    f.reset(clean_map=True)
    assert kinds(f.set_map(0, []))["vq_destroy"] == 0
    assert kinds(bring_up(f))["vq_create"] == 0


def test_deferred_free_moves_region_destruction_to_the_collector() -> None:
    for deferred in (False, True):
        f = fw(deferred_mr_free=deferred, parallel_mkey=True)
        f.device_add()
        f.set_map(1, region(2))
        k = kinds(f.set_map(1, region(3)))
        assert k["mkey_destroy"] == (0 if deferred else 1)
        gc = kinds(f.collect_garbage())
        # _mlx5_vdpa_destroy_mr frees the region's table copy with its keys
        assert gc == (Counter({"mr_indirect_destroy": 1, "mkey_destroy": 1, "mr_iotlb": 1}) if deferred
                      else Counter())
        # the old region's copy (3 GiB of 4 KiB runs) is freed with it: now, or by the collector
        copies = [w.args for w in f.set_map(1, region(1)) if w.kind == "mr_iotlb"]
        made, freed = {"flags": 1, "runs": GiB // (4 * KiB)}, {"flags": 0, "runs": 3 * GiB // (4 * KiB)}
        assert copies == ([made] if deferred else [made, freed])


def test_the_cvq_table_copy_follows_its_group_binding() -> None:
    f = fw()
    f.device_add()
    f.set_map(1, [IotlbRange(0, 8 * KiB, 0x100000, RW)])
    assert kinds(f.set_group_asid(1, 1)) == Counter({"cvq_iotlb_update": 1})
    (copy,) = [w for w in f.set_map(1, [IotlbRange(0, 8 * KiB, 0x100000, RW),
                                        IotlbRange(1 << 30, 2 * MiB, 0, RW)])
               if w.kind == "cvq_iotlb_update"]
    assert copy.args == {"asid": 1, "runs": 2 + 512}  # one table entry per 4 KiB run
    assert "cvq_iotlb_update" not in kinds(f.set_map(0, region(1)))  # ASID 0 is not the CVQ's


# ------------------------------------------------------------------------------------------
# the reference device: recorded work, and the functional differences mlx5 has
# ------------------------------------------------------------------------------------------
def test_the_device_records_its_firmware_work_nested_in_the_trace() -> None:
    trace = Trace()
    dev = ReferenceDevice(GuestMemory(), DeviceOptions(precreated_vqs=True), trace=trace)
    assert Counter(r.name for r in trace.records) == Counter(
        {"mr_dma_create": 1, "vq_create": MAX_VQS, "dev_resources_create": 1})
    assert all(r.layer is Layer.FW for r in trace.records)
    trace.records.clear()
    run(dev.set_map(1, [IotlbRange(0, 4 * KiB, 0, RW)]))
    assert [r.name for r in trace.records] == ["mkey_create", "mr_indirect_create", "mr_iotlb",
                                               "mr_table_switch"]


def test_without_resumable_firmware_there_is_no_resume_op() -> None:
    dev = ReferenceDevice(GuestMemory(), DeviceOptions(fw_resumable=False))
    assert not dev.has_op("resume") and dev.has_op("suspend")
    with pytest.raises(VdpaError):
        run(dev.resume())
    sim = ReferenceDevice(GuestMemory(), DeviceOptions.for_parent(Parent.SIM))
    assert sim.has_op("resume")


@pytest.mark.parametrize("field", ["precreated_vqs", "parallel_fw_cmds", "parallel_mkey",
                                   "deferred_mr_free"])
def test_the_sim_parent_refuses_firmware_options(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field}=True models mlx5 firmware"):
        DeviceOptions.for_parent(Parent.SIM, **{field: True})


def test_driver_ok_starts_the_first_pair_and_the_mq_command_the_rest() -> None:
    dev = ReferenceDevice(GuestMemory(), DeviceOptions(driver_ok_first_qp_only=True))
    run(dev.set_driver_features(MLX5_NET_FEATURES))
    for i in range(MAX_VQS):
        run(dev.set_vq_state(i, VqState(0)))
    run(dev.set_status(0xB))
    run(dev.set_status(0xB | VIRTIO_CONFIG_S_DRIVER_OK))
    for i in range(MAX_VQS):
        run(dev.set_vq_ready(i, True))
    assert [vq.state.name for vq in dev.vqs[:MAX_VQS]] == ["RDY"] * 2 + ["INIT"] * 6
    dev.cur_queue_pairs = QP  # what the CVQ's MQ_VQ_PAIRS_SET does
    assert [vq.state.name for vq in dev.vqs[:MAX_VQS]] == ["RDY"] * MAX_VQS
    dev.cur_queue_pairs = 2
    assert [vq.state.name for vq in dev.vqs[:MAX_VQS]] == ["RDY"] * 4 + ["SUSPEND"] * 4
