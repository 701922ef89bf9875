"""The explanatory sign-in page: pyTorrent has no login form in proxy mode."""

from __future__ import annotations

from pytorrent_core.provider import (
    LoginPage,
    RequestFacts,
    Settings,
    header_problem,
    header_username_problem,
    render_page,
)


def login_page(request: RequestFacts, settings: Settings, next_url: str) -> LoginPage:
    header = settings.auth_proxy_user_header
    problem = header_problem(request.headers, header, request.peer_trusted)
    html = render_page(
        "pytorrent_auth_proxy", "login.html",
        header=header, problem=problem, peer=request.peer or "an unknown address",
        prefix=request.prefix, next_url=next_url,
        reason=header_username_problem(request.headers, header))
    return LoginPage(html=html, status=401 if problem else 200)
