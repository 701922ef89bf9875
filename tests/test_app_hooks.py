"""pyTorrent calls its access decision and last step directly; functions others register
with Quart still run, after the access decision and before the last step."""

from __future__ import annotations

from typing import Any

from pytorrent_core.web.app import PyTorrentApp


async def test_registered_hooks_still_run_and_the_access_decision_comes_first(
        app: PyTorrentApp) -> None:
    seen: list[str] = []

    @app.quart.before_request
    async def before() -> None:
        seen.append("before")

    @app.quart.after_request
    async def after(response: Any) -> Any:
        response.headers["X-Hook"] = "ran"
        return response

    client = app.quart.test_client()
    public = await client.get("/api/health")
    assert public.status_code == 200 and public.headers["X-Hook"] == "ran"
    assert seen == ["before"]

    refused = await client.get("/api/auth/me")  # no credentials: refused before any hook
    assert refused.status_code == 401
    assert seen == ["before"]
    assert refused.headers["X-Hook"] == "ran"  # after-request functions see every answer
