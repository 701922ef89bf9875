"""Rendering a provider's own templates (``<package>/templates/``), always autoescaped."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape


@cache
def _environment(package: str) -> Environment:
    return Environment(loader=PackageLoader(package),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def render(package: str, template: str, **context: object) -> str:
    """Render ``template`` from ``package``'s ``templates`` folder with ``context``."""
    return _environment(package).get_template(template).render(**context)
