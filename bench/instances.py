"""Two instances against one: ``python bench/instances.py [--quick]``

What several instances cost and give: two ``pytorrent serve`` processes share a
PostgreSQL database (or, with ``--sqlite``, one SQLite file), seeded through the
Store before they start, and a redis-server (both real, on loopback), behind a
real nginx that round-robins over keep-alive upstream connections; a second
nginx sends everything to the first instance only, so both topologies pay the
same proxy hop and run the same code (Redis on). Load comes from ``wrk`` (or
bench/loadgen.py) in its own process; all cases run interleaved over several
rounds and the table shows medians: req/s per case, its ratio to the same
topology's ``/api/health``, and two instances' req/s over one's.

On a machine with fewer free cores than two servers plus nginx plus the load
generator need, two instances cannot double anything: read ``two_vs_one`` with
the core count printed above it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import drive
import seeding
import servers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.nginx import NginxProcess, run_nginx  # noqa: E402
from support.postgres import PostgresServer  # noqa: E402
from support.redis import RedisProcess  # noqa: E402

from pytorrent_core.testing import ServerProcess, environment  # noqa: E402

ME = "/api/auth/me"


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    headers: Callable[[str, str], dict[str, str]]  # (cookie, token) -> headers


CASES = (
    Case("health", "/api/health", lambda cookie, token: {}),
    Case("cookie", ME, lambda cookie, token: {"Cookie": cookie}),
    Case("token", ME, lambda cookie, token: {"Authorization": f"Bearer {token}"}),
)


@dataclass
class Topology:
    name: str
    nginx: NginxProcess
    rounds: dict[str, list[drive.Figures]] = field(default_factory=dict)


def nginx_for(root: Path, name: str, upstreams: list[ServerProcess]) -> NginxProcess:
    members = "\n".join(f"        server {s.host}:{s.port};" for s in upstreams)
    http_extra = f"""
    upstream pytorrent {{
{members}
        keepalive 32;
    }}"""
    body = """
        location / {
            proxy_pass http://pytorrent;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
        }"""
    return run_nginx(root, body, name=name, http_extra=http_extra)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round, no warm-up")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per case per round (default 3)")
    parser.add_argument("--connections", type=int, default=8,
                        help="keep-alive connections from the load generator (default 8)")
    parser.add_argument("--sqlite", action="store_true",
                        help="share one SQLite file instead of a PostgreSQL database")
    parser.add_argument("--python-load", action="store_true",
                        help="use bench/loadgen.py even when wrk is installed")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    warmup = 0.0 if args.quick else 1.0
    load_tool, load = drive.runner(prefer_python=args.python_load)
    started = time.monotonic()
    engine = "one SQLite file" if args.sqlite else "PostgreSQL"
    print(f"pyTorrent two instances vs one ({engine} + Redis, nginx in front)")
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"load: {load_tool}, {args.connections} connections, {seconds:g} s per case, "
          f"{rounds} interleaved rounds, medians")
    root = Path(tempfile.mkdtemp(prefix="pytorrent-bench-instances-"))
    processes: list[ServerProcess | NginxProcess | RedisProcess | PostgresServer] = []
    problems: list[str] = []
    try:
        redis = RedisProcess(root / "redis").start()
        processes.append(redis)
        if args.sqlite:
            (root / "shared").mkdir()
            database = {"PYTORRENT_DB_PATH": str(root / "shared" / "pytorrent.db")}
        else:
            postgres = PostgresServer().start()
            processes.append(postgres)
            database = {"PYTORRENT_DATABASE_URL": postgres.create_database()}
        env = {"PYTORRENT_AUTH_PROVIDER": "local", "PYTORRENT_REDIS_URL": redis.url,
               "PYTORRENT_SECRET_KEY": "bench-" + "k" * 42, **database}
        (root / "a").mkdir()
        (root / "b").mkdir()
        seeded = seeding.seed(environment(root / "a", env), seeding.SMALL)
        a = ServerProcess(root / "a", env).start()
        processes.append(a)
        b = ServerProcess(root / "b", env).start()
        processes.append(b)
        cookie, note = servers.login(a, seeded.password)
        if not cookie:
            raise SystemExit(f"could not sign in: {note}")
        topologies = [Topology("one", nginx_for(root, "nginx-one", [a])),
                      Topology("two", nginx_for(root, "nginx-two", [a, b]))]
        processes.extend(t.nginx for t in topologies)
        runs = [(t, c) for t in topologies for c in CASES]
        for topology, case in runs:
            headers = case.headers(cookie, seeded.token)
            if warmup:
                load(f"{topology.nginx.url}{case.path}", headers, warmup, args.connections)
            topology.rounds[case.name] = []
        for number in range(rounds):
            shift = number % len(runs)
            for topology, case in runs[shift:] + runs[:shift]:
                figures = load(f"{topology.nginx.url}{case.path}",
                               case.headers(cookie, seeded.token), seconds, args.connections)
                if figures.errors:
                    problems.append(f"{topology.name}/{case.name}: {figures.errors} failed "
                                    f"requests in round {number + 1}")
                topology.rounds[case.name].append(figures)
            print(f"  round {number + 1}/{rounds} done", file=sys.stderr, flush=True)
        print(f"\n{'instances':<11}{'case':<9}{'req/s':>9}{'p50_ms':>9}{'p99_ms':>9}"
              f"{'ratio_to_health':>17}{'two_vs_one':>12}")
        one = topologies[0]
        for topology in topologies:
            health = topology.rounds["health"]
            for case in CASES:
                mine = topology.rounds[case.name]
                ratio = median([m.rps / h.rps for m, h in zip(mine, health, strict=True)
                                if h.rps])
                line = (f"{topology.name:<11}{case.name:<9}{median([f.rps for f in mine]):>9.0f}"
                        f"{median([f.p50_ms for f in mine]):>9.2f}"
                        f"{median([f.p99_ms for f in mine]):>9.2f}{ratio:>17.2f}")
                if topology is not one:
                    versus = median([m.rps / o.rps for m, o in
                                     zip(mine, one.rounds[case.name], strict=True) if o.rps])
                    line += f"{versus:>12.2f}"
                print(line)
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(root, ignore_errors=True)
    print()
    for line in problems:
        print(f"problem: {line}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
