"""TOTP two-factor sign-in: seeds, codes, recovery codes, the QR code. No I/O here.

Why in core and not in the local provider: a provider only checks credentials
(``pytorrent_authenticate``); what happens after a password was right — the
pending sign-in, the session, the throttle, the rule that admins must enrol —
is core's, as is the database (providers have no tables or migrations). So
every provider with a password form gets the second step, unchanged; external
providers leave it to the service upstream.

Recovery codes are 80 random bits each, stored as a salted SHA-256 digest:
like API tokens (DESIGN.md), a value that cannot be guessed needs no slow KDF,
and argon2id for each of ten codes would cost about half a second of CPU and
hundreds of MiB of memory-time per attempt, which the throttle would have to
ration. The salt is per user, so one table of digests cannot be attacked in bulk.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import time

import pyotp
import segno

ISSUER = "pyTorrent"
DIGITS = 6
INTERVAL = 30
# Codes from one step before or after the server's clock are accepted: phones drift.
WINDOW = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # 32 symbols, no l/1/o/0
_RECOVERY_LENGTH = 16  # 16 symbols * 5 bits = 80 bits
_TOTP = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    """A 160-bit base32 seed, the size RFC 4226 recommends."""
    return pyotp.random_base32(32)


def grouped(secret: str) -> str:
    """The seed in blocks of four, for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> bytes:
    """The ``otpauth://`` URI as a QR code, an SVG made here (no external service)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, dark="#000",
                                    light="#fff", xmldecl=False, title="Authenticator QR code")
    return out.getvalue()


def clean(code: str) -> str:
    """What the user typed, without spaces and dashes, lower case."""
    return re.sub(r"[\s-]", "", code).lower()


def is_totp(code: str) -> bool:
    return bool(_TOTP.match(code))


def current_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // INTERVAL)


def matching_step(secret: str, code: str, *, after: int = 0,
                  at: float | None = None) -> int | None:
    """The time-step ``code`` belongs to, within the window, newer than ``after``.

    ``after`` is the last step already used: a code is good once, so a replay
    inside its window is refused.
    """
    if not is_totp(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now = current_step(at)
    found = None
    for step in range(now - WINDOW, now + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and step > after:
            found = step
    return found


def new_recovery_codes() -> list[str]:
    """Ten one-time codes, shown once, e.g. ``k7pq-3xza-m2c9-tt4e``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LENGTH, 4)))
    return codes


def is_recovery(code: str) -> bool:
    return len(code) == _RECOVERY_LENGTH and all(ch in _RECOVERY_ALPHABET for ch in code)


def recovery_digest(salt: str, code: str) -> str:
    """The stored form of a (cleaned) recovery code."""
    return hashlib.sha256(f"{salt}:{clean(code)}".encode()).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)
