# SPDX-License-Identifier: MIT
"""cocotb tests of vdpa_vq_ctx alone (the virtqueue engine's VQ contexts and VQ command unit).

The bench plays the engine's stages: it drives the commands (as vdpa_cmd_proc does), the
doorbells, which VQs the stages hold (``held``), and the stages' events (the walker's kick
consumed and re-armed, avail.idx seen, heads in and out of flight; the move stage's dropped
chain; the completion stage's commit; one fault a cycle with its record; received frames
dropped). Every cycle of every test is compared with :class:`CtxRef`, the bench's reference of
the block's contract, on every output: the command completion (status and result words), the
drain blocks, the flattened state and kick vectors, both read ports, the fault register,
NEEDS_RESET, the drop count and the receive-buffer flush.

Where the rules come from (the reference cites them where it applies them):
  - states and transitions: drivers/vdpa/mlx5/net/mlx5_vnet.c: is_valid_state_change (INIT ->
    RDY, RDY -> SUSPEND, SUSPEND -> RDY), modifiable_virtqueue_fields (addresses, indices and
    groups only in INIT or SUSPEND); the state values are the model's VqObjectState
    (include/linux/mlx5/mlx5_ifc_vdpa.h);
  - drains: mlx5_vdpa_suspend / suspend_vq return once the hardware has stopped the queue, so
    SUSPEND, DESTROY, SUSPEND_ALL and RESET complete only when no stage holds a chain of the
    VQ (of any VQ); a VQ that faults while MODIFY to SUSPEND waits ends it with BAD_STATE
    (nothing leaves ERR but destroy, is_valid_state_change);
  - resume: drivers/vhost/vdpa.c: vhost_vdpa_resume, mlx5_vnet.c: resume_vq: the queue looks at
    its ring again, so a resumed VQ has its kick pending (a kick that came while it was
    suspended is not lost); vdpa_sim restarts its worker the same way (vdpasim_resume);
  - reset: mlx5_vdpa_compat_reset without needs_vqs_reset keeps VQ objects still in INIT
    (FLAGS bit 1, KEEP_VQS); vdpa_sim has no VQ objects and always starts over (flags 0);
  - faults: drivers/vhost/vringh.c errors put the VQ in ERR and raise NEEDS_RESET (virtio 1.2
    §2.1.2); the fault record's layout and the status codes are the register map's
    (rtl/regmap/vdpa_regmap.toml through vdpa_tb.regmap);
  - the write priority of events that meet in one cycle is the block's documented order
    (rtl/vdpa_vq_ctx.sv header): doorbell < command < walker < move < completion < fault < reset.

The sweep is over NVQ (2, 8) and MAX_QSIZE (2, 256, 32768: an in-flight table of one word per
VQ, the default, and the largest, whose CREATE clears 512 words). The random streams draw their
seeds from cocotb's per-test random (COCOTB_RANDOM_SEED reproduces a run; each stream's seed is
logged and named in a failure). The pytest entry is tests/rtl/test_vdpa_vq_ctx.py.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from vdpa_model.ops import VqObjectState as S
from vdpa_tb.nic_tb import param
from vdpa_tb.regmap import REGMAP as RM

#: why this bench wakes on clock edges (tests/rtl/test_tb_lint.py)
PER_CYCLE_BLOCK_BENCH = (
    "the bench plays the engine's stages and compares the contexts with their reference in "
    "every cycle: events meet in one cycle by design (the write priority is the contract) and "
    "a drain ends in the exact cycle the stage lets go; the block is a few registers a VQ and "
    "each test runs a few thousand cycles"
)

CLK_NS = 10
OP = {name: RM.cmd[name].opcode for name in ("CREATE_VQ", "MODIFY_VQ", "QUERY_VQ", "DESTROY_VQ",
                                              "SUSPEND_ALL", "RESUME_ALL", "RESET")}
ST = {name: s.code for name, s in RM.status.items()}
MOD = {name: 1 << bit for name, bit in RM.modify_bit.items()}
FAULT = RM.fault
#: RESET's FLAGS bit: VQ objects still in INIT survive (mlx5_vdpa_compat_reset)
KEEP_VQS = 1 << 1
#: an opcode the VQ unit has no arm for (the command processor never routes one here)
BAD_OPCODE = 0x3F

#: every input of the block and its idle value; a step drives each of them
INPUTS = ("rst", "cmd_valid", "cmd_op", "cmd_args", "held", "db_valid", "db_vq", "w_vq", "w_head",
          "w_consume", "w_rearm", "w_seen", "w_seen_idx", "w_ift_set", "w_ift_clr", "m_ift_clr",
          "m_vq", "m_head", "c_commit", "c_free", "c_vq", "c_head", "c_new_used", "c_chains",
          "c_commit_free", "f_valid", "f_vq",
          "f_errno", "f_iova", "f_xlate", "f_write", "f_asid", "rx_dropped", "c_rd_vq")
#: inputs that keep their value from one step to the next (levels, not pulses)
LEVELS = ("held", "w_vq", "w_head", "c_rd_vq", "cmd_args")
#: pulse fields whose idle value is not 0: a commit completes one chain and frees its head
#: unless a step says otherwise (the completion writer's batches, vdpa_used_writer)
PULSE_DEFAULTS = {"c_chains": 1, "c_commit_free": 1}


@dataclass
class Vq:
    """One VQ's context as the contract defines it (what QUERY_VQ and the read ports show)."""

    state: int = S.NONE
    size: int = 0
    desc: int = 0
    drv: int = 0
    dev: int = 0
    avail: int = 0
    used: int = 0
    seen: int = 0
    seen_ok: bool = False
    dgroup: int = 0
    rgroup: int = 0
    errno: int = 0
    pending: bool = False
    #: its fields are known: a CREATE wrote them (a reset clears only the state, the kick and
    #: whether avail.idx counts, so what a test before left in them is not compared)
    known: bool = False


@dataclass
class CtxRef:
    """The block's contract, one clock edge at a time.

    ``edge`` applies one edge's inputs: every write reads the state before the edge, and when
    two writes meet on one field the later in the documented priority wins (doorbell, command,
    walker, move, completion, fault, reset). The in-flight table is kept by 64-head word, as
    CREATE clears it: a word no CREATE has cleared since power-on is unknown (``None``) and
    not compared.
    """

    nvq: int
    max_qsize: int
    ngroups: int
    vq: list[Vq] = field(default_factory=list)
    ift: dict[int, int | None] = field(default_factory=dict)
    phase: str = "idle"           # idle, clear, drain_one, drain_all, done
    op: int = 0
    cmd_vq: int = 0
    target: int = 0
    clr: int = 0
    clr_end: int = 0
    status: int = 0
    data: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    data_known: bool = True       # False: a QUERY of a VQ whose fields are not known
    done: bool = False
    needs_reset: bool = False
    rx_drops: int = 0
    fault_valid: bool = False
    fault_data: int = 0
    rx_flush: bool = False

    def __post_init__(self) -> None:
        self.vq = [Vq() for _ in range(self.nvq)]
        self.words = (self.max_qsize + 63) // 64

    # -- reads -------------------------------------------------------------------------------
    def word(self, vq: int, head: int) -> int:
        return vq * self.words + (head >> 6)

    def in_flight(self, vq: int, head: int) -> bool | None:
        w = self.ift.get(self.word(vq, head))
        return None if w is None else bool(w >> (head & 63) & 1)

    def blocked(self) -> int:
        if self.phase == "drain_all":
            return (1 << self.nvq) - 1
        return 1 << self.cmd_vq if self.phase == "drain_one" else 0

    def count(self, state: int) -> int:
        return sum(v.state == state for v in self.vq)

    # -- one edge ----------------------------------------------------------------------------
    def edge(self, i: dict[str, int]) -> None:
        old = copy.deepcopy(self)
        new = self
        new.done = False
        new.fault_valid = False
        new.rx_flush = False
        drops_clear = False
        if i["db_valid"] and i["db_vq"] < self.nvq:
            new.vq[i["db_vq"]].pending = True
        drops_clear = self._command(old, new, i)
        self._events(old, new, i)
        new.rx_drops = 0 if drops_clear else (old.rx_drops + i["rx_dropped"]) & 0xFFFFFFFF
        if i["rst"]:
            new.phase, new.done, new.needs_reset, new.rx_drops = "idle", False, False, 0
            new.fault_valid, new.fault_data = False, 0
            for v in new.vq:
                v.state, v.pending, v.seen_ok = S.NONE, False, False

    def _command(self, old: CtxRef, new: CtxRef, i: dict[str, int]) -> bool:
        """The command unit's part of an edge; True when a device reset clears the drop count."""
        a = [(i["cmd_args"] >> (32 * k)) & 0xFFFFFFFF for k in range(11)]
        if old.phase == "idle":
            if i["cmd_valid"]:
                new.op, new.cmd_vq = i["cmd_op"], a[0] & (self.nvq - 1)
                new.status, new.data, new.phase = ST["OK"], [0, 0, 0, 0], "done"
                new.data_known = True
                self._accept(old, new, i["cmd_op"], a)
        elif old.phase == "clear":
            new.ift[old.clr] = 0
            new.clr = old.clr + 1
            if old.clr + 1 >= old.clr_end:
                new.phase = "done"
        elif old.phase == "drain_one":
            v = old.vq[old.cmd_vq]
            if v.state == S.ERR and old.target != S.NONE:
                # it faulted while MODIFY to SUSPEND waited: nothing leaves ERR but destroy
                new.status, new.phase = ST["BAD_STATE"], "done"
            elif not i["held"] >> old.cmd_vq & 1:
                # mlx5_vdpa_suspend / destroy: once no stage holds a chain of the VQ
                new.vq[old.cmd_vq].state = old.target
                if old.target == S.NONE:
                    new.vq[old.cmd_vq].pending = False
                new.phase = "done"
        elif old.phase == "drain_all":
            if i["held"] == 0:
                if old.op == OP["RESET"]:
                    new.rx_flush, new.needs_reset = True, False
                    for q, v in enumerate(old.vq):
                        # KEEP_VQS: objects still in INIT survive (mlx5_vdpa_compat_reset)
                        if not a[0] & KEEP_VQS or v.state != S.INIT:
                            new.vq[q].state, new.vq[q].pending = S.NONE, False
                        new.vq[q].seen_ok = False
                    new.phase = "done"
                    return True
                for q, v in enumerate(old.vq):
                    if v.state == S.RDY:
                        new.vq[q].state = S.SUSPEND
                new.data[0] = old.count(S.RDY)
                new.phase = "done"
        else:
            new.done, new.phase = True, "idle"
        return False

    def _accept(self, old: CtxRef, new: CtxRef, op: int, a: list[int]) -> None:
        """A command taken in V_IDLE: its checks against the contexts before the edge."""
        q = a[0] & (self.nvq - 1)
        v, nv = old.vq[q], new.vq[q]
        if op == OP["CREATE_VQ"]:
            size, dg, rg = a[1], a[9] & 0xFF, a[9] >> 8 & 0xFF
            if a[0] >= self.nvq or size == 0 or size & (size - 1) or size > self.max_qsize \
                    or dg >= self.ngroups or rg >= self.ngroups:
                new.status = ST["BAD_PARAM"]
            elif v.state != S.NONE:
                new.status = ST["EXISTS"]
            else:
                new.vq[q] = Vq(S.INIT, size, a[3] << 32 | a[2], a[5] << 32 | a[4],
                               a[7] << 32 | a[6], a[8] & 0xFFFF, a[8] >> 16, v.seen, False, dg,
                               rg, 0, False, True)
                # the creation cost: the VQ's in-flight words cleared one a cycle
                new.clr, new.clr_end = q * self.words, q * self.words + (size + 63) // 64
                new.phase = "clear"
        elif op == OP["MODIFY_VQ"]:
            mask, to = a[1], a[2] & 7
            fields = mask & (MOD["ADDRS"] | MOD["AVAIL_IDX"] | MOD["USED_IDX"] | MOD["GROUPS"])
            if a[0] >= self.nvq or (mask & MOD["GROUPS"] and (
                    (a[10] & 0xFF) >= self.ngroups or (a[10] >> 8 & 0xFF) >= self.ngroups)):
                new.status = ST["BAD_PARAM"]
            elif v.state in (S.NONE, S.ERR):
                new.status = ST["BAD_STATE"]
            elif fields and v.state not in (S.INIT, S.SUSPEND):
                # mlx5_vnet.c: modifiable_virtqueue_fields
                new.status = ST["BAD_STATE"]
            elif mask & MOD["STATE"] and (v.state, to) not in (
                    (S.INIT, S.RDY), (S.RDY, S.SUSPEND), (S.SUSPEND, S.RDY)):
                # mlx5_vnet.c: is_valid_state_change
                new.status = ST["BAD_STATE"]
            else:
                nv.seen_ok = False
                if mask & MOD["ADDRS"]:
                    nv.desc, nv.drv, nv.dev = (a[4] << 32 | a[3], a[6] << 32 | a[5],
                                               a[8] << 32 | a[7])
                if mask & MOD["AVAIL_IDX"]:
                    nv.avail = a[9] & 0xFFFF
                if mask & MOD["USED_IDX"]:
                    nv.used = a[9] >> 16
                if mask & MOD["GROUPS"]:
                    nv.dgroup, nv.rgroup = a[10] & 0xFF, a[10] >> 8 & 0xFF
                if mask & MOD["STATE"]:
                    if to == S.RDY:
                        # resume_vq: the queue looks at its ring again
                        nv.state, nv.pending = S.RDY, True
                    else:
                        new.target, new.phase = S.SUSPEND, "drain_one"
        elif op == OP["QUERY_VQ"]:
            if a[0] >= self.nvq:
                new.status = ST["BAD_PARAM"]
            else:
                new.data = [(v.size & 0xFFFF) << 16 | v.state, v.used << 16 | v.avail, v.errno,
                            v.rgroup << 8 | v.dgroup]
                new.data_known = v.known
        elif op == OP["DESTROY_VQ"]:
            if a[0] >= self.nvq:
                new.status = ST["BAD_PARAM"]
            elif v.state == S.NONE:
                new.status = ST["BAD_STATE"]
            else:
                new.target, new.phase = S.NONE, "drain_one"
        elif op in (OP["SUSPEND_ALL"], OP["RESET"]):
            new.phase = "drain_all"
        elif op == OP["RESUME_ALL"]:
            for n, w in enumerate(old.vq):
                if w.state == S.SUSPEND:
                    new.vq[n].state, new.vq[n].seen_ok, new.vq[n].pending = S.RDY, False, True
            new.data[0] = old.count(S.SUSPEND)
        else:
            new.status = ST["BAD_OPCODE"]

    def _set_ift(self, old: CtxRef, new: CtxRef, vq: int, head: int, bit: bool) -> None:
        w = self.word(vq, head)
        cur = new.ift.get(w)
        if cur is not None:
            new.ift[w] = cur | 1 << (head & 63) if bit else cur & ~(1 << (head & 63))

    def _events(self, old: CtxRef, new: CtxRef, i: dict[str, int]) -> None:
        wq = i["w_vq"]
        if i["w_consume"] and not (i["db_valid"] and i["db_vq"] == wq):
            new.vq[wq].pending = False
        if i["w_rearm"]:
            new.vq[wq].pending = True
        if i["w_seen"]:
            new.vq[wq].seen, new.vq[wq].seen_ok = i["w_seen_idx"], True
        if i["w_ift_set"]:
            self._set_ift(old, new, wq, i["w_head"], True)
        if i["w_ift_clr"]:
            self._set_ift(old, new, wq, i["w_head"], False)
        if i["m_ift_clr"]:
            self._set_ift(old, new, i["m_vq"], i["m_head"], False)
        if i["c_commit"]:
            c = i["c_vq"]
            new.vq[c].used = i["c_new_used"]
            new.vq[c].avail = (old.vq[c].avail + i["c_chains"]) & 0xFFFF
        if (i["c_commit"] and i["c_commit_free"]) or i["c_free"]:
            self._set_ift(old, new, i["c_vq"], i["c_head"], False)
        if i["f_valid"]:
            f = new.vq[i["f_vq"]]
            f.state, f.errno, f.pending, f.seen_ok = S.ERR, i["f_errno"], False, False
            new.needs_reset, new.fault_valid = True, True
            new.fault_data = (i["f_iova"] << 64 | i["f_xlate"] << 25 | i["f_write"] << 24
                              | i["f_asid"] << 16 | i["f_errno"] << 8 | i["f_vq"])


class TB:
    """The block, its reference, and the stages' inputs as the bench drives them."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.nvq = param("NVQ", 8)
        self.max_qsize = param("MAX_QSIZE", 256)
        self.ngroups = param("NGROUPS", 3)
        self.ref = CtxRef(self.nvq, self.max_qsize, self.ngroups)
        self.inputs = dict.fromkeys(INPUTS, 0)
        self.where = ""   # names the test or stream in a failure
        self.cycle = 0
        # the block is compared from the first reset edge on (tests share one simulation)
        self.synced = False
        Clock(dut.clk, CLK_NS, unit="ns").start()

    async def reset(self) -> None:
        await self.step(rst=1)
        self.synced = True
        for _ in range(2):
            await self.step(rst=1)
        await self.step()

    async def step(self, **drive: int) -> dict[str, int]:
        """One cycle: ``drive`` on the inputs (pulses default to 0, levels keep their value),
        every output compared with the reference, then the edge on both. Returns the outputs
        seen in the cycle."""
        for k in INPUTS:
            if k not in LEVELS:
                self.inputs[k] = PULSE_DEFAULTS.get(k, 0)
        self.inputs.update(drive)
        await FallingEdge(self.dut.clk)
        for k, v in self.inputs.items():
            getattr(self.dut, k).value = v
        await ReadOnly()
        out = self.compare() if self.synced else {}
        await RisingEdge(self.dut.clk)
        self.ref.edge(self.inputs)
        self.cycle += 1
        return out

    def compare(self) -> dict[str, int]:
        d, r, i = self.dut, self.ref, self.inputs
        got = {n: int(getattr(d, n).value) for n in (
            "cmd_busy", "done_valid", "done_status", "done_data", "blocked", "rx_flush",
            "needs_reset", "rx_drops", "fault_valid", "fault_data", "q_state_vec",
            "q_pending_vec", "w_size", "w_desc", "w_drv", "w_dev", "w_avail", "w_used",
            "w_seen_last", "w_seen_ok", "w_dgroup", "w_rgroup", "w_in_flight", "c_size", "c_drv",
            "c_dev", "c_used", "c_rgroup")}
        w, c = r.vq[i["w_vq"]], r.vq[i["c_rd_vq"]]
        want = {"cmd_busy": int(r.phase != "idle"), "done_valid": int(r.done),
                "blocked": r.blocked(), "rx_flush": int(r.rx_flush),
                "needs_reset": int(r.needs_reset), "rx_drops": r.rx_drops,
                "fault_valid": int(r.fault_valid),
                "q_state_vec": sum(v.state << 3 * q for q, v in enumerate(r.vq)),
                "q_pending_vec": sum(int(v.pending) << q for q, v in enumerate(r.vq)),
                "w_seen_ok": int(w.seen_ok)}
        if w.known:
            want.update(w_size=w.size, w_desc=w.desc, w_drv=w.drv, w_dev=w.dev,
                        w_avail=w.avail, w_used=w.used, w_dgroup=w.dgroup, w_rgroup=w.rgroup)
        if w.seen_ok:
            want["w_seen_last"] = w.seen
        if c.known:
            want.update(c_size=c.size, c_drv=c.drv, c_dev=c.dev, c_used=c.used,
                        c_rgroup=c.rgroup)
        if r.done:
            want["done_status"] = r.status
            if r.data_known:
                want["done_data"] = sum(x << 32 * k for k, x in enumerate(r.data))
        if r.fault_valid:
            want["fault_data"] = r.fault_data
        flight = r.in_flight(i["w_vq"], i["w_head"])
        if flight is not None:
            want["w_in_flight"] = int(flight)
        bad = {k: (got[k], v) for k, v in want.items() if got[k] != v}
        assert not bad, (f"{self.where}cycle {self.cycle}: (dut, reference) differ: "
                         f"{ {k: (hex(a), hex(b)) for k, (a, b) in bad.items()} }; inputs "
                         f"{ {k: hex(v) for k, v in i.items() if v} }")
        return got

    # -- commands ----------------------------------------------------------------------------
    @staticmethod
    def args(cmd: str, **named: int) -> int:
        """The argument vector of ``cmd`` with its named words (the register map's order)."""
        return sum((v & 0xFFFFFFFF) << 32 * RM.arg_index(cmd, k) for k, v in named.items())

    async def issue(self, cmd: str | int, **named: int) -> None:
        """Offer one command (the unit must be idle) and leave its arguments on the port."""
        assert self.ref.phase == "idle", "the bench offers a command only to an idle unit"
        name = cmd if isinstance(cmd, str) else "RESET"
        opcode = OP[cmd] if isinstance(cmd, str) else cmd
        await self.step(cmd_valid=1, cmd_op=opcode, cmd_args=self.args(name, **named))

    async def wait_done(self, limit: int = 2000, **each: int) -> tuple[int, list[int]]:
        """Steps (driving ``each`` every cycle) until the completion; its status and words."""
        for _ in range(limit):
            out = await self.step(**each)
            if out["done_valid"]:
                data = out["done_data"]
                return out["done_status"], [data >> 32 * k & 0xFFFFFFFF for k in range(4)]
        raise AssertionError(f"{self.where}no completion in {limit} cycles")

    async def command(self, cmd: str | int, **named: int) -> tuple[int, list[int]]:
        await self.issue(cmd, **named)
        return await self.wait_done()

    async def create(self, vq: int, size: int, ok: bool = True, **named: int) -> None:
        st, _ = await self.command("CREATE_VQ", VQ=vq, SIZE=size, **named)
        assert (st == ST["OK"]) == ok, f"CREATE_VQ {vq} size {size}: status {st}"

    async def modify_state(self, vq: int, state: int) -> int:
        st, _ = await self.command("MODIFY_VQ", VQ=vq, MASK=MOD["STATE"], STATE=state)
        return st

    async def query(self, vq: int) -> list[int]:
        st, data = await self.command("QUERY_VQ", VQ=vq)
        assert st == ST["OK"], f"QUERY_VQ {vq}: status {st}"
        return data

    async def look(self) -> dict[str, int]:
        """One cycle with no event: the outputs as the last edge left them."""
        return await self.step()


def st(out: dict[str, int], vq: int) -> int:
    """VQ ``vq``'s object state in a cycle's outputs."""
    return out["q_state_vec"] >> 3 * vq & 7


def pend(out: dict[str, int], vq: int) -> bool:
    """Whether VQ ``vq``'s kick is pending in a cycle's outputs."""
    return bool(out["q_pending_vec"] >> vq & 1)


async def start(dut: Any, where: str) -> TB:
    tb = TB(dut)
    tb.where = f"{where} (NVQ {tb.nvq}, MAX_QSIZE {tb.max_qsize}): "
    await tb.reset()
    return tb


async def two_rdy_queues(tb: TB) -> tuple[int, int]:
    """VQs 1 and 0 (a TX and an RX queue) created and started."""
    for q in (1, 0):
        await tb.create(q, min(64, tb.max_qsize))
        assert await tb.modify_state(q, S.RDY) == ST["OK"]
    return 1, 0


@cocotb.test()
async def test_commands_good_and_bad_arguments(dut):
    """Every VQ command with good arguments and with each bad one, each status where the
    register map puts it: CREATE (VQ, size not a power of two, too large, groups out of range,
    twice), MODIFY (every field outside INIT/SUSPEND, every state change mlx5 refuses and
    accepts, groups out of range, no object, ERR), QUERY (every field), DESTROY (none, twice),
    an unknown opcode."""
    tb = await start(dut, "commands")
    n, qmax = tb.nvq, tb.max_qsize
    bad_param, bad_state = ST["BAD_PARAM"], ST["BAD_STATE"]
    for named in ({"VQ": n, "SIZE": 2}, {"VQ": 0, "SIZE": 0}, {"VQ": 0, "SIZE": 3},
                  {"VQ": 0, "SIZE": 2 * qmax}, {"VQ": 0, "SIZE": 2, "GROUPS": tb.ngroups},
                  {"VQ": 0, "SIZE": 2, "GROUPS": tb.ngroups << 8}, {"VQ": 1 << 16, "SIZE": 2}):
        assert (await tb.command("CREATE_VQ", **named))[0] == bad_param, named
    q = n - 1
    await tb.create(q, qmax, DESC_LO=0x1000, DESC_HI=0x1, DRIVER_LO=0x2000, DRIVER_HI=0x2,
                    DEVICE_LO=0x3000, DEVICE_HI=0x3, IDX=0xBEEF_0007, GROUPS=0x0201)
    assert (await tb.command("CREATE_VQ", VQ=q, SIZE=2))[0] == ST["EXISTS"]
    assert await tb.query(q) == [qmax << 16 & 0xFFFF0000 | S.INIT, 0xBEEF_0007, 0, 0x0201]
    out = await tb.step(w_vq=q, c_rd_vq=q)
    assert (out["w_desc"], out["w_drv"], out["w_dev"], out["c_dev"], out["w_size"]) == \
        (0x1_0000_1000, 0x2_0000_2000, 0x3_0000_3000, 0x3_0000_3000, qmax)
    assert (out["w_dgroup"], out["w_rgroup"], out["c_rgroup"]) == (1, 2, 2)
    # MODIFY: state changes mlx5 refuses from INIT, groups out of range, no VQ, no object
    for to in (S.INIT, S.SUSPEND, S.ERR, S.NONE, 7):
        assert await tb.modify_state(q, to) == bad_state, to
    assert (await tb.command("MODIFY_VQ", VQ=q, MASK=MOD["GROUPS"], GROUPS=tb.ngroups))[0] == \
        bad_param
    assert (await tb.command("MODIFY_VQ", VQ=n, MASK=0))[0] == bad_param
    assert (await tb.command("MODIFY_VQ", VQ=0, MASK=0))[0] == bad_state
    st_, _ = await tb.command("MODIFY_VQ", VQ=q, MASK=MOD["AVAIL_IDX"] | MOD["USED_IDX"],
                              IDX=0x0005_0009)
    assert st_ == ST["OK"] and (await tb.query(q))[1] == 0x0005_0009
    assert await tb.modify_state(q, S.RDY) == ST["OK"]
    # RDY: no field is modifiable (modifiable_virtqueue_fields), only RDY -> SUSPEND
    for mask in (MOD["ADDRS"], MOD["AVAIL_IDX"], MOD["USED_IDX"], MOD["GROUPS"]):
        assert (await tb.command("MODIFY_VQ", VQ=q, MASK=mask | MOD["STATE"],
                                 STATE=S.SUSPEND))[0] == bad_state, mask
    for to in (S.INIT, S.RDY, S.ERR, S.NONE):
        assert await tb.modify_state(q, to) == bad_state, to
    assert await tb.modify_state(q, S.SUSPEND) == ST["OK"]
    assert st(await tb.look(), q) == S.SUSPEND
    assert (await tb.command("MODIFY_VQ", VQ=q, MASK=MOD["ADDRS"] | MOD["GROUPS"],
                             DESC_LO=0x40, DRIVER_LO=0x80, DEVICE_LO=0xC0, GROUPS=0x0102))[0] == \
        ST["OK"]
    out = await tb.look()
    assert (out["w_desc"], out["w_drv"], out["w_dev"]) == (0x40, 0x80, 0xC0)
    assert (await tb.query(q))[3] == 0x0102
    for to in (S.INIT, S.SUSPEND, S.ERR):
        assert await tb.modify_state(q, to) == bad_state, to
    # ERR: nothing but destroy
    await tb.step(f_valid=1, f_vq=q, f_errno=FAULT["EIO"])
    assert await tb.modify_state(q, S.RDY) == bad_state
    assert (await tb.command("MODIFY_VQ", VQ=q, MASK=0))[0] == bad_state
    assert (await tb.query(q))[2] == FAULT["EIO"]
    assert (await tb.command("QUERY_VQ", VQ=n))[0] == bad_param
    assert (await tb.command("DESTROY_VQ", VQ=n))[0] == bad_param
    assert (await tb.command("DESTROY_VQ", VQ=q))[0] == ST["OK"]
    assert (await tb.command("DESTROY_VQ", VQ=q))[0] == bad_state
    assert (await tb.query(q))[0] & 0xFF == S.NONE
    assert (await tb.command(BAD_OPCODE))[0] == ST["BAD_OPCODE"]


@cocotb.test()
async def test_create_cost_and_in_flight_table(dut):
    """CREATE clears the VQ's in-flight heads, 64 a cycle (its documented cost); heads go into
    flight (walker) and out of it (walker, move stage, commit); a head left in flight by a
    destroyed VQ is free again after the next CREATE."""
    tb = await start(dut, "in-flight table")
    qmax = tb.max_qsize
    q = tb.nvq - 1
    await tb.create(q, qmax)
    heads = sorted({0, qmax - 1, qmax // 2, min(63, qmax - 1), min(64, qmax - 1)})
    for h in heads:
        assert (await tb.step(w_vq=q, w_head=h))["w_in_flight"] == 0, h
        await tb.step(w_ift_set=1)
        assert (await tb.look())["w_in_flight"] == 1, h
    # given back by each stage in turn
    for k, h in enumerate(heads):
        ev = ({"w_ift_clr": 1}, {"m_ift_clr": 1, "m_vq": q, "m_head": h},
              {"c_commit": 1, "c_vq": q, "c_head": h, "c_new_used": 1},
              {"c_free": 1, "c_vq": q, "c_head": h})[k % 4]
        await tb.step(w_head=h, **ev)
        assert (await tb.look())["w_in_flight"] == 0, (h, ev)
    # a commit that keeps its last head (a refused chain, completed again) leaves it in flight
    await tb.step(w_head=0, w_ift_set=1)
    await tb.step(c_commit=1, c_vq=q, c_head=0, c_new_used=2, c_chains=2, c_commit_free=0)
    assert (await tb.look())["w_in_flight"] == 1
    await tb.step(c_free=1, c_vq=q, c_head=0)
    assert (await tb.look())["w_in_flight"] == 0
    # left in flight, destroyed, created again: free
    await tb.step(w_head=qmax - 1, w_ift_set=1)
    assert (await tb.look())["w_in_flight"] == 1
    assert (await tb.command("DESTROY_VQ", VQ=q))[0] == ST["OK"]
    start_cycle = tb.cycle
    await tb.issue("CREATE_VQ", VQ=q, SIZE=qmax)
    assert (await tb.wait_done())[0] == ST["OK"]
    # offered, one cycle per 64 heads, the done cycle, the completion seen
    assert tb.cycle - start_cycle == 1 + (qmax + 63) // 64 + 2, tb.cycle - start_cycle
    assert (await tb.look())["w_in_flight"] == 0


@cocotb.test()
async def test_drains_wait_for_the_stages(dut):
    """SUSPEND (MODIFY), DESTROY and SUSPEND_ALL wait while a stage holds a chain of the VQ
    (any VQ for SUSPEND_ALL), block new chains on it meanwhile, and finish in the cycle the
    stage lets go (mlx5_vdpa_suspend); a chain held on another VQ does not hold a per-VQ
    drain."""
    tb = await start(dut, "drains")
    tx, rx = await two_rdy_queues(tb)
    for cmd, named, vq_after in (("MODIFY_VQ", {"VQ": tx, "MASK": MOD["STATE"],
                                                "STATE": S.SUSPEND}, S.SUSPEND),
                                 ("DESTROY_VQ", {"VQ": tx}, S.NONE)):
        await tb.step(held=1 << tx | 1 << rx)
        await tb.issue(cmd, **named)
        for _ in range(20):
            out = await tb.step()
            assert out["cmd_busy"] and not out["done_valid"], f"{cmd} did not wait"
            assert out["blocked"] == 1 << tx, f"{cmd}: blocked {out['blocked']:#x}"
        await tb.step(held=1 << rx)          # the stage lets go of the VQ; the other still held
        out = await tb.look()
        assert st(out, tx) == vq_after and out["blocked"] == 0
        assert (await tb.wait_done())[0] == ST["OK"]
    await tb.create(tx, 2)
    assert await tb.modify_state(tx, S.RDY) == ST["OK"]
    await tb.issue("SUSPEND_ALL")
    for _ in range(10):
        out = await tb.step()
        assert out["blocked"] == (1 << tb.nvq) - 1 and st(out, rx) == S.RDY
    await tb.step(held=0)
    status, data = await tb.wait_done()
    assert status == ST["OK"] and data[0] == 2
    out = await tb.look()
    assert st(out, rx) == S.SUSPEND and st(out, tx) == S.SUSPEND


@cocotb.test()
async def test_fault_during_a_drain(dut):
    """A VQ that faults while MODIFY to SUSPEND waits for it ends the command with BAD_STATE
    and stays in ERR (is_valid_state_change: nothing leaves ERR but destroy); DESTROY in the
    same situation waits and destroys it; SUSPEND_ALL counts only what it suspended."""
    tb = await start(dut, "fault in drain")
    tx, rx = await two_rdy_queues(tb)
    await tb.step(held=1 << tx)
    await tb.issue("MODIFY_VQ", VQ=tx, MASK=MOD["STATE"], STATE=S.SUSPEND)
    await tb.step()
    await tb.step(f_valid=1, f_vq=tx, f_errno=FAULT["EFAULT"], f_iova=0x1234, f_xlate=1,
                  f_write=1, f_asid=1)
    status, _ = await tb.wait_done()
    out = await tb.look()
    assert status == ST["BAD_STATE"] and st(out, tx) == S.ERR and out["needs_reset"] == 1
    await tb.issue("DESTROY_VQ", VQ=tx)
    for _ in range(5):
        assert not (await tb.step())["done_valid"]
    await tb.step(held=0)
    assert (await tb.wait_done())[0] == ST["OK"] and st(await tb.look(), tx) == S.NONE
    await tb.create(tx, 2)
    assert await tb.modify_state(tx, S.RDY) == ST["OK"]
    await tb.step(held=1 << rx)
    await tb.issue("SUSPEND_ALL")
    await tb.step(f_valid=1, f_vq=rx, f_errno=FAULT["EIO"])
    await tb.step(held=0)
    status, data = await tb.wait_done()
    assert status == ST["OK"] and data[0] == 1
    out = await tb.look()
    assert (st(out, tx), st(out, rx)) == (S.SUSPEND, S.ERR)


@cocotb.test()
async def test_reset_with_and_without_keep_vqs(dut):
    """RESET waits for every stage, then destroys every VQ object (with KEEP_VQS, those still
    in INIT survive: mlx5_vdpa_compat_reset), clears NEEDS_RESET, the drop count and the
    destroyed VQs' kicks, and flushes the receive buffer."""
    tb = await start(dut, "reset")
    for flags in (0, KEEP_VQS):
        tx, rx = await two_rdy_queues(tb)
        init_q = tb.nvq - 2 if tb.nvq > 2 else None
        if init_q is not None:
            await tb.create(init_q, 2)
        await tb.step(f_valid=1, f_vq=rx, f_errno=FAULT["EINVAL"], rx_dropped=3)
        await tb.step(db_valid=1, db_vq=tx, held=1 << tx)
        out = await tb.look()
        assert out["needs_reset"] == 1 and out["rx_drops"] == 3
        await tb.issue("RESET", FLAGS=flags)
        for _ in range(5):
            out = await tb.step()
            assert not out["rx_flush"] and st(out, tx) == S.RDY
        await tb.step(held=0)
        out = await tb.look()
        assert out["rx_flush"] == 1 and out["needs_reset"] == 0 and out["rx_drops"] == 0
        assert (st(out, tx), st(out, rx)) == (S.NONE, S.NONE) and not pend(out, tx)
        if init_q is not None:
            assert st(out, init_q) == (S.INIT if flags & KEEP_VQS else S.NONE)
        assert (await tb.wait_done())[0] == ST["OK"]
        if init_q is not None and flags & KEEP_VQS:
            assert (await tb.command("DESTROY_VQ", VQ=init_q))[0] == ST["OK"]


@cocotb.test()
async def test_resume_rearms_kicks(dut):
    """A resumed VQ has its kick pending whether or not one came while it was suspended
    (vhost_vdpa_resume, mlx5 resume_vq: the queue looks at its ring again), by MODIFY and by
    RESUME_ALL; RESUME_ALL counts what it resumed; a doorbell while suspended is kept."""
    tb = await start(dut, "resume")
    tx, rx = await two_rdy_queues(tb)
    await tb.step(w_vq=tx, w_consume=1)
    await tb.step(w_vq=rx, w_consume=1)
    out = await tb.look()
    assert not pend(out, tx) and not pend(out, rx)
    assert await tb.modify_state(tx, S.SUSPEND) == ST["OK"]
    assert await tb.modify_state(tx, S.RDY) == ST["OK"]
    assert pend(await tb.look(), tx), "MODIFY SUSPEND -> RDY did not re-arm the kick"
    await tb.step(w_vq=tx, w_consume=1)
    status, data = await tb.command("SUSPEND_ALL")
    assert status == ST["OK"] and data[0] == 2 and not pend(await tb.look(), tx)
    await tb.step(db_valid=1, db_vq=rx)
    out = await tb.look()
    assert pend(out, rx) and st(out, rx) == S.SUSPEND
    status, data = await tb.command("RESUME_ALL")
    assert status == ST["OK"] and data[0] == 2
    out = await tb.look()
    assert pend(out, tx) and pend(out, rx), "RESUME_ALL did not re-arm every kick"
    status, data = await tb.command("RESUME_ALL")
    assert status == ST["OK"] and data[0] == 0


@cocotb.test()
async def test_walker_events_and_commit(dut):
    """The walker's events on the VQ it serves: a doorbell in the cycle the kick is consumed
    (E_START) stays pending, one on another VQ does not save it; a re-arm wins over the
    consume; avail.idx seen is kept until a MODIFY drops it; a commit writes the new used
    index and advances last_avail by one, wrapping at 2^16; drops are counted."""
    tb = await start(dut, "walker events")
    tx, rx = await two_rdy_queues(tb)
    await tb.step(w_vq=tx, w_consume=1)
    assert not pend(await tb.step(w_consume=1, db_valid=1, db_vq=tx), tx)
    assert pend(await tb.step(w_consume=1, db_valid=1, db_vq=rx), tx), \
        "a doorbell in the consume cycle was lost"
    out = await tb.look()
    assert not pend(out, tx) and pend(out, rx)
    await tb.step(db_valid=1, db_vq=tx)
    await tb.step(w_consume=1, w_rearm=1)
    assert pend(await tb.step(db_valid=1, db_vq=tb.nvq + 3), tx), \
        "the re-arm lost to the consume of its own cycle"
    await tb.step(w_seen=1, w_seen_idx=0x1234)
    out = await tb.look()
    assert (out["w_seen_last"], out["w_seen_ok"]) == (0x1234, 1)
    assert await tb.modify_state(tx, S.SUSPEND) == ST["OK"]
    assert (await tb.look())["w_seen_ok"] == 0, "MODIFY kept the avail.idx last read"
    status, _ = await tb.command("MODIFY_VQ", VQ=tx, MASK=MOD["STATE"] | MOD["AVAIL_IDX"]
                                 | MOD["USED_IDX"], STATE=S.RDY, IDX=0x7000_FFFF)
    assert status == ST["OK"]
    await tb.step(c_rd_vq=tx, c_commit=1, c_vq=tx, c_new_used=0x7001)
    await tb.step(c_commit=1, c_vq=tx, c_new_used=0x7002)
    out = await tb.look()
    assert (out["w_avail"], out["w_used"], out["c_used"]) == (0x0001, 0x7002, 0x7002)
    await tb.step(rx_dropped=4)
    await tb.step(rx_dropped=1)
    assert (await tb.look())["rx_drops"] == 5


@cocotb.test()
async def test_write_priority_on_collisions(dut):
    """Events that meet in one cycle, each resolved in the documented order (doorbell <
    command < walker < move < completion < fault): a fault beats a MODIFY to RDY and a
    RESUME_ALL on its VQ (ERR, kick cleared) and a RESET's NEEDS_RESET clear; a commit beats a
    MODIFY of the indices; the walker's avail.idx seen beats a MODIFY's drop of it; a head
    set by the walker and another of its word freed by a commit in one cycle both land."""
    tb = await start(dut, "priorities")
    tx, rx = await two_rdy_queues(tb)
    ferr = {"f_valid": 1, "f_vq": tx, "f_errno": FAULT["EIO"]}
    # fault vs MODIFY SUSPEND -> RDY
    assert await tb.modify_state(tx, S.SUSPEND) == ST["OK"]
    await tb.step(cmd_valid=1, cmd_op=OP["MODIFY_VQ"], **ferr,
                  cmd_args=tb.args("MODIFY_VQ", VQ=tx, MASK=MOD["STATE"], STATE=S.RDY))
    out = await tb.look()
    assert st(out, tx) == S.ERR and not pend(out, tx), "MODIFY to RDY beat the fault"
    assert (await tb.wait_done())[0] == ST["OK"]
    assert (await tb.command("DESTROY_VQ", VQ=tx))[0] == ST["OK"]
    # fault vs RESUME_ALL
    await tb.create(tx, 2)
    assert await tb.modify_state(tx, S.RDY) == ST["OK"]
    assert (await tb.command("SUSPEND_ALL"))[0] == ST["OK"]
    await tb.step(cmd_valid=1, cmd_op=OP["RESUME_ALL"], cmd_args=0, **ferr)
    out = await tb.look()
    assert (st(out, tx), st(out, rx)) == (S.ERR, S.RDY) and not pend(out, tx)
    status, data = await tb.wait_done()
    assert status == ST["OK"] and data[0] == 2   # both counted: the fault came in its cycle
    # fault vs the RESET's NEEDS_RESET clear (in the drain's last cycle)
    await tb.step(held=1 << rx)
    await tb.issue("RESET")
    await tb.step()
    await tb.step(held=0, f_valid=1, f_vq=rx, f_errno=FAULT["EINVAL"])
    out = await tb.look()
    assert out["needs_reset"] == 1 and st(out, rx) == S.ERR, \
        "the reset's clear beat the fault of its cycle"
    assert (await tb.wait_done())[0] == ST["OK"]
    # commit vs MODIFY of the indices (a suspended VQ still completing its last chain)
    await tb.reset()
    tx, rx = await two_rdy_queues(tb)
    assert await tb.modify_state(tx, S.SUSPEND) == ST["OK"]
    await tb.step(cmd_valid=1, cmd_op=OP["MODIFY_VQ"],
                  cmd_args=tb.args("MODIFY_VQ", VQ=tx, MASK=MOD["AVAIL_IDX"] | MOD["USED_IDX"],
                                   IDX=0x0500_0500),
                  c_rd_vq=tx, c_commit=1, c_vq=tx, c_new_used=0x0009)
    assert (await tb.wait_done())[0] == ST["OK"]
    assert (await tb.query(tx))[1] == 0x0009_0001, "the MODIFY of the indices beat the commit"
    # the walker's avail.idx seen vs a MODIFY's drop of it
    await tb.step(w_vq=tx, cmd_valid=1, cmd_op=OP["MODIFY_VQ"], w_seen=1, w_seen_idx=0x44,
                  cmd_args=tb.args("MODIFY_VQ", VQ=tx, MASK=MOD["AVAIL_IDX"], IDX=3))
    out = await tb.look()
    assert (out["w_seen_ok"], out["w_seen_last"]) == (1, 0x44), "the MODIFY beat the walker"
    await tb.wait_done()
    # a head set by the walker, another of its word freed by the commit, in one cycle
    await tb.step(w_head=1, w_ift_set=1)
    await tb.step(w_head=0, w_ift_set=1, c_commit=1, c_vq=tx, c_head=1, c_new_used=0x10)
    assert (await tb.look())["w_in_flight"] == 1
    assert (await tb.step(w_head=1))["w_in_flight"] == 0


async def run_stream(tb: TB, seed: int, cycles: int) -> dict[str, int]:
    """``cycles`` cycles of random commands and stage events from ``seed``, every one compared
    with the reference (TB.step does). Commands are offered only to an idle unit and keep their
    arguments until done, as the command processor does; arguments are drawn good more often
    than bad; events pick created VQs and heads below their size mostly."""
    rng = random.Random(seed)
    tb.where = f"{tb.where.split(' stream')[0]} stream seed {seed}: "
    stats = dict.fromkeys(("ok", "bad", "drain_waits", "faults", "collisions", "resets",
                           "commits", "rearms"), 0)
    n, qmax = tb.nvq, tb.max_qsize
    vqs = list(range(n))
    held = 0
    waiting = 0
    # the commands that build and move VQs between states more often than the others
    ops = [OP[k] for k in ("CREATE_VQ", "CREATE_VQ", "CREATE_VQ", "MODIFY_VQ", "MODIFY_VQ",
                           "MODIFY_VQ", "QUERY_VQ", "DESTROY_VQ", "SUSPEND_ALL", "SUSPEND_ALL",
                           "RESUME_ALL", "RESUME_ALL", "RESET")] + [BAD_OPCODE]
    for _ in range(cycles):
        drive: dict[str, int] = {}
        if rng.random() < 0.05:
            # the stages hold one to three chains, or none
            held = sum(1 << q for q in set(rng.choices(vqs, k=rng.randrange(1, 4)))) \
                if rng.random() < 0.5 else 0
        drive["held"] = held
        live = [q for q in vqs if tb.ref.vq[q].state != S.NONE]
        if tb.ref.phase == "idle" and rng.random() < 0.3:
            op = rng.choice(ops)
            # mostly a VQ that exists (so that VQs reach every state), now and then one out
            # of range
            dead = [v for v in vqs if v not in live]
            pool = dead if op == OP["CREATE_VQ"] else live
            q = rng.choice(pool) if pool and rng.random() < 0.7 else \
                rng.choice(vqs) if rng.random() < 0.95 else n + rng.randrange(4)
            name = next((k for k, v in OP.items() if v == op), "QUERY_VQ")
            # sizes up to 256 mostly (a CREATE of 32768 clears for 512 cycles), any size, or a
            # bad one
            size = 1 << rng.randrange(1, min(qmax, 256).bit_length()) if rng.random() < 0.7 \
                else 1 << rng.randrange(1, qmax.bit_length()) if rng.random() < 0.7 \
                else rng.choice([0, 3, 2 * qmax])
            # a state change mlx5 takes (INIT or SUSPEND -> RDY, RDY -> SUSPEND) most of the
            # time, any other now and then
            good = {S.INIT: S.RDY, S.RDY: S.SUSPEND, S.SUSPEND: S.RDY}.get(
                tb.ref.vq[q].state if q < n else S.NONE, S.RDY)
            named = {"VQ": q, "SIZE": size, "MASK": rng.choice([
                MOD["STATE"], MOD["STATE"], MOD["STATE"], MOD["AVAIL_IDX"] | MOD["USED_IDX"],
                MOD["ADDRS"], MOD["GROUPS"], rng.getrandbits(16)]),
                "STATE": good if rng.random() < 0.7 else rng.randrange(8),
                "DESC_LO": rng.getrandbits(32), "DRIVER_LO": rng.getrandbits(32),
                "DEVICE_HI": rng.getrandbits(32), "IDX": rng.getrandbits(32),
                "GROUPS": rng.randrange(tb.ngroups) | rng.randrange(tb.ngroups) << 8
                if rng.random() < 0.9 else rng.getrandbits(16), "FLAGS": rng.getrandbits(2)}
            if name == "RESET":
                if rng.random() < 0.7:
                    continue
                stats["resets"] += 1
            named = {k: v for k, v in named.items() if k in RM.cmd[name].args}
            drive.update(cmd_valid=1, cmd_op=op, cmd_args=tb.args(name, **named))
        if tb.ref.phase in ("drain_one", "drain_all"):
            waiting += 1
        if drive.get("cmd_op") == OP["RESUME_ALL"] and any(
                v.state == S.SUSPEND and not v.pending for v in tb.ref.vq):
            stats["rearms"] += 1     # a resume that must re-arm a kick no doorbell left
        if rng.random() < 0.05:
            drive.update(db_valid=1, db_vq=rng.randrange(n + 2))
        if live and rng.random() < 0.5:
            q = rng.choice(live)
            size = tb.ref.vq[q].size
            drive.update(w_vq=q, w_head=rng.randrange(max(size, 1)))
            ev = rng.choice(("w_consume", "w_consume", "w_consume", "w_rearm", "w_seen",
                             "w_ift_set", "w_ift_clr"))
            drive[ev] = 1
            if rng.random() < 0.2:
                drive["w_consume" if ev != "w_consume" else "w_rearm"] = 1
            drive["w_seen_idx"] = rng.getrandbits(16)
        if live and rng.random() < 0.2:
            q = rng.choice(live)
            drive.update(m_ift_clr=1, m_vq=q, m_head=rng.randrange(max(tb.ref.vq[q].size, 1)))
        if live and rng.random() < 0.25:
            q = rng.choice(live)
            # a commit of one chain or of a batch, the last head freed with it or kept (a
            # refused chain, vdpa_used_writer); or a batched chain's head freed alone
            if rng.random() < 0.8:
                drive.update(c_commit=1, c_new_used=rng.getrandbits(16),
                             c_chains=rng.choice([1, 1, 2, 3, 4]),
                             c_commit_free=int(rng.random() < 0.8))
                stats["commits"] += 1
            else:
                drive["c_free"] = 1
            drive.update(c_vq=q, c_head=rng.randrange(max(tb.ref.vq[q].size, 1)))
        if live and rng.random() < 0.006:
            drive.update(f_valid=1, f_vq=rng.choice(live), f_errno=rng.choice(list(FAULT.values())),
                         f_iova=rng.getrandbits(64), f_xlate=rng.getrandbits(1),
                         f_write=rng.getrandbits(1), f_asid=rng.getrandbits(8))
            stats["faults"] += 1
        drive["rx_dropped"] = rng.choice([0, 0, 0, 1, 2, 4])
        drive["c_rd_vq"] = rng.choice(vqs)
        if "cmd_valid" in drive and any(k in drive for k in ("w_consume", "w_seen", "c_commit",
                                                             "f_valid")):
            stats["collisions"] += 1
        if rng.random() < 0.002:
            drive["rst"] = 1
        out = await tb.step(**drive)
        if out["done_valid"]:
            stats["ok" if out["done_status"] == ST["OK"] else "bad"] += 1
    stats["drain_waits"] = waiting
    return stats


@cocotb.test()
async def test_ctx_random_streams_against_reference(dut):
    """Seeded random streams of every command (good and bad arguments, unknown opcodes,
    RESET with and without KEEP_VQS), doorbells, walker, move and completion events, faults,
    stage holds and resets, compared with the reference in every cycle; the streams must
    complete commands both ways, wait in drains, fault, collide and resume VQs with no kick
    pending."""
    tb = await start(dut, "random")
    # cocotb seeds random per test from COCOTB_RANDOM_SEED: a failure's rerun line repeats it
    base = random.getrandbits(32)
    total: dict[str, int] = {}
    for i in range(4):
        seed = base + i
        dut._log.info("vq ctx stream %d: seed %d", i, seed)
        stats = await run_stream(tb, seed, 3000)
        dut._log.info("vq ctx stream %d: %s", i, stats)
        for k, v in stats.items():
            total[k] = total.get(k, 0) + v
    thin = [k for k, v in total.items() if v < 6]
    assert not thin, f"stream seeds {base}..{base + 3}: too few {thin} to mean anything ({total})"
