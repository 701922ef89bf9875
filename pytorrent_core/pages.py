"""Rendering a provider's own templates (``<package>/templates/``), always autoescaped.

A provider's page extends core's page shell, ``pytorrent/shell.html``, the one core's own
pages use, so every page has the same head, stylesheet and top bar with the logo; a page
with a password form includes core's, ``pytorrent/password_form.html``."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FunctionLoader, PackageLoader, select_autoescape

SHELL = "pytorrent/shell.html"
_CORE = Path(__file__).parent / "web" / "templates"
# Only these of core's templates: the rest need Quart's ``url_for`` and state.
_SHARED = {SHELL: _CORE / "shell.html",
           "pytorrent/password_form.html": _CORE / "password_form.html"}


def _shared(name: str) -> tuple[str, str, Callable[[], bool]] | None:
    path = _SHARED.get(name)
    if path is None:
        return None
    mtime = path.stat().st_mtime
    return path.read_text(encoding="utf-8"), str(path), lambda: path.stat().st_mtime == mtime


@cache
def _environment(package: str) -> Environment:
    return Environment(loader=ChoiceLoader([FunctionLoader(_shared), PackageLoader(package)]),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def render(package: str, template: str, **context: object) -> str:
    """Render ``template`` from ``package``'s ``templates`` folder with ``context``.

    The template may ``{% extends "pytorrent/shell.html" %}`` and fill its ``title``,
    ``head`` and ``main`` blocks; the shell then needs ``prefix`` in ``context``, the
    path pyTorrent is served under (``RequestFacts.prefix``)."""
    return _environment(package).get_template(template).render(**context)
