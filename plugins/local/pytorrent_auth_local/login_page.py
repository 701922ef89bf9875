"""Render the login form. Jinja autoescaping covers every value put into the page."""

from __future__ import annotations

from pytorrent_core.provider import render_page


def _path_prefix(prefix: str) -> str:
    # Only a plain path may lead the form's action (no scheme, no other host).
    if prefix.startswith("/") and not prefix.startswith("//") and ":" not in prefix:
        return prefix.rstrip("/")
    return ""


def render_login_page(*, error: str | None, next_url: str, prefix: str = "") -> str:
    return render_page("pytorrent_auth_local", "login.html",
                  error=error, next_url=next_url, prefix=_path_prefix(prefix))
