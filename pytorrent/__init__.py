"""Alias package so ``python -m pytorrent.cli ...`` works as AUTH.md shows."""
