"""Standard Webhooks ``v1a`` signatures: ed25519 over the same signed content as ``v1``.

- signing key: ``whsk_`` + base64 of the 32-byte ed25519 seed (the secret, encrypted at rest);
- public key: ``whpk_`` + base64 of the 32-byte public key (not a secret);
- signature: ``v1a,`` + base64 of the 64-byte ed25519 signature of
  ``{msg_id}.{timestamp}.{payload}`` (``crypto.signing.signed_content``).

The header checks (ids, timestamps, duplicate names) are the ones of ``crypto.signing``;
this module adds only what differs: the key format, signing and matching ``v1a`` entries.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from meshkeys.crypto.signing import (
    TOLERANCE_SECONDS,
    SignatureError,
    checked_headers,
    signed_content,
)

SIGNING_KEY_PREFIX = "whsk_"  # noqa: S105 (a format prefix, not a secret)
PUBLIC_KEY_PREFIX = "whpk_"
SEED_BYTES = 32
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
VERSION = "v1a"

Ident = TypeVar("Ident")


def _decode(text: str, prefix: str, size: int, what: str) -> bytes:
    if not text.startswith(prefix):
        raise ValueError(f"an ed25519 {what} is {prefix} followed by base64")
    try:
        raw = base64.b64decode(text[len(prefix) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"an ed25519 {what} is {prefix} followed by base64") from exc
    if len(raw) != size:
        raise ValueError(f"an ed25519 {what} holds exactly {size} bytes")
    return raw


def _encode(prefix: str, raw: bytes) -> str:
    return prefix + base64.b64encode(raw).decode("ascii")


def private_key(signing_key: str) -> Ed25519PrivateKey:
    """The key of a ``whsk_`` signing key; ValueError unless it is base64 of a 32-byte seed."""
    seed = _decode(signing_key, SIGNING_KEY_PREFIX, SEED_BYTES, "signing key")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(encoded: str) -> Ed25519PublicKey:
    """The key of a ``whpk_`` public key; ValueError unless it is base64 of 32 bytes."""
    raw = _decode(encoded, PUBLIC_KEY_PREFIX, PUBLIC_KEY_BYTES, "public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def generate_signing_key() -> str:
    """A new ``whsk_`` signing key (a fresh seed from the operating system's CSPRNG)."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    return _encode(SIGNING_KEY_PREFIX, seed)


def public_key_of(signing_key: str) -> str:
    """The ``whpk_`` public key that verifies what ``signing_key`` signs."""
    raw = private_key(signing_key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _encode(PUBLIC_KEY_PREFIX, raw)


def sign(
    signing_key: str | Ed25519PrivateKey, *, msg_id: str, timestamp: int, payload: bytes
) -> str:
    """One ``v1a,<base64>`` signature, by a ``whsk_`` key or one loaded with ``private_key``
    (loading derives the public point: a request that signs many messages loads it once)."""
    key = private_key(signing_key) if isinstance(signing_key, str) else signing_key
    signature = key.sign(signed_content(msg_id, timestamp, payload))
    return f"{VERSION},{base64.b64encode(signature).decode('ascii')}"


def add_signatures(
    headers: dict[str, str],
    signing_keys: Iterable[str | Ed25519PrivateKey],
    *,
    payload: bytes,
) -> dict[str, str]:
    """``headers`` (from ``crypto.signing.sign_headers``) with one ``v1a`` entry per key added.

    The entries go after the ``v1`` ones, space-separated, over the headers' own id and time.
    """
    msg_id, timestamp = headers["webhook-id"], int(headers["webhook-timestamp"])
    entries = [sign(k, msg_id=msg_id, timestamp=timestamp, payload=payload) for k in signing_keys]
    joined = " ".join(e for e in [headers.get("webhook-signature", ""), *entries] if e)
    return {**headers, "webhook-signature": joined}


def verify(
    candidates: Iterable[tuple[Ident, str]],
    *,
    headers: Mapping[str, str],
    payload: bytes,
    clock: Callable[[], float] = time.time,
    tolerance: int = TOLERANCE_SECONDS,
) -> Ident:
    """The id of the first candidate ``(id, whpk_ public key)`` with a ``v1a`` signature in the
    headers; SignatureError (the same messages as ``crypto.signing.verify``) otherwise."""
    msg_id, timestamp, entries = checked_headers(
        headers, version=VERSION, clock=clock, tolerance=tolerance
    )
    offered = [raw for raw in entries if len(raw) == SIGNATURE_BYTES]
    if not offered:
        raise SignatureError("webhook-signature holds no v1a signature")
    content = b"%s.%d.%s" % (msg_id, timestamp, payload)
    for ident, encoded_key in candidates:
        key = public_key(encoded_key)
        for sig in offered:
            try:
                key.verify(sig, content)
            except InvalidSignature:
                continue
            return ident
    raise SignatureError("no signature matches an active key of this project")
