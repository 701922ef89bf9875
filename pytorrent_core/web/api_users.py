"""Admin-only user management over REST: ``/api/auth/users``.

Validation happens before any write, and each problem answers 400 with the
offending ``field``; the store enforces the admin protections (built-in admin,
last active admin) and its refusals reach the client the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from quart import Quart, current_app, g, jsonify

from ..access.policy import Need, requires
from ..models import LEVEL_NAMES, Level, Principal, User
from ..passwords import PasswordProblem, check_policy, hash_password
from ..services import Services
from ..storage import StoreError
from ..usernames import normalise, text_problem, username_problem
from .inputs import json_object

MAX_TEXT = 256
ROLES = ("admin", "user")
CREATE_FIELDS = frozenset({"username", "display_name", "email", "role", "active", "password",
                           "permissions"})
EXTERNAL_PROVIDER_MESSAGE = ("the active authentication provider is external: its users sign in "
                     "upstream and have no pyTorrent password")


class Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _services() -> Services:
    return current_app.extensions["pytorrent"]["services"]


def _external() -> bool:
    return bool(current_app.extensions["pytorrent"]["resolver"].external)


def user_fields(user: User, grants: Mapping[int | None, Level]) -> dict[str, Any]:
    """A user as the API shows it, to admins and to the user; never a password or hash."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "email": user.email,
        "role": user.role,
        "active": user.active,
        "builtin": user.builtin,
        "has_password": user.has_password,
        "two_factor": user.two_factor,
        "provider": user.provider,
        "groups": list(user.groups),
        "permissions": {("*" if key is None else str(key)): level
                        for key, level in grants.items()},
    }


async def user_json(user: User) -> dict[str, Any]:
    return user_fields(user, await _services().store.permissions(user.id))


# ---------------------------------------------------------------- validation


def _text(data: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = data[key]
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(key, f"{key} must be a string or null")
    value = normalise(value)
    problem = text_problem(value, limit)
    if problem:
        raise Invalid(key, f"{key} {problem}")
    return value or None


def _username(data: Mapping[str, Any]) -> str:
    # The same rules as names that arrive in a proxy's header, so an admin can
    # create in advance any user an external provider may sign in. Whether the name
    # reads the same as another user's is the store's answer (409).
    value = data["username"]
    if not isinstance(value, str):
        raise Invalid("username", "username must be a string")
    value = normalise(value)
    problem = username_problem(value)
    if problem:
        raise Invalid("username", f"username {problem}")
    return value


def _email(data: Mapping[str, Any]) -> str | None:
    value = _text(data, "email", MAX_TEXT)
    if value is not None and ("@" not in value.strip("@") or any(ch.isspace() for ch in value)):
        raise Invalid("email", "email must look like name@example.com, or be null")
    return value


def _role(data: Mapping[str, Any]) -> str:
    value = data["role"]
    if value not in ROLES:
        raise Invalid("role", "role must be admin or user")
    return str(value)


def _active(data: Mapping[str, Any]) -> bool:
    value = data["active"]
    if not isinstance(value, bool):
        raise Invalid("active", "active must be true or false")
    return value


async def _password_hash(data: Mapping[str, Any]) -> str:
    value = data["password"]
    if not isinstance(value, str):
        raise Invalid("password", "password must be a string")
    if _external():
        raise Invalid("password", EXTERNAL_PROVIDER_MESSAGE)
    try:
        check_policy(value)
    except PasswordProblem as problem:
        raise Invalid("password", str(problem)) from None
    return await asyncio.to_thread(hash_password, value)


async def _permissions(data: Mapping[str, Any]) -> dict[int | None, Level]:
    value = data["permissions"]
    if not isinstance(value, dict):
        raise Invalid("permissions", 'permissions must be an object such as {"*": "ro", "3": '
                                     '"full"}')
    known = {profile.id for profile in await _services().store.list_profiles()}
    grants: dict[int | None, Level] = {}
    for key, level in value.items():
        if level not in LEVEL_NAMES:
            raise Invalid("permissions", f"permissions[{key!r}]: level must be none, ro, rw "
                                         "or full")
        if key == "*":
            profile_id: int | None = None
        elif isinstance(key, str) and key.isascii() and key.isdigit() and int(key) in known:
            profile_id = int(key)
        else:
            raise Invalid("permissions", f"permissions: {key!r} is not \"*\" or the id of an "
                                         "existing profile")
        grants[profile_id] = LEVEL_NAMES[level]
    return grants


async def _read(data: Any, *, creating: bool) -> tuple[dict[str, Any],
                                                        dict[int | None, Level] | None]:
    """Validated store fields and grants (``None``: leave grants alone)."""
    if not isinstance(data, dict):
        raise Invalid("body", "expected a JSON object")
    for key in data:
        if key not in CREATE_FIELDS:
            raise Invalid(key, f"unknown field {key!r}; allowed: "
                               f"{', '.join(sorted(CREATE_FIELDS))}")
    if creating and "username" not in data:
        raise Invalid("username", "username is required")
    fields: dict[str, Any] = {}
    if "username" in data:
        fields["username"] = _username(data)
    if "display_name" in data:
        fields["display_name"] = _text(data, "display_name", MAX_TEXT)
    if "email" in data:
        fields["email"] = _email(data)
    if "role" in data:
        fields["role"] = _role(data)
    if "active" in data:
        fields["active"] = _active(data)
    grants = await _permissions(data) if "permissions" in data else None
    if "password" in data:  # last: no hashing for a request that fails anyway
        fields["password_hash"] = await _password_hash(data)
    return fields, grants


# ---------------------------------------------------------------- routes


def _invalid(problem: Invalid) -> Any:
    return jsonify(error=str(problem), field=problem.field), 400


def register(app: Quart) -> None:
    @app.get("/api/auth/users")
    @requires(Need.ADMIN)
    async def list_users() -> Any:
        users = await _services().store.list_users()
        return jsonify(users=[await user_json(user) for user in users])

    @app.post("/api/auth/users")
    @requires(Need.ADMIN)
    async def create_user() -> Any:
        principal: Principal = g.principal
        try:
            fields, grants = await _read(await json_object(), creating=True)
        except Invalid as problem:
            return _invalid(problem)
        user = await _services().store.create_user(
            fields.pop("username"), permissions=grants, actor=principal.username, **fields)
        return jsonify(user=await user_json(user)), 201

    @app.get("/api/auth/users/<int:user_id>")
    @requires(Need.ADMIN)
    async def get_user(user_id: int) -> Any:
        user = await _services().store.get_user(user_id)
        if user is None:
            return jsonify(error="no such user", field="id"), 404
        return jsonify(user=await user_json(user))

    @app.put("/api/auth/users/<int:user_id>")
    @requires(Need.ADMIN)
    async def update_user(user_id: int) -> Any:
        principal: Principal = g.principal
        store = _services().store
        if await store.get_user(user_id) is None:
            return jsonify(error="no such user", field="id"), 404
        try:
            fields, grants = await _read(await json_object(), creating=False)
        except Invalid as problem:
            return _invalid(problem)
        user = await store.update_user(user_id, actor=principal.username, **fields) \
            if fields else await store.get_user(user_id)
        if user is None:
            raise StoreError("no such user", "id", 404)
        if grants is not None:
            await store.set_permissions(user_id, grants, actor=principal.username)
        return jsonify(user=await user_json(user))

    @app.delete("/api/auth/users/<int:user_id>")
    @requires(Need.ADMIN)
    async def delete_user(user_id: int) -> Any:
        principal: Principal = g.principal
        await _services().store.delete_user(user_id, actor=principal.username)
        return jsonify(ok=True, deleted=user_id)
