"""Where a database URL points, said the way an operator recognises it.

A command that opens the database under another user, HOME or config file would
otherwise create a second, empty database and report success; callers use these
to name the database they touch and to notice one that does not exist yet.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def sqlite_file(url: str) -> Path | None:
    """The SQLite file ``url`` names (absolute); None for other engines and in-memory."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().absolute()


def describe(url: str) -> str:
    """The SQLite file's path, or the URL with any password masked."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(a database URL that cannot be parsed)"
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        return "SQLite in memory"
    return parsed.render_as_string(hide_password=True)
