"""``pytorrent tokens create ... --profile NAME_OR_ID --read-only``: scoped tokens from a shell."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from pytorrent_core.cli import main
from pytorrent_core.testing import environment, running_app


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_create_scoped_token_list_it_and_use_it(tmp_path: Path) -> None:
    env = environment(tmp_path)
    assert run(env, "users", "add", "alice", "--permission", "full", "--password",
               "alice-Pass-1", "--create").exit_code == 0
    for name in ("home", "away"):
        assert run(env, "profiles", "add", name, "scgi://127.0.0.1:1").exit_code == 0
    listed = json.loads(run(env, "profiles", "list", "--json").output)
    ids = {row["name"]: row["id"] for row in listed}

    missing = run(env, "tokens", "create", "alice", "--name", "x", "--profile", "nowhere")
    assert missing.exit_code != 0 and "--profile 'nowhere'" in missing.output

    made = run(env, "tokens", "create", "alice", "--name", "watch", "--profile", "home",
               "--profile", str(ids["home"]), "--read-only")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    assert token.startswith("pt_")
    assert f"scope ro on profiles {ids['home']}" in made.stderr

    rows = json.loads(run(env, "tokens", "list", "alice", "--json").output)
    assert rows[0]["scope"] == {"permission": "ro", "profiles": [ids["home"]]}
    plain = run(env, "tokens", "list", "alice").output
    assert f"scope ro on profiles {ids['home']}" in plain

    asyncio.run(use(tmp_path, token, ids))


async def use(tmp_path: Path, token: str, ids: dict[str, int]) -> None:
    async with running_app(tmp_path) as app:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            headers = {"X-API-Key": token}
            profiles = (await c.get("/api/profiles", headers=headers)).json()["profiles"]
            assert [(p["name"], p["level"]) for p in profiles] == [("home", "ro")]
            assert (await c.put(f"/api/profiles/{ids['home']}/labels", headers=headers,
                                json={"labels": ["x"]})).status_code == 403
            assert (await c.get(f"/api/profiles/{ids['away']}/labels",
                                headers=headers)).status_code == 403
