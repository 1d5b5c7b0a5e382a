# SPDX-License-Identifier: MIT
"""The testbench's own lint: its HDL (tb/hdl) is clean under verilator -Wall, and no coroutine
of the Python testbench (tb/vdpa_tb) wakes on every clock edge.

A coroutine that awaits the clock in a loop (or ``ClockCycles``, which is such a loop inside
cocotb) puts Python on the per-cycle path and slows a simulation by one to two orders of
magnitude; the fast path exists to keep it off (docs/testbench.md, "Keeping Python off the
clock"). Waits belong on a ``Timer``, on an edge of a rare signal, or in the HDL.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import vdpa_tb
from vdpa_tb import sim

TB_PY = sim.TB_DIR / "vdpa_tb"
#: trigger constructors and handle attributes that fire on a signal's edges
EDGE_CALLS = {"RisingEdge", "FallingEdge", "Edge", "ValueChange"}
EDGE_ATTRS = {"rising_edge", "falling_edge", "value_change"}
#: triggers that fire in every time step
STEP_CALLS = {"ReadOnly", "ReadWrite", "NextTimeStep"}
CLOCK_NAME = re.compile(r"(^|[._])(clk|clock)($|[._])", re.IGNORECASE)
#: a Timer this short in a loop polls every cycle (ns; one clock period is 10 ns)
SHORT_TIMER_NS = 10


def _name(node: ast.AST) -> str:
    f = node.func if isinstance(node, ast.Call) else node
    if isinstance(f, ast.Attribute):
        return f.attr
    return f.id if isinstance(f, ast.Name) else ""


def _is_clock(expr: ast.AST) -> bool:
    return bool(CLOCK_NAME.search(ast.unparse(expr)))


def _per_cycle(awaited: ast.AST) -> str | None:
    """Why awaiting ``awaited`` once per loop iteration wakes Python every cycle, or None."""
    if isinstance(awaited, ast.Call):
        name = _name(awaited)
        if name in EDGE_CALLS and awaited.args and _is_clock(awaited.args[0]):
            return f"{name}({ast.unparse(awaited.args[0])})"
        if name in STEP_CALLS:
            return f"{name}()"
        if name == "Timer" and awaited.args and isinstance(awaited.args[0], ast.Constant) \
                and isinstance(awaited.args[0].value, int | float) \
                and awaited.args[0].value <= SHORT_TIMER_NS:
            return f"Timer({awaited.args[0].value})"
    if isinstance(awaited, ast.Attribute) and awaited.attr in EDGE_ATTRS \
            and _is_clock(awaited.value):
        return ast.unparse(awaited)
    return None


def findings(source: str, filename: str = "<src>") -> Iterator[str]:
    """Every place in ``source`` where a coroutine awaits each clock edge."""
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node) == "ClockCycles":
            yield (f"{filename}:{node.lineno}: ClockCycles wakes Python on every edge it counts; "
                   "wait on a Timer instead")
        if not isinstance(node, ast.AsyncFunctionDef):
            continue
        for loop in ast.walk(node):
            if not isinstance(loop, ast.For | ast.While | ast.AsyncFor):
                continue
            for inner in ast.walk(loop):
                if isinstance(inner, ast.Await):
                    why = _per_cycle(inner.value)
                    if why:
                        yield (f"{filename}:{inner.lineno}: {node.name} awaits {why} in a loop: "
                               "Python wakes on every clock edge")


#: a module of tb/vdpa_tb that drives one block's ports cycle by cycle by design (a block-level
#: bench such as test_vdpa_cmd_proc.py) says so in a module-level string of this name, giving its
#: reason; it must not drive a NIC top (no ``Tb``), whose simulations stay off the clock
WAIVER = "PER_CYCLE_BLOCK_BENCH"


def waiver(source: str) -> str | None:
    """The reason a module gives for driving its block cycle by cycle, or None."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == WAIVER
                                                for t in node.targets) \
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return node.value.value
    return None


def drives_a_nic(source: str) -> bool:
    """The module builds a NIC testbench (``Tb(...)``)."""
    return any(isinstance(n, ast.Call) and _name(n) == "Tb" for n in ast.walk(ast.parse(source)))


def test_lint_no_coroutine_awaits_every_clock_edge() -> None:
    found = sorted({f for path in sorted(TB_PY.rglob("*.py"))
                    if not waiver(path.read_text())
                    for f in findings(path.read_text(), str(path.relative_to(sim.ROOT)))})
    assert not found, "\n".join(found)


def test_lint_block_bench_waivers_are_block_benches() -> None:
    """A waived module gives a reason and never drives a NIC top."""
    for path in sorted(TB_PY.rglob("*.py")):
        src = path.read_text()
        why = waiver(src)
        if why is None:
            continue
        assert len(why.split()) >= 5, f"{path.name}: {WAIVER} needs a reason, not {why!r}"
        assert not drives_a_nic(src), f"{path.name} waives the per-cycle check but builds a Tb"


@pytest.mark.parametrize(("code", "waived"), [
    (f'{WAIVER} = "drives the block ports of the command processor cycle by cycle"\n', True),
    (f'X = "{WAIVER}"\n', False),
    ("def f():\n    PER_CYCLE_BLOCK_BENCH = 'a b c d e f'\n", False),
])
def test_lint_waiver_is_read_from_the_module_only(code: str, waived: bool) -> None:
    assert (waiver(code) is not None) == waived


@pytest.mark.parametrize(("code", "caught"), [
    ("async def m(dut):\n    while True:\n        await RisingEdge(dut.clk)\n", True),
    ("async def m(self):\n    for _ in range(9):\n        await FallingEdge(self.clock)\n", True),
    ("async def m(d):\n    while d.busy:\n        await d.d0_clk.rising_edge\n", True),
    ("async def m(d):\n    while True:\n        if x:\n            await ReadOnly()\n", True),
    ("async def m(d):\n    while True:\n        await Timer(10, 'ns')\n", True),
    ("async def m(d):\n    await ClockCycles(d.clk, 5)\n", True),
    ("async def m(d):\n    while True:\n        await RisingEdge(d.irq_fault)\n", False),
    ("async def m(d):\n    while True:\n        await Timer(200_000 * 10, 'ns')\n", False),
    ("async def m(d):\n    await RisingEdge(d.clk)\n", False),
])
def test_lint_per_cycle_check_catches_what_it_should(code: str, caught: bool) -> None:
    """The check itself: per-cycle loops are reported, rare edges and long timers are not."""
    assert bool(list(findings(code))) == caught


#: every module of the Python testbench; the simulator imports a cocotb module only when a run starts,
#: so a broken import would otherwise surface as "results file not found" minutes into ``make test``;
#: a package's ``__main__`` runs its command line when imported, and its own tests run it
TB_MODULES = sorted(m.name for m in pkgutil.walk_packages(vdpa_tb.__path__, "vdpa_tb.")
                    if not m.name.endswith(".__main__"))


@pytest.mark.parametrize("module", TB_MODULES)
def test_lint_testbench_module_imports(module: str) -> None:
    """Each testbench module imports outside the simulator: every name it takes from another
    module exists there (ruff does not resolve imported names, and mypy covers the model only)."""
    importlib.import_module(module)


@pytest.mark.parametrize("top", ["vdpa_nic_top", "vdpa_nic_pair"])
@pytest.mark.parametrize("data_w", [32, 64, 128, 256, 512])
def test_lint_tb_tops_verilator_wall(top: str, data_w: int) -> None:
    """The fast path's testbench tops and host models are -Wall clean at every bus width."""
    sim.use_pinned_verilator()
    files = [str(f) for f in sim.tb_filelist(top)]
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "--timing", f"-GDATA_W={data_w}",
                        f"-I{sim.TB_HDL}", "--top-module", f"tb_{top}", *files],
                       capture_output=True, text=True, cwd=Path(sim.TB_HDL))
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr
