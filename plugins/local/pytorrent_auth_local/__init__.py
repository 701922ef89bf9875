"""pyTorrent's built-in login form: usernames and argon2id passwords, session cookies.

Logging out is core's default (clear the session, go to ``/login``): AUTH.md
says local authentication keeps the original logout behaviour.
"""

from __future__ import annotations

from pytorrent_core.provider import (
    LoginPage,
    ProviderContext,
    ProviderInfo,
    RequestFacts,
    Settings,
    User,
    check_password,
    hookimpl,
)

from .login_page import render_login_page


@hookimpl
def pytorrent_provider_info() -> ProviderInfo:
    return ProviderInfo(external=False, description="pyTorrent login form and passwords")


@hookimpl
async def pytorrent_authenticate(username: str, password: str, request: RequestFacts,
                                 context: ProviderContext) -> User | None:
    return await check_password(username, password, request, context)


@hookimpl
def pytorrent_login_page(request: RequestFacts, settings: Settings, error: str | None,
                         next_url: str) -> LoginPage:
    return LoginPage(render_login_page(error=error, next_url=next_url, prefix=request.prefix))
