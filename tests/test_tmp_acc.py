from __future__ import annotations

from pathlib import Path

from pytorrent_core.testing import running_app


async def test_identity_headers_without_the_proxy_secret_are_recorded_sampled(
        tmp_path: Path) -> None:
    secret = "4f1c9a7e2b8d6035e1a9c7f2b4d6e8a0"
    env = {"PYTORRENT_AUTH_PROVIDER": "tinyauth", "PYTORRENT_AUTH_PROXY_SECRET": secret}
    async with running_app(tmp_path, env) as app:
        client = app.quart.test_client()
        for wrong in ({}, {"X-PyTorrent-Proxy-Secret": "guess"}, {}):
            reply = await client.get("/api/auth/me", headers={"Remote-User": "admin", **wrong},
                                     peer="127.0.0.1")  # type: ignore[call-arg]
            assert reply.status_code == 401
        await app.services.audit.flush()
        (event,) = await app.services.store.audit_events(kind="auth.untrusted-header")
        assert (event["remote_addr"], event["outcome"]) == ("127.0.0.1", "refused")
        assert event["detail"]["reason"] == "missing or wrong proxy secret"
        assert await app.services.store.audit_events(kind="auth.sign-in") == []
