"""Admin pages are for admins: the pages, the links to them, and the all-tokens list."""

from __future__ import annotations

import pytest

from pytorrent_core.access.policy import Need, need_of
from pytorrent_core.testing import issue_token, session_cookie
from pytorrent_core.web.app import PyTorrentApp

PAGES = ["/admin/users", "/admin/profiles", "/admin/tokens", "/admin/audit", "/admin/users/1"]


async def test_every_admin_route_needs_the_admin_role(app: PyTorrentApp) -> None:
    for endpoint in ("admin.admin_index", "admin.admin_users", "admin.admin_profiles",
                     "admin.admin_tokens", "admin.admin_audit", "admin.admin_user",
                     "tokens.list_all_tokens", "sessions.list_of_user", "sessions.end_of_user",
                     "sessions.end_all_of_user"):
        assert need_of(app.quart.view_functions[endpoint]) is Need.ADMIN, endpoint


@pytest.mark.parametrize("path", PAGES)
async def test_admin_sees_the_page_and_a_user_gets_403(app: PyTorrentApp, path: str) -> None:
    store = app.services.store
    admin = await store.create_user("boss", role="admin")
    user = await store.create_user("plain", role="user")
    client = app.quart.test_client()
    page = await client.get(path, headers={"Cookie": session_cookie(app, admin)})
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert 'id="nav-admin"' in html and "js/admin.js" in html
    refused = await client.get(path, headers={"Cookie": session_cookie(app, user)})
    assert refused.status_code == 403
    anonymous = await client.get(path)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


async def test_a_users_page_names_them_and_an_unknown_user_is_404(app: PyTorrentApp) -> None:
    store = app.services.store
    admin = await store.create_user("boss", role="admin")
    dana = await store.create_user("dana", display_name="Dana <Scully>")
    client = app.quart.test_client()
    cookie = {"Cookie": session_cookie(app, admin)}
    page = await client.get(f"/admin/users/{dana.id}", headers=cookie)
    html = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-user-id="{dana.id}"' in html and 'id="user-sessions"' in html
    assert "Dana &lt;Scully&gt;" in html and "<Scully>" not in html
    assert 'href="/admin/users" aria-current="page"' in html
    missing = await client.get("/admin/users/999", headers=cookie)
    assert missing.status_code == 404


async def test_the_menu_links_admin_only_for_admins(app: PyTorrentApp) -> None:
    store = app.services.store
    user = await store.create_user("plain", role="user")
    client = app.quart.test_client()
    html = await (await client.get("/account", headers={
        "Cookie": session_cookie(app, user)})).get_data(as_text=True)
    assert 'id="nav-account"' in html
    assert 'id="nav-admin"' not in html
    assert "<script>" not in html and " style=" not in html and "onclick" not in html


async def test_all_tokens_lists_every_owner_for_admins_only(app: PyTorrentApp) -> None:
    store = app.services.store
    admin = await store.create_user("boss", role="admin")
    user = await store.create_user("plain", role="user")
    await issue_token(store, admin.id, "boss's")
    user_token = await issue_token(store, user.id, "plain's")
    client = app.quart.test_client()
    listed = await client.get("/api/auth/tokens", headers={"Cookie": session_cookie(app, admin)})
    assert listed.status_code == 200
    rows = (await listed.get_json())["tokens"]
    assert {(row["username"], row["name"]) for row in rows} == {("boss", "boss's"),
                                                                 ("plain", "plain's")}
    assert all("digest" not in row and "token" not in row for row in rows)
    refused = await client.get("/api/auth/tokens",
                               headers={"Authorization": f"Bearer {user_token}"})
    assert refused.status_code == 403


async def test_the_favicon_is_served_at_the_root_without_signing_in(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    body = await icon.get_data()
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert icon.headers["Content-Type"] in ("image/vnd.microsoft.icon", "image/x-icon")
