"""Direct-IP bypass behind real nginx: a proxied request never inherits the bypass, even when
nginx sends the bypass Host upstream (``proxy_set_header Host $proxy_host``, nginx's default).

pyTorrent listens on 127.0.0.1:<port> and lists exactly that as a bypass host, so a
request reaching it straight is the built-in admin. nginx runs the external-providers
test's Tinyauth vhost, changed only to send ``Host $proxy_host`` (= 127.0.0.1:<port>)
and the usual X-Forwarded-For / X-Real-IP; extra locations proxy without any auth.
A log of ``$proxy_host`` proves the Host nginx sent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import socketio
from support.forward_auth import Account, ForwardAuth
from support.nginx import NginxProcess, proxy_to, run_nginx
from test_nginx_e2e import ENV, NGINX_ADDRESS, tinyauth_vhost

from pytorrent_core.testing import ServerProcess, free_port, socketio_client

pytestmark = pytest.mark.nginx

FORWARDING = """
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Real-IP $remote_addr;"""
# Locations without any authentication in front: only the forwarding headers differ.
PLAIN = {
    "both": FORWARDING,
    "xff": "\n            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "realip": "\n            proxy_set_header X-Real-IP $remote_addr;",
}


def vhost(app: ServerProcess, auth: ForwardAuth, log: str) -> str:
    default_host = "proxy_set_header Host $http_host;"
    tinyauth = tinyauth_vhost(app, auth)
    assert tinyauth.count(default_host) == 1
    tinyauth = tinyauth.replace(
        default_host, f"proxy_set_header Host $proxy_host;{FORWARDING}\n"
                      f"            access_log {log} upstream_host;", 1)
    plain = "".join(f"""
        location /{name}/ {{
            {proxy_to(app.url, bind=NGINX_ADDRESS, path='/').replace(
                default_host, 'proxy_set_header Host $proxy_host;')}{headers}
            access_log {log} upstream_host;
        }}""" for name, headers in PLAIN.items())
    return tinyauth + plain


@dataclass
class Stack:
    app: ServerProcess
    auth: ForwardAuth
    nginx: NginxProcess

    @property
    def bypass_host(self) -> str:
        return f"127.0.0.1:{self.app.port}"

    def upstream_hosts(self, path: str, deadline: float = 10.0) -> set[str]:
        """The Host values nginx sent upstream for requests to ``path``.

        nginx writes a request's log line after it has sent the answer, so the line
        may not be there yet when the client has the answer: wait for one."""
        log = self.nginx.root / "upstream.log"
        end = time.monotonic() + deadline
        while True:
            lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
            hosts = {line.split(" ", 1)[0] for line in lines if line.endswith(" " + path)}
            if hosts or time.monotonic() > end:
                return hosts
            time.sleep(0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("bypass-nginx")
    port = free_port()
    env = {**ENV, "PYTORRENT_AUTH_BYPASS_HOSTS": f"127.0.0.1:{port}"}
    log = tmp_path / "nginx" / "upstream.log"
    with ForwardAuth() as auth, ServerProcess(tmp_path, env, port=port) as app, \
            run_nginx(tmp_path, vhost(app, auth, str(log)),
                      http_extra="log_format upstream_host '$proxy_host $request_uri';"
                      ) as nginx:
        yield Stack(app, auth, nginx)


def test_direct_request_with_the_bypass_host_is_the_bypass_user(stack: Stack) -> None:
    """The control: the same Host, sent straight, is bypassed."""
    reply = httpx.get(f"{stack.app.url}/api/auth/me")
    assert reply.status_code == 200
    assert (reply.json()["user"]["username"], reply.json()["user"]["via"]) == ("admin",
                                                                                "bypass")


def test_through_the_tinyauth_vhost_the_provider_decides(stack: Stack) -> None:
    anonymous = httpx.get(f"{stack.nginx.url}/api/auth/me", follow_redirects=False)
    assert anonymous.status_code == 302
    assert anonymous.headers["location"].startswith(stack.auth.login_url)

    cookie = stack.auth.sign_in(Account("alice"))
    me = httpx.get(f"{stack.nginx.url}/api/auth/me", headers={"Cookie": cookie})
    assert me.status_code == 200
    assert (me.json()["user"]["username"], me.json()["user"]["via"]) == ("alice", "provider")
    assert stack.upstream_hosts("/api/auth/me") == {stack.bypass_host}


@pytest.mark.parametrize("location", list(PLAIN))
def test_unauthenticated_proxy_with_forwarding_headers_gets_no_bypass(
        stack: Stack, location: str) -> None:
    api = httpx.get(f"{stack.nginx.url}/{location}/api/auth/me")
    assert api.status_code == 401
    assert "admin" not in api.text
    page = httpx.get(f"{stack.nginx.url}/{location}/", follow_redirects=False)
    assert page.status_code == 401
    assert 'id="unauthenticated"' in page.text
    write = httpx.post(f"{stack.nginx.url}/{location}/api/profiles",
                       headers={"Origin": f"http://{stack.bypass_host}"},
                       json={"name": "pwned", "scgi_url": "scgi://h:1"})
    assert write.status_code == 401
    assert stack.upstream_hosts(f"/{location}/api/auth/me") == {stack.bypass_host}


async def test_socketio_through_nginx_gets_no_bypass(stack: Stack) -> None:
    errors: list[object] = []
    async with socketio_client() as client:
        client.on("connect_error", errors.append)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(stack.nginx.url, socketio_path="/both/socket.io",
                                 transports=["websocket"], wait_timeout=10)
    assert errors == [{"message": "no Remote-User header reached pyTorrent"}]
    cookie = stack.auth.sign_in(Account("bob"))
    async with socketio_client() as client:
        await client.connect(stack.nginx.url, transports=["websocket"],
                             headers={"Cookie": cookie}, wait_timeout=10)
        assert await client.call("whoami", timeout=10) == {"username": "bob", "role": "user",
                                                           "via": "provider"}
    hosts = {line.split(" ", 1)[0] for line in
             (stack.nginx.root / "upstream.log").read_text(encoding="utf-8").splitlines()
             if "/socket.io/" in line}
    assert hosts == {stack.bypass_host}
