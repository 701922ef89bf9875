"""The bundle of long-lived objects a running pyTorrent shares between its layers.

Providers never see it: they get :attr:`Services.provider_context`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .access.audit import AuditLog
from .access.cache import AuthCache
from .config import Settings
from .context import ProviderContext
from .plugins import AuthPlugins
from .storage import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    cache: AuthCache
    plugins: AuthPlugins
    audit: AuditLog
    provider_context: ProviderContext = field(init=False)

    def __post_init__(self) -> None:
        self.provider_context = ProviderContext(self.store, self.settings,
                                                self.plugins.provider,
                                                self.plugins.provider_info(self.settings))
