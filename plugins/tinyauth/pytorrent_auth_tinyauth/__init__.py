"""Tinyauth forward authentication: trusted Remote-User / Remote-Name / Remote-Email headers."""

from __future__ import annotations

from pytorrent_core import Setting, hookimpl
from pytorrent_core.config import parse_optional_str


@hookimpl
def pytorrent_settings() -> list[Setting]:
    return [
        Setting("auth.tinyauth.logout_url", "PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL", None,
                parse_optional_str, "Tinyauth logout page that /logout sends the browser to. "
                "Default: none (/logout returns to the main page).",
                example="https://auth.example.com/logout"),
    ]


@hookimpl
def pytorrent_provider_info() -> dict[str, object]:
    return {"external": True, "description": "Tinyauth via a trusted reverse proxy"}
