# SPDX-License-Identifier: MIT
"""The mutant catalogue: deliberate bugs built into the reference RTL, one build parameter each,
to prove that the regression catches the kind of bug a vendor's device could have.

The ids (``MUT_<NAME> = <value>``) live in one place, ``rtl/vdpa_mutants_pkg.sv``, which the RTL
imports; this module reads them from there and adds, per mutant, what it breaks, the kernel or
spec rule it violates, and the tests expected to kill it. Each hook in the RTL is a
``MUTANT == MUT_<NAME>`` (or ``!=``) comparison marked ``// mutant MUT_<NAME>``, in one place,
or two where the behaviour has two commands (suspend and resume: per VQ and for all VQs);
tests/rtl/test_mutants.py checks the package, this catalogue and the hooks against each other.

``make mutate`` (``python -m vdpa_tb.regress mutate``, :mod:`vdpa_tb.regress.mutate`) builds
every mutant as a build of the regression configuration (the base build's parameters plus
``MUTANT``), runs the kill set on it and on the unmutated build in the same run, and reports
which tests killed which mutant (docs/mutation.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .sim import RTL_DIR

#: the package of mutant ids the RTL imports
PKG = RTL_DIR / "vdpa_mutants_pkg.sv"
#: the build parameter that selects a mutant (0: none)
PARAM = "MUTANT"
#: the build of the regression configuration a mutant is built from by default
BASE_BUILD = "default"
_ID = re.compile(r"^\s*localparam\s+int\s+(MUT_[A-Z0-9_]+)\s*=\s*(\d+)\s*;", re.M)


class MutantCatalogueError(ValueError):
    """The package and the catalogue disagree (names the file and the id)."""


def read_ids(path: Path = PKG) -> dict[str, int]:
    """``MUT_<NAME>`` -> value, as declared in the package (MUT_NONE included)."""
    ids: dict[str, int] = {}
    for name, value in _ID.findall(path.read_text()):
        if name in ids:
            raise MutantCatalogueError(f"{path.name}: {name} declared twice")
        ids[name] = int(value)
    return ids


@dataclass(frozen=True)
class Mutant:
    """One deliberate bug. ``name`` is the package id without ``MUT_``, lower case."""

    name: str
    breaks: str
    rule: str
    #: tests or groups of the kill set (vdpa_tb.regress.mutate.KILL_SET) expected to kill it,
    #: run first on its build
    killers: tuple[str, ...]
    #: the module the hook is in (rtl/<module>.sv)
    module: str
    #: the build of the regression configuration it is made from (its parameters + MUTANT):
    #: the device, or a block-level bench where only that bench can reach the behaviour (the
    #: parent driver never overlaps a RESET with other commands)
    base: str = BASE_BUILD

    @property
    def ident(self) -> str:
        return f"MUT_{self.name.upper()}"

    @property
    def value(self) -> int:
        return IDS[self.ident]

    @property
    def build(self) -> str:
        """Its build in the mutation campaign."""
        return f"mutant-{self.name.replace('_', '-')}"



CATALOGUE: tuple[Mutant, ...] = (
    Mutant("suspend_no_drain",
           "SUSPEND (MODIFY_VQ to SUSPEND, SUSPEND_ALL) completes while a chain is still in "
           "flight on the VQ; the chain goes on and completes after the suspend returned",
           "drivers/vdpa/mlx5/net/mlx5_vnet.c: suspend_vq (the firmware stops the queue before "
           "MODIFY returns); drivers/vhost/vdpa.c: vhost_vdpa_suspend (no buffer used after)",
           ("test_suspend_waits_for_chain_in_flight", "test_suspend_with_work_in_flight"),
           "vdpa_vq_ctx"),
    Mutant("no_needs_reset",
           "a VQ that faults goes to ERR and reports the fault, but DEVICE_NEEDS_RESET is not "
           "raised in the device status",
           "virtio 1.2 §2.1.2 (the device sets DEVICE_NEEDS_RESET when it enters an error "
           "state); vdpa_sim / mlx5 set it on a VQ error",
           ("test_ring_case", "test_iotlb_translation_and_faults"), "vdpa_vq_ctx"),
    Mutant("resume_drops_kick",
           "resuming a suspended VQ re-arms its doorbell: a kick that arrived while suspended "
           "is lost and its buffers wait for the next kick",
           "drivers/vhost/vdpa.c: vhost_vdpa_resume; mlx5_vnet.c: resume_vq (the queue "
           "resumes where it stopped and looks at the ring); virtio 1.2 §2.9",
           ("test_suspend_resume_state", "test_suspend_with_work_in_flight", "SuspendResumeTest",
            "uvm"), "vdpa_vq_ctx"),
    Mutant("indirect_len_unchecked",
           "an indirect descriptor whose length is not a multiple of 16 is accepted; the table "
           "is walked for len / 16 entries",
           "drivers/vhost/vringh.c: move_to_indirect (len % sizeof(struct vring_desc) -> "
           "EINVAL); virtio 1.2 §2.7.5.3.1",
           ("test_ring_case", "BadRingTest", "uvm"), "vdpa_split_ring_walker"),
    Mutant("indirect_via_ring_group",
           "indirect descriptor tables are read through the VQ's descriptor (ring) group's "
           "ASID instead of its data group's",
           "include/linux/vdpa.h: get_vq_desc_group (only the descriptor table, driver and "
           "device areas belong to the descriptor group); mlx5_vnet.c: desc_group_mkey",
           ("DescAsidTest", "uvm"), "vdpa_split_ring_walker"),
    Mutant("rx_num_buffers_zero",
           "received frames get num_buffers = 0 in their virtio_net_hdr_v1",
           "virtio 1.2 §5.1.6.4 (num_buffers is 1 when a packet uses one buffer, with "
           "VERSION_1 or MRG_RXBUF)",
           ("test_traffic_lockstep", "TrafficTest", "uvm"), "vdpa_vq_engine"),
    Mutant("tx_used_len_nonzero",
           "a transmitted chain completes with the bytes read as used.len instead of 0",
           "virtio 1.2 §2.7.8 (len: bytes written into the buffer; a TX chain has no writable "
           "buffer); drivers/vdpa/vdpa_sim/vdpa_sim_net.c: vdpasim_net_work completes with 0",
           ("test_traffic_lockstep", "TrafficTest", "uvm"), "vdpa_used_writer"),
    Mutant("used_idx_early",
           "used.idx is written before the used element (the element is published unwritten); "
           "memory at every settle point is the same as the correct device's",
           "virtio 1.2 §2.7.8.2 (the device MUST set len prior to updating the used idx); "
           "drivers/vhost/vringh.c: __vringh_complete (the element, a write barrier, the index)",
           ("test_traffic_lockstep",), "vdpa_used_writer"),
    Mutant("straddle_faults",
           "a ring item (descriptor, avail entry, used element) across two IOTLB ranges is not "
           "split: it faults with EFAULT",
           "drivers/vhost/vringh.c: copy_from_iotlb / copy_to_iotlb, iotlb_translate (an "
           "access split into one iovec per range)",
           ("test_ring_case", "RingMixTest", "uvm"), "vdpa_ring_port"),
    Mutant("iotlb_ignore_write_perm",
           "the IOTLB translates a device write through a read-only mapping",
           "drivers/vhost/iotlb.c and vringh.c: iotlb_translate (perm must include "
           "VHOST_MAP_WO for a write, else EFAULT)",
           ("test_ring_case", "BadRingTest", "uvm"), "vdpa_iotlb"),
    Mutant("reset_keeps_groups",
           "a device reset leaves every VQ group bound to the ASID it had",
           "drivers/vdpa/vdpa_sim/vdpa_sim.c: vdpasim_do_reset, mlx5_vnet.c: "
           "mlx5_vdpa_compat_reset -> init_group_to_asid_map (groups back on ASID 0)",
           ("ResetMixTest", "ResetTest", "uvm"), "vdpa_iotlb"),
    Mutant("reset_map_no_identity",
           "RESET_MAP empties the ASID's table but does not restore its identity default",
           "include/linux/vdpa.h: reset_map (the ASID returns to the parent's default "
           "mapping); mlx5_vnet.c: mlx5_vdpa_reset_map -> the 1:1 DMA MR",
           ("test_reset_keeps_or_cleans_maps",), "vdpa_iotlb"),
    Mutant("stale_table_hit",
           "a translation does not check which table a range entry belongs to: ranges of a "
           "table switched out by a map change, or of another ASID, still translate",
           "drivers/vhost/vdpa.c: vhost_vdpa_process_iotlb_msg / vhost_vdpa_unmap (once unmapped "
           "the device must not reach it); ASID isolation (include/linux/vdpa.h: set_map per asid)",
           ("test_iotlb_translation_and_faults",), "vdpa_iotlb"),
    Mutant("r_routed_by_grant",
           "the AXI arbiter sends each read-data beat to the master whose AR it took last "
           "instead of the one its RID names: right while one master at a time has reads "
           "outstanding, wrong once the walker's, the completion writer's and the mover's "
           "reads overlap (their data go to each other). The test host's memory takes one "
           "read burst at a time, so on the device only a last beat held by backpressure "
           "while the next AR is taken overlaps: the stall-crossed sequences reach it",
           "AXI4 (ARM IHI 0022) §A5.3: RID names the transaction a read beat belongs to, "
           "responses of different IDs may come in any order; docs/rtl-interface.md (the "
           "arbiter's contract: R and B back by RID/BID)",
           ("StallCrossTest", "uvm"), "vdpa_axi_arb"),
    Mutant("reset_not_barrier",
           "RESET is dispatched beside the commands still in flight instead of after them",
           "mlx5_vnet.c: mlx5_vdpa_reset runs under reslock after the queue commands; "
           "docs/rtl-interface.md (RESET orders after every command before it)",
           ("test_reset_barrier",), "vdpa_cmd_proc", base="cmd_proc-slots3"),
    Mutant("refill_keeps_stale",
           "the walker keeps what its background refill read although a VQ or IOTLB command "
           "came while it was being read (the read-ahead is dropped at the command, then "
           "refilled from before it). On the device the refill ends before an IOTLB command "
           "runs and a VQ command of its queue waits for it, so only the walker's bench, "
           "which pulses a command into the refill, sees the stale descriptors served",
           "virtio 1.2 §2.7.13 (only published, unchanged items may be read ahead); "
           "docs/rtl-interface.md (what the walker reads ahead is dropped on any VQ or IOTLB "
           "command)",
           ("test_refill_while_move_stage_busy",), "vdpa_split_ring_walker",
           base="walker-w64"),
    Mutant("unmap_no_drain",
           "UNMAP removes its ranges at once instead of waiting until no chain is in flight: "
           "a chain whose items and buffers were translated and checked meets the unmap "
           "halfway (its completion fails translation after its data moved, and a receive "
           "chain writing beside it leaves a frame in a buffer never used). Only an unmap "
           "racing the traffic shows it; lockstep runs unmap at settle points",
           "drivers/vdpa/mlx5/core/mr.c and mlx5_vnet.c: a mapping change goes through the "
           "queues' suspend (the firmware finishes the descriptors in flight); "
           "docs/rtl-interface.md (a mapping is removed only between chains)",
           ("test_unmap_lands_between_receive_chains",), "vdpa_iotlb"),
    Mutant("batch_fault_whole",
           "a bus error on a used element inside a batch of completions faults the whole "
           "batch: the chains before it, whose elements are written and whose frames are in "
           "their buffers, are never used (used.idx stays before the batch), where a "
           "one-chain-at-a-time device has completed them. Only a used ring that refuses an "
           "element past a batch's first shows it",
           "drivers/vhost/vringh.c: __vringh_complete (each completion stands on its own); "
           "docs/rtl-interface.md (a batch keeps a one-chain device's order, state and faults)",
           ("test_batched_completion_cut_at_a_refused_element",), "vdpa_vq_engine"),
    Mutant("evict_woken",
           "the receive buffer makes room for a frame at the wire by dropping a parked frame "
           "of a queue that has just been woken (its buffers posted and kicked): the frame "
           "those buffers were for is lost although the queue no longer lacks a buffer. Only "
           "a wake that comes while every slot is full and the wire waits shows it; on the "
           "device the engine serves a woken queue within cycles",
           "drivers/vdpa/vdpa_sim/vdpa_sim_net.c: vdpasim_net_work (a frame is dropped only "
           "for a receive queue with no buffer); docs/rtl-interface.md (the receive buffer "
           "drops only a parked frame of a queue still without buffers)",
           ("test_parked_frame_evicted_when_the_wire_waits",), "vdpa_rx_buffer",
           base="rx_buffer-s4-w64-f9216"),
    Mutant("refill_wrong_queue",
           "the walker's background refill stores what it read for one queue into the "
           "read-ahead of the queue whose walk runs beside it: that queue then serves another "
           "queue's avail entries or descriptors as its own (a chain built from the wrong "
           "ring), and the refill's own queue reads again what it had read. Only a TX refill "
           "with another queue's TX walk beside it shows it: transmit traffic on several "
           "queues at once, which the walker's bench (one ring) cannot make and the pyuvm "
           "mixes do",
           "virtio 1.2 §2.7.13 (a driver's ring is read only at its own addresses, and only "
           "published items); docs/rtl-interface.md (the refill keeps its queue)",
           ("uvm",), "vdpa_split_ring_walker"),
    Mutant("tx_no_hold",
           "a transmitted frame's last beat leaves while the completion of its queue's chain "
           "before it may still fault: when that used ring write fails, the frame is on the "
           "wire whole (no abort flag) although a one-chain device, its queue in error, never "
           "sends it. Only a used ring that refuses a TX completion once the next frame of "
           "that queue has reached its last beat shows it (the write responses held back so "
           "that it has; the test checks the frame's abort, so it knows it did)",
           "virtio 1.2 §2.1.2 (a device that has failed stops processing the queue: "
           "DEVICE_NEEDS_RESET); docs/rtl-interface.md (a frame's last beat waits for the "
           "completion ahead of it, tx_hold)",
           ("test_completion_fault_undoes_the_next_chain",), "vdpa_vq_engine"),
    Mutant("fault_before_completion",
           "the walker reports a malformed chain's fault at once instead of once the later "
           "stages are idle: the chain before it on its queue, moved but not yet completed, "
           "is then dropped with the queue in error, where a one-chain device completed it "
           "before it met the bad chain (used.idx one short)",
           "drivers/vhost/vringh.c: vringh_getdesc_kern returns the error for the chain it "
           "walks, after __vringh_complete of the one before; docs/rtl-interface.md (faults "
           "and completions in a serial device's order)",
           ("uvm",), "vdpa_split_ring_walker"),
    Mutant("avail_event_early",
           "the walker publishes avail_event (EVENT_IDX) on finding the ring empty while the "
           "completion ahead of it may still fault: a one-chain device finds the ring empty "
           "only after that completion, and if it failed, never looks again. Only a refused "
           "completion whose write response comes after the walker found the ring empty "
           "shows it",
           "virtio 1.2 §2.7.10 (avail_event) and §2.1.2 (a failed device stops processing); "
           "docs/rtl-interface.md (the walker's one write waits for idle later stages)",
           ("test_no_avail_event_behind_a_failing_completion",), "vdpa_split_ring_walker"),
    Mutant("complete_after_error",
           "a chain that moved while the completion before it on its queue failed is "
           "completed anyway (its used element and used.idx written after the queue went to "
           "error) instead of dropped without a trace",
           "virtio 1.2 §2.1.2 (a device that set DEVICE_NEEDS_RESET stops using the queue); "
           "docs/rtl-interface.md (a chain whose queue went to ERR meanwhile is dropped: "
           "ms_drop)",
           ("test_completion_fault_undoes_the_next_chain",), "vdpa_vq_engine"),
    Mutant("walk_on_error",
           "the walker goes on with a chain whose queue went to error while it walked it (a "
           "later stage's fault on the chain before): the chain is handed over or its fault "
           "reported, where a one-chain device, its queue stopped, never walks it: a second "
           "fault on the queue, or a frame moved for a queue in error",
           "virtio 1.2 §2.1.2 (a device that set DEVICE_NEEDS_RESET stops using the queue); "
           "docs/rtl-interface.md (a chain whose queue went to ERR meanwhile is dropped "
           "without a trace: w_abandon)",
           ("uvm",), "vdpa_split_ring_walker"),
    Mutant("cache_keeps_on_flush",
           "the ring-item and buffer translation caches keep their answers (and a fill armed "
           "before) across IOTLB commands: after an unmap (or a remap) items and buffers "
           "still translate through the old range, so the device reads and writes memory no "
           "mapping allows",
           "drivers/vhost/vdpa.c: vhost_vdpa_unmap (no access through a range once its unmap "
           "returned); docs/rtl-interface.md (every cached answer dropped at any IOTLB "
           "command: tr_flush)",
           ("test_unmap_races_traffic",), "vdpa_xlate_cache"),
    Mutant("used_page_kept",
           "the walker keeps, across IOTLB commands, what it knew of the completion's "
           "translations (the used ring page and used.idx writable), so a chain skips the "
           "before-any-data check after the used ring was unmapped or made read-only: its "
           "frame moves and its completion fails translation afterwards, where the check "
           "faults the chain before its data",
           "drivers/vhost/iotlb.c (a new range replaces the old); docs/rtl-interface.md "
           "(the completion's items translated before any data moves; what the walker knows "
           "dropped on any IOTLB command)",
           ("test_used_ring_made_read_only_between_chains",), "vdpa_split_ring_walker"),
    Mutant("notify_past_event",
           "the used-buffer notifier (EVENT_IDX) also notifies when used_event is one before "
           "the completion's old used index, a used_event the driver has already been "
           "notified past: an interrupt the driver did not ask for. The device's tests never "
           "leave used_event there; the notifier's bench draws it just before a batch's "
           "range",
           "virtio 1.2 §2.7.10 and drivers/vhost/vringh.c: __vringh_need_notify "
           "(vring_need_event(used_event, new, old): used_event in [old, new - 1])",
           ("test_notes_against_model",), "vdpa_notifier", base="notifier-n8-d4"),
    Mutant("cache_ignores_group",
           "a translation cache answers a lookup from an entry filled for another group "
           "(another ASID): a descriptor table or buffer of one group translated through "
           "the other's mapping",
           "drivers/vhost/vdpa.c: each ASID its own IOTLB (vhost_vdpa_find_alloc_as); "
           "vdpa.h: get_vq_desc_group (the descriptor group's own address space)",
           ("uvm",), "vdpa_xlate_cache"),
    Mutant("readahead_kept",
           "the walker keeps what it read ahead (avail entries, head descriptors) across a "
           "VQ command: a queue destroyed and created again would be served the old ring's "
           "heads. On the device every RESET is also an IOTLB command, whose flush drops "
           "them anyway, so only the walker's bench, which pulses ctx_change alone, sees it",
           "virtio 1.2 §2.7.13 (only published items of the ring in use may be read ahead); "
           "docs/rtl-interface.md (the read-ahead dropped on any VQ or IOTLB command)",
           ("test_flush_and_ctx_change_drop",), "vdpa_split_ring_walker",
           base="walker-w64"),
    Mutant("mover_stale_burst",
           "the DMA mover keeps a burst it read ahead for an offered TX chain after the offer "
           "is withdrawn (the walker abandons a chain whose queue went to ERR), and serves it "
           "as the first burst of the next request taken: that frame goes out with another "
           "chain's bytes. The engine withdraws an offer only after a completion fault on its "
           "queue, which the device's tests do not time against a read-ahead; the mover's "
           "bench withdraws offers on purpose",
           "virtio 1.2 §2.7.13 (a buffer's data is the driver's until the device uses it); "
           "rtl/vdpa_dma_mover.sv (an offer read ahead is taken or withdrawn, and a "
           "withdrawn one's data dropped)",
           ("test_read_ahead",), "vdpa_dma_mover", base="dma_mover-w64-s4"),
    Mutant("tail_unflagged",
           "a transmitted frame whose chain is dropped at its done (the completion before it on "
           "its queue failed) leaves whole, without the abort flag, when its last beat is "
           "still on the stream then: the mover is done as it reads that beat, so the drop is "
           "decided before the beat leaves. Only a completion that fails while the next frame "
           "of its queue is still being read shows it",
           "virtio 1.2 §2.1.2 (a device that has failed stops processing the queue: "
           "DEVICE_NEEDS_RESET); docs/rtl-interface.md (a last beat still on the stream after "
           "its chain's done keeps the drop decided then, tail_drop_reg)",
           ("test_completion_fault_while_the_next_frame_is_read",), "vdpa_vq_engine"),
    Mutant("next_offer_unordered",
           "the frame the receive buffer names for the engine to start on as it claims one "
           "(next_*) is chosen without its tdest's order: a fresh frame behind a parked one of "
           "its queue is named, and walked into the queue's buffers ahead of the older frame. "
           "Only a queue whose buffers are posted but not yet kicked, with a frame parked, "
           "shows it",
           "drivers/vdpa/vdpa_sim/vdpa_sim_net.c: vdpasim_net_work (each frame goes to its "
           "receive queue's next buffer in the order frames come); model/vdpa_model/device.py "
           "(a queue's frames in a deque, in arrival order)",
           ("test_next_offer_at_claim",), "vdpa_rx_buffer",
           base="rx_buffer-s4-w64-f9216"),
)

IDS: dict[str, int] = read_ids()
BY_NAME: dict[str, Mutant] = {m.name: m for m in CATALOGUE}


def mutant(name: str) -> Mutant:
    """The catalogue entry ``name`` (a KeyError naming the known ones otherwise)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no mutant {name!r}; the catalogue has {sorted(BY_NAME)}") from None


__all__ = ["BASE_BUILD", "BY_NAME", "CATALOGUE", "IDS", "PARAM", "PKG", "Mutant",
           "MutantCatalogueError", "mutant", "read_ids"]
