# SPDX-License-Identifier: MIT
"""pyuvm tests of vdpa_nic_top: each test is a fresh uvm world (env, agent, scoreboard,
coverage) over a fresh device context, runs one feature sequence, and is judged by the
scoreboard (lockstep with the reference device, expected outcomes, isolation) and by its
required coverage bins. The pytest entry is tests/rtl/test_vdpa_nic_uvm.py."""

from __future__ import annotations

import os
import random
from typing import Any, ClassVar

import cocotb
import pyuvm
from pyuvm import ConfigDB, uvm_test

from vdpa_tb.devices import load_device
from vdpa_tb.uvm import config as K
from vdpa_tb.uvm import hostile as H
from vdpa_tb.uvm import sequences as S
from vdpa_tb.uvm.components import VdpaEnv
from vdpa_tb.uvm.coverage import (
    LAYOUTS,
    OP_ERRORS,
    RING_CASES,
    SIZE_BUCKETS,
    VQ_TRANSITIONS,
    CoverageModel,
)

TIMEOUT = {"timeout_time": 200, "timeout_unit": "ms"}
#: the hostile tests run longer sequences (storms, churn) and the virtual sequence many of them
HOSTILE_TIMEOUT = {"timeout_time": 2000, "timeout_unit": "ms"}


def bins(cg: str, names: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    return [(cg, b) for b in names]


class VdpaBaseTest(uvm_test):
    """Builds the env and the device context; runs ``seq_cls`` under one objection."""

    seq_cls: type = S.BringUpSeq
    seq_kw: ClassVar[dict[str, Any]] = {}
    required: ClassVar[list[tuple[str, str]]] = []

    def build_phase(self) -> None:
        # the seed comes from cocotb's seeded random, so COCOTB_RANDOM_SEED reproduces a run;
        # VDPA_SEQ_SEED reruns one test alone with the sequence seed a group's log printed
        seed = random.getrandbits(32)
        if os.environ.get("VDPA_SEQ_SEED"):
            seed = int(os.environ["VDPA_SEQ_SEED"], 0)
        device = load_device()  # $VDPA_DEVICE, set by vdpa_tb.sim.run(device=...)
        self.ctx = device.context_class()(cocotb.top, device)
        self.ctx.log.info("%s on %s: sequence seed %d", type(self).__name__, device.name, seed)
        ConfigDB().set(None, "*", K.DEVICE_CTX, self.ctx)
        ConfigDB().set(None, "*", K.SEQ_SEED, seed)
        ConfigDB().set(None, "*", K.RANDOM_ROUNDS, 24)
        ConfigDB().set(None, "*", K.COVERAGE_NAME, type(self).__name__)
        ConfigDB().set(None, "*", K.REQUIRED_BINS, list(self.required))
        self.env = VdpaEnv("env", self)

    def end_of_elaboration_phase(self) -> None:
        self.seq = self.seq_cls(**self.seq_kw)

    async def run_phase(self) -> None:
        self.raise_objection()
        await self.ctx.start()
        seqr = ConfigDB().get(None, "", K.SEQR)
        try:
            await self.seq.start(seqr)
        except S.StimulusStopped as e:
            # the scoreboard reports the item that stopped the lockstep, in check_phase
            self.ctx.log.error("stimulus stopped: %s", e)
        self.drop_objection()


@pyuvm.test(**TIMEOUT)
class BringUpTest(VdpaBaseTest):
    """Goal: QEMU's open/map/start order brings the device up; both directions carry frames.
    Stimulus: open, backend features, one batched map, status handshake, per-VQ num/addr/
    base/enable on two queue pairs, DRIVER_OK; one TX and one RX frame per pair.
    Check: scoreboard (lockstep on every op and settle, expected "ok" outcomes, frames as
    sent, no isolation violation); INIT->RDY seen for the started VQs."""

    seq_cls = S.BringUpSeq
    required = bins("vq_state_cg", ["INIT->RDY"]) + bins("op_outcome_cg", [
        "set_vq_num:ok", "set_vq_address:ok", "set_vq_state:ok", "set_vq_ready:ok",
        "set_status:ok", "kick_vq:ok", "dma_map:ok"])


@pyuvm.test(**TIMEOUT)
class TrafficTest(VdpaBaseTest):
    """Goal: every descriptor layout carries every frame size, both directions.
    Stimulus: bring-up, then simple / split-header / indirect chains with one small, one
    medium and one near-MTU frame per queue pair and direction.
    Check: scoreboard; traffic_cg fully covered."""

    class Seq(S.VdpaBaseSeq):
        async def body(self) -> None:
            await S.BringUpSeq().start(self.sequencer)
            await S.TrafficSeq().start(self.sequencer)

    seq_cls = Seq
    required = bins("traffic_cg", [f"{lay}:{b}:{d}" for lay in LAYOUTS for b in SIZE_BUCKETS
                                   for d in ("tx", "rx")])


@pyuvm.test(**TIMEOUT)
class SuspendResumeTest(VdpaBaseTest):
    """Goal: suspend stops all work, the state read is exact, resume continues.
    Stimulus: traffic, suspend, vring bases of every VQ, a TX burst kicked while suspended,
    resume; suspend/get_vq_state/resume twice more.
    Check: bases equal the guest's used index; nothing moves while suspended (no frame, no
    used-index change, no DMA); held frames leave in order after resume; RDY<->SUSPEND."""

    seq_cls = S.SuspendResumeSeq
    required = bins("vq_state_cg", ["RDY->SUSPEND", "SUSPEND->RDY"]) + bins(
        "op_outcome_cg", ["suspend:ok", "resume:ok", "get_vq_state:ok"])


@pyuvm.test(**TIMEOUT)
class ResetTest(VdpaBaseTest):
    """Goal: reset keeps the IOTLB with IOTLB_PERSIST and cleans it with CLEAN_MAP.
    Stimulus: resets of both kinds with the data rings' group bound to ASID 0 and ASID 1;
    traffic after each reset without remapping.
    Check: scoreboard (lockstep memory, isolation against the shadow's maps after each reset);
    reset_kind_cg fully covered."""

    seq_cls = S.ResetSeq
    required = bins("reset_kind_cg", [f"{k}:rings_asid{a}" for k in ("persist", "clean_map")
                                      for a in (0, 1)]) + bins("op_outcome_cg", [
        "compat_reset:ok", "reset:ok", "reset_map:ok", "set_group_asid:ok"])


@pyuvm.test(**TIMEOUT)
class DescAsidTest(VdpaBaseTest):
    """Goal: a VQ's rings go through their descriptor group's ASID, buffers through the data
    group's.
    Stimulus: guest RAM in ASID 0 and ASID 1, data-ring group 2 bound to ASID 1, traffic with
    indirect tables (which belong to the data group) on two pairs.
    Check: scoreboard isolation: each DMA's ASID (AXI user sideband) is the one its group is
    bound to in the shadow's independent record."""

    seq_cls = S.DescAsidSeq
    required = bins("op_outcome_cg", ["get_vq_group:ok", "get_vq_desc_group:ok",
                                      "set_group_asid:ok"])


@pyuvm.test(**TIMEOUT)
class FeatureTest(VdpaBaseTest):
    """Goal: the data path works under every EVENT_IDX x INDIRECT_DESC x MQ negotiation.
    Stimulus: eight resets and bring-ups, one per combination, TX and RX on each pair.
    Check: scoreboard; feature_combo_cg fully covered."""

    seq_cls = S.FeatureSeq
    required = bins("feature_combo_cg", list(CoverageModel()["feature_combo_cg"].bins))


@pyuvm.test(**TIMEOUT)
class BadRingTest(VdpaBaseTest):
    """Goal: each ring catalogue entry that runs in lockstep gets the catalogue's response.
    Stimulus: one entry per device life (vdpa_model.ringcases: head/next out of range, loops,
    indirect length and nesting, wrong direction, unmapped / read-only buffers, rings moved
    out of the mappings, avail.idx too far ahead, ...).
    Check: exactly one fault on that VQ with the catalogue's errno and fault site, NEEDS_RESET,
    the VQ in ERR in both devices, the other transmit queue still works; ring_error_cg fully
    covered."""

    seq_cls = S.BadRingSeq
    required = bins("ring_error_cg", list(RING_CASES)) + bins("vq_state_cg", ["RDY->ERR"])


@pyuvm.test(**TIMEOUT)
class OpsSweepTest(VdpaBaseTest):
    """Goal: every VdpaOps op answers as the contract says for good and bad arguments.
    Stimulus: queries, out-of-range indices and sizes, bad group/ASID, dma_map/unmap, ready
    toggling on a running queue, reset.
    Check: the contract's errno where it fixes one, the lockstep everywhere."""

    seq_cls = S.OpsSweepSeq
    required = bins("op_outcome_cg", [f"{op}:{e}" for op, errs in OP_ERRORS.items()
                                      for e in errs])


@pyuvm.test(**TIMEOUT)
class RandomMixTest(VdpaBaseTest):
    """Goal: long seeded random traffic stays identical to the reference.
    Stimulus: 24 random rounds over four queue pairs of TX/RX (random layout and size) and
    suspend / read base / resume. Check: scoreboard."""

    seq_cls = S.RandomMixSeq
    required = bins("op_outcome_cg", ["kick_vq:ok", "suspend:ok"])


@pyuvm.test(**TIMEOUT)
class FullCoverageTest(VdpaBaseTest):
    """Goal: one device life runs every feature sequence back to back.
    Stimulus: sweep, bring-up, traffic, suspend/resume, desc ASID, features, bad rings,
    resets, each starting from whatever state the previous one left.
    Check: scoreboard; every VQ state transition and ring error class is hit in this one
    run (bad rings are followed by resets, so ERR->INIT is reachable)."""

    seq_cls = S.FullSeq
    required = bins("vq_state_cg", list(VQ_TRANSITIONS)) + bins(
        "ring_error_cg", list(RING_CASES))


# -- constrained-random stimulus with teeth (tb/vdpa_tb/uvm/hostile.py) --------------------------
# Each test runs one hostile sequence from its seed; a run must have hit some bin of that
# sequence's covergroup. Closing the covergroups takes many seeds (make regress).
@pyuvm.test(**HOSTILE_TIMEOUT)
class IllegalOpsTest(VdpaBaseTest):
    """Goal: illegal ops get the contract's errno in every state and change nothing.
    Stimulus: IllegalOpsSeq: ops refused for the state, VQ / group / ASID out of range,
    overlapping UPDATEs, batch misuse, legal ops and traffic between them.
    Check: scoreboard (each errno as drivers/vhost/vdpa.c gives it, lockstep, traffic after)."""

    seq_cls = H.IllegalOpsSeq
    required = bins("illegal_op_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class RingMixTest(VdpaBaseTest):
    """Goal: a malformed ring among healthy ones harms only its own queue.
    Stimulus: RingMixSeq: catalogue rings after healthy chains and beside traffic, kicked
    together. Check: healthy work all done, the catalogue's fault, lockstep."""

    seq_cls = H.RingMixSeq
    required = bins("ring_mix_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class SuspendStormTest(VdpaBaseTest):
    """Goal: suspend racing traffic stops it exactly where the vring bases say.
    Stimulus: SuspendStormSeq: TX and RX in flight, suspend after a random delay, bases,
    kicks while suspended, resume; several rounds. Check: bases equal the used indices the
    guest sees, lockstep after the reference catches up, every frame out in order."""

    seq_cls = H.SuspendStormSeq
    required = bins("suspend_race_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class ResetMixTest(VdpaBaseTest):
    """Goal: every reset kind, in every state, leaves the maps the contract says.
    Stimulus: ResetMixSeq: status 0 with and without IOTLB_PERSIST, reset, compat_reset with
    and without CLEAN_MAP, reset_map per ASID, from configuring / running / suspended /
    needs_reset. Check: lockstep, traffic afterwards with only the lost maps re-made."""

    seq_cls = H.ResetMixSeq
    required = bins("reset_mix_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class RebindTest(VdpaBaseTest):
    """Goal: group and ASID rebinding follows the contract in every state.
    Stimulus: RebindSeq: SET_GROUP_ASID of each group to each ASID, through vhost-vdpa and
    the parent op. Check: EBUSY once DRIVER_OK through vhost-vdpa; traffic after it through
    the new binding, every access judged against the binding in force."""

    seq_cls = H.RebindSeq
    required = bins("rebind_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class MapChurnTest(VdpaBaseTest):
    """Goal: maps and unmaps in batches or not, and refused overlaps, in every state.
    Stimulus: MapChurnSeq: IOVA windows mapped and unmapped in both ASIDs, overlapping
    UPDATEs, TX through the mapped windows. Check: EEXIST for overlaps, lockstep, isolation."""

    seq_cls = H.MapChurnSeq
    required = bins("map_churn_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class UnmapRaceTest(VdpaBaseTest):
    """Goal: an unmap racing traffic is atomic: before it, chains complete; after it, they
    fault, and nothing touches the range. Stimulus: UnmapRaceSeq: TX from a window, the
    window unmapped after a random delay. Check: a prefix of the frames, EFAULT after it,
    lockstep once the reference catches up, isolation at the moment of the unmap."""

    seq_cls = H.UnmapRaceSeq
    required = bins("unmap_race_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class BusErrorTest(VdpaBaseTest):
    """Goal: a host error response is EIO on that VQ and harms nothing else.
    Stimulus: BusErrorSeq: poisoned TX / RX buffers, RX data segment, used rings,
    descriptor table, beside traffic. Check: one EIO, lockstep with the reference told of
    the same poisoned range, the other queues unharmed."""

    seq_cls = H.BusErrorSeq
    required = bins("bus_error_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class StallCrossTest(VdpaBaseTest):
    """Goal: traffic is exact under every combination of AXI idle and backpressure.
    Stimulus: StallCrossSeq: idle x backpressure 2 x 2, TX and RX under each.
    Check: scoreboard; stall_cg fully covered."""

    seq_cls = H.StallCrossSeq
    required = bins("stall_cg", list(CoverageModel()["stall_cg"].bins))


@pyuvm.test(**HOSTILE_TIMEOUT)
class RxFloodTest(VdpaBaseTest):
    """Goal: a receive queue with no buffer never holds up the others, and loses only its own
    oldest frames. Stimulus: RxFloodSeq: up to 14 frames for a queue with no buffer, beside
    other queues' frames or not, then its buffers. Check: the other queues get every frame
    at once; the starved queue the newest of its frames, in order, then new frames exactly;
    lockstep with the reference told which frames the DUT dropped; rx_flood_cg covered."""

    seq_cls = H.RxFloodSeq
    required = bins("rx_flood_cg", ["*"])


@pyuvm.test(**HOSTILE_TIMEOUT)
class HostileMixTest(VdpaBaseTest):
    """Goal: the hostile sequences mixed on one device life never make the DUT and the
    reference disagree, break isolation or hang. Stimulus: HostileMixSeq (the virtual
    sequence): the hostile sequences in random order and number, stalls switched between
    them. Check: scoreboard; this is the test bench/bench_hostile.py runs over seeds."""

    seq_cls = H.HostileMixSeq
    required = bins("op_outcome_cg", ["*"])


@pyuvm.test(expect_fail=True, **TIMEOUT)
class CoverageHoleTest(VdpaBaseTest):
    """Goal: prove the coverage check can fail (pyuvm SimpleMem's negative test).
    Stimulus: bring-up, while requiring a bin no stimulus reaches (suspend answering EBUSY).
    Check: report_phase raises; the test is expected to fail."""

    seq_cls = S.BringUpSeq
    required: ClassVar[list[tuple[str, str]]] = [("op_outcome_cg", "suspend:EBUSY")]
