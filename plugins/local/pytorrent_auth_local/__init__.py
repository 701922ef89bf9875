"""pyTorrent's built-in login form: usernames and argon2id passwords, session cookies.

Logging out is core's default (clear the session, go to ``/login``): AUTH.md
says local authentication keeps the original logout behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytorrent_core import LoginPage, Settings, User, hookimpl

from .credentials import check_password
from .login_page import render_login_page

if TYPE_CHECKING:
    from pytorrent_core.access.facts import RequestFacts
    from pytorrent_core.services import Services


@hookimpl
def pytorrent_provider_info() -> dict[str, object]:
    return {"external": False, "description": "pyTorrent login form and passwords"}


@hookimpl
async def pytorrent_authenticate(username: str, password: str, request: RequestFacts,
                                 services: Services) -> User | None:
    return await check_password(username, password, request, services)


@hookimpl
def pytorrent_login_page(request: RequestFacts, settings: Settings, error: str | None,
                         next_url: str) -> LoginPage:
    return LoginPage(render_login_page(error=error, next_url=next_url, prefix=request.prefix))
