"""The audit log's keys, derived from the master key with HKDF-SHA256, each with its own label.

* The chain key: each audit event's hash is ``HMAC-SHA256(chain key, canonical content)``, so
  someone who can write to the database but does not hold the master key cannot recompute a
  chain after editing it.
* The checkpoint key: an ed25519 key pair whose seed is derived the same way; it signs the
  checkpoints that anchor every chain's head outside the database.

Both are derived from one master key *version*: an event records the version that keyed it
(``audit_events.key_version``, the same 8 hex digits that name a master key in ciphertexts), so
events written before a master-key rotation still verify while the old key is listed in
``MESHKEYS_MASTER_KEYS`` (docs/DECISIONS.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from meshkeys.crypto.encryption import Keyring

CHAIN_LABEL = b"meshkeys/audit-chain/hmac-sha256/v1"
CHECKPOINT_LABEL = b"meshkeys/audit-checkpoint/ed25519/v1"


class UnknownKeyVersion(Exception):
    """The master key of this version is not in the keyring."""

    def __init__(self, version: str) -> None:
        super().__init__(version)
        self.version = version


@lru_cache(maxsize=32)
def derive(master_key: bytes, label: bytes) -> bytes:
    """32 bytes for one purpose (``label``) from a master key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(master_key)


def _master(keyring: Keyring, version: str) -> bytes:
    key = keyring.key_of_version(version)
    if key is None:
        raise UnknownKeyVersion(version)
    return key


def chain_mac(keyring: Keyring, version: str, content: bytes) -> str:
    """The hex HMAC-SHA256 of ``content`` under the chain key of master key ``version``."""
    key = derive(_master(keyring, version), CHAIN_LABEL)
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def chain_macer(keyring: Keyring, version: str) -> hmac.HMAC:
    """A keyed HMAC object to ``copy()`` per event (what a bulk verification uses)."""
    return hmac.new(derive(_master(keyring, version), CHAIN_LABEL), digestmod=hashlib.sha256)


def _signing_key(keyring: Keyring, version: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(derive(_master(keyring, version), CHECKPOINT_LABEL))


def sign_checkpoint(keyring: Keyring, content: bytes) -> str:
    """Base64 of the ed25519 signature of ``content`` under the current master key's version."""
    signature = _signing_key(keyring, keyring.current_version).sign(content)
    return base64.b64encode(signature).decode("ascii")


def checkpoint_public_key(keyring: Keyring, version: str) -> str:
    raw = _signing_key(keyring, version).public_key().public_bytes_raw()
    return base64.b64encode(raw).decode("ascii")


def checkpoint_signature_ok(keyring: Keyring, version: str, content: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) signs ``content`` under master key ``version``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        _signing_key(keyring, version).public_key().verify(raw, content)
    except (InvalidSignature, ValueError):
        return False
    return True
