"""The provider API: one public module, typed hooks, declared headers, no import circles."""

from __future__ import annotations

import ast
import re
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jinja2 import TemplateNotFound
from packaging.requirements import Requirement

import pytorrent_core
from pytorrent_core import provider as api
from pytorrent_core.bootstrap import load
from pytorrent_core.cli import main
from pytorrent_core.config import ConfigError
from pytorrent_core.plugins import AuthPlugins, make_plugin_manager
from pytorrent_core.testing import environment, running_app

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "pytorrent_core"
BUILTIN = {"local": "pytorrent_auth_local", "proxy": "pytorrent_auth_proxy",
           "tinyauth": "pytorrent_auth_tinyauth", "oidc": "pytorrent_auth_oidc"}


# ------------------------------------------------------------------ imports


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str, modules: frozenset[str] = frozenset()) -> list[str]:
    """Every module ``path`` imports, anywhere in the file (functions and
    ``if TYPE_CHECKING:`` included), as absolute names. ``from pkg import name`` counts
    as importing ``pkg.name`` when that is one of ``modules``, else ``pkg``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append(full if full in modules or not modules else base)
    return found


def core_import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path, ROOT): path for path in CORE.rglob("*.py")}
    known = frozenset(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {target for target in _imports(path, name, known)
                       if target in modules and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_core_has_no_import_cycle() -> None:
    graph = core_import_graph()
    assert "pytorrent_core.defaults" in graph["pytorrent_core.plugins"]  # the walk sees it
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or ())


def test_the_cycle_finder_sees_function_local_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def late():\n    from .a import x\n")
    known = frozenset({"pkg", "pkg.a", "pkg.b"})
    graph = {_module_name(p, tmp_path): {t for t in _imports(p, _module_name(p, tmp_path), known)
                                         if t in ("pkg.a", "pkg.b")}
             for p in package.glob("*.py")}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]


@pytest.mark.parametrize("provider", sorted(BUILTIN))
def test_builtin_providers_import_only_the_provider_api(provider: str) -> None:
    package = ROOT / "plugins" / provider / BUILTIN[provider]
    modules: set[str] = set()
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                found = [node.module or ""]
                if found[0].startswith("pytorrent_core"):
                    names.update(alias.name for alias in node.names)
            else:
                continue
            for name in found:
                assert not name.startswith("pytorrent_auth_"), f"{path}: imports {name}"
                if name.split(".")[0] in ("pytorrent_core", "pytorrent"):
                    modules.add(name)
    assert modules == {"pytorrent_core.provider"}
    assert names <= set(api.__all__), sorted(names - set(api.__all__))



@pytest.mark.parametrize("provider", sorted(BUILTIN))
def test_builtin_provider_pages_use_the_shared_shell_with_the_logo(provider: str) -> None:
    folder = ROOT / "plugins" / provider / BUILTIN[provider] / "templates"
    templates = sorted(folder.glob("*.html"))
    assert templates
    for template in templates:
        source = template.read_text(encoding="utf-8")
        assert source.startswith('{% extends "pytorrent/shell.html" %}'), template
        assert "<html" not in source and "topbar" not in source, f"{template}: its own shell"
        html = api.render_page(BUILTIN[provider], template.name, prefix="/pt")
        assert '<a class="brand" href="/pt/"><img src="/pt/static/favicon.svg" alt="">' in html
        assert '<link rel="stylesheet" href="/pt/static/app.css">' in html


def test_only_the_shared_parts_of_cores_templates_reach_a_provider() -> None:
    with pytest.raises(TemplateNotFound):
        api.render_page("pytorrent_auth_local", "pytorrent/base.html")

@pytest.mark.parametrize("provider", sorted(BUILTIN))
def test_builtin_providers_need_a_compatible_core(provider: str) -> None:
    project = tomllib.loads((ROOT / "plugins" / provider / "pyproject.toml").read_text())
    requirements = [Requirement(text) for text in project["project"]["dependencies"]]
    core = [r for r in requirements if r.name == "pytorrent-core"]
    major, minor = pytorrent_core.__version__.split(".")[:2]
    assert [str(r.specifier) for r in core] == [f"~={major}.{minor}"]
    assert core[0].specifier.contains(pytorrent_core.__version__)


def test_every_public_name_exists() -> None:
    assert all(hasattr(api, name) for name in api.__all__)


def test_remote_user_is_only_the_default_of_the_shared_header_setting() -> None:
    """Generic code reads the headers a provider declares, never a provider's own names."""
    hits = [(path.relative_to(ROOT), number, line.strip())
            for path in CORE.rglob("*") if path.suffix in (".py", ".html", ".js")
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if re.search(r"remote[-_]user", line, re.IGNORECASE)]
    assert [(str(path), line) for path, _, line in hits] == [
        ("pytorrent_core/config.py",
         'Setting("auth.proxy_user_header", "PYTORRENT_AUTH_PROXY_USER_HEADER", "Remote-User",')]


# ------------------------------------------------------------------ the manager


def plugin(**hooks: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: api.hookimpl(function)
                                    for name, function in hooks.items()})


def test_misspelt_provider_gets_did_you_mean_and_no_package_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(None, environment(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "tinyauht"}))
    message = str(caught.value)
    assert message.endswith('did you mean "tinyauth"?')
    assert "pip install" not in message and "pytorrent-auth-tinyauht" not in message


def test_wrapper_implementations_are_refused() -> None:
    def pytorrent_identify(request: Any, settings: Any) -> Any:
        return (yield)

    wrapping = types.SimpleNamespace(
        pytorrent_identify=api.hookimpl(wrapper=True)(pytorrent_identify))
    with pytest.raises(ConfigError) as caught:
        make_plugin_manager("wrap", provider_plugin=wrapping)
    assert str(caught.value) == (
        "auth provider 'wrap': pytorrent_identify is a wrapper implementation (wrapper=True "
        "or hookwrapper=True), which pyTorrent does not support: hook results may be "
        "unawaited coroutines; write a plain @hookimpl that returns None when it has no answer")


def test_a_dict_from_provider_info_is_refused_with_the_fix() -> None:
    old = plugin(pytorrent_provider_info=lambda: {"external": True})
    plugins = AuthPlugins(make_plugin_manager("old", provider_plugin=old), "old")
    with pytest.raises(TypeError) as caught:
        plugins.provider_info(None)  # type: ignore[arg-type]
    assert "returned a dict; return pytorrent_core.provider.ProviderInfo(" in str(caught.value)


async def test_results_are_type_checked() -> None:
    wrong = plugin(pytorrent_identify=lambda request: "alice")
    plugins = AuthPlugins(make_plugin_manager("wrong", provider_plugin=wrong), "wrong")
    with pytest.raises(TypeError) as caught:
        await plugins.identify(None, None)  # type: ignore[arg-type]
    assert str(caught.value) == ("pytorrent_identify returned str; expected Identity or None "
                                 "(from pytorrent_core.provider)")


async def test_hooks_run_through_pluggy_and_unused_coroutines_are_closed() -> None:
    """pluggy's own call path (so its tracing sees every call); the provider answers first
    and core's default provisioning coroutine is closed, never run."""
    user = api.User(id=7, username="ann", role="user", active=True, builtin=False,
                    has_password=False, provider="p", session_epoch=0)

    async def pytorrent_provision(identity: api.Identity) -> api.User:
        return user

    pm = make_plugin_manager("p", provider_plugin=plugin(pytorrent_provision=pytorrent_provision))
    traced: list[str] = []
    undo = pm.add_hookcall_monitoring(lambda name, impls, kwargs: traced.append(name),
                                      lambda outcome, name, impls, kwargs: None)
    try:
        chosen = await AuthPlugins(pm, "p").provision(api.Identity("ann", "p"),
                                                      None)  # type: ignore[arg-type]
    finally:
        undo()
    assert chosen is user
    assert traced == ["pytorrent_provision"]


async def test_context_refuses_fields_a_provider_does_not_own(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app:
        context = app.services.provider_context
        user = await context.create_user("zoe", groups=["media"])
        assert (user.provider, user.groups, user.has_password) == ("local", ("media",), False)
        with pytest.raises(TypeError) as caught:
            await context.update_user(user.id, active=False, password_hash="x")
        assert str(caught.value).startswith("a provider may not change active, password_hash;")
        assert not hasattr(context, "store")


# ------------------------------------------------------------------ declared headers


def acme_plugin() -> types.SimpleNamespace:
    def pytorrent_identify(request: api.RequestFacts) -> api.Identity | None:
        name = api.username_from_headers(request.headers, "X-Acme-User")
        return api.Identity(name, "acme") if name else None

    return plugin(
        pytorrent_provider_info=lambda: api.ProviderInfo(
            external=True, description="Acme", headers=("X-Acme-User", "X-Acme-Teams")),
        pytorrent_identify=pytorrent_identify)


ACME_ENV = {"PYTORRENT_AUTH_PROVIDER": "acme", "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11",
            "PYTORRENT_AUTH_PROXY_AUTO_CREATE": "true"}


async def test_declared_headers_decide_the_bypass_and_the_401(tmp_path: Path) -> None:
    async with running_app(tmp_path, ACME_ENV, provider_plugin=acme_plugin()) as app:
        client = app.quart.test_client()
        direct = {"Host": "10.11.1.11"}

        async def me(headers: dict[str, str]) -> tuple[int, Any]:
            reply = await client.get("/api/auth/me", headers=headers)
            return reply.status_code, await reply.get_json()

        status, body = await me(direct)
        assert (status, body["user"]["via"]) == (200, "bypass")
        status, body = await me({**direct, "Remote-User": "x"})  # not this provider's header
        assert (status, body["user"]["via"]) == (200, "bypass")
        for header in ("X-Acme-User", "X-Acme-Teams", "x-acme-teams"):
            status, body = await me({**direct, header: "ops"})
            assert status != 200 or body["user"]["via"] == "provider", header
        status, body = await me({**direct, "X-Acme-Teams": "ops"})
        assert (status, body["error"]) == (401, "no X-Acme-User header reached pyTorrent")
        page = await client.get("/")
        text = await page.get_data(as_text=True)
        assert page.status_code == 401 and "<code>X-Acme-User</code>" in text
        assert "Remote-User" not in text
        status, body = await me({"X-Acme-User": "carol"})
        assert (status, body["user"]["username"]) == (200, "carol")


async def test_untrusted_declared_header_is_logged_by_name(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    async with running_app(tmp_path, ACME_ENV, provider_plugin=acme_plugin()) as app:
        reply = await app.quart.test_client().get(
            "/api/auth/me", headers={"X-Acme-Teams": "ops"}, peer="203.0.113.9")
        assert reply.status_code == 401
    assert any("ignored X-Acme-Teams header from 203.0.113.9" in record.getMessage()
               for record in caplog.records)


async def test_a_provider_without_headers_gets_a_generic_answer(tmp_path: Path) -> None:
    silent = plugin(pytorrent_provider_info=lambda: api.ProviderInfo(external=True),
                    pytorrent_identify=lambda request: None)
    async with running_app(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "silent"},
                           provider_plugin=silent) as app:
        reply = await app.quart.test_client().get("/api/auth/me")
        assert (await reply.get_json())["error"] == (
            "the silent provider found no identity in this request")
        page = await app.quart.test_client().get("/")
        assert page.status_code == 401
        assert "<code>None</code>" not in await page.get_data(as_text=True)


def test_doctor_names_the_declared_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    env = environment(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "tinyauth",
                                 "PYTORRENT_AUTH_PROXY_USER_HEADER": "X-Forwarded-User",
                                 "PYTORRENT_AUTH_BYPASS_HOSTS": "10.11.1.11"})
    result = CliRunner().invoke(main, ["auth", "doctor"], env=env)
    lines = result.output.splitlines()
    assert any("identity comes from the X-Forwarded-User header" in line for line in lines)
    assert any("the provider also reads Remote-Name, Remote-Email, Remote-Groups" in line
               for line in lines)
    assert any("a request carrying X-Forwarded-User or Remote-Name or Remote-Email or "
               "Remote-Groups is never bypassed" in line for line in lines)


# ------------------------------------------------------------------ provider routes


async def test_provider_routes_are_public_and_apply_the_answer(tmp_path: Path) -> None:
    async def hello(request: api.RouteRequest) -> api.RouteResponse:
        signed = request.sign("v")
        assert request.unsign(signed, max_age=60) == "v"
        assert request.unsign(signed + "x", max_age=60) is None
        if request.args.get("go") == "away":
            return api.RouteResponse(redirect_to="//evil.example/")
        return api.RouteResponse(html=f"<p>{request.args.get('name')}</p>", status=418,
                                 cookies=(api.CookieChange("c", "1", path="/auth/own/"),))

    own = plugin(pytorrent_routes=lambda: [api.ProviderRoute("GET", "/auth/own/hello", hello)])
    async with running_app(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "own"},
                           provider_plugin=own) as app:
        client = app.quart.test_client()
        reply = await client.get("/auth/own/hello?name=x&name=y")
        assert reply.status_code == 418 and await reply.get_data(as_text=True) == "<p>x</p>"
        cookie = reply.headers["Set-Cookie"]
        assert "Path=/auth/own/" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        away = await client.get("/auth/own/hello?go=away")
        assert away.headers["Location"] == "/"  # never off-site from a path-like target


async def test_provider_routes_must_stay_under_their_own_path(tmp_path: Path) -> None:
    async def hijack(request: api.RouteRequest) -> api.RouteResponse:
        return api.RouteResponse()

    own = plugin(pytorrent_routes=lambda: [api.ProviderRoute("GET", "/login", hijack)])
    with pytest.raises(ConfigError) as caught:
        async with running_app(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "own"},
                               provider_plugin=own):
            pass
    assert str(caught.value) == ("auth provider 'own' declares the route /login: a "
                                 "provider's pages must be under /auth/own/")


async def test_login_page_may_send_the_browser_on(tmp_path: Path) -> None:
    onward = plugin(pytorrent_login_page=lambda next_url: api.LoginPage(
        redirect_to=f"/auth/onward/start?next={next_url}"))
    async with running_app(tmp_path, {"PYTORRENT_AUTH_PROVIDER": "onward"},
                           provider_plugin=onward) as app:
        reply = await app.quart.test_client().get("/login?next=/account")
        assert reply.status_code == 302
        assert reply.headers["Location"] == "/auth/onward/start?next=/account"
