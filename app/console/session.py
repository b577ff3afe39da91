"""The console's session: a signed cookie that names a token by its hash, never its secret.

The cookie holds the token's SHA-256 (what the database keeps anyway), an expiry and a CSRF
nonce, signed with HMAC-SHA256. Every request looks the hash up again, so revoking the token
ends its console sessions at once, and the secret is read only once, at sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from app.config import ConsoleSettings

COOKIE = "tt_console"
LANGUAGE_COOKIE = "tt_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Session:
    token_hash: bytes
    expires_at: float
    csrf: str


class Signer:
    """Makes and reads the session cookie with one key."""

    def __init__(self, settings: ConsoleSettings) -> None:
        configured = settings.secret_key.get_secret_value().encode()
        self._key = configured or secrets.token_bytes(32)
        self._lifetime = settings.session_hours * 3600

    @property
    def max_age(self) -> int:
        return int(self._lifetime)

    def new(self, token_hash: bytes) -> tuple[Session, str]:
        """A fresh session for a token hash and the cookie value that carries it."""
        session = Session(token_hash, time.time() + self._lifetime, secrets.token_urlsafe(24))
        payload = json.dumps(
            {"h": session.token_hash.hex(), "e": session.expires_at, "c": session.csrf}
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode()
        return session, f"{body}.{self._sign(body)}"

    def read(self, value: str | None) -> Session | None:
        """The session a cookie value carries, or None when it is forged, garbled or expired."""
        if not value or "." not in value:
            return None
        body, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
            session = Session(bytes.fromhex(data["h"]), float(data["e"]), str(data["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > time.time() else None

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
