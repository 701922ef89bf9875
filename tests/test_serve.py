"""`pytorrent serve`: uvicorn, Socket.IO around Quart, lifespan start-up, health, open mode."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio
from click.testing import CliRunner

from pytorrent_core.bootstrap import load, warn_if_open
from pytorrent_core.cli import main
from pytorrent_core.storage import Store
from pytorrent_core.testing import ServerProcess, database_url, load_for_test, running_app
from pytorrent_core.web.app import create_app


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ------------------------------------------------------------------ the serve command


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record what `pytorrent serve` hands to uvicorn instead of listening (and a
    ``gc.freeze()`` before it as ``{"freeze": True}``, leaving the test process as it is)."""
    import gc

    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    monkeypatch.setattr(gc, "freeze", lambda: calls.append({"freeze": True}))
    return calls


def test_serve_defaults_to_all_interfaces_port_8090(clean_env: Path,
                                                    uvicorn_calls: list[dict[str, Any]]) -> None:
    settings, _ = load(None, {})
    assert (settings.server_host, settings.server_port) == ("0.0.0.0", 8090)

    result = CliRunner().invoke(main, ["serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [call] = [c for c in uvicorn_calls if "app" in c]
    assert (call["host"], call["port"], call["lifespan"]) == ("0.0.0.0", 8090, "on")
    app = call["app"]
    assert isinstance(app, socketio.ASGIApp)
    assert app.other_asgi_app is app.quart
    # lifespan must reach Quart: no Socket.IO start-up/shut-down hooks intercept it
    assert app.on_startup is None and app.on_shutdown is None


def test_serve_options_and_settings_choose_the_address(clean_env: Path, tmp_path: Path,
                                                       uvicorn_calls: list[dict[str, Any]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('[server]\nhost = "127.0.0.3"\nport = 9123\n')
    runner = CliRunner()
    assert runner.invoke(main, ["serve", "--config", str(config)]).exit_code == 0
    assert runner.invoke(main, ["--config", str(config), "serve", "--port", "9124"]
                         ).exit_code == 0
    monkeypatch.setenv("PYTORRENT_PORT", "9125")
    assert runner.invoke(main, ["serve", "--config", str(config), "--host", "127.0.0.4"]
                         ).exit_code == 0
    assert [(c["host"], c["port"]) for c in uvicorn_calls if "app" in c] == [
        ("127.0.0.3", 9123), ("127.0.0.3", 9124), ("127.0.0.4", 9125)]


def test_serve_leaves_start_up_objects_out_of_garbage_collection(
        clean_env: Path, uvicorn_calls: list[dict[str, Any]]) -> None:
    """A full collection would walk every module and the app each time; the torrent
    rows a watcher builds at 10,000 torrents trigger one in the middle of a poll."""
    result = CliRunner().invoke(main, ["serve"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [list(call) for call in uvicorn_calls][:1] == [["freeze"]]  # before uvicorn
    assert len(uvicorn_calls) == 2


def test_serve_creates_the_first_admin_before_listening(clean_env: Path, tmp_path: Path,
                                                        uvicorn_calls: list[dict[str, Any]],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTORRENT_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(main, ["serve"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "created the built-in admin user 'admin' with one-time password: " in result.stderr
    assert (tmp_path / "data" / "pytorrent.db").is_file()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


def test_open_mode_on_all_interfaces_warns(clean_env: Path, uvicorn_calls: list[dict[str, Any]],
                                           monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PYTORRENT_AUTH_ENABLE", "false")
    with caplog.at_level(logging.WARNING, logger="pytorrent"):
        assert CliRunner().invoke(main, ["serve"]).exit_code == 0
    [record] = [r for r in caplog.records if r.name == "pytorrent"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "authentication is disabled (PYTORRENT_AUTH_ENABLE=false) and pyTorrent listens on "
        "0.0.0.0: anyone who can reach this address is admin. This is not meant for "
        "production; bind to 127.0.0.1 or enable authentication.")


@pytest.mark.parametrize(("enabled", "host", "warns"), [
    (False, "0.0.0.0", True), (False, "::", True), (False, "192.168.1.20", True),
    (False, "127.0.0.1", False), (False, "127.0.0.5", False), (False, "::1", False),
    (False, "localhost", False), (True, "0.0.0.0", False),
])
def test_warn_if_open(tmp_path: Path, caplog: pytest.LogCaptureFixture, enabled: bool,
                      host: str, warns: bool) -> None:
    settings, _ = load_for_test(tmp_path, {"PYTORRENT_AUTH_ENABLE": str(enabled).lower()})
    with caplog.at_level(logging.WARNING, logger="pytorrent"):
        warn_if_open(settings, host)
    messages = [r.getMessage() for r in caplog.records if r.name == "pytorrent"]
    assert len(messages) == (1 if warns else 0)
    if warns:
        assert f"listens on {host}:" in messages[0]


# ------------------------------------------------------------------ lifespan


async def test_asgi_lifespan_reaches_quart_through_socketio(tmp_path: Path) -> None:
    settings, plugins = load_for_test(tmp_path)
    app = create_app(settings, plugins)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
             "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(outbox.get(), 30))["type"] == "lifespan.startup.complete"
    store = app.services.store
    admin = await store.get_user_by_name("admin")
    assert admin is not None and admin.role == "admin" and admin.builtin
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await asyncio.wait_for(outbox.get(), 30))["type"] == "lifespan.shutdown.complete"
    await asyncio.wait_for(task, 30)


# ------------------------------------------------------------------ open mode


async def test_auth_disabled_makes_every_request_the_builtin_admin(tmp_path: Path) -> None:
    async with running_app(tmp_path, {"PYTORRENT_AUTH_ENABLE": "false"}) as app:
        client = app.quart.test_client()
        for peer in ("127.0.0.1", "203.0.113.9"):
            reply = await client.get("/api/auth/me", peer=peer)
            assert reply.status_code == 200
            user = (await reply.get_json())["user"]
            assert (user["username"], user["role"], user["via"]) == ("admin", "admin",
                                                                     "disabled")


# ------------------------------------------------------------------ a real server


@pytest.mark.server
async def test_real_server_answers_health_without_auth(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        status, body = get(f"{server.url}/api/health")
        assert (status, body) == (200, {"status": "ok"})
        status, body = get(f"{server.url}/api/auth/me")
        assert status == 401
        assert "created the built-in admin user 'admin'" in server.log()
        store = Store.from_url(database_url(tmp_path))
        try:
            admin = await store.get_user_by_name("admin")
        finally:
            await store.close()
        assert admin is not None and admin.active


@pytest.mark.server
def test_real_server_in_open_mode(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, {"PYTORRENT_AUTH_ENABLE": "false"}) as server:
        status, body = get(f"{server.url}/api/auth/me")
        assert status == 200
        assert body["user"]["username"] == "admin"
        assert body["provider"] is None
