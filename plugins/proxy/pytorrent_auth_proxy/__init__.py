"""Generic reverse-proxy authentication: a trusted username header, optionally groups."""

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
    clean_groups,
    hookimpl,
    parse_optional_header_name,
    single_header,
    username_from_headers,
)

from .pages import login_page

PROVIDER = "proxy"
GROUPS_HEADER = "auth.proxy.groups_header"
LOGOUT_MESSAGE = ("Logout is managed by the reverse proxy that signed you in; "
                  "sign out there.")


@hookimpl
def pytorrent_settings() -> list[Setting]:
    return [
        Setting(GROUPS_HEADER, "PYTORRENT_AUTH_PROXY_GROUPS_HEADER", None,
                parse_optional_header_name, "Header that carries the user's groups, "
                "comma-separated, for auth.admin_groups and auth.group_permissions. "
                "Default: unset, no groups are read.", example="Remote-Groups"),
    ]


@hookimpl
def pytorrent_provider_info(settings: Settings) -> ProviderInfo:
    groups_header = settings[GROUPS_HEADER]
    # Names and e-mail addresses are not this provider's: an admin's stay as set; groups
    # only when a header carries them.
    return ProviderInfo(external=True, description="username header from a trusted reverse proxy",
                        headers=(settings.auth_proxy_user_header,
                                 *((groups_header,) if groups_header else ())),
                        identity_fields=("groups",) if groups_header else ())


@hookimpl
def pytorrent_identify(request: RequestFacts, settings: Settings) -> Identity | None:
    username = username_from_headers(request.headers, settings.auth_proxy_user_header)
    if not username:
        return None
    groups_header = settings[GROUPS_HEADER]
    groups = clean_groups(single_header(request.headers, groups_header)) if groups_header \
        else ()
    return Identity(username=username, provider=PROVIDER, groups=groups)


@hookimpl
def pytorrent_login_page(request: RequestFacts, settings: Settings, error: str | None,
                         next_url: str) -> LoginPage:
    return login_page(request, settings, next_url)


@hookimpl
def pytorrent_logout(principal: Principal | None, request: RequestFacts,
                     settings: Settings) -> LogoutAction:
    return LogoutAction(clear_session=False, redirect_to="/", provider_managed=True,
                        message=LOGOUT_MESSAGE)
