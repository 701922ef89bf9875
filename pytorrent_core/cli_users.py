"""``pytorrent reset-password`` and ``pytorrent users ...``: user management from a shell.

Every command opens the same services the server uses (so migrations run and the
first admin exists), changes the store, and closes it. A change that ends
sessions reaches a running server through the store's auth generation. Commands
that write name the database they changed and refuse a missing one without
``--create``.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import click

from .cli_common import (
    Context,
    changes_database,
    echo_table,
    pass_context,
    user_errors,
    with_services,
)
from .models import LEVEL_NAMES, User
from .passwords import PasswordProblem, check_policy, hash_password
from .services import Services
from .storage import StoreError
from .storage.store import deletion_refusal
from .usernames import normalise, username_problem

T = TypeVar("T")
ACTOR = "cli"


async def _existing(services: Services, username: str) -> User:
    user = await services.store.get_user_by_name(username)
    if user is None:
        raise click.ClickException(f"no user named {username!r}; see `pytorrent users list`")
    return user


def _new_password(given: str | None) -> str:
    """The password from the argument, or asked for twice without echo."""
    if given is None:
        given = click.prompt("New password", hide_input=True)
        again = click.prompt("Repeat the password", hide_input=True)
        if given != again:
            raise click.ClickException("the two passwords do not match; nothing was changed")
    try:
        check_policy(given)
    except PasswordProblem as problem:
        raise click.ClickException(f"{problem}; nothing was changed") from None
    return given


def _warn_if_external(services: Services, user: User) -> None:
    info = services.plugins.provider_info(services.settings)
    if not info.external:
        return
    if user.username in services.settings.auth_break_glass_users:
        click.echo(f"note: the active provider ({services.plugins.provider}) is external; "
                   "this password works at /login/local (PYTORRENT_AUTH_BREAK_GLASS_USERS) "
                   "and with the local provider", err=True)
        return
    click.echo(f"note: the active provider ({services.plugins.provider}) is external; "
               "this password is used only with the local provider", err=True)


def _describe(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role,
            "active": user.active, "builtin": user.builtin,
            "has_password": user.has_password, "provider": user.provider,
            "display_name": user.display_name, "email": user.email}


def register(main: click.Group) -> None:
    @main.command("reset-password")
    @click.argument("username")
    @click.argument("password", required=False)
    @pass_context
    @user_errors
    @changes_database()
    def reset_password(obj: Context, username: str, password: str | None) -> None:
        """Set USER's password and end all of their sessions.

        Without PASSWORD, asks for it twice without echoing it.
        """

        async def work(services: Services) -> User:
            user = await _existing(services, username)
            new = _new_password(password)
            _warn_if_external(services, user)
            return await services.store.update_user(user.id, password_hash=hash_password(new),
                                                    actor=ACTOR)

        user = with_services(obj, work)
        click.echo(f"password of {user.username!r} changed; their sessions have ended")

    @main.group()
    def users() -> None:
        """List, add, change and remove pyTorrent users."""

    @users.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @pass_context
    @user_errors
    def users_list(obj: Context, as_json: bool) -> None:
        """Every user: id, name, role, state."""

        async def work(services: Services) -> list[User]:
            return await services.store.list_users()

        rows = [_describe(user) for user in with_services(obj, work)]
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        echo_table(("id", "username", "role", "state", "sign-in"), [
            (row["id"], row["username"], row["role"],
             "active" if row["active"] else "inactive",
             ("password" if row["has_password"] else (row["provider"] or "none"))
             + (" (built-in)" if row["builtin"] else ""))
            for row in rows])

    @users.command("add")
    @click.argument("username")
    @click.option("--role", type=click.Choice(["user", "admin"]), default="user",
                  show_default=True)
    @click.option("--permission", type=click.Choice(list(LEVEL_NAMES)), default="none",
                  show_default=True, help="Access to every profile for role=user "
                  "(rw is an alias of full).")
    @click.option("--display-name", default=None)
    @click.option("--email", default=None)
    @click.option("--password", default=None,
                  help="Initial password (default: asked for twice without echo).")
    @click.option("--no-password", is_flag=True,
                  help="Create without a password (for external providers).")
    @pass_context
    @user_errors
    @changes_database()
    def users_add(obj: Context, username: str, role: str, permission: str,
                  display_name: str | None, email: str | None, password: str | None,
                  no_password: bool) -> None:
        """Create USERNAME."""
        if no_password and password is not None:
            raise click.ClickException("give --password or --no-password, not both")
        name = normalise(username)
        problem = username_problem(name)
        if problem:
            raise click.ClickException(f"username {username!r} {problem}")
        secret = None if no_password else _new_password(password)
        level = LEVEL_NAMES[permission]

        async def work(services: Services) -> User:
            return await services.store.create_user(
                name, role=role,  # type: ignore[arg-type]
                password_hash=hash_password(secret) if secret is not None else None,
                display_name=display_name, email=email,
                permissions={None: level} if level != "none" else None, actor=ACTOR)

        user = with_services(obj, work)
        click.echo(f"created {user.role} {user.username!r} (id {user.id})")

    @users.command("set-role")
    @click.argument("username")
    @click.argument("role", type=click.Choice(["user", "admin"]))
    @pass_context
    @user_errors
    @changes_database()
    def users_set_role(obj: Context, username: str, role: str) -> None:
        """Make USERNAME an admin or a user (ends their sessions)."""
        _update(obj, username, f"{{name!r}} is now {role}", role=role)

    @users.command("activate")
    @click.argument("username")
    @pass_context
    @user_errors
    @changes_database()
    def users_activate(obj: Context, username: str) -> None:
        """Let USERNAME sign in again."""
        _update(obj, username, "{name!r} is active", active=True)

    @users.command("deactivate")
    @click.argument("username")
    @pass_context
    @user_errors
    @changes_database()
    def users_deactivate(obj: Context, username: str) -> None:
        """Stop USERNAME from signing in and end their sessions."""
        _update(obj, username, "{name!r} is deactivated; their sessions have ended",
                active=False)

    @users.command("reset-2fa")
    @click.argument("username")
    @pass_context
    @user_errors
    @changes_database()
    def users_reset_2fa(obj: Context, username: str) -> None:
        """Turn USERNAME's two-factor sign-in off (a lost authenticator): the password
        alone signs them in until they set it up again."""
        from .storage.two_factor import TwoFactorStore

        async def work(services: Services) -> tuple[str, bool]:
            user = await _existing(services, username)
            return user.username, await TwoFactorStore(services.store).reset(user.id,
                                                                             actor=ACTOR)

        name, removed = with_services(obj, work)
        click.echo(f"two-factor sign-in of {name!r} reset" if removed
                   else f"{name!r} had no two-factor sign-in; nothing to reset")

    @users.command("delete")
    @click.argument("username")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @pass_context
    @user_errors
    @changes_database()
    def users_delete(obj: Context, username: str, yes: bool) -> None:
        """Delete USERNAME, their grants and API tokens."""

        async def deletable(services: Services) -> User:
            user = await _existing(services, username)
            problem = deletion_refusal(user, await services.store.count_active_admins())
            if problem is not None:
                raise StoreError(problem, "id")  # before asking: the answer would not matter
            return user

        user = with_services(obj, deletable)
        if not yes:
            click.confirm(f"Delete user {user.username!r}?", abort=True)

        async def work(services: Services) -> None:
            await services.store.delete_user(user.id, actor=ACTOR)

        with_services(obj, work)
        click.echo(f"deleted {user.username!r}")


def _update(obj: Context, username: str, done: str, **fields: Any) -> None:
    async def work(services: Services) -> User:
        user = await _existing(services, username)
        return await services.store.update_user(user.id, actor=ACTOR, **fields)

    user = with_services(obj, work)
    click.echo(done.format(name=user.username))
