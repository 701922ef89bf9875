"""The ``pytorrent`` command line. User errors exit non-zero with one line, no traceback."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .cli_common import Context, pass_context, run_async, user_errors
from .config import ConfigError, Settings


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
    import gc
    import logging

    import uvicorn

    from .bootstrap import preflight, raise_open_files_limit, warn_if_open
    from .web.app import create_app
    from .web.protocol import ServerLimits, protocol_class

    if config:
        obj.config = config
    settings, plugins = obj.load()
    host = host or settings.server_host
    port = port or settings.server_port
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    run_async(preflight(settings, plugins))
    warn_if_open(settings, host, plugins)
    app = create_app(settings, plugins)
    limits = ServerLimits.from_settings(settings)
    raise_open_files_limit(limits.max_connections)
    # What start-up made lives as long as the process: keep it out of every garbage
    # collection (a full one walked it all, ~0.1 s, in the middle of a 10,000-torrent poll).
    gc.freeze()
    # Above info the access log prints nothing, yet uvicorn would gather each line's fields.
    uvicorn.run(app, host=host, port=port, log_level=log_level, lifespan="on",
                proxy_headers=False, server_header=False,
                access_log=log_level in ("info", "debug"),
                http=protocol_class(limits), timeout_keep_alive=limits.keepalive_timeout,
                ws_max_size=app.sio.eio.max_http_buffer_size)


# ---------------------------------------------------------------- config


@main.group()
def config() -> None:
    """Inspect or create configuration."""


_DERIVED: dict[str, Callable[[Settings], tuple[Any, str]]] = {
    "api.allowed_origins": lambda s: (s.api_allowed_origins,
                                      "reuses socketio.cors_allowed_origins"),
    "server.data_dir": lambda s: (str(s.data_dir), "the platform's user data folder"),
    "database.path": lambda s: (str(s.database_path), "pytorrent.db in the data folder"),
}


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
        source = str(settings.sources[key])
        if key in _DERIVED and not value:
            value, note = _DERIVED[key](settings)
            source += f" (unset: {note})"
        if isinstance(value, tuple):
            value = list(value)
        rows.append({"key": key, "env": setting.env, "value": value, "source": source})
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
@pass_context
@user_errors
def config_init(obj: Context, path: str | None, force: bool) -> None:
    """Write a starter TOML file with every default.

    PATH defaults to --config, else $PYTORRENT_CONFIG, else ./pytorrent.toml.
    """
    import os

    from .config import CONFIG_ENV
    from .config_file import starter_document, write_atomically

    target = Path(path or obj.config or os.environ.get(CONFIG_ENV) or "pytorrent.toml")
    if target.is_dir():
        raise click.ClickException(f"{target} is a folder; give a file path")
    try:
        write_atomically(target, starter_document(), overwrite=force)
    except FileExistsError:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it") from None
    except OSError as error:
        raise click.ClickException(f"{target}: cannot write: {error.strerror}") from None
    click.echo(f"wrote {target}")


@config.command("example")
@user_errors
def config_example() -> None:
    """Print pytorrent.toml.example: every key (core and installed providers) documented."""
    from .config_file import example_document
    from .plugins import installed_providers, provider_settings

    extra = [setting for name in sorted(installed_providers())
             for setting in provider_settings(name)]
    click.echo(example_document(extra), nl=False)


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
    chosen = ""
    try:
        core = build_settings(read_raw(obj.config))
        active = core.auth_provider if core.auth_enable else None
        chosen = core.where("auth.provider" if core.auth_enable else "auth.enable")
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
    else:
        width = max(len(str(row["name"])) for row in rows) + 2
        dist_width = max(len(str(row["distribution"] or "-")) for row in rows) + 2
        click.echo(f"  {'name':<{width}}{'distribution':<{dist_width}}version")
        for row in rows:
            mark = "*" if row["active"] else " "
            click.echo(f"{mark} {row['name']:<{width}}{row['distribution'] or '-':<{dist_width}}"
                       f"{row['version'] or '-'}")
    if chosen and active is None:
        click.echo(f"no provider is active: {chosen}")
    elif chosen:
        click.echo(f"* active: {chosen}")
    if active and active not in {row["name"] for row in rows}:
        click.echo(f"active provider {active!r} is not installed", err=True)


@main.group()
def auth() -> None:
    """Authentication set-up."""


@auth.command("doctor")
@pass_context
@user_errors
def auth_doctor(obj: Context) -> None:
    """Explain the effective auth set-up and flag risky settings (exit 1 on errors)."""
    from .doctor import check_database, check_settings

    settings, plugins = obj.load()
    findings = check_settings(settings, plugins) + run_async(check_database(settings))
    marks = {"ok": "ok   ", "warn": "WARN ", "error": "ERROR"}
    for finding in findings:
        click.echo(f"{marks[finding.level]} {finding.message}")
    if any(finding.level == "error" for finding in findings):
        raise SystemExit(1)


def _register_subcommands() -> None:
    from . import cli_audit, cli_db, cli_profiles, cli_tokens, cli_users

    cli_users.register(main)
    cli_audit.register(main)
    cli_tokens.register(main)
    cli_profiles.register(main)
    cli_db.register(main)


_register_subcommands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

