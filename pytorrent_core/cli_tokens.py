"""``pytorrent tokens create|list|revoke``: API tokens from the command line.

Changes go through the Store, which bumps the auth generation, so a running
server drops a revoked token (and its live connections) within a poll interval.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeVar

import click

from .cli_common import (
    Context,
    changes_database,
    echo_table,
    pass_context,
    user_errors,
    with_store,
)
from .storage import Store, StoreError, TokenRecord
from .storage.store import now

T = TypeVar("T")


async def _user_id(store: Store, username: str) -> int:
    user = await store.get_user_by_name(username)
    if user is None:
        raise StoreError(f"no user named {username!r}; see `pytorrent users list`", "username",
                         404)
    return user.id


def _state(record: TokenRecord) -> str:
    if record.revoked_at is not None:
        return "revoked"
    return "active" if record.is_live(now()) else "expired"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


@click.group()
def tokens() -> None:
    """API tokens (pt_...) for scripts: create, list, revoke."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", required=True, help="What the token is for, e.g. 'backup script'.")
@click.option("--expires-in-days", type=int, default=None, help="Expire after this many days.")
@click.option("--expires-at", default=None,
              help="Expire at this ISO 8601 time (UTC unless it names a zone).")
@click.option("--profile", "profiles", multiple=True, metavar="NAME_OR_ID",
              help="Limit the token to this profile (repeat for more).")
@click.option("--read-only", is_flag=True,
              help="The token may look but never add, act or change anything.")
@pass_context
@user_errors
@changes_database(report_to_stderr=True)
def create(obj: Context, username: str, name: str, expires_in_days: int | None,
           expires_at: str | None, profiles: tuple[str, ...], read_only: bool) -> None:
    """Create a token for USERNAME and print it once (only its digest is stored).

    With --profile or --read-only the token is scoped: never more than USERNAME may
    do at the time of use, and no admin powers even for an admin.
    """
    from .access import tokens as token_format

    try:
        clean = token_format.clean_name(name)
        expiry = token_format.expiry(expires_at, expires_in_days)
    except ValueError as error:
        raise click.UsageError(str(error)) from None

    async def work(store: Store) -> tuple[TokenRecord, str]:
        user_id = await _user_id(store, username)
        user = await store.get_user(user_id)
        if user is None or not user.active:
            raise StoreError(f"user {username!r} is deactivated; a token would not work",
                             "username", 409)
        ids = [await _profile_id(store, given) for given in profiles]
        scope = token_format.scope("ro" if read_only else ("full" if ids else None),
                                   ids or None)
        plaintext, prefix, digest = token_format.generate()
        record = await store.create_token(user_id, clean, prefix, digest, expiry,
                                          scope=scope, actor="cli")
        return record, plaintext

    record, plaintext = with_store(obj, work)
    click.echo(plaintext)
    until = f", expires {_iso(record.expires_at)}" if record.expires_at else ""
    click.echo(f"created token {record.id} ({record.prefix}...) for {username}{until}, "
               f"{_scope(record)}; it is shown only once, store it now", err=True)


async def _profile_id(store: Store, given: str) -> int:
    profile = await store.get_profile_by_name(given)
    if profile is None and given.isdigit():
        profile = await store.get_profile(int(given))
    if profile is None:
        raise StoreError(f"--profile {given!r}: no such profile name or id; see "
                         "`pytorrent profiles list`", "profile", 404)
    return profile.id


def _scope(record: TokenRecord) -> str:
    if record.scope is None:
        return "with its owner's access"
    where = ("profiles " + ", ".join(str(p) for p in sorted(record.scope.profiles))
             if record.scope.profiles is not None else "every profile of its owner")
    return f"scope {record.scope.permission} on {where}"


@tokens.command("list")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@user_errors
def list_(obj: Context, username: str, as_json: bool) -> None:
    """List USERNAME's tokens: id, name, prefix, dates, state (never the token)."""

    async def work(store: Store) -> list[TokenRecord]:
        return await store.list_tokens(await _user_id(store, username))

    rows: list[dict[str, Any]] = [
        {"id": r.id, "name": r.name, "prefix": r.prefix, "created_at": _iso(r.created_at),
         "expires_at": _iso(r.expires_at), "last_used_at": _iso(r.last_used_at),
         "revoked_at": _iso(r.revoked_at), "state": _state(r),
         "last_used_address": r.last_used_addr,
         "scope": r.scope.as_json() if r.scope else None, "scope_text": _scope(r)}
        for r in with_store(obj, work)
    ]
    if as_json:
        click.echo(json.dumps([{k: v for k, v in row.items() if k != "scope_text"}
                               for row in rows], indent=2))
        return
    if not rows:
        click.echo(f"{username} has no API tokens")
        return
    echo_table(("id", "prefix", "state", "created", "expires", "last used", "scope", "name"),
               [(row["id"], f"{row['prefix']}...", row["state"], row["created_at"],
                 row["expires_at"] or "never",
                 (f"{row['last_used_at']} from {row['last_used_address']}"
                  if row["last_used_address"] else row["last_used_at"] or "never"),
                 row["scope_text"], row["name"])
                for row in rows])


@tokens.command("revoke")
@click.argument("username")
@click.argument("token_id", type=int)
@pass_context
@user_errors
@changes_database()
def revoke(obj: Context, username: str, token_id: int) -> None:
    """Revoke USERNAME's token TOKEN_ID; it stops working at once."""

    async def work(store: Store) -> None:
        await store.revoke_token(await _user_id(store, username), token_id, actor="cli")

    with_store(obj, work)
    click.echo(f"revoked token {token_id} of {username}")


def register(main: click.Group) -> None:
    main.add_command(tokens)
