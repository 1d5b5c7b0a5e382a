# SPDX-License-Identifier: MIT
"""Unit tests of the reference device's vdpa_config_ops semantics (vdpa-semantics.md §1, §3, §4, §6).

The device is driven the way QEMU drives a parent: through :class:`VhostVdpa` and the flows in
:mod:`vdpa_model.flows`, with a guest driver model filling the rings. Where a test is about what
the *parent* decides (vhost-vdpa would refuse the call first), the op is called on the device
directly. Expected values come from the kernel sources named in each docstring, and the ring and
config offsets are written out again here (virtio 1.2 §2.7, §5.1.4), never taken from the model.
"""

from __future__ import annotations

import errno
import struct

import pytest

from vdpa_model.device import ReferenceDevice
from vdpa_model.dma import AccessKind, AccessLog
from vdpa_model.errors import VdpaError
from vdpa_model.flows import open_device, start_device, stop_device
from vdpa_model.guest import GuestNetDriver, GuestVirtqueue
from vdpa_model.iotlb import TranslationFault
from vdpa_model.memory import Allocator, GiB, GuestMemory, MiB
from vdpa_model.ops import IotlbRange, VqObjectState, VqState
from vdpa_model.options import DeviceOptions, Parent
from vdpa_model.sync import run
from vdpa_model.vhost import VhostVdpa

# --- constants restated from the kernel / spec ----------------------------------------------
F_MQ, F_CTRL_VQ, F_EVENT_IDX, F_ACCESS_PLATFORM = 22, 17, 29, 33          # virtio_net.h, virtio_config.h
S_ACK, S_DRIVER, S_DRIVER_OK, S_FEATURES_OK, S_NEEDS_RESET = 0x1, 0x2, 0x4, 0x8, 0x40
ACCESS_RO, ACCESS_RW = 0x1, 0x3                                              # VHOST_ACCESS_*
CLEAN_MAP = 1                                                                # VDPA_RESET_F_CLEAN_MAP
USED_IDX_OFF = 2                                                             # struct vring_used.idx
MLX5_DEFAULT_VQ_SIZE = 256                                                   # MLX5V_DEFAULT_VQ_SIZE
HDR_LEN = 12                                                                 # virtio_net_hdr_v1

MAPPED = 256 * MiB          # ASID 0 maps [0, MAPPED) RW when a test maps memory
UNMAPPED = 512 * MiB        # an IOVA outside every mapping


def bit(n: int) -> int:
    return 1 << n


def u16(mem: GuestMemory, addr: int) -> int:
    return int.from_bytes(mem.read(addr, 2), "little")


class Bench:
    """One device behind vhost-vdpa, a guest net driver and (with CTRL_VQ) a control VQ.

    The CVQ index follows mlx5_vnet.c ctrl_vq_idx, restated: 2 without MQ, 2 * max_qps with it
    (§6 item 17). Without MQ the driver uses one queue pair so vq 2 is free for the CVQ.
    """

    def __init__(self, parent: Parent = Parent.MLX5, *, drop: int = 0, qsize: int = 16,
                 start: bool = True, mapped: bool = False, **opts: object) -> None:
        self.mem = GuestMemory(size=GiB)
        self.alloc = Allocator(MiB, 64 * MiB)
        self.log = AccessLog()
        self.dev = ReferenceDevice(self.mem, DeviceOptions.for_parent(parent, **opts), self.log)
        self.v = VhostVdpa(self.dev)
        run(open_device(self.v))
        if mapped:
            run(self.v.map(0, [IotlbRange(0, MAPPED, 0, ACCESS_RW)]))
        self.features = run(self.v.get_features()) & ~drop
        max_qps = self.dev.options.queue_pairs
        mq = bool(self.features & bit(F_MQ))
        self.driver = GuestNetDriver(self.mem, self.alloc, queue_pairs=max_qps if mq else 1,
                                     queue_size=qsize, features=self.features)
        self.vqs: list[GuestVirtqueue] = list(self.driver.vqs)
        self.cvq_index = 2 * max_qps if mq else 2
        self.cvq: GuestVirtqueue | None = None
        if self.features & bit(F_CTRL_VQ):
            self.cvq = GuestVirtqueue(self.mem, self.alloc, self.cvq_index, qsize,
                                      event_idx=bool(self.features & bit(F_EVENT_IDX)))
            self.vqs.append(self.cvq)
        if start:
            run(start_device(self.v, self.vqs, features=self.features))

    def state(self, idx: int) -> VqObjectState:
        return self.dev.vqs[idx].state

    def send(self, qp: int, frames: list[bytes]) -> None:
        for f in frames:
            self.driver.send(qp, f, kick=False)
        run(self.v.kick(self.driver.tx_index(qp)))

    def tx_data(self) -> list[bytes]:
        return [p.data for p in self.dev.take_tx()]

    def used_idx_mem(self, idx: int) -> int:
        return u16(self.mem, self.vqs[idx].used_gpa + USED_IDX_OFF)


FRAMES = [bytes([i]) * (60 + i) for i in range(8)]
PARENTS = [Parent.MLX5, Parent.SIM]


def expect_errno(err: int, coro: object) -> VdpaError:
    with pytest.raises(VdpaError) as info:
        run(coro)  # type: ignore[arg-type]
    assert info.value.errno == err, str(info.value)
    return info.value


# ============================================================================================
# get_vq_state / set_vq_state
# ============================================================================================
@pytest.mark.parametrize("parent", PARENTS)
def test_get_vq_state_after_suspend_equals_used_idx(parent: Parent) -> None:
    """mlx5_vdpa_get_vq_state (hw used idx) / vdpasim_get_vq_state (last_avail_idx): after
    VHOST_VDPA_SUSPEND both equal used.idx as written in guest memory (§3.4 model rule). Part
    of the work is still unprocessed when suspend is called."""
    b = Bench(parent)
    b.send(0, FRAMES[:5])
    b.dev.process(budget=2)
    bases = run(stop_device(b.v, [1]))
    b.dev.process()
    assert b.used_idx_mem(1) == 2
    assert bases == {1: 2}
    assert b.tx_data() == FRAMES[:2]


def test_mlx5_set_vq_state_refused_while_rdy() -> None:
    """mlx5_vdpa_set_vq_state: -EINVAL while the hardware VQ object is RDY (§6 item 15)."""
    b = Bench(Parent.MLX5)
    assert b.state(1) is VqObjectState.RDY
    expect_errno(errno.EINVAL, b.dev.set_vq_state(1, VqState(3)))


def test_sim_set_vq_state_accepted_while_running() -> None:
    """vdpasim_set_vq_state: no state check in the parent; it sets vringh last_avail_idx, so the
    device reads the next head from that avail slot (the only refusal is vhost-vdpa's, T1)."""
    b = Bench(Parent.SIM)
    tx = b.vqs[1]
    b.send(0, FRAMES[:3])              # avail.ring[0..2], device will start at slot 2
    run(b.dev.set_vq_state(1, VqState(2)))
    assert run(b.dev.get_vq_state(1)).avail_index == 2
    b.dev.process()
    assert b.tx_data() == [FRAMES[2]]
    assert tx.used_idx == 1            # used index untouched by set_vq_state on sim


@pytest.mark.parametrize("parent,used_after", [(Parent.MLX5, 6), (Parent.SIM, 3)])
def test_set_vq_state_sets_avail_and_used_on_mlx5_only(parent: Parent, used_after: int) -> None:
    """mlx5_vdpa_set_vq_state sets BOTH hw avail_idx and used_idx to the value; vdpasim only
    last_avail_idx (the vring is not rebuilt while ready stays true). Suspended at used 2, base
    set to 5, then one chain (avail slot 5) is processed after resume: mlx5 writes used.idx 6,
    sim continues its own used index 2 → 3."""
    b = Bench(parent)
    b.send(0, FRAMES[:2])
    b.dev.process()
    run(b.v.suspend())
    run(b.v.set_vring_base(1, 5))
    for f in FRAMES[2:6]:             # avail.idx 6: slots 2..5
        b.driver.send(0, f, kick=False)
    run(b.v.resume())
    run(b.v.kick(1))
    b.dev.process()
    assert b.used_idx_mem(1) == used_after
    assert b.tx_data()[2:] == [FRAMES[5]]


def test_sim_used_idx_follows_last_avail_at_enable() -> None:
    """vdpasim_queue_ready: on ready false→true, last_used_idx := last_avail_idx (no in-flight
    support, §3.2). Base 7 set before enable: the first completion writes used.idx 8."""
    b = Bench(Parent.SIM, start=False)
    tx = GuestVirtqueue(b.mem, b.alloc, 1, 16, event_idx=True, start_idx=7)
    b.mem.write(tx.used_gpa + USED_IDX_OFF, (0).to_bytes(2, "little"))  # used.idx says 0
    vqs = [b.vqs[0], tx, *b.vqs[2:]]
    run(start_device(b.v, vqs, features=b.features, bases={1: 7}))
    tx.add_buffer([bytes(HDR_LEN) + FRAMES[0]], ())
    tx.publish()
    run(b.v.kick(1))
    b.dev.process()
    assert u16(b.mem, tx.used_gpa + USED_IDX_OFF) == 8


def test_mlx5_used_idx_from_set_vq_state_not_reset_at_enable() -> None:
    """mlx5_vdpa_set_vq_state loads used_idx with the base too, so after base 7 the first
    completion also writes used.idx 8 (the firmware object starts from both indices)."""
    b = Bench(Parent.MLX5, start=False)
    tx = GuestVirtqueue(b.mem, b.alloc, 1, 16, event_idx=True, start_idx=7)
    vqs = [b.vqs[0], tx, *b.vqs[2:]]
    run(start_device(b.v, vqs, features=b.features, bases={1: 7}))
    tx.add_buffer([bytes(HDR_LEN) + FRAMES[0]], ())
    tx.publish()
    run(b.v.kick(1))
    b.dev.process()
    assert u16(b.mem, tx.used_gpa + USED_IDX_OFF) == 8


def test_set_vq_state_rejects_non_u16() -> None:
    """vdpa_vq_state_split.avail_index is u16; the vhost core refuses larger split values
    (VHOST_SET_VRING_BASE -EINVAL) before the parent is called."""
    b = Bench(Parent.MLX5, start=False)
    expect_errno(errno.EINVAL, b.v.set_vring_base(1, 0x10000))


# ============================================================================================
# set_vq_ready and VQ object states
# ============================================================================================
@pytest.mark.parametrize("parent,ready", [(Parent.MLX5, False), (Parent.SIM, True)])
def test_set_vq_ready_before_features(parent: Parent, ready: bool) -> None:
    """mlx5_vdpa_set_vq_ready: ignored until driver features are set (§6 item 16);
    vdpasim_set_vq_ready has no such check."""
    b = Bench(parent, start=False)
    run(b.v.set_vring_enable(0, True))
    assert run(b.dev.get_vq_ready(0)) is ready


def test_mlx5_set_vq_ready_false_suspends_rdy_object() -> None:
    """mlx5_vdpa_set_vq_ready(!ready) → suspend_vq: the RDY object moves to SUSPEND and the VQ
    stops processing; get_vq_ready returns the software flag (false)."""
    b = Bench(Parent.MLX5)
    run(b.v.set_vring_enable(1, False))
    assert b.state(1) is VqObjectState.SUSPEND
    assert run(b.dev.get_vq_ready(1)) is False
    b.send(0, FRAMES[:1])
    b.dev.process()
    assert b.tx_data() == []
    assert b.used_idx_mem(1) == 0


def test_vq_object_state_lifecycle() -> None:
    """mlx5_ifc_vdpa.h object states via mlx5_vnet.c: INIT before DRIVER_OK, RDY after
    (setup_vq/modify INIT→RDY), SUSPEND after suspend_vqs, RDY after resume_vqs
    (SUSPEND→RDY on resumable FW), §3.3."""
    b = Bench(Parent.MLX5, start=False)
    assert b.state(1) is VqObjectState.INIT
    run(start_device(b.v, b.vqs, features=b.features))
    assert b.state(1) is VqObjectState.RDY
    run(b.v.suspend())
    assert b.state(1) is VqObjectState.SUSPEND
    run(b.v.resume())
    assert b.state(1) is VqObjectState.RDY
    b.send(0, FRAMES[:1])
    b.dev.process()
    assert b.tx_data() == FRAMES[:1]


def test_vq_object_err_is_terminal_until_reset() -> None:
    """mlx5_vnet.c is_valid_state_change: nothing leaves ERR; a ring error puts the object in
    ERR (§3.3) and only reset recreates a blank INIT object. Suspend, resume and re-enable
    leave it in ERR and it processes nothing."""
    b = Bench(Parent.MLX5)
    b.vqs[1].post_raw_head(16)         # head >= num: a ring error
    b.vqs[1].publish()
    run(b.v.kick(1))
    b.dev.process()
    assert b.state(1) is VqObjectState.ERR
    run(b.v.suspend())
    assert b.state(1) is VqObjectState.ERR
    run(b.v.resume())
    assert b.state(1) is VqObjectState.ERR
    run(b.v.set_vring_enable(1, False))
    run(b.v.set_vring_enable(1, True))
    assert b.state(1) is VqObjectState.ERR
    run(b.v.kick(1))
    assert b.dev.process() == 0
    run(b.v.set_status(0))
    assert b.state(1) is VqObjectState.INIT


# ============================================================================================
# features
# ============================================================================================
@pytest.mark.parametrize("parent,err", [(Parent.MLX5, errno.EOPNOTSUPP), (Parent.SIM, errno.EINVAL)])
def test_set_driver_features_needs_access_platform(parent: Parent, err: int) -> None:
    """mlx5_vdpa_set_driver_features: -EOPNOTSUPP without VIRTIO_F_ACCESS_PLATFORM;
    vdpasim_set_driver_features: -EINVAL. vhost_vdpa_set_features turns either into -EINVAL."""
    b = Bench(parent, start=False)
    feats = b.features & ~bit(F_ACCESS_PLATFORM)
    expect_errno(err, b.dev.set_driver_features(feats))
    expect_errno(errno.EINVAL, b.v.set_features(feats))
    assert run(b.dev.get_driver_features()) == 0


def test_mlx5_mq_without_ctrl_vq_refused() -> None:
    """mlx5_vdpa_set_driver_features → verify_driver_features: MQ without CTRL_VQ is -EINVAL."""
    b = Bench(Parent.MLX5, start=False)
    expect_errno(errno.EINVAL, b.dev.set_driver_features(b.features & ~bit(F_CTRL_VQ)))


def test_set_features_busy_after_features_ok() -> None:
    """vhost_vdpa_set_features: -EBUSY once FEATURES_OK is set (§6 item 22)."""
    b = Bench(Parent.MLX5)
    expect_errno(errno.EBUSY, b.v.set_features(b.features))


# ============================================================================================
# groups and ASIDs
# ============================================================================================
@pytest.mark.parametrize("mq", [False, True])
def test_mlx5_groups_depend_on_negotiated_mq(mq: bool) -> None:
    """mlx5_vdpa_get_vq_group / get_vq_desc_group: data VQs → group 0 / desc group 2
    (DATAVQ_GROUP, DATAVQ_DESC_GROUP), CVQ → 1 / 1; the CVQ is vq 2 without MQ and
    2 * max_qps with MQ (ctrl_vq_idx, §6 item 17)."""
    b = Bench(Parent.MLX5, drop=0 if mq else bit(F_MQ), start=False)
    run(b.v.set_status(S_ACK | S_DRIVER))
    run(b.v.set_features(b.features))
    run(b.v.set_status(S_ACK | S_DRIVER | S_FEATURES_OK))
    cvq = 8 if mq else 2               # max_qps = 4 by default
    for idx in range(b.dev.nvqs):
        want = (1, 1) if idx == cvq else (0, 2)
        got = (run(b.v.get_vring_group(idx)), run(b.v.get_vring_desc_group(idx)))
        assert got == want, f"vq {idx}"


def test_sim_groups_and_no_desc_group() -> None:
    """vdpasim_net get_vq_group: CVQ (vq 2) → 1, rx/tx → 0; vdpa_sim has no get_vq_desc_group,
    so the op is -EOPNOTSUPP and vhost-vdpa does not offer DESC_ASID (§4)."""
    b = Bench(Parent.SIM)
    assert [run(b.v.get_vring_group(i)) for i in range(3)] == [0, 0, 1]
    expect_errno(errno.EOPNOTSUPP, b.dev.get_vq_desc_group(0))
    expect_errno(errno.EOPNOTSUPP, b.v.get_vring_desc_group(0))
    assert not b.dev.has_op("get_vq_desc_group")


def test_sim_set_group_asid_takes_effect_immediately() -> None:
    """vdpasim_set_group_asid: points every VQ of the group at iommu[asid] at once, even while
    running; no mapping changes (§1 table). The next TX buffer read uses ASID 1."""
    b = Bench(Parent.SIM, mapped=True)
    run(b.v.map(1, [IotlbRange(0, MAPPED, 0, ACCESS_RW)]))
    before = {a: list(b.dev.spaces[a].ranges()) for a in range(2)}
    b.send(0, FRAMES[:1])
    b.dev.process()
    mark = len(b.log)
    run(b.dev.set_group_asid(0, 1))
    b.send(0, FRAMES[1:2])
    b.dev.process()
    assert b.tx_data() == FRAMES[:2]
    bufs = [a for a in b.log.entries(mark) if a.kind is AccessKind.BUFFER]
    assert bufs and {a.asid for a in bufs} == {1}
    assert {a: list(b.dev.spaces[a].ranges()) for a in range(2)} == before


def test_mlx5_set_group_asid_changes_no_mapping() -> None:
    """mlx5_set_group_asid writes group2asid only: no MR is created or dropped (§1 table). ASID 1
    has no MR by default on mlx5, so data buffers bound to it fault; ASID 0 keeps its map."""
    b = Bench(Parent.MLX5, mapped=True, start=False)
    before = {a: list(b.dev.spaces[a].ranges()) for a in range(2)}
    run(b.v.set_group_asid(0, 1))
    assert {a: list(b.dev.spaces[a].ranges()) for a in range(2)} == before
    run(start_device(b.v, b.vqs, features=b.features))
    b.send(0, FRAMES[:1])
    b.dev.process()
    (fault,) = b.dev.take_faults()
    assert (fault.vq, fault.errno, fault.asid, fault.write) == (1, errno.EFAULT, 1, False)


def test_set_group_asid_bounds() -> None:
    """vhost_vdpa SET_GROUP_ASID: group >= nvqs -ENOBUFS (§6 item 2); group >= ngroups or
    asid >= nas -EINVAL (T2, §6 item 1); after DRIVER_OK without GROUP_ASID_AFTER_DRIVER_OK
    -EBUSY (2026 tree)."""
    b = Bench(Parent.MLX5, start=False)
    expect_errno(errno.ENOBUFS, b.v.set_group_asid(b.dev.nvqs, 0))
    expect_errno(errno.EINVAL, b.v.set_group_asid(3, 0))
    expect_errno(errno.EINVAL, b.v.set_group_asid(0, 2))
    expect_errno(errno.EINVAL, b.dev.set_group_asid(3, 0))
    run(start_device(b.v, b.vqs, features=b.features))
    expect_errno(errno.EBUSY, b.v.set_group_asid(0, 1))


# ============================================================================================
# reset, compat_reset, reset_map, set_map
# ============================================================================================
@pytest.mark.parametrize("parent", PARENTS)
def test_reset_clears_device_state_and_keeps_maps(parent: Parent) -> None:
    """vdpasim_do_reset / mlx5_vdpa_compat_reset without CLEAN_MAP (IOTLB_PERSIST acked):
    status 0, features 0, every group back to ASID 0, indices 0, generation + 1, mappings
    kept (§3.5, §6 item 13)."""
    b = Bench(parent, mapped=True)
    run(b.dev.set_group_asid(0, 1))
    b.send(0, FRAMES[:3])
    b.dev.process()
    run(b.v.suspend())
    gen = run(b.dev.get_generation())
    maps = {a: list(b.dev.spaces[a].ranges()) for a in range(2)}
    run(b.v.set_status(0))
    assert run(b.v.get_status()) == 0
    assert run(b.dev.get_driver_features()) == 0
    assert run(b.dev.get_generation()) == gen + 1
    assert all(run(b.dev.get_vq_state(i)).avail_index == 0 for i in range(b.dev.nvqs))
    assert all(not run(b.dev.get_vq_ready(i)) for i in range(b.dev.nvqs))
    assert b.dev.group2asid == [0] * b.dev.ngroups
    assert {a: list(b.dev.spaces[a].ranges()) for a in range(2)} == maps
    with pytest.raises(TranslationFault):
        b.dev.spaces[0].translate(UNMAPPED, 1, False)


@pytest.mark.parametrize("parent,asid1_identity", [(Parent.MLX5, False), (Parent.SIM, True)])
def test_compat_reset_clean_map_restores_defaults(parent: Parent, asid1_identity: bool) -> None:
    """compat_reset(VDPA_RESET_F_CLEAN_MAP): sim puts every AS back to identity; mlx5 destroys
    all MRs and recreates only the ASID 0 DMA MR, so ASID 1 has no mapping (§3.5). vhost-vdpa
    passes CLEAN_MAP when IOTLB_PERSIST is not acked (_compat_vdpa_reset)."""
    b = Bench(parent, start=False)
    run(b.v.release())
    v = VhostVdpa(b.dev)
    run(open_device(v, persist=False))
    run(v.map(0, [IotlbRange(0, MAPPED, 0, ACCESS_RW)]))
    run(v.map(1, [IotlbRange(0, MAPPED, 0, ACCESS_RW)]))
    run(v.set_status(S_ACK))
    run(v.set_status(0))                # → compat_reset(CLEAN_MAP)
    assert b.dev.spaces[0].translate(UNMAPPED, 8, True) == [(UNMAPPED, 8)]
    if asid1_identity:
        assert b.dev.spaces[1].translate(UNMAPPED, 8, True) == [(UNMAPPED, 8)]
    else:
        for addr in (0, UNMAPPED):
            with pytest.raises(TranslationFault):
                b.dev.spaces[1].translate(addr, 8, False)


@pytest.mark.parametrize("parent,num_after", [(Parent.MLX5, MLX5_DEFAULT_VQ_SIZE), (Parent.SIM, 64)])
def test_reset_vq_num(parent: Parent, num_after: int) -> None:
    """vdpa_sim reset does not restore vq->num (§6 item 23); mlx5 recreates blank VQs of
    MLX5V_DEFAULT_VQ_SIZE = 256 entries."""
    b = Bench(parent, start=False)
    run(b.v.set_vring_num(0, 64))
    assert run(b.dev.get_vq_size(0)) == 64
    run(b.v.set_status(0))
    assert run(b.dev.get_vq_size(0)) == num_after


@pytest.mark.parametrize("parent", PARENTS)
def test_reset_map(parent: Parent) -> None:
    """vdpasim_reset_map / mlx5_vdpa_reset_map: asid >= nas is -EINVAL; otherwise the ASID
    returns to its default, identity for ASID 0 in both parents (§1 table, §3.5)."""
    b = Bench(parent, mapped=True, start=False)
    expect_errno(errno.EINVAL, b.dev.reset_map(2))
    with pytest.raises(TranslationFault):
        b.dev.spaces[0].translate(UNMAPPED, 1, False)
    run(b.dev.reset_map(0))
    assert b.dev.spaces[0].translate(UNMAPPED, 4, True) == [(UNMAPPED, 4)]


@pytest.mark.parametrize("parent", PARENTS)
def test_set_map_bad_asid(parent: Parent) -> None:
    """vdpasim_set_map / mlx5 set_map: asid >= nas (2) is -EINVAL."""
    b = Bench(parent, start=False)
    expect_errno(errno.EINVAL, b.dev.set_map(2, [IotlbRange(0, MiB, 0, ACCESS_RW)]))


@pytest.mark.parametrize("parent", PARENTS)
def test_set_map_bad_range_leaves_table_empty(parent: Parent) -> None:
    """vdpasim_set_map: the table is cleared (and the passthrough flag dropped) before the
    ranges are copied; on an error it stays empty: neither the old nor the new ranges
    translate."""
    b = Bench(parent, start=False)
    run(b.dev.set_map(0, [IotlbRange(0, MiB, 0, ACCESS_RW)]))
    bad = [IotlbRange(2 * MiB, MiB, 2 * MiB, ACCESS_RW), IotlbRange(2 * MiB + 4096, MiB, 0, ACCESS_RW)]
    with pytest.raises(VdpaError):
        run(b.dev.set_map(0, bad))
    for addr in (0, 2 * MiB, UNMAPPED):
        with pytest.raises(TranslationFault):
            b.dev.spaces[0].translate(addr, 1, False)


def test_set_map_permissions() -> None:
    """vhost_iotlb perm: a read-only (VHOST_ACCESS_RO) range cannot be written by the device."""
    b = Bench(Parent.MLX5, start=False)
    run(b.dev.set_map(0, [IotlbRange(0, MiB, 0, ACCESS_RO)]))
    assert b.dev.spaces[0].translate(16, 4, False) == [(16, 4)]
    with pytest.raises(TranslationFault):
        b.dev.spaces[0].translate(16, 4, True)


# ============================================================================================
# config space
# ============================================================================================
# virtio 1.2 §5.1.4 struct virtio_net_config: u8 mac[6] @0; le16 status @6;
# le16 max_virtqueue_pairs @8; le16 mtu @10.
NET_CONFIG = struct.Struct("<6sHHH")


@pytest.mark.parametrize("parent", PARENTS)
def test_config_space_layout(parent: Parent) -> None:
    """virtio 1.2 §5.1.4: mac, status (VIRTIO_NET_S_LINK_UP = 1), max_virtqueue_pairs, mtu at
    their offsets; a partial read returns the same bytes (vdpasim_get_config memcpy)."""
    mac = b"\x02\x11\x22\x33\x44\x55"
    b = Bench(parent, start=False, mac=mac, mtu=9000, queue_pairs=3)
    size = run(b.dev.get_config_size())
    assert size >= NET_CONFIG.size
    raw = run(b.dev.get_config(0, NET_CONFIG.size))
    assert NET_CONFIG.unpack(raw) == (mac, 1, 3, 9000)
    assert run(b.dev.get_config(6, 2)) == (1).to_bytes(2, "little")
    assert run(b.dev.get_config(8, 4)) == (3).to_bytes(2, "little") + (9000).to_bytes(2, "little")


# ============================================================================================
# suspend / resume
# ============================================================================================
@pytest.mark.parametrize("parent", PARENTS)
def test_nothing_processed_after_suspend(parent: Parent) -> None:
    """vhost.h VHOST_VDPA_SUSPEND: once it returns no descriptor is processed: no used-ring
    write, no DMA at all, no frame out, even for kicks after suspend (§3.4)."""
    b = Bench(parent)
    b.send(0, FRAMES[:2])
    run(b.v.suspend())
    mark = len(b.log)
    b.send(0, FRAMES[2:4])
    snap = b.mem.snapshot()
    b.dev.process()
    assert len(b.log) == mark
    assert b.mem.snapshot() == snap
    assert b.tx_data() == []


@pytest.mark.parametrize("parent", PARENTS)
def test_kick_latched_while_suspended_replayed_on_resume(parent: Parent) -> None:
    """vdpasim_kick_vq latches pending_kick while suspended; vdpasim_resume kicks every VQ
    (§6 item 23). The frames kicked during suspend go out after resume without a new kick."""
    b = Bench(parent)
    run(b.v.suspend())
    b.send(0, FRAMES[:3])
    run(b.v.resume())
    b.dev.process()
    assert b.tx_data() == FRAMES[:3]
    assert b.used_idx_mem(1) == 3


def test_kick_dropped_while_suspended_without_latch() -> None:
    """mlx5_vdpa_kick_vq has no latch: with latch_kicks_while_suspended=False a kick during
    suspend is lost; resume alone sends nothing, the next kick does."""
    b = Bench(Parent.MLX5, latch_kicks_while_suspended=False, kick_on_start=False)
    run(b.v.suspend())
    b.send(0, FRAMES[:2])
    run(b.v.resume())
    b.dev.process()
    assert b.tx_data() == []
    run(b.v.kick(1))
    b.dev.process()
    assert b.tx_data() == FRAMES[:2]


def test_entering_rdy_looks_at_the_ring_without_a_kick() -> None:
    """kick_on_start (mlx5 default; hardware VQ objects re-read the ring on MODIFY to RDY):
    buffers made available while the VQ was stopped are served after resume even though the
    doorbell rang while nothing listened. vdpa_sim (kick_on_start=False) needs a kick."""
    b = Bench(Parent.MLX5, latch_kicks_while_suspended=False)
    run(b.v.suspend())
    b.send(0, FRAMES[:2])
    run(b.v.resume())
    b.dev.process()
    assert b.tx_data() == FRAMES[:2]
    sim = Bench(Parent.SIM, latch_kicks_while_suspended=False)
    run(sim.v.suspend())
    sim.send(0, FRAMES[:2])
    run(sim.v.resume())
    sim.dev.process()
    assert sim.tx_data() == []


@pytest.mark.parametrize("parent", PARENTS)
def test_resume_continues_where_suspend_stopped(parent: Parent) -> None:
    """vhost.h VHOST_VDPA_RESUME: "fully operational, exactly as before suspend": the frames
    left at suspend go out once, in order, used.idx counts each chain once, and the guest
    reaps every head it posted."""
    b = Bench(parent)
    b.send(0, FRAMES[:6])
    b.dev.process(budget=2)
    run(b.v.suspend())
    b.dev.process()
    assert b.used_idx_mem(1) == 2
    run(b.v.resume())
    b.dev.process()
    assert b.tx_data() == FRAMES[:6]
    assert b.used_idx_mem(1) == 6
    done = b.driver.reap_tx(0)
    assert [c.token for c in done] == FRAMES[:6]


@pytest.mark.parametrize("parent", PARENTS)
def test_suspend_resume_before_driver_ok_is_noop(parent: Parent) -> None:
    """vhost_vdpa_suspend/resume return 0 without calling the parent when DRIVER_OK is clear;
    `suspended` stays false (§6 item 4)."""
    b = Bench(parent, start=False)
    run(b.v.suspend())
    assert b.v.suspended is False
    assert b.dev.suspended is False
    run(b.v.resume())
    assert b.v.suspended is False


def test_sim_mq_without_ctrl_vq_accepted() -> None:
    """vdpasim_set_driver_features checks only VIRTIO_F_ACCESS_PLATFORM and stores
    features & supported; the MQ-needs-CTRL_VQ refusal is mlx5's verify_driver_features."""
    b = Bench(Parent.SIM, start=False)
    run(b.dev.set_driver_features(b.features & ~bit(F_CTRL_VQ)))
    assert not run(b.dev.get_driver_features()) & bit(F_CTRL_VQ)


def test_sim_cvq_group_independent_of_features() -> None:
    """vdpasim_get_vq_group: `if (idx == 2) return 1;` with no feature check, so the CVQ group
    answer is the same before features are negotiated (unlike mlx5, §6 item 17)."""
    b = Bench(Parent.SIM, start=False)
    assert [run(b.dev.get_vq_group(i)) for i in range(3)] == [0, 0, 1]


@pytest.mark.parametrize("parent", PARENTS)
def test_disable_then_enable_continues(parent: Parent) -> None:
    """mlx5_vdpa_set_vq_ready: !ready → suspend_vq, ready with DRIVER_OK → resume_vq from the
    cached indices; vdpasim_queue_ready rebuilds the vring keeping last_avail (used := avail).
    Either way, with nothing in flight, the queue continues at the same index."""
    b = Bench(parent)
    b.send(0, FRAMES[:2])
    b.dev.process()
    run(b.v.set_vring_enable(1, False))
    b.send(0, FRAMES[2:4])
    b.dev.process()
    assert b.used_idx_mem(1) == 2
    run(b.v.set_vring_enable(1, True))
    run(b.v.kick(1))
    b.dev.process()
    assert b.tx_data() == FRAMES[:4]
    assert b.used_idx_mem(1) == 4
    assert b.state(1) is VqObjectState.RDY
