"""AES-256-GCM envelope for secrets at rest.

Token format (ASCII): ``mk1.<version>.<base64url(nonce || ciphertext+tag)>``

* ``version`` names the master key (first 8 hex digits of its SHA-256), so a
  ciphertext says which master key it needs and ``master-key rotate`` can find
  the rows still under an old one.
* A fresh 12-byte nonce from ``os.urandom`` per encryption.
* The caller passes associated data (the key row's id and project id), so a
  ciphertext copied into another row does not decrypt.

Every failure (unknown version, bad base64, wrong key, tampered bytes, wrong
associated data) raises the same :class:`DecryptionError` with the same message,
in the manner of Fernet's ``InvalidToken``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "mk1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext could not be decrypted. Deliberately says nothing more."""

    def __init__(self) -> None:
        super().__init__("secret could not be decrypted")


def key_version(master_key: bytes) -> str:
    return hashlib.sha256(master_key).hexdigest()[:8]


@dataclass(frozen=True)
class Keyring:
    """The current master key (encrypts) and older ones (decrypt only)."""

    current: bytes = field(repr=False)
    older: tuple[bytes, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        for key in (self.current, *self.older):
            if len(key) != 32:
                raise ValueError("master keys are 32 bytes (AES-256)")

    @property
    def current_version(self) -> str:
        return key_version(self.current)

    def _by_version(self) -> dict[str, bytes]:
        return {key_version(k): k for k in (*self.older, self.current)}

    def key_of_version(self, version: str) -> bytes | None:
        """The master key named ``version``, or None when it is not in the keyring."""
        return self._by_version().get(version)

    def encrypt(self, plaintext: bytes, *, associated_data: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.current).encrypt(nonce, plaintext, associated_data)
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{PREFIX}.{self.current_version}.{body}"

    def bulk_encryptor(self) -> Callable[[bytes, bytes], str]:
        """``encrypt(plaintext, associated_data)`` as :meth:`encrypt` does (a fresh nonce from
        ``os.urandom`` each time, the same token), with one AES-GCM object for every call: for
        bulk work (``meshkeys seed``), where building the cipher per secret is the main cost."""
        aead = AESGCM(self.current)
        head = f"{PREFIX}.{self.current_version}."
        b64 = base64.urlsafe_b64encode
        # Nonces from os.urandom, drawn 4,096 at a time (one system call, not one per secret).
        pool: Iterator[bytes] = iter(())

        def encrypt(plaintext: bytes, associated_data: bytes) -> str:
            nonlocal pool
            nonce = next(pool, None)
            if nonce is None:
                block = os.urandom(NONCE_BYTES * 4096)
                pool = (block[i : i + NONCE_BYTES] for i in range(0, len(block), NONCE_BYTES))
                nonce = next(pool)
            sealed = aead.encrypt(nonce, plaintext, associated_data)
            return head + b64(nonce + sealed).decode("ascii")

        return encrypt

    def decrypt(self, token: str, *, associated_data: bytes) -> bytes:
        try:
            prefix, version, body = token.split(".", 2)
            key = self._by_version()[version] if prefix == PREFIX else None
            if key is None:
                raise DecryptionError
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            if len(raw) < NONCE_BYTES + 16:
                raise DecryptionError
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data)
        except (InvalidTag, KeyError, ValueError, UnicodeError, AttributeError) as exc:
            raise DecryptionError from exc

    @staticmethod
    def version_of(token: str) -> str | None:
        parts = token.split(".", 2)
        return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None
