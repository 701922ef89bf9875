"""The bundle of long-lived objects a running pyTorrent shares with its plugins."""

from __future__ import annotations

from dataclasses import dataclass

from .access.audit import AuditLog
from .access.cache import AuthCache
from .config import Settings
from .plugins import AuthPlugins
from .storage import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    cache: AuthCache
    plugins: AuthPlugins
    audit: AuditLog
