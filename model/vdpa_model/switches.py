# SPDX-License-Identifier: MIT
"""Every optimisation of migration-sequence.md §5 as a named switch, in one config object.

:class:`Switches` holds the ten switches and the firmware capability ``fw_resumable``; any
combination can be written, the :data:`PRESETS` give the cumulative steps of the talk's
staircase. What a switch needs is checked in three places, each refusing with a
:class:`SwitchError` that names the switch and what is missing, never by ignoring it:

* :meth:`Switches.check`: switches that need another (``resumable_vqs`` assumes
  ``desc_group_asid`` and ``persistent_iotlb``) or a firmware capability (``fw_resumable``);
* :meth:`Switches.device_options`: parent switches on a parent without firmware (vdpa_sim);
* :meth:`Switches.check_backend`: a backend feature the device does not offer, read from
  VHOST_GET_BACKEND_FEATURES of the real device (so the check holds for any device).

======================  ========  ==========================================================
switch                  side      what it changes (migration-sequence.md §5)
======================  ========  ==========================================================
``early_map_dest``      QEMU      C 4.2.8 moves to C 4.1.4 (destination RAM mapped early)
``desc_group_asid``     QEMU+dev  SVQ rings in ASID 1 with the CVQ; guest RAM stays at GPA
``persistent_iotlb``    QEMU+dev  reset keeps maps, QEMU keeps its listener: − A7, A16, B6
``batch_ring_maps``     QEMU      ring and CVQ-buffer maps batched per ASID and step
``resumable_vqs``       QEMU+dev  Flow A by suspend/resume instead of reset; no B5
``precreated_vqs``      parent    VQ creation from DRIVER_OK into device add and resets
``parallel_fw_cmds``    parent    MODIFY / QUERY rounds in parallel, link notifier kept
``parallel_mkey``       parent    direct keys of a region built (and freed) in parallel
``deferred_mr_free``    parent    old regions freed by a collector 2 s later
``parallel_cvq_load``   QEMU      CVQ replay commands queued, one wait
``fw_resumable``        firmware  suspended VQs can resume (capability, on by default)
======================  ========  ==========================================================
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .options import DeviceOptions, Parent
from .spec import (
    VHOST_BACKEND_F_DESC_ASID,
    VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK,
    VHOST_BACKEND_F_IOTLB_ASID,
    VHOST_BACKEND_F_IOTLB_BATCH,
    VHOST_BACKEND_F_IOTLB_MSG_V2,
    VHOST_BACKEND_F_IOTLB_PERSIST,
    VHOST_BACKEND_F_RESUME,
    VHOST_BACKEND_F_SUSPEND,
    bit,
)
from .vhost import VhostOptions

#: The switches in the order of the issue's cumulative presets.
SWITCHES: tuple[str, ...] = (
    "early_map_dest", "desc_group_asid", "persistent_iotlb", "batch_ring_maps", "resumable_vqs",
    "precreated_vqs", "parallel_fw_cmds", "parallel_mkey", "deferred_mr_free", "parallel_cvq_load",
)
#: Switches the parent driver and its firmware implement (DeviceOptions fields of the same name).
PARENT_SWITCHES: tuple[str, ...] = ("precreated_vqs", "parallel_fw_cmds", "parallel_mkey",
                                    "deferred_mr_free")

#: What upstream QEMU negotiates (vhost_vdpa_set_backend_cap, ground rule 9).
UPSTREAM_BACKEND = (bit(VHOST_BACKEND_F_IOTLB_MSG_V2) | bit(VHOST_BACKEND_F_IOTLB_BATCH)
                    | bit(VHOST_BACKEND_F_IOTLB_ASID) | bit(VHOST_BACKEND_F_SUSPEND))

#: The backend feature a switch needs from the device, with its uapi name.
_BACKEND_NEEDS: dict[str, tuple[int, str]] = {
    "desc_group_asid": (VHOST_BACKEND_F_DESC_ASID, "VHOST_BACKEND_F_DESC_ASID"),
    "persistent_iotlb": (VHOST_BACKEND_F_IOTLB_PERSIST, "VHOST_BACKEND_F_IOTLB_PERSIST"),
    "resumable_vqs": (VHOST_BACKEND_F_RESUME, "VHOST_BACKEND_F_RESUME"),
    "batch_ring_maps": (VHOST_BACKEND_F_IOTLB_BATCH, "VHOST_BACKEND_F_IOTLB_BATCH"),
}


class SwitchError(ValueError):
    """A switch the device or the configuration cannot honour; the message names both."""


@dataclasses.dataclass(frozen=True)
class Switches:
    """One migration configuration. Every field off is upstream QEMU on an older mlx5."""

    early_map_dest: bool = False
    desc_group_asid: bool = False
    persistent_iotlb: bool = False
    batch_ring_maps: bool = False
    resumable_vqs: bool = False
    precreated_vqs: bool = False
    parallel_fw_cmds: bool = False
    parallel_mkey: bool = False
    deferred_mr_free: bool = False
    parallel_cvq_load: bool = False
    #: firmware capability (MLX5_CAP freeze_to_rdy_supported), not an optimisation
    fw_resumable: bool = True

    def enabled(self) -> tuple[str, ...]:
        return tuple(n for n in SWITCHES if getattr(self, n))

    def with_(self, **changes: bool) -> Switches:
        unknown = set(changes) - set(SWITCHES) - {"fw_resumable"}
        if unknown:
            raise SwitchError(f"unknown switch(es) {sorted(unknown)}; known: {', '.join(SWITCHES)}, "
                              "fw_resumable")
        return dataclasses.replace(self, **changes)

    def describe(self) -> str:
        on = self.enabled()
        out = "+".join(on) if on else "no switches"
        return out if self.fw_resumable else out + " (firmware cannot resume)"

    def check(self) -> None:
        """Refuse a switch that needs another switch or a firmware capability."""
        if self.resumable_vqs:
            if not self.fw_resumable:
                raise SwitchError("resumable_vqs refused: the firmware cannot resume a suspended "
                                  "VQ (fw_resumable is off), so the parent offers no resume op")
            missing = [n for n in ("desc_group_asid", "persistent_iotlb") if not getattr(self, n)]
            if missing:
                raise SwitchError(f"resumable_vqs refused: it needs {' and '.join(missing)} "
                                  "(the resumable Flow A keeps guest RAM mapped at GPA in ASID 0 "
                                  "and moves only the rings; migration-sequence.md §5)")

    def device_options(self, parent: Parent, **base: Any) -> DeviceOptions:
        """The reference device's options for these switches on ``parent``: the parent
        switches and fw_resumable become the DeviceOptions fields of the same names."""
        self.check()
        fields = {name: getattr(self, name) for name in (*PARENT_SWITCHES, "fw_resumable")}
        if parent is Parent.SIM:
            for name in PARENT_SWITCHES:
                if fields[name]:
                    raise SwitchError(f"{name} refused: it is mlx5 parent and firmware behaviour; "
                                      "the sim parent (vdpa_sim) has no firmware")
            if not self.fw_resumable:
                raise SwitchError("fw_resumable=False refused: the sim parent (vdpa_sim) always "
                                  "resumes; it has no firmware capability to turn off")
            return DeviceOptions.for_parent(parent, **base)
        return DeviceOptions.for_parent(parent, **fields, **base)

    def backend_features(self, offered: int) -> int:
        """What QEMU acks for these switches: upstream's set, plus each switch's feature."""
        want = UPSTREAM_BACKEND
        for name, (n, _) in _BACKEND_NEEDS.items():
            if getattr(self, name):
                want |= bit(n)
        if self.resumable_vqs and offered & bit(VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK):
            want |= bit(VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)
        return want & offered

    def check_backend(self, offered: int, vhost: VhostOptions, device: str = "device") -> None:
        """Refuse a switch whose backend feature ``device`` does not offer."""
        for name, (n, uapi) in _BACKEND_NEEDS.items():
            if getattr(self, name) and not offered & bit(n):
                why = {"desc_group_asid": "its parent has no get_vq_desc_group op",
                       "persistent_iotlb": "its parent cannot keep maps across reset (no reset_map)",
                       "resumable_vqs": "its parent has no resume op (fw_resumable off, or no "
                                        "resume at all)",
                       "batch_ring_maps": "vhost-vdpa always offers it: the kernel is too old"}[name]
                raise SwitchError(f"{name} refused: {device} does not offer {uapi} ({why})")
        if (self.resumable_vqs and vhost.group_asid_busy_after_driver_ok
                and not offered & bit(VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK)):
            raise SwitchError(
                f"resumable_vqs refused: {device}'s kernel refuses SET_GROUP_ASID after DRIVER_OK "
                "(VhostOptions.group_asid_busy_after_driver_ok) and the parent does not offer "
                "VHOST_BACKEND_F_GROUP_ASID_AFTER_DRIVER_OK; the resumable flow rebinds the "
                "descriptor group while the device is suspended")


def _presets() -> dict[str, Switches]:
    steps: list[tuple[str, tuple[str, ...]]] = [
        ("upstream", ()),
        ("+early_map_dest", ("early_map_dest",)),
        ("+desc_group_asid", ("desc_group_asid",)),
        ("+persistent_iotlb", ("persistent_iotlb",)),
        ("+batch_ring_maps", ("batch_ring_maps",)),
        ("+resumable_vqs", ("resumable_vqs",)),
        ("+precreated_vqs", ("precreated_vqs",)),
        ("+parallel_fw_cmds", ("parallel_fw_cmds",)),
        ("+parallel_mkey+deferred_mr_free", ("parallel_mkey", "deferred_mr_free")),
        ("+parallel_cvq_load", ("parallel_cvq_load",)),
    ]
    out: dict[str, Switches] = {}
    cur = Switches()
    for name, adds in steps:
        cur = cur.with_(**dict.fromkeys(adds, True))
        out[name] = cur
    return out


#: The staircase: "upstream" (every switch off: upstream QEMU's step order of §§2-4 on an mlx5
#: before pre-creation and parallel firmware commands), then each step adds its switch(es) to
#: the previous. Real upstream QEMU 10.1 already maps the destination early (P5) and loads the
#: CVQ in parallel (since 8.2); the presets follow the issue's order, not release history.
PRESETS: dict[str, Switches] = _presets()
#: The cumulative steps of the staircase, upstream first, in order.
STAIRCASE: tuple[str, ...] = tuple(PRESETS)
PRESETS["all-on"] = PRESETS["+parallel_cvq_load"]


def parse_switches(text: str) -> Switches:
    """``"upstream"``, ``"+batch_ring_maps"``, ``"all-on,-parallel_mkey"``,
    ``"desc_group_asid,persistent_iotlb"`` or ``"upstream,fw_resumable=off"``: an optional
    preset first, then switches to turn on (``name``), off (``-name``) or set (``name=on|off``)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    cur = Switches()
    if parts and parts[0] in PRESETS:
        cur = PRESETS[parts.pop(0)]
    for p in parts:
        if "=" in p:
            name, _, value = p.partition("=")
            if value not in ("on", "off", "1", "0", "true", "false"):
                raise SwitchError(f"switch {name!r}: value {value!r} is not on/off")
            cur = cur.with_(**{name: value in ("on", "1", "true")})
        elif p.startswith("-"):
            cur = cur.with_(**{p[1:]: False})
        elif p in PRESETS:
            raise SwitchError(f"preset {p!r} must come first in {text!r}")
        else:
            cur = cur.with_(**{p.lstrip("+"): True})
    return cur
