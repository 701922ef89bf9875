"""Core's default hook implementations; they run after the active provider's."""

from __future__ import annotations

from typing import Any

from . import provisioning
from .hookspecs import hookimpl
from .models import Identity, LogoutAction, User


@hookimpl(trylast=True)
def pytorrent_logout() -> LogoutAction:
    return LogoutAction(clear_session=True, redirect_to="/login")


@hookimpl(trylast=True)
async def pytorrent_provision(identity: Identity, services: Any) -> User | None:
    return await provisioning.provision(identity, services)
