"""Delete a removed torrent's data, but never outside the download root.

The path comes from rTorrent (``d.base_path``), which anyone who can add a torrent
with a chosen directory influences; deleting it blindly could remove any file the
pyTorrent user can write. So the real path (symlinks resolved) must lie strictly
inside the configured data root.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .errors import RemovalRefused


def check_inside(base_path: str, data_root: Path) -> Path:
    """The real path of ``base_path`` if it is strictly inside ``data_root``; else refuse."""
    if not base_path or not Path(base_path).is_absolute():
        raise RemovalRefused("refused to delete data: rTorrent gave no absolute data path")
    try:
        root = data_root.resolve(strict=True)
    except OSError:
        raise RemovalRefused("refused to delete data: the download root does not exist") from None
    real = Path(base_path).resolve(strict=False)
    if real == root or root not in real.parents:
        raise RemovalRefused("refused to delete data outside the download root")
    return real


def delete_data(base_path: str, data_root: Path) -> None:
    """Delete a torrent's file or folder if it is strictly inside ``data_root``."""
    real = check_inside(base_path, data_root)
    if real.is_dir():
        shutil.rmtree(real)
    elif real.exists():
        real.unlink()
