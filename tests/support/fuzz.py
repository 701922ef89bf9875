"""Generators of malformed (and sometimes valid) input for the fuzz tests.

Everything is drawn from one ``random.Random``, so a seed names a whole run.
Values are what a client can really send: header bytes an HTTP parser lets
through, percent-encoded paths and queries, any body bytes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

# Bodies may carry these keys; the values are fuzzed.
FIELDS = ("username", "password", "display_name", "email", "role", "active", "permissions",
          "name", "scgi_url", "data_root", "labels", "uris", "start", "label", "directory",
          "action", "hashes", "delete_data", "current_password", "new_password",
          "expires_at", "expires_in_days", "next", "profile_id", "torrent")

HASH = "0123456789ABCDEF0123456789abcdef01234567"
TEXTS = [
    "", " ", "a", "admin", "fuzzer", "josé", "名前", "\U0001f600", "e\u0301",
    "\u202eevil", "a\u200bb", "\ufeff", "\x00", "a\x00b", "\x0b", "\x0c", "\x7f", "\r\n",
    "line\nbreak", "\t", "\ud800", "a\udfffb", "\ud83d", "%00", "%", "%ff", "../../etc/passwd",
    "/", "//evil.example", "\\\\evil", "/ok/path", "/srv/torrents", "<script>x</script>",
    "' OR 1=1 --", "null", "true", "0", "-1", "1e400", "NaN", "scgi://127.0.0.1:1",
    "scgi:///nonexistent/rpc.sock", "scgi://[::1]:99999", "scgi://user@127.0.0.1:1",
    "magnet:?xt=urn:btih:" + HASH, "magnet:?xt=urn:btih:zz", HASH, HASH.lower(),
    "start", "stop", "pause", "recheck", "label", "remove", "ro", "full", "rw", "none",
    "user", "2030-01-31T12:00:00Z", "1999-01-01T00:00:00", "9999-12-31T23:59:59+23:59",
    "name@example.com", "@", "x" * 129, "y" * 300,
]
INTS = [0, 1, 2, 3, 7, -1, -(2**63), 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30,
        -(10**30), 3650, 3651]
PATH_INTS = ["0", "1", "2", "3", "5", "007", "9223372036854775807", "9223372036854775808",
             "18446744073709551616", "9" * 40, "9" * 5000, "-1", "1.5", "1e3", "0x10", "abc",
             "\u0661", "\uff11", "1%00", "%20", ""]
PATH_TEXTS = [HASH, HASH.lower(), "x", "actions", "..", ".", "%2e%2e", "%00", "%ff%fe",
              "%c0%ae", "a" * 300, "b/" * 150, "%0d%0aSet-Cookie:x=1", "\u00e9", "%e2%80%ae"]
STATIC_FILES = ["app.css", "favicon.ico", "js/main.js", "vendor/manifest.json",
                "../pytorrent.db", "..%2f..%2fetc%2fpasswd", "%00", "a%00b", "x" * 300,
                "js/" + "y" * 300, "/etc/passwd", "js", "", "%ff", "COM1", "a/" * 200]
CONTENT_TYPES = [
    b"application/json", b"application/json; charset=utf-8", b"application/json; charset=utf-16",
    b"application/json; charset=bogus", b"text/plain", b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=XyZ", b"multipart/form-data", b"multipart/form-data; boundary=",
    b"application/octet-stream", b"*/*", b"", b"\xff\xfe", b"application/vnd.api+json",
]


@dataclass
class Request:
    method: str
    raw_path: bytes
    query: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes | list[bytes] = b""
    client: tuple[str, int] | None = ("127.0.0.1", 40000)
    rule: str = ""  # the route it was made for (for coverage and reports)

    def describe(self, limit: int = 300) -> str:
        body = self.body if isinstance(self.body, bytes) else b"".join(self.body)
        shown = body[:limit] + (b"..." if len(body) > limit else b"")
        return (f"{self.method} {self.raw_path[:limit]!r} query={self.query[:limit]!r} "
                f"client={self.client} headers={[(k, v[:80]) for k, v in self.headers]} "
                f"body({len(body)})={shown!r}")


class Fuzz:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # ------------------------------------------------------------ values

    def text(self) -> str:
        r = self.rng.random()
        if r < 0.7:
            return self.rng.choice(TEXTS)
        if r < 0.8:
            piece = self.rng.choice(TEXTS) or "z"
            return piece * (self.rng.choice([10, 1000, 100_000]) // len(piece))
        if r < 0.9:
            return "".join(chr(self.rng.randrange(0, 0x300)) for _ in range(self.rng.randrange(20)))
        return "".join(chr(self.rng.randrange(0, 0x110000)) for _ in range(self.rng.randrange(8)))

    def value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if r < 0.35:
            return self.text()
        if r < 0.5:
            return self.rng.choice(INTS)
        if r < 0.58:
            return self.rng.choice([None, True, False])
        if r < 0.63:
            return self.rng.choice([0.5, -0.0, 1e308, 2.0, 1e-300])
        if r < 0.68:
            return self.nested()
        if depth > 2:
            return self.rng.choice(TEXTS)
        if r < 0.85:
            return [self.value(depth + 1) for _ in range(self.rng.randrange(4))]
        return {self.key(): self.value(depth + 1) for _ in range(self.rng.randrange(4))}

    def key(self) -> str:
        r = self.rng.random()
        if r < 0.7:
            return self.rng.choice(FIELDS)
        if r < 0.85:
            return self.rng.choice(["*", "1", "2", "3", "99999999999999999999", "-1", "\u0661"])
        return self.text()

    def nested(self) -> Any:
        depth = self.rng.choice([20, 100, 400])  # deeper ones are in RAW_JSON
        inner: Any = self.rng.choice(["x", 1, None])
        for _ in range(depth):
            inner = [inner] if self.rng.random() < 0.5 else {"a": inner}
        return inner

    def obj(self) -> dict[str, Any]:
        fields = self.rng.sample(FIELDS, self.rng.randrange(1, 5))
        return {name: self.value() for name in fields}

    def plausible(self) -> dict[str, Any]:
        """Bodies close to valid ones, so validation deeper in each view runs too."""
        rng = self.rng
        return rng.choice([
            lambda: {"username": rng.choice(["admin", "fuzzer", self.text()]),
                     "password": rng.choice([PASSWORD, "wrong-password", self.text()])},
            lambda: {"username": self.text(), "password": "Fuzz-pass-1234",
                     "role": rng.choice(["user", "admin", self.value()]),
                     "permissions": {rng.choice(["*", "1", "2", self.key()]): self.value()}},
            lambda: {"name": self.text(), "scgi_url": rng.choice(
                ["scgi://127.0.0.1:1", "scgi:///nonexistent.sock", self.text()]),
                "data_root": rng.choice([None, "/srv/x", self.text()])},
            lambda: {"labels": [self.text() for _ in range(rng.randrange(4))]},
            lambda: {"labels": self.value()},
            lambda: {"uris": [rng.choice(["magnet:?xt=urn:btih:" + HASH, self.text()])],
                     "label": self.value(), "directory": self.value(), "start": self.value()},
            lambda: {"action": rng.choice(["start", "stop", "label", "remove", self.text()]),
                     "hashes": rng.choice([[HASH], [self.text()], self.value()]),
                     "label": self.value(), "delete_data": self.value()},
            lambda: {"name": self.text(), "expires_in_days": self.value()},
            lambda: {"name": "script", "expires_at": self.value()},
            lambda: {"current_password": rng.choice([PASSWORD, self.text()]),
                     "new_password": self.text()},
            lambda: {"active": self.value(), "display_name": self.text(),
                     "email": self.text()},
        ])()

    # ------------------------------------------------------------ bodies

    def json_body(self) -> bytes:
        r = self.rng.random()
        if r < 0.35:
            return json.dumps(self.plausible()).encode()
        if r < 0.55:
            return json.dumps(self.obj()).encode()
        if r < 0.65:
            return json.dumps(self.value()).encode()
        return self.rng.choice(RAW_JSON)

    def form_body(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.25:
            return rng.choice([b"%zz=%", b"username=%ff%fe&password=%00", b"&&==&", b"a" * 5000,
                               b"next=%0b%0c%00%7f%0d", b"username=admin&username=x",
                               b"\xff\xfe=\x00", b"=" * 1000])
        fields = {"username": rng.choice(["admin", "fuzzer", self.text()]),
                  "password": rng.choice([PASSWORD, self.text()])}
        if rng.random() < 0.7:
            fields["next"] = self.next_target()
        for _ in range(rng.randrange(3)):
            fields[self.key()] = self.text()
        # Percent-encoding is slow in Python: long values stay in the JSON bodies.
        return urlencode({_raw(k)[:2000]: _raw(v)[:2000] for k, v in fields.items()}).encode()

    def next_target(self) -> str:
        return self.rng.choice(["/", "/account", "//evil.example", "/\\evil", "http://evil",
                                "/a\x0bb", "/a\x0cb", "/a\x00b", "/a\x7fb", "/a\rb", "/a\nb",
                                "/a\tb", "/\u00e9", "/%0d%0a", "/" + "x" * 5000, self.text()])

    def multipart(self, torrents: Sequence[bytes]) -> tuple[bytes, bytes]:
        """(content type, body) of a multipart form; sometimes broken on purpose."""
        rng = self.rng
        boundary = rng.choice([b"XyZ", b"----fuzz", b"a" * 80])
        parts = []
        for _ in range(rng.randrange(4)):
            name = rng.choice([b"torrent", b"uris", b"label", b"directory", b"start",
                               b"x\xff", b'"', b""])
            filename = rng.choice([None, b"a.torrent", b"\xff\xfe.torrent", b"../../x",
                                   b"x" * 500, b"\x00"])
            content = rng.choice([*torrents, b"", b"d4:infoe", b"garbage", b"\xff" * 100,
                                  b"l" * 5000 + b"e" * 5000, b"i" + b"9" * 500 + b"e",
                                  b"magnet:?xt=urn:btih:" + HASH.encode(),
                                  _raw(self.text())])
            disposition = b'Content-Disposition: form-data; name="' + name + b'"'
            if filename is not None:
                disposition += b'; filename="' + filename + b'"'
            parts.append(b"--" + boundary + b"\r\n" + disposition + b"\r\n\r\n" + content
                         + b"\r\n")
        body = b"".join(parts) + b"--" + boundary + b"--\r\n"
        r = rng.random()
        if r < 0.1:
            body = body[: rng.randrange(len(body) + 1)]  # cut short
        elif r < 0.2:
            body = b"--" + boundary + b"\r\nContent-Disposition: " + b"x" * 20000 + b"\r\n\r\n"
        elif r < 0.25:
            body = rng.randbytes(rng.randrange(2000))
        content_type = b"multipart/form-data; boundary=" + boundary
        if rng.random() < 0.1:
            content_type = rng.choice([b"multipart/form-data", b"multipart/form-data; boundary=",
                                       b"multipart/form-data; boundary=" + b"q" * 300,
                                       b"multipart/mixed; boundary=XyZ"])
        return content_type, body

    def body(self, torrents: Sequence[bytes]) -> tuple[bytes | None, bytes]:
        """(content type or None, body)."""
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            content_type: bytes | None = rng.choice(
                [b"application/json"] * 6 + [b"application/json; charset=utf-16", b"text/plain",
                                             None])
            return content_type, self.json_body()
        if r < 0.7:
            return b"application/x-www-form-urlencoded", self.form_body()
        if r < 0.85:
            return self.multipart(torrents)
        if r < 0.9:
            return rng.choice(CONTENT_TYPES), self.json_body()
        return rng.choice([None, *CONTENT_TYPES]), rng.choice(
            [b"", rng.randbytes(rng.randrange(3000)), b"\x00" * 100])

    # ------------------------------------------------------------ paths and headers

    def path(self, template: str, arguments: dict[str, str]) -> bytes:
        """``template`` (a Werkzeug rule) with each ``<converter:name>`` filled in."""
        out = []
        for piece in _split_rule(template):
            if isinstance(piece, str):
                out.append(quote(piece))
                continue
            converter, name = piece
            if converter == "int":
                value = self.rng.choice(PATH_INTS) if self.rng.random() < 0.4 \
                    else arguments.get(name, "1")
            elif converter == "path":
                value = self.rng.choice(STATIC_FILES)
            else:
                value = self.rng.choice(PATH_TEXTS)
            out.append(value if "%" in value else quote(value, safe="/"))
        return "".join(out).encode("ascii")

    def query(self) -> bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            return b""
        if r < 0.8:
            return urlencode({"next": _raw(self.next_target())[:2000]}).encode()
        return rng.choice([b"%zz", b"next=%ff%fe", b"a=" + b"b" * 10000, b"&&&&=", b"next",
                           b"token=pt_x", b"next=%0b&next=%0d", b"EIO=4&transport=polling"])

    def header_value(self) -> bytes:
        """Bytes an HTTP/1.1 parser passes on: visible ASCII, space, tab and obs-text."""
        rng = self.rng
        r = rng.random()
        if r < 0.5:
            return rng.choice([b"", b"x", b"\xc3\xa9", b"\xff\xfe", b"a" * 8000, b" ", b"\t",
                               b"1", b"-1", b"99999999999999999999", b"null", b"\"", b",,,"])
        return bytes(rng.choice(HEADER_BYTES) for _ in range(rng.randrange(1, 40)))


PASSWORD = "Fuzz-admin-1234"  # noqa: S105 - the test admin's password
HEADER_BYTES = [*range(0x20, 0x7f), 0x09, *range(0x80, 0x100)]
RAW_JSON = [
    b"", b"[" * 100_000, b"{" * 50_000, b"]", b"{", b'{"username":', b"{'a': 1}", b"nul",
    b'{"username":"\xff","password":"x"}', b"\xff\xfe{\x00}\x00", b"\xef\xbb\xbf{}",
    b'{"username":"\\ud800","password":"x"}', b'{"name":"\\udfff","scgi_url":"scgi://1.2.3.4:1"}',
    b'{"labels":["\\ud800"]}', b'"\\ud800"', b'{"\\ud800":1}', b'{"a":NaN}', b'{"a":Infinity}',
    b"1e99999", b"9" * 5000, b'{"a":' + b"9" * 5000 + b"}", b"[]", b"null", b"1", b'"text"',
    b"true", b'{"labels":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"labels":' + b"[" * 900 + b"]" * 900 + b"}", b'{"a":1}' * 3, b"{}\x00",
    '{"username":"adm\u0131n"}'.encode(), b'{"username":"admin","password":"x","x":' +
    b'{"a":' * 2000 + b"1" + b"}" * 2000 + b"}", b'{"a":"\\u0000"}', b'{"a":"\\"}',
    b'{"hashes":[' + b'"' + HASH.encode() + b'",' * 20000 + b'"x"]}',
]


def _raw(text: str) -> bytes:
    """UTF-8, lone surrogates included, as a client with a broken encoder would send it."""
    return text.encode("utf-8", "surrogatepass")


def _split_rule(template: str) -> list[str | tuple[str, str]]:
    pieces: list[str | tuple[str, str]] = []
    rest = template
    while "<" in rest:
        before, _, rest = rest.partition("<")
        inside, _, rest = rest.partition(">")
        converter, _, name = inside.rpartition(":")
        pieces.append(before)
        pieces.append((converter.split("(")[0] or "default", name))
    pieces.append(rest)
    return pieces

