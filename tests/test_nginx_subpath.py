"""pyTorrent under a sub-path of real nginx: ``location /pytorrent/ { proxy_pass .../; }``.

nginx strips ``/pytorrent`` and says so in ``X-Forwarded-Prefix``; pyTorrent
(``PYTORRENT_PROXY_FIX_ENABLE``, trusting only nginx's ``proxy_bind`` address)
must put the prefix back on every link, form, asset, redirect and on the
Socket.IO path its pages use.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import socketio
from support.nginx import NginxProcess, proxy_to, run_nginx

from pytorrent_core.testing import ServerProcess, socketio_client

pytestmark = [pytest.mark.nginx, pytest.mark.server]

NGINX_ADDRESS = "127.0.0.2"
ENV = {"PYTORRENT_PROXY_FIX_ENABLE": "true",
       "PYTORRENT_AUTH_TRUSTED_PROXIES": f"{NGINX_ADDRESS}/32"}
PASSWORD = "nina-Pass-1"
URLS = re.compile(r'(?:href|src|action|content)="([^"]*)"')


def subpath_vhost(app: ServerProcess) -> str:
    return f"""
        location /pytorrent/ {{
            {proxy_to(app.url, bind=NGINX_ADDRESS, path="/")}
            proxy_set_header X-Forwarded-Prefix /pytorrent;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
        }}
    """


@dataclass
class Stack:
    app: ServerProcess
    nginx: NginxProcess

    @property
    def base(self) -> str:
        return f"{self.nginx.url}/pytorrent"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.nginx.url, headers={"Origin": self.nginx.url},
                            timeout=15)

    def sign_in(self, client: httpx.Client, username: str, password: str) -> httpx.Response:
        return client.post("/pytorrent/login", data={"username": username,
                                                     "password": password, "next": "/"})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("nginx-subpath")
    with ServerProcess(tmp_path, ENV) as app, run_nginx(tmp_path, subpath_vhost(app)) as nginx:
        added = app.cli("users", "add", "nina", "--password", PASSWORD)
        assert added.returncode == 0, added.stderr
        yield Stack(app, nginx)


def local_urls(html: str) -> list[str]:
    return [url for url in URLS.findall(html) if url.startswith("/")]


def test_login_page_and_its_assets_carry_the_prefix(stack: Stack) -> None:
    with stack.client() as client:
        start = client.get("/pytorrent/")
        assert start.status_code == 302
        assert start.headers["location"] == "/pytorrent/login?next=/"
        login = client.get("/pytorrent/login")
        assert login.status_code == 200
        assert 'action="/pytorrent/login"' in login.text
        urls = local_urls(login.text)
        assert urls and all(url.startswith("/pytorrent/") for url in urls), urls
        for url in urls:
            reply = client.get(url)
            if "/static/" in url:
                assert reply.status_code == 200, url
            else:  # the logo's link home, which sends a visitor to sign in, under the prefix
                assert reply.status_code in (200, 302), url
                assert reply.headers.get("location", "/pytorrent/").startswith("/pytorrent/")


def test_signed_in_pages_links_forms_assets_and_socket_path(stack: Stack) -> None:
    with stack.client() as client:
        signed_in = stack.sign_in(client, "nina", PASSWORD)
        assert signed_in.status_code == 302
        assert signed_in.headers["location"] == "/pytorrent/"
        for path in ("/pytorrent/", "/pytorrent/account"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert '<span id="username">nina</span>' in page.text
            assert 'action="/pytorrent/logout"' in page.text
            assert '<meta name="pytorrent-socket-path" content="/pytorrent/socket.io">' \
                in page.text
            urls = local_urls(page.text)
            assert all(url.startswith("/pytorrent/") for url in urls), (path, urls)
            for url in {url for url in urls if "/static/" in url}:
                assert client.get(url).status_code == 200, url
        logout = client.post("/pytorrent/logout")
        assert logout.status_code == 302
        assert logout.headers["location"] == "/pytorrent/login"
        assert client.get("/pytorrent/api/auth/me").status_code == 401


def test_first_start_password_change_keeps_the_prefix(stack: Stack) -> None:
    found = re.search(r"one-time password: (\S+)", stack.app.log())
    assert found, stack.app.log()
    with stack.client() as client:
        signed_in = stack.sign_in(client, "admin", found.group(1))
        assert signed_in.status_code == 302
        page = client.get("/pytorrent/")
        assert page.status_code == 302
        assert page.headers["location"] == "/pytorrent/account"


def session_cookie(stack: Stack, username: str, password: str) -> str:
    with stack.client() as client:
        assert stack.sign_in(client, username, password).status_code == 302
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def test_socketio_websocket_under_the_prefix_connects_as_that_user(stack: Stack) -> None:
    cookie = session_cookie(stack, "nina", PASSWORD)
    async with socketio_client() as sio:
        await sio.connect(stack.nginx.url, socketio_path="/pytorrent/socket.io",
                          transports=["websocket"],
                          headers={"Cookie": cookie, "Origin": stack.nginx.url},
                          wait_timeout=15)
        assert sio.transport() == "websocket"
        answer = await sio.call("whoami", timeout=15)
        assert answer == {"username": "nina", "role": "user", "via": "session"}
    async with socketio_client() as anonymous:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await anonymous.connect(stack.nginx.url, socketio_path="/pytorrent/socket.io",
                                    transports=["websocket"], wait_timeout=15)


def connect_by_polling(stack: Stack, cookie: str | None) -> str:
    """Engine.IO handshake and Socket.IO CONNECT over long-polling, as a browser starts;
    returns the server's answer to CONNECT (40... accepted, 44... refused)."""
    headers = {"Cookie": cookie} if cookie else {}
    with stack.client() as client:
        query = {"EIO": "4", "transport": "polling"}
        opened = client.get("/pytorrent/socket.io/", params=query, headers=headers)
        assert opened.status_code == 200 and opened.text.startswith("0"), opened.text
        query["sid"] = json.loads(opened.text[1:])["sid"]
        sent = client.post("/pytorrent/socket.io/", params=query, headers=headers,
                           content=b"40")
        assert sent.status_code == 200, sent.text
        answer = client.get("/pytorrent/socket.io/", params=query, headers=headers).text
        client.post("/pytorrent/socket.io/", params=query, headers=headers, content=b"1")
        return answer


def test_socketio_polling_under_the_prefix_connects_as_that_user(stack: Stack) -> None:
    assert connect_by_polling(stack, session_cookie(stack, "nina", PASSWORD)).startswith("40")
    assert connect_by_polling(stack, None).startswith("44")


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.browser
async def test_browser_signs_in_goes_online_and_logs_out_under_the_prefix(
        stack: Stack) -> None:
    from playwright.async_api import async_playwright, expect

    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{stack.base}/")
            await expect(page).to_have_url(f"{stack.base}/login?next=/")
            await page.fill("#username", "nina")
            await page.fill("#password", PASSWORD)
            await page.click("#sign-in")
            await expect(page).to_have_url(f"{stack.base}/")
            badge = page.locator("#connection-badge")
            await expect(badge).to_have_attribute("data-state", "online", timeout=15_000)
            await page.click("#logout")
            await expect(page).to_have_url(f"{stack.base}/login")
            assert errors == []
        finally:
            await browser.close()
