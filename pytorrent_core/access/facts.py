"""Request facts: what the resolver may know about a request, built from the ASGI scope.

REST, pages and Socket.IO all build their facts here, from the raw ASGI scope,
so headers keep their real names (Socket.IO's WSGI-style environ would merge
``X_User`` into ``X-User``) and the peer is the TCP peer.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.sansio.http import parse_cookie

from ..config import is_local_address

# Any of these means a proxy handled the request (the bypass never applies to it).
FORWARDING_HEADERS = ("forwarded", "x-real-ip", "via")
FORWARDING_PREFIX = "x-forwarded-"


@lru_cache(maxsize=4096)
def normalise_ip(address: str | None) -> str | None:
    """Plain IP text; IPv4-mapped IPv6 (``::ffff:10.0.0.1``) becomes IPv4.

    Memoised: every request asks it about its TCP peer, and parsing an address
    costs more than the rest of the request facts."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


class TrustedNetworks:
    """Membership test for ``auth.trusted_proxies``, memoised per address."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)
        self.contains = lru_cache(maxsize=4096)(self._contains)

    def _contains(self, address: str | None) -> bool:
        if address is None:
            return False
        ip = ipaddress.ip_address(address)
        return any(ip in net for net in self.networks)


@lru_cache(maxsize=4096)
def is_public(address: str | None) -> bool:
    """True unless the address is loopback, private or link-local. Unknown = public."""
    if address is None:
        return True
    return not is_local_address(ipaddress.ip_address(address))


@dataclass(frozen=True)
class RequestFacts:
    """Everything the resolver reads about a request. Built once per request."""

    method: str
    path: str
    headers: Headers
    peer: str | None  # TCP peer, normalised
    peer_trusted: bool  # peer is inside auth.trusted_proxies
    raw_host: str  # Host header exactly as received (lower-cased)
    host: str  # effective host: X-Forwarded-Host when proxy-fix applies
    scheme: str  # effective scheme
    client: str | None  # effective client address: see client_address()
    prefix: str = ""  # X-Forwarded-Prefix when proxy-fix applies
    # The client address may stand for many users: it is unknown, or a trusted
    # proxy's own (a proxy that adds no X-Forwarded-For, or a host in a trusted range).
    client_shared: bool = False
    cookies: Mapping[str, str] = field(default_factory=dict)
    socket_auth: Mapping[str, Any] | None = None
    query_string: str = ""  # as received, still percent-encoded

    @property
    def args(self) -> Mapping[str, str]:
        """Query parameters; one sent twice keeps its first value. Parsed on first use."""
        parsed: dict[str, str] | None = self.__dict__.get("_args")
        if parsed is None:
            parsed = {}
            for name, value in parse_qsl(self.query_string, keep_blank_values=True):
                parsed.setdefault(name, value)
            self.__dict__["_args"] = parsed
        return parsed

    @property
    def header_map(self) -> Mapping[str, str]:
        """First value of each header by lower-case name, for the resolver's lookups.

        Werkzeug's ``Headers.get`` scans the list and raises and catches an HTTP
        exception for every missing name; the resolver asks for several that are
        usually missing, on every request. :func:`facts_from_scope` fills it in its
        one pass over the raw headers; facts made otherwise build it on first use
        (not with ``cached_property``, which takes a lock on every access in 3.11).
        """
        index: dict[str, str] | None = self.__dict__.get("_header_map")
        if index is None:
            index = {}
            for name, value in self.headers:
                index.setdefault(name.lower(), value)
            self.__dict__["_header_map"] = index
        return index

    @property
    def forwarded(self) -> bool:
        """The request carries a forwarding header: it came through a proxy."""
        for name in self.header_map:
            if name.startswith(FORWARDING_PREFIX) or name in FORWARDING_HEADERS:
                return True
        return False

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")


_HOP_WITH_PORT = re.compile(r"^\[([^\]]+)\](?::\d{1,5})?$|^([0-9.]+):\d{1,5}$")


def _hop(entry: str) -> str | None:
    """One ``X-Forwarded-For`` entry as plain IP text, or ``None`` when it is no address.

    Some proxies write the port too: ``192.0.2.1:5678``, ``[2001:db8::1]:5678``.
    """
    text = entry.strip()
    ported = _HOP_WITH_PORT.match(text)
    if ported:
        text = ported.group(1) or ported.group(2)
    return normalise_ip(text)


def client_address(peer: str | None, forwarded_for: list[str],
                   trusted: TrustedNetworks) -> str | None:
    """The client a request came from, for throttles and logs.

    Each proxy appends the address it received the request from, so an entry is
    only as good as the proxy that wrote it. Walk back from the TCP peer, from the
    right of the last ``X-Forwarded-For`` line to the left of the first, while the
    hop is a trusted proxy: the first untrusted hop is the client; whatever is left
    of it the client wrote itself. A malformed entry ends the walk at the last good
    hop; when every hop is trusted, the leftmost is the client.
    """
    client = peer
    if not trusted.contains(peer):
        return client
    for line in reversed(forwarded_for):
        for entry in reversed(line.split(",")):
            hop = _hop(entry)
            if hop is None:
                return client
            client = hop
            if not trusted.contains(hop):
                return client
    return client


def _first_forwarded(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if not value:
        return None
    return value.split(",")[0].strip() or None


_PREFIX = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$")


def _without_port(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _clean_prefix(value: str | None) -> str:
    """A path prefix like ``/pytorrent``; anything else (``//evil.example``) is ignored."""
    prefix = (value or "").rstrip("/")
    return prefix if _PREFIX.match(prefix) else ""


def mounted_at_prefix(scope: Mapping[str, Any]) -> Mapping[str, Any]:
    """The scope as if served under the ``X-Forwarded-Prefix`` path (call only for a
    trusted proxy): the prefix joins ``root_path`` and ``path``, as the ASGI spec
    puts a mount point, so every URL the app builds (``url_for``) carries it.
    A proxy that sends the prefix strips it from the path it forwards."""
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-prefix":
            prefix = _clean_prefix(value.decode("latin-1").split(",")[0].strip())
            break
    else:
        return scope
    if not prefix:
        return scope
    mounted = {**scope, "root_path": prefix + scope.get("root_path", ""),
               "path": prefix + scope["path"]}
    if "raw_path" in scope and scope["raw_path"] is not None:
        mounted["raw_path"] = prefix.encode() + scope["raw_path"]
    return mounted


def facts_from_scope(
    scope: Mapping[str, Any],
    *,
    trusted: TrustedNetworks,
    proxy_fix: bool,
    headers: Headers | None = None,
    cookies: Mapping[str, str] | None = None,
    cookie_parser: Callable[[str], Mapping[str, str]] | None = None,
    socket_auth: Mapping[str, Any] | None = None,
) -> RequestFacts:
    """The facts of the request in ``scope``.

    ``headers``: the request's headers when already built (Quart's), else read from
    the scope. Cookies: ``cookies`` when given; else ``cookie_parser`` applied to
    every ``Cookie`` line joined with ``;`` (as werkzeug reads them); else the first
    ``Cookie`` line, parsed by :func:`parse_cookies`.
    """
    if headers is None:
        headers = Headers([(k.decode("latin-1"), v.decode("latin-1"))
                           for k, v in scope.get("headers", ())])
    # One pass over the headers: the first value of each name for the lookups below
    # and the resolver's (``header_map``), every X-Forwarded-For line in order.
    index: dict[str, str] = {}
    forwarded_for: list[str] = []
    cookie_lines: list[str] = []
    for name, value in headers:
        name = name.lower()
        if name not in index:
            index[name] = value
        if name == "x-forwarded-for":
            forwarded_for.append(value)
        elif name == "cookie":
            cookie_lines.append(value)
    client = scope.get("client")
    peer = normalise_ip(client[0]) if client else None
    peer_trusted = trusted.contains(peer)
    raw_host = (index.get("host") or "").strip().lower()
    if not raw_host and scope.get("server"):
        server_host, server_port = scope["server"][0], scope["server"][1]
        raw_host = f"{server_host}:{server_port}" if server_port else str(server_host)
    scheme = scope.get("scheme", "http")
    if scheme in ("ws", "wss"):
        scheme = "https" if scheme == "wss" else "http"
    host = raw_host
    prefix = ""
    # X-Forwarded-For from a trusted peer is read with or without proxy-fix: it
    # changes only who the throttles and logs see, never an origin or a URL.
    effective_client = client_address(peer, forwarded_for, trusted)
    if proxy_fix and peer_trusted:
        scheme = (_first_forwarded(index, "x-forwarded-proto") or scheme).lower()
        forwarded_host = _first_forwarded(index, "x-forwarded-host")
        if forwarded_host:
            host = forwarded_host.lower()
        forwarded_port = _first_forwarded(index, "x-forwarded-port")
        if forwarded_port and forwarded_port.isdigit():
            bare = _without_port(host)
            default = (scheme == "https" and forwarded_port == "443") or (
                scheme == "http" and forwarded_port == "80")
            host = bare if default else f"{bare}:{forwarded_port}"
        prefix = _clean_prefix(_first_forwarded(index, "x-forwarded-prefix"))
    if cookies is None and cookie_parser is not None:
        cookies = cookie_parser(";".join(cookie_lines)) if cookie_lines else {}
    elif cookies is None:
        cookies = parse_cookies(index.get("cookie"))
    path = scope.get("path", "/")
    root_path = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path):] or "/"  # the path inside pyTorrent
    return _made(
        method=scope.get("method", "GET").upper(),
        path=path,
        headers=headers,
        peer=peer,
        peer_trusted=peer_trusted,
        raw_host=raw_host,
        host=host,
        scheme=scheme,
        client=effective_client,
        prefix=prefix,
        client_shared=effective_client is None or trusted.contains(effective_client),
        cookies=cookies,
        socket_auth=socket_auth,
        query_string=bytes(scope.get("query_string") or b"").decode("latin-1"),
        _header_map=index,
    )


_FIELDS = frozenset(item.name for item in fields(RequestFacts))


def _made(**values: Any) -> RequestFacts:
    """``RequestFacts(**values)`` without the frozen dataclass's ``__init__``.

    That ``__init__`` sets each of the 13 fields through ``object.__setattr__``
    (about 4 µs a request, most of what building the facts costs); the instance
    is the same, every field given (checked: a field added to the class but not
    here fails at once, not as a missing attribute later).
    """
    facts = object.__new__(RequestFacts)
    facts.__dict__.update(values)
    if not _FIELDS <= values.keys():
        raise TypeError(f"RequestFacts lacks {sorted(_FIELDS - values.keys())}")
    return facts


@lru_cache(maxsize=256)
def werkzeug_cookies(header: str) -> Mapping[str, str]:
    """A ``Cookie`` header parsed as Quart's ``request.cookies`` parses it, memoised:
    a browser sends the same header with each request, and parsing it costs more
    than looking it up. The answer is immutable, so sharing it is safe."""
    return parse_cookie(header, cls=ImmutableMultiDict)


def parse_cookies(header: str | None) -> dict[str, str]:
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookies
        return {}
    return {key: morsel.value for key, morsel in jar.items()}
