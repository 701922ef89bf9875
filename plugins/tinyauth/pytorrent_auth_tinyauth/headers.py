"""Reading Tinyauth's forward-auth headers into an Identity."""

from __future__ import annotations

from pytorrent_core.provider import (
    HeaderMap,
    Identity,
    clean_groups,
    clean_text,
    single_header,
    username_from_headers,
)

PROVIDER = "tinyauth"
NAME_HEADER = "Remote-Name"
EMAIL_HEADER = "Remote-Email"
GROUPS_HEADER = "Remote-Groups"
PROFILE_HEADERS = (NAME_HEADER, EMAIL_HEADER, GROUPS_HEADER)
MAX_EMAIL_LENGTH = 320  # the users.email column


def _email(headers: HeaderMap) -> str | None:
    email = clean_text(single_header(headers, EMAIL_HEADER), MAX_EMAIL_LENGTH)
    return email if email and "@" in email else None


def identity_from_headers(headers: HeaderMap, user_header: str) -> Identity | None:
    """The identity Tinyauth vouches for, or ``None`` without a usable username."""
    username = username_from_headers(headers, user_header)
    if username is None:
        return None
    return Identity(
        username=username,
        provider=PROVIDER,
        display_name=clean_text(single_header(headers, NAME_HEADER)),
        email=_email(headers),
        groups=clean_groups(single_header(headers, GROUPS_HEADER)),
    )
