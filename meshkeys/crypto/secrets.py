"""Random secrets, API/session tokens and their hashes."""

from __future__ import annotations

import base64
import hashlib
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
SECRET_BYTES = 32
TOKEN_PREFIX = "mk_"  # noqa: S105 (a format prefix, not a secret)


def generate_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def key_hint(secret: str) -> str:
    """The last four characters, for the masked display ``whsec_…abcd``."""
    return secret[-4:]


def mask(hint: str, prefix: str = SECRET_PREFIX) -> str:
    return f"{prefix}…{hint}"


def generate_token(prefix: str = TOKEN_PREFIX) -> str:
    """An API or session token: recognisable prefix + 32 random bytes (base64url)."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens carry 256 bits of entropy, so one SHA-256 is enough to store them (as GitHub does)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
