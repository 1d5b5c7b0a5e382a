# SPDX-License-Identifier: MIT
"""Cost profiles: what each unit of traced work costs on one device and host, as a data file.

A profile prices every record of an op trace (:mod:`vdpa_model.trace`) from what the record
carries: its layer and name, its cost drivers (:data:`~vdpa_model.trace.ARG_KEYS`) and, where a
published figure depends on it, its context (the op it runs inside, its phase, its page size).
It also says how much work overlaps: pools of work in flight (firmware commands, translation-table
writers, CVQ commands) and how many devices are priced at once. The scheduler
(:mod:`.scheduler`) does the rest.

File format (TOML; docs/downtime.md has the full description and the shipped profiles)::

    [profile]
    format = 1
    name = "mlx5-cx6dx"
    time_unit = "us"                 # ns, us, ms, s, or cycles (then clock_mhz is required)

    [devices]
    parallel = { value = 1, source = "migration-sequence.md §1 item 11" }

    [pool.fw_cmds]                   # work of one group overlaps up to `slots` in flight
    slots = { value = 16, source = "C10" }
    issue = { value = 26.97, source = "derived from C2" }   # submitter time per item, serial
    # workers = ...                  # executing at once (default: slots)
    # wait = ...                     # submitter time once per wait (default 0)

    [fw.vq_modify]                   # layer.name; name "*" prices any other name of the layer
    pool = "fw_cmds"
    fixed = { value = 362.9, source = "derived from C2, C3" }
    per.vqs = { value = 0, step = 1, assumed = "..." }        # value x ceil(vqs / step)

    [[fw.vq_modify.case]]            # first matching case wins, else the table's own cost
    flags = 1                        # conditions: within (an enclosing record's name),
    fixed = { value = 910.5, source = "C1" }    #   phase (prefix), page_size, flags (arguments),
                                     #   grouped (true: the record is a member of a round)

Every value is a table ``{ value = <number>, source = "..." }`` naming where it comes from, or
``{ value = <number>, assumed = "..." }`` giving the reasoning for a default no source gives.
A record's ``count`` is the number of identical units it stands for (the scheduler repeats the
cost), never a cost driver.
Assumed values are the profile's named parameters: their key (``fw.vq_destroy.fixed``) is the
name under which :func:`load_profile` overrides them, and :func:`assumed_table` lists them.
Every fw kind of :data:`~vdpa_model.trace.FW_KINDS` must be priced; unknown keys, unknown kinds
or cost drivers, missing costs and negative or non-numeric values are errors naming file, line
and key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..trace import ARG_KEYS, FW_KINDS, Layer
from .tomlfile import InputError, KeyPath, TomlFile, dotted, load

PROFILE_FORMAT = 1

#: Seconds per profile time unit; "cycles" takes its length from ``clock_mhz``.
TIME_UNITS: dict[str, float | None] = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "cycles": None}

#: Where the shipped profiles live; ``--profile NAME`` finds ``NAME.toml`` here.
PROFILE_DIR = Path(__file__).resolve().parent / "data" / "profiles"

WILDCARD = "*"
_VALUE_KEYS = ("value", "source", "assumed")
_COST_KEYS = ("fixed", "per", "issue")
_CONDITION_KEYS = ("within", "phase", "page_size", "flags", "grouped")
#: Conditions on a record's own arguments: the case applies when the argument has this value.
_ARG_CONDITIONS = ("page_size", "flags")


@dataclasses.dataclass(frozen=True, slots=True)
class Param:
    """One value of a profile: its key, value (profile units), and its source or the assumption."""

    key: str
    value: float
    source: str | None
    assumed: str | None
    line: int
    overridden: bool = False
    #: the case it belongs to ("within suspend", "phase C4.1, page_size 4096"), or ""
    context: str = ""

    @property
    def sourced(self) -> bool:
        return self.source is not None


@dataclasses.dataclass(frozen=True, slots=True)
class Cost:
    """``fixed + sum(rate * ceil(arg / step))`` over the record's cost drivers, in seconds."""

    fixed_s: float
    terms: tuple[tuple[str, float, int], ...]

    def seconds(self, args: Mapping[str, int]) -> float:
        t = self.fixed_s
        for driver, rate, step in self.terms:
            a = args.get(driver)
            if a:
                t += rate * (a if step == 1 else -(-a // step))
        return t

    @property
    def zero(self) -> bool:
        return self.fixed_s == 0 and not any(rate for _, rate, _ in self.terms)


NO_COST = Cost(0.0, ())


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    """The price of an item in one context: run time (in a pool's worker) and issue time (on the
    submitter, serial). Conditions that are ``None`` (or absent from ``args``) always hold."""

    within: str | None
    phase: str | None
    #: (argument, value) pairs the record's arguments must have (page_size, flags)
    args: tuple[tuple[str, int], ...]
    run: Cost
    issue: Cost
    key: str
    #: True: only a member of a round (work submitted together, a trace ``group``); False: only
    #: work submitted on its own (a device that runs a round differently, e.g. with more write
    #: ports, prices it apart)
    grouped: bool | None = None

    def matches(self, phase: str, args: Mapping[str, int], ancestors: Iterable[str],
                grouped: bool = False) -> bool:
        if self.phase is not None and not (phase == self.phase or phase.startswith(self.phase + ".")):
            return False
        for name, value in self.args:
            if args.get(name) != value:
                return False
        if self.grouped is not None and self.grouped != grouped:
            return False
        return self.within is None or self.within in ancestors

    @property
    def conditional(self) -> bool:
        return (self.within is not None or self.phase is not None or bool(self.args)
                or self.grouped is not None)

    def describe(self) -> str:
        parts = [f"within {self.within}" if self.within else "",
                 f"phase {self.phase}" if self.phase else "",
                 *(f"{name} {value}" for name, value in self.args),
                 "" if self.grouped is None else "in a round" if self.grouped else "alone"]
        return ", ".join(p for p in parts if p) or "default"


@dataclasses.dataclass(frozen=True, slots=True)
class Item:
    """How one (layer, name) is priced: optional pool and its rules, the cases first."""

    layer: Layer
    name: str
    pool: str | None
    rules: tuple[Rule, ...]
    key: str

    @property
    def contextual(self) -> bool:
        return len(self.rules) > 1

    @property
    def uses_ancestors(self) -> bool:
        return any(r.within is not None for r in self.rules)

    def rule(self, phase: str, args: Mapping[str, int], ancestors: Iterable[str],
             grouped: bool = False) -> Rule:
        names = ancestors if isinstance(ancestors, set | frozenset) else set(ancestors)
        for r in self.rules:
            if r.matches(phase, args, names, grouped):
                return r
        return self.rules[-1]


@dataclasses.dataclass(frozen=True, slots=True)
class Pool:
    """Work that overlaps: at most ``slots`` items in flight, ``workers`` of them executing,
    ``issue`` seconds of the submitter's time per item (e.g. a firmware command's submission) and
    ``wait`` seconds of it once per wait for the work (e.g. the poll that finds no more
    completions), after one serial item or after a whole group."""

    name: str
    slots: int
    workers: int
    issue_s: float
    wait_s: float = 0.0


@dataclasses.dataclass
class Profile:
    """A loaded, checked cost profile."""

    name: str
    description: str
    path: Path
    time_unit: str
    seconds_per_unit: float
    clock_mhz: float | None
    device_parallelism: int
    pools: dict[str, Pool]
    items: dict[tuple[Layer, str], Item]
    params: dict[str, Param]
    overrides: dict[str, float]

    def item(self, layer: Layer, name: str) -> Item | None:
        """The item pricing ``layer``/``name``: its own entry, else the layer's ``"*"`` entry."""
        return self.items.get((layer, name)) or self.items.get((layer, WILDCARD))

    def with_overrides(self, overrides: Mapping[str, float]) -> Profile:
        """This profile with some values replaced (by key), e.g. for a sensitivity run."""
        return load_profile(self.path, {**self.overrides, **overrides})

    @property
    def assumed(self) -> list[Param]:
        return [p for p in self.params.values() if not p.sourced]

    def unit_label(self) -> str:
        return f"cycles at {self.clock_mhz:g} MHz" if self.time_unit == "cycles" else self.time_unit


# ---------------------------------------------------------------------------------------------
def profile_path(name_or_path: str | Path) -> Path:
    """A path as given, or the shipped profile of that name."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    shipped = PROFILE_DIR / f"{name_or_path}.toml"
    if shipped.exists():
        return shipped
    names = ", ".join(sorted(x.stem for x in PROFILE_DIR.glob("*.toml")))
    raise InputError(f"no profile {str(name_or_path)!r}: not a file, and not a shipped profile ({names})")


class _Loader:
    def __init__(self, f: TomlFile, overrides: Mapping[str, float]) -> None:
        self.f = f
        self.overrides = dict(overrides)
        self.params: dict[str, Param] = {}
        self.scale = 1.0
        self.context = ""

    def param(self, key: KeyPath, raw: Any, *, integer: bool = False, positive: bool = False,
              step: bool = False, scale: bool = True) -> tuple[Param, float, int]:
        """Read a value table; returns the param, its value in seconds (if ``scale``), its step."""
        f = self.f
        tbl = f.table(key, raw)
        f.check_keys(key, tbl, (*_VALUE_KEYS, "step") if step else _VALUE_KEYS, required=("value",))
        if ("source" in tbl) == ("assumed" in tbl):
            raise f.error(key, "needs exactly one of 'source' (where the figure comes from) or "
                               "'assumed' (why this default, when no source gives it)")
        text_key = "source" if "source" in tbl else "assumed"
        text = f.string((*key, text_key), tbl[text_key])
        value = f.number((*key, "value"), tbl["value"], integer=integer, positive=positive)
        name = dotted(key)
        overridden = name in self.overrides
        if overridden:
            value = f.number((*key, "value"), self.overrides.pop(name), integer=integer, positive=positive)
        n_step = int(f.number((*key, "step"), tbl.get("step", 1), integer=True, positive=True))
        p = Param(name, value, text if text_key == "source" else None,
                  text if text_key == "assumed" else None, f.line((*key, "value")), overridden,
                  self.context)
        self.params[name] = p
        return p, value * self.scale if scale else value, n_step

    def cost(self, key: KeyPath, tbl: dict[str, Any]) -> Cost | None:
        """``fixed`` and ``per.<driver>`` of ``tbl``; None if it has neither."""
        if "fixed" not in tbl and "per" not in tbl:
            return None
        fixed = self.param((*key, "fixed"), tbl["fixed"])[1] if "fixed" in tbl else 0.0
        terms: list[tuple[str, float, int]] = []
        per = self.f.table((*key, "per"), tbl.get("per", {}))
        for driver, raw in per.items():
            if driver not in ARG_KEYS:
                raise self.f.error((*key, "per", driver),
                                   f"unknown cost driver {driver!r} (known: {', '.join(sorted(ARG_KEYS))})")
            if driver == "count":
                raise self.f.error((*key, "per", driver),
                                   "'count' is not a cost driver: a record's count is how many "
                                   "identical units it stands for, and each unit is priced alone")
            _, rate, step = self.param((*key, "per", driver), raw, step=True)
            terms.append((driver, rate, step))
        return Cost(fixed, tuple(terms))

    def rule(self, key: KeyPath, tbl: dict[str, Any], conditions: bool) -> Rule:
        f = self.f
        f.check_keys(key, tbl, (*_COST_KEYS, *(_CONDITION_KEYS if conditions else ("pool", "case"))))
        within = f.string((*key, "within"), tbl["within"]) if "within" in tbl else None
        phase = f.string((*key, "phase"), tbl["phase"]) if "phase" in tbl else None
        args = tuple((name, int(f.number((*key, name), tbl[name], integer=True)))
                     for name in _ARG_CONDITIONS if name in tbl)
        grouped: bool | None = None
        if "grouped" in tbl:
            if not isinstance(tbl["grouped"], bool):
                raise f.error((*key, "grouped"), f"must be true or false, not {tbl['grouped']!r}")
            grouped = tbl["grouped"]
        if conditions and within is None and phase is None and not args and grouped is None:
            raise f.error(key, f"a case needs a condition: {', '.join(_CONDITION_KEYS)}")
        self.context = (Rule(within, phase, args, NO_COST, NO_COST, "", grouped).describe()
                        if conditions else "")
        run = self.cost(key, tbl)
        if run is None:
            raise f.error(key, "missing cost: give 'fixed' and/or 'per.<driver>' (a free item is "
                               "fixed = { value = 0, source = ... })")
        issue = NO_COST
        if "issue" in tbl:
            itbl = f.table((*key, "issue"), tbl["issue"])
            f.check_keys((*key, "issue"), itbl, ("fixed", "per"))
            issue = self.cost((*key, "issue"), itbl) or NO_COST
        self.context = ""
        return Rule(within, phase, args, run, issue, dotted(key), grouped)


def load_profile(name_or_path: str | Path, overrides: Mapping[str, float] | None = None) -> Profile:
    """Load and check a profile (a path, or the name of a shipped one). ``overrides`` replaces
    values by key (``{"fw.vq_destroy.fixed": 5000}``), in the profile's time unit."""
    path = profile_path(name_or_path)
    f = load(path)
    ld = _Loader(f, overrides or {})
    data = f.data
    f.check_keys((), data, ("profile", "devices", "pool", *(str(x) for x in Layer)),
                 required=("profile", "devices"))

    head = f.table(("profile",), data["profile"])
    f.check_keys(("profile",), head, ("format", "name", "description", "time_unit", "clock_mhz"),
                 required=("format", "name", "time_unit"))
    if head["format"] != PROFILE_FORMAT:
        raise f.error(("profile", "format"),
                      f"this reader knows format {PROFILE_FORMAT}, not {head['format']!r}")
    name = f.string(("profile", "name"), head["name"])
    unit = head["time_unit"]
    if unit not in TIME_UNITS:
        raise f.error(("profile", "time_unit"),
                      f"unknown time unit {unit!r} (known: {', '.join(TIME_UNITS)})")
    clock_mhz: float | None = None
    if "clock_mhz" in head:
        clock_mhz = ld.param(("profile", "clock_mhz"), head["clock_mhz"], positive=True, scale=False)[1]
    if unit == "cycles":
        if clock_mhz is None:
            raise f.error(("profile", "time_unit"), "time_unit = \"cycles\" needs profile.clock_mhz")
        ld.scale = 1e-6 / clock_mhz
    else:
        scale = TIME_UNITS[unit]
        assert scale is not None
        ld.scale = scale

    dev = f.table(("devices",), data["devices"])
    f.check_keys(("devices",), dev, ("parallel",), required=("parallel",))
    parallel = int(ld.param(("devices", "parallel"), dev["parallel"], integer=True, positive=True,
                            scale=False)[1])

    pools: dict[str, Pool] = {}
    for pname, raw in f.table(("pool",), data.get("pool", {})).items():
        pkey = ("pool", pname)
        tbl = f.table(pkey, raw)
        f.check_keys(pkey, tbl, ("slots", "workers", "issue", "wait"), required=("slots", "issue"))
        slots = int(ld.param((*pkey, "slots"), tbl["slots"], integer=True, positive=True, scale=False)[1])
        workers = slots
        if "workers" in tbl:
            workers = int(ld.param((*pkey, "workers"), tbl["workers"], integer=True, positive=True,
                                   scale=False)[1])
            if workers > slots:
                raise f.error((*pkey, "workers"), f"cannot exceed slots ({workers} > {slots})")
        issue = ld.param((*pkey, "issue"), tbl["issue"])[1]
        wait = ld.param((*pkey, "wait"), tbl["wait"])[1] if "wait" in tbl else 0.0
        pools[pname] = Pool(pname, slots, workers, issue, wait)

    items: dict[tuple[Layer, str], Item] = {}
    for layer in Layer:
        section = f.table((str(layer),), data.get(str(layer), {}))
        for iname, raw in section.items():
            key: KeyPath = (str(layer), iname)
            tbl = f.table(key, raw)
            if layer is Layer.FW and iname not in FW_KINDS:
                raise f.error(key, f"unknown fw kind {iname!r} (known: {', '.join(sorted(FW_KINDS))})")
            default = ld.rule(key, tbl, conditions=False)
            cases = [ld.rule((*key, "case", i), f.table((*key, "case", i), c), conditions=True)
                     for i, c in enumerate(_case_list(f, key, tbl.get("case", [])))]
            pool = tbl.get("pool")
            if pool is not None and (not isinstance(pool, str) or pool not in pools):
                raise f.error((*key, "pool"),
                              f"unknown pool {pool!r} (defined: {', '.join(sorted(pools)) or 'none'})")
            items[(layer, iname)] = Item(layer, iname, pool, (*cases, default), dotted(key))
    missing = sorted(set(FW_KINDS) - {n for (lay, n) in items if lay is Layer.FW})
    if missing:
        first_fw = min((ln for k, ln in f.lines.items() if k[:1] == ("fw",)), default=1)
        raise InputError(f"{path}:{first_fw}: fw: missing cost for fw kind(s) {', '.join(missing)} "
                         f"(every kind of vdpa_model.trace.FW_KINDS must be priced, 0 with a source "
                         f"if the device does no such work)")
    if ld.overrides:
        raise InputError(f"{path}: no value named {', '.join(sorted(ld.overrides))} to override "
                         f"(values are named by their key, e.g. fw.vq_destroy.fixed)")
    return Profile(name, str(head.get("description", "")), path, unit, ld.scale, clock_mhz, parallel,
                   pools, items, ld.params, dict(overrides or {}))


def _case_list(f: TomlFile, key: KeyPath, raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise f.error((*key, "case"), "must be written as [[...case]] tables")
    return raw


def assumed_table(profile: Profile) -> str:
    """The profile's named parameters (values no source gives) as a Markdown table."""
    rows = ["| parameter | applies | default | reasoning |", "|---|---|---|---|"]
    for p in profile.assumed:
        text = " ".join((p.assumed or "").split()).replace("|", "\\|")
        unit = _unit_of(profile, p.key)
        rows.append(f"| `{p.key}` | {p.context or 'always'} | {p.value:g} {unit} | {text} |")
    return "\n".join(rows)


def _unit_of(profile: Profile, key: str) -> str:
    if key.endswith((".slots", ".workers")) or key == "devices.parallel":
        return ""
    if key == "profile.clock_mhz":
        return "MHz"
    unit = "cycles" if profile.time_unit == "cycles" else profile.time_unit
    head, _, driver = key.rpartition(".per.")
    return f"{unit} per {_ONE.get(driver, driver)}" if head else unit


#: A cost driver's unit, for tables.
_ONE = {"pages": "page", "entries": "entry", "vqs": "VQ", "keys": "key", "ranges": "range",
        "cmds": "command", "vlans": "VLAN", "bytes": "byte", "beats": "beat", "qsize": "ring entry"}
