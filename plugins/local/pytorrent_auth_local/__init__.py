"""pyTorrent's built-in login form: usernames and argon2id passwords, session cookies."""

from __future__ import annotations

from pytorrent_core import hookimpl


@hookimpl
def pytorrent_provider_info() -> dict[str, object]:
    return {"external": False, "description": "pyTorrent login form and passwords"}
