"""Generic reverse-proxy authentication: a trusted username header."""

from __future__ import annotations

from pytorrent_core.provider import (
    Identity,
    LoginPage,
    LogoutAction,
    Principal,
    ProviderInfo,
    RequestFacts,
    Settings,
    hookimpl,
    username_from_headers,
)

from .pages import login_page

PROVIDER = "proxy"
LOGOUT_MESSAGE = ("Logout is managed by the reverse proxy that signed you in; "
                  "sign out there.")


@hookimpl
def pytorrent_provider_info(settings: Settings) -> ProviderInfo:
    return ProviderInfo(external=True, description="username header from a trusted reverse proxy",
                        headers=(settings.auth_proxy_user_header,))


@hookimpl
def pytorrent_identify(request: RequestFacts, settings: Settings) -> Identity | None:
    username = username_from_headers(request.headers, settings.auth_proxy_user_header)
    return Identity(username=username, provider=PROVIDER) if username else None


@hookimpl
def pytorrent_login_page(request: RequestFacts, settings: Settings, error: str | None,
                         next_url: str) -> LoginPage:
    return login_page(request, settings, next_url)


@hookimpl
def pytorrent_logout(principal: Principal | None, request: RequestFacts,
                     settings: Settings) -> LogoutAction:
    return LogoutAction(clear_session=False, redirect_to="/", provider_managed=True,
                        message=LOGOUT_MESSAGE)
