"""OpenID Connect single sign-on: the authorization code flow with PKCE against any
OpenID provider (Authelia, Authentik, Keycloak, Pocket ID, Kanidm, ...)."""

from __future__ import annotations

from urllib.parse import quote

from pytorrent_core.provider import (
    LoginPage,
    LogoutAction,
    ProviderInfo,
    ProviderRoute,
    RequestFacts,
    Setting,
    Settings,
    hookimpl,
    render_page,
)

from .flow import SIGNED_OUT, Flow
from .settings import AUTO_REDIRECT, END_SESSION, NAME, config_from, declared


@hookimpl
def pytorrent_settings() -> list[Setting]:
    return declared()


@hookimpl
def pytorrent_provider_info(settings: Settings) -> ProviderInfo:
    config = config_from(settings)  # refuses an incomplete configuration at start-up
    return ProviderInfo(external=False, description=f"OpenID Connect with {config.issuer}")


@hookimpl
def pytorrent_routes(settings: Settings) -> list[ProviderRoute]:
    return Flow(config_from(settings)).routes()


@hookimpl
def pytorrent_login_page(request: RequestFacts, settings: Settings, error: str | None,
                         next_url: str) -> LoginPage:
    start = f"/auth/oidc/login?next={quote(next_url, safe='/')}"
    signed_out = "signed_out" in request.args
    if settings[AUTO_REDIRECT] and error is None and not signed_out:
        return LoginPage(redirect_to=start)
    html = render_page("pytorrent_auth_oidc", "login.html", name=settings[NAME],
                       start=f"{request.prefix}{start}", error=error, signed_out=signed_out,
                       prefix=request.prefix)
    return LoginPage(html=html)


@hookimpl
def pytorrent_logout(settings: Settings) -> LogoutAction:
    if settings[END_SESSION]:
        return LogoutAction(clear_session=True, redirect_to="/auth/oidc/logout")
    return LogoutAction(clear_session=True, redirect_to=SIGNED_OUT)
