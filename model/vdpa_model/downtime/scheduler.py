# SPDX-License-Identifier: MIT
"""Event-driven pricing of an op trace under a cost profile.

The trace (:mod:`vdpa_model.trace`) says what was done, in what order, nested how, and which work
was submitted together; the profile (:mod:`.profile`) says what each record costs and how much
work overlaps. This module turns the two into time:

* A record's time is its own cost, then its children's scheduled time. Children run in trace
  order, one after another, except that the members of one ``group`` (work submitted together,
  one parallel round) overlap: the parent issues them one by one, each taking its pool's issue
  time on the parent (a firmware command's submission), at most ``slots`` in flight and
  ``workers`` executing; the parent goes on when the last one completes, after the pool's
  ``wait`` (once per group, or after each serial item). A group's members are scheduled at the
  place of its first member.
* Pools are per device and shared by everything running on it, so nested work contends for
  them (a CVQ command's firmware rounds wait for the one CVQ handler). A group of at least
  :data:`LEAF_GROUP_MIN` leaf records that finds its pool idle is scheduled in one loop and holds
  the whole pool until it ends: exact unless other work wants that pool meanwhile, which then
  waits for the group instead of for its first free slot.
* A trace is cut into sections, one per device and window (:func:`window_of`: Flow A, the
  destination's preparation C 4.1, the source stop B, the destination start C 4.2). Sections
  are priced alone: devices share nothing (migration-sequence.md §1 item 11, §7 item 10), and
  :mod:`.report` composes them into windows with the profile's device parallelism.
* Identical devices are priced once: ``copies`` says how many devices a device's records stand
  for (the flows need only run one of 256 identical devices), and sections whose records are
  identical but for the device name share one schedule.
* A record with ``count`` stands for that many identical units of work, each with the record's
  other arguments (the direct keys of one size of a region build): serially they run one
  after another (holding one slot and worker of their pool from the first to the last: exact
  unless other work wants that pool meanwhile), in a group each unit is a member of the
  round. The firmware model writes a 4 TiB region build as a few such records instead of one
  per key. A record with children cannot have a count (whose children would they be?).
* ``mode="measured"`` replays what a simulation measured: a record with start and end times
  takes exactly that long (its children are inside it), a record with device ``cycles`` only
  runs that long after its priced issue. Records without measurements are priced as usual, so
  an RTL trace and the model's trace of the same flow compare phase by phase.

A failed record (``errno``) costs what it would have cost to succeed: the parent did the work
before refusing it or the flows would not have gone on.

Records of the steps outside every window (:data:`~vdpa_model.trace.OUTSIDE_WINDOWS`: device
creation, the deferred collector) are priced in window "other", in no downtime; records with a
phase that is no step id at all are too, with a warning.
"""

from __future__ import annotations

import dataclasses
import heapq
import re
from collections import deque
from collections.abc import Generator, Iterable, Mapping, Sequence
from typing import Any

from ..trace import ABSENT_MEANS_ZERO, OUTSIDE_WINDOWS, TraceRecord
from .profile import WILDCARD, Pool, Profile
from .tomlfile import InputError

#: Groups at least this large of leaf work on one idle pool (the direct keys of a region build,
#: one per GiB) are scheduled by a direct loop instead of one process per member.
LEAF_GROUP_MIN = 32

#: Windows of a migration, in the order they happen (migration-sequence.md §1 item 11).
WINDOWS = ("A", "C4.1", "B", "C4.2", "other")

_WINDOW_RE = (("A", re.compile(r"^A\d")), ("B", re.compile(r"^B\d")),
              ("C4.1", re.compile(r"^C4\.1(\.|$)")), ("C4.2", re.compile(r"^C4\.2(\.|$)")))


def window_of(phase: str) -> str:
    """The window of a step id: "A7" -> "A", "C4.2.6" -> "C4.2", "" -> "other"."""
    for name, rx in _WINDOW_RE:
        if rx.match(phase):
            return name
    return "other"


class PricingError(InputError):
    """The trace cannot be priced with this profile (unpriced records, broken nesting)."""


@dataclasses.dataclass
class PriceOptions:
    """``mode`` "priced" or "measured"; ``copies`` maps a device to the number of identical
    devices its records stand for; ``measured_clock_mhz`` converts measured ``cycles`` (default:
    the profile's clock)."""

    mode: str = "priced"
    copies: Mapping[str, int] = dataclasses.field(default_factory=dict)
    measured_clock_mhz: float | None = None
    dedup: bool = True


@dataclasses.dataclass
class KindStat:
    """Work of one (layer, name) in a section: how many units (a record's ``count`` of them),
    their summed time (overlapping work counts once per unit) and the time at least one of them
    was running."""

    count: int = 0
    busy: float = 0.0
    span: float = 0.0


@dataclasses.dataclass
class SectionTiming:
    """One device's records of one window, scheduled."""

    device: str
    window: str
    copies: int
    records: list[TraceRecord]
    duration: float
    #: top-level time per phase, phases in order of first appearance
    phases: dict[str, float]
    #: local time the first top-level record of each phase started / the last one ended
    phase_start: dict[str, float]
    phase_end: dict[str, float]
    kinds: dict[tuple[str, str], KindStat]
    #: (duration, index into records) of the top-level records, longest first (at most 20)
    top: list[tuple[float, int]]
    shared_with: str | None = None


@dataclasses.dataclass
class Schedule:
    """A priced trace: its sections in order of first appearance."""

    profile: Profile
    mode: str
    sections: list[SectionTiming]
    warnings: list[str]
    records: int
    priced_sections: int


# ---------------------------------------------------------------------------------------------
# A minimal discrete-event engine: processes are generators that yield a delay (float), a
# resource to acquire (_Res) or a join (_Join); everything else is plain Python.
# ---------------------------------------------------------------------------------------------
class _Proc:
    __slots__ = ("done", "gen", "joiner")

    def __init__(self, gen: Generator[Any, None, None]) -> None:
        self.gen = gen
        self.done = False
        self.joiner: _Join | None = None


class _Res:
    __slots__ = ("free", "waiters")

    def __init__(self, n: int) -> None:
        self.free = n
        self.waiters: deque[_Proc] = deque()


class _Join:
    __slots__ = ("parent", "pending")

    def __init__(self, procs: list[_Proc]) -> None:
        self.pending = 0
        self.parent: _Proc | None = None
        for p in procs:
            if not p.done:
                p.joiner = self
                self.pending += 1


class _Sim:
    def __init__(self) -> None:
        self.now = 0.0
        self._q: list[tuple[float, int, _Proc]] = []
        self._n = 0

    def wake(self, p: _Proc, at: float) -> None:
        self._n += 1
        heapq.heappush(self._q, (at, self._n, p))

    def spawn(self, gen: Generator[Any, None, None]) -> _Proc:
        p = _Proc(gen)
        self.step(p)
        return p

    def release(self, r: _Res) -> None:
        if r.waiters:
            self.wake(r.waiters.popleft(), self.now)  # the unit passes straight to the waiter
        else:
            r.free += 1

    def step(self, p: _Proc) -> None:
        gen = p.gen
        while True:
            try:
                cmd = next(gen)
            except StopIteration:
                p.done = True
                j = p.joiner
                if j is not None:
                    j.pending -= 1
                    if j.pending == 0 and j.parent is not None:
                        self.wake(j.parent, self.now)
                return
            if cmd.__class__ is float:
                if cmd > 0.0:
                    self.wake(p, self.now + cmd)
                    return
            elif cmd.__class__ is _Res:
                if cmd.free > 0:
                    cmd.free -= 1
                else:
                    cmd.waiters.append(p)
                    return
            else:
                if cmd.pending > 0:
                    cmd.parent = p
                    return

    def run(self) -> None:
        q = self._q
        while q:
            t, _, p = heapq.heappop(q)
            self.now = t
            self.step(p)


# ---------------------------------------------------------------------------------------------
class _Section:
    """The records of one (device, window), with local indices and the priced costs."""

    def __init__(self, device: str, window: str, records: list[TraceRecord], parent: list[int]) -> None:
        self.device = device
        self.window = window
        self.records = records
        self.parent = parent
        # children of the records that have any, in blocks: a serial child or a group's members
        self.blocks: dict[int, list[int | list[int]]] = {}
        self.top: list[int | list[int]] = []
        open_groups: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(records):
            p = self.parent[i]
            dest = self.top if p < 0 else self.blocks.setdefault(p, [])
            if r.group is None:
                dest.append(i)
            elif (p, r.group) in open_groups:
                open_groups[(p, r.group)].append(i)
            else:
                members = [i]
                open_groups[(p, r.group)] = members
                dest.append(members)

    def shape(self) -> tuple[str, int, int]:
        """A cheap key that identical sections share: only those are compared in full."""
        return (self.window, len(self.records), len(self.top))

    def signature(self) -> tuple[Any, ...]:
        """Everything pricing depends on, except the device's name."""
        groups: dict[int, int] = {}
        out = []
        for i, r in enumerate(self.records):
            g = None if r.group is None else groups.setdefault(r.group, len(groups))
            dur = None if r.t_start_ps is None or r.t_end_ps is None else r.t_end_ps - r.t_start_ps
            out.append((r.layer, r.name, r.phase, self.parent[i], g, tuple(sorted(r.args.items())),
                        r.errno, r.cycles, dur))
        return tuple(out)


class _Pricer:
    """Costs of every record of a section under a profile."""

    def __init__(self, profile: Profile, opts: PriceOptions) -> None:
        self.profile = profile
        self.measured = opts.mode == "measured"
        self.clock_hz = (opts.measured_clock_mhz or profile.clock_mhz or 0.0) * 1e6
        self.missing: dict[tuple[str, str], int] = {}
        self.no_driver: dict[tuple[str, str, str], int] = {}
        # records of one kind with the same drivers cost the same: (own, issue, pool, lacking)
        self._cache: dict[tuple[Any, ...], tuple[float, float, Pool | None, tuple[str, ...]]] = {}

    def price(self, sec: _Section) -> _Costs:
        recs = sec.records
        n = len(recs)
        own = [0.0] * n
        issue = [0.0] * n
        pools: list[Pool | None] = [None] * n
        total: list[float | None] = [None] * n
        run: list[float | None] = [None] * n
        units = [1] * n
        covered = [False] * n
        for i, r in enumerate(recs):
            p = sec.parent[i]
            if p >= 0 and (covered[p] or total[p] is not None):
                covered[i] = True
                continue
            count = r.args.get("count", 1)
            if count != 1:
                if count < 1:
                    raise PricingError(f"record {r.seq} ({r.layer} {r.name}): count {count} is not a "
                                       f"number of units")
                if i in sec.blocks:
                    raise PricingError(f"record {r.seq} ({r.layer} {r.name}): count {count} on a "
                                       f"record with children; a count stands for identical leaf work")
                units[i] = count
            if self.measured:
                if r.t_start_ps is not None and r.t_end_ps is not None:
                    total[i] = max(0, r.t_end_ps - r.t_start_ps) * 1e-12
                elif r.cycles is not None:
                    if not self.clock_hz:
                        raise PricingError(f"record {r.seq} ({r.layer} {r.name}) has measured cycles but "
                                           f"no clock: give the measured clock frequency")
                    run[i] = r.cycles / self.clock_hz
            if total[i] is not None or run[i] is not None:
                units[i] = 1  # a measurement covers the whole record, all its units
            key = (r.layer, r.name, r.phase, r.group is not None, *r.args.items())
            cached = self._cache.get(key)
            if cached is None:
                cached = self._price_one(sec, i, r, key)
                if cached is None:
                    if total[i] is None:
                        k2 = (str(r.layer), r.name)
                        self.missing[k2] = self.missing.get(k2, 0) + 1
                    continue
            own[i], issue[i], pools[i], lacking = cached
            for driver in lacking:
                k3 = (str(r.layer), r.name, driver)
                self.no_driver[k3] = self.no_driver.get(k3, 0) + 1
        return _Costs(own, issue, pools, total, run, units)

    def _price_one(self, sec: _Section, i: int, r: TraceRecord,
                   key: tuple[Any, ...]) -> tuple[float, float, Pool | None, tuple[str, ...]] | None:
        item = self.profile.item(r.layer, r.name)
        if item is None:
            return None
        rule = item.rule(r.phase, r.args,
                         self._ancestors(sec, i) if item.uses_ancestors else (), r.group is not None)
        # a cost driver the profile expects but the record lacks is worth a warning, except on a
        # layer's "*" entry, whose terms apply only to the records that have them
        terms = () if item.name == WILDCARD else rule.run.terms + rule.issue.terms
        lacking = tuple(d for d, _, _ in terms if d not in r.args and d not in ABSENT_MEANS_ZERO)
        own = rule.run.seconds(r.args)
        extra = rule.issue.seconds(r.args)
        pool = self.profile.pools[item.pool] if item.pool is not None else None
        out = ((own + extra, 0.0, None, lacking) if pool is None
               else (own, pool.issue_s + extra, pool, lacking))
        if not item.uses_ancestors:  # the price depends on nothing but the key
            self._cache[key] = out
        return out

    @staticmethod
    def _ancestors(sec: _Section, i: int) -> set[str]:
        names = set()
        p = sec.parent[i]
        while p >= 0:
            names.add(sec.records[p].name)
            p = sec.parent[p]
        return names


@dataclasses.dataclass
class _Costs:
    """Per record of a section: its own run time and issue time per unit, its pool, a measured
    total or run time, and its number of units (``count``)."""

    own: list[float]
    issue: list[float]
    pools: list[Pool | None]
    total: list[float | None]
    run: list[float | None]
    units: list[int]


def _issue_bound(slot_free: list[float], t: float, issue: float, run: float) -> bool:
    """Whether identical units (``issue`` on the submitter, then ``run``, a worker per slot)
    submitted from ``t`` never wait for a slot: the j-th earliest slot is free by the j-th
    submission (``t + j * issue``) and a unit's own slot frees before the submitter comes round
    to it again (``run <= (slots - 1) * issue``). Then unit k starts at ``t + k * issue``, and
    since every slot freed is at most every slot taken later, the slots left are the latest
    ends of all. Large region builds (thousands of identical keys) take this shortcut."""
    n = len(slot_free)
    if run > (n - 1) * issue:
        return False
    return all(f <= t + j * issue for j, f in enumerate(sorted(slot_free)))


def _schedule(sec: _Section, costs: _Costs) -> tuple[list[float], list[float], list[float], float]:
    """Run the section's records through the event engine: local start and end times, summed
    unit times (busy) and the section's duration."""
    own, issue, pools, total, run, units = (costs.own, costs.issue, costs.pools, costs.total,
                                            costs.run, costs.units)
    n = len(sec.records)
    start = [0.0] * n
    end = [0.0] * n
    busy = [0.0] * n
    overlapped: list[int] = []  # pool-less group members, whose units all ran at once
    sim = _Sim()
    res: dict[str, tuple[_Res, _Res]] = {}
    for p in pools:
        if p is not None and p.name not in res:
            res[p.name] = (_Res(p.slots), _Res(p.workers))
    blocks = sec.blocks

    def body(i: int, n_units: int = 1) -> Generator[Any, None, None]:
        """``n_units`` of record ``i`` back to back (a leaf's units, or the record itself)."""
        m = total[i] if total[i] is not None else run[i]
        if m is not None:  # measured: the time replaces the record's own cost and its children's
            if m > 0.0:
                yield m
            end[i] = sim.now
            return
        t = own[i] * n_units
        if t > 0.0:
            yield t
        yield from children(blocks.get(i, ()))
        end[i] = sim.now

    def children(bs: Iterable[int | list[int]]) -> Generator[Any, None, None]:
        for b in bs:
            if isinstance(b, int):
                yield from serial(b)
            else:
                yield from group(b)

    def submit(c: int, pool: Pool, first: bool) -> Generator[Any, None, float]:
        """The submitter takes a slot of the pool and spends its issue time on a unit of ``c``;
        returns when the unit got its slot (where its time starts)."""
        yield res[pool.name][0]
        got = sim.now
        if first:
            start[c] = got
        t = issue[c]
        if t > 0.0:
            yield t
        return got

    def member(c: int, pool: Pool, submitted: float) -> Generator[Any, None, None]:
        """A unit of ``c`` once submitted: a worker runs it, then its worker and slot are free."""
        slots, workers = res[pool.name]
        yield workers
        yield from body(c)
        busy[c] += sim.now - submitted
        sim.release(workers)
        sim.release(slots)

    def serial(c: int) -> Generator[Any, None, None]:
        pool = pools[c]
        if pool is None or total[c] is not None:
            start[c] = sim.now
            yield from body(c, units[c])
            busy[c] = end[c] - start[c]
            return
        if units[c] == 1:
            t0 = yield from submit(c, pool, True)
            yield from member(c, pool, t0)
        else:  # identical units back to back: one slot and worker held from first to last
            yield from submit(c, pool, True)
            slots, workers = res[pool.name]
            yield workers
            u = units[c]
            span = u * own[c] + (u - 1) * (issue[c] + pool.wait_s)
            if span > 0.0:
                yield span
            end[c] = sim.now
            busy[c] += u * (issue[c] + own[c])
            sim.release(workers)
            sim.release(slots)
        if pool.wait_s > 0.0:
            yield pool.wait_s

    def leaf_group(members: list[int], pool: Pool) -> Generator[Any, None, None]:
        """A large group of leaf work on an idle pool, scheduled by a direct list-scheduling loop
        (the same order the engine follows) with the whole pool held until its last member ends."""
        slots, workers = res[pool.name]
        slots.free = workers.free = 0
        t = sim.now
        slot_free = [t] * pool.slots
        worker_free = [t] * pool.workers
        last = t
        replace = heapq.heapreplace
        n_slots = pool.slots
        for c in members:
            m = run[c]
            d = own[c] if m is None else m
            iss = issue[c]
            first = True
            left = units[c]
            while left:
                if (left >= n_slots and pool.workers == n_slots
                        and _issue_bound(slot_free, t, iss, d)):
                    # the rest go out back to back, one issue apart (see _issue_bound)
                    if first:
                        start[c] = t
                        first = False
                    e = t + left * iss + d
                    busy[c] += left * (iss + d)
                    end[c] = e
                    ends = [t + k * iss + d for k in range(left - n_slots + 1, left + 1)]
                    slot_free[:] = heapq.nlargest(n_slots, slot_free + ends)
                    heapq.heapify(slot_free)
                    t += left * iss
                    if e > last:
                        last = e
                    break
                left -= 1
                f = slot_free[0]
                if f > t:
                    t = f
                if first:
                    start[c] = t
                    first = False
                t0 = t
                t += iss
                if pool.workers < pool.slots:
                    w = worker_free[0]
                    e = (w if w > t else t) + d
                    replace(worker_free, e)
                else:  # a member holding a slot always finds a worker
                    e = t + d
                busy[c] += e - t0
                end[c] = e
                replace(slot_free, e)
                if e > last:
                    last = e
        if last > sim.now:
            yield last - sim.now
        for _ in range(pool.workers):
            sim.release(workers)
        for _ in range(pool.slots):
            sim.release(slots)
        if pool.wait_s > 0.0:
            yield pool.wait_s

    def group(members: list[int]) -> Generator[Any, None, None]:
        pool = pools[members[0]]
        if pool is not None and sum(units[c] for c in members) >= LEAF_GROUP_MIN:
            slots, workers = res[pool.name]
            if (slots.free == pool.slots and workers.free == pool.workers
                    and all(pools[c] is pool and c not in blocks and total[c] is None for c in members)):
                yield from leaf_group(members, pool)
                return
        procs = []
        wait = 0.0
        for c in members:
            pool = pools[c]
            if pool is None or total[c] is not None:
                # no pool: members overlap without limit, and so do a record's units
                start[c] = sim.now
                procs.append(sim.spawn(body(c)))
                overlapped.append(c)
                continue
            wait = max(wait, pool.wait_s)
            for k in range(units[c]):
                t0 = yield from submit(c, pool, k == 0)
                procs.append(sim.spawn(member(c, pool, t0)))
        yield _Join(procs)
        if wait > 0.0:
            yield wait

    proc = sim.spawn(children(sec.top))
    sim.run()
    if not proc.done:
        raise PricingError(f"device {sec.device!r}, window {sec.window}: the schedule deadlocked "
                           f"(nested work waits for a pool its ancestors hold); give the inner work "
                           f"its own pool")
    for i in overlapped:
        busy[i] = (end[i] - start[i]) * units[i]
    for i in range(n):  # work without a pool that ran as a child
        if busy[i] == 0.0:
            busy[i] = end[i] - start[i]
    return start, end, busy, sim.now


def _summarise(sec: _Section, start: list[float], end: list[float], busy: list[float],
               units: list[int], duration: float, copies: int) -> SectionTiming:
    recs = sec.records
    phases: dict[str, float] = {}
    pstart: dict[str, float] = {}
    pend: dict[str, float] = {}
    top: list[tuple[float, int]] = []
    for b in sec.top:
        for i in (b,) if isinstance(b, int) else b:
            ph = recs[i].phase
            d = end[i] - start[i]
            phases[ph] = phases.get(ph, 0.0) + d
            pstart.setdefault(ph, start[i])
            pend[ph] = max(pend.get(ph, 0.0), end[i])
            top.append((d, i))
    top.sort(key=lambda x: -x[0])
    by_kind: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(recs):
        by_kind.setdefault((r.layer, r.name), []).append(i)
    kinds: dict[tuple[str, str], KindStat] = {}
    for (layer, name), idx in by_kind.items():
        st = kinds[(str(layer), name)] = KindStat(sum(units[i] for i in idx))
        ivs = [(start[i], end[i]) for i in idx if end[i] > start[i]]
        st.busy = sum(busy[i] for i in idx)
        ivs.sort()
        span = 0.0
        cur_s = cur_e = -1.0
        for s, e in ivs:
            if s > cur_e:
                span += cur_e - cur_s
                cur_s, cur_e = s, e
            elif e > cur_e:
                cur_e = e
        st.span = span + (cur_e - cur_s)
    return SectionTiming(sec.device, sec.window, copies, recs, duration, phases, pstart, pend, kinds,
                         top[:20])


def split_sections(records: Sequence[TraceRecord]) -> list[_Section]:
    """Cut a trace into (device, window) sections; each record goes with its top-level ancestor."""
    seen: dict[int, tuple[tuple[str, str], int]] = {}  # seq -> (section, index in it)
    parts: dict[tuple[str, str], tuple[list[TraceRecord], list[int]]] = {}
    for r in records:
        if r.parent is None:
            key = (r.device, window_of(r.phase))
            parent = -1
        else:
            up = seen.get(r.parent)
            if up is None:
                raise PricingError(f"record {r.seq} ({r.layer} {r.name}): parent {r.parent} is not an "
                                   f"earlier record of the trace")
            key, parent = up
        if r.seq in seen:
            raise PricingError(f"record {r.seq} ({r.layer} {r.name}): sequence number used twice")
        part = parts.get(key)
        if part is None:
            part = parts[key] = ([], [])
        seen[r.seq] = (key, len(part[0]))
        part[0].append(r)
        part[1].append(parent)
    return [_Section(dev, win, recs, parent) for (dev, win), (recs, parent) in parts.items()]


def price(records: Sequence[TraceRecord], profile: Profile,
          options: PriceOptions | None = None) -> Schedule:
    """Schedule ``records`` under ``profile``. Raises :class:`PricingError` naming every
    (layer, name) the profile does not price."""
    opts = options or PriceOptions()
    if opts.mode not in ("priced", "measured"):
        raise ValueError(f"mode must be 'priced' or 'measured', not {opts.mode!r}")
    for dev, k in opts.copies.items():
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InputError(f"copies of device {dev!r} must be a positive integer, not {k!r}")
    sections = split_sections(records)
    pricer = _Pricer(profile, opts)
    done: dict[tuple[Any, ...], SectionTiming] = {}
    out: list[SectionTiming] = []
    priced = 0
    shapes: dict[tuple[str, int, int], int] = {}
    for sec in sections:
        shapes[sec.shape()] = shapes.get(sec.shape(), 0) + 1
    for sec in sections:
        copies = opts.copies.get(sec.device, 1)
        sig = sec.signature() if opts.dedup and shapes[sec.shape()] > 1 else None
        prior = done.get(sig) if sig is not None else None
        if prior is not None:
            out.append(dataclasses.replace(prior, device=sec.device, copies=copies, records=sec.records,
                                           shared_with=prior.device))
            continue
        costs = pricer.price(sec)
        if pricer.missing:
            break
        start, end, busy, duration = _schedule(sec, costs)
        timing = _summarise(sec, start, end, busy, costs.units, duration, copies)
        priced += 1
        out.append(timing)
        if sig is not None:
            done[sig] = timing
    if pricer.missing:
        listed = ", ".join(f"{layer} {name!r} ({n} record{'s' * (n != 1)})"
                           for (layer, name), n in sorted(pricer.missing.items()))
        raise PricingError(f"{profile.path}: no cost for {listed}; add a [layer.name] table (or "
                           f"[layer.\"*\"] for host, ioctl and op work) to the profile")
    warnings = [f"{layer} {name}: {n} record(s) carry no {driver!r}, priced per {driver} as 0"
                for (layer, name, driver), n in sorted(pricer.no_driver.items())]
    absent = sorted(set(opts.copies) - {s.device for s in out})
    if absent:
        warnings.append(f"copies given for device(s) {', '.join(absent)}, which have no records")
    unknown = [r for s in out if s.window == "other" for r in s.records
               if r.parent is None and r.phase not in OUTSIDE_WINDOWS]
    if unknown:
        warnings.append(f"{len(unknown)} top-level record(s) of device(s) "
                        f"{', '.join(sorted({r.device for r in unknown}))} have no flow step id "
                        f"(A*, B*, C4.1*, C4.2*, or {', '.join(OUTSIDE_WINDOWS)}): priced, but in no "
                        f"downtime")
    return Schedule(profile, opts.mode, out, warnings, len(records), priced)


def lane_schedule(durations: Iterable[tuple[Any, float]],
                  lanes: int) -> tuple[list[tuple[Any, float]], float]:
    """List-schedule (key, duration) streams onto ``lanes`` in order: each starts on the lane
    that frees first. Returns (key, start) per stream and the makespan."""
    free = [0.0] * lanes
    out = []
    for key, d in durations:
        k = min(range(lanes), key=free.__getitem__)
        out.append((key, free[k]))
        free[k] += d
    return out, max(free) if free else 0.0

