"""SCGI transport: one request per connection, read to EOF, typed errors.

``scgi://host:port`` is TCP, ``scgi:///path/to.sock`` a unix socket (the same
forms :func:`pytorrent_core.profiles.clean_scgi_url` accepts).
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import Malformed, Timeout, Unreachable

MAX_REPLY = 64 * 1024 * 1024
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
_CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Address:
    """Where rTorrent listens: ``host``/``port`` for TCP or ``path`` for a unix socket."""

    url: str
    host: str = ""
    port: int = 0
    path: str = ""

    @classmethod
    def parse(cls, url: str) -> Address:
        parts = urlsplit(url)
        if parts.scheme.lower() != "scgi":
            raise ValueError("an SCGI address starts with scgi://")
        if not parts.netloc:
            if not parts.path.startswith("/"):
                raise ValueError("a socket SCGI address needs an absolute path")
            return cls(url, path=parts.path)
        if parts.hostname is None or parts.port is None:
            raise ValueError("a TCP SCGI address needs a host and a port")
        return cls(url, host=parts.hostname, port=parts.port)


def encode_request(body: bytes) -> bytes:
    """Netstring header (``CONTENT_LENGTH`` first, ``SCGI`` = ``1``) followed by the body."""
    headers = b"CONTENT_LENGTH\x00%d\x00SCGI\x001\x00" % len(body)
    return b"%d:%s,%s" % (len(headers), headers, body)


def split_reply(reply: bytes, address: str = "") -> bytes:
    """The body of an SCGI reply, without its HTTP-style ``Status:`` and header lines."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = reply.partition(separator)
        if found:
            break
    else:
        raise Malformed("not rTorrent: the reply has no SCGI headers", address=address)
    lines = head.decode("latin-1").splitlines()
    if not lines or not all(":" in line for line in lines):
        raise Malformed("not rTorrent: the reply has no SCGI headers", address=address)
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "status" and not value.strip().startswith("200"):
            raise Malformed(f"rTorrent answered status {value.strip()[:40]}", address=address)
    return body


async def request(address: Address, body: bytes, *, connect_timeout: float = CONNECT_TIMEOUT,
                  read_timeout: float = READ_TIMEOUT, max_reply: int = MAX_REPLY) -> bytes:
    """Send one SCGI request and return the reply body.

    ``connect_timeout`` bounds opening the connection, ``read_timeout`` the whole
    exchange after that (sending the request and reading the reply to EOF).
    """
    reader, writer = await _connect(address, connect_timeout)
    try:
        async with asyncio.timeout(read_timeout):
            writer.write(encode_request(body))
            await writer.drain()
            chunks: list[bytes] = []
            size = 0
            while chunk := await reader.read(_CHUNK):
                size += len(chunk)
                if size > max_reply:
                    raise Malformed(f"the reply is larger than {max_reply // (1024 * 1024)} MiB",
                                    address=address.url)
                chunks.append(chunk)
    except TimeoutError:
        raise Timeout(f"rTorrent did not answer within {read_timeout:g} s",
                      address=address.url) from None
    except (ConnectionError, OSError) as error:
        raise Unreachable(f"the connection to rTorrent broke ({_reason(error)})",
                          address=address.url) from None
    finally:
        writer.close()
    return split_reply(b"".join(chunks), address.url)


async def _connect(address: Address, connect_timeout: float
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        async with asyncio.timeout(connect_timeout):
            if address.path:
                _check_socket(address)
                return await asyncio.open_unix_connection(address.path, limit=_CHUNK)
            return await asyncio.open_connection(address.host, address.port, limit=_CHUNK)
    except TimeoutError:
        raise Timeout(f"no connection to rTorrent within {connect_timeout:g} s",
                      address=address.url) from None
    except socket.gaierror:
        raise Unreachable("rTorrent's host name is unknown", address=address.url) from None
    except FileNotFoundError:
        raise Unreachable("rTorrent's socket does not exist", address=address.url) from None
    except ConnectionRefusedError:
        raise Unreachable("rTorrent refused the connection", address=address.url) from None
    except OSError as error:
        raise Unreachable(f"rTorrent is not reachable ({_reason(error)})",
                          address=address.url) from None


def _check_socket(address: Address) -> None:
    try:
        mode = os.stat(address.path).st_mode
    except FileNotFoundError:
        raise
    except OSError as error:
        raise Unreachable(f"rTorrent's socket cannot be opened ({_reason(error)})",
                          address=address.url) from None
    if not stat.S_ISSOCK(mode):
        raise Unreachable("rTorrent's socket path is not a socket", address=address.url)


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__
