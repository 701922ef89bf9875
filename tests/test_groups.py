"""Groups -> the admin role and profile grants, for every provider that sends groups.

Synchronised at each sign-in of a passwordless external user: joining a group gives
what it maps to, leaving it takes that away, and name, e-mail and groups the provider
stops sending are cleared. Users with a pyTorrent password and the built-in admin
keep what an admin set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from pytorrent_core import groups
from pytorrent_core.config import ConfigError
from pytorrent_core.testing import environment, load_for_test, running_app
from pytorrent_core.web.app import PyTorrentApp

pytestmark = pytest.mark.usefixtures("on_every_engine")

TINYAUTH = {"PYTORRENT_AUTH_PROVIDER": "tinyauth", "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true"}
PROXY = {"PYTORRENT_AUTH_PROVIDER": "proxy", "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
         "PYTORRENT_AUTH_PROXY_GROUPS_HEADER": "X-Groups"}
MAPPING = {"PYTORRENT_AUTH_ADMIN_GROUPS": "ops, pytorrent-admins",
           "PYTORRENT_AUTH_GROUP_PERMISSIONS": json.dumps(
               {"media": {"nas": "full", "seedbox": "ro"}, "viewers": {"*": "ro"},
                "guests": {"nas": "none", "attic": "rw"}})}


async def add_profiles(app: PyTorrentApp, *names: str) -> dict[str, int]:
    store = app.services.store
    ids = {}
    for number, name in enumerate(names):
        profile = await store.create_profile(name, f"scgi://127.0.0.1:{5000 + number}")
        ids[name] = profile.id
    return ids


async def sign_in(app: PyTorrentApp, headers: Mapping[str, str]) -> dict:
    reply = await app.quart.test_client().get("/api/auth/me", headers=dict(headers))
    assert reply.status_code == 200, await reply.get_data(as_text=True)
    return (await reply.get_json())["user"]


async def stored(app: PyTorrentApp, name: str):  # noqa: ANN201 - a User
    user = await app.services.store.get_user_by_name(name)
    assert user is not None
    return user, await app.services.store.permissions(user.id)


# ------------------------------------------------------------ settings


def test_group_permissions_from_the_environment_are_json(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, {**TINYAUTH, **MAPPING})
    assert settings.auth_admin_groups == ("ops", "pytorrent-admins")
    assert settings.auth_group_permissions == {
        "media": {"nas": "full", "seedbox": "ro"}, "viewers": {"*": "ro"},
        "guests": {"nas": "none", "attic": "full"}}  # rw is full, as everywhere


def test_group_permissions_from_the_file_are_a_table(tmp_path: Path) -> None:
    (tmp_path / "pytorrent.toml").write_text(
        '[auth]\nprovider = "tinyauth"\nadmin_groups = ["ops"]\n\n'
        '[auth.group_permissions]\n"media" = { "nas" = "full", "seedbox" = "ro" }\n'
        'viewers = { "*" = "RW" }\n', encoding="utf-8")
    settings, _ = load_for_test(tmp_path)
    assert settings.auth_admin_groups == ("ops",)
    assert settings.auth_group_permissions == {"media": {"nas": "full", "seedbox": "ro"},
                                               "viewers": {"*": "full"}}
    assert settings.sources["auth.group_permissions"].kind == "file"


@pytest.mark.parametrize(("value", "message"), [
    ("media:nas=full", "expected a JSON object such as"),
    ('["media"]', "expected a table of group"),
    ('{"media": "full"}', "group 'media': expected a table of profile = level"),
    ('{"media": {"nas": "write"}}', "group 'media', profile 'nas': expected one of: none, ro"),
    ('{" ": {"nas": "ro"}}', "a group name is empty"),
    ('{"media": {"": "ro"}}', "group 'media': a profile name is empty"),
])
def test_bad_group_permissions_name_the_setting_and_the_fix(tmp_path: Path, value: str,
                                                            message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_for_test(tmp_path, {**TINYAUTH, "PYTORRENT_AUTH_GROUP_PERMISSIONS": value})
    text = str(caught.value)
    assert text.startswith("PYTORRENT_AUTH_GROUP_PERMISSIONS=")
    assert "(environment)" in text and message in text
    assert "\n" not in text


def test_bad_group_permissions_in_the_file_name_the_key(tmp_path: Path) -> None:
    (tmp_path / "pytorrent.toml").write_text(
        '[auth.group_permissions]\nmedia = { nas = "all" }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^auth\.group_permissions = .*\(file .*\): "
                                          r"group 'media', profile 'nas': expected one of"):
        load_for_test(tmp_path, TINYAUTH)


def test_an_unknown_key_beside_the_table_is_still_refused(tmp_path: Path) -> None:
    (tmp_path / "pytorrent.toml").write_text(
        '[auth]\nadmin_grups = ["ops"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="auth.admin_grups .*unknown setting"):
        load_for_test(tmp_path, TINYAUTH)


def test_proxy_groups_header_is_declared_for_bypass_and_doctor(tmp_path: Path) -> None:
    settings, plugins = load_for_test(tmp_path, PROXY)
    info = plugins.provider_info(settings)
    assert info.headers == ("Remote-User", "X-Groups")
    assert info.identity_fields == ("groups",)
    bare, plugins = load_for_test(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "proxy"})
    assert plugins.provider_info(bare).headers == ("Remote-User",)
    assert plugins.provider_info(bare).identity_fields == ()


async def test_a_request_carrying_the_proxy_groups_header_is_never_bypassed(
        tmp_path: Path) -> None:
    async with running_app(tmp_path, {**PROXY, "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11"}
                           ) as app:
        client = app.quart.test_client()
        plain = await client.get("/api/auth/me", headers={"Host": "10.11.1.11"})
        assert (await plain.get_json())["user"]["via"] == "bypass"
        grouped = await client.get("/api/auth/me", headers={"Host": "10.11.1.11",
                                                             "X-Groups": "ops"})
        assert grouped.status_code == 401


def test_proxy_groups_header_must_be_a_header_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PYTORRENT_AUTH_PROXY_GROUPS_HEADER=.*HTTP header"):
        load_for_test(tmp_path, {**PROXY, "PYTORRENT_AUTH_PROXY_GROUPS_HEADER": "X Groups"})


# ------------------------------------------------------------ the mapping itself


@pytest.mark.parametrize(("member_of", "role", "grants"), [
    ((), "user", {}),
    (("media",), "user", {1: "full", 2: "ro"}),
    (("viewers",), "user", {None: "ro"}),
    (("viewers", "media"), "user", {None: "ro", 1: "full"}),  # ro everywhere is enough on 2
    (("guests",), "user", {3: "full"}),  # none gives nothing; "attic" is profile 3
    (("ops", "media"), "admin", {}),
    (("Ops",), "user", {}),  # exactly as the provider sends them
    (("unmapped",), "user", {}),
])
def test_desired_role_and_grants(tmp_path: Path, member_of: tuple[str, ...], role: str,
                                 grants: dict) -> None:
    settings, _ = load_for_test(tmp_path, {**TINYAUTH, **MAPPING})
    want = groups.desired(settings, member_of, {"nas": 1, "seedbox": 2, "attic": 3})
    assert (want.role, dict(want.grants)) == (role, grants)


def test_auto_create_permission_is_the_floor(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, {
        **TINYAUTH, **MAPPING, "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "ro"})
    assert dict(groups.desired(settings, ("media",), {"nas": 1, "seedbox": 2}).grants) == {
        None: "ro", 1: "full"}
    assert dict(groups.desired(settings, (), {"nas": 1}).grants) == {None: "ro"}


def test_unknown_profile_names_are_listed(tmp_path: Path) -> None:
    settings, _ = load_for_test(tmp_path, {**TINYAUTH, **MAPPING})
    assert groups.unknown_profiles(settings, ["nas"]) == [
        "media -> seedbox", "guests -> attic"]


# ------------------------------------------------------------ sync at sign-in


@pytest.mark.parametrize(("provider_env", "header"), [(TINYAUTH, "Remote-Groups"),
                                                      (PROXY, "X-Groups")])
async def test_joining_and_leaving_groups_changes_access_at_next_sign_in(
        tmp_path: Path, provider_env: dict, header: str) -> None:
    async with running_app(tmp_path, {**provider_env, **MAPPING}) as app:
        ids = await add_profiles(app, "nas", "seedbox")
        alice = {"Remote-User": "alice"}
        user = await sign_in(app, {**alice, header: "media"})
        assert user["role"] == "user"
        _, grants = await stored(app, "alice")
        assert grants == {ids["nas"]: "full", ids["seedbox"]: "ro"}

        user = await sign_in(app, {**alice, header: "media, ops"})
        assert user["role"] == "admin"
        assert (await stored(app, "alice"))[1] == {}

        user = await sign_in(app, {**alice, header: "viewers"})
        assert user["role"] == "user"  # leaving the admin group takes admin away
        assert (await stored(app, "alice"))[1] == {None: "ro"}

        await sign_in(app, alice)  # no groups at all
        account, grants = await stored(app, "alice")
        assert grants == {} and account.groups == ()


async def test_a_new_user_gets_what_their_groups_give(tmp_path: Path) -> None:
    async with running_app(tmp_path, {**TINYAUTH, **MAPPING}) as app:
        ids = await add_profiles(app, "nas")
        user = await sign_in(app, {"Remote-User": "bob", "Remote-Groups": "media"})
        assert user["role"] == "user"
        assert (await stored(app, "bob"))[1] == {ids["nas"]: "full"}
        await sign_in(app, {"Remote-User": "carol", "Remote-Groups": "pytorrent-admins"})
        assert (await stored(app, "carol"))[0].role == "admin"


async def test_a_profile_created_later_is_granted_at_the_next_request(tmp_path: Path) -> None:
    async with running_app(tmp_path, {**TINYAUTH, **MAPPING}) as app:
        headers = {"Remote-User": "dave", "Remote-Groups": "media"}
        await sign_in(app, headers)
        assert (await stored(app, "dave"))[1] == {}
        ids = await add_profiles(app, "nas")
        await sign_in(app, headers)
        assert (await stored(app, "dave"))[1] == {ids["nas"]: "full"}


async def test_name_email_and_groups_are_cleared_when_no_longer_sent(tmp_path: Path) -> None:
    async with running_app(tmp_path, TINYAUTH) as app:
        full = {"Remote-User": "erin", "Remote-Name": "Erin", "Remote-Email": "e@example.com",
                "Remote-Groups": "media"}
        await sign_in(app, full)
        user, _ = await stored(app, "erin")
        assert (user.display_name, user.email, user.groups) == ("Erin", "e@example.com",
                                                                ("media",))
        shown = await sign_in(app, {"Remote-User": "erin"})
        assert shown["display_name"] is None
        user, _ = await stored(app, "erin")
        assert (user.display_name, user.email, user.groups) == (None, None, ())


async def test_the_proxy_provider_leaves_names_an_admin_set(tmp_path: Path) -> None:
    async with running_app(tmp_path, {**PROXY, **MAPPING}) as app:
        await sign_in(app, {"Remote-User": "fay", "X-Groups": "viewers"})
        user, _ = await stored(app, "fay")
        await app.services.store.update_user(user.id, display_name="Fay F.",
                                             email="fay@example.com")
        await sign_in(app, {"Remote-User": "fay"})
        user, grants = await stored(app, "fay")
        assert (user.display_name, user.email, user.groups) == ("Fay F.", "fay@example.com", ())
        assert grants == {}


async def test_users_with_a_password_and_the_builtin_admin_are_not_managed_by_groups(
        tmp_path: Path) -> None:
    async with running_app(tmp_path, {**TINYAUTH, **MAPPING}) as app:
        ids = await add_profiles(app, "nas", "seedbox")
        store = app.services.store
        local = await store.create_user("gina", password_hash="x" * 20,
                                        permissions={ids["seedbox"]: "full"})
        await sign_in(app, {"Remote-User": "gina", "Remote-Groups": "media,ops"})
        user, grants = await stored(app, "gina")
        assert user.role == "user" and grants == {ids["seedbox"]: "full"}
        assert user.id == local.id
        await sign_in(app, {"Remote-User": "admin", "Remote-Groups": "viewers"})
        admin, _ = await stored(app, "admin")
        assert admin.role == "admin" and admin.builtin


async def test_a_grant_set_by_hand_on_a_group_managed_user_lasts_until_next_sign_in(
        tmp_path: Path) -> None:
    async with running_app(tmp_path, {**TINYAUTH, **MAPPING}) as app:
        ids = await add_profiles(app, "nas", "seedbox")
        headers = {"Remote-User": "hank", "Remote-Groups": "viewers"}
        await sign_in(app, headers)
        user, _ = await stored(app, "hank")
        await app.services.store.set_permissions(user.id, {ids["nas"]: "full"})
        await sign_in(app, headers)
        assert (await stored(app, "hank"))[1] == {None: "ro"}


async def test_a_role_set_by_hand_is_undone_by_the_next_request_after_signing_in_many(
        tmp_path: Path) -> None:
    """A header provider signs in on every request; the sync check is remembered
    between them, and a change to the user must still be seen at the next one."""
    async with running_app(tmp_path, {**TINYAUTH, **MAPPING}) as app:
        headers = {"Remote-User": "ivan", "Remote-Groups": "viewers"}
        for _ in range(3):
            assert (await sign_in(app, headers))["role"] == "user"
        user, _ = await stored(app, "ivan")
        await app.services.store.update_user(user.id, role="admin")
        assert (await sign_in(app, headers))["role"] == "user"
        assert (await stored(app, "ivan"))[0].role == "user"


async def test_group_changes_are_in_the_audit_log(tmp_path: Path) -> None:
    async with running_app(tmp_path, {**TINYAUTH, **MAPPING}) as app:
        await sign_in(app, {"Remote-User": "ivy", "Remote-Groups": "viewers"})
        await sign_in(app, {"Remote-User": "ivy", "Remote-Groups": "ops"})
        await app.services.audit.flush()
        events = await app.services.store.audit_events(user="ivy")
        kinds = {(event["action"], event["actor"]) for event in events}
        assert ("user.role", "provider:tinyauth") in kinds


# ------------------------------------------------------------ auth doctor


def doctor(tmp_path: Path, env: dict[str, str]) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "pytorrent.cli", "auth", "doctor"],
                            env=environment(tmp_path, env), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_doctor_prints_the_mapping(tmp_path: Path) -> None:
    lines = doctor(tmp_path, {**TINYAUTH, **MAPPING})
    assert ("ok    groups: members of 'ops', 'pytorrent-admins' become admins "
            "(PYTORRENT_AUTH_ADMIN_GROUPS)") in lines
    assert ("ok    groups: members of 'viewers' get every profile: ro "
            "(PYTORRENT_AUTH_GROUP_PERMISSIONS)") in lines
    assert not any(line.startswith("WARN") and "groups" in line for line in lines)


def test_doctor_warns_when_the_provider_sends_no_groups(tmp_path: Path) -> None:
    bare_proxy = {"PYTORRENT_AUTH_PROVIDER": "proxy", **MAPPING}
    assert any(line.startswith("WARN") and "the proxy provider sends no groups" in line
               and "PYTORRENT_AUTH_PROXY_GROUPS_HEADER" in line
               for line in doctor(tmp_path, bare_proxy))
    assert any(line.startswith("WARN") and "do nothing with the local provider" in line
               for line in doctor(tmp_path, MAPPING))
