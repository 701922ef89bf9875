"""Serve the shipped static files and the UI test harness over loopback HTTP.

``/static/`` is ``pytorrent_core/web/static``; ``/harness/`` is ``tests/ui_harness``;
``/page`` renders ``torrents.html`` through Jinja with a fake context (the
harness template extends it), so component tests run the real markup with no
pyTorrent server behind it.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "pytorrent_core" / "web" / "static"
TEMPLATES = ROOT / "pytorrent_core" / "web" / "templates"
HARNESS = ROOT / "tests" / "ui_harness"


class _User:
    display_name = "Alice Example"
    role = "user"


class FakePrincipal:
    username = "alice"
    user = _User()
    is_admin = False

    def __init__(self, level: str) -> None:
        self._level = level

    def level(self, profile_id: int) -> str:
        return self._level


class _Profile:
    def __init__(self, id: int, name: str) -> None:
        self.id = id
        self.name = name


def render_page(level: str = "full", profiles: int = 2) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([HARNESS, TEMPLATES]),
                             autoescape=True)

    def url_for(endpoint: str, filename: str = "", **_: Any) -> str:
        if endpoint == "static":
            return f"/static/{filename}"
        return "/" if endpoint == "index" else f"/{endpoint.rpartition('.')[2]}"

    env.globals["url_for"] = url_for
    listed = [_Profile(1, "Home"), _Profile(2, "Seedbox")][:profiles]
    return env.get_template("page.html").render(
        principal=FakePrincipal(level), profiles=listed, active_profile=1,
        external=False, show_picker=False)


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".svg": "image/svg+xml"}

    def translate_path(self, path: str) -> str:
        path = urlsplit(path).path
        for prefix, base in (("/static/", STATIC), ("/harness/", HARNESS)):
            if path.startswith(prefix):
                target = (base / path[len(prefix):]).resolve()
                if base.resolve() in target.parents:
                    return str(target)
        return str(HARNESS / "missing")

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/page":
            query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
            body = render_page(query.get("level", "full"), int(query.get("profiles", "2")))
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def ui_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
