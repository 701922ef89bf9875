"""Session ids: what a cookie claims, and ids a command line can take."""

from __future__ import annotations

import secrets

import pytest

from pytorrent_core.access import session_ids


def test_a_session_id_never_begins_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pytorrent sessions revoke SID` would read a leading "-" as an option."""
    drawn = iter(["-Gr_cYmGPEU1AgF5", "--x", "Gr_cYmGPEU1AgF5a"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda size: next(drawn))
    assert session_ids.new_sid() == "Gr_cYmGPEU1AgF5a"


def test_a_session_id_holds_128_random_bits() -> None:
    sids = {session_ids.new_sid() for _ in range(2000)}
    assert len(sids) == 2000
    assert all(len(sid) == 22 and not sid.startswith("-") for sid in sids)
