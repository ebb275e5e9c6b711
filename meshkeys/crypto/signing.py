"""Standard Webhooks (https://www.standardwebhooks.com) ``v1`` signatures.

signed content = ``{msg_id}.{timestamp}.{payload}`` over the raw payload bytes,
HMAC-SHA256 keyed with the base64-decoded part of a ``whsec_`` secret, sent as
``v1,<base64>``; several signatures are separated by spaces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from meshkeys.crypto.secrets import SECRET_PREFIX

TOLERANCE_SECONDS = 300
# A secret shorter than this is refused, to sign or to verify (the Standard Webhooks test
# vector's secret is 24 bytes; meshkeys generates 32).
MIN_SECRET_BYTES = 24
# Where a header is looked for, in this order: the Standard Webhooks name, then Svix's.
HEADER_FAMILIES = ("webhook-", "svix-")

Ident = TypeVar("Ident")


class SignatureError(Exception):
    """Verification failed; the message says why (never with a secret)."""


def secret_bytes(secret: str) -> bytes:
    """The key of a ``whsec_`` secret; ValueError unless it is base64 of at least 24 bytes."""
    body = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a signing secret is whsec_ followed by base64") from exc
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a signing secret holds at least {MIN_SECRET_BYTES} bytes")
    return key


def check_msg_id(msg_id: str) -> bytes:
    """The UTF-8 bytes of a message id; ValueError when it is empty or cannot be one."""
    if not msg_id:
        raise ValueError("webhook-id is empty; every message needs an id")
    try:
        return msg_id.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "webhook-id is not text that UTF-8 can encode (a lone surrogate)"
        ) from None


def new_msg_id() -> str:
    return "msg_" + _secrets.token_urlsafe(18)


def signed_content(msg_id: str, timestamp: int, payload: bytes) -> bytes:
    return b"%s.%d.%s" % (check_msg_id(msg_id), timestamp, payload)


def _mac(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).digest()


def sign(secret: str, *, msg_id: str, timestamp: int, payload: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    digest = _mac(secret_bytes(secret), signed_content(msg_id, timestamp, payload))
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign_headers(
    secrets: Iterable[str],
    *,
    payload: bytes,
    msg_id: str | None = None,
    timestamp: int | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per secret."""
    msg_id = new_msg_id() if msg_id is None else msg_id
    timestamp = int(clock()) if timestamp is None else timestamp
    content = signed_content(msg_id, timestamp, payload)
    sigs = [
        "v1," + base64.b64encode(_mac(secret_bytes(s), content)).decode("ascii") for s in secrets
    ]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sigs),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    """``webhook-<name>``, else ``svix-<name>``, whatever the order the headers came in.

    Names are case-insensitive; one name given twice with different values is refused.
    """
    for family in HEADER_FAMILIES:
        wanted = name.replace("webhook-", family)
        values = {value for key, value in headers.items() if key.lower() == wanted}
        if len(values) > 1:
            raise SignatureError(f"header {wanted} is given twice with different values")
        if values:
            return values.pop()
    raise SignatureError(f"missing header {name}")


def verify(
    candidates: Iterable[tuple[Ident, str]],
    *,
    headers: Mapping[str, str],
    payload: bytes,
    clock: Callable[[], float] = time.time,
    tolerance: int = TOLERANCE_SECONDS,
) -> Ident:
    """Return the id of the first candidate ``(id, secret)`` whose signature is in the headers.

    The signed content is built once; each candidate costs one HMAC, and every
    comparison is constant-time. The payload is never parsed.
    """
    msg_id = _header(headers, "webhook-id")
    try:
        check_msg_id(msg_id)
    except ValueError as exc:
        raise SignatureError(str(exc)) from None
    raw_ts = _header(headers, "webhook-timestamp")
    try:
        timestamp = int(raw_ts)
    except ValueError as exc:
        raise SignatureError("webhook-timestamp must be whole seconds since the epoch") from exc
    now = int(clock())
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"webhook-timestamp is {abs(now - timestamp)} s from now; "
            f"more than {tolerance} s is refused (replay protection). Sign the message again."
        )
    offered: list[bytes] = []
    for part in _header(headers, "webhook-signature").split():
        version, _, encoded = part.partition(",")
        if version != "v1":
            continue
        try:
            offered.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not offered:
        raise SignatureError("webhook-signature holds no v1 signature")
    content = signed_content(msg_id, timestamp, payload)
    for ident, secret in candidates:
        expected = _mac(secret_bytes(secret), content)
        matched = False
        for sig in offered:
            matched |= hmac.compare_digest(expected, sig)
        if matched:
            return ident
    raise SignatureError("no signature matches an active key of this project")
