"""Every registered route states what it needs; an undeclared one is refused, not served."""

from __future__ import annotations

from pathlib import Path

import pytest
from quart import Quart

from pytorrent_core.access.policy import Need, need_of
from pytorrent_core.plugins import installed_providers
from pytorrent_core.testing import running_app

PROVIDERS = ["local", "tinyauth", "proxy", "oidc"]
SETTINGS = {"oidc": {"PYTORRENT_AUTH_OIDC_ISSUER": "https://auth.example.com",
                     "PYTORRENT_AUTH_OIDC_CLIENT_ID": "pytorrent",
                     "PYTORRENT_AUTH_OIDC_CLIENT_SECRET": "secret"}}


def undeclared(quart: Quart) -> list[str]:
    missing = []
    for rule in quart.url_map.iter_rules():
        view = quart.view_functions.get(rule.endpoint)
        if need_of(view) is None:
            missing.append(f"{rule.rule} ({rule.endpoint})")
    return missing


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_every_route_declares_a_requirement(tmp_path: Path, provider: str) -> None:
    assert provider in installed_providers(), f"pytorrent-auth-{provider} is not installed"
    env = {"PYTORRENT_AUTH_PROVIDER": provider, **SETTINGS.get(provider, {})}
    async with running_app(tmp_path, env) as app:
        rules = list(app.quart.url_map.iter_rules())
        assert len(rules) > 10  # the enumeration really sees the app's routes
        assert undeclared(app.quart) == []
        endpoints = {rule.endpoint for rule in rules}
        assert {"static", "profiles.list_profiles", "tokens.create_token"} <= endpoints


async def test_access_routes_declare_what_they_enforce(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        needs = {rule.endpoint: need_of(app.quart.view_functions[rule.endpoint])
                 for rule in app.quart.url_map.iter_rules()}
    assert needs["health"] is Need.PUBLIC
    assert needs["static"] is Need.PUBLIC
    assert needs["profiles.list_profiles"] is Need.USER
    assert needs["profiles.create_profile"] is Need.ADMIN
    assert needs["profiles.update_profile"] is Need.ADMIN
    assert needs["profiles.delete_profile"] is Need.ADMIN
    assert needs["profiles.get_profile"] is Need.PROFILE_READ
    assert needs["profiles.activate_profile"] is Need.PROFILE_READ
    assert needs["profiles.get_labels"] is Need.PROFILE_READ
    assert needs["profiles.put_labels"] is Need.PROFILE_WRITE
    assert needs["tokens.list_tokens"] is Need.USER


async def test_a_route_without_declaration_is_detected_and_refused(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        async def sneaky() -> str:
            return "served"

        app.quart.add_url_rule("/api/sneaky", "sneaky", sneaky)
        assert undeclared(app.quart) == ["/api/sneaky (sneaky)"]
        reply = await app.quart.test_client().get("/api/sneaky")
        assert reply.status_code == 500
        assert "served" not in (await reply.get_data(as_text=True))
