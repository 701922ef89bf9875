"""Rendering a provider's own templates (``<package>/templates/``), always autoescaped.

A provider's page extends core's page shell, ``pytorrent/shell.html``, the one core's own
pages use, so every page has the same head, stylesheet and top bar with the logo."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FunctionLoader, PackageLoader, select_autoescape

SHELL = "pytorrent/shell.html"
_SHELL_FILE = Path(__file__).parent / "web" / "templates" / "shell.html"


def _shell(name: str) -> tuple[str, str, Callable[[], bool]] | None:
    """Only the shell of core's templates: the rest need Quart's ``url_for`` and state."""
    if name != SHELL:
        return None
    mtime = _SHELL_FILE.stat().st_mtime
    return (_SHELL_FILE.read_text(encoding="utf-8"), str(_SHELL_FILE),
            lambda: _SHELL_FILE.stat().st_mtime == mtime)


@cache
def _environment(package: str) -> Environment:
    return Environment(loader=ChoiceLoader([FunctionLoader(_shell), PackageLoader(package)]),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def render(package: str, template: str, **context: object) -> str:
    """Render ``template`` from ``package``'s ``templates`` folder with ``context``.

    The template may ``{% extends "pytorrent/shell.html" %}`` and fill its ``title``,
    ``head`` and ``main`` blocks; the shell then needs ``prefix`` in ``context``, the
    path pyTorrent is served under (``RequestFacts.prefix``)."""
    return _environment(package).get_template(template).render(**context)
