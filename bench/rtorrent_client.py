"""What the rTorrent layer costs: ``python bench/rtorrent_client.py --torrents 10000``.

Starts a real rtorrent (see tests/support/rtorrent.py) in a temporary directory,
loads N generated torrents (stopped, data not on disk) in batches of ``load.raw``
inside ``system.multicall``, then measures: one full ``torrents()`` call, one
ProfileWatcher poll + diff with nothing and with 1% of rows changed (labels set),
JSON bytes of a snapshot vs a diff, and the resident memory of both processes.
Times are medians over ``--rounds``; CPU is this process's user+system time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.rtorrent import RTorrentProcess, make_torrent  # noqa: E402

from pytorrent_core.rtorrent import ProfileWatcher, RTorrentClient  # noqa: E402


def rss_mib(pid: str | int = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure(action: Callable[[], Awaitable[Any]], rounds: int
                  ) -> tuple[float, float, Any]:
    """Median wall seconds and median CPU seconds of ``action``, plus its last result."""
    walls, cpus, result = [], [], None
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        result = await action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


async def load(client: RTorrentClient, folder: Path, count: int, batch: int) -> float:
    began = time.perf_counter()
    for start in range(0, count, batch):
        calls = []
        for index in range(start, min(start + batch, count)):
            data, _ = make_torrent(folder, f"bench-{index:06d}.bin",
                                   index.to_bytes(8, "big") * 512, write=False)
            calls.append(("load.raw", ("", xmlrpc.client.Binary(data))))
        await client.multicall(calls)
    while (await client.status()).torrents < count:  # noqa: ASYNC110 (rTorrent has no event)
        await asyncio.sleep(0.05)
    return time.perf_counter() - began


async def run(count: int, batch: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="pt-bench-") as tmp, \
            RTorrentProcess(Path(tmp), transport="unix") as process:
        assert process.process is not None
        client = RTorrentClient(process.url, timeout=120)
        loaded = await load(client, process.download_dir, count, batch)
        print(f"torrents                     {count}")
        print(f"load (batches of {batch})       {loaded:8.2f} s")

        wall, cpu, rows = await measure(client.torrents, rounds)
        print(f"torrents() full list         {wall * 1000:8.1f} ms  (cpu {cpu * 1000:.1f} ms)")

        watcher = ProfileWatcher(client)
        first_wall = time.perf_counter()
        await watcher.poll()
        first = time.perf_counter() - first_wall
        print(f"watcher first poll (all)     {first * 1000:8.1f} ms")
        wall, cpu, _ = await measure(watcher.poll, rounds)
        print(f"watcher poll, no change      {wall * 1000:8.1f} ms  (cpu {cpu * 1000:.1f} ms)"
              f"  -> next interval {watcher.next_delay_for(wall):.2f} s")

        hashes = [r.hash for r in rows]
        step = 100
        diffs: list[tuple[list[dict[str, Any]], list[str]]] = []

        async def change_then_poll() -> None:
            label = f"round-{len(diffs)}"
            await client.set_label(hashes[::step], label)
            watcher.request_poll(hashes[::step])  # as the API does after an action
            wall_poll = time.perf_counter()
            cpu_poll = time.process_time()
            diffs.append(await watcher.poll())
            timings.append((time.perf_counter() - wall_poll, time.process_time() - cpu_poll))

        timings: list[tuple[float, float]] = []
        for _ in range(rounds):
            await change_then_poll()
        wall = statistics.median(t[0] for t in timings)
        cpu = statistics.median(t[1] for t in timings)
        changed, removed = diffs[-1]
        print(f"watcher poll + diff, 1% chg  {wall * 1000:8.1f} ms  (cpu {cpu * 1000:.1f} ms)"
              f"  changed rows {len(changed)}")

        revision, snapshot_rows = watcher.snapshot()
        snapshot = json.dumps({"revision": revision,
                               "rows": [r.to_json() for r in snapshot_rows]})
        delta = json.dumps({"revision": revision, "changed": changed, "removed": removed})
        print(f"JSON snapshot                {len(snapshot):8d} bytes")
        print(f"JSON diff (1% changed)       {len(delta):8d} bytes")
        print(f"RSS pyTorrent side (bench)   {rss_mib():8.1f} MiB")
        print(f"RSS rtorrent                 {rss_mib(process.process.pid):8.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torrents", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.torrents, args.batch, args.rounds))


if __name__ == "__main__":
    main()
