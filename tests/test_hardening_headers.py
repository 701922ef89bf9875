"""Security headers on every answer (hardening, finding 7), from the whole ASGI app."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pytorrent_core.testing import running_app, set_password
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://127.0.0.1"}


def client_for(app: PyTorrentApp, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


def assert_protected(reply: httpx.Response) -> None:
    csp = reply.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/login", "/", "/api/health", "/api/auth/me", "/nowhere",
                                  "/socket.io/?EIO=4&transport=polling"])
async def test_every_kind_of_answer_is_protected_and_not_stored(tmp_path: Path,
                                                                path: str) -> None:
    async with running_app(tmp_path) as app, client_for(app) as client:
        reply = await client.get(path)
    assert_protected(reply)
    assert reply.headers["cache-control"] == "no-store"


async def test_the_bypass_page_cannot_be_framed(tmp_path: Path) -> None:
    env = {"PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11"}
    async with running_app(tmp_path, env) as app, client_for(app, "10.11.1.11") as client:
        reply = await client.get("/")
    assert reply.status_code == 200
    assert_protected(reply)


async def test_static_files_may_be_cached(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, client_for(app) as client:
        reply = await client.get("/static/app.css")
    assert reply.status_code == 200
    assert_protected(reply)
    assert reply.headers.get("cache-control") != "no-store"


async def test_the_one_time_token_answer_is_never_stored(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, client_for(app) as client:
        await set_password(app, "admin", "admin-Pass-1")
        await client.post("/api/auth/login", json={"username": "admin",
                                                   "password": "admin-Pass-1"})
        admin = await app.services.store.get_user_by_name("admin")
        assert admin is not None
        reply = await client.post(f"/api/auth/users/{admin.id}/tokens",
                                  json={"name": "script"}, headers=ORIGIN)
    assert reply.status_code == 201, reply.text
    assert reply.json()["token"].startswith("pt_")
    assert reply.headers["cache-control"] == "no-store"


def test_templates_have_no_inline_script_or_style() -> None:
    root = Path(__file__).parents[1]
    templates = [*root.glob("pytorrent_core/web/templates/*.html"),
                 *root.glob("plugins/*/pytorrent_auth_*/templates/*.html")]
    assert templates
    for template in templates:
        text = template.read_text(encoding="utf-8")
        for line in text.splitlines():
            if "<script" in line:
                assert "src=" in line, (template, line)
        assert "<style" not in text and " style=" not in text and " on" + "click=" not in text
