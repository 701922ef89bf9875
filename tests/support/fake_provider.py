"""A third-party auth provider distribution built on the fly, for discovery tests.

``make_distribution(root)`` writes a module and a ``*.dist-info`` folder with
an entry point in ``pytorrent.auth_providers``: put ``root`` on ``sys.path``
(in-process) or ``PYTHONPATH`` (a child process) and importlib.metadata, and so
pyTorrent, sees an installed package. Nothing in core knows its name.
"""

from __future__ import annotations

from pathlib import Path

from pytorrent_core.plugins import ENTRY_POINT_GROUP

ACME_SOURCE = '''\
"""A provider shipped by someone else: trusts X-Acme-User from trusted proxies."""

from pytorrent_core.provider import Identity, ProviderInfo, Setting, hookimpl, parse_str


@hookimpl
def pytorrent_settings():
    return [Setting("auth.acme.realm", "PYTORRENT_AUTH_ACME_REALM", "staff", parse_str,
                    "Acme realm shown as the display name.")]


@hookimpl
def pytorrent_provider_info():
    return ProviderInfo(external=True, description="Acme single sign-on",
                        headers=("X-Acme-User",))


@hookimpl
def pytorrent_identify(request, settings):
    name = request.headers.get("X-Acme-User")
    if not name:
        return None
    return Identity(username=name, provider="acme", display_name=settings["auth.acme.realm"])
'''


def make_distribution(root: Path, *, provider: str = "acme", module: str = "pytorrent_acme_sso",
                      distribution: str = "pytorrent-acme-sso", version: str = "1.2.3",
                      source: str = ACME_SOURCE) -> Path:
    """A tiny installed distribution: a module plus a *.dist-info with the entry point."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n{provider} = {module}\n", encoding="utf-8")
    return root
