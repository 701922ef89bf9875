"""How much does authentication cost? ``python bench/auth.py [--scale] [--socketio] [--quick]``

Starts pyTorrent under uvicorn (one worker) on free loopback ports with temporary
data dirs seeded through the Store, drives load from a separate process (``wrk``
when installed, else bench/loadgen.py), interleaves the cases over several rounds
and prints medians: one row per case, with its throughput relative to the same
server's unauthenticated ``/api/health``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata

import drive
import seeding
import servers
from servers import Bench

ME = "/api/auth/me"
TARGET_RATIO = 0.85


@dataclass(frozen=True)
class Case:
    name: str
    server: str  # "local" or "proxy"
    path: str
    headers: Callable[[Bench], dict[str, str]]
    baseline: str  # the health case of the same server
    expect_via: str | None = None  # what /api/auth/me must say, so we time the right path


CASES = (
    Case("health", "local", "/api/health", lambda b: {}, "health"),
    Case("cookie", "local", ME, lambda b: {"Cookie": b.cookie}, "health", "session"),
    Case("token", "local", ME,
         lambda b: {"Authorization": f"Bearer {b.seeded.token}"}, "health", "token"),
    Case("bypass", "local", ME, lambda b: {"Host": b.bypass_host}, "health", "bypass"),
    Case("profiles", "local", "/api/profiles", lambda b: {"Cookie": b.cookie}, "health"),
    Case("health.proxy", "proxy", "/api/health", lambda b: {}, "health.proxy"),
    Case("header", "proxy", ME, lambda b: {"Remote-User": seeding.HEADER_USER},
         "health.proxy", "provider"),
)


@dataclass
class Run:
    """One case against one bench: its prechecked state and the figures of each round."""

    bench: Bench
    case: Case
    problem: str = ""
    rounds: list[drive.Figures] | None = None
    body_bytes: int = 0

    @property
    def label(self) -> str:
        return f"{self.bench.size.name}/{self.case.name}"

    def url(self) -> str:
        server = self.bench.local if self.case.server == "local" else self.bench.proxy
        return f"{server.url}{self.case.path}"


def precheck(run: Run) -> str:
    """Empty when one request of this case succeeds the way the case means; else why not.

    Also notes the response size: routes whose answer grows with the database
    (grants in /api/auth/me, visible profiles) cost more for that reason alone.
    """
    bench, case = run.bench, run.case
    if case.path != "/api/health" and "Cookie" in case.headers(bench) and not bench.cookie:
        return f"no session cookie: {bench.cookie_note}"
    server = bench.local if case.server == "local" else bench.proxy
    status, _, body = servers.request(server, "GET", case.path, case.headers(bench))
    if status != 200:
        return f"GET {case.path} answered {status}: {body[:160].decode(errors='replace')}"
    run.body_bytes = len(body)
    if case.expect_via is not None:
        via = json.loads(body).get("user", {}).get("via")
        if via != case.expect_via:
            return f"resolved via {via!r}, expected {case.expect_via!r}"
    return ""


def versions(load_tool: str) -> str:
    names = ("quart", "quart-auth", "uvicorn", "python-socketio", "python-engineio",
             "sqlalchemy", "aiosqlite", "uvloop", "httptools")
    parts = [f"python {platform.python_version()}"]
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} -")
    parts.append(f"load: {load_tool}")
    return ", ".join(parts)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def measure(runs: list[Run], rounds: int, seconds: float, connections: int,
            warmup: float, load: Callable[..., drive.Figures]) -> None:
    live = [run for run in runs if not run.problem]
    if warmup > 0:
        for run in live:
            load(run.url(), run.case.headers(run.bench), warmup, connections)
    for run in live:
        run.rounds = []
    for number in range(rounds):
        # Rotate the order each round so no case always follows the same neighbour.
        shift = number % len(live) if live else 0
        for run in live[shift:] + live[:shift]:
            figures = load(run.url(), run.case.headers(run.bench), seconds, connections)
            if figures.errors:
                run.problem = f"{figures.errors} failed requests in round {number + 1}"
            assert run.rounds is not None
            run.rounds.append(figures)
        print(f"  round {number + 1}/{rounds} done", file=sys.stderr, flush=True)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(runs: list[Run]) -> dict[str, dict[str, float]]:
    """Per label: median req/s, p50, p99, and the median of per-round ratios to health."""
    by_label = {run.label: run for run in runs}
    table: dict[str, dict[str, float]] = {}
    for run in runs:
        if not run.rounds:
            continue
        base = by_label.get(f"{run.bench.size.name}/{run.case.baseline}")
        ratios = []
        if base is not None and base.rounds:
            ratios = [mine.rps / theirs.rps
                      for mine, theirs in zip(run.rounds, base.rounds, strict=False)
                      if theirs.rps]
        table[run.label] = {
            "rps": _median([f.rps for f in run.rounds]),
            "p50": _median([f.p50_ms for f in run.rounds]),
            "p99": _median([f.p99_ms for f in run.rounds]),
            "ratio": _median(ratios),
        }
    return table


def print_table(runs: list[Run], table: dict[str, dict[str, float]], size: seeding.Size,
                compare_to: str | None) -> None:
    print(f"\n{size.name} database: {size.users} users, {size.profiles} profiles, "
          f"measured user with {size.grants} per-profile grants, {size.tokens} active tokens")
    header = f"{'case':<14}{'req/s':>9}{'p50_ms':>9}{'p99_ms':>9}{'ratio_to_health':>17}"
    if compare_to:
        header += f"{'vs_' + compare_to:>10}"
    header += f"{'body_bytes':>12}"
    print(header)
    for run in runs:
        if run.bench.size is not size:
            continue
        row = table.get(run.label)
        if row is None:
            print(f"{run.case.name:<14}  not measured: {run.problem}")
            continue
        line = (f"{run.case.name:<14}{row['rps']:>9.0f}{row['p50']:>9.2f}{row['p99']:>9.2f}"
                f"{row['ratio']:>17.2f}")
        if compare_to:
            small = table.get(f"{compare_to}/{run.case.name}")
            line += f"{row['rps'] / small['rps']:>10.2f}" if small else f"{'-':>10}"
        line += f"{run.body_bytes:>12}"
        if run.problem:
            line += f"  ! {run.problem}"
        print(line)


def verdict(runs: list[Run], table: dict[str, dict[str, float]]) -> list[str]:
    below = []
    for run in runs:
        row = table.get(run.label)
        if run.case.path != "/api/health" and row is not None and row["ratio"] < TARGET_RATIO:
            below.append(f"{run.label} {row['ratio']:.2f}")
    return below


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="store_true",
                        help="also measure a database with 10,000 users, 1,000 profiles, "
                             "500 grants for the measured user and 1,000 active tokens")
    parser.add_argument("--socketio", action="store_true",
                        help="also measure Socket.IO connect+auth and a 500-client room emit")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one short round, no warm-up, small Socket.IO counts")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per case per round (default 3)")
    parser.add_argument("--connections", type=int, default=4,
                        help="keep-alive connections (default 4)")
    parser.add_argument("--python-load", action="store_true",
                        help="use bench/loadgen.py even when wrk is installed")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.seconds = args.seconds or (1.0 if args.quick else 3.0)
    args.warmup = 0.0 if args.quick else 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load_tool, load = drive.runner(prefer_python=args.python_load)
    print("pyTorrent authentication benchmark")
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, "
          f"{platform.system()} {platform.release()}")
    print(f"versions: {versions(load_tool)}")
    print(f"method: uvicorn, 1 worker, log level warning; {args.connections} keep-alive "
          f"connections; {args.seconds:g} s per case; {args.rounds} interleaved rounds; "
          "medians; ratio = median of per-round (case req/s / same server's health req/s)")
    sizes = [seeding.SMALL] + ([seeding.SCALE] if args.scale else [])
    benches: list[Bench] = []
    try:
        for size in sizes:
            moment = time.monotonic()
            benches.append(servers.prepare(size))
            print(f"  seeded and started {size.name} in {time.monotonic() - moment:.1f} s",
                  file=sys.stderr, flush=True)
        runs = [Run(bench, case) for bench in benches for case in CASES]
        for run in runs:
            run.problem = precheck(run)
        measure(runs, args.rounds, args.seconds, args.connections, args.warmup, load)
        table = summarise(runs)
        for index, bench in enumerate(benches):
            print_table(runs, table, bench.size, sizes[0].name if index else None)
        if args.socketio:
            import sio

            for bench in benches:
                sio.report(bench, quick=args.quick)
    finally:
        for bench in benches:
            bench.stop()
            shutil.rmtree(bench.root, ignore_errors=True)
    failed = [f"{run.label}: {run.problem}" for run in runs if run.problem]
    below = verdict(runs, table)
    print()
    if below:
        print(f"below the {TARGET_RATIO} target: {', '.join(below)}")
    else:
        print(f"every authenticated case measured is at or above {TARGET_RATIO} of health")
    for line in failed:
        print(f"problem: {line}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
