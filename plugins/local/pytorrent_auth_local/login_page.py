"""Render the login form. Jinja autoescaping covers every value put into the page."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def _path_prefix(prefix: str) -> str:
    # Only a plain path may lead the form's action (no scheme, no other host).
    if prefix.startswith("/") and not prefix.startswith("//") and ":" not in prefix:
        return prefix.rstrip("/")
    return ""


def render_login_page(*, error: str | None, next_url: str, prefix: str = "") -> str:
    return _environment().get_template("login.html").render(
        error=error, next_url=next_url, prefix=_path_prefix(prefix))
