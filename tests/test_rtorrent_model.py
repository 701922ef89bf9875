"""Torrent rows: the one state function and the diff sent to browsers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytorrent_core.rtorrent import Torrent, derive_state, diff
from pytorrent_core.rtorrent.model import FIELDS


def row(info_hash: str = "A" * 40, **changes: object) -> Torrent:
    base = Torrent(hash=info_hash, name="n", size=100, completed=50, progress=0.5,
                   state="downloading", down_rate=10, up_rate=0, ratio=0.0, label="",
                   peers=1, seeds=2, eta=5, added_at=1, finished_at=None, message="",
                   directory="/d")
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(("state", "active", "complete", "hashing", "message", "expected"), [
    (1, 1, 0, 0, "", "downloading"),
    (1, 1, 1, 0, "", "seeding"),
    (1, 0, 0, 0, "", "paused"),
    (1, 0, 1, 0, "", "paused"),
    (0, 0, 0, 0, "", "stopped"),
    (0, 0, 1, 0, "", "stopped"),
    (0, 0, 0, 0, "Download registered as completed, but hash check failed", "error"),
    (0, 0, 1, 0, "Tracker: [Couldn't connect to server]", "stopped"),
    (1, 1, 1, 0, "Tracker: [Couldn't connect to server]", "seeding"),
    (1, 1, 0, 0, "Tracker: [Timeout]", "downloading"),
    (1, 0, 0, 0, "Tracker: [Timeout]", "paused"),
    (1, 1, 0, 3, "", "checking"),
    (0, 0, 0, 1, "", "checking"),
])
def test_derive_state(state: int, active: int, complete: int, hashing: int, message: str,
                      expected: str) -> None:
    assert derive_state(state, active, complete, hashing, message) == expected


def test_to_json_has_exactly_the_row_fields() -> None:
    data = row().to_json()
    assert tuple(data) == FIELDS
    assert data["hash"] == "A" * 40 and data["eta"] == 5 and data["finished_at"] is None


def test_diff_new_torrent_carries_every_field() -> None:
    new = row()
    changed, removed = diff({}, {new.hash: new})
    assert changed == [new.to_json()] and removed == []


def test_diff_changed_torrent_carries_hash_and_changed_fields_only() -> None:
    old = row()
    new = replace(old, down_rate=0, state="paused", eta=None)
    changed, removed = diff({old.hash: old}, {new.hash: new})
    assert changed == [{"hash": old.hash, "down_rate": 0, "state": "paused", "eta": None}]
    assert removed == []


def test_diff_unchanged_and_equal_rows_are_silent() -> None:
    old = row()
    assert diff({old.hash: old}, {old.hash: old}) == ([], [])
    assert diff({old.hash: old}, {old.hash: replace(old)}) == ([], [])


def test_diff_removed() -> None:
    a, b = row("A" * 40), row("B" * 40)
    assert diff({a.hash: a, b.hash: b}, {b.hash: b}) == ([], ["A" * 40])


def test_diff_at_ten_thousand_rows_reports_only_the_changed_ones() -> None:
    old = {f"{i:040X}": row(f"{i:040X}") for i in range(10_000)}
    new = dict(old)
    for key in list(new)[::100]:
        new[key] = replace(new[key], up_rate=7)
    changed, removed = diff(old, new)
    assert len(changed) == 100 and removed == []
    assert all(entry.keys() == {"hash", "up_rate"} for entry in changed)
