"""pytorrent.toml.example and the starter file: generated, complete, and loadable."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from pytorrent_core.bootstrap import load
from pytorrent_core.config import CORE_SETTINGS, Setting
from pytorrent_core.config_file import example_document, starter_document, write_atomically
from pytorrent_core.plugins import installed_providers, provider_settings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "pytorrent.toml.example"
KEY_LINE = re.compile(r"^#(\w+ = .*)$")


def every_setting() -> list[Setting]:
    extra = [s for name in sorted(installed_providers()) for s in provider_settings(name)]
    return [*CORE_SETTINGS, *extra]


def test_committed_example_is_generated_from_core_and_installed_providers() -> None:
    extra = [s for name in sorted(installed_providers()) for s in provider_settings(name)]
    assert EXAMPLE.read_text(encoding="utf-8") == example_document(extra), (
        "pytorrent.toml.example is stale: run `pytorrent config example > "
        "pytorrent.toml.example`")


def test_example_documents_every_key_with_env_and_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "auth.tinyauth.logout_url" in {s.key for s in every_setting()}
    for setting in every_setting():
        section, leaf = setting.key.rsplit(".", 1)
        block = text.split(f"\n[{section}]\n", 1)[1].split("\n[", 1)[0]
        assert f"# env: {setting.env}" in block, setting.key
        assert re.search(rf"^#{leaf} = ", block, re.MULTILINE), setting.key
        if setting.default is None:
            assert f"# env: {setting.env}    default: unset" in block


def test_uncommented_example_is_valid_toml_meaning_the_defaults(tmp_path: Path) -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    active = "\n".join(KEY_LINE.sub(r"\1", line) for line in lines)
    parsed = tomllib.loads(active)
    assert parsed["server"]["port"] == 8090
    path = tmp_path / "all.toml"
    path.write_text(active, encoding="utf-8")
    settings, _ = load(path, {})
    for setting in CORE_SETTINGS:
        if setting.default is not None:
            assert settings[setting.key] == setting.default, setting.key
        else:
            expected = setting.parse(setting.example if setting.example is not None else "")
            assert settings[setting.key] == expected, setting.key


def test_starter_document_round_trips_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "starter.toml"
    path.write_text(starter_document(), encoding="utf-8")
    settings, _ = load(path, {})
    for setting in CORE_SETTINGS:
        assert settings[setting.key] == setting.default, setting.key
        if setting.default is not None:
            assert settings.sources[setting.key].kind == "file", setting.key


def test_write_atomically_never_half_writes_or_clobbers(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.toml"
    write_atomically(path, "a = 1\n", overwrite=False)
    assert path.read_text() == "a = 1\n"
    with pytest.raises(FileExistsError):
        write_atomically(path, "a = 2\n", overwrite=False)
    assert path.read_text() == "a = 1\n"
    write_atomically(path, "a = 3\n")
    assert path.read_text() == "a = 3\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.toml"]
    assert path.stat().st_mode & 0o077 == 0
