"""Cleaning usernames and labels from proxy headers (pytorrent_core.usernames)."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from pytorrent_core.usernames import (
    MAX_USERNAME_LENGTH,
    clean_groups,
    clean_username,
    header_problem,
    username_from_headers,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("alice", "alice"),
    ("  Alice  ", "Alice"),
    ("\talice\t", "alice"),
    (" \t alice \t ", "alice"),
    ("first last", "first last"),
    ("alice@example.com", "alice@example.com"),
    ("a" * MAX_USERNAME_LENGTH, "a" * MAX_USERNAME_LENGTH),
    ("jose\u0301", "jos\u00e9"),  # NFC: one way to write é, so one account
])
def test_usable_usernames_are_trimmed(raw: str, expected: str) -> None:
    assert clean_username(raw) == expected


@pytest.mark.parametrize("raw", [
    None,
    "",
    "   ",
    "a" * (MAX_USERNAME_LENGTH + 1),
    "ali\x00ce",
    "ali\nce",
    "ali\rce",
    "alice\x7f",
    "ali\u200bce",  # zero-width space
    "\u202eecila",  # right-to-left override
    "ali\u2028ce",  # line separator
    "admin\u00a0",  # no-break space: str.strip() used to turn this into admin
    "\u3000admin",  # ideographic space
    "admin\u2003",  # em space
    "admin\u202f",  # narrow no-break space
    "alice,bob",  # a list, not a name
    "\u0430dmin",  # Cyrillic а among Latin letters
])
def test_unusable_usernames_are_refused(raw: str | None) -> None:
    assert clean_username(raw) is None


def test_utf8_header_bytes_are_read_as_utf8() -> None:
    # The web layer decodes header bytes as latin-1; a UTF-8 name must survive.
    as_received = "josé".encode().decode("latin-1")
    assert username_from_headers(Headers([("Remote-User", as_received)]), "Remote-User") == "josé"


def test_header_lookup_ignores_case_of_the_header_name() -> None:
    headers = Headers([("remote-user", "alice")])
    assert username_from_headers(headers, "Remote-User") == "alice"


def test_underscore_spelling_is_a_different_header() -> None:
    headers = Headers([("Remote_User", "mallory")])
    assert username_from_headers(headers, "Remote-User") is None


def test_repeated_header_is_ambiguous_and_refused() -> None:
    headers = Headers([("Remote-User", "alice"), ("Remote-User", "mallory")])
    assert username_from_headers(headers, "Remote-User") is None
    assert header_problem(headers, "Remote-User", peer_trusted=True) == "repeated"


@pytest.mark.parametrize(("headers", "trusted", "problem"), [
    ([], True, "missing"),
    ([("Remote-User", "alice")], False, "untrusted"),
    ([("Remote-User", " ")], True, "invalid"),
    ([("Remote-User", "al\x01ice")], True, "invalid"),
    ([("Remote-User", "alice")], True, None),
])
def test_header_problem_names_the_cause(headers: list[tuple[str, str]], trusted: bool,
                                        problem: str | None) -> None:
    assert header_problem(Headers(headers), "Remote-User", trusted) == problem


def test_groups_are_split_cleaned_and_deduplicated() -> None:
    assert clean_groups(" admins, media ,,admins, bad\x00group , users") == (
        "admins", "media", "users")
    assert clean_groups(None) == ()
    assert clean_groups(" , ") == ()
