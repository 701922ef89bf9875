"""End to end behind real nginx with AUTH.md's Tinyauth ``auth_request`` configuration.

nginx (Debian package) listens on a free loopback port; pyTorrent runs under
uvicorn on 127.0.0.1 and trusts only 127.0.0.2, the address nginx connects from
(``proxy_bind``); a stand-in answers Tinyauth's ``/api/auth/nginx``. A missing
nginx fails the test rather than skipping it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pytest
import socketio
from support.forward_auth import Account, ForwardAuth
from support.nginx import NginxProcess, proxy_to, run_nginx

from pytorrent_core.testing import ServerProcess

pytestmark = pytest.mark.nginx

NGINX_ADDRESS = "127.0.0.2"
ENV = {
    "PYTORRENT_AUTH_ENABLE": "true",
    "PYTORRENT_AUTH_PROVIDER": "tinyauth",
    "PYTORRENT_AUTH_PROXY_USER_HEADER": "Remote-User",
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true",
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE_ROLE": "user",
    "PYTORRENT_AUTH_PROXY_AUTO_CREATE_PERMISSION": "rw",
    "PYTORRENT_AUTH_TRUSTED_PROXIES": f"{NGINX_ADDRESS}/32",
}


def tinyauth_vhost(app: ServerProcess, auth: ForwardAuth) -> str:
    """AUTH.md's example vhost with loopback addresses, plus websocket proxying."""
    return f"""
        location / {{
            {proxy_to(app.url, bind=NGINX_ADDRESS)}
            auth_request /tinyauth;
            error_page 401 = @tinyauth_login;
            auth_request_set $redirection_url $upstream_http_x_tinyauth_location;
            auth_request_set $auth_user $upstream_http_remote_user;
            proxy_set_header Remote-User $auth_user;
            # Tinyauth's other identity headers, stored on the user when present.
            auth_request_set $auth_name $upstream_http_remote_name;
            auth_request_set $auth_email $upstream_http_remote_email;
            auth_request_set $auth_groups $upstream_http_remote_groups;
            proxy_set_header Remote-Name $auth_name;
            proxy_set_header Remote-Email $auth_email;
            proxy_set_header Remote-Groups $auth_groups;
        }}
        location /tinyauth {{
            proxy_pass {auth.check_url};
            proxy_bind {NGINX_ADDRESS};
            proxy_set_header x-forwarded-proto $scheme;
            proxy_set_header x-forwarded-host $http_host;
            proxy_set_header x-forwarded-uri $request_uri;
        }}
        location @tinyauth_login {{
            return 302 {auth.login_url}?redirect_uri=$scheme://$http_host$request_uri;
        }}
    """


@dataclass
class Stack:
    app: ServerProcess
    auth: ForwardAuth
    nginx: NginxProcess

    def users(self, username: str) -> list[tuple[str, str, str | None, str | None, int]]:
        database = Path(self.app.env["PYTORRENT_DATA_DIR"]) / "pytorrent.db"
        with sqlite3.connect(database) as conn:
            return conn.execute(
                "SELECT username, role, provider, display_name, active FROM users "
                "WHERE username_key = ?", (username.lower(),)).fetchall()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("nginx-e2e")
    with ForwardAuth() as auth, ServerProcess(tmp_path, ENV, host="127.0.0.1") as app, \
            run_nginx(tmp_path, tinyauth_vhost(app, auth)) as nginx:
        yield Stack(app, auth, nginx)


def test_unauthenticated_browser_is_sent_to_the_login_url(stack: Stack) -> None:
    reply = httpx.get(f"{stack.nginx.url}/torrents?x=1", follow_redirects=False)
    assert reply.status_code == 302
    asked = f"{stack.nginx.url}/torrents?x=1"
    assert reply.headers["location"] == f"{stack.auth.login_url}?redirect_uri={asked}"
    # Forging the header does not get past nginx either.
    forged = httpx.get(f"{stack.nginx.url}/", headers={"Remote-User": "admin"},
                       follow_redirects=False)
    assert forged.status_code == 302
    assert stack.users("admin")[0][1] == "admin"  # untouched built-in admin
    check = [seen for seen in stack.auth.seen if seen.path.startswith("/api/auth/nginx")]
    assert check and check[-1].headers.get("x-forwarded-uri") == "/"
    assert "/torrents?x=1" in {seen.headers.get("x-forwarded-uri") for seen in check}


def test_signed_in_browser_gets_pytorrent_as_that_user(stack: Stack) -> None:
    cookie = stack.auth.sign_in(Account("Alice", name="Alice Liddell",
                                        email="alice@example.com", groups=("media",)))
    assert stack.users("alice") == []
    page = httpx.get(f"{stack.nginx.url}/", headers={"Cookie": cookie})
    assert page.status_code == 200
    assert '<span id="username">Alice</span>' in page.text
    assert 'action="/logout"' not in page.text  # provider-owned logout: no button
    me = httpx.get(f"{stack.nginx.url}/api/auth/me", headers={"Cookie": cookie}).json()
    assert me["provider"] == "tinyauth"
    assert me["user"]["via"] == "provider"
    assert me["user"]["role"] == "user"
    assert me["user"]["permissions"] == {"*": "full"}  # AUTO_CREATE_PERMISSION=rw
    assert me["user"]["email"] == "alice@example.com"
    assert stack.users("alice") == [("Alice", "user", "tinyauth", "Alice Liddell", 1)]
    # A header the browser forges is replaced by nginx with the one Tinyauth vouched for.
    forged = httpx.get(f"{stack.nginx.url}/api/auth/me",
                       headers={"Cookie": cookie, "Remote-User": "admin"}).json()
    assert forged["user"]["username"] == "Alice"
    # nginx reached the forward-auth service from the proxy_bind address.
    assert {seen.peer for seen in stack.auth.seen} == {NGINX_ADDRESS}


def test_signing_out_at_the_provider_ends_access_at_once(stack: Stack) -> None:
    cookie = stack.auth.sign_in(Account("bob"))
    assert httpx.get(f"{stack.nginx.url}/api/auth/me",
                     headers={"Cookie": cookie}).status_code == 200
    stack.auth.sign_out(cookie)
    reply = httpx.get(f"{stack.nginx.url}/", headers={"Cookie": cookie},
                      follow_redirects=False)
    assert reply.status_code == 302
    assert reply.headers["location"].startswith(stack.auth.login_url)


async def test_socketio_websocket_through_nginx_connects_as_that_user(stack: Stack) -> None:
    cookie = stack.auth.sign_in(Account("carol"))
    client = socketio.AsyncClient(reconnection=False)
    try:
        # WebSocket only, to nginx's port: connecting at all means nginx upgraded the
        # request (101) and relayed it. "via provider" means pyTorrent got it from
        # nginx's address, the only trusted one, with the user Tinyauth vouched for.
        # Not nginx's access log: it gets the line only after both sides have closed.
        await client.connect(stack.nginx.url, transports=["websocket"],
                             headers={"Cookie": cookie}, wait_timeout=10)
        assert client.transport() == "websocket"
        answer = await client.call("whoami", timeout=10)
        assert answer == {"username": "carol", "role": "user", "via": "provider"}
    finally:
        await client.disconnect()


async def test_socketio_without_provider_session_is_refused(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        client = socketio.AsyncClient(reconnection=False, http_session=session)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(stack.nginx.url, transports=["websocket"],
                                 headers={"Remote-User": "admin"}, wait_timeout=10)
        assert not client.connected


def test_forged_header_sent_straight_to_pytorrent_is_refused(stack: Stack) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.1")
    with httpx.Client(transport=transport) as direct:
        api = direct.get(f"{stack.app.url}/api/auth/me", headers={"Remote-User": "admin"})
        # Claiming to come through nginx changes nothing: the peer is the TCP peer.
        spoofed = direct.get(f"{stack.app.url}/api/auth/me", headers={
            "Remote-User": "admin", "X-Forwarded-For": NGINX_ADDRESS, "X-Real-IP": NGINX_ADDRESS,
            "Forwarded": f"for={NGINX_ADDRESS}"})
        page = direct.get(f"{stack.app.url}/", headers={"Remote-User": "mallory"})
    assert api.status_code == 401
    assert spoofed.status_code == 401
    assert page.status_code == 401
    assert "127.0.0.1" in page.text  # the page names the peer it did not trust
    assert stack.users("mallory") == []
    assert "ignored Remote-User header from 127.0.0.1" in stack.app.log()
    # The same request from nginx's address is believed: trust is by TCP peer only.
    with httpx.Client(transport=httpx.HTTPTransport(local_address=NGINX_ADDRESS)) as proxy:
        believed = proxy.get(f"{stack.app.url}/api/auth/me", headers={"Remote-User": "dave"})
    assert believed.status_code == 200
    assert believed.json()["user"]["username"] == "dave"


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.browser
async def test_connection_badge_goes_online_behind_tinyauth(stack: Stack) -> None:
    """AUTH.md "Connection badge behind Tinyauth", in a real browser through nginx."""
    from playwright.async_api import async_playwright

    name, _, value = stack.auth.sign_in(Account("erin")).partition("=")
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context()
            await context.add_cookies([{"name": name, "value": value,
                                        "url": stack.nginx.url}])
            page = await context.new_page()
            await page.goto(f"{stack.nginx.url}/")
            assert await page.text_content("#username") == "erin"
            await page.wait_for_selector("#connection-badge[data-state='online']",
                                         timeout=15000)
            assert await page.locator("#logout").count() == 0
        finally:
            await browser.close()
