"""``pytorrent profiles ...``: rTorrent profiles from a shell, with or without a running server.

Like the other commands, these open the same database the server uses; a change
reaches a running server through the store's change counter, and the commands that
write name the database they changed.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .cli_common import (
    Context,
    changes_database,
    echo_table,
    pass_context,
    run_async,
    user_errors,
    with_services,
)
from .cli_users import ACTOR
from .profiles import clean_data_root, clean_name, clean_scgi_url
from .services import Services
from .storage import Profile


async def _find(services: Services, name_or_id: str) -> Profile:
    profile = await services.store.get_profile_by_name(name_or_id)
    if profile is None and name_or_id.isdigit():
        profile = await services.store.get_profile(int(name_or_id))
    if profile is None:
        raise click.ClickException(f"no profile named {name_or_id!r}; see "
                                   "`pytorrent profiles list`")
    return profile


def _describe(profile: Profile) -> dict[str, Any]:
    return {"id": profile.id, "name": profile.name, "scgi_url": profile.scgi_url,
            "data_root": profile.data_root}


@click.group()
def profiles() -> None:
    """List, add, change, remove and test rTorrent profiles."""


@profiles.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@user_errors
def profiles_list(obj: Context, as_json: bool) -> None:
    """Every profile: id, name, SCGI address, data root."""

    async def work(services: Services) -> list[Profile]:
        return await services.store.list_profiles()

    rows = [_describe(profile) for profile in with_services(obj, work)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no profiles yet; add one: pytorrent profiles add NAME scgi://HOST:PORT")
        return
    echo_table(("id", "name", "scgi_url", "data_root"),
               [(row["id"], row["name"], row["scgi_url"], row["data_root"] or "-")
                for row in rows])


@profiles.command("add")
@click.argument("name")
@click.argument("scgi_url")
@click.option("--data-root", default=None, help="Folder under which pyTorrent may delete "
              "removed torrents' data (as both rTorrent and pyTorrent see it).")
@pass_context
@user_errors
@changes_database()
def profiles_add(obj: Context, name: str, scgi_url: str, data_root: str | None) -> None:
    """Add profile NAME for the rTorrent at SCGI_URL (scgi://host:port or scgi:///socket)."""
    values = clean_name(name), clean_scgi_url(scgi_url), clean_data_root(data_root)

    async def work(services: Services) -> Profile:
        return await services.store.create_profile(values[0], values[1], data_root=values[2],
                                                   actor=ACTOR)

    profile = with_services(obj, work)
    click.echo(f"added profile {profile.name!r} (id {profile.id}); check it with: "
               f"pytorrent profiles test {profile.id}")


@profiles.command("set")
@click.argument("name_or_id")
@click.option("--name", default=None, help="New name.")
@click.option("--scgi-url", default=None, help="New SCGI address.")
@click.option("--data-root", default=None, help="New data root; an empty string clears it.")
@pass_context
@user_errors
@changes_database()
def profiles_set(obj: Context, name_or_id: str, name: str | None, scgi_url: str | None,
                 data_root: str | None) -> None:
    """Change a profile's name, SCGI address or data root."""
    fields: dict[str, str | None] = {}
    if name is not None:
        fields["name"] = clean_name(name)
    if scgi_url is not None:
        fields["scgi_url"] = clean_scgi_url(scgi_url)
    if data_root is not None:
        fields["data_root"] = clean_data_root(data_root)
    if not fields:
        raise click.ClickException("nothing to change: give --name, --scgi-url or --data-root")

    async def work(services: Services) -> Profile:
        profile = await _find(services, name_or_id)
        return await services.store.update_profile(profile.id, actor=ACTOR, **fields)

    profile = with_services(obj, work)
    click.echo(f"profile {profile.name!r} (id {profile.id}) changed")


@profiles.command("remove")
@click.argument("name_or_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
@user_errors
@changes_database()
def profiles_remove(obj: Context, name_or_id: str, yes: bool) -> None:
    """Remove a profile from pyTorrent (rTorrent and its torrents are not touched)."""

    async def find(services: Services) -> Profile:
        return await _find(services, name_or_id)

    profile = with_services(obj, find)
    if not yes:
        click.confirm(f"Remove profile {profile.name!r}?", abort=True)

    async def work(services: Services) -> None:
        await services.store.delete_profile(profile.id, actor=ACTOR)

    with_services(obj, work)
    click.echo(f"removed profile {profile.name!r}")


@profiles.command("test")
@click.argument("name_or_id")
@pass_context
@user_errors
def profiles_test(obj: Context, name_or_id: str) -> None:
    """Connect to the profile's rTorrent: print its version, or exactly why it failed."""
    from .rtorrent.client import RTorrentClient
    from .rtorrent.errors import RTorrentError

    async def find(services: Services) -> Profile:
        return await _find(services, name_or_id)

    profile = with_services(obj, find)
    client = RTorrentClient(profile.scgi_url, timeout=float(obj.settings.rtorrent_timeout))
    try:
        status = run_async(client.status())
    except RTorrentError as error:
        raise click.ClickException(
            f"profile {profile.name!r}: cannot use rTorrent at {profile.scgi_url}: "
            f"{error}") from None
    click.echo(f"profile {profile.name!r}: rTorrent {status.client_version} at "
               f"{profile.scgi_url}, {status.torrents} torrents")


def register(main: click.Group) -> None:
    main.add_command(profiles)
