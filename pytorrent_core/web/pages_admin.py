"""Admin pages: users (and one user's sessions), profiles, API tokens, audit log. Shells;
the data comes from the APIs.

Each page needs the admin role, as the APIs it calls do; a non-admin gets 403 here
and never sees the links.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app, g, redirect, render_template
from werkzeug.exceptions import NotFound

from ..access.policy import Need, requires
from ..models import Principal

blueprint = Blueprint("admin", __name__)

SECTIONS = (("users", "Users"), ("profiles", "Profiles"), ("tokens", "API tokens"),
            ("audit", "Audit log"))


async def _page(section: str, nav: str | None = None, **context: Any) -> Any:
    principal: Principal = g.principal
    external = bool(current_app.extensions["pytorrent"]["resolver"].external)
    return await render_template(f"admin_{section}.html", principal=principal,
                                 external=external, section=section, sections=SECTIONS,
                                 nav=nav or section, **context)


@blueprint.get("/admin")
@requires(Need.ADMIN)
async def admin_index() -> Any:
    return redirect("/admin/users")


@blueprint.get("/admin/users")
@requires(Need.ADMIN)
async def admin_users() -> Any:
    return await _page("users")


@blueprint.get("/admin/users/<int:user_id>")
@requires(Need.ADMIN)
async def admin_user(user_id: int) -> Any:
    """One user: where they are signed in, to end one session or all of them."""
    user = await current_app.extensions["pytorrent"]["services"].store.get_user(user_id)
    if user is None:
        raise NotFound("no such user")
    return await _page("user", nav="users", user=user)


@blueprint.get("/admin/profiles")
@requires(Need.ADMIN)
async def admin_profiles() -> Any:
    return await _page("profiles")


@blueprint.get("/admin/tokens")
@requires(Need.ADMIN)
async def admin_tokens() -> Any:
    return await _page("tokens")


@blueprint.get("/admin/audit")
@requires(Need.ADMIN)
async def admin_audit() -> Any:
    return await _page("audit")


def register(app: Any) -> None:
    app.register_blueprint(blueprint)
