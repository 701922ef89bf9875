"""Core's default hook implementations; they run after the active provider's."""

from __future__ import annotations

from . import provisioning
from .context import ProviderContext
from .hookspecs import hookimpl
from .models import Identity, LogoutAction, User


@hookimpl(trylast=True)
def pytorrent_logout() -> LogoutAction:
    return LogoutAction(clear_session=True, redirect_to="/login")


@hookimpl(trylast=True)
async def pytorrent_provision(identity: Identity, context: ProviderContext) -> User | None:
    return await provisioning.provision(identity, context)
