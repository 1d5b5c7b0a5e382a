# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_nic_top: every test drives the RTL through its parent driver in lockstep
with the reference device (same ops, same guest memory, same frames; any difference in a
return value, errno, memory byte, transmitted frame or fault fails the test), and checks every
DMA against the mappings in force. The pytest entry is tests/rtl/test_vdpa_nic_top.py.
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable

import cocotb

from vdpa_model import flows, ringcases, spec
from vdpa_model.device import ReferenceDevice
from vdpa_model.dma import AccessLog
from vdpa_model.errors import VdpaError
from vdpa_model.guest import GuestNetDriver, GuestVirtqueue, RawDesc
from vdpa_model.lockstep import Divergence, Lockstep, MirroredMemory
from vdpa_model.memory import Allocator, GuestMemory
from vdpa_model.ops import IotlbRange, VqObjectState, VqState
from vdpa_model.options import DeviceOptions
from vdpa_model.shadow import ContractShadow
from vdpa_model.vhost import VhostVdpa
from vdpa_tb.nic_tb import GUEST_SIZE, STALL_PATTERN, Tb, param
from vdpa_tb.parent import RtlParentDriver
from vdpa_tb.regmap import REGMAP as RM

US = "us"
#: rounds of test_random_traffic_lockstep (VDPA_RANDOM_ROUNDS for longer soaks)
RANDOM_ROUNDS = int(os.environ.get("VDPA_RANDOM_ROUNDS", "400"))
# guest RAM the tests map: 2 MiB at GPA 1 MiB (512 MTT pages per mapping)
RAM_BASE = 0x10_0000
RAM_SIZE = 0x20_0000


class Env:
    """One device under test in lockstep with the reference, with its guest driver."""

    def __init__(self, tb: Tb, lock: Lockstep, v: VhostVdpa, guest_mem: GuestMemory) -> None:
        self.tb = tb
        self.lock = lock
        self.v = v
        self.mem = guest_mem
        self.alloc = Allocator(RAM_BASE, RAM_BASE + RAM_SIZE)
        self.drv = tb.drv

    def net(self, queue_pairs: int, queue_size: int = 64, **kw: object) -> GuestNetDriver:
        return GuestNetDriver(self.mem, self.alloc, queue_pairs=queue_pairs,
                              queue_size=queue_size, features=self.features, **kw)  # type: ignore[arg-type]

    @property
    def features(self) -> int:
        return self.drv.device_features  # type: ignore[union-attr]


#: write responses held 31 cycles of 32 (tests of a completion that fails while the next chain
#: moves), so the refused write's answer comes late. (Held for good, or the write address
#: instead, the next chain's frame does not reach its last beat either on this test host, and
#: the window never opens; released one cycle in 32, it does.) Deterministic on each build.
#: An earlier write's answer sets the phase of the release: a walk's avail_event write before
#: the first chain left the refused element a 5-cycle wait once the engine got faster, too
#: short for the next frame (the tx_no_hold mutant then survived), so
#: test_completion_fault_undoes_the_next_chain lets those walks end first, and checks by the
#: abort count and by the cycles the next frame's last beat was held (where the testbench top
#: counts them) that its window was reached: a change of timing that closes it fails the test
#: instead of leaving it toothless
B_HELD = (1,) * 31 + (0,)


async def make_env(dut: object, stall: bool = False, incremental_map: bool = True) -> Env:
    tb = Tb(dut)
    if stall:
        tb.set_idle_generator(STALL_PATTERN)
        tb.set_backpressure_generator(STALL_PATTERN)
    drv = await tb.start()
    ref_mem = GuestMemory(GUEST_SIZE)
    opts = DeviceOptions(queue_pairs=param("NVQ", 8) // 2, max_queue_size=param("MAX_QSIZE", 256),
                         device_features=drv.device_features, incremental_map=incremental_map)
    ref = ReferenceDevice(ref_mem, opts)
    lock = Lockstep(drv, ref, tb.mem, ref_mem)
    v = VhostVdpa(lock)
    return Env(tb, lock, v, MirroredMemory(tb.mem, ref_mem))


async def bring_up(env: Env, qps: int, queue_size: int = 64, map_ram: bool = True,
                   **kw: object) -> GuestNetDriver:
    """open, map guest RAM IOVA=GPA, start qps queue pairs: QEMU's vhost_dev_start order."""
    if map_ram:
        await flows.open_device(env.v)
        await flows.map_guest_memory(env.v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    net = env.net(qps, queue_size, **kw)
    await flows.start_device(env.v, net.vqs, features=net.features)
    return net


async def bring_up_without_event_idx(env: Env, queue_size: int) -> GuestNetDriver:
    """One queue pair started with every offered feature but EVENT_IDX: notifications then
    follow NO_INTERRUPT in avail.flags (virtio 1.2 §2.7.7)."""
    await flows.open_device(env.v)
    await flows.map_guest_memory(env.v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    feats = env.features & ~spec.bit(spec.VIRTIO_RING_F_EVENT_IDX)
    net = GuestNetDriver(env.mem, env.alloc, queue_pairs=1, queue_size=queue_size,
                         features=feats)
    await flows.start_device(env.v, net.vqs, features=feats)
    assert not net.event_idx, "EVENT_IDX still negotiated"
    return net


def frames(n: int, rng: random.Random, lo: int = 60, hi: int = 1514) -> list[bytes]:
    return [rng.randbytes(rng.randint(lo, hi)) for _ in range(n)]


async def transmit(env: Env, net: GuestNetDriver, qp: int, fr: list[bytes], **post: bool) -> None:
    got = await flows.transmit(env.v, env.lock, net, qp, fr, **post)
    assert [p.data for p in got] == fr, "transmitted frames are not the frames sent"
    assert all(p.header == bytes(net.hdr_len) for p in got)


# =========================================================================================
async def receive_into_bus_error(drv: RtlParentDriver, rx_frames: list[bytes]) -> None:
    """Offer ``rx_frames`` to receive queue 0 and settle: the queue meets a bus error, so the
    one fault is EIO on VQ 0."""
    for fr in rx_frames:
        await drv.inject_rx(0, fr)
    await drv.settle()
    f = drv.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(0, errno.EIO)], f


async def dut_alone(dut: object, queue_pairs: int = 1, stall: bool = False, asid: int = 0,
                    queue_size: int = 64,
                    ranges_of: Callable[[GuestNetDriver], list[IotlbRange]] | None = None
                    ) -> tuple[Tb, RtlParentDriver, VhostVdpa, GuestNetDriver]:
    """The DUT without the reference, for races the reference cannot take part in (it works
    only at settle points): opened, guest RAM mapped IOVA = GPA in ``asid`` (every group bound
    to it first when it is not ASID 0), ``queue_pairs`` queue pairs of ``queue_size`` entries
    started; with ``stall``, AXI/AXI-Stream idle and backpressure (test_traffic_lockstep's).
    ``ranges_of``, given the guest driver (its rings placed, not yet started), returns the
    ranges to map instead of guest RAM as one."""
    tb = Tb(dut)
    if stall:
        tb.set_idle_generator(STALL_PATTERN)
        tb.set_backpressure_generator(STALL_PATTERN)
    drv = await tb.start()
    v = VhostVdpa(drv)
    await flows.open_device(v)
    if asid:
        for group in range(drv.ngroups):
            await v.set_group_asid(group, asid)
    net = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE),
                         queue_pairs=queue_pairs, queue_size=queue_size,
                         features=drv.device_features)
    mapped = (ranges_of(net) if ranges_of is not None else
              [IotlbRange(RAM_BASE, RAM_SIZE, RAM_BASE, spec.VHOST_ACCESS_RW)])
    await v.map(asid, mapped, batch=True)
    await flows.start_device(v, net.vqs, features=net.features)
    return tb, drv, v, net


@cocotb.test(timeout_time=2000, timeout_unit=US)
async def test_regs_and_commands(dut):
    """Goal: the BAR and command mailbox follow the register map.
    Stimulus: read ID/caps, run NOP, an unknown opcode and out-of-range arguments.
    Check: values from the regmap and parameters; every bad command gets its status code."""
    tb = Tb(dut)
    drv = await tb.start()
    port = tb.port
    tb.log.info("Test identification and capabilities")
    assert await port.read("ID") == RM.device_id
    assert await port.read("VERSION") == RM.version
    c0 = await port.read("CAPS0")
    assert c0 & 0xFF == param("NVQ", 8)
    assert (c0 >> 8) & 0xFF == 3 and (c0 >> 16) & 0xFF == 2
    assert await port.read("CAPS1") == param("MAX_QSIZE", 256)
    assert drv.device_features & spec.bit(spec.VIRTIO_F_ACCESS_PLATFORM)
    assert await port.read("DEV_STATUS") == 0

    tb.log.info("Test NOP and an unknown opcode")
    c = await port.execute("NOP")
    fw = param("FW_LAT_OTHER", 0)
    # the firmware latency is part of every command's reported cycles, and only a few cycles
    # of hardware come on top of it for a NOP
    assert c.ok and fw + 1 <= c.cycles <= fw + 4, (c.cycles, fw)
    tag = port._next_tag
    await port.write("CMD_SUBMIT", (tag << 8) | 0x7F)
    port._outstanding.add(tag)
    c = await port.wait(tag)
    assert c.status == RM.status["BAD_OPCODE"].code

    tb.log.info("Test out-of-range arguments")
    nvq = param("NVQ", 8)
    bad = [
        ("CREATE_VQ", {"VQ": nvq, "SIZE": 64}, "BAD_PARAM"),
        ("CREATE_VQ", {"VQ": 1, "SIZE": 48}, "BAD_PARAM"),
        ("CREATE_VQ", {"VQ": 1, "SIZE": 2 * param("MAX_QSIZE", 256)}, "BAD_PARAM"),
        ("CREATE_VQ", {"VQ": 1, "SIZE": 64, "GROUPS": 3}, "BAD_PARAM"),
        ("QUERY_VQ", {"VQ": 200}, "BAD_PARAM"),
        ("MODIFY_VQ", {"VQ": 1, "MASK": 1, "STATE": 1}, "BAD_STATE"),
        ("DESTROY_VQ", {"VQ": 1}, "BAD_STATE"),
        ("SET_GROUP_ASID", {"GROUP": 3, "ASID": 0}, "BAD_PARAM"),
        ("SET_GROUP_ASID", {"GROUP": 0, "ASID": 2}, "BAD_PARAM"),
        ("MAP", {"ASID": 2, "LAST_LO": 0xFFF, "PERM": 3}, "BAD_PARAM"),
        ("MAP", {"ASID": 1, "LAST_LO": 0xFFF, "PERM": 0}, "BAD_PARAM"),
        ("MAP", {"ASID": 1, "IOVA_LO": 0x2000, "LAST_LO": 0xFFF, "PERM": 3}, "BAD_PARAM"),
        ("RESET_MAP", {"ASID": 9}, "BAD_PARAM"),
        ("QUERY_GROUP", {"GROUP": 7}, "BAD_PARAM"),
    ]
    for (op, args, want), got in zip(bad, await port.execute_many([(o, a) for o, a, _ in bad]),
                                     strict=True):
        assert got.status == RM.status[want].code, f"{op} {args}: {RM.status_name(got.status)}"

    tb.log.info("Test the VQ object state machine (mlx5 is_valid_state_change)")
    ok = await port.execute("CREATE_VQ", VQ=1, SIZE=64, GROUPS=0x0200)
    assert ok.ok
    st = RM.vq_state
    seq = [
        ("CREATE_VQ", {"VQ": 1, "SIZE": 64}, "EXISTS"),
        ("MODIFY_VQ", {"VQ": 1, "MASK": 1, "STATE": st["SUSPEND"]}, "BAD_STATE"),
        ("MODIFY_VQ", {"VQ": 1, "MASK": 1, "STATE": st["RDY"]}, "OK"),
        ("MODIFY_VQ", {"VQ": 1, "MASK": 1 << 6}, "BAD_STATE"),
        ("MODIFY_VQ", {"VQ": 1, "MASK": 1, "STATE": st["INIT"]}, "BAD_STATE"),
        ("MODIFY_VQ", {"VQ": 1, "MASK": 1, "STATE": st["SUSPEND"]}, "OK"),
        ("MODIFY_VQ", {"VQ": 1, "MASK": 1 << 7, "IDX": 0x00050005}, "OK"),
        ("QUERY_VQ", {"VQ": 1}, "OK"),
        ("DESTROY_VQ", {"VQ": 1}, "OK"),
        ("QUERY_VQ", {"VQ": 1}, "OK"),
    ]
    res = [await port.execute(o, **a) for o, a, _ in seq]
    for (op, args, want), got in zip(seq, res, strict=True):
        assert got.status == RM.status[want].code, f"{op} {args}: {RM.status_name(got.status)}"
    q = res[7].data
    assert q[0] & 0xFF == st["SUSPEND"] and q[0] >> 16 == 64 and q[1] == 0x00000005
    assert res[9].data[0] & 0xFF == st["NONE"]


@cocotb.test(timeout_time=2000, timeout_unit=US)
async def test_mailbox_edges_and_bulk_vq_commands(dut):
    """Goal: the corners of the command mailbox no parent flow reaches, and the bulk VQ commands
    the parents do not use (they suspend and resume with a MODIFY per VQ, as mlx5 does).
    Stimulus: completion and fault registers read with nothing waiting, argument words read
    back, an address no register decodes; SUSPEND_ALL / RESUME_ALL over VQs in INIT, RDY and
    SUSPEND; MODIFY of the groups of a suspended VQ, in range and out of it; DESTROY of a VQ
    past the last; UNMAP with a bad ASID or an empty range; more submissions than the mailbox
    holds while no completion is collected.
    Check: empty heads read 0; argument words hold what was written; each bulk command moves
    exactly the VQs in the state it names and counts them; groups change only in range; each
    bad command's status code; the dropped submission sets CMD_STATUS's sticky overflow bit
    and every accepted one completes."""
    tb = Tb(dut)
    await tb.start()
    port = tb.port
    ok, bad_param = RM.status["OK"].code, RM.status["BAD_PARAM"].code
    st = RM.vq_state

    tb.log.info("Test completion and fault registers with nothing waiting")
    for reg, n in (("CPL_HEAD", 1), ("CPL_CYCLES", 1), ("CPL_DATA0", 4), ("FAULT_HEAD", 1),
                   ("FAULT_IOVA_LO", 1), ("FAULT_IOVA_HI", 1)):
        for i in range(n):
            assert await port.read(reg, i) == 0, f"{reg}[{i}] with nothing waiting"
    assert await port.read("CAPS3") == param("MTT_DEPTH", 32768)
    words = [(0x1357_9BDF * (i + 1)) & 0xFFFF_FFFF for i in range(RM.reg_count["CMD_ARG0"])]
    for i, w in enumerate(words):
        await port.write("CMD_ARG0", w, i)
    assert [await port.read("CMD_ARG0", i) for i in range(len(words))] == words
    decoded = {RM.reg[r] + k * RM.reg_stride[r] for r in RM.reg for k in range(RM.reg_count[r])}
    hole = next(a for a in range(0x0100, 0x1000, 4) if a not in decoded)
    assert (await tb.port.bus.access_many([(False, hole, 0)]))[0] == 0, f"{hole:#x} decodes"

    tb.log.info("Test SUSPEND_ALL and RESUME_ALL over VQs in INIT, RDY and SUSPEND")
    rdy, init, suspended = (0, 1), (2,), (3,)  # every build has NVQ >= 4
    for vq in (*rdy, *init, *suspended):
        assert (await port.execute("CREATE_VQ", VQ=vq, SIZE=64)).ok
    for vq in (*rdy, *suspended):
        assert (await port.execute("MODIFY_VQ", VQ=vq, MASK=1, STATE=st["RDY"])).ok
    for vq in suspended:
        assert (await port.execute("MODIFY_VQ", VQ=vq, MASK=1, STATE=st["SUSPEND"])).ok

    async def states() -> dict[int, int]:
        got = await port.execute_many([("QUERY_VQ", {"VQ": vq})
                                       for vq in (*rdy, *init, *suspended)])
        return {vq: c.data[0] & 0xFF for vq, c in zip((*rdy, *init, *suspended), got, strict=True)}

    c = await port.execute("SUSPEND_ALL")
    assert c.status == ok and c.data[0] == len(rdy), c
    assert await states() == {**dict.fromkeys((*rdy, *suspended), st["SUSPEND"]),
                              **dict.fromkeys(init, st["INIT"])}
    c = await port.execute("RESUME_ALL")
    assert c.status == ok and c.data[0] == len(rdy) + len(suspended), c
    assert await states() == {**dict.fromkeys((*rdy, *suspended), st["RDY"]),
                              **dict.fromkeys(init, st["INIT"])}
    c = await port.execute("SUSPEND_ALL")
    assert c.data[0] == len(rdy) + len(suspended), c

    tb.log.info("Test MODIFY of a suspended VQ's groups, in range and out of it")
    groups = param("NGROUPS", 3)
    vq = rdy[0]
    c = await port.execute("MODIFY_VQ", VQ=vq, MASK=1 << RM.modify_bit["GROUPS"],
                           GROUPS=((groups - 1) << 8) | 1)
    assert c.status == ok, RM.status_name(c.status)
    assert (await port.execute("QUERY_VQ", VQ=vq)).data[3] == ((groups - 1) << 8) | 1
    for g in ((groups << 8) | 0, groups):
        c = await port.execute("MODIFY_VQ", VQ=vq, MASK=1 << RM.modify_bit["GROUPS"], GROUPS=g)
        assert c.status == bad_param, f"GROUPS {g:#x}: {RM.status_name(c.status)}"
    assert (await port.execute("QUERY_VQ", VQ=vq)).data[3] == ((groups - 1) << 8) | 1

    c = await port.execute("DESTROY_VQ", VQ=param("NVQ", 8))
    assert c.status == bad_param, f"DESTROY_VQ past the last VQ: {RM.status_name(c.status)}"

    tb.log.info("Test UNMAP with a bad ASID or an empty range")
    for args in ({"ASID": param("NAS", 2), "LAST_LO": 0xFFF},
                 {"ASID": 0, "IOVA_LO": 0x2000, "LAST_LO": 0x1FFF}):
        c = await port.execute("UNMAP", **args)
        assert c.status == bad_param, f"UNMAP {args}: {RM.status_name(c.status)}"

    tb.log.info("Test more submissions than the mailbox holds")
    # completions are left uncollected, so the completion FIFO fills, then every slot keeps a
    # finished command, then the command FIFO fills behind them; the writes bypass the port,
    # which never overfills it
    nop = RM.cmd["NOP"].opcode
    accepted: list[int] = []
    for tag in range(200):
        status = await port.read("CMD_STATUS")
        assert not status >> 16 & 1, f"dropped with {status & 0xFF} free"
        full = status & 0xFF == 0
        await port.write("CMD_SUBMIT", tag << 8 | nop)
        await tb.cycles(20)
        if full:
            break
        accepted.append(tag)
    else:
        raise AssertionError("200 submissions never filled the mailbox: completions are lost")
    status = await port.read("CMD_STATUS")
    assert status >> 16 & 1, f"CMD_STATUS {status:#x}: a submission to a full mailbox was kept"
    got: list[int] = []
    for _ in range(20 * len(accepted)):
        head = await port.read("CPL_HEAD")
        if head >> 31:
            assert (head >> 16) & 0xFF == ok
            got.append(head & 0xFF)
            await port.write("CPL_POP", 1)
        elif len(got) == len(accepted):
            break
        await tb.cycles(5)
    assert got == accepted, f"completions {got} for submissions {accepted}"
    assert await port.read("CMD_STATUS") >> 16 & 1, "the overflow bit is sticky"


@cocotb.test(timeout_time=20000, timeout_unit=US)
@cocotb.parametrize(stall=[False, True])
async def test_traffic_lockstep(dut, stall):
    """Goal: TX and RX on several queue pairs match the reference device byte for byte.
    Stimulus: frames of random size, plain / split-header / indirect chains, RX buffers
    plain and split; run clean and with AXI/AXI-Stream idle and backpressure.
    Check: lockstep (memory, frames, faults), frames as sent, DMA inside the mappings, each
    used element written before the used.idx that publishes it (tb/vdpa_tb/usedorder.py)."""
    env = await make_env(dut, stall)
    rng = random.Random(1234)
    # without VIRTIO_NET_F_MQ the driver uses one queue pair (virtio 1.2 §5.1.5); transmitq1
    # is still a hardware queue and carries traffic in parallel
    net = await bring_up(env, 2)
    await transmit(env, net, 1, frames(4, rng))
    for qp in range(1):
        env.tb.log.info("Test TX on queue pair %d", qp)
        await transmit(env, net, qp, frames(6, rng))
        await transmit(env, net, qp, frames(3, rng), split_header=True)
        await transmit(env, net, qp, frames(3, rng), indirect=True)
        env.tb.log.info("Test RX on queue pair %d", qp)
        fr = frames(5, rng)
        got = await flows.receive(env.v, env.lock, net, qp, fr)
        assert got == fr
        fr = frames(3, rng)
        got = await flows.receive(env.v, env.lock, net, qp, fr, split_header=True)
        assert got == fr
    assert env.lock.settles_compared > 0
    env.tb.assert_dma_clean()
    env.tb.assert_used_order(net.vqs)
    assert env.tb.target.bytes_read > 0 and env.tb.target.bytes_written > 0


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_iotlb_translation_and_faults(dut):
    """Goal: buffers and rings go through their groups' ASIDs; a miss is a reported fault.
    Stimulus: guest RAM mapped at IOVA = GPA + 1 GiB in ASID 0, rings in ASID 1 through the
    descriptor group; then a buffer that only ASID 1 maps, on a queue whose data group is on
    ASID 0. Check: lockstep (same fault: VQ, EFAULT, ASID, IOVA, direction), VQ in ERR, NEEDS_RESET,
    the other queue keeps working, no DMA outside the mappings."""
    env = await make_env(dut)
    off = 0x4000_0000
    rng = random.Random(7)
    await flows.open_device(env.v)
    await env.v.map(0, [flows.MemoryRegion(RAM_BASE, RAM_SIZE).as_range().__class__(
        RAM_BASE + off, RAM_SIZE, RAM_BASE, spec.VHOST_ACCESS_RW)], batch=True)
    net = env.net(2, 64, iova_of=lambda g: g + off)
    # the data rings' group is bound to ASID 1 where the ring area is mapped read/write
    await env.lock.set_group_asid(2, 1)
    # and ASID 1 alone maps the IOVA the bad buffer below uses: a translation through ASID 0
    # must not find another ASID's range (include/linux/vdpa.h: set_map per ASID)
    alien = 0x7000_0000
    await env.v.map(1, [IotlbRange(RAM_BASE + off, RAM_SIZE, RAM_BASE, spec.VHOST_ACCESS_RW),
                        IotlbRange(alien, 0x1000, RAM_BASE, spec.VHOST_ACCESS_RW)], batch=True)
    await flows.start_device(env.v, net.vqs, features=net.features)
    await transmit(env, net, 0, frames(4, rng))
    got = await flows.receive(env.v, env.lock, net, 0, frames(2, rng))
    assert len(got) == 2

    env.tb.log.info("Test a TX buffer outside every mapping of its ASID (mapped in another)")
    tx = net.tx_vq(1)
    tx.post_iova_chain([(alien, 64, False)])
    await flows.kick_if_needed(env.v, tx)
    await env.lock.settle()
    faults = env.lock.take_faults()
    assert len(faults) == 1
    f = faults[0]
    assert (f.vq, f.errno, f.asid, f.iova, f.write) == (3, errno.EFAULT, 0, alien, False)
    assert await env.lock.get_status() & spec.VIRTIO_CONFIG_S_NEEDS_RESET
    assert (await env.drv.query_vq(3))["state"] == VqObjectState.ERR

    env.tb.log.info("Test the other queues still run")
    await transmit(env, net, 0, frames(3, rng))
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=20000, timeout_unit=US)
@cocotb.parametrize(name=[cocotb.Param(c.name, c.name) for c in ringcases.CATALOGUE])
async def test_ring_case(dut, name):
    """Goal: every entry of the ring catalogue (vdpa_model.ringcases) gets its defined response
    and disturbs nobody else; an entry the RTL cannot do yet diverges exactly as marked.
    Stimulus: one device life per entry: guest RAM and the catalogue's windows mapped (or the
    identity default), two queue pairs, the entry's ring on queue pair 0, kicked (a frame
    offered to a receive queue), then traffic on queue pair 1.
    Check: lockstep with the reference (memory, frames, faults); the catalogue's errno for the
    mlx5 parent, fault site (ASID, IOVA, direction), NEEDS_RESET and ERR; the other transmit
    queue unharmed; DMA inside the mappings. A marked entry must diverge with the RTL's stated
    errno; one that no longer diverges fails, so the mark is removed when the RTL is fixed."""
    case = ringcases.case(name)
    env = await make_env(dut)
    rng = random.Random(99)
    layout = ringcases.RingLayout(RAM_BASE, RAM_SIZE, GUEST_SIZE)
    await flows.open_device(env.v)
    if case.mapped:
        await env.v.map(0, layout.ranges())
    net = env.net(2, 32)
    await flows.start_device(env.v, net.vqs, features=net.features)
    # the device may read a ring it has just started (avail.idx) and serve what it finds
    # there unkicked (virtio 1.2 §2.7.13: a notification is a hint); the reference looks only
    # when kicked, so the entry is built once that read is over (behind a host that answers
    # late it is still under way here, and a chain published meanwhile left unkicked)
    await env.lock.settle()
    q = net.tx_vq(0) if case.queue == "tx" else net.rx_vq(0)
    env.tb.log.info("Test ring case %s (%s)", name, case.follows)
    expect = await case.build(ringcases.RingBench(env.mem, env.alloc, env.v, layout,
                                                  net.hdr_len), q)
    q.publish()
    await env.v.kick(q.index)  # unconditionally: some entries publish nothing new
    if case.queue == "rx":
        await env.lock.inject_rx(q.index, ringcases.PROBE_FRAME)
    div = case.rtl_divergence
    try:
        await env.lock.settle()
    except Divergence as e:
        if div is None:
            raise
        got = [(f.vq, f.errno) for f in e.dut_faults]
        assert got == ([] if div.errno is None else [(q.index, div.errno)]), \
            f"{name}: expected divergence ({div.reason}), but the RTL reported {got}: {e}"
        env.tb.log.info("%s diverges as marked: %s", name, div.reason)
        return
    assert div is None, (f"{name} no longer diverges: the RTL now answers like the model; "
                         f"remove its rtl_divergence mark ({div.reason})")
    faults = env.lock.take_faults()
    want = case.expected_errno(env.lock.ref.options.parent)
    if want is None:
        assert faults == [], faults
        if case.queue == "tx":
            assert [p.data for p in env.lock.take_tx()] == [ringcases.TX_PAYLOAD]
    else:
        assert [(f.vq, f.errno) for f in faults] == [(q.index, want)], f"{name}: {faults}"
        if expect.site is not None:
            s = expect.site
            assert (faults[0].asid, faults[0].iova, faults[0].write) == (s.asid, s.iova, s.write)
        assert await env.lock.get_status() & spec.VIRTIO_CONFIG_S_NEEDS_RESET
        assert (await env.drv.query_vq(q.index))["state"] == VqObjectState.ERR
    await transmit(env, net, 1, frames(2, rng))
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_suspend_resume_state(dut):
    """Goal: suspend stops all processing, the state read afterwards is exact, resume goes on.
    Stimulus: TX traffic, suspend, kick with new buffers, read vring bases, resume.
    Check: lockstep; no descriptor processed while suspended (used.idx unchanged, no frames,
    no DMA), state == used index, latched work done after resume."""
    env = await make_env(dut)
    rng = random.Random(5)
    net = await bring_up(env, 2)
    await transmit(env, net, 0, frames(5, rng))
    base = await flows.stop_device(env.v, range(4))
    assert base[1] == 5 and base[0] == 0
    tx = net.tx_vq(0)
    used_before = tx.used_idx
    n_dma = len(env.tb.target.log)
    fr = frames(3, rng)
    for f in fr:
        net.send(0, f, kick=False)
    await env.v.kick(1)
    await env.lock.settle()
    assert tx.used_idx == used_before, "a descriptor was processed while suspended"
    assert env.lock.take_tx() == []
    assert len(env.tb.target.log) == n_dma, "DMA while suspended"
    assert (await env.v.get_vring_base(1)) == 5
    await env.v.resume()
    await env.lock.settle()
    assert [p.data for p in env.lock.take_tx()] == fr
    assert await env.v.get_vring_base(1) == 8
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_reset_keeps_or_cleans_maps(dut):
    """Goal: reset keeps mappings, compat_reset(CLEAN_MAP) and reset_map restore the default
    (IOTLB_PERSIST). Stimulus: map ASID 0, traffic, reset, traffic without remapping;
    compat_reset(CLEAN_MAP); a window mapped in ASID 0, reset_map(0).
    Check: lockstep; device status 0 after reset; QUERY_GROUP identity bit before/after."""
    env = await make_env(dut)
    rng = random.Random(11)
    net = await bring_up(env, 1)
    await transmit(env, net, 0, frames(2, rng))
    c = await env.tb.port.execute("QUERY_GROUP", GROUP=0)
    assert c.ok and c.data[0] == 0 and c.data[1] == 0, "ASID 0 should be mapped, not identity"
    await env.lock.reset()
    assert await env.lock.get_status() == 0
    c = await env.tb.port.execute("QUERY_GROUP", GROUP=0)
    assert c.data[1] == 0, "reset without CLEAN_MAP dropped the mappings"
    net = env.net(1, 64)
    await flows.start_device(env.v, net.vqs, features=net.features)
    await transmit(env, net, 0, frames(2, rng))
    await env.lock.compat_reset(spec.VDPA_RESET_F_CLEAN_MAP)
    c = await env.tb.port.execute("QUERY_GROUP", GROUP=0)
    assert c.data[1] == 1, "CLEAN_MAP did not restore the identity default of ASID 0"
    env.tb.log.info("Test reset_map restores the identity default (include/linux/vdpa.h)")
    # a window the vhost IOTLB does not hold yet (it keeps guest RAM across the reset)
    await env.v.map(0, [IotlbRange(0x4000_0000, 0x1000, RAM_BASE, spec.VHOST_ACCESS_RW)],
                    batch=True)
    c = await env.tb.port.execute("QUERY_GROUP", GROUP=0)
    assert c.data[1] == 0, "ASID 0 should be mapped again, not identity"
    await env.lock.reset_map(0)
    c = await env.tb.port.execute("QUERY_GROUP", GROUP=0)
    assert c.data[1] == 1, "RESET_MAP did not restore the identity default of ASID 0"
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_event_idx_and_wrap(dut):
    """Goal: used-buffer notifications follow EVENT_IDX / NO_INTERRUPT; indices wrap at u16.
    Stimulus: rings started at 65533 with EVENT_IDX, used_event moved; then without EVENT_IDX
    with NO_INTERRUPT set and cleared.
    Check: lockstep memory (avail_event, used ring across the wrap); notification counts equal
    the reference's."""
    env = await make_env(dut)
    rng = random.Random(3)
    await flows.open_device(env.v)
    await flows.map_guest_memory(env.v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    net = env.net(1, 16, start_idx=65533)
    assert net.event_idx
    await flows.start_device(env.v, net.vqs, features=net.features)
    tx = net.tx_vq(0)
    for k in range(3):
        tx.set_used_event((65533 + 2 * k) & 0xFFFF)
        await transmit(env, net, 0, frames(2, rng))
    assert tx.used_idx == (65533 + 6) & 0xFFFF
    ref_n = env.lock.ref.vqs[1].notifications
    assert env.tb.irq_count.get(1, 0) == ref_n and ref_n > 0
    assert await env.tb.port.read("NOTIFY_COUNT", 1) == ref_n
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_command_costs_and_parallelism(dut):
    """Goal: command cycles come from real work and independent commands overlap.
    Stimulus: MAP of 1..64 pages, CREATE_VQ of 16..MAX sizes, a large MAP submitted together
    with VQ queries, SUSPEND with traffic in flight.
    Check: map cycles grow by one per page, create by one per 64 entries; the queries
    complete before the MAP; figures are printed for the benchmark report."""
    tb = Tb(dut)
    await tb.start()
    port = tb.port
    page = 1 << 12
    cyc = {}
    for n in (1, 4, 16, 64):
        c = await port.execute("MAP", ASID=1, IOVA_LO=0x1000_0000 + n * 0x10_0000,
                               LAST_LO=0x1000_0000 + n * 0x10_0000 + n * page - 1,
                               PA_LO=0x200000, PERM=3)
        assert c.ok
        cyc[n] = c.cycles
    tb.log.info("MAP cycles by pages: %s", cyc)
    # one MTT write per page: 48 more pages cost 48 more cycles, whatever the firmware latency
    assert cyc[64] - cyc[16] == 48 and cyc[16] - cyc[4] == 12, cyc
    sizes = [s for s in (16, 64, 256, 1024, 32768) if s <= param("MAX_QSIZE", 256)]
    ccyc = {}
    for i, s in enumerate(sizes):
        c = await port.execute("CREATE_VQ", VQ=i, SIZE=s, GROUPS=0x0200)
        assert c.ok
        ccyc[s] = c.cycles
    tb.log.info("CREATE_VQ cycles by queue size: %s", ccyc)
    big, small = sizes[-1], sizes[0]
    assert ccyc[big] - ccyc[small] == (big - small) // 64 or big <= 64
    tags = [await port.submit("MAP", ASID=1, IOVA_LO=0x2000_0000, LAST_LO=0x2000_0000 + 256 * page - 1,
                              PA_LO=0x200000, PERM=3)]
    tags += [await port.submit("QUERY_VQ", VQ=0) for _ in range(3)]
    order = []
    for t in tags:
        order.append(await port.wait(t))
    hist = port.history[-4:]
    assert hist[0].op == "QUERY_VQ" and hist[-1].op == "MAP", [h.op for h in hist]
    tb.log.info("cycles per command kind: %s",
                {c.op: c.cycles for c in port.history})


@cocotb.test(timeout_time=200000, timeout_unit=US)
@cocotb.parametrize(stall=[False, True])
async def test_random_traffic_lockstep(dut, stall):
    """Goal: long mixed traffic stays identical to the reference device.
    Stimulus: seeded random rounds on every queue pair (MQ negotiated) of TX (1..1514 bytes,
    plain/split/indirect), all transmitqs at once, RX (including
    frames larger than the posted buffers, which are dropped with the buffer kept), and
    suspend/resume between rounds; 64-entry rings so indices go round several times; clean and
    with AXI/AXI-Stream idle and backpressure.
    Check: lockstep at every settle point, DMA inside the mappings, used elements written before
    the used.idx that publishes them, the device ends quiescent."""
    env = await make_env(dut, stall)
    seed = random.getrandbits(32)  # cocotb seeds random per test; rerun with COCOTB_RANDOM_SEED
    env.tb.log.info("random traffic seed %d", seed)
    rng = random.Random(seed)
    qps = param("NVQ", 8) // 2
    net = await bring_up(env, qps)
    for rnd in range(RANDOM_ROUNDS):
        action = rng.choice(["tx", "tx", "rx", "rx", "all", "suspend"])
        layout = {"split_header": rng.random() < 0.3, "indirect": rng.random() < 0.3}
        qp = rng.randrange(qps)
        if action == "tx":
            fr = [rng.randbytes(rng.randint(1, 1514)) for _ in range(rng.randint(1, 6))]
            await transmit(env, net, qp, fr, **layout)
        elif action == "all":
            # every transmitq at once: the scheduler interleaves them, each keeps its order
            sent = {q: [rng.randbytes(rng.randint(1, 1514)) for _ in range(rng.randint(1, 4))]
                    for q in range(qps)}
            for q, fr in sent.items():
                for f in fr:
                    net.send(q, f, kick=False, **layout)
            for q in range(qps):
                await flows.kick_if_needed(env.v, net.tx_vq(q))
            await env.lock.settle()
            got: dict[int, list[bytes]] = {}
            for p in env.lock.take_tx():
                got.setdefault((p.vq - 1) // 2, []).append(p.data)
            assert got == sent, rnd
            for q in range(qps):
                net.reap_tx(q)
        elif action == "rx":
            if rng.random() < 0.2:
                # small frames, then one too big for its 1024-byte buffer: dropped, and the
                # buffer it would have used stays posted for the next frame
                fr = [rng.randbytes(rng.randint(1, 1000)) for _ in range(rng.randint(0, 3))]
                fr.append(rng.randbytes(rng.randint(1100, 1400)))
                got_rx = await flows.receive(env.v, env.lock, net, qp, fr, buf_size=1024,
                                             **layout)
                assert got_rx == fr[:-1], rnd
                filler = rng.randbytes(rng.randint(1, 1000))
                await env.lock.inject_rx(net.rx_index(qp), filler)
                await env.lock.settle()
                assert net.reap_rx(qp) == [filler], rnd
            else:
                fr = [rng.randbytes(rng.randint(1, 1514)) for _ in range(rng.randint(1, 4))]
                got_rx = await flows.receive(env.v, env.lock, net, qp, fr, **layout)
                assert got_rx == fr, rnd
        else:
            await env.v.suspend()
            await env.lock.settle()
            await env.v.resume()
            await env.lock.settle()
    env.tb.assert_dma_clean()
    env.tb.assert_used_order(net.vqs)
    assert (await env.tb.port.read("CMD_STATUS")) >> 18 & 1, "data path not quiescent at the end"


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_no_interrupt_without_event_idx(dut):
    """Goal: without EVENT_IDX a notification follows NO_INTERRUPT in avail.flags.
    Stimulus: features without EVENT_IDX; TX with interrupts enabled, then disabled.
    Check: lockstep; notification pulses equal the reference's and stop while disabled."""
    env = await make_env(dut)
    rng = random.Random(17)
    net = await bring_up_without_event_idx(env, 32)
    await transmit(env, net, 0, frames(3, rng))
    on = env.tb.irq_count.get(1, 0)
    assert on == env.lock.ref.vqs[1].notifications == 3
    net.tx_vq(0).disable_interrupts()
    await transmit(env, net, 0, frames(3, rng))
    assert env.tb.irq_count.get(1, 0) == on == env.lock.ref.vqs[1].notifications


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_set_map_parent(dut):
    """Goal: a set_map parent (mlx5 style) replaces a whole ASID table at once.
    Stimulus: vhost-vdpa with a parent without dma_map: guest RAM mapped through set_map,
    traffic, then the table replaced by one that maps RAM at another IOVA, traffic again.
    Check: lockstep; after the replacement the old IOVAs fault (EFAULT on the TX buffer)."""
    env = await make_env(dut, incremental_map=False)
    rng = random.Random(23)
    await flows.open_device(env.v)
    assert not env.lock.has_op("dma_map")
    await flows.map_guest_memory(env.v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    net = env.net(1, 32)
    await flows.start_device(env.v, net.vqs, features=net.features)
    await transmit(env, net, 0, frames(3, rng))
    env.tb.log.info("Test replacing the table: RAM moves to IOVA + 1 GiB")
    off = 1 << 30
    await env.v.suspend()
    await env.lock.set_map(0, [IotlbRange(RAM_BASE + off, RAM_SIZE, RAM_BASE,
                                          spec.VHOST_ACCESS_RW)])
    await env.v.resume()
    tx = net.tx_vq(0)
    tx.post_iova_chain([(RAM_BASE + 0x1000, 64, False)])
    await flows.kick_if_needed(env.v, tx)
    await env.lock.settle()
    f = env.lock.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(1, errno.EFAULT)], f
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_control_vq_in_parent(dut):
    """Goal: the control VQ the parent emulates answers like the reference device's.
    Stimulus: MQ and CTRL_VQ negotiated; MAC_ADDR_SET, MQ_VQ_PAIRS_SET (valid and out of
    range), an unknown class, then a command without an ack byte.
    Check: lockstep (ack bytes, used ring, config space, the EPROTO fault and NEEDS_RESET)."""
    env = await make_env(dut)
    rng = random.Random(31)
    await flows.open_device(env.v)
    await flows.map_guest_memory(env.v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    feats = env.features
    assert feats & spec.bit(spec.VIRTIO_NET_F_CTRL_VQ) and feats & spec.bit(spec.VIRTIO_NET_F_MQ)
    qps = param("NVQ", 8) // 2
    net = env.net(qps, 32)
    cvq_idx = 2 * qps
    cvq = GuestVirtqueue(env.mem, env.alloc, cvq_idx, 16, event_idx=net.event_idx)
    await flows.start_device(env.v, [*net.vqs, cvq], features=feats)
    # the control VQ's index and group follow the negotiated MQ (mlx5_vnet.c: ctrl_vq_idx)
    assert await env.lock.get_vq_group(cvq_idx) == 1
    mac = bytes([0x02, 0, 0, 0, 0x42, 0x43])
    cmds = [
        bytes([spec.VIRTIO_NET_CTRL_MAC, spec.VIRTIO_NET_CTRL_MAC_ADDR_SET]) + mac,
        bytes([spec.VIRTIO_NET_CTRL_MQ, spec.VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET])
        + qps.to_bytes(2, "little"),
        bytes([spec.VIRTIO_NET_CTRL_MQ, spec.VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET])
        + (qps + 1).to_bytes(2, "little"),
        bytes([0x55, 0x01]),
    ]
    for c in cmds:
        cvq.add_buffer([c], [1])
    await flows.kick_if_needed(env.v, cvq)
    await env.lock.settle()
    acks = [comp.data[0] for comp in cvq.reap()]
    ok, err = spec.VIRTIO_NET_OK, spec.VIRTIO_NET_ERR
    assert acks == [ok, ok, err, err], acks
    assert (await env.lock.get_config(0, 6)) == mac
    await transmit(env, net, qps - 1, frames(2, rng))
    env.tb.log.info("Test a control command with no ack byte")
    cvq.add_buffer([bytes([spec.VIRTIO_NET_CTRL_MAC, spec.VIRTIO_NET_CTRL_MAC_ADDR_SET]) + mac], [])
    await flows.kick_if_needed(env.v, cvq)
    await env.lock.settle()
    f = env.lock.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(cvq_idx, errno.EPROTO)], f
    assert await env.lock.get_status() & spec.VIRTIO_CONFIG_S_NEEDS_RESET
    await env.lock.reset()
    assert (await env.lock.get_config(0, 6)) != mac, "reset must restore the configured MAC"


async def expect_same(env: Env, call) -> object:
    """Run one op through the lockstep; an errno is fine as long as both devices agree."""
    try:
        return await call(env.lock)
    except VdpaError as e:
        return e.errno


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_ops_sweep_lockstep(dut):
    """Goal: every VdpaOps call answers as the reference device does, good and bad arguments.
    Stimulus: queries, out-of-range indices, bad permissions, overlapping maps, disabling and
    re-enabling a running queue, changing a queue's size (re-created object), late group
    rebinding, state set while RDY. Check: same value or same errno for each call; traffic
    still matches afterwards."""
    env = await make_env(dut)
    rng = random.Random(41)
    n = env.lock.nvqs
    for call in [
        lambda d: d.get_vq_num_max(), lambda d: d.get_device_id(), lambda d: d.get_generation(),
        lambda d: d.get_config_size(), lambda d: d.get_iova_range(),
        lambda d: d.get_backend_features(), lambda d: d.get_device_features(),
        lambda d: d.get_config(0, 12), lambda d: d.get_config(8, 16),
        lambda d: d.get_vq_size(0), lambda d: d.get_vq_size(n), lambda d: d.get_vq_group(n),
        lambda d: d.get_vq_desc_group(1), lambda d: d.get_vq_state(n + 3),
        lambda d: d.set_vq_num(1, 48), lambda d: d.set_vq_num(1, 0),
        lambda d: d.set_vq_num(1, 2 * param("MAX_QSIZE", 256)),
        lambda d: d.set_group_asid(3, 0), lambda d: d.set_group_asid(0, 2),
        lambda d: d.reset_map(2), lambda d: d.dma_map(0, 0x1000, 0x1000, 0x1000, 0),
        lambda d: d.dma_map(5, 0x1000, 0x1000, 0x1000, 3),
        lambda d: d.set_driver_features(0),
        lambda d: d.set_vq_state(1, VqState(70000)),
    ]:
        await expect_same(env, call)
    net = await bring_up(env, 1, queue_size=32)
    await expect_same(env, lambda d: d.dma_map(0, RAM_BASE + 0x1000, 0x1000, 0x5000, 3))
    await expect_same(env, lambda d: d.set_vq_state(1, VqState(3)))
    await transmit(env, net, 0, frames(3, rng))
    env.tb.log.info("Test disabling and re-enabling a running queue")
    await expect_same(env, lambda d: d.set_vq_ready(1, False))
    assert await env.lock.get_vq_ready(1) is False
    await expect_same(env, lambda d: d.get_vq_state(1))
    await expect_same(env, lambda d: d.set_vq_ready(1, True))
    await transmit(env, net, 0, frames(2, rng))
    env.tb.log.info("Test late rebinding of the data rings' group, and unbinding it back")
    await expect_same(env, lambda d: d.set_group_asid(2, 1))
    await expect_same(env, lambda d: d.set_group_asid(2, 0))
    await transmit(env, net, 0, frames(2, rng))
    for i in range(3):
        await expect_same(env, lambda d, i=i: d.get_vq_state(i))
        await expect_same(env, lambda d, i=i: d.get_vq_ready(i))
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_unmap_races_traffic(dut):
    """Goal: once dma_unmap returns, the device never again touches what it unmapped.
    Stimulus: 32 large TX frames kicked, then guest RAM unmapped while they are in flight
    (RTL only: the reference device does no work between settle points, so there is no race
    to compare). Check: some frames went out before, the queue faults (EFAULT) after, and no
    DMA after the unmap completed reached the unmapped range."""
    tb, drv, v, net = await dut_alone(dut)
    for _ in range(32):
        net.send(0, bytes(1400), kick=False)
    net.tx_vq(0).publish()
    await v.kick(1)
    await tb.cycles(3000)
    n_before = len(tb.target.log)
    await drv.dma_unmap(0, RAM_BASE, RAM_SIZE)
    await drv.settle()
    sent = drv.take_tx()
    faults = drv.take_faults()
    assert 0 < len(sent) < 32, f"{len(sent)} frames: the unmap did not race the traffic"
    assert [(f.vq, f.errno) for f in faults] == [(1, errno.EFAULT)], faults
    assert n_before > 0
    tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_suspend_waits_for_chain_in_flight(dut):
    """Goal: suspend returns only once the chain in flight is done, and nothing moves after it
    (drivers/vhost/vdpa.c: vhost_vdpa_suspend; mlx5_vnet.c: suspend_vq).
    Stimulus: one 60000-byte TX chain (thousands of bus beats), kicked; suspend while its DMA
    is under way (RTL only: the reference device does no work between settle points).
    Check: DMA had started before the suspend; after suspend returned, no DMA, used.idx and
    the transmitted frames stay as they were; the vring base equals that used.idx; resume
    sends whatever was left."""
    tb, drv, v, net = await dut_alone(dut)
    tx = net.tx_vq(0)
    frame = random.Random(3).randbytes(60000)
    net.send(0, frame, kick=False)
    await v.kick(1)
    await tb.cycles(600)
    assert len(tb.target.log) > 0, "the chain had not started: the suspend raced nothing"
    await v.suspend()
    used = tb.mem.read_u16(tx.used_gpa + spec.VRING_USED_IDX_OFF)
    n_dma, sent = len(tb.target.log), drv.take_tx()
    await tb.cycles(20000)
    assert len(tb.target.log) == n_dma, "DMA after suspend returned"
    assert tb.mem.read_u16(tx.used_gpa + spec.VRING_USED_IDX_OFF) == used, \
        "a chain completed after suspend returned"
    assert drv.take_tx() == [], "a frame left after suspend returned"
    assert await v.get_vring_base(1) == used
    await v.resume()
    await drv.settle()
    assert [p.data for p in sent + drv.take_tx()] == [frame]
    tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_dead_rx_queue_does_not_block(dut):
    """Goal: a receive queue in ERR cannot hold up the others.
    Stimulus: receiveq0 faults (readable descriptor); frames then arrive for it and for
    receiveq1. Check: lockstep; receiveq1 gets its frames; the dead queue's frame is dropped
    and counted in RX_DROPS."""
    env = await make_env(dut)
    rng = random.Random(43)
    net = await bring_up(env, 2)
    rx0 = net.rx_vq(0)
    rx0.post_raw_chain([RawDesc(RAM_BASE, 64, 0, 0)], slots=[0])
    await flows.kick_if_needed(env.v, rx0)
    await env.lock.inject_rx(0, bytes(80))
    await env.lock.settle()
    assert [(f.vq, f.errno) for f in env.lock.take_faults()] == [(0, errno.EPROTO)]
    drops = await env.tb.port.read("RX_DROPS")
    await env.lock.inject_rx(0, bytes(90))
    fr = frames(3, rng)
    got = await flows.receive(env.v, env.lock, net, 1, fr)
    assert got == fr
    assert await env.tb.port.read("RX_DROPS") == drops + 1
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_rx_queue_without_buffers_does_not_hold_up_others(dut):
    """Goal: a ready receive queue with no buffer posted never holds up frames for the other
    queues (issue 10); its own frames wait for its buffers and arrive in order.
    Stimulus: receiveq0 and receiveq1 RDY, buffers posted on receiveq1 only; a frame for
    receiveq0, then twice as many frames for receiveq1 as the receive buffer has slots
    (RX_SLOTS), then a second frame for receiveq0; later buffers posted and kicked on
    receiveq0.
    Check: lockstep at both settles (the reference keeps each queue's frames apart, so it has
    no head-of-line blocking: a device that holds receiveq1's frames behind receiveq0's never
    settles with it); receiveq1 has all its frames and receiveq0 none at the first settle;
    receiveq0 gets its two frames in order after its kick; nothing dropped."""
    env = await make_env(dut)
    rng = random.Random(59)
    net = await bring_up(env, 2)
    drops = await env.tb.port.read("RX_DROPS")
    rq_a, rq_b = net.rx_index(0), net.rx_index(1)
    fa = frames(2, rng)
    fb = frames(2 * param("RX_SLOTS", 4), rng)
    net.post_rx(1, len(fb), 2048, kick=False)
    await flows.kick_if_needed(env.v, net.rx_vq(1))
    await env.lock.inject_rx(rq_a, fa[0])
    for f in fb:
        await env.lock.inject_rx(rq_b, f)
    await env.lock.inject_rx(rq_a, fa[1])
    await env.lock.settle()
    assert net.reap_rx(1) == fb, "receiveq1's frames held up behind receiveq0's"
    assert net.reap_rx(0) == []
    net.post_rx(0, len(fa), 2048, kick=False)
    assert await flows.kick_if_needed(env.v, net.rx_vq(0)), "no kick: the test proves nothing"
    await env.lock.settle()
    assert net.reap_rx(0) == fa
    assert await env.tb.port.read("RX_DROPS") == drops
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_rx_queue_without_buffers_drops_its_oldest_when_the_wire_waits(dut):
    """Goal: a ready receive queue with no buffer posted never holds up the wire, even with
    more frames for it than the receive buffer has slots (issue 10): once every slot is full
    and a frame waits at the wire, the device drops that queue's oldest frame, as both kernel
    parents drop a frame for a receive queue with no buffer (vdpa_sim_net.c:
    vdpasim_net_work counts it in rx_drops).
    Stimulus: receiveq0 and receiveq1 RDY, buffers posted on receiveq1 only; 2*RX_SLOTS+1
    frames for receiveq0, then 2*RX_SLOTS for receiveq1; later buffers posted and kicked on
    receiveq0.
    Check: lockstep at both settles, the reference told which frames the device dropped
    (take_rx_evicted, else the two diverge at the first settle); receiveq1 has all its frames
    at the first settle; at least the frames past RX_SLOTS of receiveq0 are dropped, counted in
    RX_DROPS and by the reference; after its kick receiveq0 gets exactly the rest, the newest,
    in order."""
    env = await make_env(dut)
    rng = random.Random(61)
    net = await bring_up(env, 2)
    drops = await env.tb.port.read("RX_DROPS")
    slots = param("RX_SLOTS", 4)
    rq_a, rq_b = net.rx_index(0), net.rx_index(1)
    fa = frames(2 * slots + 1, rng)
    fb = frames(2 * slots, rng)
    net.post_rx(1, len(fb), 2048, kick=False)
    await flows.kick_if_needed(env.v, net.rx_vq(1))
    for f in fa:
        await env.lock.inject_rx(rq_a, f)
    for f in fb:
        await env.lock.inject_rx(rq_b, f)
    await env.lock.settle()
    assert net.reap_rx(1) == fb, "receiveq1's frames held up behind receiveq0's"
    assert net.reap_rx(0) == []
    lost = await env.tb.port.read("RX_DROPS") - drops
    assert len(fa) - slots <= lost <= len(fa), f"{lost} of {len(fa)} frames dropped"
    assert env.lock.ref.vqs[rq_a].rx_dropped == lost
    assert env.lock.ref.vqs[rq_b].rx_dropped == 0
    net.post_rx(0, len(fa), 2048, kick=False)
    assert await flows.kick_if_needed(env.v, net.rx_vq(0)), "no kick: the test proves nothing"
    await env.lock.settle()
    assert net.reap_rx(0) == fa[lost:], "receiveq0 must keep its newest frames, in order"
    assert await env.tb.port.read("RX_DROPS") == drops + lost
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_tx_not_starved_by_rx_at_line_rate(dut):
    """Goal: received frames arriving back to back (a frame always waiting in a receive slot)
    do not starve a kicked transmit queue.
    Stimulus: 16 receive buffers posted and 16 frames of 1500 bytes on the wire for
    receiveq0, and 4 frames of 1500 bytes kicked on transmitq0 at once (RTL only: the
    reference device does no work between settle points).
    Check: when the last TX frame has left, fewer than half the received frames have been
    written (RX and TX take turns; a device that serves RX first would send nothing until
    receiveq0 is done); after settle every frame arrived, in order."""
    tb, drv, v, net = await dut_alone(dut)
    rng = random.Random(61)
    rx = [rng.randbytes(1500) for _ in range(16)]
    tx = [rng.randbytes(1500) for _ in range(4)]
    net.post_rx(0, len(rx), 2048, kick=False)
    await flows.kick_if_needed(v, net.rx_vq(0))
    await drv.settle()
    for f in rx:
        await drv.inject_rx(net.rx_index(0), f)
    for f in tx:
        net.send(0, f, kick=False)
    await flows.kick_if_needed(v, net.tx_vq(0))
    sent: list[bytes] = []
    for _ in range(2000):
        sent += [p.data for p in drv.take_tx()]
        if len(sent) == len(tx):
            break
        await tb.cycles(20)
    assert sent == tx, "TX frames lost, reordered or not sent"
    received = net.reap_rx(0)
    assert 0 < len(received) < len(rx) // 2, (
        f"{len(received)} of {len(rx)} received frames written before the last TX frame left")
    await drv.settle()
    assert received + net.reap_rx(0) == rx
    assert len(net.reap_tx(0)) == len(tx)
    tb.assert_dma_clean()


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_rx_frame_too_long_is_dropped(dut):
    """Goal: a received frame the device cannot hold is dropped whole and counted, and the
    receive path goes on (the reference device has no frame limit of its own, so these frames
    go to the device alone).
    Stimulus: frames of MAX_FRAME + 1 and of 3 x MAX_FRAME bytes on receiveq0 of a running
    device, then ordinary frames in lockstep. (An empty frame cannot be sent: the bus models
    refuse one, as no MAC delivers it.)
    Check: RX_DROPS counts each dropped frame once; nothing of them reaches guest memory (the
    lockstep compares all of it afterwards); the ordinary frames arrive intact."""
    env = await make_env(dut)
    rng = random.Random(47)
    net = await bring_up(env, 1)
    limit = param("MAX_FRAME", 2048)
    drops = await env.tb.port.read("RX_DROPS")
    bad = [rng.randbytes(limit + 1), rng.randbytes(3 * limit)]
    for n, frame in enumerate(bad, 1):
        await env.lock.dut.inject_rx(0, frame)
        for _ in range(100):
            if await env.tb.port.read("RX_DROPS") == drops + n:
                break
            await env.tb.cycles(50)
        assert await env.tb.port.read("RX_DROPS") == drops + n, f"a {len(frame)}-byte frame"
    fr = frames(3, rng)
    assert await flows.receive(env.v, env.lock, net, 0, fr) == fr
    assert await env.tb.port.read("RX_DROPS") == drops + len(bad)
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_rx_frames_across_reset(dut):
    """Goal: frames still on the wire when the device is reset go nowhere: the wire does not
    stall and the next driver gets only frames that arrive after its DRIVER_OK.
    Stimulus: frames offered to receive queues without buffers, a reset (CLEAN_MAP), more
    frames while DRIVER_OK is clear, a new bring-up, then one frame.
    Check: lockstep (the reference drops them too); the settle after the reset completes; the
    new driver receives exactly the new frame; RX_DROPS counts the dropped ones."""
    env = await make_env(dut)
    rng = random.Random(47)
    net = await bring_up(env, 2)
    for qp in range(2):
        for f in frames(3, rng):
            await env.lock.inject_rx(net.rx_index(qp), f)
    await env.lock.compat_reset(spec.VDPA_RESET_F_CLEAN_MAP)
    for f in frames(2, rng):
        await env.lock.inject_rx(0, f)
    await env.lock.settle()
    assert await env.tb.port.read("RX_DROPS") >= 2
    net = await bring_up(env, 2, map_ram=False)  # ASID 0 is back to its identity default
    fr = frames(1, rng)
    assert await flows.receive(env.v, env.lock, net, 0, fr) == fr
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_read_ahead_forgotten_at_reset(dut):
    """Goal: what the device read ahead of a ring (avail entries, head descriptors) belongs to
    that ring: a reset, which destroys the queues, forgets it, so the next driver's chains at
    the same avail positions are read from its own ring (virtio 1.2 §2.7.13: only published
    items may be read ahead; §2.4: a reset returns the device to its initial state).
    Stimulus: four frames sent together on one transmit queue, each as a two-descriptor chain
    (heads 0, 2, 4, 6: read ahead as one run of avail entries); a reset that keeps the maps
    (no CLEAN_MAP, no map or unmap between); a new bring-up with the same queue size,
    four frames sent together as one-descriptor chains (heads 0, 1, 2, 3 at the same avail
    positions).
    Check: the heads are the ones above (else the test proves nothing); lockstep; the second
    driver's frames out in order. A device that keeps its read-ahead across the reset serves
    position 1's old head (2). (Here RESET is also an IOTLB command, whose flush drops the
    read-ahead too, so mutant readahead_kept, which keeps it across VQ commands only, passes;
    the walker's bench, which pulses ctx_change alone, kills it.)"""
    env = await make_env(dut)
    rng = random.Random(53)

    async def send_together(net: GuestNetDriver, heads: list[int], **post: bool) -> None:
        fr = frames(len(heads), rng, hi=300)
        got_heads = [net.send(0, f, kick=False, **post) for f in fr]
        assert got_heads == heads, f"heads {got_heads}, the test needs {heads}"
        got = await flows.transmit(env.v, env.lock, net, 0, [])
        assert [p.data for p in got] == fr, "transmitted frames are not the frames sent"

    net = await bring_up(env, 1)
    await send_together(net, [0, 2, 4, 6], split_header=True)
    await env.lock.compat_reset(0)
    net = await bring_up(env, 1, map_ram=False)
    await send_together(net, [0, 1, 2, 3])
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_segment_limit(dut):
    """Goal: a well-formed chain beyond the device's MAX_SEGS gets a defined response.
    Stimulus: a TX chain of 40 8-byte descriptors (RTL only: the reference device has no such
    limit). Check: E2BIG fault on that VQ, ERR, NEEDS_RESET, no buffer byte read, and the other
    transmit queue keeps working."""
    tb, drv, v, net = await dut_alone(dut, queue_pairs=2)
    buf = RAM_BASE + 0x18_0000
    tx = net.tx_vq(0)
    tx.post_iova_chain([(buf + 8 * k, 8, False) for k in range(40)])
    await flows.kick_if_needed(v, tx)
    await drv.settle()
    f = drv.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(1, errno.E2BIG)], f
    assert (await drv.query_vq(1))["state"] == VqObjectState.ERR
    assert await drv.get_status() & spec.VIRTIO_CONFIG_S_NEEDS_RESET
    assert tb.target.log.touching(buf, buf + 320) == 0, "buffer read before E2BIG"
    assert drv.take_tx() == []
    got = await flows.transmit(v, drv, net, 1, [bytes(range(200))])
    assert [p.data for p in got] == [bytes(range(200))]


async def started_with_bad_page(dut: object, queue_size: int
                                ) -> tuple[Tb, RtlParentDriver, VhostVdpa, GuestNetDriver, int]:
    """The device started with two queue pairs of ``queue_size`` and no mapping (the DMA
    addresses are the guest's), and the page just past guest RAM answering SLVERR: returns
    the bench, the driver, vhost-vdpa, the guest driver and that page's address."""
    tb = Tb(dut)
    drv = await tb.start()
    v = VhostVdpa(drv)
    await flows.open_device(v)
    net = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=2,
                         queue_size=queue_size, features=drv.device_features)
    await flows.start_device(v, net.vqs, features=net.features)
    bad = RAM_BASE + RAM_SIZE
    tb.target.poison(bad, bad + 0x1000)
    return tb, drv, v, net, bad


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_bus_errors(dut):
    """Goal: a bus error response is a reported fault that hangs nothing.
    Stimulus: (RTL only: the reference has no bus) a TX chain whose second buffer answers
    SLVERR after the first has streamed, then an RX queue whose used ring answers SLVERR.
    Check: EIO faults on those VQs, the started frame is closed with the abort flag and not
    delivered, both VQs in ERR, the other transmit queue still works."""
    tb, drv, v, net, bad = await started_with_bad_page(dut, 16)
    good = RAM_BASE + 0x18_0000
    tx = net.tx_vq(0)
    tx.post_iova_chain([(good, 1000, False), (bad, 500, False)])
    await flows.kick_if_needed(v, tx)
    await drv.settle()
    f = drv.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(1, errno.EIO)], f
    assert drv.take_tx() == [] and drv.tx_aborted == 1
    assert (await drv.query_vq(1))["state"] == VqObjectState.ERR
    tb.target.poison(net.rx_vq(0).used_gpa, net.rx_vq(0).used_gpa + 0x100)
    net.post_rx(0, 1, 2048, kick=False)
    await flows.kick_if_needed(v, net.rx_vq(0))
    await drv.inject_rx(0, bytes(100))
    await drv.settle()
    f = drv.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(0, errno.EIO)], f
    got = await flows.transmit(v, drv, net, 1, [bytes(range(100))])
    assert [p.data for p in got] == [bytes(range(100))]


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_bus_error_behind_another_queue(dut):
    """Goal: a bus error on a chain's data while a moved chain of another queue waits for the
    completion stage (the engine's done queue) is reported after that chain completes, and
    costs the other queue nothing.
    Stimulus: (RTL only: the reference has no bus) two transmit queues, sixteen 6-byte frames
    each posted before one kick of each, so the engine alternates them; queue 1's ninth chain
    reads a buffer that answers SLVERR, and seven more frames follow it. Behind a host whose
    write responses come late (the late-writes build) the completion stage is the slowest,
    so queue 0's chain moved before the bad one waits in the done queue when the fault comes
    (a trace of that build shows it there); at the bench's host it does now and then.
    Check: one fault, EIO, on queue 1's VQ; queue 0's sixteen frames leave in order and its
    used.idx is 16; queue 1's first eight leave in order, nothing of the ninth (no frame
    started: its first read failed), its used.idx is 8 and its VQ in ERR."""
    _, drv, v, net, bad = await started_with_bad_page(dut, 32)
    frames = {qp: [bytes([qp, k]) + bytes(range(4)) for k in range(16)] for qp in (0, 1)}
    for k in range(16):
        for qp in (0, 1):
            if qp == 1 and k == 8:
                net.tx_vq(1).post_iova_chain([(bad, net.hdr_len + 6, False)])
                net.tx_vq(1).publish()
            else:
                net.send(qp, frames[qp][k], kick=False)
    for qp in (0, 1):
        await flows.kick_if_needed(v, net.tx_vq(qp))
    await drv.settle()
    f = drv.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(net.tx_vq(1).index, errno.EIO)], f
    got = drv.take_tx()
    assert [p.data for p in got if p.vq == net.tx_vq(0).index] == frames[0], got
    assert [p.data for p in got if p.vq == net.tx_vq(1).index] == frames[1][:8], got
    assert drv.tx_aborted == 0
    assert net.tx_vq(0).used_idx == 16 and net.tx_vq(1).used_idx == 8
    assert (await drv.query_vq(net.tx_vq(1).index))["state"] == VqObjectState.ERR
    assert (await drv.query_vq(net.tx_vq(0).index))["state"] == VqObjectState.RDY


@cocotb.test(timeout_time=40000, timeout_unit=US)
async def test_batched_receive_notifications(dut):
    """Goal: receive completions batched under one used.idx write notify as a one-chain device
    does with EVENT_IDX: once when used.idx passes used_event, whether it lands on a batch's
    first chain, inside a batch or not at all (drivers/vhost/vhost.c: vhost_notify decides
    vring_need_event over a batch's old and new index; the reference decides per chain as
    drivers/vdpa/vdpa_sim does, and with used_event unchanged while the device runs the two
    agree).
    Stimulus: EVENT_IDX; rounds of eight frames back to back on one receive queue, used_event
    set before each round to the round's first, second and sixth completion and past the
    round.
    Check: lockstep; notifications on the queue equal the reference's after every round, and
    the rounds that should notify did (the count rises by one in each of the first three);
    the device did batch (PIPELINE 1): fewer used.idx writes than frames."""
    env = await make_env(dut)
    rng = random.Random(23)
    net = await bring_up(env, 1, queue_size=64)
    assert net.event_idx, "the test needs used_event"
    rx = net.rx_vq(0)
    log_start = len(env.tb.target.log)
    want = 0
    for offset in (0, 1, 5, 20):
        rx.set_used_event(rx.used_idx + offset)
        fr = frames(8, rng, hi=300)
        assert await flows.receive(env.v, env.lock, net, 0, fr) == fr
        want += offset < 8
        assert env.tb.irq_count.get(0, 0) == env.lock.ref.vqs[0].notifications == want, offset
    assert await env.tb.port.read("NOTIFY_COUNT", 0) == want
    idx = rx.used_gpa + spec.VRING_USED_IDX_OFF
    idx_writes = sum(1 for r in list(env.tb.target.log)[log_start:]
                     if r.write and r.pa <= idx < r.pa + r.length)
    assert (idx_writes < 32) if param("PIPELINE", 1) else idx_writes == 32, idx_writes
    env.tb.assert_dma_clean()
    env.tb.assert_used_order(net.vqs)


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_batched_receive_notifications_without_event_idx(dut):
    """Goal: without EVENT_IDX, receive completions batched under one used.idx write notify
    once per batch while avail.flags allows it, and never while NO_INTERRUPT is set
    (drivers/vhost/vhost.c: vhost_notify reads avail.flags once per vhost_add_used_n batch;
    the reference notifies per chain as drivers/vdpa/vdpa_sim does, so here the counts may
    differ, by the rule docs/rtl-interface.md "Chains in flight" states).
    Stimulus: features without EVENT_IDX; rounds of eight frames back to back on one receive
    queue, interrupts enabled, then disabled (NO_INTERRUPT), then enabled again.
    Check: lockstep; in each enabled round one notification per used.idx write the device
    made in it (every batch notifies), so at least one and at most the reference's one per
    chain, and fewer than the reference's with batches (PIPELINE 1); none in the disabled
    round, as the reference."""
    env = await make_env(dut)
    rng = random.Random(29)
    net = await bring_up_without_event_idx(env, 64)
    rx = net.rx_vq(0)
    idx = rx.used_gpa + spec.VRING_USED_IDX_OFF
    batched = False
    for enabled in (True, False, True):
        if enabled:
            rx.enable_interrupts()
        else:
            rx.disable_interrupts()
        log_start = len(env.tb.target.log)
        dev_before = env.tb.irq_count.get(0, 0)
        ref_before = env.lock.ref.vqs[0].notifications
        fr = frames(8, rng, hi=300)
        assert await flows.receive(env.v, env.lock, net, 0, fr) == fr
        idx_writes = sum(1 for r in list(env.tb.target.log)[log_start:]
                         if r.write and r.pa <= idx < r.pa + r.length)
        dev = env.tb.irq_count.get(0, 0) - dev_before
        ref = env.lock.ref.vqs[0].notifications - ref_before
        if enabled:
            assert ref == len(fr), f"reference: {ref} notifications for {len(fr)} chains"
            assert 1 <= dev == idx_writes <= ref, (
                f"{dev} notifications for {idx_writes} used.idx writes ({ref} by the reference)")
            batched = batched or idx_writes < len(fr)
        else:
            assert dev == ref == 0, f"{dev} notifications with NO_INTERRUPT set ({ref} by the reference)"
    assert batched == bool(param("PIPELINE", 1)), "batches expected only with PIPELINE 1"
    assert await env.tb.port.read("NOTIFY_COUNT", 0) == env.tb.irq_count.get(0, 0)
    env.tb.assert_dma_clean()
    env.tb.assert_used_order(net.vqs)


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_batched_completion_cut_at_a_refused_element(dut):
    """Goal: a bus error on a used element inside a batch of completions (several receive
    chains under one used.idx write, vdpa_used_writer) ends the queue exactly where a
    one-chain-at-a-time device ends it: the chains before it used, that chain faulted.
    Stimulus: (RTL only: the reference has no bus timing) eight 300-byte frames arriving back
    to back for a receive queue with eight buffers posted, whose third used element (slot 2)
    answers SLVERR.
    Check: one EIO on the queue; used.idx 2 in memory and in QUERY_VQ; elements 0 and 1 name
    their chains with the bytes written, and those buffers hold their frames; with batches
    (PIPELINE 1) the element of slot 2 was tried twice, in the batch and then alone, so the
    cut was taken rather than the chain being first of a batch. A writer that faulted the
    whole batch (used.idx 0), or wrote used.idx over the refused chain (3), fails here."""
    tb, drv, v, net = await dut_alone(dut)
    rx = net.rx_vq(0)
    hdr = net.hdr_len
    slot2 = rx.used_gpa + spec.VRING_USED_RING_OFF + 2 * spec.VRING_USED_ELEM_SIZE
    tb.target.poison(slot2, slot2 + spec.VRING_USED_ELEM_SIZE)
    bufs = [RAM_BASE + 0x18_0000 + k * 0x1000 for k in range(8)]
    heads = [rx.post_iova_chain([(b, 2048, True)]) for b in bufs]
    rx.publish()
    await flows.kick_if_needed(v, rx)
    log_start = len(tb.target.log)
    rx_frames = [bytes([0x20 + k]) * 300 for k in range(8)]
    await receive_into_bus_error(drv, rx_frames)
    assert tb.mem.read_u16(rx.used_gpa + spec.VRING_USED_IDX_OFF) == 2
    q = await drv.query_vq(0)
    assert q["state"] == VqObjectState.ERR and q["used"] == 2, q
    for k in range(2):
        elem = rx.used_gpa + spec.VRING_USED_RING_OFF + k * spec.VRING_USED_ELEM_SIZE
        assert (tb.mem.read_u32(elem), tb.mem.read_u32(elem + 4)) == (heads[k], hdr + 300), k
        assert tb.mem.read(bufs[k] + hdr, 300) == rx_frames[k], f"buffer {k}"
    # the log has a record per bus beat: count the element's bytes the refused writes covered
    end2 = slot2 + spec.VRING_USED_ELEM_SIZE
    refused = sum(max(0, min(r.pa + r.length, end2) - max(r.pa, slot2))
                  for r in list(tb.target.log)[log_start:] if r.write and r.bus_error)
    tries = refused / spec.VRING_USED_ELEM_SIZE
    assert tries == (2 if param("PIPELINE", 1) else 1), f"slot 2's element tried {tries} times"
    # the other queues go on
    got = await flows.transmit(v, drv, net, 0, [bytes(range(100))])
    assert [p.data for p in got] == [bytes(range(100))]


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_unreadable_notification_field(dut):
    """Goal: a notification field the device cannot read costs that notification and nothing
    else: no fault, the queue keeps running, the chain stays complete (drivers/vhost/vringh.c:
    __vringh_need_notify returns the error; drivers/vdpa/vdpa_sim/vdpa_sim_net.c:
    vdpasim_net_complete notifies only on a positive answer).
    Stimulus: EVENT_IDX; the TX queue's used_event answers with a bus error, in the DUT's host
    and the reference alike (a 256-entry ring, so no avail entry read shares its bus word);
    frames sent in three kicks, with used chains reclaimed between.
    Check: lockstep (memory, frames, no fault on either side), frames as sent, used.idx at the
    frames sent, no notification on that queue on either side, the queue still RDY. An engine
    that faults the queue on that read, or notifies without reading it, fails here."""
    env = await make_env(dut)
    rng = random.Random(11)
    net = await bring_up(env, 1, queue_size=256)
    assert net.event_idx, "the test needs used_event"
    tx = net.tx_vq(0)
    used_event = tx.avail_gpa + spec.used_event_off(tx.num)
    env.tb.target.poison(used_event, used_event + 2)
    env.lock.ref.poison(used_event, used_event + 2)
    sent = 0
    for n in (1, 3, 6):
        fr = frames(n, rng)
        await transmit(env, net, 0, fr)
        sent += n
    assert env.lock.take_faults() == []
    assert tx.used_idx == sent
    assert env.tb.irq_count.get(1, 0) == env.lock.ref.vqs[1].notifications == 0
    assert (await env.drv.query_vq(1))["state"] == VqObjectState.RDY
    env.tb.assert_dma_clean()


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_completion_fault_undoes_the_next_chain(dut):
    """Goal: a chain that moves while the completion before it on its queue is still under way
    leaves no trace on the wire or in the used ring when that completion fails on a bus
    error, as with a one-chain-at-a-time device.
    Stimulus: (RTL only: the reference has no bus) three TX chains (64, 64, 1500 bytes) kicked
    together on a queue whose first used element (the first completion's first item, after
    its frame has left) answers SLVERR, the write responses held back (B_HELD, after the
    walks bring-up left pending have ended) so that the second frame has reached its last
    beat before that answer comes (the abort count checks that it moved, and on the
    testbench top with the occupancy counters the cycles its last beat waited check that it
    reached it); then two frames for a receive queue with two buffers posted, whose
    used ring answers SLVERR.
    Check: one EIO on each queue; TX: the first frame delivered but not completed (used.idx
    0), the second, moving meanwhile, closed with the abort flag and not delivered (with
    PIPELINE 0 it never starts), the third never sent; RX: nothing used, and the second
    buffer either untouched or holding exactly
    its frame (a receive chain does not wait for the completion before it, which can fail only
    on a bus error: docs/rtl-interface.md "Chains in flight"; that it cannot fail translation
    is test_unmap_lands_between_receive_chains'). A pipelined engine that let the second TX
    chain finish (the frame's end not held: mutant tx_no_hold) fails here."""
    tb, drv, v, net = await dut_alone(dut, queue_pairs=2, queue_size=16)
    tx = net.tx_vq(0)
    elem0 = tx.used_gpa + spec.VRING_USED_RING_OFF
    tb.target.poison(elem0, elem0 + spec.VRING_USED_ELEM_SIZE)
    frames = [bytes([k]) * n for k, n in enumerate((64, 64, 1500), 1)]
    for f in frames:
        net.send(0, f, kick=False)
    # the walks bring-up left pending (each finds its ring empty and writes avail_event) end
    # first: their write responses would otherwise set the phase of the one release of
    # B_HELD the refused element's answer waits for (B_HELD)
    await drv.settle()
    probe = getattr(dut, "occupancy_inst", None)
    held_before = int(probe.move_tx_held_cycles.value) if probe is not None else 0
    tb.set_stall("b", B_HELD)
    await flows.kick_if_needed(v, tx)
    await drv.settle()
    tb.set_stall("b", None)
    f = drv.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(1, errno.EIO)], f
    assert [p.data for p in drv.take_tx()] == frames[:1]
    assert drv.tx_aborted == (1 if param("PIPELINE", 1) else 0), drv.tx_aborted
    if probe is not None and param("PIPELINE", 1):
        # the window was reached: the second frame's last beat waited for the failing
        # completion (the reference engine's testbench top counts those cycles)
        assert int(probe.move_tx_held_cycles.value) > held_before, \
            "the second frame never reached its last beat before the fault"
    assert tb.mem.read_u16(tx.used_gpa + spec.VRING_USED_IDX_OFF) == 0
    q = await drv.query_vq(1)
    assert q["state"] == VqObjectState.ERR and q["used"] == 0, q

    rx = net.rx_vq(0)
    tb.target.poison(rx.used_gpa, rx.used_gpa + spec.used_ring_size(rx.num))
    bufs = [RAM_BASE + 0x18_0000 + k * 0x1000 for k in range(2)]
    for b in bufs:
        tb.mem.write(b, bytes([0xA5]) * 2048)
        rx.post_iova_chain([(b, 2048, True)])
    await flows.kick_if_needed(v, rx)
    rx_frames = [bytes([0x10 + k]) * 300 for k in range(2)]
    await receive_into_bus_error(drv, rx_frames)
    second = tb.mem.read(bufs[1], 2048)
    untouched = bytes([0xA5]) * 2048
    hdr = net.hdr_len
    assert second == untouched or (second[hdr:hdr + 300] == rx_frames[1] and
                                   second[hdr + 300:] == untouched[hdr + 300:]), \
        "second buffer written with something else than its frame"
    q = await drv.query_vq(0)
    assert q["state"] == VqObjectState.ERR and q["used"] == 0, q
    got = await flows.transmit(v, drv, net, 1, [bytes(range(100))])
    assert [p.data for p in got] == [bytes(range(100))]


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_completion_fault_while_the_next_frame_is_read(dut):
    """Goal: a TX chain whose queue goes to ERR while its frame is still being read (the
    completion before it failed) leaves no trace on the wire, whenever the engine learns of
    that fault: here before the frame's last beat is read, where the last beat
    test_completion_fault_undoes_the_next_chain holds was already read.
    Stimulus: (RTL only: the reference has no bus) two TX chains of 1500 bytes kicked
    together on a queue whose first used element answers SLVERR at once: the first
    completion fails one write round trip after the first frame is read, with the second
    (about 190 beats at DATA_W 64, 380 at 32) still being read; long enough for the second's walk
    to be done by then on a host that answers late too (one queue pair: on a late host a
    second queue's walk, finding its ring empty, would wait for the failing completion with
    its avail_event write and hold the walker).
    Check: one EIO on the queue; the first frame delivered, not completed (used.idx 0); the
    second closed with the abort flag and not delivered (with PIPELINE 0 it never starts);
    the queue in ERR. An engine that lets the frame's last beat out unflagged because the
    drop was decided at its done, before that beat left (`tail_drop_reg` in vdpa_vq_engine),
    fails here."""
    tb, drv, v, net = await dut_alone(dut, queue_size=16)
    tx = net.tx_vq(0)
    elem0 = tx.used_gpa + spec.VRING_USED_RING_OFF
    tb.target.poison(elem0, elem0 + spec.VRING_USED_ELEM_SIZE)
    frames = [bytes([k]) * 1500 for k in (1, 2)]
    for f in frames:
        net.send(0, f, kick=False)
    await flows.kick_if_needed(v, tx)
    await drv.settle()
    f = drv.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(1, errno.EIO)], f
    assert [p.data for p in drv.take_tx()] == frames[:1]
    assert drv.tx_aborted == (1 if param("PIPELINE", 1) else 0), drv.tx_aborted
    assert tb.mem.read_u16(tx.used_gpa + spec.VRING_USED_IDX_OFF) == 0
    q = await drv.query_vq(1)
    assert q["state"] == VqObjectState.ERR and q["used"] == 0, q


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_no_avail_event_behind_a_failing_completion(dut):
    """Goal: the walker's one write, avail_event (EVENT_IDX), is made only where a
    one-chain-at-a-time device would make it: not while the completion ahead of it may still
    fault. Such a device finds the ring empty, and publishes avail_event, only after that
    completion; if the completion fails, the queue stops first (virtio 1.2 §2.7.10 and
    §2.1.2; drivers/vhost/vringh.c: vringh_notify_enable_kern after the ring ran dry).
    Stimulus: (RTL only: the reference has no bus timing) EVENT_IDX; one TX chain on a queue
    whose first used element answers SLVERR, the write responses held back (B_HELD) so that
    the walker finds the ring empty while that answer is still to come.
    Check: the kick was made (avail_event allowed it); one EIO on the queue, used.idx 0, and
    avail_event as it was before the kick. A
    walker that publishes avail_event beside the completion (mutant avail_event_early) fails
    here."""
    tb, drv, v, net = await dut_alone(dut)
    assert net.event_idx, "the test needs avail_event"
    tx = net.tx_vq(0)
    elem0 = tx.used_gpa + spec.VRING_USED_RING_OFF
    tb.target.poison(elem0, elem0 + spec.VRING_USED_ELEM_SIZE)
    avail_event = tx.used_gpa + spec.avail_event_off(tx.num)
    before = tb.mem.read_u16(avail_event)
    net.send(0, bytes(range(64)), kick=False)
    tb.set_stall("b", B_HELD)
    assert await flows.kick_if_needed(v, tx), "no kick"
    await drv.settle()
    tb.set_stall("b", None)
    f = drv.take_faults()
    assert [(x.vq, x.errno) for x in f] == [(1, errno.EIO)], f
    assert tb.mem.read_u16(tx.used_gpa + spec.VRING_USED_IDX_OFF) == 0
    assert tb.mem.read_u16(avail_event) == before, \
        f"avail_event {tb.mem.read_u16(avail_event)} (was {before}) published behind a " \
        "failing completion"


def rings_own_range(vq: GuestVirtqueue) -> tuple[int, int, list[IotlbRange]]:
    """Guest RAM mapped IOVA = GPA as ranges, the pages of ``vq``'s rings ``[lo, hi)`` one of
    them: (lo, hi, the ranges). An unmap removes every range it overlaps (drivers/vhost/
    iotlb.c: vhost_iotlb_del_range), so the rings get a range of their own, with a page left
    out on each side where there is room (a parent may merge ranges that run on, as mlx5's
    direct MRs do); whatever else the allocator put in those pages goes with them."""
    lo = min(vq.desc_gpa, vq.avail_gpa, vq.used_gpa) & ~0xFFF
    hi = (vq.used_gpa + spec.used_ring_size(vq.num) + 0xFFF) & ~0xFFF
    ranges = [IotlbRange(a, b - a, a, spec.VHOST_ACCESS_RW)
              for a, b in ((RAM_BASE, lo - 0x1000), (lo, hi), (hi + 0x1000, RAM_BASE + RAM_SIZE))
              if b > a]
    return lo, hi, ranges


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_used_ring_made_read_only_between_chains(dut):
    """Goal: what the walker knows of the completion's translations (the used ring page and
    used.idx translate for writing, so a chain there skips the before-any-data check) is
    forgotten at every IOTLB command, so a used ring remapped read-only between two chains
    faults the second before its frame moves, as the first chain's check would have
    (drivers/vhost/iotlb.c: the new range replaces the old; docs/rtl-interface.md "Chains in
    flight": the completion's items translated before any data moves).
    Stimulus: (RTL only) the rings mapped as a range of their own; one frame sent on a
    transmit queue (its completion's page now known); that range unmapped and mapped again
    read-only (the avail and descriptor reads still translate); one more frame sent.
    Check: the first frame out and used; then one EFAULT on the queue, nothing more on the
    wire, used.idx still 1. A walker that keeps what it knew across the IOTLB commands
    (mutant used_page_kept) sends the second frame and faults only at its completion."""
    # (the allocator puts the receive rings and the first frames' buffers in the transmit
    # rings' pages too, which read-only still lets the device read)
    tb, drv, v, net = await dut_alone(dut, ranges_of=lambda n: rings_own_range(n.tx_vq(0))[2])
    tx = net.tx_vq(0)
    ring_lo, ring_hi, _ = rings_own_range(tx)
    first, second = bytes([0x41]) * 64, bytes([0x42]) * 64
    got = await flows.transmit(v, drv, net, 0, [first])
    assert [p.data for p in got] == [first]
    assert tb.mem.read_u16(tx.used_gpa + spec.VRING_USED_IDX_OFF) == 1
    await drv.dma_unmap(0, ring_lo, ring_hi - ring_lo)
    await drv.dma_map(0, ring_lo, ring_hi - ring_lo, ring_lo, spec.VHOST_ACCESS_RO)
    net.send(0, second, kick=False)
    await flows.kick_if_needed(v, tx)
    await drv.settle()
    faults = [(f.vq, f.errno) for f in drv.take_faults()]
    assert faults == [(1, errno.EFAULT)], faults
    out = [p.data for p in drv.take_tx()]
    assert out == [], f"{len(out)} frame(s) left after the used ring became read-only"
    assert tb.mem.read_u16(tx.used_gpa + spec.VRING_USED_IDX_OFF) == 1


@cocotb.test(timeout_time=60000, timeout_unit=US)
async def test_unmap_lands_between_receive_chains(dut):
    """Goal: an unmap racing receive traffic takes effect between chains, so a chain's
    completion never fails translation after its data moved and a receive chain started
    beside that completion never leaves a frame in a buffer that is not used (what lets the
    engine start a receive chain before the completion ahead of it, docs/rtl-interface.md
    "Chains in flight"; vdpa_iotlb's drain).
    Stimulus: (RTL only: a race) guest RAM mapped as ranges, one of them the pages of the
    receive queue's rings; two 2048-byte buffers posted, a 1500-byte and a 64-byte frame, and
    that range unmapped D cycles after the frames went in, D from 8 in steps of 8 until the
    unmap comes with the data path idle after both chains (the device reset and the range
    mapped again between tries).
    Check: each try ends in one EFAULT on the queue or in both chains used; a buffer holds
    data only if its chain was used; the sweep issued the unmap while a chain's data was
    moving at least three times (the unmap then waits for it). An IOTLB that unmaps mid-chain
    (mutant unmap_no_drain) fails here."""
    tb = Tb(dut)
    drv = await tb.start()
    v = VhostVdpa(drv)
    await flows.open_device(v)

    def guest() -> GuestNetDriver:
        # the same layout every time: a fresh allocator hands out the same addresses
        return GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=1,
                              queue_size=64, features=drv.device_features)

    net = guest()
    rx = net.rx_vq(0)
    ring_lo, ring_hi, ranges = rings_own_range(rx)
    await v.map(0, ranges, batch=True)
    await flows.start_device(v, net.vqs, features=net.features)
    eng = tb.engine()
    untouched = bytes([0xA5]) * 2048
    frames = [bytes([0x31]) * 1500, bytes([0x32]) * 64]
    bufs = [RAM_BASE + 0x18_0000 + k * 0x1000 for k in range(2)]
    mid_chain = 0
    # from an unmap before the first walk on, every 8 cycles, until it comes with the data path
    # idle after both chains (how long they take depends on the build's bus width)
    for delay in range(8, 8000, 8):
        for b in bufs:
            tb.mem.write(b, untouched)
            rx.post_iova_chain([(b, 2048, True)])
        await flows.kick_if_needed(v, rx)
        for fr in frames:
            await drv.inject_rx(0, fr)
        await tb.cycles(delay)
        busy = int(eng.eng_busy.value)
        mid_chain += int(eng.ms_state_reg.value) != 0
        await drv.dma_unmap(0, ring_lo, ring_hi - ring_lo)
        await drv.settle()
        faults = [(f.vq, f.errno) for f in drv.take_faults()]
        used = (await drv.query_vq(0))["used"]
        written = [tb.mem.read(b, 2048) != untouched for b in bufs]
        tb.log.info("D %d: faults %s, used %d, buffers written %s", delay, faults, used,
                    written)
        assert faults == [(0, errno.EFAULT)] or (not faults and used == 2), (delay, faults, used)
        assert written == [k < used for k in range(2)], \
            f"D {delay}: {used} chains used, buffers written {written}"
        if not faults and not busy:
            break
        # a fresh device for the next try: the range back (the parent's table only: vhost's
        # never lost it), reset (the maps persist), the rings laid out again
        await drv.dma_map(0, ring_lo, ring_hi - ring_lo, ring_lo, spec.VHOST_ACCESS_RW)
        await v.set_status(0)
        net = guest()
        rx = net.rx_vq(0)
        await flows.start_device(v, net.vqs, features=net.features)
    assert not faults, "the unmap never came after both chains"
    assert mid_chain >= 3, f"the unmap was issued during a chain's data {mid_chain} times"
    tb.assert_dma_clean()


@cocotb.test(timeout_time=20000, timeout_unit=US)
async def test_dma_outside_mappings_fails_the_run(dut):
    """Goal: a device that reaches memory outside the mappings in force fails the run, whatever
    bus models serve it (on the fast path its accesses reach Python only in bulk).
    Stimulus: guest RAM mapped through vhost-vdpa and the contract shadow; then a MAP sent to
    the device behind the parent's back, so it translates a TX buffer, and then an RX buffer,
    to a page no mapping allows (a device with a broken IOTLB).
    Check: each settle fails naming the rogue read and write and their page; the shadow's
    isolation check, fed from the same access log, flags them too; the transmitted frame is
    the rogue page's bytes (nothing was lost on the way)."""
    tb = Tb(dut)
    log = AccessLog()
    tb.target.access_log = log
    drv = await tb.start()
    shadow = ContractShadow(drv, frozenset({0}))
    v = VhostVdpa(shadow)
    await flows.open_device(v)
    await flows.map_guest_memory(v, [flows.MemoryRegion(RAM_BASE, RAM_SIZE)])
    net = GuestNetDriver(tb.mem, Allocator(RAM_BASE, RAM_BASE + RAM_SIZE), queue_pairs=1,
                         queue_size=16, features=drv.device_features)
    await flows.start_device(v, net.vqs, features=net.features)
    await flows.transmit(v, drv, net, 0, [bytes(range(100))])
    mark = len(log)
    assert not shadow.violations(log.entries()), "clean traffic must judge clean"

    tb.log.info("Test a TX buffer the device translates to a page nobody mapped")
    rogue_iova, rogue_pa = 0x4000_0000, RAM_BASE + RAM_SIZE + 0x1_0000
    c = await tb.port.execute("MAP", ASID=0, IOVA_LO=rogue_iova, LAST_LO=rogue_iova + 0xFFF,
                              PA_LO=rogue_pa, PERM=spec.VHOST_ACCESS_RW)
    assert c.ok
    secret = bytes(range(64, 128))
    tb.mem.write(rogue_pa, secret)
    tx = net.tx_vq(0)
    tx.post_iova_chain([(rogue_iova, len(secret), False)])
    await flows.kick_if_needed(v, tx)
    for write, post in ((False, None), (True, net.rx_vq(0))):
        if post is not None:
            tb.log.info("Test an RX buffer the device writes in that page")
            post.post_iova_chain([(rogue_iova + 0x800, 256, True)])
            await flows.kick_if_needed(v, post)
            await drv.inject_rx(0, bytes(100))
        try:
            await drv.settle()
        except AssertionError as e:
            what = "write" if write else "read"
            assert "outside the mappings in force" in str(e) and f"BUFFER {what}" in str(e), e
            assert f"pa {rogue_pa + (0x800 if write else 0):#x}" in str(e), e
        else:
            raise AssertionError(f"a rogue {'write' if write else 'read'} went unnoticed")
        bad = shadow.violations(log.entries(mark))
        assert any("outside every mapping of asid 0" in b for b in bad), bad
        mark = len(log)
    assert [p.data for p in drv.take_tx()] == [secret[net.hdr_len:]]
    assert tb.target.log.touching(rogue_pa, rogue_pa + 0x1000, write=True) > 0
    try:
        tb.assert_dma_clean()
    except AssertionError:
        pass
    else:
        raise AssertionError("assert_dma_clean passed over the rogue accesses")
