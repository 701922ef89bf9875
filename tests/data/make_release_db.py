"""Make ``release.sqlite``: a database written by the release this checkout upgrades from.

Run it with that release's code first on the path, never with the code under test::

    git worktree add --detach /tmp/release <commit>
    PYTHONPATH=/tmp/release .venv/bin/python tests/data/make_release_db.py tests/data

It starts the release as ``pytorrent serve`` would the first time (its own migrations,
the built-in admin), then writes through its own Store a row into every table: users
(local, proxy, two-factor, inactive), a profile with labels, grants, an active profile,
API tokens (plain, scoped, revoked), audit events, sign-in sessions, an ended session
and a confirmed TOTP enrolment with recovery codes. ``release.json`` beside it keeps
what a test needs to use them (passwords, token plaintexts, the TOTP seed, a recovery
code) and the commit that wrote them. Test data only: nothing here is a real secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytorrent_core
from pytorrent_core import twofactor
from pytorrent_core.access import tokens
from pytorrent_core.bootstrap import load, preflight
from pytorrent_core.models import TokenScope
from pytorrent_core.passwords import hash_password
from pytorrent_core.storage import Store, migrations
from pytorrent_core.storage.two_factor import TwoFactorStore
from pytorrent_core.testing import environment

FAR = datetime(2099, 1, 1, tzinfo=UTC)


async def fill(url: str) -> dict[str, object]:
    store = Store.from_url(url)
    second = TwoFactorStore(store)
    try:
        admin = await store.get_user_by_name("admin")
        assert admin is not None
        await store.update_user(admin.id, password_hash=hash_password("admin-release-pw"),
                                actor="admin")
        alice = await store.create_user("alice", password_hash=hash_password("alice-release-pw"),
                                        display_name="Alice A", email="alice@example.org",
                                        groups=["family", "media"], actor="admin")
        bob = await store.create_user("bob", provider="proxy", external_subject="bob-sub",
                                      groups=["guests"], actor="admin")
        carol = await store.create_user("carol", role="admin",
                                        password_hash=hash_password("carol-release-pw"),
                                        actor="admin")
        dave = await store.create_user("dave", active=False, actor="admin",
                                       password_hash=hash_password("dave-release-pw"))
        seedbox = await store.create_profile("seedbox", "scgi://127.0.0.1:5000",
                                             data_root="/srv/torrents", actor="admin")
        spare = await store.create_profile("spare", "scgi:///run/rtorrent.sock", actor="admin")
        await store.set_profile_labels(seedbox.id, ["movies", "linux isos"], actor="admin")
        await store.set_permissions(alice.id, {seedbox.id: "full", spare.id: "ro"},
                                    actor="admin")
        await store.set_permissions(bob.id, {None: "ro"}, actor="admin")
        await store.set_active_profile(alice.id, seedbox.id)

        plain, prefix, digest = tokens.generate()
        await store.create_token(alice.id, "backup script", prefix, digest, FAR, actor="alice")
        scoped, prefix, digest = tokens.generate()
        await store.create_token(alice.id, "read only", prefix, digest, None, actor="alice",
                                 scope=TokenScope("ro", frozenset({seedbox.id})))
        revoked, prefix, digest = tokens.generate()
        record = await store.create_token(alice.id, "old", prefix, digest, None, actor="alice")
        await store.revoke_token(alice.id, record.id, actor="alice")

        await store.audit("login", actor="alice", remote_addr="192.0.2.7", provider="local")
        await store.audit("login", actor="mallory", remote_addr="192.0.2.9", provider="local",
                          outcome="failed")
        await store.record_session("live-session-id", alice, expires_at=FAR,
                                   address="192.0.2.7", agent="Firefox on Linux",
                                   remember=True)
        await store.record_session("ended-session-id", alice, expires_at=FAR,
                                   address="192.0.2.7", agent="Chrome on Android",
                                   remember=False)
        await store.end_session("ended-session-id", alice.id, FAR)

        secret, salt = twofactor.new_secret(), twofactor.new_salt()
        codes = twofactor.new_recovery_codes()
        await second.begin(carol.id, secret, salt)
        assert await second.confirm(carol.id, 1, [twofactor.recovery_digest(salt, code)
                                                  for code in codes], actor="carol")
        return {
            "passwords": {"admin": "admin-release-pw", "alice": "alice-release-pw",
                          "carol": "carol-release-pw", "dave": "dave-release-pw"},
            "tokens": {"plain": plain, "scoped": scoped, "revoked": revoked},
            "totp_secret": secret, "recovery_code": codes[0],
            "ids": {"alice": alice.id, "bob": bob.id, "carol": carol.id, "dave": dave.id,
                    "seedbox": seedbox.id, "spare": spare.id},
        }
    finally:
        await store.close()


def main(out: Path) -> None:
    source = Path(pytorrent_core.__file__).resolve().parent.parent
    commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        environ = environment(Path(tmp))
        asyncio.run(preflight(*load(None, environ)))
        database = Path(environ["PYTORRENT_DATA_DIR"]) / "pytorrent.db"
        facts = asyncio.run(fill(f"sqlite+aiosqlite:///{database}"))
        with sqlite3.connect(database) as conn:  # one self-contained file, no -wal beside it
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        target = out / "release.sqlite"
        target.write_bytes(database.read_bytes())
        os.chmod(target, 0o644)
    facts = {"commit": commit, "schema_version": migrations.LATEST, **facts}
    (out / "release.json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target} (schema {migrations.LATEST}, commit {commit[:12]})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
