"""Checks for the command line's plain-text tables."""

from __future__ import annotations


def aligned(lines: list[str], column: str, value: str) -> bool:
    """Some row's ``value`` starts where ``column`` starts in the header row (``lines[0]``)."""
    start = lines[0].index(column)
    return any(line[start:].startswith(value) for line in lines[1:])
