# SPDX-License-Identifier: MIT
"""The RTL parent's option-dependent decisions (tb/vdpa_tb/parent_policy.py), without a
simulator: each option changes exactly the decision migration-sequence.md §1 items 5-8 and §5
tie to it, and nothing else."""

from __future__ import annotations

import dataclasses

import pytest

from vdpa_model import spec
from vdpa_tb.parent_policy import MapChange, ParentOptions, ParentPolicy

HW_VQS = 8
WRITERS = 4
ALL_ON = ParentOptions(fw_resumable=True, precreated_vqs=True, parallel_fw_cmds=True,
                       parallel_mkey=True, deferred_mr_free=True)
PROVISIONED = (spec.bit(spec.VIRTIO_F_VERSION_1) | spec.bit(spec.VIRTIO_NET_F_MRG_RXBUF)
               | spec.bit(spec.VIRTIO_NET_F_MQ))


def policy(**changes: bool) -> ParentPolicy:
    return ParentPolicy(dataclasses.replace(ALL_ON, **changes), HW_VQS, WRITERS)


def test_map_change_plans() -> None:
    p = policy()
    assert p.map_change(False, True, False) is None  # no region yet: just install the table
    assert p.map_change(True, True, False) == MapChange(True, False, False, True)
    assert p.map_change(True, True, True) == MapChange(True, False, False, False)
    assert p.map_change(True, False, False) == MapChange(True, False, False, False)
    q = policy(fw_resumable=False)
    assert q.map_change(True, True, False) == MapChange(True, True, True, True)
    assert q.map_change(True, True, True) == MapChange(True, True, False, False)
    assert not q.offers_resume() and q.offers("resume") is False and p.offers("resume") is True
    assert p.offers("dma_map") is False and p.offers("set_map") is None


def test_rounds_follow_parallel_options() -> None:
    cmds = ["a", "b", "c"]
    assert policy().rounds(cmds) == [cmds]
    assert policy(parallel_fw_cmds=False).rounds(cmds) == [["a"], ["b"], ["c"]]
    assert policy().serial(cmds) == [["a"], ["b"], ["c"]]  # create / destroy: always
    assert policy().rounds([]) == []
    assert policy().map_rounds(cmds) == [cmds] and policy().map_writers() == WRITERS
    off = policy(parallel_mkey=False)
    assert off.map_rounds(cmds) == [["a"], ["b"], ["c"]] and off.map_writers() == 1
    # parallel_fw_cmds leaves the table build alone and parallel_mkey the VQ rounds
    assert policy(parallel_fw_cmds=False).map_rounds(cmds) == [cmds]
    assert policy(parallel_mkey=False).rounds(cmds) == [cmds]
    assert policy().free_old_table_now() is False
    assert policy(deferred_mr_free=False).free_old_table_now() is True


def test_precreation_decisions() -> None:
    p = policy()
    assert p.vqs_created_at_add() == list(range(HW_VQS))
    assert p.active_vqs(1) == 2 and p.active_vqs(3) == 6 and p.active_vqs(9) == HW_VQS
    assert p.ready_rounds_from_init() == 2
    assert p.objects_at_driver_ok([0, 1]) == list(range(HW_VQS))
    # needs_vqs_reset: DRIVER_OK, or VQ 0 no longer the untouched blank object
    assert p.reset_tears_down(True, True) and p.reset_tears_down(False, False)
    assert not p.reset_tears_down(False, True)
    assert p.vqs_created_at_reset(True) == list(range(HW_VQS)) and p.vqs_created_at_reset(False) == []
    off = policy(precreated_vqs=False)
    assert off.vqs_created_at_add() == [] and off.active_vqs(1) == HW_VQS
    assert off.reset_tears_down(False, True) and off.vqs_created_at_reset(True) == []
    assert off.ready_rounds_from_init() == 1
    assert off.objects_at_driver_ok([0, 1, 5]) == [0, 1, 5]


@pytest.mark.parametrize("feature", [spec.VIRTIO_NET_F_MRG_RXBUF, spec.VIRTIO_F_VERSION_1,
                                     spec.VIRTIO_NET_F_CSUM])
def test_c11_conditions(feature: int) -> None:
    """A ring size other than the objects' or MRG_RXBUF / CSUM / VERSION_1 negotiated other
    than provisioned tears the pre-created objects down at DRIVER_OK; other features do not."""
    p = policy()
    assert not p.needs_teardown(PROVISIONED, PROVISIONED, False)
    assert p.needs_teardown(PROVISIONED, PROVISIONED, True)
    assert p.needs_teardown(PROVISIONED ^ spec.bit(feature), PROVISIONED, False)
    assert not p.needs_teardown(PROVISIONED & ~spec.bit(spec.VIRTIO_NET_F_MQ), PROVISIONED, False)
    assert not policy(precreated_vqs=False).needs_teardown(0, PROVISIONED, True)
