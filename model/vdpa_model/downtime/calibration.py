# SPDX-License-Identifier: MIT
"""The single-operation figures a cost profile is built from, reproduced through the real model.

Each :class:`Figure` of calibration-figures.md is one operation as the migration flows run it on
the reference device (mlx5 parent, its firmware-work model writing the ``fw`` records): the
device suspend of Flow B (C2), the resume of the resumable Flow A (C3), the destination's VQ
bring-up from DRIVER_OK to the last queue enabled (C1), the shadow CVQ sending its commands
(H4), guest RAM pinned when QEMU starts (H1) or at the switch to SVQ (H2), a region built and
destroyed (C6-C8). :func:`reproduce` runs those operations, prices the trace the model wrote for
each with a profile, and gives the model's value beside the published one, so a drift in the
profile *or* in the firmware model moves the result (tests/model/test_downtime_calibration.py
checks every figure, docs/downtime.md shows the table).

What each figure measures is stated on it, in terms of trace records: "the step B1 of src0"
(everything the step did, host, ioctl, op and firmware) or "the busy time of kinds ..." (the
summed time of those records, where a figure names only part of a step's work). Traces are
made once per configuration and kept; pricing them again with another profile is cheap.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

from ..hostmem import HostMemory
from ..memory import GiB
from ..migration import Migration, MigrationSetup, reference_factory
from ..options import Parent
from ..qemu import mac_set
from ..ramlayout import RamLayout
from ..switches import Switches
from ..sync import run
from ..trace import TraceRecord
from .profile import Profile
from .scheduler import Schedule, price

#: C1-C3: one device with 16 queue pairs (32 VQs) in a 256 GB VM.
C_QUEUE_PAIRS = 16
C_RAM = 256 * GiB
#: H4: 4099 control commands.
H4_COMMANDS = 4099


@dataclasses.dataclass(frozen=True)
class Figure:
    """A published figure and how the model reproduces it. ``low``/``high`` bound the
    published value (equal for a point figure); ``tolerance`` is the relative distance allowed
    from a point figure (a range figure must fall inside its range)."""

    id: str
    what: str
    low: float
    high: float
    unit: str
    measure: Callable[[Profile], float]
    measured_as: str
    tolerance: float = 0.02

    @property
    def published(self) -> str:
        if self.low == self.high:
            return f"{self.low:g} {self.unit}"
        return f"{self.low:g}-{self.high:g} {self.unit}"

    def holds(self, value: float) -> bool:
        if self.low == self.high:
            return abs(value - self.low) <= self.tolerance * abs(self.low)
        return self.low * (1 - 1e-9) <= value <= self.high * (1 + 1e-9)


# ---------------------------------------------------------------------------------------------
# the operations, as the flows run them (cached: a trace depends on the configuration only)
# ---------------------------------------------------------------------------------------------
def _setup(switches: Switches, *, queue_pairs: int = C_QUEUE_PAIRS, ram: int = C_RAM,
           page_size: int = 4096, thp: bool = False) -> MigrationSetup:
    """One NIC's migration. Host memory is stated, not defaulted: a figure "of 4 KiB pages" was
    measured on memory in 4 KiB pages (THP off), H2's "THP" on anonymous memory with THP."""
    layout = RamLayout(ram, page_size, host=HostMemory(thp=thp))
    return MigrationSetup(devices=1, queue_pairs=queue_pairs, layout=layout,
                          switches=switches, vlans=(), traffic=False)


@functools.lru_cache(maxsize=64)
def migration_trace(switches: Switches, keep_link_notifier: bool | None = None,
                    queue_pairs: int = C_QUEUE_PAIRS, ram: int = C_RAM,
                    page_size: int = 4096, thp: bool = False) -> tuple[TraceRecord, ...]:
    """The trace of a whole migration of one NIC (Flows A, C 4.1, B, C 4.2)."""
    setup = _setup(switches, queue_pairs=queue_pairs, ram=ram, page_size=page_size, thp=thp)
    factory = reference_factory(setup, keep_link_notifier=keep_link_notifier)
    result = run(Migration(setup, factory).run())
    if not result.report.ok:
        raise RuntimeError(f"calibration migration failed its checks:\n{result.report.render()}")
    return tuple(result.trace.records)


@functools.lru_cache(maxsize=4)
def cvq_load_trace(parallel: bool, commands: int = H4_COMMANDS) -> tuple[TraceRecord, ...]:
    """``commands`` control commands sent on a booted device's shadow CVQ, serially or as QEMU
    >= 8.2 sends them (queued until the shadow ring is full, then one wait), on the sim parent:
    H4 was measured on an emulated device, whose own work is inside the round trip; vdpa_sim is
    the model's emulated device. The command is MAC_ADDR_SET, the one vdpa_sim_net knows."""
    setup = MigrationSetup(parent=Parent.SIM, queue_pairs=1, layout=RamLayout(1 * GiB),
                           switches=Switches(), vlans=(), traffic=False)
    m = Migration(setup)

    async def body() -> None:
        ep, _ = await m.boot_source(0)
        with ep.qemu.step("C4.2.10"):
            await ep.qemu.control([mac_set(ep.qemu.net.mac)] * commands, parallel)
    run(body())
    return tuple(m.trace.records)


def step(records: Sequence[TraceRecord], device: str, *steps: str) -> list[TraceRecord]:
    """The records of some steps of one device (a step's records nest only in its own)."""
    return [r for r in records if r.device == device and r.phase in steps]


def _ms(s: Schedule) -> float:
    return sum(sec.duration for sec in s.sections) * 1e3


def _busy_ms(s: Schedule, *kinds: tuple[str, str]) -> float:
    return sum(sec.kinds[k].busy for sec in s.sections for k in kinds if k in sec.kinds) * 1e3


def _span_ms(s: Schedule, kind: tuple[str, str]) -> float:
    return sum(sec.kinds[kind].span for sec in s.sections if kind in sec.kinds) * 1e3


# ---------------------------------------------------------------------------------------------
# the figures
# ---------------------------------------------------------------------------------------------
_VQ_WORK = (("fw", "vq_create"), ("fw", "vq_modify"), ("fw", "dev_resources_create"))


def c1_vq_work(profile: Profile, precreated: bool) -> float:
    """The destination's VQ work from DRIVER_OK until every VQ is ready (C 4.2.9-11: DRIVER_OK,
    the multiqueue command, the enables), serial firmware commands."""
    recs = migration_trace(Switches(precreated_vqs=precreated))
    return _busy_ms(price(step(recs, "dst0", "C4.2.9", "C4.2.10", "C4.2.11"), profile), *_VQ_WORK)


def c2_suspend(profile: Profile, parallel: bool, keep: bool | None) -> float:
    recs = migration_trace(Switches(parallel_fw_cmds=parallel), keep_link_notifier=keep)
    return _ms(price(step(recs, "src0", "B1"), profile))


_RESUMABLE = Switches(desc_group_asid=True, persistent_iotlb=True, resumable_vqs=True)


def c3_resume(profile: Profile, parallel: bool) -> float:
    """The resume of the resumable Flow A (A22), before the notifier was kept."""
    recs = migration_trace(_RESUMABLE.with_(parallel_fw_cmds=parallel), keep_link_notifier=False)
    return _ms(price(step(recs, "src0", "A22"), profile))


def h4_cvq_load(profile: Profile, parallel: bool) -> float:
    return _ms(price(step(cvq_load_trace(parallel), "src0", "C4.2.10"), profile))


def h1_cold_pin(profile: Profile) -> float:
    """Pinning 50 GB when QEMU >= 10.1 starts (the destination's C 4.1.4, before the window)."""
    recs = migration_trace(Switches(early_map_dest=True), queue_pairs=1, ram=50 * GiB)
    return _busy_ms(price(step(recs, "dst0", "C4.1.4"), profile), ("host", "pin"))


def h2_warm_pin(profile: Profile, page_size: int, thp: bool = False, name: str = "pin",
                at: str = "A16") -> float:
    """Pinning (A16) or unpinning (A7) 16 GB of guest RAM at the switch to SVQ."""
    recs = migration_trace(Switches(), queue_pairs=1, ram=16 * GiB, page_size=page_size, thp=thp)
    return _busy_ms(price(step(recs, "src0", at), profile), ("host", name))


def region(profile: Profile, gib: int, page_size: int, parallel: bool, kind: str) -> float:
    """The direct keys of one guest-RAM region, built at A16 or destroyed by the map-cleaning
    reset of A6 (at once: no deferred collector), as wall time: the span of their records."""
    recs = migration_trace(Switches(parallel_mkey=parallel), queue_pairs=1, ram=gib * GiB,
                           page_size=page_size)
    at = "A16" if kind == "mkey_create" else "A6"
    return _span_ms(price(step(recs, "src0", at), profile), ("fw", kind))


def _ratio(num: Callable[[Profile], float], den: Callable[[Profile], float],
           scale: float = 1.0) -> Callable[[Profile], float]:
    return lambda p: scale * num(p) / den(p)


def _figures() -> list[Figure]:
    out = [
        Figure("C1 after", "destination DRIVER_OK VQ work, 32 pre-created VQs", 60, 60, "ms",
               lambda p: c1_vq_work(p, True),
               "busy time of vq_create, vq_modify, dev_resources_create in C4.2.9-11 of dst0"),
        Figure("C1 before", "destination DRIVER_OK VQ work, 32 VQs created in full", 370, 370, "ms",
               lambda p: c1_vq_work(p, False),
               "busy time of vq_create, vq_modify, dev_resources_create in C4.2.9-11 of dst0"),
        Figure("talk", "VQ pre-creation saving per device (C1 before - after)", 300, 300, "ms",
               lambda p: c1_vq_work(p, False) - c1_vq_work(p, True),
               "C1 before minus C1 after", tolerance=0.1),
        Figure("C2 serial", "device suspend, 32 VQs, serial firmware commands", 37, 37, "ms",
               lambda p: c2_suspend(p, False, None), "step B1 of src0"),
        Figure("C2 parallel", "device suspend, parallel MODIFY and QUERY rounds", 13, 13, "ms",
               lambda p: c2_suspend(p, True, False), "step B1 of src0"),
        Figure("C2 notifier kept", "device suspend, parallel, link notifier kept", 2.5, 2.5, "ms",
               lambda p: c2_suspend(p, True, True), "step B1 of src0"),
        Figure("C3 serial", "device resume, 32 VQs, serial", 16, 16, "ms",
               lambda p: c3_resume(p, False), "step A22 of src0 (resumable Flow A)"),
        Figure("C3 parallel", "device resume, parallel MODIFY round", 4.5, 5, "ms",
               lambda p: c3_resume(p, True), "step A22 of src0 (resumable Flow A)"),
        Figure("H4 serial", f"CVQ state restore through SVQ, {H4_COMMANDS} commands, serial",
               20.5, 20.5, "ms", lambda p: h4_cvq_load(p, False),
               "the commands' step on the sim parent (an emulated device)"),
        Figure("H4 parallel", f"CVQ state restore, {H4_COMMANDS} commands, QEMU >= 8.2", 13.7, 13.7,
               "ms", lambda p: h4_cvq_load(p, True),
               "the commands' step on the sim parent (an emulated device)"),
        Figure("H1", "cold pinning of 50 GB at QEMU start", 3000, 3000, "ms", h1_cold_pin,
               "busy time of host pin in C4.1.4 of dst0 (early_map_dest)"),
    ]
    # H2's three memories: 4 KiB pages (THP off), anonymous memory with THP, hugetlbfs
    h2 = ((4096, False, "4 KiB pages", 280.0), (4096, True, "THP", 47.0), (1 << 30, False, "hugetlbfs", 52.0))
    for page, thp, label, ms in h2:
        out.append(Figure(f"H2 {label}", f"warm pin + map of 16 GB, {label}", ms, ms, "ms",
                          functools.partial(h2_warm_pin, page_size=page, thp=thp),
                          "busy time of host pin in A16 of src0"))
    for page, thp, label, _ in h2:
        out.append(Figure(f"H2 unmap, {label}", "16 GB unpinned (H2's 4 KiB VFIO unmap stands in "
                          "for vhost-vdpa, which unpins 4 KiB at a time whatever the backing)",
                          312, 312, "ms",
                          functools.partial(h2_warm_pin, page_size=page, thp=thp, name="unpin", at="A7"),
                          "busy time of host unpin in A7 of src0"))
    for gib in (16, 64, 128):
        for page, label in ((4096, "4 KiB"), (2 << 20, "2 MiB")):
            out.append(Figure(
                f"C6 {gib} GiB {label}", f"parallel direct MKEY creation speed-up, {gib} GiB of {label} "
                f"pages", 3, 5, "x",
                _ratio(functools.partial(region, gib=gib, page_size=page, parallel=False, kind="mkey_create"),
                       functools.partial(region, gib=gib, page_size=page, parallel=True, kind="mkey_create")),
                "span of mkey_create in A16 of src0, serial / parallel_mkey"))
    out.append(Figure("C7", "parallel MKEY deletion speed-up, 128 GiB of 4 KiB pages", 8, 8, "x",
                      _ratio(lambda p: region(p, 128, 4096, False, "mkey_destroy"),
                             lambda p: region(p, 128, 4096, True, "mkey_destroy")),
                      "span of mkey_destroy in A6 of src0, serial / parallel_mkey", tolerance=0.125))
    for page, label in ((4096, "4 KiB"), (2 << 20, "2 MiB")):
        out.append(Figure(f"C8 {label}", f"MKEY deletion / creation, 64 GiB of {label} pages", 30, 40,
                          "%", _ratio(functools.partial(region, gib=64, page_size=page, parallel=False,
                                                        kind="mkey_destroy"),
                                      functools.partial(region, gib=64, page_size=page, parallel=False,
                                                        kind="mkey_create"), 100.0),
                          "span of serial mkey_destroy in A6 / mkey_create in A16 of src0"))
    return out


#: Every figure of calibration-figures.md the mlx5 profile is built from and the model can run.
FIGURES: tuple[Figure, ...] = tuple(_figures())


def reproduce(profile: Profile) -> list[tuple[Figure, float]]:
    """Every figure with the model's value for it under ``profile``."""
    return [(f, f.measure(profile)) for f in FIGURES]


def render(rows: Sequence[tuple[Figure, float]]) -> str:
    """The figures as a Markdown table: published, model, and how the model measures it."""
    out = ["| figure | operation | published | model | measured as |", "|---|---|---|---|---|"]
    for f, v in rows:
        out.append(f"| {f.id} | {f.what} | {f.published} | {v:.2f} {f.unit}"
                   f"{'' if f.holds(v) else ' (OUT)'} | {f.measured_as} |")
    return "\n".join(out)
