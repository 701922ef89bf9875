"""Torrents over REST, per profile: status, list, details, add, actions.

Each route declares its need (profile read or profile write); the policy check
in ``app.authorise`` has run before a view starts. Views validate input, call
the profile's client (never building XML-RPC themselves) and ask the hub to
poll soon after a change, so rooms see it within one poll.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quart import Blueprint, current_app, g, jsonify, request
from werkzeug.datastructures import FileStorage

from ..access.policy import Need, requires
from ..profiles import LABEL_MAX
from ..rtorrent import errors
from ..rtorrent.client import Action, Details, RTorrentClient, parse_magnet, parse_torrent
from ..rtorrent.model import Torrent
from ..storage import Profile, StoreError
from .inputs import json_object
from .live import TorrentHub

blueprint = Blueprint("torrents", __name__)

ACTIONS = ("start", "stop", "pause", "recheck", "label", "remove")
MAX_HASHES = 10_000
MAX_ITEMS = 100
TORRENT_FILE_MAX = 10 * 1024 * 1024
PATH_MAX = 1024
_HASH = re.compile(r"^[0-9A-Fa-f]{40}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _hub() -> TorrentHub:
    return current_app.extensions["pytorrent"]["hub"]


async def _profile(profile_id: int) -> Profile:
    profile = await current_app.extensions["pytorrent"]["services"].cache.profile(profile_id)
    if profile is None:
        raise StoreError("no such profile", "profile_id", 404)
    return profile


async def _client(profile_id: int) -> tuple[Profile, RTorrentClient]:
    profile = await _profile(profile_id)
    return profile, _hub().client_for(profile)


@blueprint.errorhandler(errors.RTorrentError)
async def rtorrent_failed(error: errors.RTorrentError) -> Any:
    if isinstance(error, errors.NotFound):
        return jsonify(error="no such torrent in this profile"), 404
    return jsonify(error=f"rTorrent: {error}"), 502


def _label(value: Any) -> str:
    if not isinstance(value, str) or len(value) > LABEL_MAX or _CONTROL.search(value):
        raise StoreError(f"label must be text of at most {LABEL_MAX} printable characters "
                         "(empty clears it)", "label")
    return value.strip()


def _directory(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > PATH_MAX or _CONTROL.search(value) \
            or not value.startswith("/"):
        raise StoreError("directory must be an absolute path on the rTorrent machine, "
                         "or empty for rTorrent's default", "directory")
    return value


def _flag(value: Any, field: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0",
                                                    "no", "off"):
        return value.lower() in ("true", "1", "yes", "on")
    raise StoreError(f"{field} must be true or false", field)


def _hashes(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise StoreError("hashes must be a non-empty list of info-hashes", "hashes")
    if len(value) > MAX_HASHES:
        raise StoreError(f"at most {MAX_HASHES} hashes per request", "hashes")
    hashes: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _HASH.match(item):
            raise StoreError("each hash must be a 40-character hexadecimal info-hash",
                             "hashes")
        if item.upper() not in hashes:
            hashes.append(item.upper())
    return hashes


def _info_hash(value: str) -> str:
    if not _HASH.match(value):
        raise StoreError("not an info-hash: expected 40 hexadecimal characters", "hash", 404)
    return value.upper()


@blueprint.get("/api/profiles/<int:profile_id>/status")
@requires(Need.PROFILE_READ)
async def status(profile_id: int) -> Any:
    _, client = await _client(profile_id)
    try:
        found = await client.status()
    except errors.RTorrentError as error:
        return jsonify(connected=False, error=str(error))
    return jsonify(connected=True, client_version=found.client_version,
                   down_rate=found.down_rate, up_rate=found.up_rate, torrents=found.torrents)


@blueprint.get("/api/profiles/<int:profile_id>/torrents")
@requires(Need.PROFILE_READ)
async def list_torrents(profile_id: int) -> Any:
    _, client = await _client(profile_id)
    watched = await _watched_rows(profile_id)
    rows = list(watched.values()) if watched is not None else await client.torrents()
    return jsonify(profile_id=profile_id, torrents=[row.to_json() for row in rows])


async def _watched_rows(profile_id: int) -> Mapping[str, Torrent] | None:
    """The rows of the profile's watcher when it is watched and rTorrent answers it.

    After an action the watcher has a poll pending; it runs first (just the
    torrents acted on), so a client never reads the list from before its change.
    """
    watcher = _hub().watcher(profile_id)
    if watcher is None or watcher.status is None or not watcher.status.reachable:
        return None
    if watcher.pending:
        await watcher.poll()
    return watcher.rows


@blueprint.get("/api/profiles/<int:profile_id>/torrents/<info_hash>")
@requires(Need.PROFILE_READ)
async def torrent_details(profile_id: int, info_hash: str) -> Any:
    _, client = await _client(profile_id)
    info_hash = _info_hash(info_hash)
    details = await client.details(info_hash)
    row = await _row(profile_id, client, info_hash)
    if row is None:
        raise errors.NotFound(info_hash)
    return jsonify({**row.to_json(), **details_json(details)})


async def _row(profile_id: int, client: RTorrentClient, info_hash: str) -> Torrent | None:
    """The row from the profile's watcher when it is watched, else from rTorrent."""
    watched = await _watched_rows(profile_id)
    if watched is not None:
        found = watched.get(info_hash)
        if found is not None:
            return found
    return (await client.torrents_of([info_hash])).get(info_hash)


def details_json(details: Details) -> dict[str, Any]:
    return {
        "files": [{"path": f.path, "size": f.size, "progress": f.progress,
                   "priority": f.priority} for f in details.files],
        "trackers": [{"url": t.url, "type": t.type, "enabled": t.enabled,
                      "seeders": t.seeders, "leechers": t.leechers} for t in details.trackers],
        "peers": [{"address": p.address, "client": p.client, "down_rate": p.down_rate,
                   "up_rate": p.up_rate, "progress": p.completed / 100,
                   "encrypted": p.encrypted, "incoming": p.incoming} for p in details.peers],
    }


@blueprint.post("/api/profiles/<int:profile_id>/torrents")
@requires(Need.PROFILE_WRITE)
async def add_torrents(profile_id: int) -> Any:
    _, client = await _client(profile_id)
    items: list[tuple[str, str, bytes]] = []  # (item name, kind, payload)
    if request.mimetype == "multipart/form-data":
        form = await request.form
        files = (await request.files).getlist("torrent")
        options: Any = form
        uris = [line.strip() for text in form.getlist("uris") for line in text.splitlines()]
    else:
        options = await json_object("multipart/form-data with .torrent files in the field "
                                    "'torrent', or a JSON object with \"uris\"")
        raw_uris = options.get("uris", [])
        if not isinstance(raw_uris, list) or not all(isinstance(u, str) for u in raw_uris):
            raise StoreError("uris must be a list of magnet links", "uris")
        files, uris = [], [u.strip() for u in raw_uris]
    uris = [u for u in uris if u]
    if not files and not uris:
        raise StoreError("nothing to add: send .torrent files (field 'torrent') or magnet "
                         "links (uris)", "torrent")
    if len(files) + len(uris) > MAX_ITEMS:
        raise StoreError(f"at most {MAX_ITEMS} torrents per request", "torrent")
    start = _flag(options.get("start"), "start", True)
    label = _label(options.get("label") or "")
    directory = _directory(options.get("directory"))

    problems: list[dict[str, str]] = []
    for upload in files:
        name, data = await _read_upload(upload)
        try:
            parse_torrent(data)
        except ValueError as problem:
            problems.append({"item": name, "error": str(problem)})
            continue
        items.append((name, "file", data))
    for uri in uris:
        shown = uri if len(uri) <= 120 else uri[:117] + "..."
        try:
            parse_magnet(uri)
        except ValueError as problem:
            problems.append({"item": shown, "error": str(problem)})
            continue
        items.append((shown, "magnet", uri.encode()))
    if problems:  # nothing is added unless every item is valid
        first = problems[0]
        return jsonify(error=f"{first['item']}: {first['error']}", item=first["item"],
                       errors=problems), 400

    added: list[str] = []
    failed: list[dict[str, str]] = []
    for name, kind, payload in items:
        try:
            if kind == "file":
                added.append(await client.add_torrent(payload, start=start,
                                                      directory=directory, label=label or None))
            else:
                added.append(await client.add_magnet(payload.decode(), start=start,
                                                     directory=directory, label=label or None))
        except errors.RTorrentError as error:
            failed.append({"item": name, "error": str(error)})
    _hub().poke(profile_id, added)
    if failed:
        return jsonify(error=f"{failed[0]['item']}: {failed[0]['error']}", added=added,
                       errors=failed), 502
    return jsonify(added=added), 201


async def _read_upload(upload: FileStorage) -> tuple[str, bytes]:
    name = (upload.filename or "upload.torrent")[:200]
    data = upload.stream.read(TORRENT_FILE_MAX + 1)
    if len(data) > TORRENT_FILE_MAX:
        raise StoreError(f"{name}: too large (a .torrent file is at most "
                         f"{TORRENT_FILE_MAX // (1024 * 1024)} MiB)", "torrent")
    return name, data


@blueprint.post("/api/profiles/<int:profile_id>/torrents/actions")
@requires(Need.PROFILE_WRITE)
async def torrent_actions(profile_id: int) -> Any:
    profile, client = await _client(profile_id)
    data = await json_object("a JSON object with action and hashes")
    action = data.get("action")
    if action not in ACTIONS:
        raise StoreError(f"action must be one of: {', '.join(ACTIONS)}", "action")
    hashes = _hashes(data.get("hashes"))
    delete = _flag(data.get("delete_data"), "delete_data", False)
    if action == "label":
        results = await client.set_label(hashes, _label(data.get("label", "")))
    elif action == "remove" and delete:
        if profile.data_root is None:
            return jsonify(error="this profile does not allow deleting data: an admin must "
                                 "set its data root (data_root) to the folder rTorrent "
                                 "downloads into", field="data_root"), 409
        names = await _names(profile_id, client, hashes)
        results = await client.remove(hashes, data_root=Path(profile.data_root))
        _audit_removal(profile, names, results)
    else:
        results = await client.act(Action(action), hashes)
    _hub().poke(profile_id, hashes)
    return jsonify(results={h: ("ok" if problem is None else problem)
                            for h, problem in results.items()})


async def _names(profile_id: int, client: RTorrentClient, hashes: list[str]) -> dict[str, str]:
    """The torrents' names, for the audit log, read before they are gone."""
    rows: Mapping[str, Torrent] = await _watched_rows(profile_id) or {}
    missing = [h for h in hashes if h not in rows]
    if missing:
        try:
            rows = {**rows, **await client.torrents_of(missing)}
        except errors.RTorrentError:
            pass
    return {h: rows[h].name for h in hashes if h in rows}


def _audit_removal(profile: Profile, names: Mapping[str, str],
                   results: Mapping[str, str | None]) -> None:
    """One event per torrent: who removed it with its data, from where, and the result."""
    audit = current_app.extensions["pytorrent"]["services"].audit
    for info_hash, problem in results.items():
        audit.record("torrent.remove-data", actor=g.principal.username, target=info_hash,
                     outcome="ok" if problem is None else "failed",
                     detail={"name": names.get(info_hash), "profile_id": profile.id,
                             "profile": profile.name,
                             **({"error": problem} if problem else {})})


def register(app: Any) -> None:
    app.register_blueprint(blueprint)
