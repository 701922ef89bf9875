"""Groups and break glass through a real server: ``pytorrent serve`` behind real nginx with
AUTH.md's Tinyauth vhost, whose forward-auth stand-in sends ``Remote-Groups``.

A change of the account's groups at the identity provider takes effect at the next
sign-in; with the provider unusable, a named local user still gets in directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from support.forward_auth import Account, ForwardAuth
from support.nginx import NginxProcess, run_nginx
from test_nginx_e2e import ENV, tinyauth_vhost

from pytorrent_core.testing import ServerProcess, socketio_client

pytestmark = pytest.mark.nginx

ADMIN_PASSWORD = "admin-Pass-1"
GROUPS_ENV = {
    **ENV,
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "none",
    "PYTORRENT_AUTH_ADMIN_GROUPS": "ops",
    "PYTORRENT_AUTH_GROUP_PERMISSIONS": json.dumps(
        {"media": {"nas": "full", "seedbox": "ro"}, "ghosts": {"attic": "ro"}}),
    "PYTORRENT_AUTH_BREAK_GLASS_USERS": "admin",
}


@dataclass
class Stack:
    app: ServerProcess
    auth: ForwardAuth
    nginx: NginxProcess
    profiles: dict[str, int]

    def me(self, account: Account) -> dict:
        """Sign in at the provider as ``account`` (a new sign-in) and ask who we are."""
        cookie = self.auth.sign_in(account)
        reply = httpx.get(f"{self.nginx.url}/api/auth/me", headers={"Cookie": cookie})
        assert reply.status_code == 200, reply.text
        return reply.json()["user"]

    def visible(self, account: Account) -> set[str]:
        cookie = self.auth.sign_in(account)
        reply = httpx.get(f"{self.nginx.url}/api/profiles", headers={"Cookie": cookie})
        assert reply.status_code == 200, reply.text
        return {profile["name"] for profile in reply.json()["profiles"]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("groups-nginx")
    with ForwardAuth() as auth, ServerProcess(tmp_path, GROUPS_ENV) as app, \
            run_nginx(tmp_path, tinyauth_vhost(app, auth)) as nginx:
        profiles = {}
        for number, name in enumerate(("nas", "seedbox", "other")):
            added = app.cli("profiles", "add", name, f"scgi://127.0.0.1:{5000 + number}")
            assert added.returncode == 0, added.stderr
        listed = app.cli("profiles", "list", "--json")
        profiles = {row["name"]: row["id"] for row in json.loads(listed.stdout)}
        reset = app.cli("reset-password", "admin", ADMIN_PASSWORD)
        assert reset.returncode == 0, reset.stderr
        yield Stack(app, auth, nginx, profiles)


def test_a_group_change_takes_effect_at_the_next_sign_in(stack: Stack) -> None:
    nas, seedbox = stack.profiles["nas"], stack.profiles["seedbox"]
    user = stack.me(Account("dana", name="Dana", groups=("media",)))
    assert (user["role"], user["groups"]) == ("user", ["media"])
    assert user["permissions"] == {str(nas): "full", str(seedbox): "ro"}
    assert stack.visible(Account("dana", groups=("media",))) == {"nas", "seedbox"}

    user = stack.me(Account("dana", name="Dana", groups=("media", "ops")))
    assert user["role"] == "admin"
    assert stack.visible(Account("dana", groups=("media", "ops"))) == {"nas", "seedbox",
                                                                       "other"}

    user = stack.me(Account("dana"))  # out of every group; no name sent either
    assert (user["role"], user["permissions"], user["groups"]) == ("user", {}, [])
    assert user["display_name"] is None
    assert stack.visible(Account("dana")) == set()


def test_doctor_prints_the_mapping_and_warns(stack: Stack) -> None:
    result = stack.app.cli("auth", "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "ok    groups: members of 'ops' become admins (PYTORRENT_AUTH_ADMIN_GROUPS)" in lines
    assert ("ok    groups: members of 'media' get 'nas': full, 'seedbox': ro "
            "(PYTORRENT_AUTH_GROUP_PERMISSIONS)") in lines
    assert any(line.startswith("WARN") and "ghosts -> attic names no profile" in line
               for line in lines)
    assert any(line.startswith("WARN") and "break-glass sign-in is on" in line
               for line in lines)


def test_start_up_warned_about_the_unknown_profile_and_break_glass(stack: Stack) -> None:
    log = stack.app.log()
    assert "ghosts -> attic names no profile" in log
    assert "break-glass sign-in is on (PYTORRENT_AUTH_BREAK_GLASS_USERS=admin)" in log


def test_break_glass_gets_the_owner_in_while_the_provider_is_down(stack: Stack) -> None:
    # nginx sends everything through forward auth; with it down, the owner goes direct.
    base = stack.app.url
    origin = {"Origin": base}
    with httpx.Client(base_url=base, headers=origin) as client:
        assert client.get("/api/auth/me").status_code == 401
        refused = client.post("/login/local", data={"username": "admin",
                                                     "password": "wrong-Pass-1"})
        assert refused.status_code == 401
        signed = client.post("/login/local", data={"username": "admin",
                                                    "password": ADMIN_PASSWORD})
        assert signed.status_code == 302
        user = client.get("/api/auth/me").json()["user"]
        assert (user["username"], user["via"], user["admin"]) == ("admin", "session", True)
        assert client.post("/logout").headers["location"] == "/login/local"
        assert client.get("/api/auth/me").status_code == 401


async def test_a_break_glass_session_also_opens_socket_io(stack: Stack) -> None:
    base = stack.app.url
    async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as client:
        signed = await client.post("/login/local", data={"username": "admin",
                                                          "password": ADMIN_PASSWORD})
        assert signed.status_code == 302
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    async with socketio_client() as socket:
        await socket.connect(base, headers={"Cookie": cookie}, transports=["websocket"],
                             wait_timeout=10)
        assert await socket.call("whoami", timeout=10) == {
            "username": "admin", "role": "admin", "via": "session"}
