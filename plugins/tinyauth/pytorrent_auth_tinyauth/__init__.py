"""Tinyauth forward authentication: trusted Remote-User / Remote-Name / Remote-Email headers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytorrent_core import Identity, LoginPage, LogoutAction, Principal, Setting, Settings, hookimpl

from .headers import identity_from_headers
from .pages import login_page
from .settings import LOGOUT_URL, parse_logout_url

if TYPE_CHECKING:
    from pytorrent_core.access.facts import RequestFacts


@hookimpl
def pytorrent_settings() -> list[Setting]:
    return [
        Setting(LOGOUT_URL, "PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL", None,
                parse_logout_url, "Tinyauth logout page that /logout sends the browser to. "
                "Default: none (/logout returns to the main page).",
                example="https://auth.example.com/logout"),
    ]


@hookimpl
def pytorrent_provider_info() -> dict[str, object]:
    return {"external": True, "description": "Tinyauth via a trusted reverse proxy"}


@hookimpl
def pytorrent_identify(request: RequestFacts, settings: Settings) -> Identity | None:
    return identity_from_headers(request.headers, settings.auth_proxy_user_header)


@hookimpl
def pytorrent_login_page(request: RequestFacts, settings: Settings, error: str | None,
                         next_url: str) -> LoginPage:
    return login_page(request, settings, next_url)


@hookimpl
def pytorrent_logout(principal: Principal | None, request: RequestFacts,
                     settings: Settings) -> LogoutAction:
    logout_url = settings[LOGOUT_URL]
    where = "on the Tinyauth logout page" if logout_url else "in Tinyauth"
    return LogoutAction(clear_session=False, redirect_to=logout_url or "/",
                        provider_managed=True,
                        message=f"Logout is managed by Tinyauth; sign out {where}.")
