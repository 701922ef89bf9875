"""``pytorrent audit`` and ``pytorrent sessions``: read the audit log, see and end sign-in
sessions from a shell.

An ended session reaches a running server through the store's logout counter, so its
cookie is refused there within a second.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import click

from .cli_common import Context, pass_context, user_errors, with_store
from .storage import Store, StoreError

T = TypeVar("T")
ACTOR = "cli"


def _when(text: str | None, option: str) -> Any:
    from .access.audit import parse_when

    if not text:
        return None
    try:
        return parse_when(text, option)
    except ValueError as problem:
        raise click.UsageError(str(problem)) from None


@click.command("audit")
@click.option("--user", default=None, help="Only events whose actor or target is USER.")
@click.option("--kind", default=None,
              help="Only this kind (torrent.remove-data) or family (user, auth, session).")
@click.option("--since", default=None, help="From this time: ISO 8601, or 30m, 12h, 1d, 2w ago.")
@click.option("--until", default=None, help="Before this time: ISO 8601, or a time ago.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="At most this many events, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@user_errors
def audit(obj: Context, user: str | None, kind: str | None, since: str | None,
          until: str | None, limit: int, as_json: bool) -> None:
    """Security events, newest first: who did what, from where, and the outcome."""
    from .access.audit import event_json

    start, end = _when(since, "--since"), _when(until, "--until")

    async def work(store: Store) -> list[dict[str, Any]]:
        rows = await store.audit_events(limit, user=user, kind=kind, since=start, until=end)
        return [event_json(row) for row in rows]

    events = with_store(obj, work)
    if as_json:
        click.echo(json.dumps(events, indent=2))
        return
    if not events:
        click.echo("no audit events match")
        return
    for event in events:
        detail = f"  {json.dumps(event['detail'])}" if event["detail"] is not None else ""
        click.echo(f"{event['at'][:19]}  {event['kind']:<22} {event['outcome']:<9} "
                   f"{event['actor'] or '-'} from {event['address'] or '-'}"
                   f" via {event['provider'] or '-'}"
                   f"{'  -> ' + event['target'] if event['target'] else ''}{detail}")


@click.group()
def sessions() -> None:
    """Sign-in sessions: list them, end one."""


@sessions.command("list")
@click.argument("username", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
@user_errors
def list_(obj: Context, username: str | None, as_json: bool) -> None:
    """Live sessions of USERNAME (of everyone when omitted), newest first."""

    async def work(store: Store) -> list[dict[str, Any]]:
        names = {user.id: user.username for user in await store.list_users()}
        user_id = None
        if username is not None:
            user = await store.get_user_by_name(username)
            if user is None:
                raise StoreError(f"no user named {username!r}; see `pytorrent users list`",
                                 "username", 404)
            user_id = user.id
        return [{"id": r.sid, "username": names.get(r.user_id), "user_id": r.user_id,
                 "created_at": r.created_at.isoformat(timespec="seconds"),
                 "last_seen_at": r.last_seen_at.isoformat(timespec="seconds"),
                 "expires_at": r.expires_at.isoformat(timespec="seconds"),
                 "address": r.address, "agent": r.agent, "remember": r.remember}
                for r in await store.sessions(user_id)]

    rows = with_store(obj, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no live sign-in sessions")
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['username']:<16} {row['agent'] or '-':<22} "
                   f"from {row['address'] or '-':<15} since {row['created_at']}  "
                   f"last seen {row['last_seen_at']}")


@sessions.command("revoke")
@click.argument("sid")
@pass_context
@user_errors
def revoke(obj: Context, sid: str) -> None:
    """End session SID (from `pytorrent sessions list`): its cookie stops working.

    An id from an older release may begin with "-": put it after "--"
    (`pytorrent sessions revoke -- -Gr...`)."""

    async def work(store: Store) -> str:
        record = await store.session(sid)
        if record is None:
            raise StoreError(f"no session {sid!r}; see `pytorrent sessions list`", "sid", 404)
        owner = await store.get_user(record.user_id)
        await store.end_session(record.sid, record.user_id, record.expires_at)
        name = owner.username if owner else str(record.user_id)
        await store.audit("session.end", actor=ACTOR, target=name, provider=ACTOR,
                          detail={"session": record.sid[:8], "agent": record.agent,
                                  "address": record.address})
        return name

    click.echo(f"ended session {sid} of {with_store(obj, work)}")


def register(main: click.Group) -> None:
    main.add_command(audit)
    main.add_command(sessions)
