"""Session cookies: quart-auth's signed cookie, verified once per cookie, not once per request.

Verifying a cookie derives the signing key and checks an HMAC-SHA512; quart-auth
does it in the resolver's step and again in its own after-request step, on every
request. A cookie that verified is remembered with its signing time, so the
remembered answer ends exactly when quart-auth's max-age check would end it.
Nothing else is remembered here: the resolver still compares the user's session
epoch on every request, so logout, password changes and deactivation take effect
on the very next request.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired
from quart import Quart, current_app
from quart.sessions import NullSession, SessionInterface
from quart_auth import QuartAuth

MEMO_SIZE = 4096
SESSION_COOKIE = "pytorrent_session"


class SessionAuth(QuartAuth):
    def __init__(self, app: Quart | None = None, **kwargs: object) -> None:
        self._verified: dict[str, tuple[str, int]] = {}  # cookie -> (auth id, signed at)
        self._keys: tuple[str | bytes, ...] = ()
        self._serializer: Any = None
        self._signer: Any = None  # its clock decides a cookie's age, as in quart-auth
        super().__init__(app, **kwargs)  # type: ignore[arg-type]

    def load_token(self, token: str, app: Quart | None = None) -> str | None:
        if app is None:
            app = current_app
        keys = (*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key)
        if keys != self._keys:  # a new key invalidates what the old one verified
            self._keys = keys
            self._verified.clear()
            self._serializer = self.serializer_class(list(keys), self.salt)  # type: ignore[arg-type]
            self._signer = self._serializer.make_signer(self.salt)
        known = self._verified.get(token)
        if known is not None:
            auth_id, signed_at = known
            age = self._signer.get_timestamp() - signed_at
            if self.duration is None or 0 <= age <= self.duration:
                return auth_id
            del self._verified[token]
            return None
        try:
            auth_id, signed = self._serializer.loads(token, max_age=self.duration,
                                                     return_timestamp=True)
        except (BadSignature, SignatureExpired):
            return None
        if len(self._verified) >= MEMO_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (auth_id, int(signed.timestamp()))
        return auth_id

    def init_app(self, app: Quart) -> None:
        """As quart-auth's, but its after-request step is not registered: the app calls
        :meth:`after_request` itself, only when this request signed in or out.

        quart-auth's own step first loads the user from the cookie, on every
        request, to learn that nothing is to be done: only ``login_user``,
        ``logout_user`` and ``renew_login`` ask for a change, and each of them
        puts the user on ``g`` first (``attribute_name in g``).
        """
        super().init_app(app)
        app.after_request_funcs[None].remove(self.after_request)


NULL_SESSION = NullSession()  # empty, and refuses writes: one serves every request


class NoQuartSession(SessionInterface):
    """pyTorrent keeps no data in Quart's ``session``: its only cookie is quart-auth's.

    The default interface would build a signing serializer on every request for a
    session that is never used; a null session costs nothing and fails loudly if
    code ever tries to write to it.
    """

    async def open_session(self, app: Quart, request: Any) -> Any:
        return NULL_SESSION  # what Quart would make of None, made once: it refuses writes

    async def save_session(self, app: Quart, session: Any, response: Any) -> None:
        return None
