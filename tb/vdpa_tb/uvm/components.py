# SPDX-License-Identifier: MIT
"""pyuvm components of the vDPA agent (TinyALU layout): driver, monitor, coverage, scoreboard,
agent and env. They work at the transaction level only; the device context (and below it the
Tb) does all signal work, so no component awaits a clock edge."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pyuvm import (
    ConfigDB,
    UVMConfigItemNotFound,
    uvm_agent,
    uvm_analysis_port,
    uvm_component,
    uvm_driver,
    uvm_env,
    uvm_get_port,
    uvm_sequencer,
    uvm_subscriber,
    uvm_tlm_analysis_fifo,
)

from vdpa_model import ringcases, spec
from vdpa_model.spec import bit

from . import config as K
from .coverage import IN_FLIGHT, RACE_PROGRESS, CoverageModel, size_bucket
from .items import BusErrorItem, OpItem, RingFaultItem, RxFloodItem, TrafficItem, VdpaItem

#: where a per-test scoreboard record goes when set (``make regress`` sets it per run and adds
#: the records up in its summary)
SCOREBOARD_DIR_ENV = "VDPA_SCOREBOARD_DIR"
#: where per-test functional coverage JSON goes (merged by tests/rtl/test_vdpa_nic_uvm.py)
COVERAGE_DIR = Path(os.environ.get("VDPA_FUNC_COV_DIR",
                                   Path(__file__).resolve().parents[3] / "build" / "coverage"
                                   / "func"))


class VdpaDriver(uvm_driver):
    """Takes items from the sequencer, runs them on the device context, announces each item
    on ``ap`` before running it (the scoreboard's "issued" side) and hands it to the monitor's
    queue when done."""

    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)

    def start_of_simulation_phase(self) -> None:
        self.ctx = ConfigDB().get(self, "", K.DEVICE_CTX)

    async def run_phase(self) -> None:
        # VDPA_LOG_ITEMS=1 logs every item with its outcome and the state it met (a rerun of
        # a failing seed shows what led up to the failure)
        verbose = os.environ.get("VDPA_LOG_ITEMS", "") not in ("", "0")
        while True:
            item = await self.seq_item_port.get_next_item()
            self.ap.write(item)
            await self.ctx.execute(item)
            if item.failed:
                self.logger.error("%s", item)
            elif verbose:
                self.logger.info("%s [%s]", item, item.meta.get("state", ""))
            await self.ctx.completed.put(item)
            self.seq_item_port.item_done()


class VdpaMonitor(uvm_component):
    """Publishes every completed item, with its outcome, on ``ap`` (TinyALU's result monitor:
    it waits on the context's queue, never on a signal)."""

    def build_phase(self) -> None:
        self.ap = uvm_analysis_port("ap", self)

    def start_of_simulation_phase(self) -> None:
        self.ctx = ConfigDB().get(self, "", K.DEVICE_CTX)

    async def run_phase(self) -> None:
        while True:
            item = await self.ctx.completed.get()
            self.ap.write(item)


class VdpaCoverage(uvm_subscriber):
    """Samples the covergroups from completed items; exports JSON; fails on missed required
    bins in report_phase unless DISABLE_COVERAGE_ERRORS is set."""

    def build_phase(self) -> None:
        self.model = CoverageModel()
        self._prev_states: tuple[str, ...] | None = None

    def write(self, item: VdpaItem) -> None:
        m = self.model
        for op, outcome in item.ops:
            m["op_outcome_cg"].sample(f"{op}:{outcome}")
        if self._prev_states is not None and item.vq_states:
            for a, b in zip(self._prev_states, item.vq_states, strict=True):
                if a != b:
                    m["vq_state_cg"].sample(f"{a}->{b}" if b != "ERR" else f"{a}->ERR")
        if item.vq_states:
            self._prev_states = item.vq_states
        if item.failed:
            return  # a failed item proves nothing about the scenario it tried
        self._sample_hostile(item)
        if isinstance(item, OpItem):
            if "features" in item.meta:
                f = item.meta["features"]
                m["feature_combo_cg"].sample(":".join((
                    "event_idx" if f & bit(spec.VIRTIO_RING_F_EVENT_IDX) else "no_event_idx",
                    "indirect" if f & bit(spec.VIRTIO_RING_F_INDIRECT_DESC) else "no_indirect",
                    "mq" if f & bit(spec.VIRTIO_NET_F_MQ) else "no_mq")))
            if "reset_kind" in item.meta and item.outcome == "ok":
                m["reset_kind_cg"].sample(f"{item.meta['reset_kind']}:"
                                          f"rings_asid{item.meta['rings_asid']}")
        elif isinstance(item, TrafficItem) and item.outcome == "ok":
            direction = "rx" if item.direction == "rx" else "tx"
            if item.direction != "tx_held":  # held frames count when they drain
                for n in item.delivered:
                    m["traffic_cg"].sample(f"{item.layout}:{size_bucket(n)}:{direction}")
        elif isinstance(item, RingFaultItem) and item.outcome == item.expect:
            m["ring_error_cg"].sample(item.kind)

    def _sample_hostile(self, item: VdpaItem) -> None:
        """The hostile covergroups (coverage.HOSTILE_GROUPS), each crossed with what the item
        met: the device state, the progress of a race, the stalls in force."""
        m = self.model
        state = item.meta.get("state", "")
        if isinstance(item, OpItem):
            if item.category:
                cg, _, b = item.category.partition("/")
                raced = item.race and item.meta.get("race") in RACE_PROGRESS
                m[cg].sample(f"{b}:{IN_FLIGHT if raced else state}")
            race = item.meta.get("race")
            if item.race == "suspend" and race in RACE_PROGRESS:
                m["suspend_race_cg"].sample(f"{race}:{item.meta['race_dirs']}")
            elif item.race == "dma_unmap" and race in RACE_PROGRESS:
                m["unmap_race_cg"].sample(f"{race}:{item.meta.get('others', 'alone')}")
        elif isinstance(item, TrafficItem) and item.direction in ("tx", "rx") and item.delivered:
            idle, bp = item.meta.get("stalls", (False, False))
            m["stall_cg"].sample(f"idle_{'on' if idle else 'off'}:bp_{'on' if bp else 'off'}:"
                                 f"{item.direction}")
        elif isinstance(item, RingFaultItem) and item.outcome == item.expect:
            kind = f"{item.expect}:{ringcases.case(item.kind).queue}"
            if item.before:
                m["ring_mix_cg"].sample(f"{kind}:after_healthy")
            if item.alongside:
                m["ring_mix_cg"].sample(f"{kind}:beside_traffic")
            case = ringcases.case(item.kind)
            if case.straddles is not None:
                m["ring_straddle_cg"].sample(f"{case.straddles}:{case.queue}")
        elif isinstance(item, BusErrorItem):
            m["bus_error_cg"].sample(f"{item.target}:"
                                     f"{'beside_traffic' if item.alongside else 'alone'}")
        elif isinstance(item, RxFloodItem) and item.dropped >= 0:
            m["rx_flood_cg"].sample(f"{'some' if item.dropped else 'none'}_dropped:"
                                    f"{'beside_traffic' if item.beside else 'alone'}")

    def report_phase(self) -> None:
        name = ConfigDB().get(self, "", K.COVERAGE_NAME)
        path = self.model.export(COVERAGE_DIR / f"{name}.json", name)
        for cg in self.model.groups.values():
            self.logger.info("%s: %d/%d bins (%.0f %%)%s", cg.name, len(cg.hit), len(cg.bins),
                             cg.percent, f", unexpected {cg.unexpected}" if cg.unexpected else "")
        self.logger.info("functional coverage written to %s", path)
        try:
            required = ConfigDB().get(self, "", K.REQUIRED_BINS)
        except UVMConfigItemNotFound:  # a test that requires nothing
            required = []
        missed = self.model.missing(required)
        try:
            lenient = ConfigDB().get(self, "", K.DISABLE_COVERAGE_ERRORS)
        except UVMConfigItemNotFound:
            lenient = False
        if missed:
            msg = f"{len(missed)} required bin(s) not hit: {', '.join(missed)}"
            if lenient:
                self.logger.warning(msg)
            else:
                self.logger.error(msg)
                raise AssertionError(msg)


class VdpaScoreboard(uvm_component):
    """End-of-test checks: every issued item completed, none failed or diverged, and no DMA
    broke isolation (ContractShadow over the AXI sideband log) or left the mappings (bus
    checker)."""

    def build_phase(self) -> None:
        self.issued_fifo = uvm_tlm_analysis_fifo("issued_fifo", self)
        self.done_fifo = uvm_tlm_analysis_fifo("done_fifo", self)
        self.issued_get = uvm_get_port("issued_get", self)
        self.done_get = uvm_get_port("done_get", self)
        self.issued_export = self.issued_fifo.analysis_export
        self.done_export = self.done_fifo.analysis_export

    def connect_phase(self) -> None:
        self.issued_get.connect(self.issued_fifo.get_export)
        self.done_get.connect(self.done_fifo.get_export)

    def start_of_simulation_phase(self) -> None:
        self.ctx = ConfigDB().get(self, "", K.DEVICE_CTX)

    def check_phase(self) -> None:
        issued: dict[int, VdpaItem] = {}
        while self.issued_get.can_get():
            _, it = self.issued_get.try_get()
            issued[it.uid] = it
        errors: list[str] = []
        n_done = 0
        done: list[VdpaItem] = []
        while self.done_get.can_get():
            _, it = self.done_get.try_get()
            n_done += 1
            done.append(it)
            if issued.pop(it.uid, None) is None:
                errors.append(f"completed item never issued: {it}")
            if it.failed:
                errors.append(f"{it}: {'; '.join(it.problems) or it.detail}")
        errors += [f"issued item never completed: {it}" for it in issued.values()]
        if n_done == 0:
            errors.append("no item completed: the test drove nothing")
        bad = self.ctx.isolation_violations()
        if bad:
            errors.append(f"{len(bad)} isolation violation(s), first: {bad[0]}")
        bus = self.ctx.bus_violations()
        if bus:
            errors.append(f"{len(bus)} DMA access(es) outside the mappings, first: {bus[0]}")
        if self.ctx.broken:
            errors.append(f"the lockstep stopped: {self.ctx.broken}")
        self.logger.info("scoreboard: %d items, %d DMA accesses checked, %d lockstep settles",
                         n_done, len(self.ctx.access_log), self.ctx.lock.settles_compared)
        out = os.environ.get(SCOREBOARD_DIR_ENV)
        if out:
            # what a regression adds up over its runs (vdpa_tb.regress.report)
            stats = {"items": n_done, "failed_items": sum(1 for it in done if it.failed),
                     "divergences": sum(1 for it in done if it.outcome == "DIVERGENCE"),
                     "isolation_violations": len(bad), "bus_violations": len(bus),
                     "settles": self.ctx.lock.settles_compared,
                     "ops_compared": self.ctx.lock.ops_compared, "races": self.ctx.lock.races,
                     "dma_accesses": len(self.ctx.access_log), "errors": errors[:5]}
            name = ConfigDB().get(self, "", K.COVERAGE_NAME)
            Path(out).mkdir(parents=True, exist_ok=True)
            (Path(out) / f"{name}.json").write_text(json.dumps(stats, indent=1))
        for e in errors[:20]:
            self.logger.error(e)
        assert not errors, f"{len(errors)} scoreboard error(s), first: {errors[0]}"


class VdpaAgent(uvm_agent):
    """Sequencer + driver + monitor. Passive (``is_active`` = UVM_PASSIVE in ConfigDB) keeps
    the monitor only, for stimulus driven from plain cocotb code."""

    def build_phase(self) -> None:
        super().build_phase()  # reads is_active from ConfigDB
        self.monitor = VdpaMonitor.create("monitor", self)
        if self.get_is_active():
            self.seqr = uvm_sequencer("seqr", self)
            self.driver = VdpaDriver.create("driver", self)
            ConfigDB().set(None, "*", K.SEQR, self.seqr)

    def connect_phase(self) -> None:
        if self.get_is_active():
            self.driver.seq_item_port.connect(self.seqr.seq_item_export)


class VdpaEnv(uvm_env):
    """Agent, scoreboard and coverage, wired monitor -> {scoreboard, coverage} and
    driver -> scoreboard."""

    def build_phase(self) -> None:
        self.agent = VdpaAgent.create("agent", self)
        self.scoreboard = VdpaScoreboard.create("scoreboard", self)
        self.coverage = VdpaCoverage.create("coverage", self)

    def connect_phase(self) -> None:
        self.agent.monitor.ap.connect(self.scoreboard.done_export)
        self.agent.monitor.ap.connect(self.coverage.analysis_export)
        if self.agent.get_is_active():
            self.agent.driver.ap.connect(self.scoreboard.issued_export)


def coverage_json(name: str) -> dict[str, Any]:
    return json.loads((COVERAGE_DIR / f"{name}.json").read_text())
