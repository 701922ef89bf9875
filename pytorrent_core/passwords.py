"""Password hashing with argon2id. Never on the per-request path: login only."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 1024


class PasswordProblem(ValueError):
    """The password is not acceptable; the message says why."""


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hasher().hash("pytorrent-timing-equaliser")


def check_policy(password: str) -> None:
    if not password:
        raise PasswordProblem("password must not be empty")
    if len(password) < MIN_LENGTH:
        raise PasswordProblem(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordProblem(f"password must be at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    check_policy(password)
    return hasher().hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Constant-ish time: an unknown user (no hash) still pays for one verification."""
    try:
        return hasher().verify(stored_hash or _dummy_hash(), password) and bool(stored_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def rehash(password: str) -> str:
    """A new hash of a password that has just been verified (no policy check: the
    policy may have changed since it was chosen). See :func:`needs_rehash`."""
    return hasher().hash(password)
