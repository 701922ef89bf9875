"""The explanatory sign-in page: pyTorrent has no login form behind Tinyauth."""

from __future__ import annotations

from pytorrent_core.provider import (
    LoginPage,
    RequestFacts,
    Settings,
    header_problem,
    header_username_problem,
    render_page,
)

from .settings import LOGOUT_URL


def login_page(request: RequestFacts, settings: Settings, next_url: str) -> LoginPage:
    header = settings.auth_proxy_user_header
    problem = header_problem(request.headers, header, request.peer_trusted)
    html = render_page(
        "pytorrent_auth_tinyauth", "login.html",
        header=header, problem=problem, peer=request.peer or "an unknown address",
        prefix=request.prefix, next_url=next_url,
        reason=header_username_problem(request.headers, header),
        logout_url=settings[LOGOUT_URL])
    return LoginPage(html=html, status=401 if problem else 200)
