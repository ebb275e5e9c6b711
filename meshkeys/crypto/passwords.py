"""scrypt password hashes (cryptography's Scrypt), stored as
``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``."""

from __future__ import annotations

import base64
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

LOG2_N, R, P, LENGTH = 15, 8, 1, 32


def _kdf(salt: bytes, log2_n: int, r: int, p: int) -> Scrypt:
    return Scrypt(salt=salt, length=LENGTH, n=2**log2_n, r=r, p=p)


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = _kdf(salt, LOG2_N, R, P).derive(password.encode("utf-8"))
    b64 = base64.b64encode
    return f"scrypt${LOG2_N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check; a malformed hash is simply a mismatch."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _kdf(base64.b64decode(salt), int(log2_n), int(r), int(p)).derive(
            password.encode("utf-8")
        )
        return hmac.compare_digest(computed, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Checked against when the account does not exist, so that "unknown email" and "wrong
    password" take the same time. Made on first use, not at import: a scrypt hash costs ~0.1 s."""
    return hash_password("meshkeys-dummy-password-for-timing")
