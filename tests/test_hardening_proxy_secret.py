"""PYTORRENT_AUTH_PROXY_SECRET: identity headers count only with the proxy's shared secret;
any private-network host could otherwise assert identity, which start-up and
`pytorrent auth doctor` say (hardening)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import socketio
import uvicorn
from werkzeug.datastructures import Headers

from pytorrent_core.bootstrap import warn_if_open
from pytorrent_core.config import ConfigError
from pytorrent_core.testing import (
    environment,
    free_port,
    load_for_test,
    running_app,
    socketio_client,
)
from pytorrent_core.web.app import PyTorrentApp, create_app

pytestmark = pytest.mark.usefixtures("on_every_engine")

SECRET = "4f1c9a7e2b8d6035e1a9c7f2b4d6e8a0"
HEADER = "X-PyTorrent-Proxy-Secret"
PROVIDERS = ("proxy", "tinyauth")
WAIT = 15.0


def env(provider: str = "proxy", **extra: str) -> dict[str, str]:
    return {"PYTORRENT_AUTH_PROVIDER": provider, "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
            "PYTORRENT_AUTH_PROXY_SECRET": SECRET, **extra}


async def me(app: PyTorrentApp, headers: Headers | Mapping[str, str],
              peer: str = "127.0.0.1") -> tuple[int, dict]:
    reply = await app.quart.test_client().get("/api/auth/me", headers=headers, peer=peer)
    return reply.status_code, await reply.get_json()


# ---------------------------------------------------------------- REST and pages


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_identity_needs_the_secret(tmp_path: Path, provider: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    async with running_app(tmp_path, env(provider)) as app:
        status, body = await me(app, {"Remote-User": "alice", HEADER: SECRET})
        assert status == 200 and body["user"]["username"] == "alice"
        with caplog.at_level(logging.WARNING):
            for headers in ({"Remote-User": "alice"},
                            {"Remote-User": "alice", HEADER: "wrong"},
                            {"Remote-User": "alice", HEADER: SECRET[:-1]},
                            {"Remote-User": "alice", HEADER: SECRET.upper()},
                            {"Remote-User": "alice", HEADER: f"{SECRET}x"},
                            {"Remote-User": "alice", HEADER: "é" * 32},
                            # Several lines would let a client try many guesses at once.
                            Headers([("Remote-User", "alice"), (HEADER, "guess"),
                                     (HEADER, SECRET)])):
                status, body = await me(app, headers)
                assert status == 401, headers
                assert "PYTORRENT_AUTH_PROXY_SECRET" in body["error"]
                assert SECRET not in json.dumps(body)
            page = await app.quart.test_client().get("/", headers={"Remote-User": "alice"})
            assert page.status_code == 401
            assert SECRET not in await page.get_data(as_text=True)
        warnings = [r.getMessage() for r in caplog.records
                    if "PYTORRENT_AUTH_PROXY_SECRET" in r.getMessage()]
        assert len(warnings) == 1  # sampled: at most one a minute
        assert warnings[0] == ("ignored Remote-User header from 127.0.0.1: the "
                               "X-PyTorrent-Proxy-Secret header is missing or wrong "
                               "(PYTORRENT_AUTH_PROXY_SECRET); make the proxy set it")
        assert SECRET not in caplog.text


async def test_the_header_name_is_a_setting(tmp_path: Path) -> None:
    config = env(PYTORRENT_AUTH_PROXY_SECRET_HEADER="X-Edge-Token")
    async with running_app(tmp_path, config) as app:
        assert (await me(app, {"Remote-User": "alice", HEADER: SECRET}))[0] == 401
        assert (await me(app, {"Remote-User": "alice", "X-Edge-Token": SECRET}))[0] == 200


async def test_the_secret_does_not_open_the_door_to_untrusted_peers(tmp_path: Path) -> None:
    async with running_app(tmp_path, env()) as app:
        status, body = await me(app, {"Remote-User": "alice", HEADER: SECRET},
                                peer="203.0.113.9")
        assert status == 401 and "trusted proxies" in body["error"]


async def test_without_a_secret_nothing_changes(tmp_path: Path) -> None:
    async with running_app(tmp_path, env(PYTORRENT_AUTH_PROXY_SECRET="")) as app:
        assert (await me(app, {"Remote-User": "alice"}))[0] == 200


async def test_a_request_with_the_secret_header_is_never_bypassed(tmp_path: Path) -> None:
    config = env(PYTORRENT_AUTH_BYPASS_HOSTS="10.11.1.11:8090")
    async with running_app(tmp_path, config) as app:
        direct = {"Host": "10.11.1.11:8090"}
        status, body = await me(app, direct)
        assert status == 200 and body["user"]["via"] == "bypass"
        # Only a proxy sends the secret header: it came through one, so sign-in applies.
        status, _ = await me(app, {**direct, HEADER: "anything"})
        assert status == 401
        status, body = await me(app, {**direct, HEADER: SECRET, "Remote-User": "alice"})
        assert status == 200 and body["user"]["via"] == "provider"


# ---------------------------------------------------------------- Socket.IO


@asynccontextmanager
async def serving(tmp_path: Path, config: Mapping[str, str]) -> AsyncIterator[str]:
    """The app under uvicorn in this process, on a free loopback port."""
    settings, plugins = load_for_test(tmp_path, config)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, plugins), host="127.0.0.1",
                                           port=port, lifespan="on", log_level="warning",
                                           access_log=False))
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            assert loop.time() < deadline, "uvicorn did not start in time"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


@pytest.mark.server
@pytest.mark.parametrize("transports", [["polling", "websocket"], ["websocket"]])
async def test_socketio_needs_the_secret(tmp_path: Path, transports: list[str],
                                         caplog: pytest.LogCaptureFixture) -> None:
    async with serving(tmp_path, env()) as url:
        async with socketio_client() as client:
            await client.connect(url, headers={"Remote-User": "alice", HEADER: SECRET},
                                 transports=transports, wait_timeout=WAIT)
            answer = await client.call("whoami", timeout=WAIT)
            assert answer == {"username": "alice", "role": "user", "via": "provider"}
        with caplog.at_level(logging.WARNING):
            for headers in ({"Remote-User": "alice"}, {"Remote-User": "alice", HEADER: "bad"}):
                async with socketio_client() as refused:
                    with pytest.raises(socketio.exceptions.ConnectionError):
                        await refused.connect(url, headers=headers, transports=transports,
                                              wait_timeout=WAIT)
                    assert not refused.connected
        assert "X-PyTorrent-Proxy-Secret header is missing or wrong" in caplog.text
        assert SECRET not in caplog.text


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("value", ["short", "has a space in it, 16+", "ünïcödé-secret-value"])
def test_a_weak_or_odd_secret_stops_start_up_without_echoing_it(tmp_path: Path,
                                                                  value: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_for_test(tmp_path, env(PYTORRENT_AUTH_PROXY_SECRET=value))
    message = str(error.value)
    assert message.startswith('PYTORRENT_AUTH_PROXY_SECRET="***" (environment): expected at '
                              "least 16 printable ASCII characters")
    assert value not in message


def cli(tmp_path: Path, config: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytorrent.cli", *args],
                          env=environment(tmp_path, config), capture_output=True, text=True,
                          timeout=60)


def test_config_show_masks_the_secret(tmp_path: Path) -> None:
    shown = cli(tmp_path, env(), "config", "show", "--sources")
    assert shown.returncode == 0, shown.stderr
    assert 'auth.proxy_secret = "***"    # environment: PYTORRENT_AUTH_PROXY_SECRET' \
        in shown.stdout
    assert 'auth.proxy_secret_header = "X-PyTorrent-Proxy-Secret"' in shown.stdout
    as_json = cli(tmp_path, env(), "config", "show", "--json")
    assert SECRET not in shown.stdout + shown.stderr + as_json.stdout + as_json.stderr


# ---------------------------------------------------------------- warnings


OPEN = ("includes private ranges ({ranges}): any host on those networks can assert identity "
        "with a Remote-User header. Narrow PYTORRENT_AUTH_TRUSTED_PROXIES to your reverse "
        "proxy's address or set PYTORRENT_AUTH_PROXY_SECRET")
DEFAULT_RANGES = "10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7"


@pytest.mark.parametrize(("config", "ranges"), [
    (env(PYTORRENT_AUTH_PROXY_SECRET=""), DEFAULT_RANGES),
    (env("tinyauth", PYTORRENT_AUTH_PROXY_SECRET=""), DEFAULT_RANGES),
    (env(PYTORRENT_AUTH_PROXY_SECRET="", PYTORRENT_AUTH_TRUSTED_PROXIES="172.18.0.0/16"),
     "172.18.0.0/16"),
    (env(), None),  # the secret is set
    (env(PYTORRENT_AUTH_PROXY_SECRET="", PYTORRENT_AUTH_TRUSTED_PROXIES="10.0.0.2,::1"),
     None),  # only the proxy's address (and loopback)
    ({}, None),  # local sign-in reads no identity header
    ({"PYTORRENT_AUTH_ENABLE": "false"}, None),
])
def test_start_up_and_doctor_warn_when_any_private_host_can_assert_identity(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, config: dict[str, str],
        ranges: str | None) -> None:
    settings, plugins = load_for_test(tmp_path, config)
    with caplog.at_level(logging.WARNING, logger="pytorrent"):
        warn_if_open(settings, "127.0.0.1", plugins)
    warned = [r.getMessage() for r in caplog.records if "private ranges" in r.getMessage()]
    doctor = cli(tmp_path, config, "auth", "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr  # a warning, not an error
    flagged = [line for line in doctor.stdout.splitlines() if "private ranges" in line]
    if ranges is None:
        assert warned == [] and flagged == []
        return
    assert warned == [f"auth.trusted_proxies (PYTORRENT_AUTH_TRUSTED_PROXIES) "
                      f"{OPEN.format(ranges=ranges)}; see `pytorrent auth doctor`."]
    assert flagged == [f"WARN  auth.trusted_proxies (PYTORRENT_AUTH_TRUSTED_PROXIES) "
                       f"{OPEN.format(ranges=ranges)}"]


@pytest.mark.parametrize(("secret", "warns"), [("", True), (SECRET, False)])
def test_serve_logs_it_at_start(clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                caplog: pytest.LogCaptureFixture, secret: str,
                                warns: bool) -> None:
    from click.testing import CliRunner

    from pytorrent_core.cli import main

    monkeypatch.setattr(uvicorn, "run", lambda app, **options: None)
    for name, value in {**env(PYTORRENT_AUTH_PROXY_SECRET=secret),
                        "PYTORRENT_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING, logger="pytorrent"):
        result = CliRunner().invoke(main, ["serve", "--host", "127.0.0.1"])
    assert result.exit_code == 0, result.output
    warned = [r.getMessage() for r in caplog.records if "private ranges" in r.getMessage()]
    assert len(warned) == (1 if warns else 0)
    assert SECRET not in caplog.text + result.output


def test_doctor_says_when_the_secret_is_required(tmp_path: Path) -> None:
    doctor = cli(tmp_path, env(), "auth", "doctor")
    assert doctor.returncode == 0
    assert ("ok    identity headers also need the X-PyTorrent-Proxy-Secret header with the "
            "shared secret (PYTORRENT_AUTH_PROXY_SECRET)") in doctor.stdout
    assert SECRET not in doctor.stdout + doctor.stderr
