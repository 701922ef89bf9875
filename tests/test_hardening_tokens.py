"""Token expiry with a zone offset means that moment (hardening, finding 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from pytorrent_core.access import tokens
from pytorrent_core.web.app import PyTorrentApp

ORIGIN = {"Origin": "http://localhost"}


@pytest.mark.parametrize("hours", [10, -10, 5.5])
def test_an_offset_is_the_same_instant_in_utc(hours: float) -> None:
    zone = timezone(timedelta(hours=hours))
    moment = (datetime.now(UTC) + timedelta(hours=2)).astimezone(zone).replace(microsecond=0)
    parsed = tokens.expiry(moment.isoformat())
    assert parsed is not None and parsed.tzinfo == UTC
    assert parsed == moment


@pytest.mark.parametrize("hours", [10, -10])
async def test_the_api_keeps_the_instant_and_the_token_lives_until_then(
        app: PyTorrentApp, hours: int) -> None:
    store = app.services.store
    admin = await store.get_user_by_name("admin")
    assert admin is not None
    zone = timezone(timedelta(hours=hours))
    moment = (datetime.now(UTC) + timedelta(hours=1)).astimezone(zone).replace(microsecond=0)
    client = app.quart.test_client()
    from pytorrent_core.testing import set_password
    await set_password(app, "admin", "admin-Pass-1")
    await client.post("/api/auth/login", json={"username": "admin", "password": "admin-Pass-1"})
    made = await client.post(f"/api/auth/users/{admin.id}/tokens", headers=ORIGIN,
                             json={"name": "zone", "expires_at": moment.isoformat()})
    assert made.status_code == 201, await made.get_data(as_text=True)
    body = await made.get_json()
    stored = datetime.fromisoformat(body["record"]["expires_at"].replace("Z", "+00:00"))
    assert stored == moment
    record = (await store.list_tokens(admin.id))[-1]
    assert record.expires_at == moment and record.is_live()
    reply = await app.quart.test_client().get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert reply.status_code == 200


def test_the_cli_keeps_the_instant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pytorrent_core.cli import main
    from pytorrent_core.testing import served_environment
    env = served_environment(tmp_path)
    moment = (datetime.now(UTC) + timedelta(hours=3)).astimezone(
        timezone(timedelta(hours=-10))).replace(microsecond=0)
    made = CliRunner().invoke(main, ["tokens", "create", "admin", "--name", "zone",
                                     "--expires-at", moment.isoformat()], env=env,
                              catch_exceptions=False)
    assert made.exit_code == 0, made.output
    listed = CliRunner().invoke(main, ["tokens", "list", "admin", "--json"], env=env,
                                catch_exceptions=False)
    import json
    row = json.loads(listed.output)[0]
    assert datetime.fromisoformat(row["expires_at"].replace("Z", "+00:00")) == moment
