# SPDX-License-Identifier: MIT
"""Random sequences of vhost-vdpa operations and traffic on the reference device.

The device is wired as conformance.py wires it: ``VhostVdpa(ContractShadow(ReferenceDevice))``.
A Hypothesis state machine interleaves IOTLB messages (batched and not), group→ASID bindings,
bring-up with random valid feature sets, TX/RX traffic, ``process()`` with small budgets,
suspend, resume, GET_VRING_BASE and resets with and without IOTLB_PERSIST, and checks after
every step (references are to /work/shared/reference/vdpa-semantics.md):

* isolation: every DMA since the previous step lies inside a mapping of the right ASID and
  permission, judged by the ContractShadow, which keeps its own tables (§4, §5 step 2);
* the device's address spaces and group bindings equal what the kernel rules give for the
  messages this test sent (§2 message rules, §3.5, §4; the expectation below is built from those
  rules alone, not from the device or the shadow);
* nothing is processed before DRIVER_OK or while suspended (§3.1 "must not consume buffers
  before DRIVER_OK"; §3.4 "no more processing");
* every frame posted on a queue is transmitted or received exactly once, including across
  suspend/resume (§3.4 "Resume ... exactly where suspend stopped"), and after a final resume and
  settle every posted buffer has completed.

Expected values never come from the implementation under test.
"""

from __future__ import annotations

import errno
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from vdpa_model.device import ReferenceDevice
from vdpa_model.dma import AccessKind, AccessLog
from vdpa_model.errors import VdpaError
from vdpa_model.guest import GuestNetDriver
from vdpa_model.iotlb import AddressSpace
from vdpa_model.memory import Allocator, GiB, GuestMemory, KiB, MiB
from vdpa_model.ops import IotlbRange
from vdpa_model.options import DeviceOptions, Parent
from vdpa_model.shadow import ContractShadow
from vdpa_model.sync import run
from vdpa_model.vhost import VhostVdpa

# --- constants restated from the kernel headers (vhost_types.h, virtio_config.h, virtio_net.h,
# virtio_ring.h); deliberately not imported from the model under test --------------------------
S_ACK, S_DRIVER, S_DRIVER_OK, S_FEATURES_OK = 0x1, 0x2, 0x4, 0x8
IOTLB_UPDATE, IOTLB_INVALIDATE, IOTLB_BATCH_BEGIN, IOTLB_BATCH_END = 2, 3, 5, 6
ACCESS_RO, ACCESS_WO, ACCESS_RW = 1, 2, 3
MSG_V2 = 2
BF_IOTLB_MSG_V2, BF_BATCH, BF_ASID, BF_SUSPEND, BF_RESUME = 1, 2, 3, 4, 5
BF_DESC_ASID, BF_PERSIST, BF_GROUP_ASID_AFTER_DRIVER_OK = 7, 8, 9
F_MTU, F_MAC, F_MRG_RXBUF, F_STATUS, F_CTRL_VQ, F_MQ = 3, 5, 15, 16, 17, 22
F_INDIRECT, F_EVENT_IDX, F_VERSION_1, F_ACCESS_PLATFORM = 28, 29, 32, 33
DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT = 1, 2, 4
U64_SPAN = 1 << 64

#: mlx5_vnet.c groups: data buffers 0, CVQ 1, data rings 2 (vdpa-semantics.md §4).
MLX5_DESC_GROUP = 2

QUEUE_SIZE = 16
RX_BUF = 2048
#: Guest RAM the driver uses; every driver window and ring lies inside it.
CORE = (0, 1 * GiB)
#: Extra regions mapped and unmapped at random (never touched by the data path).
EXTRAS = [(2 * GiB + i * 256 * MiB, (i + 1) * 16 * MiB) for i in range(3)]
#: Driver windows: rings first (one page), then buffers. Reused in rotation after resets.
WINDOWS = [64 * MiB + k * 32 * MiB for k in range(4)]
PAGE = 4 * KiB


def bit(n: int) -> int:
    return 1 << n


def _msg(asid: int, kind: int, iova: int = 0, size: int = 0, uaddr: int = 0, perm: int = 0) -> bytes:
    """struct vhost_msg_v2 (72 bytes): u32 type, u32 asid, then struct vhost_iotlb_msg
    {u64 iova, size, uaddr; u8 perm, type} and padding (vhost_types.h)."""
    return (MSG_V2.to_bytes(4, "little") + asid.to_bytes(4, "little") + iova.to_bytes(8, "little")
            + size.to_bytes(8, "little") + uaddr.to_bytes(8, "little") + bytes([perm, kind])
            + bytes(38))


def _view(space: AddressSpace) -> tuple[bool, list[tuple[int, int, int, int]]]:
    """(identity?, table as sorted tuples) of an AddressSpace (device's or shadow's)."""
    ident = space.passthrough
    table = [] if ident else space.ranges()
    return ident, sorted((r.iova, r.size, r.pa, r.perm) for r in table)


def _want(identity: bool, tab: dict[tuple[int, int], int]) -> tuple[bool, list[tuple[int, int, int, int]]]:
    return identity, [] if identity else sorted((r[0], r[1], r[0], p) for r, p in tab.items())


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


class VdpaMachine(RuleBasedStateMachine):
    """One vhost-vdpa fd on one reference device; subclasses choose the parent."""

    PARENT = Parent.MLX5

    def __init__(self) -> None:
        super().__init__()
        self.opts = DeviceOptions.for_parent(self.PARENT, queue_pairs=1)
        self.mem = GuestMemory(size=4 * GiB)
        self.log = AccessLog()
        self.dev = ReferenceDevice(self.mem, self.opts, self.log)
        self.shadow = ContractShadow(self.dev, self.opts.identity_asids)
        self.v = VhostVdpa(self.shadow)
        self.bookmark = 0
        self.ring_group = MLX5_DESC_GROUP if self.opts.desc_group else 0
        # --- the expectation, from the kernel rules only (vdpa-semantics.md §2, §3.5, §4) ---
        # vhost-vdpa's own per-AS table: survives every reset (§3.5 "kept").
        self.vhost_tab: dict[int, dict[tuple[int, int], int]] = {}
        # the parent's table per ASID, and whether it is still the identity default.
        self.identity = [a in self.opts.identity_asids for a in range(self.dev.nas)]
        self.parent_tab: list[dict[tuple[int, int], int]] = [{} for _ in range(self.dev.nas)]
        self.bind = [0] * self.dev.ngroups
        self.acked = 0
        self.status = 0
        self.suspended = False
        # --- traffic bookkeeping ---
        self.driver: GuestNetDriver | None = None
        self.window = 0
        self.features = 0
        self.serial = itertools.count()
        self.tx_out: dict[bytes, bool] = {}      # frame -> seen on the wire
        self.tx_done: set[bytes] = set()
        self.rx_wire: list[bytes] = []           # injected, not yet delivered, in order
        self.rx_posted = 0                       # receive buffers outstanding
        self.abandoned: set[bytes] = set()       # dropped by a reset: must never appear again

    # ------------------------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------------------------
    @property
    def driver_ok(self) -> bool:
        return bool(self.status & S_DRIVER_OK)

    @property
    def running(self) -> bool:
        return self.driver_ok and not self.suspended

    def ring_page(self) -> tuple[int, int]:
        return (WINDOWS[self.window], PAGE)

    def _covers(self, asid: int, want: tuple[int, int], tab: dict[tuple[int, int], int] | None = None,
                identity: bool | None = None) -> bool:
        ident = self.identity[asid] if identity is None else identity
        if ident:
            return True
        table = self.parent_tab[asid] if tab is None else tab
        return any(r[0] <= want[0] and want[0] + want[1] <= r[0] + r[1] and perm == ACCESS_RW
                   for r, perm in table.items())

    def _coverage_ok(self, bind: list[int] | None = None, override: tuple[int, dict[tuple[int, int], int]]
                     | None = None) -> bool:
        """The data path can work: the data group's ASID maps the guest RAM and the ring group's
        ASID maps at least the current ring page, RW at IOVA = GPA."""
        b = self.bind if bind is None else bind

        def cov(asid: int, want: tuple[int, int]) -> bool:
            if override is not None and override[0] == asid:
                return self._covers(asid, want, override[1], False)
            return self._covers(asid, want)

        return cov(b[0], CORE) and cov(b[self.ring_group], self.ring_page())

    def _set_map_expected(self, asid: int) -> None:
        """A set_map parent gets the whole vhost table of ``asid`` (vhost_vdpa_map/unmap,
        BATCH_END); the first one drops the identity default (§6 item 12, §3.5)."""
        self.parent_tab[asid] = dict(self.vhost_tab[asid])
        self.identity[asid] = False

    def _iotlb(self, asid: int, kind: int, rng: tuple[int, int] = (0, 0), perm: int = 0,
               wire: bool = False) -> None:
        if wire:
            run(self.v.write_iotlb(_msg(asid, kind, rng[0], rng[1], rng[0], perm)))
        else:
            run(self.v.process_iotlb_msg(asid, kind, rng[0], rng[1], rng[0], perm))

    def _collect_tx(self) -> None:
        for p in self.dev.take_tx():
            assert p.vq == 1, f"frame left from vq {p.vq}, not transmitq 1"
            assert p.data not in self.abandoned, "a frame abandoned by reset was transmitted"
            assert p.data in self.tx_out, "transmitted a frame that was never posted"
            assert not self.tx_out[p.data], "frame transmitted twice"
            self.tx_out[p.data] = True

    def _reap(self) -> None:
        drv = self.driver
        if drv is None:
            return
        for c in drv.reap_tx(0):
            frame = c.token
            assert isinstance(frame, bytes)
            assert self.tx_out.get(frame), "TX buffer completed before its frame was transmitted"
            del self.tx_out[frame]
            assert frame not in self.tx_done, "TX buffer completed twice"
            self.tx_done.add(frame)
        got = drv.reap_rx(0)
        self.rx_posted -= len(got)
        for frame in got:
            assert frame not in self.abandoned, "a frame dropped by reset was delivered"
            assert self.rx_wire and frame == self.rx_wire[0], "RX frame out of order, duplicated or unknown"
            self.rx_wire.pop(0)

    def _frame(self, size: int) -> bytes:
        tag = next(self.serial).to_bytes(8, "little")
        return (tag * (size // 8 + 1))[:max(size, 8)]

    # ------------------------------------------------------------------------------------
    # invariants, after every step
    # ------------------------------------------------------------------------------------
    @invariant()
    def no_dma_outside_mappings(self) -> None:
        """Every access since the last step used the ASID its group is bound to and lay inside
        one of that ASID's mappings with the right permission (§4 constraints; §5 step 2)."""
        bad = self.shadow.violations(self.log.entries(self.bookmark))
        self.bookmark = len(self.log)
        assert bad == []
        assert self.dev.take_faults() == []

    @invariant()
    def maps_match_kernel_rules(self) -> None:
        """Device and shadow tables equal what the IOTLB messages and resets imply: set_map
        replaces the table, reset keeps it with IOTLB_PERSIST, CLEAN_MAP restores the default
        (§2 message rules; §3.5; §6 items 12, 13)."""
        for asid in range(self.dev.nas):
            want = _want(self.identity[asid], self.parent_tab[asid])
            assert _view(self.dev.spaces[asid]) == want, f"device asid {asid}"
            assert _view(self.shadow.spaces[asid]) == want, f"shadow asid {asid}"

    @invariant()
    def bindings_match(self) -> None:
        """group→ASID as bound by SET_GROUP_ASID since the last reset (§4; reset → all 0)."""
        assert self.dev.group2asid == self.bind
        assert self.shadow.group2asid == self.bind

    # ------------------------------------------------------------------------------------
    # open and backend features
    # ------------------------------------------------------------------------------------
    @initialize(persist=st.booleans())
    def open_fd(self, persist: bool) -> None:
        """vhost_vdpa_open: reset with flags 0, then SET_BACKEND_FEATURES."""
        run(self.v.open())
        self._ack(persist, late_group_asid=False)

    def _ack(self, persist: bool, late_group_asid: bool) -> None:
        offered = run(self.v.get_backend_features())
        for b in (BF_IOTLB_MSG_V2, BF_BATCH, BF_ASID, BF_SUSPEND, BF_RESUME):
            assert offered & bit(b), f"backend feature {b} must be offered (§2)"
        want = offered & ~(bit(BF_PERSIST) | bit(BF_GROUP_ASID_AFTER_DRIVER_OK))
        if persist:
            assert offered & bit(BF_PERSIST), "parent with reset_map must offer IOTLB_PERSIST"
            want |= bit(BF_PERSIST)
        if late_group_asid and offered & bit(BF_GROUP_ASID_AFTER_DRIVER_OK):
            want |= bit(BF_GROUP_ASID_AFTER_DRIVER_OK)
        run(self.v.set_backend_features(want))
        self.acked = want

    @rule(persist=st.booleans(), late_group_asid=st.booleans())
    def set_backend_features(self, persist: bool, late_group_asid: bool) -> None:
        """VHOST_SET_BACKEND_FEATURES may be called at any time (§2)."""
        self._ack(persist, late_group_asid)

    # ------------------------------------------------------------------------------------
    # IOTLB
    # ------------------------------------------------------------------------------------
    def _catalogue(self, which: int, asid: int) -> tuple[tuple[int, int], int]:
        if which == 0:
            return CORE, ACCESS_RW
        if which == 1:
            return self.ring_page(), ACCESS_RW
        return EXTRAS[(which - 2) % len(EXTRAS)], (ACCESS_RO, ACCESS_WO, ACCESS_RW)[which % 3]

    @rule(asid=st.integers(0, 1), picks=st.lists(st.integers(0, 4), min_size=1, max_size=3, unique=True),
          batch=st.booleans(), wire=st.booleans())
    def map_regions(self, asid: int, picks: list[int], batch: bool, wire: bool) -> None:
        """VHOST_IOTLB_UPDATE, in a BATCH_BEGIN/END pair or not. Outside a batch each UPDATE
        reaches a set_map parent at once; in a batch only at BATCH_END (§6 items 9, 10)."""
        tab = self.vhost_tab.get(asid, {})
        entries: list[tuple[tuple[int, int], int]] = []
        for which in picks:
            rng, perm = self._catalogue(which, asid)
            if any(_overlaps(rng, r) for r in tab) or any(_overlaps(rng, r) for r, _ in entries):
                continue
            entries.append((rng, perm))
        if not entries:
            return
        new_tab = dict(tab)
        new_tab.update(entries)
        if self.driver_ok and not self._coverage_ok(override=(asid, new_tab)):
            return  # would unmap the running data path: not a sequence QEMU makes
        if batch:
            self._iotlb(asid, IOTLB_BATCH_BEGIN, wire=wire)
        self.vhost_tab.setdefault(asid, {})
        for rng, perm in entries:
            self._iotlb(asid, IOTLB_UPDATE, rng, perm, wire=wire)
            self.vhost_tab[asid][rng] = perm
            if not batch:
                self._set_map_expected(asid)
                assert self.parent_tab[asid] == self.vhost_tab[asid]
        if batch:
            assert _view(self.dev.spaces[asid]) == _want(self.identity[asid], self.parent_tab[asid]), \
                "a set_map parent must see nothing of a batch before BATCH_END (§6 item 10)"
            self._iotlb(asid, IOTLB_BATCH_END, wire=wire)
            self._set_map_expected(asid)

    @rule(asid=st.integers(0, 1), which=st.integers(0, 4), wire=st.booleans())
    def map_overlapping_refused(self, asid: int, which: int, wire: bool) -> None:
        """An UPDATE overlapping an existing entry is -EEXIST inside vhost-vdpa, -EFAULT from
        write(), and reaches no parent (§2 "UPDATE checks"; §6 item 8)."""
        rng, perm = self._catalogue(which, asid)
        tab = self.vhost_tab.get(asid, {})
        clash = [r for r in tab if _overlaps(rng, r)]
        if not clash:
            return
        # overlap by one byte at the end of an existing entry
        r = clash[0]
        probe = (r[0] + r[1] - 1, PAGE)
        with pytest.raises(VdpaError) as e:
            self._iotlb(asid, IOTLB_UPDATE, probe, perm, wire=wire)
        assert e.value.errno == (errno.EFAULT if wire else errno.EEXIST)

    @rule(asid=st.integers(0, 1), which=st.integers(0, 4), partial=st.booleans(), batch=st.booleans())
    def unmap_region(self, asid: int, which: int, partial: bool, batch: bool) -> None:
        """VHOST_IOTLB_INVALIDATE removes every overlapping entry whole, even for a partial
        range (§6 item 7), then set_map with what is left (or at BATCH_END)."""
        tab = self.vhost_tab.get(asid)
        if tab is None:
            with pytest.raises(VdpaError) as e:
                self._iotlb(asid, IOTLB_INVALIDATE, (0, PAGE))
            assert e.value.errno == errno.EINVAL  # §6 item 11: AS never allocated
            return
        rng, _ = self._catalogue(which, asid)
        hit = (rng[0] + rng[1] // 2, 1) if partial else rng
        new_tab = {r: p for r, p in tab.items() if not _overlaps(r, hit)}
        if self.driver_ok and not self._coverage_ok(override=(asid, new_tab)):
            return
        if batch:
            self._iotlb(asid, IOTLB_BATCH_BEGIN)
        self._iotlb(asid, IOTLB_INVALIDATE, hit)
        self.vhost_tab[asid] = new_tab
        if batch:
            self._iotlb(asid, IOTLB_BATCH_END)
        self._set_map_expected(asid)

    # ------------------------------------------------------------------------------------
    # groups
    # ------------------------------------------------------------------------------------
    @rule(group=st.integers(0, 2), asid=st.integers(0, 1))
    def set_group_asid(self, group: int, asid: int) -> None:
        """VHOST_VDPA_SET_GROUP_ASID: group >= ngroups -EINVAL (T2); after DRIVER_OK -EBUSY
        unless GROUP_ASID_AFTER_DRIVER_OK was acked (2026 tree); otherwise bound at once,
        mappings untouched (§1 set_group_asid; §4)."""
        if group >= self.dev.ngroups:
            with pytest.raises(VdpaError) as e:
                run(self.v.set_group_asid(group, asid))
            assert e.value.errno == errno.EINVAL
            return
        if self.driver_ok and not self.acked & bit(BF_GROUP_ASID_AFTER_DRIVER_OK):
            with pytest.raises(VdpaError) as e:
                run(self.v.set_group_asid(group, asid))
            assert e.value.errno == errno.EBUSY
            return
        new_bind = list(self.bind)
        new_bind[group] = asid
        if self.driver_ok and not self._coverage_ok(bind=new_bind):
            return
        run(self.v.set_group_asid(group, asid))
        self.bind = new_bind

    @precondition(lambda self: not self.driver_ok and self.opts.desc_group)
    @rule(wire=st.booleans())
    def rings_to_asid1(self, wire: bool) -> None:
        """QEMU's SVQ layout (T5): the ring page mapped in ASID 1, the descriptor group bound
        to ASID 1, buffers staying in ASID 0."""
        page = self.ring_page()
        tab = self.vhost_tab.setdefault(1, {})
        if page not in tab:
            if any(_overlaps(page, r) for r in tab):
                return
            self._iotlb(1, IOTLB_UPDATE, page, ACCESS_RW, wire=wire)
            tab[page] = ACCESS_RW
            self._set_map_expected(1)
        group = run(self.v.get_vring_desc_group(1))
        assert group == MLX5_DESC_GROUP  # mlx5_vdpa_get_vq_desc_group: data VQs → 2
        run(self.v.set_group_asid(group, 1))
        self.bind[group] = 1

    # ------------------------------------------------------------------------------------
    # bring-up
    # ------------------------------------------------------------------------------------
    def _ensure_coverage(self) -> None:
        """What QEMU's memory listener guarantees before a start: guest RAM mapped in the data
        group's ASID and the rings in the descriptor group's ASID (one batch per ASID; entries
        in the way are invalidated first)."""
        for asid, want in ((self.bind[0], CORE), (self.bind[self.ring_group], self.ring_page())):
            if self._covers(asid, want):
                continue
            tab = self.vhost_tab.setdefault(asid, {})
            self._iotlb(asid, IOTLB_BATCH_BEGIN)
            for r in [r for r in tab if _overlaps(r, want)]:
                self._iotlb(asid, IOTLB_INVALIDATE, r)
                del tab[r]
            self._iotlb(asid, IOTLB_UPDATE, want, ACCESS_RW)
            tab[want] = ACCESS_RW
            self._iotlb(asid, IOTLB_BATCH_END)
            self._set_map_expected(asid)
        assert self._coverage_ok()

    @precondition(lambda self: self.status == 0)
    @rule(data=st.data(), go=st.booleans())
    def negotiate(self, data: st.DataObject, go: bool) -> None:
        """virtio 1.2 §3.1.1 steps 1-7 with a random valid feature set: ACCESS_PLATFORM always
        (mlx5/sim refuse without it), MQ only with CTRL_VQ (mlx5_vdpa_set_driver_features).
        With ``go`` DRIVER_OK follows at once, as in vhost_vdpa_dev_start."""
        optional = [F_MTU, F_MAC, F_MRG_RXBUF, F_STATUS, F_CTRL_VQ, F_MQ, F_INDIRECT, F_EVENT_IDX,
                    F_VERSION_1]
        chosen = data.draw(st.sets(st.sampled_from(optional)), label="features")
        if F_MQ in chosen:
            chosen.add(F_CTRL_VQ)
        features = bit(F_ACCESS_PLATFORM)
        for b in chosen:
            features |= bit(b)
        assert features & ~run(self.v.get_features()) == 0
        run(self.v.set_status(S_ACK))
        run(self.v.set_status(S_ACK | S_DRIVER))
        run(self.v.set_features(features))
        run(self.v.set_status(S_ACK | S_DRIVER | S_FEATURES_OK))
        self.status = S_ACK | S_DRIVER | S_FEATURES_OK
        with pytest.raises(VdpaError) as e:
            run(self.v.set_features(features))
        assert e.value.errno == errno.EBUSY  # §6 item 22
        self.window = (self.window + 1) % len(WINDOWS)
        base = WINDOWS[self.window]
        alloc = Allocator(base, base + 32 * MiB)
        self.features = features
        self.driver = GuestNetDriver(self.mem, alloc, queue_pairs=1, queue_size=QUEUE_SIZE,
                                     features=features)
        alloc.alloc(PAGE, PAGE)  # buffers start past the ring page
        for vq in self.driver.vqs:
            assert vq.desc_gpa >= base and vq.used_gpa < base + PAGE
            run(self.v.set_vring_num(vq.index, vq.num))
            run(self.v.set_vring_addr(vq.index, vq.desc_area, vq.driver_area, vq.device_area))
            run(self.v.set_vring_base(vq.index, 0))
            run(self.v.set_vring_enable(vq.index, True))
        if go:
            self.set_driver_ok()

    @precondition(lambda self: self.status == S_ACK | S_DRIVER | S_FEATURES_OK)
    @rule()
    def set_driver_ok(self) -> None:
        """DRIVER_OK starts the ready VQs; QEMU then kicks every queue (vhost_vdpa_dev_start)."""
        self._ensure_coverage()
        run(self.v.set_status(self.status | S_DRIVER_OK))
        self.status |= S_DRIVER_OK
        for idx in (0, 1):
            run(self.v.kick(idx))
        if self.opts.desc_group:
            assert run(self.v.get_vring_group(1)) == 0 and run(self.v.get_vring_desc_group(1)) == 2

    # ------------------------------------------------------------------------------------
    # traffic
    # ------------------------------------------------------------------------------------
    @precondition(lambda self: self.driver is not None)
    @rule(sizes=st.lists(st.integers(1, 1514), min_size=1, max_size=4), split=st.booleans(),
          indirect=st.booleans())
    def send_tx(self, sizes: list[int], split: bool, indirect: bool) -> None:
        """Frames posted on transmitq 0 with the layouts Linux uses; kicked only after DRIVER_OK
        (virtio 1.2 §3.1.1: no notification before DRIVER_OK). Kicks while suspended latch."""
        drv = self.driver
        assert drv is not None
        indirect = indirect and bool(self.features & bit(F_INDIRECT))
        per = 1 if indirect else (2 if split else 1)
        for size in sizes:
            if drv.tx_vq(0).num_free < per:
                break
            frame = self._frame(size)
            drv.send(0, frame, kick=False, split_header=split, indirect=indirect)
            self.tx_out[frame] = False
        vq = drv.tx_vq(0)
        vq.publish()
        if self.driver_ok and vq.kick_needed():
            run(self.v.kick(1))

    @precondition(lambda self: self.driver is not None)
    @rule(count=st.integers(1, 4), split=st.booleans(), indirect=st.booleans())
    def post_rx(self, count: int, split: bool, indirect: bool) -> None:
        """Receive buffers (add_recvbuf_small/big), big enough for any frame."""
        drv = self.driver
        assert drv is not None
        indirect = indirect and bool(self.features & bit(F_INDIRECT))
        per = 1 if indirect else (2 if split else 1)
        count = min(count, drv.rx_vq(0).num_free // per)
        if not count:
            return
        drv.post_rx(0, count, RX_BUF, split_header=split, indirect=indirect, kick=False)
        self.rx_posted += count
        vq = drv.rx_vq(0)
        if self.driver_ok and vq.kick_needed():
            run(self.v.kick(0))

    @rule(sizes=st.lists(st.integers(1, 1514), min_size=1, max_size=4))
    def inject_rx(self, sizes: list[int]) -> None:
        """Frames arriving from the wire for receiveq 0; while DRIVER_OK is clear there is no
        driver to deliver to: dropped, never to appear."""
        for size in sizes:
            frame = self._frame(size)
            run(self.dev.inject_rx(0, frame))
            if self.driver_ok:
                self.rx_wire.append(frame)
            else:
                self.abandoned.add(frame)

    @rule(budget=st.integers(1, 5))
    def process(self, budget: int) -> None:
        """The engine runs; before DRIVER_OK or while suspended it must do nothing at all:
        no DMA, no used.idx change (§3.1 device rules; §3.4 "no more processing")."""
        used = [vq.used_idx for vq in self.driver.vqs] if self.driver else []
        mark = len(self.log)
        n = self.dev.process(budget=budget)
        assert n <= budget
        if not self.running:
            assert n == 0
            assert len(self.log) == mark, "DMA before DRIVER_OK or while suspended"
            assert [vq.used_idx for vq in self.driver.vqs] == used if self.driver else not used
            assert self.dev.take_tx() == []
        self._collect_tx()

    @rule()
    def reap(self) -> None:
        """Reap both queues; the guest driver rejects bad used entries (virtio_ring.c BAD_RING)."""
        self._collect_tx()
        self._reap()

    # ------------------------------------------------------------------------------------
    # suspend / resume / state
    # ------------------------------------------------------------------------------------
    @rule()
    def suspend(self) -> None:
        """VHOST_VDPA_SUSPEND: 0 and nothing done before DRIVER_OK (§6 item 4)."""
        run(self.v.suspend())
        if self.driver_ok:
            self.suspended = True
            self._check_bases()
        else:
            assert not self.v.suspended and not self.shadow.suspended

    def _check_bases(self) -> None:
        """After suspend, GET_VRING_BASE == used.idx as the device last wrote it (§3.4 model
        rule; QEMU vhost_vdpa_get_vring_base trusts it only after suspend)."""
        assert self.driver is not None
        for vq in self.driver.vqs:
            assert run(self.v.get_vring_base(vq.index)) == vq.used_idx

    @precondition(lambda self: self.suspended)
    @rule(rebase=st.booleans())
    def get_vring_base(self, rebase: bool) -> None:
        """GET_VRING_BASE while suspended, optionally written back with SET_VRING_BASE, which
        vhost-vdpa accepts in DRIVER_OK only while suspended (§6 item 3)."""
        self._check_bases()
        if rebase:
            assert self.driver is not None
            for vq in self.driver.vqs:
                run(self.v.set_vring_base(vq.index, run(self.v.get_vring_base(vq.index))))

    @rule()
    def resume(self) -> None:
        """VHOST_VDPA_RESUME: same DRIVER_OK shortcut; then processing restarts where it stopped."""
        run(self.v.resume())
        if self.driver_ok:
            self.suspended = False

    # ------------------------------------------------------------------------------------
    # reset
    # ------------------------------------------------------------------------------------
    @rule()
    def reset(self) -> None:
        """SET_STATUS(0): vdpa_reset with CLEAN_MAP unless IOTLB_PERSIST is acked. Maps survive
        exactly with PERSIST; otherwise every ASID returns to its default (ASID 0 identity).
        Groups return to ASID 0 either way (§3.5; §6 items 13, 14)."""
        self._collect_tx()
        self._reap()
        run(self.v.set_status(0))
        self.status = 0
        self.suspended = False
        self.bind = [0] * self.dev.ngroups
        if not self.acked & bit(BF_PERSIST):
            for a in range(self.dev.nas):
                self.identity[a] = a in self.opts.identity_asids
                self.parent_tab[a] = {}
            assert self.identity[0]
        # everything outstanding is abandoned by the driver and must never come back
        self.abandoned.update(self.tx_out)
        self.abandoned.update(self.rx_wire)
        self.tx_out.clear()
        self.rx_wire.clear()
        self.rx_posted = 0
        self.driver = None
        for idx in range(self.dev.nvqs):
            assert self.dev.group2asid[run(self.v.get_vring_group(idx))] == 0
            for kind in AccessKind:
                assert self.dev.asid_of(idx, kind) == 0
        assert run(self.v.get_status()) == 0

    # ------------------------------------------------------------------------------------
    # drain: everything posted on a healthy queue completes exactly once
    # ------------------------------------------------------------------------------------
    def _drain(self) -> None:
        if not self.driver_ok or self.driver is None:
            return
        run(self.v.resume())
        self.suspended = False
        drv = self.driver
        # a ring of QUEUE_SIZE takes that many frames per round; stop when a round moves nothing
        last = None
        while last != (len(self.tx_out), len(self.rx_wire)):
            last = (len(self.tx_out), len(self.rx_wire))
            # enough receive buffers for every frame still on the wire
            missing = len(self.rx_wire) - self.rx_posted
            while missing > 0 and drv.rx_vq(0).num_free:
                n = min(missing, drv.rx_vq(0).num_free)
                drv.post_rx(0, n, RX_BUF, kick=False)
                self.rx_posted += n
                missing -= n
            for idx in (0, 1):
                drv.vqs[idx].publish()
                run(self.v.kick(idx))
            self.dev.process()
            self._collect_tx()
            self._reap()
        assert self.tx_out == {}, f"{len(self.tx_out)} TX buffers never completed"
        assert self.rx_wire == [], f"{len(self.rx_wire)} RX frames never delivered"

    @precondition(lambda self: self.driver_ok)
    @rule()
    def drain(self) -> None:
        """Resume, kick and settle: every posted TX frame left exactly once, every injected
        frame arrived exactly once and in order (§3.4 resume 'exactly as before suspend')."""
        self._drain()

    def teardown(self) -> None:
        self._drain()


class Mlx5Machine(VdpaMachine):
    PARENT = Parent.MLX5


class SimMachine(VdpaMachine):
    PARENT = Parent.SIM


_machine_settings = settings(stateful_step_count=80, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

TestStatefulMlx5 = Mlx5Machine.TestCase
TestStatefulMlx5.settings = _machine_settings
TestStatefulSim = SimMachine.TestCase
TestStatefulSim.settings = _machine_settings


# ==========================================================================================
# Property tests: well-formed chains carry exactly the guest's bytes
# ==========================================================================================

HDR_LEN = 12  # struct virtio_net_hdr_v1 with VERSION_1 (virtio 1.2 §5.1.6)
GUARD = 64
POISON = 0xEE
GUARD_BYTE = 0xA5


class _Rig:
    """A started device with one queue pair: VERSION_1 | INDIRECT_DESC | ACCESS_PLATFORM,
    guest RAM mapped in ASID 0 (conformance.py wiring)."""

    def __init__(self) -> None:
        self.mem = GuestMemory(size=2 * GiB)
        self.log = AccessLog()
        opts = DeviceOptions.for_parent(Parent.MLX5, queue_pairs=1)
        self.dev = ReferenceDevice(self.mem, opts, self.log)
        self.shadow = ContractShadow(self.dev, opts.identity_asids)
        self.v = VhostVdpa(self.shadow)
        run(self.v.open())
        offered = run(self.v.get_backend_features())
        run(self.v.set_backend_features(offered & ~bit(BF_GROUP_ASID_AFTER_DRIVER_OK)))
        run(self.v.map(0, [IotlbRange(*CORE, CORE[0], ACCESS_RW)]))
        features = bit(F_VERSION_1) | bit(F_INDIRECT) | bit(F_ACCESS_PLATFORM)
        self.alloc = Allocator(16 * MiB, 512 * MiB)
        self.drv = GuestNetDriver(self.mem, self.alloc, queue_pairs=1, queue_size=QUEUE_SIZE,
                                  features=features)
        for s in (S_ACK, S_ACK | S_DRIVER):
            run(self.v.set_status(s))
        run(self.v.set_features(features))
        run(self.v.set_status(S_ACK | S_DRIVER | S_FEATURES_OK))
        for vq in self.drv.vqs:
            run(self.v.set_vring_num(vq.index, vq.num))
            run(self.v.set_vring_addr(vq.index, vq.desc_area, vq.driver_area, vq.device_area))
            run(self.v.set_vring_base(vq.index, 0))
            run(self.v.set_vring_enable(vq.index, True))
        run(self.v.set_status(S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK))

    def isolated(self) -> bool:
        return not self.shadow.violations(self.log.entries()) and not self.dev.take_faults()


def _cuts(data: st.DataObject, total: int, max_parts: int) -> list[int]:
    """Random segment sizes (each >= 1) summing to ``total``."""
    k = data.draw(st.integers(1, min(max_parts, total)), label="segments")
    points = sorted(data.draw(st.sets(st.integers(1, total - 1), min_size=k - 1, max_size=k - 1),
                              label="cuts")) if k > 1 else []
    edges = [0, *points, total]
    return [b - a for a, b in itertools.pairwise(edges)]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), frame=st.binary(min_size=1, max_size=1514), hdr=st.binary(min_size=12, max_size=12),
       indirect=st.booleans())
def test_tx_chain_transmits_exactly_the_guest_bytes(data: st.DataObject, frame: bytes, hdr: bytes,
                                                    indirect: bool) -> None:
    """A TX chain of any segmentation (direct or indirect, virtio 1.2 §2.7.5, §2.7.5.3) sends
    header + frame as the driver wrote them: the device reads the readable descriptors in
    chain order (vringh __vringh_iov), the first hdr_len bytes are the virtio-net header
    (§5.1.6), the used len of a device-read buffer is 0 (§2.7.8.2), and no DMA leaves the map."""
    rig = _Rig()
    payload = hdr + frame
    sizes = _cuts(data, len(payload), 8)
    segs, pos = [], 0
    for n in sizes:
        segs.append(payload[pos:pos + n])
        pos += n
    vq = rig.drv.tx_vq(0)
    vq.add_buffer(segs, (), indirect=indirect, token="tx")
    vq.publish()
    run(rig.v.kick(1))
    assert rig.dev.process() == 1
    out = rig.dev.take_tx()
    assert [(p.vq, p.header, p.data) for p in out] == [(1, hdr, frame)]
    done = vq.reap()
    assert [(c.token, c.len) for c in done] == [("tx", 0)]
    assert rig.isolated()


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(frame_len=st.integers(1, 3000), layout=st.lists(st.integers(1, 1024), min_size=1, max_size=6),
       indirect=st.booleans(), seed=st.integers(0, 255))
def test_rx_frame_delivered_exactly_or_dropped(frame_len: int, layout: list[int], indirect: bool,
                                               seed: int) -> None:
    """RX into writable segments of any layout: a frame that fits with its header is written
    exactly (header with num_buffers = 1 since MRG_RXBUF is off, virtio 1.2 §5.1.6.4), used len
    = header + frame (§2.7.8.2: bytes written), nothing else in the buffer or around it changes.
    A frame larger than the buffer is dropped without touching it (no partial write; the
    buffer stays available for the next frame)."""
    rig = _Rig()
    frame = bytes((seed + i) & 0xFF for i in range(frame_len))
    vq = rig.drv.rx_vq(0)
    spans = []
    for n in layout:
        base = rig.alloc.alloc(n + 2 * GUARD, 64)
        rig.mem.fill(base, GUARD, GUARD_BYTE)
        rig.mem.fill(base + GUARD, n, POISON)
        rig.mem.fill(base + GUARD + n, GUARD, GUARD_BYTE)
        spans.append((base + GUARD, n))
    vq.post_iova_chain([(a, n, True) for a, n in spans], indirect=indirect, token="rx")
    vq.publish()
    run(rig.v.kick(0))
    run(rig.dev.inject_rx(0, frame))
    rig.dev.process()
    total = sum(layout)
    fits = HDR_LEN + frame_len <= total
    done = vq.reap()
    if fits:
        expect = bytes(10) + (1).to_bytes(2, "little") + frame
        assert [(c.token, c.len) for c in done] == [("rx", len(expect))]
    else:
        assert done == []
        expect = b""
    written = b"".join(rig.mem.read(a, n) for a, n in spans)
    assert written[:len(expect)] == expect
    assert written[len(expect):] == bytes([POISON]) * (total - len(expect))
    for a, n in spans:
        assert rig.mem.read(a - GUARD, GUARD) == bytes([GUARD_BYTE]) * GUARD
        assert rig.mem.read(a + n, GUARD) == bytes([GUARD_BYTE]) * GUARD
    writes = [e for e in rig.log.entries() if e.write and e.kind is AccessKind.BUFFER]
    assert all(any(a <= w.pa and w.pa + w.length <= a + n for a, n in spans) for w in writes)
    assert rig.isolated()
    if not fits and total > HDR_LEN:
        # the buffer was kept: a frame that fits is delivered into it next
        small = frame[:max(1, total - HDR_LEN)]
        run(rig.dev.inject_rx(0, small))
        rig.dev.process()
        assert [(c.token, c.len) for c in vq.reap()] == [("rx", HDR_LEN + len(small))]
