"""Scoped API tokens on Socket.IO, against a real server: a ro token scoped to one profile
joins that profile only, changes nothing, and leaves the room when its owner loses access."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytorrent_core.access import tokens
from pytorrent_core.models import TokenScope
from pytorrent_core.storage import Store
from pytorrent_core.testing import ServerProcess, free_port, socketio_client

pytestmark = pytest.mark.server
WAIT = 15.0


async def test_ro_token_on_socketio(tmp_path: Path) -> None:
    with ServerProcess(tmp_path) as server:
        store = Store.from_url(server.database_url)
        try:
            dead = f"scgi://127.0.0.1:{free_port()}"
            own = await store.create_profile("own", dead)
            other = await store.create_profile("other", dead)
            alice = await store.create_user("alice", permissions={own.id: "full",
                                                                  other.id: "full"})
            plaintext, prefix, digest = tokens.generate()
            await store.create_token(alice.id, "watch", prefix, digest, None,
                                     scope=TokenScope("ro", frozenset({own.id})))

            async with socketio_client() as client:
                left: asyncio.Queue[object] = asyncio.Queue()
                client.on("profile:left", left.put_nowait)
                await client.connect(server.url, auth={"token": plaintext},
                                     transports=["websocket"], wait_timeout=10)
                joined = await client.call("profile:join", {"profile_id": own.id}, timeout=10)
                assert joined == {"ok": True, "room": f"profile:{own.id}"}
                refused = await client.call("profile:join", {"profile_id": other.id},
                                            timeout=10)
                assert refused["status"] == 403, refused
                labels = await client.call("profile:labels", {"profile_id": other.id},
                                           timeout=10)
                assert labels["status"] == 403
                write = await client.call("profile:labels:set",
                                          {"profile_id": own.id, "labels": ["x"]}, timeout=10)
                assert write["status"] == 403 and "read-only" in write["error"]
                assert await store.profile_labels(own.id) == []

                # The owner loses the profile: the token is taken out of its room at once.
                await store.set_permissions(alice.id, {other.id: "full"})
                gone = await asyncio.wait_for(left.get(), WAIT)
                assert gone == {"profile_id": own.id, "reason": "no read access to this profile"}
                again = await client.call("profile:join", {"profile_id": own.id}, timeout=10)
                assert again["status"] == 403
        finally:
            await store.close()
