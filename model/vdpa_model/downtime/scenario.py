# SPDX-License-Identifier: MIT
"""Migration scenarios: the VM, its vDPA devices, their control-queue state and the switches.

A scenario file says what is migrated; the migration flows (issue 6) run it on the reference
device and the trace they record is what :mod:`.scheduler` prices. File format (TOML)::

    format = 1
    name = "talk-128g"

    [guest]
    ram = "128GiB"              # bytes, or a number with KiB/MiB/GiB/TiB
    page_size = "4KiB"          # backing pages: 4KiB, 2MiB or 1GiB
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
    preset = "upstream"         # a name of PRESETS; switches below override it
    switches = { precreated_vqs = true }

The switch and preset names are those of the migration flows (issue 6;
migration-sequence.md §5). When the flows land, their configuration object is the one
catalogue of switches and presets, and :data:`SWITCHES` and :data:`PRESETS` below are to be
taken from it instead of being kept here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from .tomlfile import KeyPath, TomlFile, load

SCENARIO_FORMAT = 1
SCENARIO_DIR = Path(__file__).resolve().parent / "data" / "scenarios"

#: Every optimisation of migration-sequence.md §5, and the firmware capability the VQ handling
#: depends on (§1 item 5).
SWITCHES: dict[str, str] = {
    "early_map_dest": "destination maps guest RAM before the window (QEMU >= 10.1): C 4.2.8 moves to C 4.1.4",
    "desc_group_asid": "rings in the descriptor group's ASID with the CVQ; SVQ stops translating guest RAM",
    "persistent_iotlb": "reset keeps the device's maps and QEMU its listener (IOTLB_PERSIST)",
    "batch_ring_maps": "ring and CVQ-buffer maps batched, one set_map per ASID per batch",
    "resumable_vqs": "Flow A suspends and resumes instead of reset and re-create (VHOST_BACKEND_F_RESUME)",
    "precreated_vqs": "mlx5 creates VQs at device add and every reset, not at DRIVER_OK (~v6.11)",
    "parallel_fw_cmds": "suspend/resume/MODIFY rounds as parallel async firmware commands (~v6.12)",
    "parallel_mkey": "direct memory keys created in parallel (~v6.12)",
    "deferred_mr_free": "old memory regions freed by a collector 2 s later (~v6.12)",
    "parallel_cvq_load": "CVQ state commands sent together, one wait (QEMU >= 8.2)",
    "fw_resumable": "firmware can resume a suspended VQ (else a map change destroys every VQ)",
}

#: The optimisation staircase: each preset adds its switches to the one before. ``fw_resumable``
#: is a property of the firmware, not a step: it stays as the scenario gives it (default on).
PRESETS: dict[str, tuple[str, ...]] = {
    "upstream": (),
    "early_map_dest": ("early_map_dest",),
    "desc_group_asid": ("desc_group_asid",),
    "persistent_iotlb": ("persistent_iotlb",),
    "batch_ring_maps": ("batch_ring_maps",),
    "resumable_vqs": ("resumable_vqs",),
    "precreated_vqs": ("precreated_vqs",),
    "parallel_fw_cmds": ("parallel_fw_cmds",),
    "parallel_mkey": ("parallel_mkey", "deferred_mr_free"),
    "parallel_cvq_load": ("parallel_cvq_load",),
}

RX_MODES = ("promisc", "allmulti", "alluni", "nomulti", "nouni", "nobcast")
PAGE_SIZES = {4 << 10: "4KiB", 2 << 20: "2MiB", 1 << 30: "1GiB"}
_UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def preset_switches(name: str) -> dict[str, bool]:
    """Every optimisation switch as the cumulative preset ``name`` sets it."""
    out = {s: False for s in SWITCHES if s != "fw_resumable"}
    for step, adds in PRESETS.items():
        for s in adds:
            out[s] = True
        if step == name:
            return out
    raise KeyError(name)


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A checked scenario. ``switches`` holds every name of :data:`SWITCHES`."""

    name: str
    description: str
    path: Path | None
    ram: int
    page_size: int
    final_ram_copy_s: float
    devices: int
    queue_pairs: int
    max_queue_pairs: int
    queue_size: int
    mac: str
    mac_table: tuple[str, ...]
    vlans: tuple[int, ...]
    rx_mode: dict[str, bool]
    preset: str | None
    switches: dict[str, bool]

    @property
    def data_vqs(self) -> int:
        return 2 * self.queue_pairs

    def with_preset(self, preset: str) -> Scenario:
        """The same VM under another preset (for the staircase); fw_resumable is kept."""
        sw = preset_switches(preset)
        sw["fw_resumable"] = self.switches["fw_resumable"]
        _check_switches(sw, None, None)
        return dataclasses.replace(self, preset=preset, switches=sw)


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


def _int(f: TomlFile, key: KeyPath, raw: Any, lo: int, hi: int) -> int:
    v = int(f.number(key, raw, integer=True))
    if not lo <= v <= hi:
        raise f.error(key, f"must be between {lo} and {hi}, got {v}")
    return v


def _check_switches(sw: dict[str, bool], f: TomlFile | None, key: KeyPath | None) -> None:
    if sw["resumable_vqs"] and not sw["fw_resumable"]:
        msg = ("switch 'resumable_vqs' needs the firmware capability 'fw_resumable' (the parent "
               "offers no resume op without it)")
        if f is not None and key is not None:
            raise f.error(key, msg)
        raise ValueError(msg)


def load_scenario(path: Path | str) -> Scenario:
    """Read and check a scenario file (a path, or the name of a shipped scenario)."""
    p = Path(path)
    if not p.exists() and (SCENARIO_DIR / f"{path}.toml").exists():
        p = SCENARIO_DIR / f"{path}.toml"
    f = load(p)
    d = f.data
    f.check_keys((), d, ("format", "name", "description", "guest", "devices", "cvq", "migration"),
                 required=("format", "name", "guest", "devices", "migration"))
    if d["format"] != SCENARIO_FORMAT:
        raise f.error(("format",), f"this reader knows format {SCENARIO_FORMAT}, not {d['format']!r}")

    g = f.table(("guest",), d["guest"])
    f.check_keys(("guest",), g, ("ram", "page_size", "final_ram_copy_ms"), required=("ram", "page_size"))
    ram = _size(f, ("guest", "ram"), g["ram"])
    page = _size(f, ("guest", "page_size"), g["page_size"])
    if page not in PAGE_SIZES:
        raise f.error(("guest", "page_size"), f"backing pages are {', '.join(PAGE_SIZES.values())}, "
                                              f"not {g['page_size']!r}")
    if ram % page:
        raise f.error(("guest", "ram"), f"{g['ram']!r} is not a whole number of {PAGE_SIZES[page]} pages")
    copy_ms = f.number(("guest", "final_ram_copy_ms"), g.get("final_ram_copy_ms", 300))

    dv = f.table(("devices",), d["devices"])
    f.check_keys(("devices",), dv, ("count", "queue_pairs", "max_queue_pairs", "queue_size"),
                 required=("count", "queue_pairs"))
    count = _int(f, ("devices", "count"), dv["count"], 1, 4096)
    qps = _int(f, ("devices", "queue_pairs"), dv["queue_pairs"], 1, 0x8000)
    max_qps = _int(f, ("devices", "max_queue_pairs"), dv.get("max_queue_pairs", qps), 1, 0x8000)
    if qps > max_qps:
        raise f.error(("devices", "queue_pairs"), f"{qps} queue pairs exceed max_queue_pairs {max_qps}")
    qsize = _int(f, ("devices", "queue_size"), dv.get("queue_size", 256), 1, 32768)
    if qsize & (qsize - 1):
        raise f.error(("devices", "queue_size"), f"must be a power of two (virtio 1.2 §2.7), got {qsize}")

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
    vlans = cv.get("vlans", [])
    if not isinstance(vlans, list):
        raise f.error(("cvq", "vlans"), "must be a list of VLAN ids")
    for v in vlans:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 4096:
            raise f.error(("cvq", "vlans"), f"VLAN ids are 0..4095, got {v!r}")
    if len(set(vlans)) != len(vlans):
        raise f.error(("cvq", "vlans"), "a VLAN id is listed twice")
    rx = f.table(("cvq", "rx_mode"), cv.get("rx_mode", {}))
    f.check_keys(("cvq", "rx_mode"), rx, RX_MODES)
    for k, v in rx.items():
        if not isinstance(v, bool):
            raise f.error(("cvq", "rx_mode", k), f"must be true or false, not {v!r}")

    mg = f.table(("migration",), d["migration"])
    f.check_keys(("migration",), mg, ("preset", "switches"))
    preset = mg.get("preset")
    if preset is not None and preset not in PRESETS:
        raise f.error(("migration", "preset"), f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    if preset is None and "switches" not in mg:
        raise f.error(("migration",), "give a preset, switches, or both")
    sw = preset_switches(preset or "upstream")
    sw["fw_resumable"] = True
    given = f.table(("migration", "switches"), mg.get("switches", {}))
    f.check_keys(("migration", "switches"), given, SWITCHES)
    for k, v in given.items():
        if not isinstance(v, bool):
            raise f.error(("migration", "switches", k), f"must be true or false, not {v!r}")
        sw[k] = v
    _check_switches(sw, f, ("migration", "switches"))

    return Scenario(f.string(("name",), d["name"]), str(d.get("description", "")), p, ram, page,
                    copy_ms / 1e3, count, qps, max_qps, qsize, mac, tuple(table), tuple(vlans),
                    dict(rx), preset, sw)
