"""The ``pytorrent`` command line. User errors exit non-zero with one line, no traceback."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from .config import ConfigError, Settings
from .plugins import AuthPlugins

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def user_errors(func: Callable[..., T]) -> Callable[..., T]:
    """Turn ConfigError (and other expected failures) into a one-line exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from .storage import StoreError

        try:
            return func(*args, **kwargs)
        except (ConfigError, StoreError) as error:
            raise click.ClickException(str(error)) from None

    return wrapper


class Context:
    def __init__(self, config: str | None) -> None:
        self.config = config
        self._loaded: tuple[Settings, AuthPlugins] | None = None

    def load(self) -> tuple[Settings, AuthPlugins]:
        from .bootstrap import load

        if self._loaded is None:
            self._loaded = load(self.config)
        return self._loaded

    @property
    def settings(self) -> Settings:
        return self.load()[0]


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="TOML config file (default: $PYTORRENT_CONFIG, ./pytorrent.toml, "
                   "or the user config folder).")
@click.version_option(package_name="pytorrent-core", prog_name="pytorrent")
@click.pass_context
def main(ctx: click.Context, config: str | None) -> None:
    """pyTorrent: a self-hosted web UI for rTorrent."""
    ctx.obj = Context(config)


@main.command()
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="TOML config file.")
@click.option("--host", default=None, help="Listen address (default: server.host, 0.0.0.0).")
@click.option("--port", type=int, default=None, help="Listen port (default: server.port, 8090).")
@click.option("--log-level", default="info",
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@pass_context
@user_errors
def serve(obj: Context, config: str | None, host: str | None, port: int | None,
          log_level: str) -> None:
    """Run the web server under uvicorn."""
    import logging

    import uvicorn

    from .bootstrap import warn_if_open
    from .web.app import create_app

    if config:
        obj.config = config
    settings, plugins = obj.load()
    host = host or settings.server_host
    port = port or settings.server_port
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    warn_if_open(settings, host)
    app = create_app(settings, plugins)
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="on",
                proxy_headers=False, server_header=False)


# ---------------------------------------------------------------- config


@main.group()
def config() -> None:
    """Inspect or create configuration."""


@config.command("show")
@click.option("--sources", is_flag=True, help="Also say where each value came from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@user_errors
def config_show(obj: Context, sources: bool, as_json: bool) -> None:
    """Print the effective settings (secrets masked)."""
    settings = obj.settings
    rows = []
    for key, setting in sorted(settings.declared.items()):
        value = settings.values[key]
        if setting.secret and value:
            value = "***"
        if isinstance(value, tuple):
            value = list(value)
        rows.append({"key": key, "env": setting.env, "value": value,
                     "source": str(settings.sources[key])})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"# config file: {settings.config_path or '(none found)'}")
    for row in rows:
        line = f"{row['key']} = {json.dumps(row['value'])}"
        if sources:
            line += f"    # {row['source']}"
        click.echo(line)


@config.command("init")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@user_errors
def config_init(path: str | None, force: bool) -> None:
    """Write a starter pytorrent.toml with every default (default path: ./pytorrent.toml)."""
    from .config_file import starter_document, write_atomically

    target = Path(path or "pytorrent.toml")
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
    write_atomically(target, starter_document())
    click.echo(f"wrote {target}")


# ---------------------------------------------------------------- plugins


@main.group()
def plugins() -> None:
    """Authentication provider plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def plugins_list(obj: Context, as_json: bool) -> None:
    """Installed providers: name, distribution, version, and which is active."""
    from .config import build_settings, read_raw
    from .plugins import installed_providers

    active = None
    try:
        core = build_settings(read_raw(obj.config))
        active = core.auth_provider if core.auth_enable else None
    except ConfigError as error:
        click.echo(f"warning: {error}", err=True)
    rows = [
        {"name": p.name, "distribution": p.distribution, "version": p.version,
         "module": p.module, "active": p.name == active}
        for p in sorted(installed_providers().values(), key=lambda p: p.name)
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no authentication providers installed; pip install pytorrent-auth-local")
        return
    for row in rows:
        mark = "*" if row["active"] else " "
        click.echo(f"{mark} {row['name']:<12} {row['distribution'] or '-'} {row['version'] or '-'}")
    if active and active not in {row["name"] for row in rows}:
        click.echo(f"active provider {active!r} is not installed", err=True)


def _register_subcommands() -> None:
    for module in ("cli_users", "cli_tokens"):
        try:
            imported = __import__(f"{__package__}.{module}", fromlist=["register"])
        except ModuleNotFoundError as error:
            if error.name != f"{__package__}.{module}":
                raise
            continue
        imported.register(main)


_register_subcommands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

