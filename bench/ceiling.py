"""What pyTorrent's own stack costs per request: ``python bench/ceiling.py``.

The same uvicorn (one process, uvloop, httptools, access log off), in the same
run, serving:

a. ``asgi``: a bare ASGI callable answering fixed JSON (bench/ceiling_apps.py);
b. ``quart``: a bare Quart app with one JSON route, ``/api/health`` (the same file);
c. ``health``: pyTorrent's ``/api/health`` (``pytorrent serve``, small database);
d. ``me``: pyTorrent's ``/api/auth/me`` with a session cookie;
e. ``torrents``: ``GET /api/profiles/{id}/torrents`` as the same user, for a real
   rtorrent holding ``--torrents`` stopped torrents (20 by default) while a
   Socket.IO client watches the profile, so the list comes from the watcher's rows;
   ``torrents.cold`` is the same list of a profile nobody watches (one call to
   rTorrent per request): shown, not held to a target.

Load comes from ``wrk -t2 -c16 -d4s --latency`` (or bench/loadgen.py), all cases
interleaved over three rounds after a warm-up, rotating the order each round;
the table shows medians, and each ratio is the median of per-round ratios to
bare Quart in the same round. Targets (issue 15): ``health`` at least 0.85 of
bare Quart, ``me`` at least 0.80.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import drive  # noqa: E402
import seeding  # noqa: E402
import servers  # noqa: E402
from auth import cpu_model, versions  # noqa: E402
from rtorrent_client import load  # noqa: E402
from support.rtorrent import RTorrentProcess  # noqa: E402

from pytorrent_core.rtorrent import RTorrentClient  # noqa: E402
from pytorrent_core.storage import Store  # noqa: E402
from pytorrent_core.testing import ServerProcess, environment, free_port  # noqa: E402

TARGETS = {"health": 0.85, "me": 0.80}
BASELINE = "quart"


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Case:
    name: str
    url: str
    pid: int  # the serving process, whose CPU time each request costs
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[bytes], str] | None = None  # empty when the answer is the expected one
    rounds: list[drive.Figures] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU µs per request, per round
    problem: str = ""


class Uvicorn:
    """``python -m uvicorn MODULE:APP`` on a free loopback port, as ``pytorrent serve``
    runs it: one process, log level warning, no access log, no server header."""

    def __init__(self, app: str, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / f"{app.replace(':', '-')}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", app, "--app-dir", str(HERE),
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
             "--no-access-log", "--no-server-header", "--no-proxy-headers"],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/api/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"uvicorn {app} did not start:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Watching:
    """One Socket.IO client in a profile's room, on its own thread and event loop, so
    the profile's watcher runs (and serves the list) for the whole measurement."""

    def __init__(self, url: str, cookie: str, profile_id: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client: Any = None
        self._call(self._join(url, cookie, profile_id))

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(60)

    async def _join(self, url: str, cookie: str, profile_id: int) -> None:
        import socketio

        snapshot = asyncio.get_running_loop().create_future()
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("torrents:snapshot",
                       lambda data: snapshot.done() or snapshot.set_result(data))
        await self.client.connect(url, headers={"Cookie": cookie}, transports=["websocket"],
                                  wait_timeout=30)
        await self.client.call("profile:join", {"profile_id": profile_id}, timeout=30)
        await asyncio.wait_for(snapshot, 30)

    def stop(self) -> None:
        if self.client is not None:
            self._call(self.client.disconnect())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@contextmanager
def rtorrent(count: int) -> Iterator[RTorrentProcess]:
    with tempfile.TemporaryDirectory(prefix="pt-ceiling-rt-") as tmp:
        process = RTorrentProcess(Path(tmp), transport="unix")
        process.start()
        try:
            asyncio.run(load(RTorrentClient(process.url, timeout=60), process.download_dir,
                             count, 500))
            yield process
        finally:
            process.stop()


async def _point_profiles(database: str, ids: list[int], scgi_url: str) -> None:
    store = Store.from_url(database)
    try:
        for profile_id in ids:
            await store.update_profile(profile_id, scgi_url=scgi_url, actor="bench")
    finally:
        await store.close()


def pytorrent(root: Path, scgi_url: str, source: Path | None = None
              ) -> tuple[ServerProcess, str, int, int]:
    """A seeded small database whose first two profiles are the real rtorrent, served:
    (server, session cookie, watched profile id, unwatched profile id).

    ``source``: serve the pyTorrent of that source tree instead (same database schema)."""
    env = {"PYTORRENT_AUTH_PROVIDER": "local"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    seeded = seeding.seed(environment(root, env), seeding.SMALL)
    # The measured user holds full on the first seeded profile and ro on the second.
    watched, cold = seeded.room_profile, seeded.room_profile + 1
    server = ServerProcess(root, env)
    asyncio.run(_point_profiles(server.database_url, [watched, cold], scgi_url))
    # ``python -m`` puts the working directory first on sys.path: start in the tree served.
    with contextlib.chdir(source or Path.cwd()):
        server.start()
    cookie, note = servers.login(server, seeded.password)
    if not cookie:
        server.stop()
        raise RuntimeError(f"no session cookie: {note}")
    return server, cookie, watched, cold


def expect_status_ok(body: bytes) -> str:
    return "" if b'"status"' in body and b'"ok"' in body else f"unexpected body {body[:80]!r}"


def expect_session(body: bytes) -> str:
    return "" if b'"via":"session"' in body else f"not resolved by session: {body[:120]!r}"


def expect_torrents(count: int) -> Callable[[bytes], str]:
    def check(body: bytes) -> str:
        import json

        listed = json.loads(body).get("torrents", [])
        return "" if len(listed) == count else f"{len(listed)} torrents, expected {count}"
    return check


def precheck(case: Case) -> str:
    request = urllib.request.Request(case.url, headers=case.headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            body = reply.read()
    except OSError as error:
        return f"GET {case.url} failed: {error}"
    return case.check(body) if case.check else ""


def measure(cases: list[Case], rounds: int, seconds: float, connections: int, threads: int,
            warmup: float, run: Callable[..., drive.Figures]) -> None:
    live = [case for case in cases if not case.problem]
    for case in live if warmup else ():
        run(case.url, case.headers, warmup, connections, threads=threads)
    for number in range(rounds):
        shift = number % len(live)
        for case in live[shift:] + live[:shift]:
            before = cpu_seconds(case.pid)
            figures = run(case.url, case.headers, seconds, connections, threads=threads)
            spent = cpu_seconds(case.pid) - before
            if figures.errors:
                case.problem = f"{figures.errors} failed requests in round {number + 1}"
            case.rounds.append(figures)
            case.cpu_us.append(spent / max(1, figures.requests) * 1e6)
        print(f"  round {number + 1}/{rounds} done", file=sys.stderr, flush=True)


def summarise(cases: list[Case]) -> dict[str, dict[str, float]]:
    by_name = {case.name: case for case in cases}
    table = {}
    for case in cases:
        if not case.rounds:
            continue

        def ratio(to: str, case: Case = case) -> float:
            base = by_name.get(to)
            if base is None or not base.rounds:
                return float("nan")
            return statistics.median(mine.rps / theirs.rps for mine, theirs
                                     in zip(case.rounds, base.rounds, strict=True))

        def cpu_ratio(case: Case = case) -> float:
            base = by_name.get(BASELINE)
            if base is None or not base.cpu_us:
                return float("nan")
            return statistics.median(theirs / mine for mine, theirs
                                     in zip(case.cpu_us, base.cpu_us, strict=True))

        table[case.name] = {
            "cpu_us": statistics.median(case.cpu_us),
            "cpu_ratio": cpu_ratio(),
            "rps": statistics.median(f.rps for f in case.rounds),
            "p50": statistics.median(f.p50_ms for f in case.rounds),
            "p99": statistics.median(f.p99_ms for f in case.rounds),
            "quart": ratio(BASELINE),
            "asgi": ratio("asgi"),
        }
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per case per round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--torrents", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--python-load", action="store_true",
                        help="use bench/loadgen.py even when wrk is installed")
    parser.add_argument("--quick", action="store_true", help="one 1 s round, no warm-up")
    parser.add_argument("--base", type=Path, default=None, metavar="TREE",
                        help="also serve the pyTorrent of another source tree (e.g. "
                             "`git archive main | tar -x -C TREE`) in the same run: "
                             "cases health.base, me.base and torrents.base")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 1.0, 0.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load_tool, run = drive.runner(prefer_python=args.python_load)
    print("pyTorrent per-request ceiling")
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, "
          f"{platform.system()} {platform.release()}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at start")
    print(f"versions: {versions(load_tool)}")
    print(f"method: uvicorn, 1 process, log level warning, no access log; "
          f"{args.threads} load threads, {args.connections} keep-alive connections; "
          f"{args.seconds:g} s per case; {args.rounds} interleaved rounds; medians; "
          f"ratio = median of per-round (case req/s / bare Quart req/s)")
    root = Path(tempfile.mkdtemp(prefix="pt-ceiling-"))
    cases: list[Case] = []
    try:
        with ExitStack() as stack:
            rt = stack.enter_context(rtorrent(args.torrents))
            asgi = Uvicorn("ceiling_apps:bare_asgi", root)
            stack.callback(asgi.stop)
            quart = Uvicorn("ceiling_apps:bare_quart", root)
            stack.callback(quart.stop)
            (root / "pytorrent").mkdir()
            server, cookie, watched, cold = pytorrent(root / "pytorrent", rt.url)
            stack.callback(server.stop)
            watcher = Watching(server.url, cookie, watched)
            stack.callback(watcher.stop)
            session = {"Cookie": cookie}
            listed = expect_torrents(args.torrents)
            pid = server.process.pid if server.process else 0
            cases = [
                Case("asgi", f"{asgi.url}/api/health", asgi.process.pid,
                     check=expect_status_ok),
                Case("quart", f"{quart.url}/api/health", quart.process.pid,
                     check=expect_status_ok),
                Case("health", f"{server.url}/api/health", pid, check=expect_status_ok),
                Case("me", f"{server.url}/api/auth/me", pid, session, expect_session),
                Case("torrents", f"{server.url}/api/profiles/{watched}/torrents", pid, session,
                     listed),
                Case("torrents.cold", f"{server.url}/api/profiles/{cold}/torrents", pid,
                     session, listed),
            ]
            if args.base is not None:
                (root / "base").mkdir()
                base, base_cookie, base_watched, _ = pytorrent(root / "base", rt.url,
                                                               args.base.resolve())
                stack.callback(base.stop)
                stack.callback(Watching(base.url, base_cookie, base_watched).stop)
                base_pid = base.process.pid if base.process else 0
                cases += [
                    Case("health.base", f"{base.url}/api/health", base_pid,
                         check=expect_status_ok),
                    Case("me.base", f"{base.url}/api/auth/me", base_pid,
                         {"Cookie": base_cookie}, expect_session),
                    Case("torrents.base", f"{base.url}/api/profiles/{base_watched}/torrents",
                         base_pid, {"Cookie": base_cookie}, listed),
                ]
            for case in cases:
                case.problem = precheck(case)
            measure(cases, args.rounds, args.seconds, args.connections, args.threads,
                    args.warmup, run)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table = summarise(cases)
    print(f"\n{args.torrents} torrents in the real rtorrent; {seeding.SMALL.name} database")
    print(f"{'case':<15}{'req/s':>9}{'p50_ms':>9}{'p99_ms':>9}{'vs_quart':>10}{'vs_asgi':>9}"
          f"{'cpu_us':>9}{'cpu_vs_quart':>14}")
    for case in cases:
        row = table.get(case.name)
        if row is None:
            print(f"{case.name:<15}  not measured: {case.problem}")
            continue
        line = (f"{case.name:<15}{row['rps']:>9.0f}{row['p50']:>9.2f}{row['p99']:>9.2f}"
                f"{row['quart']:>10.2f}{row['asgi']:>9.2f}{row['cpu_us']:>9.1f}"
                f"{row['cpu_ratio']:>14.2f}")
        print(line + (f"  ! {case.problem}" if case.problem else ""))
    print()
    below = [f"{name} {table[name]['quart']:.2f} (target {target})"
             for name, target in TARGETS.items()
             if name in table and not table[name]["quart"] >= target]
    print("below target: " + ", ".join(below) if below else
          "targets met: " + ", ".join(f"{name} >= {target} of bare Quart"
                                      for name, target in TARGETS.items()))
    failed = [f"{case.name}: {case.problem}" for case in cases if case.problem]
    for line in failed:
        print(f"problem: {line}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
