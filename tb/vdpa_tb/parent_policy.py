# SPDX-License-Identifier: MIT
"""What the RTL parent driver decides, apart from how it talks to the device.

mlx5_vdpa changed how it drives its firmware over several kernel releases, and
``../shared/reference/migration-sequence.md`` §1 items 5-8 and §5 turn each change into a switch.
:class:`ParentOptions` holds those switches under the names the reference device's parent model
uses (``fw_resumable``, ``precreated_vqs``, ``parallel_fw_cmds``, ``parallel_mkey``,
``deferred_mr_free``), and :class:`ParentPolicy` makes every decision that depends on them as a
plain function of the state it is given. Nothing here touches cocotb or the device, so the same
decisions can later be made from one place for the model's parent and for the RTL parent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

from vdpa_model import spec

T = TypeVar("T")

#: Features whose difference from what was provisioned forces pre-created VQs to be torn down
#: and created again at DRIVER_OK (mlx5_vnet.c: mlx5_vdpa_set_driver_features,
#: NEEDS_TEARDOWN_MASK; calibration C11).
NEEDS_TEARDOWN_FEATURES = (spec.bit(spec.VIRTIO_NET_F_MRG_RXBUF) | spec.bit(spec.VIRTIO_NET_F_CSUM)
                           | spec.bit(spec.VIRTIO_F_VERSION_1))


@dataclasses.dataclass(frozen=True)
class ParentOptions:
    """The mlx5_vdpa behaviours the migration switches act on (migration-sequence.md §5).

    The defaults are mlx5 on a ≥ v6.12 kernel with resumable firmware, except ``precreated_vqs``:
    with it DRIVER_OK readies only the first queue pair (mlx5_vdpa_set_status →
    resume_vqs(0, cur_num_vqs)), which the reference device does not model, so lockstep runs
    against it keep the older bring-up that readies every enabled VQ.
    """

    #: The firmware can take a suspended VQ back to RDY (mlx5: the ``resume`` op exists only with
    #: FW freeze_to_rdy_supported). Without it the parent offers no ``resume`` (so no
    #: VHOST_BACKEND_F_RESUME) and a map change destroys every VQ, re-creating them only if the
    #: device is running (mlx5_vnet.c: mlx5_vdpa_change_map with ``teardown``).
    fw_resumable: bool = True
    #: VQ objects are created blank at device add and again at a reset after the device ran;
    #: DRIVER_OK then only writes their fields and readies the first queue pair, the CVQ's MQ
    #: command the rest (mlx5_vnet.c: mlx5_vdpa_dev_add, mlx5_vdpa_compat_reset, change_num_qps;
    #: ~v6.11). C11's conditions (ring size or MRG_RXBUF / CSUM / VERSION_1 differing) make
    #: DRIVER_OK tear them down and create them again.
    precreated_vqs: bool = False
    #: MODIFY and QUERY rounds over several VQs are submitted together, up to the device's
    #: execution slots (mlx5_vnet.c: modify_virtqueues, query_virtqueues through
    #: mlx5_vdpa_exec_async_cmds; ~v6.12); without it one at a time. VQ creation and
    #: destruction are one at a time either way.
    parallel_fw_cmds: bool = True
    #: A table build writes with every MTT write port and submits its ranges together (mr.c:
    #: create_direct_keys issuing CREATE_MKEY asynchronously; ~v6.12); without it one port and
    #: one range at a time.
    parallel_mkey: bool = True
    #: A replaced table is released later by a collector, not inside set_map (mr.c:
    #: mlx5_vdpa_put_mr → the MR garbage collector, MLX5_VDPA_MR_GC_TRIGGER_MS; ~v6.12).
    deferred_mr_free: bool = True
    #: The parent also offers dma_map / dma_unmap into the table in force, as vdpa_sim does
    #: with batch_mapping=0 (same name and meaning as the reference device's option). mlx5 has
    #: only set_map; vhost-vdpa then rebuilds the table at every BATCH_END or unbatched message.
    incremental_map: bool = False


@dataclasses.dataclass(frozen=True)
class MapChange:
    """What set_map does around the table switch of an ASID that already had a region
    (mlx5_vnet.c: mlx5_vdpa_change_map)."""

    #: suspend every active VQ first (a MODIFY round, then a QUERY round for the indices)
    suspend: bool
    #: destroy every VQ object before the switch, their state saved (no resumable firmware)
    teardown: bool
    #: create the destroyed VQs again after the switch (teardown and the device running)
    restore: bool
    #: move the suspended VQs back to RDY after the switch (the device running)
    resume: bool


class ParentPolicy:
    """Every option-dependent decision of the parent driver, as functions of given state."""

    def __init__(self, options: ParentOptions, hw_vqs: int, mtt_writers: int) -> None:
        self.options = options
        self.hw_vqs = hw_vqs
        self.mtt_writers = mtt_writers

    # -- ops the parent offers -----------------------------------------------------------------
    def offers_resume(self) -> bool:
        """mlx5_vdpa_dev_add clears ``.resume`` when the firmware cannot resume a VQ."""
        return self.options.fw_resumable

    def offers(self, op: str) -> bool | None:
        """Whether an optional op is offered, where an option decides (None: no option does)."""
        if op == "resume":
            return self.options.fw_resumable
        if op in ("dma_map", "dma_unmap"):
            return self.options.incremental_map
        return None

    # -- VQ objects ------------------------------------------------------------------------------
    def vqs_created_at_add(self) -> list[int]:
        """Hardware VQs created blank when the device is added (mlx5_vdpa_dev_add →
        setup_vq_resources(filled=false))."""
        return list(range(self.hw_vqs)) if self.options.precreated_vqs else []

    def reset_tears_down(self, driver_ok_was_set: bool, vq0_initial: bool) -> bool:
        """mlx5_vnet.c: needs_vqs_reset: a reset destroys the VQ objects if the device had
        DRIVER_OK, or VQ 0 left INIT or had a field changed. Without pre-creation every reset
        does (the objects die with the device's RESET command)."""
        if not self.options.precreated_vqs:
            return True
        return driver_ok_was_set or not vq0_initial

    def vqs_created_at_reset(self, torn_down: bool) -> list[int]:
        """VQs created blank again after a reset that tore them down (setup_vq_resources at the
        end of mlx5_vdpa_compat_reset)."""
        return self.vqs_created_at_add() if torn_down else []

    def needs_teardown(self, features: int, provisioned: int, sizes_differ: bool) -> bool:
        """C11: pre-created VQs are torn down and created again at DRIVER_OK when a ring size
        differs from the one they were created with or MRG_RXBUF / CSUM / VERSION_1 differ from
        provisioning (mlx5_vdpa_set_vq_num, mlx5_vdpa_set_driver_features: needs_teardown)."""
        if not self.options.precreated_vqs:
            return False
        return sizes_differ or bool((features ^ provisioned) & NEEDS_TEARDOWN_FEATURES)

    def objects_at_driver_ok(self, ready: list[int]) -> list[int]:
        """VQs that have an object once DRIVER_OK is done: every one with pre-creation
        (setup_vq_resources over max_vqs), the enabled ones without, as the reference device
        runs only those."""
        return list(range(self.hw_vqs)) if self.options.precreated_vqs else list(ready)

    def active_vqs(self, queue_pairs: int) -> int:
        """VQs [0, n) that DRIVER_OK, suspend and resume act on: the first ``queue_pairs`` pairs
        with pre-creation (mlx5: cur_num_vqs, 2 after a reset, set by the MQ command), all
        hardware VQs otherwise."""
        if self.options.precreated_vqs:
            return min(2 * queue_pairs, self.hw_vqs)
        return self.hw_vqs

    def ready_rounds_from_init(self) -> int:
        """MODIFY rounds that take a VQ from INIT to RDY: with pre-creation mlx5 writes the
        fields in one round and the state in a second (resume_vqs: "Due to a FW quirk..."); a
        VQ created with its fields needs only the state round."""
        return 2 if self.options.precreated_vqs else 1

    # -- rounds of firmware commands -------------------------------------------------------------
    def rounds(self, cmds: Sequence[T]) -> list[list[T]]:
        """A MODIFY or QUERY round: one submission of all of them with parallel_fw_cmds, one
        command at a time without."""
        if not cmds:
            return []
        if self.options.parallel_fw_cmds:
            return [list(cmds)]
        return [[c] for c in cmds]

    @staticmethod
    def serial(cmds: Sequence[T]) -> list[list[T]]:
        """VQ creation and destruction: one at a time on every kernel (setup_vq, teardown_vq)."""
        return [[c] for c in cmds]

    # -- translation tables --------------------------------------------------------------------
    def map_rounds(self, cmds: Sequence[T]) -> list[list[T]]:
        """The ranges of a table build: submitted together with parallel_mkey."""
        if not cmds:
            return []
        return [list(cmds)] if self.options.parallel_mkey else [[c] for c in cmds]

    def map_writers(self) -> int:
        """MTT write ports a table build uses."""
        return self.mtt_writers if self.options.parallel_mkey else 1

    def map_change(self, had_region: bool, driver_ok: bool, suspended: bool) -> MapChange | None:
        """set_map_data: a region already there goes through mlx5_vdpa_change_map; otherwise the
        new one is simply installed (mlx5_vdpa_update_mr), ``None``."""
        if not had_region:
            return None
        running = driver_ok and not suspended
        teardown = not self.options.fw_resumable
        return MapChange(suspend=True, teardown=teardown, restore=teardown and running,
                         resume=running)

    def free_old_table_now(self) -> bool:
        """The replaced table is freed inside set_map (before v6.12) or left to the collector."""
        return not self.options.deferred_mr_free
