"""Benchmarks run end to end (figures are not checked: no timing asserts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ("health", "cookie", "token", "bypass", "profiles", "health.proxy", "header")


@pytest.mark.server
def test_quick_benchmark_measures_every_case() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "auth.py"), "--quick",
                           "--socketio"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()
            if line.split() and line.split()[0] in CASES}
    assert set(rows) == set(CASES), done.stdout
    for case, cells in rows.items():
        assert float(cells[0]) > 0, (case, done.stdout)  # req/s measured, no failures
    assert "connect+auth cookie" in done.stdout
    assert "connect+auth token" in done.stdout
    assert "room emit to 20 clients" in done.stdout


@pytest.mark.server
@pytest.mark.nginx
def test_two_instance_benchmark_measures_both_topologies() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "instances.py"), "--quick"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()
            if line.split()[:1] in (["one"], ["two"])]
    assert [(row[0], row[1]) for row in rows] == [
        (topology, case) for topology in ("one", "two")
        for case in ("health", "cookie", "token")], done.stdout
    assert all(float(row[2]) > 0 for row in rows), done.stdout
    assert len(rows[-1]) == 7  # two's rows carry two_vs_one


@pytest.mark.server
def test_ceiling_benchmark_measures_every_case() -> None:
    """Bare ASGI, bare Quart and pyTorrent's routes, a real rtorrent behind the list."""
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ceiling.py"), "--quick",
                           "--torrents", "3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    cases = ("asgi", "quart", "health", "me", "torrents", "torrents.cold")
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()
            if line.split() and line.split()[0] in cases}
    assert set(rows) == set(cases), done.stdout
    for case, cells in rows.items():
        assert float(cells[0]) > 0, (case, done.stdout)  # req/s measured, no failures
    assert float(rows["quart"][3]) == 1.0, done.stdout  # ratios are to bare Quart


@pytest.mark.server
@pytest.mark.browser
def test_torrent_page_benchmark_runs_in_chromium() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ui_page.py"), "--torrents", "30",
                           "--rounds", "1", "--diffs", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = {}
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[1].endswith(" ms"):
            figures[cells[0]] = float(cells[1].removesuffix(" ms"))
    assert set(figures) == {"first full table, cold server", "first full table, warm (reload)",
                            "100-row diff applied (pytorrent:table:diff)",
                            "100-row diff to its painted frame"}, done.stdout
    assert figures["first full table, cold server"] > 0, done.stdout  # marks were read
    assert "load average" in done.stdout
