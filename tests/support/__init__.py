"""Reusable test helpers that start real services (nginx, a forward-auth stand-in)."""
