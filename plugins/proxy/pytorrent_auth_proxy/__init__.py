"""Generic reverse-proxy authentication: a trusted username header."""

from __future__ import annotations

from pytorrent_core import hookimpl


@hookimpl
def pytorrent_provider_info() -> dict[str, object]:
    return {"external": True, "description": "username header from a trusted reverse proxy"}
