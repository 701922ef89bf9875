"""The authentication benchmark runs end to end (figures are not checked: no timing asserts)."""

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
