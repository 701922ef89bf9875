"""The plugin is found through its entry point, and its hooks behave on their own."""

from __future__ import annotations

import asyncio
from importlib import metadata
from pathlib import Path

import pytorrent_auth_local
from argon2 import PasswordHasher

from pytorrent_core import credentials, passwords
from pytorrent_core.plugins import ENTRY_POINT_GROUP, installed_providers, make_plugin_manager
from pytorrent_core.testing import running_app


def test_discovered_through_the_entry_point_group() -> None:
    points = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert points["local"].value == "pytorrent_auth_local"
    assert installed_providers()["local"].distribution == "pytorrent-auth-local"
    pm = make_plugin_manager("local")
    assert pm.get_plugin("local") is pytorrent_auth_local
    names = {impl.plugin_name for impl in pm.hook.pytorrent_authenticate.get_hookimpls()}
    assert "local" in names


def test_logout_is_left_to_core_default() -> None:
    # AUTH.md: local authentication keeps the original logout (core's default).
    assert not hasattr(pytorrent_auth_local, "pytorrent_logout")


def test_login_page_escapes_everything() -> None:
    page = pytorrent_auth_local.login_page.render_login_page(
        error='<script>alert("e")</script>', next_url='/x"><script>alert(1)</script>',
        prefix='/p"><b>')
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert 'value="/x&#34;&gt;&lt;script&gt;' in page
    assert 'action="/p&#34;&gt;&lt;b&gt;/login"' in page


def test_login_page_ignores_a_prefix_that_is_not_a_path() -> None:
    page = pytorrent_auth_local.login_page.render_login_page(
        error=None, next_url="/", prefix="javascript:alert(1)")
    assert 'action="/login"' in page
    assert "javascript" not in page


async def test_rehash_on_login_when_parameters_change(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        store = app.services.store
        weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
        user = await store.create_user("carol", password_hash=weak.hash("carol-Pass-1"))
        old_hash = await store.password_hash(user.id)
        assert passwords.needs_rehash(old_hash)
        facts = _facts()
        found = await pytorrent_auth_local.pytorrent_authenticate(
            "carol", "carol-Pass-1", facts, app.services.provider_context)
        assert found is not None and found.id == user.id
        new_hash = await store.password_hash(user.id)
        assert new_hash != old_hash and not passwords.needs_rehash(new_hash)
        # Same password, so the user's sessions stay valid.
        assert (await store.get_user(user.id)).session_epoch == user.session_epoch
        again = await pytorrent_auth_local.pytorrent_authenticate(
            "carol", "carol-Pass-1", facts, app.services.provider_context)
        assert again is not None


async def test_refuses_inactive_passwordless_unknown_and_empty(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        store = app.services.store
        gone = await store.create_user("dora", password_hash=passwords.hash_password(
            "dora-Pass-1"), active=False)
        await store.create_user("ext", provider="proxy")
        facts = _facts()
        login = pytorrent_auth_local.pytorrent_authenticate
        assert await login("dora", "dora-Pass-1", facts, app.services.provider_context) is None
        assert await login("ext", "", facts, app.services.provider_context) is None
        assert await login("ext", "anything-1", facts, app.services.provider_context) is None
        assert await login("nobody", "anything-1", facts, app.services.provider_context) is None
        assert await login("", "anything-1", facts, app.services.provider_context) is None
        assert gone.active is False


async def test_unknown_users_still_pay_for_a_hash_check(tmp_path: Path, monkeypatch) -> None:
    calls: list[str | None] = []
    real = passwords.verify

    def counting(stored: str | None, password: str) -> bool:
        calls.append(stored)
        return real(stored, password)

    monkeypatch.setattr(credentials, "verify_password", counting)
    async with running_app(tmp_path) as app:
        await pytorrent_auth_local.pytorrent_authenticate(
            "nobody", "anything-1", _facts(), app.services.provider_context)
    assert calls == [None]  # verify(None, ...) checks against a dummy hash


async def test_parallel_checks_are_limited(tmp_path: Path, monkeypatch) -> None:
    running = 0
    peak = 0
    real = passwords.verify

    def slow(stored: str | None, password: str) -> bool:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            return real(stored, password)
        finally:
            running -= 1

    monkeypatch.setattr(credentials, "verify_password", slow)
    async with running_app(tmp_path) as app:
        await asyncio.gather(*(pytorrent_auth_local.pytorrent_authenticate(
            "nobody", f"guess-{n}-xx", _facts(), app.services.provider_context) for n in range(6)))
    assert 1 <= peak <= credentials.KDF_SLOTS


def _facts():
    from werkzeug.datastructures import Headers

    from pytorrent_core.access.facts import RequestFacts

    return RequestFacts(method="POST", path="/login", headers=Headers(), peer="127.0.0.1",
                        peer_trusted=True, raw_host="localhost", host="localhost",
                        scheme="http", client="127.0.0.1")
