"""Tinyauth forward authentication: trusted username, name, e-mail and groups headers."""

from __future__ import annotations

from pytorrent_core.provider import (
    Identity,
    LoginPage,
    LogoutAction,
    Principal,
    ProviderInfo,
    RequestFacts,
    Setting,
    Settings,
    hookimpl,
)

from .headers import PROFILE_HEADERS, identity_from_headers
from .pages import login_page
from .settings import LOGOUT_URL, parse_logout_url


@hookimpl
def pytorrent_settings() -> list[Setting]:
    return [
        Setting(LOGOUT_URL, "PYTORRENT_AUTH_TINYAUTH_LOGOUT_URL", None,
                parse_logout_url, "Tinyauth logout page that /logout sends the browser to. "
                "Default: none (/logout returns to the main page).",
                example="https://auth.example.com/logout"),
    ]


@hookimpl
def pytorrent_provider_info(settings: Settings) -> ProviderInfo:
    return ProviderInfo(external=True, description="Tinyauth via a trusted reverse proxy",
                        headers=(settings.auth_proxy_user_header, *PROFILE_HEADERS))


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
