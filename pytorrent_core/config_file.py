"""Writing configuration: the starter file for ``config init`` and the documented example."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomli_w

from .config import CORE_SETTINGS, Setting


def _toml_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def starter_document(extra: Iterable[Setting] = ()) -> str:
    """Every setting that has a default, as TOML (tomli-w), grouped by section."""
    tree: dict[str, Any] = {}
    for setting in (*CORE_SETTINGS, *extra):
        if setting.default is None:
            continue
        node = tree
        *sections, leaf = setting.key.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = _toml_value(setting.default)
    return tomli_w.dumps(tree)


def example_document(extra: Iterable[Setting] = ()) -> str:
    """``pytorrent.toml.example``: each key once, with its env name, default and meaning."""
    lines = [
        "# pyTorrent configuration. Copy to pytorrent.toml (or pass --config PATH).",
        "# Precedence: built-in defaults < this file < PYTORRENT_* environment variables.",
        "# In the environment, lists are comma-separated; here they are arrays.",
        "# Booleans accept true/false (env also 1/0, yes/no, on/off).",
    ]
    current = None
    for setting in (*CORE_SETTINGS, *extra):
        section, leaf = setting.key.rsplit(".", 1)
        if section != current:
            lines += ["", f"[{section}]"]
            current = section
        lines.append(f"# {setting.doc}")
        lines.append(f"# env: {setting.env}")
        if setting.default is None:
            sample = setting.example or ""
            lines.append(f"# {leaf} = {json.dumps(sample)}")
        else:
            rendered = tomli_w.dumps({leaf: _toml_value(setting.default)}).strip()
            lines.append(f"# {rendered}" if setting.secret else rendered)
        if setting.example and setting.default is not None:
            parsed = [part for part in setting.example.split(",") if part]
            lines.append(f"# example: {tomli_w.dumps({leaf: parsed}).strip()}")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write the whole file or nothing: temp file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
