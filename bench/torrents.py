"""Torrent lists end to end: ``python bench/torrents.py --torrents 10000 --session DIR``.

A real rtorrent (tests/support/rtorrent.py) with N generated torrents (stopped,
data not on disk) and a real ``pytorrent serve`` with one profile and an API
token. Measures, with the ratio to Flood on the same rtorrent at 10,000
torrents (full list 1.2 s, 7.2 MB per full event, a change visible after 3 s,
26% of a core and 1 GB with one idle client; lower is better, a ratio of 0.33
or less beats it three times):

* the full list through ``GET /api/profiles/{id}/torrents``, cold (nobody
  watches the profile: one call to rTorrent) and warm (one Socket.IO client
  watches it: served from the watcher's rows);
* the ``torrents:snapshot`` event's JSON bytes, and deflated as websocket
  permessage-deflate would send it;
* from an action through the API (start, then stop one torrent) to the
  ``torrents:diff`` that shows it at the Socket.IO client;
* CPU of pyTorrent's server process and of rtorrent over ``--idle`` seconds with
  that one client idle, from /proc/PID/stat; pyTorrent's resident memory.

``--session DIR`` keeps rtorrent's session and downloads in DIR, so a second run
starts from the loaded torrents instead of loading them again (10,000 take
about three minutes to load, less to reload from the session).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from rtorrent_client import load, rss_mib  # noqa: E402
from support.rtorrent import RTorrentProcess  # noqa: E402

from pytorrent_core.rtorrent import RTorrentClient  # noqa: E402
from pytorrent_core.storage import Store  # noqa: E402
from pytorrent_core.testing import ServerProcess, database_url, issue_token  # noqa: E402

FLOOD = {"full list (s)": 1.2, "full event (MB)": 7.2, "change visible (s)": 3.0,
         "CPU (% of a core)": 26.0, "RSS (MB)": 1000.0}
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class Watching:
    """One Socket.IO client in the profile's room, keeping every event it gets."""

    def __init__(self) -> None:
        self.session = aiohttp.ClientSession()
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.session)
        self.snapshot: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.diffs: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()
        self.sio.on("torrents:snapshot", self._snapshot)
        self.sio.on("torrents:diff", self._diff)

    async def _snapshot(self, data: Any) -> None:
        if not self.snapshot.done():
            self.snapshot.set_result(data)

    async def _diff(self, data: Any) -> None:
        await self.diffs.put((time.perf_counter(), data))

    async def until(self, check: Callable[[Any], bool], within: float = 60.0) -> float:
        async with asyncio.timeout(within):
            while True:
                at, data = await self.diffs.get()
                if check(data):
                    return at

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.session.close()


def shows(info_hash: str, stopped: bool) -> Callable[[Any], bool]:
    """A check for a diff that shows ``info_hash`` stopped (or no longer stopped)."""
    def check(diff: Any) -> bool:
        return any(c["hash"] == info_hash and "state" in c
                   and (c["state"] == "stopped") == stopped for c in diff["changed"])
    return check


async def ready_rtorrent(process: RTorrentProcess, count: int) -> float:
    """Wait for the session's torrents, load the missing ones; seconds it took."""
    client = RTorrentClient(process.url, timeout=300)
    began = time.perf_counter()
    seen = -1
    while True:  # rtorrent loads a session's torrents while it already answers
        now = (await client.status()).torrents
        if now == seen:
            break
        seen = now
        await asyncio.sleep(2)
    if seen < count:
        await load(client, process.download_dir, count, 500)
    return time.perf_counter() - began


async def timed_get(http: httpx.AsyncClient, path: str, rounds: int) -> tuple[float, int]:
    walls, size = [], 0
    for _ in range(rounds):
        began = time.perf_counter()
        reply = await http.get(path)
        walls.append(time.perf_counter() - began)
        reply.raise_for_status()
        size = len(reply.content)
    return statistics.median(walls), size


@contextlib.asynccontextmanager
async def loaded_rtorrent(count: int, session: Path | None
                          ) -> AsyncIterator[tuple[RTorrentProcess, int, float]]:
    """A real rtorrent on a unix socket with ``count`` torrents: (process, pid, seconds to ready).

    With ``session`` its session and downloads stay in that folder for the next run.
    """
    with tempfile.TemporaryDirectory(prefix="pt-bench-rt-") as tmp:
        process = RTorrentProcess(session or Path(tmp), transport="unix")
        began = time.perf_counter()
        process.start(timeout=900)  # rtorrent reads its session before it answers
        try:
            assert process.process is not None
            loaded = time.perf_counter() - began + await ready_rtorrent(process, count)
            yield process, process.process.pid, loaded
        finally:
            process.stop(timeout=120)


async def bench_profile(server: ServerProcess, url: str) -> tuple[int, str]:
    """Add the profile for rtorrent at ``url`` and an admin API token: (profile id, token)."""
    store = Store.from_url(database_url(server.tmp_path))
    try:
        profile = await store.create_profile("bench", url)
        admin = await store.get_user_by_name("admin")
        assert admin is not None
        return profile.id, await issue_token(store, admin.id, "bench")
    finally:
        await store.close()


async def run(count: int, session: Path | None, idle: float, rounds: int) -> list[str]:
    async with loaded_rtorrent(count, session) as (process, rt_pid, loaded):
        with tempfile.TemporaryDirectory(prefix="pt-bench-") as tmp, ServerProcess(Path(tmp)) \
                as server:
            return await measure(process, rt_pid, server, count, loaded, idle, rounds)


async def measure(process: RTorrentProcess, rt_pid: int, server: ServerProcess, count: int,
                  loaded: float, idle: float, rounds: int) -> list[str]:
    assert server.process is not None
    profile_id, token = await bench_profile(server, process.url)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/api/profiles/{profile_id}"
    out = [f"torrents {count}; rtorrent ready (session reload or load) in {loaded:.0f} s"]
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=120) as http:
        cold, cold_bytes = await timed_get(http, f"{base}/torrents", rounds)
        listed = (await http.get(f"{base}/torrents")).json()["torrents"]
        assert len(listed) == count, len(listed)

        client = Watching()
        try:
            await client.sio.connect(server.url, transports=["websocket"], auth={"token": token},
                                     wait_timeout=30)
            joined = time.perf_counter()
            await client.sio.call("profile:join", {"profile_id": profile_id}, timeout=120)
            snapshot = await asyncio.wait_for(client.snapshot, 120)
            first = time.perf_counter() - joined
            body = json.dumps(snapshot, separators=(",", ":")).encode()
            full_json = json.dumps({**snapshot, "torrents": listed},
                                   separators=(",", ":")).encode()
            deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
            deflated = len(deflate.compress(body) + deflate.flush(zlib.Z_SYNC_FLUSH))
            warm, _ = await timed_get(http, f"{base}/torrents", rounds)

            target = listed[len(listed) // 2]["hash"]
            latencies: list[float] = []
            for _ in range(rounds):
                for action, stopped in (("start", False), ("stop", True)):
                    began = time.perf_counter()
                    reply = await http.post(f"{base}/torrents/actions",
                                            json={"action": action, "hashes": [target]})
                    reply.raise_for_status()
                    at = await client.until(shows(target, stopped))
                    if action == "stop":
                        latencies.append(at - began)
            visible = statistics.median(latencies)

            await asyncio.sleep(3)  # let the post-action sweep pass before the idle window
            py0, rt0, t0 = cpu_seconds(server.process.pid), cpu_seconds(rt_pid), time.time()
            await asyncio.sleep(idle)
            span = time.time() - t0
            py_cpu = (cpu_seconds(server.process.pid) - py0) / span * 100
            rt_cpu = (cpu_seconds(rt_pid) - rt0) / span * 100
            rss = rss_mib(server.process.pid)
        finally:
            await client.close()

    def row(name: str, value: float, unit: str, flood_key: str | None) -> str:
        ratio = f"{value / FLOOD[flood_key]:.2f}" if flood_key else "-"
        flood = f"{FLOOD[flood_key]:g}" if flood_key else "-"
        return f"| {name} | {value:.3g} {unit} | {flood} | {ratio} |"

    out += ["", "| measure | pyTorrent | Flood | ratio |", "|---|---|---|---|",
            row("full list, REST, cold (not watched)", cold, "s", "full list (s)"),
            row("full list, REST, warm (watched)", warm, "s", "full list (s)"),
            row("first snapshot after join", first, "s", None),
            row("full event: snapshot JSON", len(body) / 1e6, "MB", "full event (MB)"),
            row("snapshot, permessage-deflate (zlib -15)", deflated / 1e6, "MB",
                "full event (MB)"),
            row("snapshot with every key (as REST rows)", len(full_json) / 1e6, "MB", None),
            row("REST list body", cold_bytes / 1e6, "MB", None),
            row("stop via API -> diff at client (median)", visible, "s",
                "change visible (s)"),
            row(f"pyTorrent CPU, {idle:.0f} s idle, 1 client", py_cpu, "% core",
                "CPU (% of a core)"),
            row(f"rtorrent CPU, same {idle:.0f} s", rt_cpu, "% core", None),
            row("pyTorrent RSS", rss * 1.048576, "MB", "RSS (MB)"),
            row("rtorrent RSS", rss_mib(rt_pid) * 1.048576, "MB", None)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torrents", type=int, default=1000)
    parser.add_argument("--session", type=Path, default=None,
                        help="keep rtorrent's session here and reuse it on the next run")
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for line in asyncio.run(run(args.torrents, args.session, args.idle, args.rounds)):
        print(line, flush=True)


if __name__ == "__main__":
    main()
