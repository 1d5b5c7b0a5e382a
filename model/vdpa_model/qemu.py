# SPDX-License-Identifier: MIT
"""QEMU's side of one vhost-vdpa net device, step by step as migration-sequence.md §§1-4 says.

:class:`QemuVdpaNet` is what QEMU keeps for one ``-netdev vhost-vdpa`` (net/vhost-vdpa.c,
hw/virtio/vhost-vdpa.c, hw/virtio/vhost.c, hw/net/vhost_net.c) and the procedures it runs on
the device's fd, written once over :class:`~vdpa_model.vhost.VhostVdpa` and a
:class:`~vdpa_model.ops.DeviceHarness`, so the same code drives the reference device and an RTL
parent driver:

* one ``vhost_dev`` per queue pair plus one for the control VQ, walked QP0 .. QP(max-1), CVQ over
  the *maximum* queue-pair count (ground rule 1); device-wide actions happen on the first
  (suspend, features) or the last vhost_dev (listener, DRIVER_OK, reset);
* guest RAM reaches the device through the memory listener, one IOTLB message per RAM section,
  in one batch (:mod:`vdpa_model.ramlayout`); at guest-physical addresses while the data queues
  are passthrough, at IOVAs from the IOVA tree while they are shadowed;
* ring and control-buffer maps are single messages, or one batch per step with
  ``batch_ring_maps``;
* the control VQ is always shadowed (:class:`CvqShadow`): QEMU's own ring and two buffer pages,
  through which it forwards the guest's commands and replays the device state at every start
  (vhost_vdpa_net_cvq_load: MAC, MAC table and RX modes if CTRL_RX, MQ, VLANs);
* the data VQs run passthrough (the guest's rings at guest-physical addresses) or through
  :class:`~vdpa_model.svq.ShadowVirtqueue`.

Each step runs inside :meth:`QemuVdpaNet.step` with its step id (``"A14"``, ``"C4.2.6"``), which
labels every record of the trace with it; QEMU-side work with no ioctl behind it (notifiers,
doorbell pages, SVQ start and stop, control-command round trips) is recorded as ``host``
records. The flows that string the steps together are in :mod:`vdpa_model.migration`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .flows import FlowError
from .iovatree import IovaTree
from .memory import GuestMemory
from .ops import DeviceHarness
from .ramlayout import RamLayout, RamSection
from .spec import (
    VHOST_ACCESS_RO,
    VHOST_ACCESS_RW,
    VHOST_BACKEND_F_IOTLB_ASID,
    VHOST_IOTLB_BATCH_BEGIN,
    VHOST_IOTLB_BATCH_END,
    VHOST_IOTLB_INVALIDATE,
    VHOST_IOTLB_UPDATE,
    VIRTIO_CONFIG_S_ACKNOWLEDGE,
    VIRTIO_CONFIG_S_DRIVER,
    VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FEATURES_OK,
    VIRTIO_NET_CTRL_MAC,
    VIRTIO_NET_CTRL_MAC_ADDR_SET,
    VIRTIO_NET_CTRL_MAC_TABLE_SET,
    VIRTIO_NET_CTRL_MQ,
    VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
    VIRTIO_NET_CTRL_RX,
    VIRTIO_NET_CTRL_RX_ALLMULTI,
    VIRTIO_NET_CTRL_RX_PROMISC,
    VIRTIO_NET_CTRL_VLAN,
    VIRTIO_NET_CTRL_VLAN_ADD,
    VIRTIO_NET_CTRL_VLAN_DEL,
    VIRTIO_NET_F_CTRL_MAC_ADDR,
    VIRTIO_NET_F_CTRL_RX,
    VIRTIO_NET_F_CTRL_VLAN,
    VIRTIO_NET_F_CTRL_VQ,
    VIRTIO_NET_F_MQ,
    VIRTIO_NET_OK,
    VIRTIO_RING_F_EVENT_IDX,
    bit,
)
from .svq import PAGE, GuestRing, ShadowRing, ShadowVirtqueue
from .switches import Switches
from .trace import Layer, Trace
from .vhost import VhostVdpa

#: The control VQ's size in QEMU's virtio-net (hw/net/virtio-net.c: virtio_add_queue(vdev, 64,
#: virtio_net_handle_ctrl)); its shadow ring has the same size.
CVQ_SIZE = 64
#: ASID QEMU isolates the control VQ in (net/vhost-vdpa.c: VHOST_VDPA_NET_CVQ_ASID), and where
#: the shadow rings go with a descriptor-group ASID.
CVQ_ASID = 1
#: Offset of max_virtqueue_pairs in struct virtio_net_config.
MAX_QPS_OFFSET = 8


@dataclasses.dataclass
class NetState:
    """What virtio-net migrates about the device (hw/net/virtio-net.c vmstate) and replays into
    the next one: MAC, queue pairs in use, VLAN filter, RX modes, and per data VQ the index the
    next device restarts from (the VirtQueue's last_avail_idx)."""

    mac: bytes
    curr_queue_pairs: int = 1
    vlans: set[int] = dataclasses.field(default_factory=set)
    promisc: bool = True
    allmulti: bool = False
    last_avail: dict[int, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ControlCommand:
    """One virtio-net control command: class, command, body (virtio 1.2 §5.1.6.5)."""

    name: str
    cls: int
    cmd: int
    body: bytes

    def wire(self) -> bytes:
        return bytes([self.cls, self.cmd]) + self.body


def mac_set(mac: bytes) -> ControlCommand:
    return ControlCommand("MAC_ADDR_SET", VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac)


def mq_set(pairs: int) -> ControlCommand:
    return ControlCommand("MQ_VQ_PAIRS_SET", VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
                          pairs.to_bytes(2, "little"))


def vlan(vid: int, add: bool = True) -> ControlCommand:
    return ControlCommand("VLAN_ADD" if add else "VLAN_DEL", VIRTIO_NET_CTRL_VLAN,
                          VIRTIO_NET_CTRL_VLAN_ADD if add else VIRTIO_NET_CTRL_VLAN_DEL,
                          vid.to_bytes(2, "little"))


def rx_mode(which: int, on: bool) -> ControlCommand:
    name = "RX_PROMISC" if which == VIRTIO_NET_CTRL_RX_PROMISC else "RX_ALLMULTI"
    return ControlCommand(name, VIRTIO_NET_CTRL_RX, which, bytes([int(on)]))


def mac_table() -> ControlCommand:
    """An empty unicast and an empty multicast table (two le32 zero counts)."""
    return ControlCommand("MAC_TABLE_SET", VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET,
                          bytes(8))


class CvqShadow:
    """QEMU's shadow control VQ: a ring and two buffer pages, one for commands (read by the
    device) and one for the one-byte answers (written by it), mapped in the CVQ's ASID
    (net/vhost-vdpa.c: cvq_cmd_out_buffer, status; vhost_vdpa_net_cvq_start)."""

    def __init__(self, mem: GuestMemory, alloc: Callable[[int], int]) -> None:
        self.mem = mem
        self.out_pa = alloc(PAGE)
        self.in_pa = alloc(PAGE)
        self.out_iova = self.in_iova = 0
        self.ring: ShadowRing | None = None


class QemuVdpaNet:
    """QEMU's state and procedures for one vhost-vdpa net device (one fd).

    ``guest_rings`` are the guest's data rings (the guest driver chose them), ``host_alloc``
    gives QEMU-private memory (page-aligned, outside guest RAM) for shadow rings and control
    buffers, ``traced`` are the objects whose ``trace`` attribute records this device's work
    (vhost-vdpa, the op tracer, the parent model), and ``on_settle`` runs after every settle
    (the isolation check judges the DMA since the last one there).
    """

    def __init__(self, name: str, v: VhostVdpa, harness: DeviceHarness, mem: GuestMemory,
                 layout: RamLayout, switches: Switches, guest_rings: Sequence[GuestRing],
                 host_alloc: Callable[[int], int], *, trace: Trace | None = None,
                 traced: Sequence[Any] = (), on_settle: Callable[[], None] | None = None,
                 on_suspended: Callable[[], None] | None = None,
                 mac: bytes = b"\x52\x54\x00\x12\x34\x56") -> None:
        self.name = name
        self.v = v
        self.harness = harness
        self.mem = mem
        self.layout = layout
        self.sw = switches
        self.guest = list(guest_rings)
        self.host_alloc = host_alloc
        self.trace = trace
        self._traced = list(traced)
        self.on_settle = on_settle
        #: runs once a stop's suspend has returned: where a bench reads what the device sent
        #: while it was still running (an RTL harness parses frames with the features in force)
        self.on_suspended = on_suspended
        self.net = NetState(mac)
        self.features = 0
        self.max_qps = 0
        self.has_cvq = False
        self.cvq_isolated = False
        self.tree: IovaTree | None = None
        self.cvq = CvqShadow(mem, host_alloc)
        self.cvq_asid = 0
        #: RAM sections the listener has mapped: (section, iova)
        self.listener: list[tuple[RamSection, int]] | None = None
        #: the listener mapped RAM at IOVAs from the tree (shadowed data), not at its GPAs
        self.ram_translated = False
        #: guest RAM held in the tree so QEMU's own IOVAs avoid it (see start_shadowed)
        self._reserved: list[int] = []
        self.svqs: dict[int, ShadowVirtqueue] = {}
        self.mode = "stopped"
        #: IOVAs of the data shadow rings, per VQ: (desc/avail area, used area)
        self._ring_maps: dict[int, tuple[int, int]] = {}

    # ======================================================================================
    # plumbing
    # ======================================================================================
    @contextlib.contextmanager
    def step(self, phase: str) -> Iterator[None]:
        """Label everything the body records with ``phase`` and this device."""
        if self.trace is None:
            yield
            return
        with self.trace.in_phase(phase, device=self.name):
            yield

    @contextlib.contextmanager
    def untraced(self) -> Iterator[None]:
        """Run the body with nothing recorded (guest traffic between migration steps)."""
        saved = [(o, o.trace) for o in self._traced]
        trace, self.trace = self.trace, None
        for o, _ in saved:
            o.trace = None
        try:
            yield
        finally:
            self.trace = trace
            for o, t in saved:
                o.trace = t

    def host(self, name: str, **args: int) -> None:
        """A ``host`` record of QEMU work with no ioctl behind it."""
        if self.trace is not None:
            self.trace.add(Layer.HOST, name, **args)

    @contextlib.contextmanager
    def host_span(self, name: str, group: int | None = None, **args: int) -> Iterator[None]:
        if self.trace is None:
            yield
            return
        rec = self.trace.begin(Layer.HOST, name, group=group, **args)
        try:
            yield
        finally:
            self.trace.end(rec)

    def _notifiers(self, devs: Sequence[Sequence[int]], on: bool) -> None:
        """Guest and host notifiers, one vhost_dev at a time (vhost_dev_enable_notifiers)."""
        for dev in devs:
            self.host("notifiers", vqs=len(dev), flags=int(on))

    async def settle(self) -> None:
        await self.harness.settle()
        if self.on_settle is not None:
            self.on_settle()

    @property
    def data_vqs(self) -> list[int]:
        return list(range(2 * self.max_qps))

    @property
    def cvq_index(self) -> int:
        """The CVQ follows every data VQ with MQ, else index 2 (mlx5_vnet.c: ctrl_vq_idx)."""
        return 2 * self.max_qps if self.features & bit(VIRTIO_NET_F_MQ) else 2

    @property
    def vhost_devs(self) -> list[list[int]]:
        """One vhost_dev per queue pair, then the CVQ's (hw/net/vhost_net.c: vhost_net_start)."""
        devs = [[2 * q, 2 * q + 1] for q in range(self.max_qps)]
        if self.has_cvq:
            devs.append([self.cvq_index])
        return devs

    @property
    def all_vqs(self) -> list[int]:
        return [vq for dev in self.vhost_devs for vq in dev]

    async def add_status(self, bits: int) -> None:
        """vhost_vdpa_add_status: read, write with ``bits`` added, read back."""
        status = await self.v.get_status()
        await self.v.set_status(status | bits)
        if (await self.v.get_status()) & bits != bits:
            raise FlowError(f"{self.name}: the device did not accept status bits {bits:#x}")

    async def _map(self, asid: int, maps: Sequence[tuple[int, int, int, int]], batch: bool) -> None:
        """IOTLB UPDATEs of (iova, size, addr, perm): one message each, in one batch if asked."""
        if batch:
            await self.v.process_iotlb_msg(asid, VHOST_IOTLB_BATCH_BEGIN)
        for iova, size, addr, perm in maps:
            await self.v.process_iotlb_msg(asid, VHOST_IOTLB_UPDATE, iova, size, addr, perm)
        if batch:
            await self.v.process_iotlb_msg(asid, VHOST_IOTLB_BATCH_END)

    async def _unmap(self, asid: int, maps: Sequence[tuple[int, int]], batch: bool,
                     free: bool = True) -> None:
        """IOTLB INVALIDATEs; ``free`` returns the IOVAs to the tree they came from."""
        if batch:
            await self.v.process_iotlb_msg(asid, VHOST_IOTLB_BATCH_BEGIN)
        for iova, size in maps:
            await self.v.process_iotlb_msg(asid, VHOST_IOTLB_INVALIDATE, iova, size)
        if batch:
            await self.v.process_iotlb_msg(asid, VHOST_IOTLB_BATCH_END)
        if free and self.tree is not None:
            for iova, _ in maps:
                self.tree.remove(iova)

    def _alloc_iova(self, size: int, addr: int) -> int:
        assert self.tree is not None
        return self.tree.alloc(size, addr).iova

    # ======================================================================================
    # C 4.1: opening and probing (also how any QEMU starts)
    # ======================================================================================
    async def probe(self) -> None:
        """C 4.1.1-2: open (a reset without map cleaning), read features, the maximum queue
        pairs and the IOVA range (net_init_vhost_vdpa); QP0's vhost_dev_init acks the backend
        features, sets ACKNOWLEDGE|DRIVER and takes ownership. A switch the device does not
        offer is refused here, before anything is changed."""
        with self.step("C4.1.1"):
            await self.v.open()
        with self.step("C4.1.2"):
            self.features = await self.v.get_features()
            self.has_cvq = bool(self.features & bit(VIRTIO_NET_F_CTRL_VQ))
            self.max_qps = 1
            if self.features & bit(VIRTIO_NET_F_MQ):
                raw = await self.v.get_config(MAX_QPS_OFFSET, 2)
                self.max_qps = int.from_bytes(raw, "little")
            rng = await self.v.get_iova_range()
            self.tree = IovaTree(rng.first, rng.last)
            self.sw.check()
            offered = await self.v.get_backend_features()
            self.sw.check_backend(offered, self.v.options, self.name)
            await self.v.set_backend_features(self.sw.backend_features(offered))
            await self.add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)
            await self.v.set_owner()

    def _need_guest_rings(self) -> None:
        if len(self.guest) < 2 * self.max_qps:
            raise FlowError(f"{self.name}: the guest has {len(self.guest)} data rings, the device "
                            f"{self.max_qps} queue pairs (QEMU configures all of them)")

    async def probe_cvq_isolation(self) -> None:
        """C 4.1.3 (vhost_vdpa_probe_cvq_isolation): features with the CVQ, FEATURES_OK, the
        CVQ's group and each data VQ's, then a reset; the CVQ is isolated when its group is
        none of the data VQs'. The probe's reset would clean maps, which is harmless only
        because no RAM is mapped yet (system/vl.c: net_init_clients before qemu_init_board)."""
        if not (self.has_cvq and self.v.acked(VHOST_BACKEND_F_IOTLB_ASID) and self.v.ops.nas > 1):
            return
        with self.step("C4.1.3"):
            await self.v.set_features(self.features)
            await self.add_status(VIRTIO_CONFIG_S_FEATURES_OK)
            cvq_group = await self.v.get_vring_group(self.cvq_index)
            groups = [await self.v.get_vring_group(i) for i in self.data_vqs]
            self.cvq_isolated = cvq_group not in groups
            await self.v.set_status(0)
            await self.add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)

    # ======================================================================================
    # guest RAM through the memory listener
    # ======================================================================================
    async def listener_register(self, shadow_data: bool) -> None:
        """vhost_vdpa_listener_region_add for every RAM section, inside one batch
        (vhost_vdpa_listener_commit): at guest-physical addresses, or, while the data queues
        are shadowed, at IOVAs from the tree that the Shadow VirtQueue translates to."""
        self.listener = []
        self.ram_translated = shadow_data
        maps = []
        for s in self.layout.sections():
            iova = self._alloc_iova(s.size, s.gpa) if shadow_data else s.gpa
            self.listener.append((s, iova))
            maps.append((iova, s.size, s.gpa, s.perm))
        await self._map(0, maps, batch=True)

    async def listener_unregister(self) -> None:
        """memory_listener_unregister → vhost_vdpa_listener_region_del for every section, one
        INVALIDATE each, in one batch: the kernel unpins every page."""
        assert self.listener is not None
        maps = [(iova, s.size) for s, iova in self.listener]
        self.listener = None
        await self._unmap(0, maps, batch=True, free=self.ram_translated)

    def translate(self, gpa: int, length: int) -> list[tuple[int, int]]:
        """A guest buffer as the device must see it (vhost_svq_translate_addr): through the
        tree while RAM is mapped at translated IOVAs, else at its guest-physical address."""
        if not self.ram_translated:
            return [(gpa, length)]
        assert self.tree is not None
        return self.tree.translate(gpa, length)

    def _reserve_ram(self) -> None:
        """Guest RAM stays mapped at its GPAs in ASID 0 (persistent IOTLB) while shadow rings
        go to ASID 0 too: QEMU's allocations must avoid those IOVAs, so the tree holds them."""
        assert self.tree is not None and self.listener is not None
        self._reserved = [self.tree.insert(iova, s.size, s.gpa).iova for s, iova in self.listener]

    def _release_ram(self) -> None:
        assert self.tree is not None
        for iova in self._reserved:
            self.tree.remove(iova)
        self._reserved = []

    # ======================================================================================
    # the control VQ
    # ======================================================================================
    async def _cvq_map_buffers(self, asid: int) -> None:
        """vhost_vdpa_net_cvq_start: the command page read-only, the answer page writable."""
        c = self.cvq
        c.out_iova = self._alloc_iova(PAGE, c.out_pa)
        c.in_iova = self._alloc_iova(PAGE, c.in_pa)
        await self._map(asid, [(c.out_iova, PAGE, c.out_pa, VHOST_ACCESS_RO),
                               (c.in_iova, PAGE, c.in_pa, VHOST_ACCESS_RW)],
                        self.sw.batch_ring_maps)

    async def _cvq_unmap_buffers(self) -> None:
        c = self.cvq
        await self._unmap(self.cvq_asid, [(c.out_iova, PAGE), (c.in_iova, PAGE)],
                          self.sw.batch_ring_maps)

    async def _cvq_start_ring(self, asid: int) -> None:
        """The CVQ's own vhost_dev start: size, base 0, eventfds, its shadow ring's two areas
        mapped, the ring address."""
        idx = self.cvq_index
        ring = ShadowRing(self.mem, self.host_alloc, CVQ_SIZE,
                          bool(self.features & bit(VIRTIO_RING_F_EVENT_IDX)))
        self.cvq.ring = ring
        ring.desc_iova = self._alloc_iova(ring.driver_size, ring.desc_pa)
        ring.used_iova = self._alloc_iova(ring.device_size, ring.used_pa)
        await self.v.set_vring_num(idx, CVQ_SIZE)
        await self.v.set_vring_base(idx, 0)
        await self.v.set_vring_kick(idx)
        await self.v.set_vring_call(idx)
        await self._map(asid, [(ring.desc_iova, ring.driver_size, ring.desc_pa, VHOST_ACCESS_RO),
                               (ring.used_iova, ring.device_size, ring.used_pa, VHOST_ACCESS_RW)],
                        self.sw.batch_ring_maps)
        await self.v.set_vring_addr(idx, ring.desc_iova, ring.driver_iova, ring.used_iova)

    async def _cvq_stop_ring(self) -> None:
        ring = self.cvq.ring
        assert ring is not None
        self.cvq.ring = None
        await self._unmap(self.cvq_asid, [(ring.desc_iova, ring.driver_size),
                                          (ring.used_iova, ring.device_size)],
                          self.sw.batch_ring_maps)

    async def control(self, cmds: Sequence[ControlCommand], parallel: bool) -> list[int]:
        """Send ``cmds`` on the shadow CVQ and return the device's answers. Serially, each
        command is added, kicked and waited for; in parallel (QEMU >= 8.2) commands are queued
        until the ring or a buffer page is full and then waited for once (vhost_vdpa_net_load_cmd,
        vhost_vdpa_net_svq_flush). Each command is one ``host`` record ``cvq_command``: serially
        it holds the wait (and so the device's work), in parallel the commands of one wait share
        a group and the wait follows them."""
        ring = self.cvq.ring
        if ring is None or self.mode == "stopped":
            raise FlowError(f"{self.name}: control command with the control VQ stopped")
        answers: list[int] = []
        pending: list[tuple[int, int]] = []
        out_at = in_at = 0
        group: int | None = None
        for cmd in cmds:
            wire = cmd.wire()
            if pending and (out_at + len(wire) > PAGE or in_at + 1 > PAGE or ring.num_free < 2):
                answers += await self._cvq_poll(pending)
                pending, out_at, in_at, group = [], 0, 0, None
            if parallel and group is None and self.trace is not None:
                group = self.trace.new_group()
            with self.host_span("cvq_command", group=group, cmds=1):
                self.mem.write(self.cvq.out_pa + out_at, wire)
                self.mem.write(self.cvq.in_pa + in_at, b"\xff")
                head = ring.add([(self.cvq.out_iova + out_at, len(wire), False),
                                 (self.cvq.in_iova + in_at, 1, True)])
                assert head is not None
                ring.publish()
                if ring.kick_needed():
                    await self.v.kick(self.cvq_index)
                pending.append((head, in_at))
                out_at += len(wire)
                in_at += 1
                if not parallel:
                    answers += await self._cvq_poll(pending)
                    pending, out_at, in_at = [], 0, 0
        if pending:
            answers += await self._cvq_poll(pending)
        return answers

    async def _cvq_poll(self, pending: list[tuple[int, int]]) -> list[int]:
        """vhost_svq_poll: wait until the device used every pending command; read the answers."""
        ring = self.cvq.ring
        assert ring is not None
        await self.settle()
        used = dict(ring.take_used())
        missing = [head for head, _ in pending if head not in used]
        if missing:
            raise FlowError(f"{self.name}: the device never answered {len(missing)} control "
                            "command(s) (QEMU gives up after 10 s in vhost_svq_poll)")
        return [self.mem.read(self.cvq.in_pa + at, 1)[0] for _, at in pending]

    def replay_commands(self) -> list[ControlCommand]:
        """vhost_vdpa_net_load_state: what QEMU re-sends at every start, each only if its
        feature was negotiated and, for RX modes, if it differs from the device default."""
        f, n = self.features, self.net
        out = []
        if f & bit(VIRTIO_NET_F_CTRL_MAC_ADDR):
            out.append(mac_set(n.mac))                              # vhost_vdpa_net_load_mac
        if f & bit(VIRTIO_NET_F_CTRL_RX):
            out.append(mac_table())
        if f & bit(VIRTIO_NET_F_MQ):
            out.append(mq_set(n.curr_queue_pairs))                  # vhost_vdpa_net_load_mq
        if f & bit(VIRTIO_NET_F_CTRL_RX):                           # vhost_vdpa_net_load_rx
            if not n.promisc:
                out.append(rx_mode(VIRTIO_NET_CTRL_RX_PROMISC, False))
            if n.allmulti:
                out.append(rx_mode(VIRTIO_NET_CTRL_RX_ALLMULTI, True))
        if f & bit(VIRTIO_NET_F_CTRL_VLAN):                         # vhost_vdpa_net_load_vlan
            out += [vlan(v) for v in sorted(n.vlans)]
        return out

    async def cvq_load(self) -> None:
        """Replay the device state through the shadow CVQ; a command the device refuses fails
        the start, as QEMU returns -EIO from vhost_vdpa_net_load_cmd."""
        cmds = self.replay_commands()
        answers = await self.control(cmds, self.sw.parallel_cvq_load)
        for cmd, answer in zip(cmds, answers, strict=True):
            if answer != VIRTIO_NET_OK:
                raise FlowError(f"{self.name}: the device refused {cmd.name} while QEMU replayed "
                                f"the control state (answer {answer}); the start fails with -EIO")

    async def guest_control(self, cmd: ControlCommand) -> bool:
        """A command from the guest's control VQ, forwarded through the shadow CVQ; QEMU's own
        copy of the state changes only if the device accepted it
        (vhost_vdpa_net_handle_ctrl_avail → virtio_net_handle_ctrl_iov)."""
        (answer,) = await self.control([cmd], parallel=False)
        if answer != VIRTIO_NET_OK:
            return False
        n = self.net
        if cmd.cls == VIRTIO_NET_CTRL_MAC and cmd.cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET:
            n.mac = cmd.body
        elif cmd.cls == VIRTIO_NET_CTRL_MQ:
            n.curr_queue_pairs = int.from_bytes(cmd.body, "little")
        elif cmd.cls == VIRTIO_NET_CTRL_VLAN:
            vid = int.from_bytes(cmd.body, "little")
            if cmd.cmd == VIRTIO_NET_CTRL_VLAN_ADD:
                n.vlans.add(vid)
            else:
                n.vlans.discard(vid)
        elif cmd.cls == VIRTIO_NET_CTRL_RX and cmd.cmd == VIRTIO_NET_CTRL_RX_PROMISC:
            n.promisc = bool(cmd.body[0])
        elif cmd.cls == VIRTIO_NET_CTRL_RX and cmd.cmd == VIRTIO_NET_CTRL_RX_ALLMULTI:
            n.allmulti = bool(cmd.body[0])
        return True

    # ======================================================================================
    # data VQs
    # ======================================================================================
    async def guest_kick(self, idx: int) -> None:
        """The guest notified data VQ ``idx``: the Shadow VirtQueue forwards and kicks the
        device when it needs it; a passthrough device hears the doorbell; a stopped device
        hears nothing (the next start looks at the ring)."""
        svq = self.svqs.get(idx)
        if svq is not None:
            if svq.handle_guest_kick():
                await self.v.kick(idx)
        elif self.mode == "passthrough":
            await self.v.kick(idx)

    async def pump(self) -> None:
        """Let the device run and the Shadow VirtQueues forward both ways until quiet."""
        if self.mode == "stopped":
            return
        for _ in range(8):
            for idx, svq in self.svqs.items():
                if svq.handle_guest_kick():
                    await self.v.kick(idx)
            await self.settle()
            if not sum(svq.flush() for svq in self.svqs.values()):
                return

    def snapshot(self) -> NetState:
        """The device state as it migrates: QEMU's copy plus every data VQ's restart index."""
        state = copy.deepcopy(self.net)
        state.last_avail = {idx: self.guest[idx].last_avail_idx for idx in self.data_vqs}
        return state

    def _suspended(self) -> None:
        if self.on_suspended is not None:
            self.on_suspended()

    def _sync_guest(self, idx: int, last_avail: int) -> None:
        self.guest[idx].sync(last_avail)

    # ======================================================================================
    # stopping: Flow A's stop half (passthrough) and Flow B (shadowed)
    # ======================================================================================
    async def _suspend_passthrough(self) -> None:
        """A1-A4: suspend (QP0's vhost_dev), then per queue pair the doorbell pages and one
        GET_VRING_BASE per data VQ, whose answer (the device's used index) is where QEMU's
        VirtQueue restarts: in-flight buffers go back to the guest ring."""
        with self.step("A1"):
            await self.v.suspend()
        self._suspended()
        for dev in self.vhost_devs[:self.max_qps]:
            with self.step("A2"):
                self.host("doorbell", vqs=len(dev), flags=0)
            with self.step("A3"):
                for idx in dev:
                    self._sync_guest(idx, await self.v.get_vring_base(idx))
        self.mode = "stopped"

    async def stop_passthrough(self) -> None:
        """A1-A10: suspend, per queue pair doorbells and ring positions, the CVQ's shadow ring,
        the map-cleaning reset with the listener, status back, CVQ buffers, notifiers."""
        await self._suspend_passthrough()
        if self.has_cvq:
            with self.step("A5"):
                await self._cvq_stop_ring()
        with self.step("A6"):
            await self.v.set_status(0)
        if self.listener is not None and not self.sw.persistent_iotlb:
            with self.step("A7"):
                await self.listener_unregister()
        with self.step("A8"):
            await self.add_status(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)
        if self.has_cvq:
            with self.step("A9"):
                await self._cvq_unmap_buffers()
        with self.step("A10"):
            self._notifiers(self.vhost_devs, on=False)

    async def stop_shadowed(self) -> NetState:
        """Flow B: suspend, every Shadow VirtQueue stopped (used buffers handed back, the rest
        rewound) and its rings unmapped, the CVQ's ring, the reset (not in the resumable
        prototype), the listener (not with a persistent IOTLB), CVQ buffers, notifiers."""
        with self.step("B1"):
            await self.v.suspend()
        self._suspended()
        self.mode = "stopped"
        with self.step("B2"):
            maps: list[tuple[int, int]] = []
            asid = CVQ_ASID if self.sw.desc_group_asid else 0
            for dev in self.vhost_devs[:self.max_qps]:
                for idx in dev:
                    svq = self.svqs.pop(idx)
                    rewound = svq.stop()
                    self.host("svq_stop", vq=idx, cmds=rewound)
                    desc, used = self._ring_maps.pop(idx)
                    pair = [(desc, svq.ring.driver_size), (used, svq.ring.device_size)]
                    if self.sw.batch_ring_maps:
                        maps += pair
                    else:
                        await self._unmap(asid, pair, batch=False)
            if maps:
                await self._unmap(asid, maps, batch=True)
            self._release_ram()
        # B3: QEMU answers the ring positions from its own VirtQueues; no ioctl
        if self.has_cvq:
            with self.step("B4"):
                await self._cvq_stop_ring()
        if not self.sw.resumable_vqs:
            with self.step("B5"):
                await self.v.set_status(0)
            if self.listener is not None and not self.sw.persistent_iotlb:
                with self.step("B6"):
                    await self.listener_unregister()
        if self.has_cvq:
            with self.step("B7"):
                await self._cvq_unmap_buffers()
        with self.step("B8"):
            self._notifiers(self.vhost_devs, on=False)
        return self.snapshot()

    # ======================================================================================
    # starting: passthrough (C 4.2, and any boot) and shadowed (Flow A's start half)
    # ======================================================================================
    async def start_passthrough(self, state: NetState | None = None) -> None:
        """C 4.2.1-11: the data queues on the guest's own rings at guest-physical addresses
        (a destination does not consider itself migrating), the CVQ shadowed in its own ASID
        when it is isolated, the device state replayed. ``state`` is what migrated; None
        boots from the guest rings as they are."""
        self._need_guest_rings()
        if state is not None:
            self.net = copy.deepcopy(state)
            for idx, base in state.last_avail.items():
                self._sync_guest(idx, base)
        with self.step("C4.2.1"):
            self._notifiers(self.vhost_devs, on=True)
        # C4.2.2: data queue start sees no migration: no SVQ, no translation
        with self.step("C4.2.3"):
            await self.v.set_features(self.features)
            await self.add_status(VIRTIO_CONFIG_S_FEATURES_OK)
        with self.step("C4.2.4"):
            for dev in self.vhost_devs[:self.max_qps]:
                for idx in dev:
                    g = self.guest[idx]
                    await self.v.set_vring_num(idx, g.num)
                    await self.v.set_vring_base(idx, g.last_avail_idx)
                    await self.v.set_vring_addr(idx, g.desc, g.avail, g.used)
                    await self.v.set_vring_kick(idx)
                    await self.v.set_vring_call(idx)
        with self.step("C4.2.5"):
            for dev in self.vhost_devs[:self.max_qps]:
                self.host("doorbell", vqs=len(dev), flags=1)
        if self.has_cvq:
            if not self.cvq_isolated:
                raise FlowError(f"{self.name}: the control VQ shares its group with the data "
                                "queues; QEMU then shadows every queue from the start, which is "
                                "not modelled")
            with self.step("C4.2.6"):
                group = await self.v.get_vring_group(self.cvq_index)
                await self.v.set_group_asid(group, CVQ_ASID)
                self.cvq_asid = CVQ_ASID
                await self._cvq_map_buffers(self.cvq_asid)
            with self.step("C4.2.7"):
                await self._cvq_start_ring(self.cvq_asid)
        if self.listener is None:
            with self.step("C4.2.8"):
                await self.listener_register(shadow_data=False)
        with self.step("C4.2.9"):
            await self.add_status(VIRTIO_CONFIG_S_DRIVER_OK)
        self.mode = "passthrough"
        if self.has_cvq:
            with self.step("C4.2.10"):
                await self.v.set_vring_enable(self.cvq_index, True)
                await self.cvq_load()
        with self.step("C4.2.11"):
            for idx in self.data_vqs:
                await self.v.set_vring_enable(idx, True)

    async def _svq_rings(self, asid: int) -> None:
        """A14's half that builds the shadow rings: one per data VQ, sized as the guest's,
        each area at an IOVA from the tree, mapped (single messages, or one batch)."""
        maps: list[tuple[int, int, int, int]] = []
        for idx in self.data_vqs:
            g = self.guest[idx]
            ring = ShadowRing(self.mem, self.host_alloc, g.num,
                              bool(self.features & bit(VIRTIO_RING_F_EVENT_IDX)))
            ring.desc_iova = self._alloc_iova(ring.driver_size, ring.desc_pa)
            ring.used_iova = self._alloc_iova(ring.device_size, ring.used_pa)
            self._ring_maps[idx] = (ring.desc_iova, ring.used_iova)
            self.svqs[idx] = ShadowVirtqueue(g, ring, self.translate)
            self.host("svq_start", vq=idx)
            pair = [(ring.desc_iova, ring.driver_size, ring.desc_pa, VHOST_ACCESS_RO),
                    (ring.used_iova, ring.device_size, ring.used_pa, VHOST_ACCESS_RW)]
            if self.sw.batch_ring_maps:
                maps += pair
            else:
                await self._map(asid, pair, batch=False)
        if maps:
            await self._map(asid, maps, batch=True)

    async def _point_at_shadow(self, idx: int) -> None:
        """The device reads the shadow ring from its start: base 0, SVQ's eventfds, address."""
        ring = self.svqs[idx].ring
        await self.v.set_vring_base(idx, 0)
        await self.v.set_vring_kick(idx)
        await self.v.set_vring_call(idx)
        await self.v.set_vring_addr(idx, ring.desc_iova, ring.driver_iova, ring.used_iova)

    async def start_shadowed(self) -> None:
        """A11-A21: notifiers, features, sizes, a fresh shadow ring per data VQ, the CVQ (in
        ASID 0 with everything else, or in ASID 1 with the rings under desc_group_asid), guest
        RAM through the listener (translated unless it stayed mapped), DRIVER_OK, the CVQ
        enabled and replayed, the data queues enabled."""
        self._need_guest_rings()
        ring_asid = CVQ_ASID if self.sw.desc_group_asid else 0
        with self.step("A11"):
            self._notifiers(self.vhost_devs, on=True)
        with self.step("A12"):
            await self.v.set_features(self.features)
            await self.add_status(VIRTIO_CONFIG_S_FEATURES_OK)
        with self.step("A13"):
            for idx in self.data_vqs:
                await self.v.set_vring_num(idx, self.guest[idx].num)
        with self.step("A14"):
            if self.sw.desc_group_asid:
                desc_group = await self.v.get_vring_desc_group(0)
                await self.v.set_group_asid(desc_group, CVQ_ASID)
            elif self.listener is not None:
                self._reserve_ram()
            await self._svq_rings(ring_asid)
            for idx in self.data_vqs:
                await self._point_at_shadow(idx)
        if self.has_cvq:
            with self.step("A15"):
                self.cvq_asid = ring_asid
                if self.sw.desc_group_asid:
                    group = await self.v.get_vring_group(self.cvq_index)
                    await self.v.set_group_asid(group, CVQ_ASID)
                await self._cvq_map_buffers(self.cvq_asid)
                await self._cvq_start_ring(self.cvq_asid)
        if self.listener is None:
            with self.step("A16"):
                await self.listener_register(shadow_data=not self.sw.desc_group_asid)
        with self.step("A17"):
            await self.add_status(VIRTIO_CONFIG_S_DRIVER_OK)
        self.mode = "svq"
        if self.has_cvq:
            with self.step("A18"):
                await self.v.set_vring_enable(self.cvq_index, True)
            with self.step("A19"):
                await self.cvq_load()
        with self.step("A20"):
            for idx in self.data_vqs:
                await self.v.set_vring_enable(idx, True)
        # A21: the dirty-log toggle is absorbed by QEMU for SVQ devices; no ioctl

    async def switch_resumable(self) -> None:
        """Flow A with resumable_vqs (SWL 62f0dc40be, migration-sequence.md §5): suspend, ring
        positions, the descriptor group moved to the SVQ ASID, shadow rings mapped there and
        the device pointed at them while suspended, then one resume. No reset: the device keeps
        its regions, its control state and its queue pairs."""
        await self._suspend_passthrough()
        with self.step("A10"):
            self._notifiers(self.vhost_devs[:self.max_qps], on=False)
        with self.step("A11"):
            self._notifiers(self.vhost_devs[:self.max_qps], on=True)
        with self.step("A14"):
            desc_group = await self.v.get_vring_desc_group(0)
            await self.v.set_group_asid(desc_group, CVQ_ASID)
            await self._svq_rings(CVQ_ASID)
            for idx in self.data_vqs:
                ring = self.svqs[idx].ring
                await self.v.set_vring_addr(idx, ring.desc_iova, ring.driver_iova, ring.used_iova)
                await self.v.set_vring_base(idx, 0)
                await self.v.set_vring_kick(idx)
                await self.v.set_vring_call(idx)
        with self.step("A22"):
            await self.v.resume()
        self.mode = "svq"

