"""Persistence: schema, migrations and the :class:`Store` gateway."""

from .store import Profile, Store, StoreError, TokenRecord, make_engine

__all__ = ["Profile", "Store", "StoreError", "TokenRecord", "make_engine"]
