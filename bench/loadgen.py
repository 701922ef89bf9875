"""A small HTTP/1.1 keep-alive load generator, used when ``wrk`` is not installed.

Run as its own process (``python bench/loadgen.py URL SECONDS CONNECTIONS HEADERS_JSON``)
so it never shares a CPU slice with the server's event loop. Prints one JSON
object: requests, errors (non-2xx/3xx or broken connections), elapsed seconds,
requests per second, and p50/p99 latency in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


def _request_bytes(url: str, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    lines = [f"GET {path} HTTP/1.1"]
    names = {name.lower() for name in headers}
    if "host" not in names:
        lines.append(f"Host: {parts.netloc}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Connection: keep-alive")
    return host, port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, request: bytes, deadline: float,
                  latencies: list[float], counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    try:
        while clock() < deadline:
            started = clock()
            writer.write(request)
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                counts["errors"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(clock() - started)
            if status >= 400:
                counts["errors"] += 1
    finally:
        writer.close()


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


async def run(url: str, seconds: float, connections: int, headers: dict[str, str]) -> dict:
    host, port, request = _request_bytes(url, headers)
    latencies: list[float] = []
    counts = {"errors": 0}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_worker(host, port, request, deadline, latencies, counts)
                           for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": counts["errors"],
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": _percentile(ordered, 0.50) * 1000,
        "p99_ms": _percentile(ordered, 0.99) * 1000,
    }


def main(argv: list[str]) -> None:
    url, seconds, connections, headers = argv[0], float(argv[1]), int(argv[2]), argv[3]
    runner = asyncio.run
    try:
        import uvloop  # installed with uvicorn[standard]; the stdlib loop also works

        runner = uvloop.run
    except ImportError:
        pass
    print(json.dumps(runner(run(url, seconds, connections, json.loads(headers)))))


if __name__ == "__main__":
    main(sys.argv[1:])
