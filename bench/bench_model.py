# SPDX-License-Identifier: MIT
"""Benchmark of the reference model: data-path rate and IOTLB costs.

Run from the repository root::

    python bench/bench_model.py            # full run, writes bench/results/model.json
    python bench/bench_model.py --quick    # fewer repeats (a smoke run)

Figures (median of the repeats; the table also shows the best):

* data path, device only: a full ring of 1-descriptor buffers is posted by the guest driver and
  kicked outside the timed region; only ``ReferenceDevice.process()`` is timed; the used ring is
  reaped afterwards. TX and RX, 64-byte and 1500-byte frames. With the real AccessLog (it is part
  of the product: every DMA is recorded for the isolation check) and with a no-op log for
  comparison.
* data path, end to end: the same with the guest driver's post, kick and reap inside the timing.
* IOTLB translation rate: random lookups inside a 1,000-entry table.
* map build of a 128 GiB guest: as QEMU reports the RAM (2 regions around the 4 GiB hole), in
  1 GiB chunks (mlx5 direct mkeys are <= 1 GiB) and in 2 MiB chunks (65,536 entries), through
  vhost-vdpa IOTLB messages (one batch, one set_map) and directly into ``Iotlb.add_range``.

This is a script, not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "model"))

from results_file import machine, write_results  # noqa: E402
from vdpa_model.device import ReferenceDevice  # noqa: E402
from vdpa_model.dma import AccessKind, AccessLog  # noqa: E402
from vdpa_model.flows import MemoryRegion, kick_if_needed, map_guest_memory, open_device, start_device  # noqa: E402
from vdpa_model.guest import GuestNetDriver  # noqa: E402
from vdpa_model.iotlb import Iotlb  # noqa: E402
from vdpa_model.memory import Allocator, GiB, GuestMemory, MiB  # noqa: E402
from vdpa_model.ops import IotlbRange  # noqa: E402
from vdpa_model.options import DeviceOptions  # noqa: E402
from vdpa_model.spec import VHOST_ACCESS_RW, VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_MQ, bit  # noqa: E402
from vdpa_model.sync import run  # noqa: E402
from vdpa_model.vhost import VhostVdpa  # noqa: E402

RING = 256
TARGET_TX64 = 100_000


class NullLog(AccessLog):
    """An AccessLog that records nothing (comparison only; the product always logs)."""

    def append(self, vq: int, asid: int, iova: int | None, pa: int, length: int, write: bool,
               kind: AccessKind) -> None:
        return None


# ------------------------------------------------------------------------------------------
# data path
# ------------------------------------------------------------------------------------------
class DataPathRig:
    """One mlx5-style device, guest RAM mapped as QEMU maps it, one queue pair of 256."""

    def __init__(self, log: AccessLog) -> None:
        self.mem = GuestMemory(size=8 * GiB)
        self.log = log
        self.dev = ReferenceDevice(self.mem, DeviceOptions(queue_pairs=1), log)
        self.v = VhostVdpa(self.dev)
        run(open_device(self.v))
        run(map_guest_memory(self.v, [MemoryRegion(0, 2 * GiB), MemoryRegion(4 * GiB, 2 * GiB)]))
        features = run(self.v.get_features()) & ~(bit(VIRTIO_NET_F_MQ) | bit(VIRTIO_NET_F_CTRL_VQ))
        self.drv = GuestNetDriver(self.mem, Allocator(16 * MiB, 2 * GiB), queue_pairs=1,
                                  queue_size=RING, features=features)
        run(start_device(self.v, self.drv.vqs, features=features))

    def post(self, kind: str, frames: list[bytes]) -> None:
        drv = self.drv
        if kind == "tx":
            for f in frames:
                drv.send(0, f, kick=False)
            run(kick_if_needed(self.v, drv.tx_vq(0)))
        else:
            drv.post_rx(0, len(frames), 2048, kick=False)
            run(kick_if_needed(self.v, drv.rx_vq(0)))
            for f in frames:
                run(self.dev.inject_rx(0, f))

    def reap(self, kind: str) -> int:
        if kind == "tx":
            n = len(self.drv.reap_tx(0))
            self.dev.take_tx()
        else:
            n = len(self.drv.reap_rx(0))
        self.log.clear()
        return n


class Rates:
    """Per-repeat rates by wall clock and by this process's CPU time."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def summary(self) -> dict[str, float]:
        return {"median_per_s": statistics.median(self.wall), "best_per_s": max(self.wall),
                "cpu_median_per_s": statistics.median(self.cpu), "cpu_best_per_s": max(self.cpu)}


def bench_datapath(kind: str, size: int, rounds: int, repeats: int, null_log: bool,
                   end_to_end: bool) -> Rates:
    """Chains per second (each chain is one descriptor) for ``repeats`` runs of ``rounds``
    full rings each."""
    rig = DataPathRig(NullLog() if null_log else AccessLog())
    frames = [bytes([i & 0xFF]) * size for i in range(RING)]
    rates = Rates()
    rig.post(kind, frames)  # warm-up round (pools, chunks)
    rig.dev.process()
    rig.reap(kind)
    wall, cpu = time.perf_counter, time.process_time
    for _ in range(repeats):
        done = 0
        elapsed = used = 0.0
        for _ in range(rounds):
            if end_to_end:
                t0, c0 = wall(), cpu()
                rig.post(kind, frames)
                n = rig.dev.process()
                got = rig.reap(kind)
                elapsed += wall() - t0
                used += cpu() - c0
            else:
                rig.post(kind, frames)
                t0, c0 = wall(), cpu()
                n = rig.dev.process()
                elapsed += wall() - t0
                used += cpu() - c0
                got = rig.reap(kind)
            if n != RING or got != RING:
                raise RuntimeError(f"{kind} {size}: processed {n}, reaped {got}, expected {RING}")
            done += n
        rates.wall.append(done / elapsed)
        rates.cpu.append(done / used)
    return rates


# ------------------------------------------------------------------------------------------
# IOTLB
# ------------------------------------------------------------------------------------------
def bench_translate(entries: int, lookups: int, repeats: int) -> list[float]:
    """Translations per second, random 64-byte reads inside a table of ``entries`` ranges."""
    rnd = random.Random(1)
    table = Iotlb()
    ranges = []
    for i in range(entries):
        iova = i * 4 * MiB
        size = rnd.choice([4096, 64 * 1024, 2 * MiB])
        r = IotlbRange(iova, size, (1 << 40) + iova, VHOST_ACCESS_RW)
        table.add_range(r)
        ranges.append(r)
    probes = []
    for _ in range(lookups):
        r = rnd.choice(ranges)
        probes.append(r.iova + rnd.randrange(r.size - 64))
    translate = table.translate
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for iova in probes:
            translate(iova, 64, False)
        rates.append(lookups / (time.perf_counter() - t0))
    return rates


GUEST = 128 * GiB
LOWMEM = 2 * GiB


def guest_ranges(chunk: int | None) -> list[IotlbRange]:
    """A 128 GiB PC guest: [0, 2 GiB) below the hole, the rest from 4 GiB; optionally cut into
    ``chunk``-sized entries."""
    regions = [(0, LOWMEM), (4 * GiB, GUEST - LOWMEM)]
    out = []
    for start, size in regions:
        step = size if chunk is None else chunk
        for off in range(0, size, step):
            out.append(IotlbRange(start + off, min(step, size - off), start + off, VHOST_ACCESS_RW))
    return out


def time_once(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_map(chunk: int | None, repeats: int) -> dict[str, Any]:
    ranges = guest_ranges(chunk)

    def via_vhost(batch: bool = True) -> None:
        dev = ReferenceDevice(GuestMemory(size=256 * GiB), DeviceOptions())
        v = VhostVdpa(dev)
        run(open_device(v))
        run(v.map(0, ranges, batch=batch))
        if len(dev.spaces[0].table) != len(ranges):
            raise RuntimeError("map incomplete")

    def direct() -> None:
        t = Iotlb()
        for r in ranges:
            t.add_range(r)

    vh = [time_once(via_vhost) for _ in range(repeats)]
    di = [time_once(direct) for _ in range(repeats)]
    out: dict[str, Any] = {
        "entries": len(ranges), "vhost_map_s": statistics.median(vh), "vhost_map_best_s": min(vh),
        "iotlb_add_range_s": statistics.median(di), "iotlb_add_range_best_s": min(di)}
    if len(ranges) <= 1024:
        # Unbatched, a set_map parent rebuilds its whole table after every UPDATE
        # (vdpa-semantics.md §6 item 9): quadratic, so only for the small maps.
        ub = [time_once(lambda: via_vhost(False)) for _ in range(repeats)]
        out["vhost_map_unbatched_s"] = statistics.median(ub)
    return out


# ------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and repeats")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "model.json")
    args = ap.parse_args(argv)
    rounds, repeats = (8, 3) if args.quick else (40, 5)

    results: dict[str, Any] = {}
    rows: list[tuple[str, str, str]] = []

    datapath: dict[str, Any] = {}
    for kind, size in (("tx", 64), ("rx", 64), ("tx", 1500), ("rx", 1500)):
        for label, null_log, e2e in (("device", False, False), ("device, no-op log", True, False),
                                     ("end to end", False, True)):
            r = bench_datapath(kind, size, rounds, repeats, null_log, e2e).summary()
            key = f"{kind}{size}_{label.replace(', ', '_').replace(' ', '_').replace('-', '')}"
            datapath[key] = r
            rows.append((f"{kind.upper()} {size} B, {label}", f"{r['median_per_s']:,.0f} desc/s",
                         f"best {r['best_per_s']:,.0f}; cpu-time best {r['cpu_best_per_s']:,.0f}"))
    tx64 = datapath["tx64_device"]
    assert isinstance(tx64, dict)
    datapath["tx64_target_per_s"] = TARGET_TX64
    datapath["tx64_target_met_median"] = tx64["median_per_s"] >= TARGET_TX64
    datapath["tx64_target_met_best"] = tx64["best_per_s"] >= TARGET_TX64
    results["datapath"] = datapath

    tr = bench_translate(1000, 200_000 if not args.quick else 50_000, repeats)
    results["iotlb_translate_1000_entries"] = {"median_per_s": statistics.median(tr), "best_per_s": max(tr)}
    rows.append(("IOTLB translate, 1,000 entries", f"{statistics.median(tr):,.0f} /s",
                 f"best {max(tr):,.0f}"))

    maps: dict[str, Any] = {}
    for name, chunk in (("qemu_regions", None), ("chunks_1GiB", GiB), ("chunks_2MiB", 2 * MiB)):
        m = bench_map(chunk, repeats if chunk != 2 * MiB else max(1, repeats // 2))
        maps[name] = m
        rows.append((f"map 128 GiB, {name} ({m['entries']:,} entries), vhost-vdpa batch",
                     f"{m['vhost_map_s'] * 1e3:,.2f} ms", f"best {float(m['vhost_map_best_s']) * 1e3:,.2f}"))
        if "vhost_map_unbatched_s" in m:
            rows.append((f"map 128 GiB, {name} ({m['entries']:,} entries), vhost-vdpa unbatched",
                         f"{float(m['vhost_map_unbatched_s']) * 1e3:,.2f} ms", ""))
        rows.append((f"map 128 GiB, {name} ({m['entries']:,} entries), Iotlb.add_range",
                     f"{m['iotlb_add_range_s'] * 1e3:,.2f} ms",
                     f"best {float(m['iotlb_add_range_best_s']) * 1e3:,.2f}"))
    results["map_128GiB"] = maps

    results["machine"] = machine()
    results["timestamp"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    results["command"] = "python bench/bench_model.py" + (" --quick" if args.quick else "")
    results["method"] = {"rounds_of_256": rounds, "repeats": repeats, "statistic": "median of repeats"}

    width = max(len(r[0]) for r in rows)
    print(f"vdpa-dv model benchmark ({results['machine']['platform']}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs)")
    for name, value, extra in rows:
        print(f"  {name:<{width}}  {value:>20}  {extra}")
    print(f"  TX 64 B device-only target >= {TARGET_TX64:,}/s: "
          f"median {'met' if datapath['tx64_target_met_median'] else 'MISSED'}, "
          f"best {'met' if datapath['tx64_target_met_best'] else 'MISSED'}")
    write_results(results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
