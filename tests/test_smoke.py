from pytorrent_core.web.app import PyTorrentApp


async def test_health_is_public(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    reply = await client.get("/api/health")
    assert reply.status_code == 200
    assert (await reply.get_json()) == {"status": "ok"}


async def test_pages_redirect_and_api_answers_401(app: PyTorrentApp) -> None:
    client = app.quart.test_client()
    page = await client.get("/")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=/")
    api = await client.get("/api/auth/me")
    assert api.status_code == 401
