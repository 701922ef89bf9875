"""Every vendored browser file is pinned in vendor/manifest.json, with its licence beside it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "pytorrent_core" / "web" / "static" / "vendor"
NOT_VENDORED = {"README.md", "manifest.json"}
FIELDS = {"name", "npm_package", "version", "source", "file", "sha256", "licence", "licence_file"}


def manifest() -> list[dict[str, str]]:
    return json.loads((VENDOR / "manifest.json").read_text())["files"]


def test_each_listed_file_matches_its_sha256() -> None:
    entries = manifest()
    assert entries
    for entry in entries:
        assert FIELDS <= set(entry), entry
        data = (VENDOR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], (
            f"{entry['file']} differs from the pinned {entry['npm_package']}@{entry['version']}")


def test_every_vendored_file_is_listed_with_its_licence() -> None:
    entries = manifest()
    listed = {e["file"] for e in entries}
    licences = {e["licence_file"] for e in entries}
    for entry in entries:
        licence = VENDOR / entry["licence_file"]
        assert licence.is_file() and licence.read_text().strip(), f"{licence.name} is missing"
    on_disk = {p.name for p in VENDOR.iterdir() if p.is_file()}
    unlisted = on_disk - listed - licences - NOT_VENDORED
    assert not unlisted, f"vendored but not in manifest.json: {sorted(unlisted)}"
    assert listed <= on_disk
