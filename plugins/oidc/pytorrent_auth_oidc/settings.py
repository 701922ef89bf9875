"""The provider's settings, and the checked configuration built from them at start-up."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytorrent_core.provider import (
    ConfigError,
    Setting,
    Settings,
    ValueProblem,
    parse_bool,
    parse_optional_str,
    parse_str,
)

ISSUER = "auth.oidc.issuer"
CLIENT_ID = "auth.oidc.client_id"
CLIENT_SECRET = "auth.oidc.client_secret"  # noqa: S105 (a setting's key)
CLIENT_SECRET_FILE = "auth.oidc.client_secret_file"  # noqa: S105
SCOPES = "auth.oidc.scopes"
USERNAME_CLAIM = "auth.oidc.username_claim"
GROUPS_CLAIM = "auth.oidc.groups_claim"
NAME = "auth.oidc.name"
AUTO_REDIRECT = "auth.oidc.auto_redirect"
END_SESSION = "auth.oidc.end_session"
REDIRECT_URI = "auth.oidc.redirect_uri"

CALLBACK_PATH = "/auth/oidc/callback"


def _local_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def parse_url(value: Any) -> str | None:
    """An https URL; plain http only for localhost or a private IP address (a test or
    a provider on the same machine or LAN): tokens and the client secret cross it."""
    text = parse_str(value)
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or any(ch.isspace() for ch in text):
        raise ValueProblem("expected an https:// URL without query or fragment, for example "
                           "https://auth.example.com")
    if parts.scheme == "http" and not _local_host(parts.hostname):
        raise ValueProblem("expected https://; plain http is only allowed for localhost "
                           "or a private IP address")
    return text


def parse_scopes(value: Any) -> tuple[str, ...]:
    """Space- or comma-separated in the environment, an array in TOML; must hold openid."""
    if isinstance(value, str):
        scopes = value.replace(",", " ").split()
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        scopes = [item.strip() for item in value if item.strip()]
    else:
        raise ValueProblem("expected scopes separated by spaces, such as "
                           "\"openid profile email groups\"")
    if "openid" not in scopes:
        raise ValueProblem("must include openid, for example \"openid profile email\"")
    if any(not scope.isascii() or not scope.isprintable() or '"' in scope or "\\" in scope
           for scope in scopes):
        raise ValueProblem("a scope may hold only printable ASCII characters")
    return tuple(dict.fromkeys(scopes))


def parse_claim(value: Any) -> str:
    text = parse_str(value)
    if not text or len(text) > 200 or any(ch.isspace() for ch in text):
        raise ValueProblem("expected a claim name such as preferred_username")
    return text


def parse_label(value: Any) -> str:
    text = parse_str(value)
    if not text or len(text) > 60 or not text.isprintable():
        raise ValueProblem("expected a short name for the sign-in button, such as Authelia")
    return text


def declared() -> list[Setting]:
    return [
        Setting(ISSUER, "PYTORRENT_AUTH_OIDC_ISSUER", None, parse_url,
                "The identity provider's issuer URL, exactly as its discovery document "
                "states it (required).", example="https://auth.example.com"),
        Setting(CLIENT_ID, "PYTORRENT_AUTH_OIDC_CLIENT_ID", None, parse_optional_str,
                "The client id registered for pyTorrent at the identity provider (required).",
                example="pytorrent"),
        Setting(CLIENT_SECRET, "PYTORRENT_AUTH_OIDC_CLIENT_SECRET", None, parse_optional_str,
                "The client secret. Set this or client_secret_file, not both.", secret=True),
        Setting(CLIENT_SECRET_FILE, "PYTORRENT_AUTH_OIDC_CLIENT_SECRET_FILE", None,
                parse_optional_str, "A file holding the client secret (trailing newline "
                "ignored). Set this or client_secret, not both.",
                example="/run/secrets/pytorrent_oidc"),
        Setting(SCOPES, "PYTORRENT_AUTH_OIDC_SCOPES", ("openid", "profile", "email"),
                parse_scopes, "Scopes to ask for, separated by spaces in the environment; "
                "must include openid. Add the scope that releases the groups claim (often "
                "groups) to map groups."),
        Setting(USERNAME_CLAIM, "PYTORRENT_AUTH_OIDC_USERNAME_CLAIM", "preferred_username",
                parse_claim, "The claim that holds the pyTorrent username."),
        Setting(GROUPS_CLAIM, "PYTORRENT_AUTH_OIDC_GROUPS_CLAIM", "groups", parse_claim,
                "The claim that holds the user's groups (a list of names)."),
        Setting(NAME, "PYTORRENT_AUTH_OIDC_NAME", "single sign-on", parse_label,
                "The identity provider's name on the sign-in button (Sign in with <name>).",
                example="Authelia"),
        Setting(AUTO_REDIRECT, "PYTORRENT_AUTH_OIDC_AUTO_REDIRECT", False, parse_bool,
                "Send the sign-in page straight to the identity provider."),
        Setting(END_SESSION, "PYTORRENT_AUTH_OIDC_END_SESSION", False, parse_bool,
                "On logout, also sign out at the identity provider (its end_session_endpoint)."),
        Setting(REDIRECT_URI, "PYTORRENT_AUTH_OIDC_REDIRECT_URI", None, parse_url,
                "The redirect URI registered at the identity provider. Default: the "
                "address the browser used + /auth/oidc/callback (behind a reverse proxy "
                "that needs PYTORRENT_PROXY_FIX_ENABLE, or set this).",
                example="https://torrents.example.com/auth/oidc/callback"),
    ]


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    username_claim: str
    groups_claim: str
    name: str
    auto_redirect: bool
    end_session: bool
    redirect_uri: str | None

    def callback_url(self, base_url: str) -> str:
        return self.redirect_uri or f"{base_url}{CALLBACK_PATH}"


def _secret(settings: Settings) -> str:
    inline, path = settings[CLIENT_SECRET], settings[CLIENT_SECRET_FILE]
    if (inline is None) == (path is None):
        state = "both are set" if inline else "neither is set"
        raise ConfigError("PYTORRENT_AUTH_OIDC_CLIENT_SECRET and "
                          f"PYTORRENT_AUTH_OIDC_CLIENT_SECRET_FILE: {state}; set exactly one "
                          "(the file is the safer place for a secret)")
    if inline is not None:
        return str(inline)
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{settings.where(CLIENT_SECRET_FILE)}: cannot read the client "
                          f"secret: {reason}; point it at a readable file") from None
    if not text:
        raise ConfigError(f"{settings.where(CLIENT_SECRET_FILE)}: the file is empty; "
                          "write the client secret into it")
    return text


def config_from(settings: Settings) -> OidcConfig:
    """The checked configuration; ConfigError names the setting and the fix."""
    for key, what in ((ISSUER, "the issuer URL, e.g. https://auth.example.com"),
                      (CLIENT_ID, "the client id registered for pyTorrent")):
        if not settings[key]:
            env = settings.declared[key].env
            raise ConfigError(f"{env} is not set; the oidc provider needs {what}")
    return OidcConfig(
        issuer=settings[ISSUER], client_id=settings[CLIENT_ID], client_secret=_secret(settings),
        scopes=tuple(settings[SCOPES]), username_claim=settings[USERNAME_CLAIM],
        groups_claim=settings[GROUPS_CLAIM], name=settings[NAME],
        auto_redirect=bool(settings[AUTO_REDIRECT]), end_session=bool(settings[END_SESSION]),
        redirect_uri=settings[REDIRECT_URI])
