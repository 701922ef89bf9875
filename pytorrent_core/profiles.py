"""What a valid profile is: a name and an rTorrent SCGI address. Nothing here talks to rTorrent."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from .storage import StoreError

NAME_MAX = 128
URL_MAX = 1024
LABEL_MAX = 64
LABELS_MAX = 200
SCGI_EXAMPLES = "scgi://host:port[/path] or scgi:///path/to/socket"

# Control characters, and lone surrogates (from a JSON escape such as "\ud800"), which
# are not text: no database or encoder accepts them.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_HOSTNAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?$", re.I)


def clean_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StoreError("name is required", "name")
    name = value.strip()
    if len(name) > NAME_MAX or _CONTROL.search(name):
        raise StoreError(f"name must be at most {NAME_MAX} printable characters", "name")
    return name


def clean_scgi_url(value: Any) -> str:
    """Return the URL unchanged if it is a usable SCGI address; else StoreError(field=scgi_url)."""
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"scgi_url is required: {SCGI_EXAMPLES}", "scgi_url")
    url = value.strip()
    if len(url) > URL_MAX or _CONTROL.search(url) or " " in url:
        raise StoreError(f"scgi_url must be one line of at most {URL_MAX} characters "
                         "without spaces", "scgi_url")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise StoreError(f"scgi_url is not a URL: {SCGI_EXAMPLES}", "scgi_url") from None
    if parts.scheme.lower() != "scgi" or not url.lower().startswith("scgi://"):
        raise StoreError(f"scgi_url must start with scgi://: {SCGI_EXAMPLES}", "scgi_url")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise StoreError("scgi_url must not have a query or fragment", "scgi_url")
    if not parts.netloc:
        if not parts.path.startswith("/") or parts.path.rstrip("/") == "":
            raise StoreError("a socket scgi_url needs an absolute path: scgi:///path/to/socket",
                             "scgi_url")
        return url
    if "@" in parts.netloc:
        raise StoreError("scgi_url must not carry a user name or password", "scgi_url")
    try:
        port = parts.port
    except ValueError:
        raise StoreError("scgi_url port must be a number from 1 to 65535", "scgi_url") from None
    if port is None or not 1 <= port <= 65535:
        raise StoreError(f"scgi_url needs a port from 1 to 65535: {SCGI_EXAMPLES}", "scgi_url")
    host = parts.hostname or ""
    if not _valid_host(host, bracketed=parts.netloc.startswith("[")):
        raise StoreError(f"scgi_url host {host!r} is not a host name or IP address", "scgi_url")
    return url


def clean_data_root(value: Any) -> str | None:
    """An absolute folder (as both rTorrent and pyTorrent see it), or None to clear it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise StoreError("data_root must be an absolute folder path or empty", "data_root")
    path = value.strip()
    if len(path) > URL_MAX or _CONTROL.search(path) or not path.startswith("/"):
        raise StoreError("data_root must be an absolute folder path, for example "
                         "/srv/torrents, or empty to forbid deleting data", "data_root")
    if path.rstrip("/") == "":
        raise StoreError("data_root cannot be / (pyTorrent would be allowed to delete "
                         "anything); name the folder rTorrent downloads into", "data_root")
    return path.rstrip("/")


def _valid_host(host: str, *, bracketed: bool) -> bool:
    if not host:
        return False
    if bracketed:
        try:
            return ipaddress.ip_address(host).version == 6
        except ValueError:
            return False
    return bool(_HOSTNAME.match(host))


def clean_labels(value: Any) -> list[str]:
    """A list of distinct label names (case-insensitive), order kept."""
    if not isinstance(value, list):
        raise StoreError("labels must be a list of strings", "labels")
    if len(value) > LABELS_MAX:
        raise StoreError(f"at most {LABELS_MAX} labels per profile", "labels")
    return _distinct(value)


def _distinct(values: Iterable[Any]) -> list[str]:
    seen: set[str] = set()
    labels: list[str] = []
    for item in values:
        if not isinstance(item, str) or not item.strip():
            raise StoreError("each label must be a non-empty string", "labels")
        label = item.strip()
        if len(label) > LABEL_MAX or _CONTROL.search(label):
            raise StoreError(f"each label must be at most {LABEL_MAX} printable characters",
                             "labels")
        if label.lower() not in seen:
            seen.add(label.lower())
            labels.append(label)
    return labels
