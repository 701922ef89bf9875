"""Alembic's environment for pyTorrent: migrate the connection the caller passes in.

pyTorrent runs Alembic itself (:mod:`pytorrent_core.storage.upgrade`), on a
connection of its async engine lent through ``run_sync`` inside one transaction;
there is no alembic.ini and no URL here.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("pyTorrent's migrations run through `pytorrent db upgrade` "
                       "(or at start-up), not through the alembic command")
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
