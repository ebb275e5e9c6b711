"""The browser session cookie, as both web doors see it (the API's routes and the Reflex UI).

The cookie holds a random session token; the database holds only its hash. The Reflex
websocket receives the cookie rewritten as ``sha256.<hex digest>`` (the API's
``SessionCookieDigest`` middleware), so the raw token never enters Reflex's state store.
"""

from __future__ import annotations

from meshkeys.crypto.secrets import hash_token

SESSION_COOKIE = "meshkeys_session"
# Reflex's websocket (and its HTTP polling fallback) lives under this path.
REFLEX_EVENT_PATH = "/_event"
DIGEST_PREFIX = "sha256."


def parse_cookie(header: str | None, name: str) -> str | None:
    """The value of one cookie in a ``Cookie`` header (tolerant of malformed neighbours)."""
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"') or None
    return None


def digest_cookie_header(value: str) -> str:
    """The ``Cookie`` header with the session cookie's value replaced by ``sha256.<hex>``.

    Every value is hashed, whatever it looks like: a digest copied out of a state store and
    sent back as a cookie is hashed again and matches nothing.
    """
    parts = []
    for part in value.split(";"):
        name, sep, raw = part.strip().partition("=")
        if sep and name == SESSION_COOKIE:
            part = f"{SESSION_COOKIE}={DIGEST_PREFIX}{hash_token(raw.strip().strip(chr(34)))}"
        parts.append(part.strip())
    return "; ".join(p for p in parts if p)


def session_digest(value: str | None) -> str | None:
    """The digest in a rewritten session cookie value (``sha256.<hex>``), or None."""
    if value and value.startswith(DIGEST_PREFIX):
        return value[len(DIGEST_PREFIX) :]
    return None


def safe_next(path: str | None, default: str = "/") -> str:
    """Where the browser may go after signing in: a path of this site only.

    Refused (``default`` instead): anything that is not a plain absolute path, e.g. another
    site (``https://evil.example``, ``//evil.example``, ``/\\evil.example``), a scheme
    (``javascript:``), control characters, or the sign-in page itself.
    """
    if not path or len(path) > 2000 or not path.startswith("/"):
        return default
    if path[1:2] in ("/", "\\") or any(ord(c) < 33 or ord(c) == 127 for c in path):
        return default
    if "\\" in path or path.split("?")[0].rstrip("/") in ("/login", "/auth/login"):
        return default
    return path
