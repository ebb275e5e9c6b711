"""Standard Webhooks (https://www.standardwebhooks.com) ``v1`` signatures.

signed content = ``{msg_id}.{timestamp}.{payload}`` over the raw payload bytes,
HMAC-SHA256 keyed with the base64-decoded part of a ``whsec_`` secret, sent as
``v1,<base64>``; several signatures are separated by spaces.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets as _secrets
import time
from binascii import a2b_base64 as _a2b
from binascii import b2a_base64 as _b2a
from collections.abc import Callable, Iterable, Mapping
from hmac import digest as _digest
from typing import Generic, TypeVar

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
    return _digest(key, content, "sha256")


def _b64(digest: bytes) -> str:
    return _b2a(digest, newline=False).decode("ascii")


def sign(secret: str, *, msg_id: str, timestamp: int, payload: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    digest = _mac(secret_bytes(secret), signed_content(msg_id, timestamp, payload))
    return "v1," + _b64(digest)


def sign_headers(
    secrets: Iterable[str],
    *,
    payload: bytes,
    msg_id: str | None = None,
    timestamp: int | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per secret."""
    keys = KeySet((None, s) for s in secrets)
    return keys.sign_headers(payload=payload, msg_id=msg_id, timestamp=timestamp, clock=clock)


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
    return KeySet(candidates).verify(
        headers=headers, payload=payload, clock=clock, tolerance=tolerance
    )


# The three header names in each family, lower case.
_WANTED = frozenset(
    family + name for family in HEADER_FAMILIES for name in ("id", "timestamp", "signature")
)


_NAMES = tuple(("webhook-" + n, "svix-" + n) for n in ("id", "timestamp", "signature"))


def parse_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    """``(id, timestamp, signature)`` in one pass over the headers.

    Names are case-insensitive; ``webhook-<name>`` wins over ``svix-<name>``, whatever the order
    the headers came in; one name given twice with different values is refused.
    """
    if len(headers) == 3:  # the common case: exactly the three names, so no twin, no svix-
        try:
            return headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"]
        except KeyError:
            pass
    found: dict[str, str] = {}
    for key, value in headers.items():
        lowered = key.lower()
        if lowered not in _WANTED:
            continue
        seen = found.get(lowered)
        if seen is not None and seen != value:
            raise SignatureError(f"header {lowered} is given twice with different values")
        found[lowered] = value
    picked: list[str] = []
    for name, other in _NAMES:
        chosen = found.get(name)
        if chosen is None:
            chosen = found.get(other)
        if chosen is None:
            raise SignatureError(f"missing header {name}")
        picked.append(chosen)
    return picked[0], picked[1], picked[2]


def checked_headers(
    headers: Mapping[str, str],
    *,
    version: str,
    clock: Callable[[], float] = time.time,
    tolerance: int = TOLERANCE_SECONDS,
) -> tuple[bytes, int, list[bytes]]:
    """The checks every verification makes before any key is tried, for ``v1`` and ``v1a``:
    the message id (as bytes), the timestamp within ``tolerance`` of now, and the decoded
    ``<version>,<base64>`` entries of ``webhook-signature`` (at least one). SignatureError,
    in the words the API answers with, otherwise."""
    msg_id, raw_ts, raw_sigs = parse_headers(headers)
    try:
        msg_id_bytes = check_msg_id(msg_id)
    except ValueError as exc:
        raise SignatureError(str(exc)) from None
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
    for part in raw_sigs.split():
        entry_version, _, encoded = part.partition(",")
        if entry_version != version:
            continue
        try:
            offered.append(_a2b(encoded, strict_mode=True))
        except (binascii.Error, ValueError):
            continue
    if not offered:
        raise SignatureError(f"webhook-signature holds no {version} signature")
    return msg_id_bytes, timestamp, offered


class KeySet(Generic[Ident]):
    """Signing keys decoded once (``whsec_`` to bytes), to sign or verify many messages.

    A request loads the keys of its project once and builds one ``KeySet``: a batch of a
    thousand messages decodes each secret once, and a message costs one HMAC per key.
    """

    __slots__ = ("_keys",)

    def __init__(self, candidates: Iterable[tuple[Ident, str]]) -> None:
        self._keys: list[tuple[Ident, bytes]] = [
            (ident, secret_bytes(secret)) for ident, secret in candidates
        ]

    def __len__(self) -> int:
        return len(self._keys)

    def signatures(self, content: bytes) -> str:
        """The ``webhook-signature`` value for this signed content: one ``v1,`` per key."""
        return " ".join(["v1," + _b64(_digest(key, content, "sha256")) for _, key in self._keys])

    def sign_headers(
        self,
        *,
        payload: bytes,
        msg_id: str | None = None,
        timestamp: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> dict[str, str]:
        """The three Standard Webhooks headers, one signature per key."""
        msg_id = new_msg_id() if msg_id is None else msg_id
        timestamp = int(clock()) if timestamp is None else timestamp
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signatures(signed_content(msg_id, timestamp, payload)),
        }

    def verify(
        self,
        *,
        headers: Mapping[str, str],
        payload: bytes,
        clock: Callable[[], float] = time.time,
        tolerance: int = TOLERANCE_SECONDS,
    ) -> Ident:
        """The id of the first key whose signature is in the headers; SignatureError if none.

        The headers are parsed once, the signed content is built once, each key costs one
        HMAC, and every comparison is constant-time. The payload is never parsed.
        """
        msg_id_bytes, timestamp, offered = checked_headers(
            headers, version="v1", clock=clock, tolerance=tolerance
        )
        content = b"%s.%d.%s" % (msg_id_bytes, timestamp, payload)
        compare = hmac.compare_digest
        for ident, key in self._keys:
            expected = _digest(key, content, "sha256")
            matched = False
            for sig in offered:
                matched |= compare(expected, sig)
            if matched:
                return ident
        raise SignatureError("no signature matches an active key of this project")
