# SPDX-License-Identifier: MIT
"""Migration scenarios: the VM, its vDPA devices, their control-queue state and the switches.

A scenario file says what is migrated; :mod:`.predict` runs it through the migration flows on
the reference device (one NIC, standing for all of the same shape) and prices the trace. File
format (TOML)::

    format = 1
    name = "talk-128g"

    [guest]
    ram = "128GiB"              # bytes, or a number with KiB/MiB/GiB/TiB
    page_size = "4KiB"          # memory backend pages: 4KiB (anonymous), 2MiB or 1GiB (hugetlbfs)
    thp = true                  # 4KiB memory backed by transparent huge pages (default true)
    thp_fallback = 0.0          # share of its 2 MiB regions THP could not back (default 0)
    final_ram_copy_ms = 300     # the last RAM and device-state copy inside the window

    [devices]
    count = 2                   # vhost-vdpa net devices, all alike
    queue_pairs = 2             # data queue pairs the guest uses (4 data VQs)
    max_queue_pairs = 2         # provisioned; QEMU walks all of them (default: queue_pairs)
    queue_size = 256

    [cvq]                       # state QEMU replays through the shadowed control VQ
    mac = "52:54:00:12:34:56"   # the address set with MAC_ADDR_SET
    mac_table = []              # unicast/multicast filter entries (MAC_TABLE_SET)
    vlans = []                  # VLAN ids, one VLAN_ADD each
    rx_mode = {}                # promisc, allmulti, alluni, nomulti, nouni, nobcast: true/false

    [migration]
    preset = "all-on"           # a name of vdpa_model.switches.PRESETS; switches below override it
    switches = { precreated_vqs = false }

Switches and presets are the migration flows' own (:mod:`vdpa_model.switches`, the one
catalogue): the ten optimisations of migration-sequence.md §5 and the firmware capability
``fw_resumable``; a combination the switches refuse (``resumable_vqs`` without its
prerequisites or without ``fw_resumable``) is refused here, naming file, line and key.

``thp`` and ``thp_fallback`` say how physically contiguous the pinned guest RAM is
(:mod:`vdpa_model.hostmem`, where their defaults and reasons are kept): with THP, 2 MiB runs;
``thp = false`` is the worst case, every 4 KiB page its own run; ``thp_fallback`` leaves that
share of the 2 MiB regions in 4 KiB pages, spread evenly. Both describe anonymous memory: with
a hugetlbfs ``page_size`` a fallback share is refused, as is a share without THP.

The flows run on the reference device's mlx5 parent (options.MLX5_NET_FEATURES), so what that
parent cannot take is refused at load too: more queue pairs than the device models, a ring
larger than get_vq_num_max, and receive-filter state (a MAC table, RX modes other than the
virtio defaults) that needs VIRTIO_NET_F_CTRL_RX, which mlx5 does not offer: QEMU would replay
none of it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from ..hostmem import DEFAULTS, HostMemory, HostMemoryError
from ..options import MAX_QUEUE_PAIRS, DeviceOptions
from ..switches import PRESETS, SWITCHES, SwitchError, Switches
from .tomlfile import InputError, KeyPath, TomlFile, load

SCENARIO_FORMAT = 1
SCENARIO_DIR = Path(__file__).resolve().parent / "data" / "scenarios"

#: Receive modes of the RX class and the value virtio-net starts with (QEMU replays only a mode
#: that differs: net/vhost-vdpa.c: vhost_vdpa_net_load_rx; hw/net/virtio-net.c: promisc on).
RX_DEFAULTS = {"promisc": True, "allmulti": False, "alluni": False, "nomulti": False, "nouni": False,
               "nobcast": False}
PAGE_SIZES = {4 << 10: "4KiB", 2 << 20: "2MiB", 1 << 30: "1GiB"}
_UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_NO_CTRL_RX = ("needs VIRTIO_NET_F_CTRL_RX, which the reference device's mlx5 parent does not offer "
               "(mlx5_vnet.c: get_supported_features), so QEMU would replay none of it")


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A checked scenario. ``switches`` is what it runs; ``overrides`` are the file's own
    switch settings, which :meth:`with_preset` applies on top of another preset."""

    name: str
    description: str
    path: Path | None
    ram: int
    page_size: int
    #: how the host backs the guest's anonymous memory (THP, fallback share)
    host: HostMemory
    final_ram_copy_s: float
    devices: int
    queue_pairs: int
    max_queue_pairs: int
    queue_size: int
    mac: str
    vlans: tuple[int, ...]
    preset: str | None
    overrides: dict[str, bool]
    switches: Switches

    @property
    def data_vqs(self) -> int:
        return 2 * self.queue_pairs

    @property
    def mac_bytes(self) -> bytes:
        return bytes(int(x, 16) for x in self.mac.split(":"))

    def with_preset(self, preset: str, **overrides: bool) -> Scenario:
        """The same VM under another preset, with the file's switch settings and then
        ``overrides`` on top (the staircase). Raises SwitchError for a refused combination."""
        if preset not in PRESETS:
            raise SwitchError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
        sw = PRESETS[preset].with_(**{**self.overrides, **overrides})
        sw.check()
        return dataclasses.replace(self, preset=preset, switches=sw)

    def with_host_memory(self, thp: bool | None = None, thp_fallback: float | None = None) -> Scenario:
        """The same VM on another host: THP on or off and the fallback share, each kept from the
        file when None (turning THP off drops the fallback share, which only THP has). Raises
        HostMemoryError for a combination the memory backend cannot have."""
        on = self.host.thp if thp is None else thp
        share = thp_fallback if thp_fallback is not None else (self.host.thp_fallback if on else 0.0)
        host = HostMemory(on, share)
        host.pattern(self.page_size)
        return dataclasses.replace(self, host=host)

    def with_switches(self, **overrides: bool) -> Scenario:
        """The scenario's own configuration with some switches set."""
        sw = self.switches.with_(**overrides)
        sw.check()
        return dataclasses.replace(self, switches=sw)


def _size(f: TomlFile, key: KeyPath, raw: Any) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str):
        m = re.fullmatch(r"\s*(\d+)\s*([KMGT]iB|B)?\s*", raw)
        if not m:
            raise f.error(key, f"not a size: {raw!r} (write e.g. \"128GiB\", \"4KiB\" or a number of bytes)")
        value = int(m.group(1)) * _UNITS[m.group(2) or ""]
    else:
        raise f.error(key, f"not a size: {raw!r}")
    if value <= 0:
        raise f.error(key, f"must be positive, got {raw!r}")
    return value


def _int(f: TomlFile, key: KeyPath, raw: Any, lo: int, hi: int, why: str = "") -> int:
    v = int(f.number(key, raw, integer=True))
    if not lo <= v <= hi:
        raise f.error(key, f"must be between {lo} and {hi}, got {v}{why}")
    return v


def load_scenario(path: Path | str) -> Scenario:
    """Read and check a scenario file (a path, or the name of a shipped scenario)."""
    p = Path(path)
    if not p.exists():
        if (SCENARIO_DIR / f"{path}.toml").exists():
            p = SCENARIO_DIR / f"{path}.toml"
        elif p.suffix != ".toml":
            names = ", ".join(sorted(x.stem for x in SCENARIO_DIR.glob("*.toml")))
            raise InputError(f"no scenario {str(path)!r}: not a file, and not a shipped scenario ({names})")
    f = load(p)
    d = f.data
    f.check_keys((), d, ("format", "name", "description", "guest", "devices", "cvq", "migration"),
                 required=("format", "name", "guest", "devices", "migration"))
    if d["format"] != SCENARIO_FORMAT:
        raise f.error(("format",), f"this reader knows format {SCENARIO_FORMAT}, not {d['format']!r}")

    g = f.table(("guest",), d["guest"])
    f.check_keys(("guest",), g, ("ram", "page_size", "thp", "thp_fallback", "final_ram_copy_ms"),
                 required=("ram", "page_size"))
    ram = _size(f, ("guest", "ram"), g["ram"])
    page = _size(f, ("guest", "page_size"), g["page_size"])
    if page not in PAGE_SIZES:
        raise f.error(("guest", "page_size"), f"backing pages are {', '.join(PAGE_SIZES.values())}, "
                                              f"not {g['page_size']!r}")
    if ram % page:
        raise f.error(("guest", "ram"), f"{g['ram']!r} is not a whole number of {PAGE_SIZES[page]} pages")
    host = _host_memory(f, g, page)
    copy_ms = f.number(("guest", "final_ram_copy_ms"), g.get("final_ram_copy_ms", 300))

    dv = f.table(("devices",), d["devices"])
    f.check_keys(("devices",), dv, ("count", "queue_pairs", "max_queue_pairs", "queue_size"),
                 required=("count", "queue_pairs"))
    count = _int(f, ("devices", "count"), dv["count"], 1, 4096)
    qps = _int(f, ("devices", "queue_pairs"), dv["queue_pairs"], 1, 0x8000)
    max_qps = _int(f, ("devices", "max_queue_pairs"), dv.get("max_queue_pairs", qps), 1, MAX_QUEUE_PAIRS,
                   f" (the reference device models at most {MAX_QUEUE_PAIRS} queue pairs, "
                   f"{2 * MAX_QUEUE_PAIRS} data VQs)")
    if qps > max_qps:
        raise f.error(("devices", "queue_pairs"), f"{qps} queue pairs exceed max_queue_pairs {max_qps}")
    qsize = _int(f, ("devices", "queue_size"), dv.get("queue_size", 256), 1, 32768)
    if qsize & (qsize - 1):
        raise f.error(("devices", "queue_size"), f"must be a power of two (virtio 1.2 §2.7), got {qsize}")
    most = DeviceOptions().max_queue_size
    if qsize > most:
        raise f.error(("devices", "queue_size"), f"{qsize} exceeds the {most} entries the mlx5 parent "
                                                 f"offers (get_vq_num_max)")

    cv = f.table(("cvq",), d.get("cvq", {}))
    f.check_keys(("cvq",), cv, ("mac", "mac_table", "vlans", "rx_mode"))
    mac = cv.get("mac", "52:54:00:12:34:56")
    if not isinstance(mac, str) or not _MAC_RE.match(mac):
        raise f.error(("cvq", "mac"), f"not a MAC address: {mac!r}")
    table = cv.get("mac_table", [])
    if not isinstance(table, list):
        raise f.error(("cvq", "mac_table"), "must be a list of MAC addresses")
    for i, m in enumerate(table):
        if not isinstance(m, str) or not _MAC_RE.match(m):
            raise f.error(("cvq", "mac_table"), f"entry {i} is not a MAC address: {m!r}")
    if table:
        raise f.error(("cvq", "mac_table"), f"a MAC table {_NO_CTRL_RX}")
    vlans = cv.get("vlans", [])
    if not isinstance(vlans, list):
        raise f.error(("cvq", "vlans"), "must be a list of VLAN ids")
    for v in vlans:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 4096:
            raise f.error(("cvq", "vlans"), f"VLAN ids are 0..4095, got {v!r}")
    if len(set(vlans)) != len(vlans):
        raise f.error(("cvq", "vlans"), "a VLAN id is listed twice")
    rx = f.table(("cvq", "rx_mode"), cv.get("rx_mode", {}))
    f.check_keys(("cvq", "rx_mode"), rx, RX_DEFAULTS)
    for k, v in rx.items():
        if not isinstance(v, bool):
            raise f.error(("cvq", "rx_mode", k), f"must be true or false, not {v!r}")
        if v != RX_DEFAULTS[k]:
            raise f.error(("cvq", "rx_mode", k), f"{k} = {str(v).lower()} (virtio-net starts with "
                                                 f"{str(RX_DEFAULTS[k]).lower()}) {_NO_CTRL_RX}")

    mg = f.table(("migration",), d["migration"])
    f.check_keys(("migration",), mg, ("preset", "switches"))
    preset = mg.get("preset")
    if preset is not None and preset not in PRESETS:
        raise f.error(("migration", "preset"), f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    if preset is None and "switches" not in mg:
        raise f.error(("migration",), "give a preset, switches, or both")
    given = f.table(("migration", "switches"), mg.get("switches", {}))
    f.check_keys(("migration", "switches"), given, (*SWITCHES, "fw_resumable"))
    for k, v in given.items():
        if not isinstance(v, bool):
            raise f.error(("migration", "switches", k), f"must be true or false, not {v!r}")
    try:
        sw = PRESETS[preset or "upstream"].with_(**given)
        sw.check()
    except SwitchError as e:
        raise f.error(("migration", "switches"), str(e)) from None

    return Scenario(f.string(("name",), d["name"]), str(d.get("description", "")), p, ram, page, host,
                    copy_ms / 1e3, count, qps, max_qps, qsize, mac, tuple(vlans), preset,
                    dict(given), sw)


def _host_memory(f: TomlFile, g: dict[str, Any], page: int) -> HostMemory:
    """``guest.thp`` and ``guest.thp_fallback``, defaults from hostmem.DEFAULTS; what the two
    may not say together is hostmem's to decide, the error here names the file and line."""
    default = {d.key.split(".")[-1]: d.value for d in DEFAULTS}
    thp = g.get("thp", default["thp"])
    if not isinstance(thp, bool):
        raise f.error(("guest", "thp"), f"must be true or false, not {thp!r}")
    share = f.number(("guest", "thp_fallback"), g.get("thp_fallback", default["thp_fallback"]))
    try:
        host = HostMemory(thp, share)
        host.pattern(page)
    except HostMemoryError as e:
        raise f.error(("guest", "thp_fallback"), str(e)) from None
    return host
