"""The console's cookies and form fields.

The session cookie carries only a random id; the session itself (who, role, CSRF nonce,
expiry) is a row on the server (app/services/console_sessions.py).
"""

from __future__ import annotations

COOKIE = "tt_console"
LANGUAGE_COOKIE = "tt_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
NEXT_FIELD = "next"
