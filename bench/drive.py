"""Drive HTTP load from a separate process: Debian's ``wrk`` when present, else loadgen.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str | None:
    path = wrk_path()
    if path is None:
        return None
    # wrk -v prints its banner and exits non-zero.
    out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> Figures:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output, re.MULTILINE)
        if match is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{output}")
        return match

    requests = int(find(r"^\s*(\d+) requests in")[1])
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        output)
    errors = int(non_ok[1]) if non_ok else 0
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return Figures(
        rps=float(find(r"^Requests/sec:\s*([\d.]+)")[1]),
        p50_ms=_ms(find(r"^\s*50%\s+(\S+)")[1]),
        p99_ms=_ms(find(r"^\s*99%\s+(\S+)")[1]),
        requests=requests,
        errors=errors,
    )


def run_wrk(url: str, headers: Mapping[str, str], seconds: float,
            connections: int, threads: int = 1) -> Figures:
    path = wrk_path()
    assert path is not None
    command = [path, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True,
                         timeout=seconds + 30, check=True)
    return parse_wrk(out.stdout)


def run_python(url: str, headers: Mapping[str, str], seconds: float,
               connections: int, threads: int = 1) -> Figures:
    """One asyncio process whatever ``threads`` says: wrk's threads have no equivalent here."""
    out = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py"), url, str(seconds), str(connections),
         json.dumps(dict(headers))],
        capture_output=True, text=True, timeout=seconds + 30, check=True)
    data = json.loads(out.stdout)
    return Figures(rps=data["rps"], p50_ms=data["p50_ms"], p99_ms=data["p99_ms"],
                   requests=data["requests"], errors=data["errors"])


def runner(prefer_python: bool = False) -> tuple[str, object]:
    """The load tool's name and its run function."""
    if not prefer_python and wrk_path():
        return f"wrk ({wrk_version()})", run_wrk
    return "bench/loadgen.py (Python, asyncio keep-alive)", run_python
