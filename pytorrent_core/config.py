"""Settings: built-in defaults < TOML file < PYTORRENT_* environment.

Every setting is declared once, as a :class:`Setting`, with its TOML key, its
environment name, its default and a parser. Core declares its own in
:data:`CORE_SETTINGS`; the active auth provider adds its own through the
``pytorrent_settings`` hook. The result is one frozen :class:`Settings` that
remembers where each value came from, so errors and ``pytorrent config show
--sources`` can say so.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import platformdirs

from .models import LEVEL_NAMES, LEVEL_RANK
from .usernames import normalise as normalise_username
from .usernames import username_problem

APP_NAME = "pytorrent"
ENV_PREFIX = "PYTORRENT_"
CONFIG_ENV = "PYTORRENT_CONFIG"


class ConfigError(Exception):
    """A setting is wrong. The message is one line: key, source, what is allowed."""


class ValueProblem(ValueError):
    """Raised by a parser; :func:`build_settings` adds the key and source."""


# ---------------------------------------------------------------- parsers

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueProblem("expected a boolean: true/false, 1/0, yes/no or on/off")


def parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueProblem("expected a string")
    return value.strip()


def parse_optional_str(value: Any) -> str | None:
    text = parse_str(value)
    return text or None


# The engines pyTorrent runs on, each with its asyncio driver.
DATABASE_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
DATABASE_URL_FORMS = ("postgresql+asyncpg://user:password@host/database or "
                      "sqlite+aiosqlite:///path/to/pytorrent.db")


def parse_database_url(value: Any) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = parse_optional_str(value)
    if text is None:
        return None
    try:
        url = make_url(text)
    except ArgumentError:
        raise ValueProblem(f"not a database URL; expected {DATABASE_URL_FORMS}") from None
    backend, _, driver = url.drivername.partition("+")
    if DATABASE_DRIVERS.get(backend) != driver:
        raise ValueProblem(f"pyTorrent does not run on {url.drivername}; expected "
                           f"{DATABASE_URL_FORMS}")
    return text


def parse_int(minimum: int, maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueProblem(f"expected a whole number from {minimum} to {maximum}")
        try:
            number = int(value.strip()) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise ValueProblem(f"expected a whole number from {minimum} to {maximum}") from None
        if not minimum <= number <= maximum:
            raise ValueProblem(f"expected a whole number from {minimum} to {maximum}")
        return number

    return parse


def parse_seconds(minimum: float, maximum: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        problem = ValueProblem(f"expected a number of seconds from {minimum:g} to {maximum:g}")
        if isinstance(value, bool):
            raise problem
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise problem from None
        if not minimum <= number <= maximum:
            raise problem
        return number

    return parse


def parse_choice(*choices: str, aliases: Mapping[str, str] | None = None) -> Callable[[Any], str]:
    aliases = dict(aliases or {})
    allowed = ", ".join([*choices, *aliases])

    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueProblem(f"expected one of: {allowed}")
        text = value.strip().lower()
        text = aliases.get(text, text)
        if text not in choices:
            raise ValueProblem(f"expected one of: {allowed}")
        return text

    return parse


def parse_list(item: Callable[[str], Any] | None = None) -> Callable[[Any], tuple[Any, ...]]:
    """Comma-separated in the environment, an array of strings in TOML."""

    def parse(value: Any) -> tuple[Any, ...]:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")]
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            parts = [part.strip() for part in value]
        else:
            raise ValueProblem("expected a comma-separated string or an array of strings")
        parts = [part for part in parts if part]
        return tuple(item(part) for part in parts) if item else tuple(parts)

    return parse


def parse_origin(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ValueProblem(
            f"{value!r} is not an origin; write scheme://host[:port], "
            "for example https://pytorrent.example.com"
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def parse_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueProblem(
            f"{value!r} is not an IP address or CIDR network, for example 10.0.0.0/8"
        ) from None


def parse_header_name(value: Any) -> str:
    text = parse_str(value)
    if not text or not all(ch.isalnum() or ch in "-_" for ch in text):
        raise ValueProblem("expected an HTTP header name such as X-Forwarded-User")
    return text


PROXY_SECRET_MIN_LENGTH = 16


def parse_proxy_secret(value: Any) -> str | None:
    """Nothing throttles guesses at this header, so a short secret would not hold for long;
    a header value must also survive every proxy unchanged: printable ASCII, no spaces."""
    text = parse_str(value)
    if not text:
        return None
    if len(text) < PROXY_SECRET_MIN_LENGTH or not all("!" <= ch <= "~" for ch in text):
        raise ValueProblem(
            f"expected at least {PROXY_SECRET_MIN_LENGTH} printable ASCII characters without "
            "spaces, for example the output of `openssl rand -hex 32`")
    return text


EVERY_PROFILE = "*"
_GROUP_PERMISSIONS_EXAMPLE = '{"media": {"nas": "full", "seedbox": "ro"}}'


def parse_group_permissions(value: Any) -> dict[str, dict[str, str]]:
    """Group -> profile name (``*``: every profile) -> level.

    A TOML table in the file; the same shape as a JSON object in the environment,
    because group and profile names may hold any of the characters a shorter
    syntax would need as separators.
    """
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueProblem(f"expected a JSON object such as {_GROUP_PERMISSIONS_EXAMPLE}"
                               ) from None
    if not isinstance(value, Mapping):
        raise ValueProblem(f"expected a table of group = {{ profile = level }}, for example "
                           f"{_GROUP_PERMISSIONS_EXAMPLE}")
    table: dict[str, dict[str, str]] = {}
    for group, grants in value.items():
        name = group.strip() if isinstance(group, str) else ""
        if not name:
            raise ValueProblem("a group name is empty; write the group exactly as the "
                               "provider sends it")
        if not isinstance(grants, Mapping):
            raise ValueProblem(f"group {name!r}: expected a table of profile = level, for "
                               'example { "nas" = "full" }')
        levels: dict[str, str] = {}
        for profile, level in grants.items():
            profile_name = profile.strip() if isinstance(profile, str) else ""
            if not profile_name:
                raise ValueProblem(f"group {name!r}: a profile name is empty; write a "
                                   f"profile's name, or {EVERY_PROFILE} for every profile")
            try:
                levels[profile_name] = _LEVELS(level)
            except ValueProblem as problem:
                raise ValueProblem(f"group {name!r}, profile {profile_name!r}: {problem}"
                                   ) from None
        table[name] = levels
    return table


def parse_optional_header_name(value: Any) -> str | None:
    return parse_header_name(value) if parse_str(value) else None


def parse_username_entry(value: str) -> str:
    name = normalise_username(value)
    problem = username_problem(name)
    if problem:
        raise ValueProblem(f"{value!r} is not a username: it {problem}")
    return name


def parse_provider_name(value: Any) -> str:
    text = parse_str(value).lower()
    if not text or not all(ch.isalnum() or ch in "-_" for ch in text):
        raise ValueProblem("expected a provider name such as local, tinyauth or proxy")
    return text


def parse_allowed_host(value: str) -> str:
    text = value.strip().lower()
    name = text[1:] if text.startswith(".") else text
    if text != "*" and (not name or any(ch in name for ch in "/ @?#*,")):
        raise ValueProblem(
            f"{value!r} is not a host name; write pytorrent.example.com, .example.com "
            "(every subdomain) or * (any name: turns the DNS-rebinding guard off)")
    return text


def parse_bypass_host(value: str) -> str:
    text = value.strip().lower()
    if not text or any(ch in text for ch in "/ @?#"):
        raise ValueProblem(f"{value!r} is not a host or host:port, for example 10.11.1.11:8090")
    if not is_private_host(text):
        raise ValueProblem(
            f"{value!r} is not a private IP or local name; the bypass is only for direct "
            "private-network access (\"Do not add public domains to this list.\"): list "
            "the private address you type in the browser, for example 10.11.1.11:8090")
    return text


# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Setting:
    """One configuration key. ``key`` is dotted TOML (``auth.provider``)."""

    key: str
    env: str
    default: Any
    parse: Callable[[Any], Any]
    doc: str
    secret: bool = False
    example: str | None = None
    # The value is a whole TOML table ([section.leaf]), not split into keys.
    table: bool = False

    @property
    def name(self) -> str:
        return self.key.replace(".", "_")


_LEVELS = parse_choice(*LEVEL_RANK, aliases={name: level for name, level
                                             in LEVEL_NAMES.items() if name != level})
_PRIVATE_NETWORKS = (
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)

CORE_SETTINGS: tuple[Setting, ...] = (
    Setting("server.host", "PYTORRENT_HOST", "0.0.0.0", parse_str,  # noqa: S104
            "Address `pytorrent serve` listens on."),
    Setting("server.port", "PYTORRENT_PORT", 8090, parse_int(1, 65535),
            "Port `pytorrent serve` listens on."),
    Setting("server.allowed_hosts", "PYTORRENT_ALLOWED_HOSTS", (),
            parse_list(parse_allowed_host),
            "Host names pyTorrent answers to, besides IP addresses, localhost, the hosts "
            "of the allowed origins and the bypass hosts; a request for any other name gets "
            "400 (this stops DNS rebinding). .example.com allows every subdomain.",
            example="pytorrent.example.com"),
    Setting("server.data_dir", "PYTORRENT_DATA_DIR", None, parse_optional_str,
            "Folder for the database and the generated secret key. "
            "Default: the platform's user data folder.", example="/var/lib/pytorrent"),
    Setting("server.secret_key", "PYTORRENT_SECRET_KEY", None, parse_optional_str,
            "Key that signs session cookies. Default: generated once and kept in "
            "the data folder (mode 0600).", secret=True),
    Setting("server.max_connections", "PYTORRENT_SERVER_MAX_CONNECTIONS", 1000,
            parse_int(10, 1_000_000), "Connections `pytorrent serve` serves at once, idle "
            "ones and each browser tab's Socket.IO connection included; a request beyond "
            "them gets 503. Each takes a file descriptor: the open-files limit is raised to "
            "fit where the system allows, with a warning where it does not."),
    Setting("server.max_header_bytes", "PYTORRENT_SERVER_MAX_HEADER_BYTES", 32 * 1024,
            parse_int(4096, 1024 * 1024), "Largest request head (request line and headers, "
            "cookies included) in bytes; a larger one gets 431."),
    Setting("server.max_headers", "PYTORRENT_SERVER_MAX_HEADERS", 100, parse_int(16, 10_000),
            "Most headers one request may carry; more get 431."),
    Setting("server.max_body_bytes", "PYTORRENT_SERVER_MAX_BODY_BYTES", 32 * 1024 * 1024,
            parse_int(64 * 1024, 1024 * 1024 * 1024), "Largest request body in bytes: the "
            ".torrent files of one add. Every other request may send 1 MiB at most (or this, "
            "if smaller); a larger body gets 413."),
    Setting("server.header_timeout", "PYTORRENT_SERVER_HEADER_TIMEOUT", 10.0,
            parse_seconds(0.5, 3600), "Seconds a client has to send a whole request head (from "
            "connecting, or from its first byte on a kept-alive connection), and a Socket.IO "
            "connection to sign in; a request body gets as long plus a second for every 500 "
            "bytes it brings. Past that the connection is closed."),
    Setting("server.keepalive_timeout", "PYTORRENT_SERVER_KEEPALIVE_TIMEOUT", 5,
            parse_int(1, 3600), "Seconds an idle connection stays open for a next request."),
    Setting("database.path", "PYTORRENT_DB_PATH", None, parse_optional_str,
            "SQLite database file. Default: pytorrent.db in the data folder.",
            example="/var/lib/pytorrent/pytorrent.db"),
    Setting("database.url", "PYTORRENT_DATABASE_URL", None, parse_database_url,
            "Database URL: postgresql+asyncpg://user:password@host/database for "
            "PostgreSQL (install pyTorrent with the postgres extra) or "
            "sqlite+aiosqlite:///path. Overrides database.path.", secret=True,
            example="postgresql+asyncpg://pytorrent:secret@db.internal/pytorrent"),
    Setting("database.pool_size", "PYTORRENT_DATABASE_POOL_SIZE", 5, parse_int(1, 1000),
            "Connections each server keeps open to PostgreSQL; busy moments may open twice "
            "as many more. Ignored for SQLite."),
    Setting("redis.url", "PYTORRENT_REDIS_URL", None, parse_optional_str,
            "Redis for several pyTorrent instances behind one load balancer: Socket.IO "
            "events reach every instance, sign-outs and user changes reach every cache at "
            "once, sign-in throttling counts once for all, and one instance polls each "
            "watched rTorrent. Needs the redis extra (pip install 'pytorrent-core[redis]') "
            "and server.secret_key. Default: unset, one instance.", secret=True,
            example="redis://redis.internal:6379/0"),
    Setting("auth.enable", "PYTORRENT_AUTH_ENABLE", True, parse_bool,
            "Require authentication. false makes every request the built-in admin: "
            "only for a trusted, private machine."),
    Setting("auth.provider", "PYTORRENT_AUTH_PROVIDER", "local", parse_provider_name,
            "Authentication provider: local, tinyauth, proxy or any installed "
            "third-party provider (see `pytorrent plugins list`)."),
    Setting("auth.proxy_user_header", "PYTORRENT_AUTH_PROXY_USER_HEADER", "Remote-User",
            parse_header_name, "Header that carries the authenticated username "
            "(tinyauth and proxy providers)."),
    Setting("auth.proxy_auto_create", "PYTORRENT_AUTH_PROXY_AUTO_CREATE", False, parse_bool,
            "Create a pyTorrent user when the external user is missing."),
    Setting("auth.proxy_auto_create_role", "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE", "user",
            parse_choice("user", "admin"), "Role for auto-created external users: user | admin."),
    Setting("auth.proxy_auto_create_permission", "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION",
            "none", _LEVELS, "Profile access for auto-created role=user accounts: "
            "none | ro | rw | full (rw is an alias of full). Admins ignore it."),
    Setting("auth.trusted_proxies", "PYTORRENT_AUTH_TRUSTED_PROXIES", _PRIVATE_NETWORKS,
            parse_list(parse_network), "Peers (IP or CIDR) whose identity and forwarded "
            "headers are believed. Default: loopback and private ranges."),
    Setting("auth.proxy_secret", "PYTORRENT_AUTH_PROXY_SECRET", None, parse_proxy_secret,
            "Shared secret the reverse proxy must send in auth.proxy_secret_header; when set, "
            "identity headers without it are ignored (tinyauth and proxy providers). "
            "Default: unset, any trusted proxy is believed.", secret=True),
    Setting("auth.proxy_secret_header", "PYTORRENT_AUTH_PROXY_SECRET_HEADER",
            "X-PyTorrent-Proxy-Secret", parse_header_name,
            "Header that carries auth.proxy_secret; the proxy must set it, replacing any "
            "the client sent."),
    Setting("auth.bypass_hosts", "PYTORRENT_AUTH_BYPASS_HOSTS", (), parse_list(parse_bypass_host),
            "Direct-IP Host values (host or host:port) that skip pyTorrent auth. "
            "Private networks only; never a public hostname.",
            example="10.11.1.11:8090,10.11.1.11"),
    Setting("auth.bypass_user", "PYTORRENT_AUTH_BYPASS_USER", "admin", parse_str,
            "Existing active user that bypassed requests act as."),
    Setting("auth.require_2fa_admins", "PYTORRENT_AUTH_REQUIRE_2FA_ADMINS", False, parse_bool,
            "Admins who sign in with a pyTorrent password must set up two-factor sign-in "
            "(TOTP) before anything else; the account page walks them through it."),
    Setting("auth.admin_groups", "PYTORRENT_AUTH_ADMIN_GROUPS", (), parse_list(),
            "Groups whose members are admins, for every provider that sends groups (tinyauth's "
            "Remote-Groups, proxy with auth.proxy.groups_header, OpenID Connect's groups "
            "claim). Checked at each sign-in of a passwordless external user: leaving the "
            "group takes admin away.", example="pytorrent-admins"),
    Setting("auth.group_permissions", "PYTORRENT_AUTH_GROUP_PERMISSIONS", {},
            parse_group_permissions, "Profile access by group: group -> profile name (* for "
            "every profile) -> none | ro | full (rw = full). A user gets the highest level "
            "any of their groups or auth.proxy_auto_create_permission gives; checked at "
            "each sign-in of a passwordless external user. In this file also written as a "
            "[auth.group_permissions] table; in the environment a JSON object of the same "
            "shape, for example {\"media\":{\"nas\":\"full\",\"seedbox\":\"ro\"}}.",
            example=_GROUP_PERMISSIONS_EXAMPLE, table=True),
    Setting("auth.break_glass_users", "PYTORRENT_AUTH_BREAK_GLASS_USERS", (),
            parse_list(parse_username_entry), "Local users who may sign in with their "
            "pyTorrent password at /login/local while an external provider is active, "
            "for when that provider is down. Default: none, and /login/local does not exist. "
            "Leave it empty unless you need it.", example="admin"),
    Setting("session.cookie_secure", "PYTORRENT_SESSION_COOKIE_SECURE", False, parse_bool,
            "Send the session cookie only over HTTPS (set true behind an HTTPS proxy)."),
    Setting("session.lifetime_hours", "PYTORRENT_SESSION_LIFETIME_HOURS", 24 * 7,
            parse_int(1, 24 * 365), "Hours a login session lasts."),
    Setting("audit.retention_days", "PYTORRENT_AUDIT_RETENTION_DAYS", 90,
            parse_int(0, 36500), "Days the audit log keeps security events; older ones are "
            "deleted at start-up and daily. 0 keeps them all."),
    Setting("proxy_fix.enable", "PYTORRENT_PROXY_FIX_ENABLE", False, parse_bool,
            "Believe X-Forwarded-Proto/Host/Port/Prefix from trusted proxies. "
            "X-Forwarded-For from a trusted proxy gives the client address either way."),
    Setting("rtorrent.poll_interval", "PYTORRENT_RTORRENT_POLL_INTERVAL", 1.0,
            parse_seconds(0.2, 60), "Seconds between two polls of a watched profile's "
            "rTorrent. pyTorrent waits longer when a poll is costly (large lists) and backs "
            "off while rTorrent is unreachable."),
    Setting("rtorrent.timeout", "PYTORRENT_RTORRENT_TIMEOUT", 10.0, parse_seconds(1, 300),
            "Seconds pyTorrent waits for rTorrent to connect and answer one call."),
    Setting("socketio.cors_allowed_origins", "PYTORRENT_SOCKETIO_CORS_ALLOWED_ORIGINS", (),
            parse_list(parse_origin), "Extra browser origins allowed to open Socket.IO "
            "connections. Default: same origin only.",
            example="https://pytorrent.example.com"),
    Setting("socketio.max_pending_handshakes", "PYTORRENT_SOCKETIO_MAX_PENDING_HANDSHAKES",
            100, parse_int(1, 100_000), "Socket.IO connections that have not signed in yet, "
            "at once; more are refused (401) until some sign in or time out "
            "(server.header_timeout)."),
    Setting("api.allowed_origins", "PYTORRENT_API_ALLOWED_ORIGINS", None,
            parse_list(parse_origin), "Extra origins allowed to make unsafe API requests. "
            "Unset or empty: socketio.cors_allowed_origins is used.",
            example="https://pytorrent.example.com"),
)


# ---------------------------------------------------------------- result


@dataclass(frozen=True)
class Source:
    """Where a value came from: ``default``, ``file`` or ``environment``."""

    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


@dataclass(frozen=True)
class Settings:
    """Validated, frozen settings. Look values up by dotted key or attribute."""

    values: Mapping[str, Any]
    sources: Mapping[str, Source]
    declared: Mapping[str, Setting]
    config_path: Path | None = None

    def __post_init__(self) -> None:
        for name in ("values", "sources", "declared"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        # Each value is also a plain instance attribute (``auth.enable`` as
        # ``auth_enable``), found at once by the normal lookup; a property of the
        # same name still wins, being a data descriptor.
        vars(self).update({key.replace(".", "_"): v for key, v in self.values.items()})

    def __getattr__(self, name: str) -> Any:
        """Reached only for a name that is no setting: for type checkers, any name is one."""
        raise AttributeError(name)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def data_dir(self) -> Path:
        configured = self.values.get("server.data_dir")
        if configured:
            return Path(configured).expanduser()
        return Path(platformdirs.user_data_dir(APP_NAME))

    @property
    def database_path(self) -> Path:
        configured = self.values.get("database.path")
        return Path(configured).expanduser() if configured else self.data_dir / "pytorrent.db"

    @property
    def redis_url_is_set(self) -> bool:
        return bool(self.values.get("redis.url"))

    @property
    def database_url_is_set(self) -> bool:
        return bool(self.values.get("database.url"))

    @property
    def database_url(self) -> str:
        if self.values.get("database.url"):
            return str(self.values["database.url"])
        return f"sqlite+aiosqlite:///{self.database_path}"

    @property
    def database_setting(self) -> str:
        """The key that chose the database: for messages about it."""
        return "database.url" if self.database_url_is_set else "database.path"

    @property
    def api_allowed_origins(self) -> tuple[str, ...]:
        # AUTH.md: when PYTORRENT_API_ALLOWED_ORIGINS is not set, reuse the Socket.IO list.
        own = self.values.get("api.allowed_origins")
        return tuple(own) if own else tuple(self.socketio_cors_allowed_origins)

    def where(self, key: str) -> str:
        """``PYTORRENT_X="v" (environment)`` or ``x.y = "v" (file F)``: for error messages."""
        setting = self.declared[key]
        return describe_value(setting, self.values[key], self.sources[key].kind,
                              self.config_path)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed (dotted keys with ``__`` or ``.``)."""
        values = dict(self.values)
        sources = dict(self.sources)
        for name, value in changes.items():
            key = name.replace("__", ".")
            if key not in self.declared:
                raise KeyError(key)
            values[key] = value
            sources[key] = Source("override")
        return Settings(values, sources, self.declared, self.config_path)


# ---------------------------------------------------------------- loading


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "pytorrent.toml"


def find_config_file(explicit: str | os.PathLike[str] | None,
                     environ: Mapping[str, str]) -> tuple[Path | None, bool]:
    """Return (path, must_exist). Explicit choices must exist; defaults may be missing."""
    if explicit:
        return Path(explicit), True
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV]), True
    local = Path("pytorrent.toml")
    if local.is_file():
        return local, True
    return default_config_path(), False


def read_config_file(path: Path | None, must_exist: bool) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(
                f"config file {path}: not found; create it with `pytorrent config init {path}` "
                f"or unset {CONFIG_ENV}/--config"
            ) from None
        return {}
    except PermissionError:
        raise ConfigError(f"config file {path}: not readable (permission denied)") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path}: is a folder, not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: TOML syntax error: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not UTF-8 text") from None


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


@dataclass
class RawConfig:
    """The unparsed layers, kept so plugin settings can be parsed later.

    ``file_values`` is the file flattened to dotted keys; ``file_tree`` the file as
    read, for settings whose value is a whole table.
    """

    file_values: dict[str, Any]
    environ: Mapping[str, str]
    path: Path | None
    file_tree: Mapping[str, Any] = field(default_factory=dict)

    def table(self, key: str) -> tuple[bool, Any]:
        """(found, value) of dotted ``key`` in the file, a table left whole."""
        node: Any = self.file_tree
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False, None
            node = node[part]
        return True, node


def read_raw(config_path: str | os.PathLike[str] | None = None,
             environ: Mapping[str, str] | None = None) -> RawConfig:
    environ = os.environ if environ is None else environ
    path, must_exist = find_config_file(config_path, environ)
    data = read_config_file(path, must_exist)
    exists = bool(data) or (path is not None and path.is_file())
    return RawConfig(_flatten(data), environ, path if exists else None, data)


def _show(value: Any) -> str:
    try:
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    except TypeError:
        return repr(value)


def describe_value(setting: Setting, value: Any, kind: str, path: Path | None) -> str:
    """Name a value the way the user wrote it: env var or file key, plus where."""
    shown = '"***"' if setting.secret else _show(value)
    if kind == "environment":
        return f"{setting.env}={shown} (environment)"
    if kind == "file":
        return f"{setting.key} = {shown} (file {path})"
    return f"{setting.key} = {shown} ({kind}; env {setting.env})"


def _parse_one(setting: Setting, raw: RawConfig) -> tuple[Any, Source]:
    if setting.env in raw.environ:
        source = Source("environment", setting.env)
        value: Any = raw.environ[setting.env]
    elif setting.table and raw.table(setting.key)[0]:
        source = Source("file", f"{raw.path} [{setting.key}]")
        value = raw.table(setting.key)[1]
    elif setting.key in raw.file_values:
        source = Source("file", f"{raw.path} [{setting.key}]")
        value = raw.file_values[setting.key]
    else:
        return setting.default, Source("default")
    try:
        return setting.parse(value), source
    except ValueProblem as problem:
        where = describe_value(setting, value, source.kind, raw.path)
        raise ConfigError(f"{where}: {problem}") from None


def build_settings(raw: RawConfig, plugin_settings: Iterable[Setting] = (),
                   provider: str | None = None) -> Settings:
    """Parse core and plugin settings from the raw layers; reject unknown file keys.

    Keys under ``[auth.<name>]`` sections of providers other than ``provider``
    are allowed: they belong to inactive providers, so switching provider needs
    no edit. Under the active provider's own section every key must be declared.
    """
    by_key: dict[str, Setting] = {}
    for setting in (*CORE_SETTINGS, *plugin_settings):
        if setting.key in by_key:
            raise ConfigError(f"setting {setting.key} is declared twice")
        by_key[setting.key] = setting
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for key, setting in by_key.items():
        values[key], sources[key] = _parse_one(setting, raw)
    own_section = f"auth.{provider}." if provider else None
    tables = tuple(f"{key}." for key, setting in by_key.items() if setting.table)
    for key in raw.file_values:
        if key in by_key or key.startswith(tables):
            continue
        foreign = key.startswith("auth.") and key.count(".") >= 2 and not (
            own_section and key.startswith(own_section))
        if not foreign or key.split(".")[1] in _AUTH_LEAVES:
            raise ConfigError(
                f"{key} (file {raw.path}): unknown setting; see pytorrent.toml.example "
                "or `pytorrent config show` for the known keys"
            )
    return Settings(values, sources, by_key, raw.path)


_AUTH_LEAVES = {s.key.split(".")[1] for s in CORE_SETTINGS if s.key.startswith("auth.")}


_PRIVATE_SUFFIXES = (".local", ".lan", ".internal", ".home.arpa")


_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n)
                        for n in (*_PRIVATE_NETWORKS, "169.254.0.0/16", "fe80::/10"))


def is_local_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private (RFC 1918, fc00::/7) or link-local.

    Narrower than ``ip.is_private`` on purpose: documentation and other special
    ranges (203.0.113.0/24, 2001:db8::/32, ...) are not anyone's LAN, so they count
    as public wherever a private peer or host is required.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _LOCAL_NETWORKS)


def is_private_host(host: str) -> bool:
    """True for IP literals in local ranges and single-label or private-suffix names."""
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return "." not in name or name.endswith(_PRIVATE_SUFFIXES)
    return is_local_address(address)
