"""The provider API: the one module of pyTorrent an authentication provider imports.

Everything a provider needs is here, and only this is promised to stay compatible
within a minor version line (``pytorrent-core~=X.Y``). Anything else in
``pytorrent_core`` may change without notice. See ``docs/providers.md``.
"""

from __future__ import annotations

from .access.facts import RequestFacts
from .config import (
    ConfigError,
    Setting,
    Settings,
    ValueProblem,
    parse_bool,
    parse_choice,
    parse_header_name,
    parse_int,
    parse_list,
    parse_optional_header_name,
    parse_optional_str,
    parse_str,
)
from .context import ProviderContext
from .credentials import check_password
from .hookspecs import hookimpl
from .models import (
    Identity,
    Level,
    LoginPage,
    LogoutAction,
    Principal,
    ProviderInfo,
    Role,
    User,
)
from .pages import render as render_page
from .passwords import MAX_LENGTH as PASSWORD_MAX_LENGTH
from .passwords import needs_rehash as password_needs_rehash
from .passwords import rehash as rehash_password
from .passwords import verify as verify_password
from .provider_routes import CookieChange, Endpoint, ProviderRoute, RouteRequest, RouteResponse
from .storage import StoreError
from .usernames import (
    HeaderMap,
    clean_groups,
    clean_text,
    clean_username,
    header_problem,
    header_username_problem,
    single_header,
    username_from_headers,
    username_problem,
)
from .usernames import normalise as normalise_username

__all__ = [
    "PASSWORD_MAX_LENGTH",
    "ConfigError",
    "CookieChange",
    "Endpoint",
    "HeaderMap",
    "Identity",
    "Level",
    "LoginPage",
    "LogoutAction",
    "Principal",
    "ProviderContext",
    "ProviderInfo",
    "ProviderRoute",
    "RequestFacts",
    "Role",
    "RouteRequest",
    "RouteResponse",
    "Setting",
    "Settings",
    "StoreError",
    "User",
    "ValueProblem",
    "check_password",
    "clean_groups",
    "clean_text",
    "clean_username",
    "header_problem",
    "header_username_problem",
    "hookimpl",
    "normalise_username",
    "parse_bool",
    "parse_choice",
    "parse_header_name",
    "parse_int",
    "parse_list",
    "parse_optional_header_name",
    "parse_optional_str",
    "parse_str",
    "password_needs_rehash",
    "rehash_password",
    "render_page",
    "single_header",
    "username_from_headers",
    "username_problem",
    "verify_password",
]
