"""Bad API tokens are throttled per address (hardening, finding 13)."""

from __future__ import annotations

from pytorrent_core.access.throttle import Limit, TokenThrottle
from pytorrent_core.testing import issue_token
from pytorrent_core.web.app import PyTorrentApp


async def test_many_bad_tokens_from_one_address_get_429(app: PyTorrentApp) -> None:
    admin = await app.services.store.get_user_by_name("admin")
    assert admin is not None
    good = await issue_token(app.services.store, admin.id)
    client = app.quart.test_client()
    statuses = []
    for n in range(25):
        reply = await client.get("/api/auth/me", headers={"Authorization": f"Bearer pt_bad{n}"},
                                 peer="10.0.0.7")
        statuses.append(reply.status_code)
    assert statuses[:19] == [401] * 19
    assert statuses[-1] == 429
    refused = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"},
                               peer="10.0.0.7")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    elsewhere = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"},
                                 peer="10.0.0.8")
    assert elsewhere.status_code == 200


def test_the_lockout_ends_and_doubles() -> None:
    now = [0.0]
    throttle = TokenThrottle(Limit(failures=3, window=60, lockout=10, max_lockout=100,
                                   forget_after=1000), clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 10
    now[0] = 11
    assert throttle.retry_after("10.0.0.1") is None
    for _ in range(3):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 20
