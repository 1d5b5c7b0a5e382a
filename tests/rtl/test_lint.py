# SPDX-License-Identifier: MIT
"""The RTL is lint-clean under verilator --lint-only -Wall (waivers are inline, with reasons)
and portable: it compiles under Icarus Verilog and passes a smoke test there."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from vdpa_tb import sim

TOP = "vdpa_nic_top"


def lint_wall(top: str, params: dict[str, int] | None = None) -> None:
    """``top`` from its filelist under verilator --lint-only -Wall, with ``params`` set."""
    sim.use_pinned_verilator()
    files = [str(f) for f in sim.filelist(top)]
    g = [f"-G{k}={v}" for k, v in (params or {}).items()]
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top, *g, *files],
                       capture_output=True, text=True, cwd=sim.RTL_DIR)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr


@pytest.mark.parametrize("top", [TOP, "vdpa_nic_pair"])
def test_verilator_lint_wall(top: str) -> None:
    lint_wall(top)


@pytest.mark.parametrize("params", [{"NVQ": 64, "MAX_QSIZE": 32768, "DATA_W": 128, "NAS": 4,
                                     "IOTLB_ENTRIES": 64}, {"NVQ": 2, "DATA_W": 32}, {"DATA_W": 512},
                                    {"CMD_SLOTS": 1, "MTT_WRITERS": 1, "IOTLB_TABLES": 3},
                                    {"CMD_SLOTS": 64, "MTT_WRITERS": 16, "IOTLB_TABLES": 255,
                                     "FW_LAT_VQ_CREATE": 100000},
                                    {"RX_SLOTS": 1, "NVQ": 2, "DATA_W": 32},
                                    {"RX_SLOTS": 8, "NVQ": 64, "DATA_W": 512}])
def test_verilator_lint_wall_corners(params: dict[str, int]) -> None:
    lint_wall(TOP, params)


@pytest.mark.parametrize("params", [{"ENTRIES": 1, "SETS": 1}, {"ENTRIES": 3, "SETS": 2},
                                    {"ENTRIES": 16, "SETS": 64}])
def test_verilator_lint_wall_xlate_cache(params: dict[str, int]) -> None:
    """The engine builds its translation cache in one shape (four a set, a set per VQ): the
    smallest, a victim pointer that wraps before its width does, and the largest alone."""
    lint_wall("vdpa_xlate_cache", params)


@pytest.mark.parametrize("params", [{"DATA_W": 32, "CACHE_SETS": 1, "CACHE_ENTRIES": 1},
                                    {"DATA_W": 512, "CACHE_SETS": 64, "CACHE_ENTRIES": 4}])
def test_verilator_lint_wall_ring_port(params: dict[str, int]) -> None:
    """The ring-item port alone at the narrowest bus with one cache entry in one set, and at
    the widest with the engine's four entries for 64 VQs."""
    lint_wall("vdpa_ring_port", params)


@pytest.mark.parametrize("params", [{"DATA_W": 32, "MAX_BURST": 1},
                                    {"DATA_W": 512, "MAX_BURST": 256, "MAX_SEGS": 64}])
def test_verilator_lint_wall_dma_mover(params: dict[str, int]) -> None:
    """The DMA mover alone (its own file list, with the AXI package): the narrowest bus with
    single-beat bursts, and the widest with AXI's longest INCR burst (capped at 4 KiB)."""
    lint_wall("vdpa_dma_mover", params)


@pytest.mark.parametrize("params", [{"NM": 1, "ID_W": 1, "DATA_W": 32}, {"NM": 3},
                                    {"NM": 4, "ID_W": 2, "DATA_W": 512},
                                    {"NM": 5, "ID_W": 3, "DATA_W": 128}])
def test_verilator_lint_wall_axi_arb(params: dict[str, int]) -> None:
    """The AXI arbiter alone: one master with the narrowest ID, the engine's three, four
    filling a 2-bit ID space, and a count that is not a power of two past it."""
    lint_wall("vdpa_axi_arb", params)


@pytest.mark.parametrize("params", [{"NVQ": 2, "MAX_QSIZE": 2}, {"NVQ": 64, "MAX_QSIZE": 32768},
                                    {"NVQ": 8, "NGROUPS": 1}])
def test_verilator_lint_wall_vq_ctx(params: dict[str, int]) -> None:
    """The VQ contexts alone: two VQs of one in-flight word each, the largest table, one
    group."""
    lint_wall("vdpa_vq_ctx", params)


@pytest.mark.parametrize("params", [{"NVQ": 2, "DATA_W": 32, "MAX_SEGS": 2},
                                    {"NVQ": 64, "DATA_W": 512, "MAX_SEGS": 64}])
def test_verilator_lint_wall_walker(params: dict[str, int]) -> None:
    """The split-ring walker alone (with its ring port): the smallest and the largest shape."""
    lint_wall("vdpa_split_ring_walker", params)


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
def test_icarus_compiles() -> None:
    files = [str(f) for f in sim.filelist(TOP)]
    r = subprocess.run(["iverilog", "-g2012", "-o", "/dev/null", "-s", TOP, *files],
                       capture_output=True, text=True, cwd=sim.RTL_DIR)
    errors = [ln for ln in r.stderr.splitlines() if "sorry: constant selects" not in ln]
    assert r.returncode == 0, "\n".join(errors)


@pytest.mark.sim
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="Icarus Verilog not installed")
def test_icarus_smoke() -> None:
    sim.run(TOP, "vdpa_tb.tests.test_vdpa_nic_top", simulator="icarus",
            test_filter="test_regs_and_commands|test_traffic_lockstep|"
                        "test_ring_case/name=(chain_loop|read_only_rx_buffer)$")
