"""Which ``Host`` values are pyTorrent's own: the one answer to DNS rebinding.

A page on ``attacker.example`` can make its name resolve to pyTorrent's LAN
address; the browser then treats pyTorrent as that page's own origin, so origin
checks alone cannot tell the two apart. The host name the browser asked for can:
pyTorrent serves only names it was told are its own.

Always ours: IP literals (a page cannot rebind an address) and ``localhost``
(browsers resolve it to loopback themselves). Also ours: the names in
``server.allowed_hosts``, the hosts of the allowed API and Socket.IO origins and
the bypass hosts. ``*`` turns the check off.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings


def host_name(host: str) -> str:
    """``Host`` without its port, lower-case; IPv6 literals keep their brackets off."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.rsplit(":", 1)[0]
    return host.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """Decides whether a ``Host`` value names this pyTorrent."""

    def __init__(self, names: Iterable[str]) -> None:
        names = {name.strip().lower() for name in names if name.strip()}
        self.any = "*" in names
        self.exact = frozenset(host_name(n) for n in names if not n.startswith("."))
        self.suffixes = tuple(n for n in names if n.startswith("."))
        self.allows = lru_cache(maxsize=1024)(self._allows)

    @classmethod
    def from_settings(cls, settings: Settings) -> HostPolicy:
        origins = (*settings.api_allowed_origins, *settings.socketio_cors_allowed_origins)
        return cls([*settings.server_allowed_hosts,
                    *(urlsplit(origin).netloc for origin in origins),
                    *settings.auth_bypass_hosts])

    def _allows(self, host: str) -> bool:
        if self.any:
            return True
        name = host_name(host)
        if not name:
            return False
        if _is_ip(name) or name == "localhost" or name.endswith(".localhost"):
            return True
        return name in self.exact or any(
            name.endswith(suffix) or name == suffix[1:] for suffix in self.suffixes)


def refusal(scope: Mapping[str, Any], policy: HostPolicy, *, forwarded_host_believed: bool
            ) -> str | None:
    """Why this request's host is not ours, or None when it is.

    Exactly one ``Host`` header is required (HTTP/1.1 says so; two are a smuggling
    attempt). When proxy-fix believes ``X-Forwarded-Host``, that name must be ours too.
    """
    hosts: list[str] = []
    forwarded: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"host":
            hosts.append(value.decode("latin-1"))
        elif name == b"x-forwarded-host" and forwarded is None:
            forwarded = value.decode("latin-1").split(",")[0].strip()
    if len(hosts) != 1:
        return "a request needs exactly one Host header"
    if not policy.allows(hosts[0]):
        return f"pyTorrent does not serve the host name {host_name(hosts[0])!r}"
    if forwarded_host_believed and forwarded and not policy.allows(forwarded):
        return f"pyTorrent does not serve the host name {host_name(forwarded)!r}"
    return None
