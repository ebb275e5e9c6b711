"""Why a webhook verifies or not, in words a person can act on (the UI's webhook tester).

``signing.verify_payload`` (the API's ``/webhooks/verify``) answers yes or no on the fast path.
``explain_verification`` runs the same checks one by one, in the same order, and says which key
matched, or which check failed and by how much: a missing header, a timestamp too old or too new
by N seconds, no ``v1`` entry, no key that matches (with the keys that were tried). The match
itself is decided by ``crypto.signing.verify``, the same function as the fast path, so the
explanation never disagrees with the API. Nothing here returns or logs a secret.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from meshkeys.crypto import ed25519
from meshkeys.crypto.signing import HEADER_FAMILIES, TOLERANCE_SECONDS, SignatureError, verify
from meshkeys.models import KeyType, Permission
from meshkeys.models import SignatureKey as Key
from meshkeys.services import access
from meshkeys.services.errors import InvalidInput, has_control_chars
from meshkeys.services.keys import decrypt_secret
from meshkeys.services.signing import _signing_keys
from meshkeys.services.uow import UnitOfWork

# Why a verification failed (``Verification.reason``); "verified" when it did not.
VERIFIED = "verified"
NO_KEYS = "no_keys"
MISSING_HEADER = "missing_header"
DUPLICATE_HEADER = "duplicate_header"
BAD_MSG_ID = "bad_msg_id"
BAD_TIMESTAMP = "bad_timestamp"
TOO_OLD = "too_old"
TOO_NEW = "too_new"
NO_V1 = "no_v1"
NO_MATCH = "no_match"
# A check only the fast path makes (e.g. an id that UTF-8 cannot encode), in its words.
INVALID = "invalid"

MAX_HEADER_LINES = 100
MAX_HEADER_TEXT = 64 * 1024


@dataclass(frozen=True)
class TriedKey:
    """A key the verification tried: its id and name, never its secret."""

    id: uuid.UUID
    name: str

    @property
    def short_id(self) -> str:
        return str(self.id)[:8]

    @property
    def label(self) -> str:
        return f"{self.name} ({self.short_id})"


@dataclass(frozen=True)
class Verification:
    """The outcome: ``valid`` with the matching ``key``, or the ``reason`` and a ``message``."""

    valid: bool
    reason: str
    message: str
    key: TriedKey | None = None
    # The project's active keys (grace periods included), newest first, when they were tried
    # (verified, no_match); empty when a check before any key failed.
    tried: tuple[TriedKey, ...] = ()
    # too_old / too_new: seconds beyond the tolerance; the timestamp's distance from now.
    off_by_seconds: int | None = None
    age_seconds: int | None = None


class _Failed(Exception):
    def __init__(
        self, reason: str, message: str, off_by_seconds: int | None = None, age: int | None = None
    ) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message
        self.off_by_seconds, self.age = off_by_seconds, age


def _header(headers: Mapping[str, str], name: str) -> str:
    """``webhook-<name>``, else ``svix-<name>`` (case-insensitive), as the fast path reads it."""
    for family in HEADER_FAMILIES:
        wanted = family + name
        values = {value for key, value in headers.items() if key.lower() == wanted}
        if len(values) > 1:
            raise _Failed(
                DUPLICATE_HEADER, f"The {wanted} header is given twice with different values."
            )
        if values:
            return values.pop()
    others = " or ".join(f"{family}{name}" for family in HEADER_FAMILIES[1:])
    raise _Failed(
        MISSING_HEADER, f"The webhook-{name} header is missing (looked for {others} too)."
    )


def _timestamp(headers: Mapping[str, str], now: int) -> int:
    raw = _header(headers, "timestamp")
    try:
        timestamp = int(raw)
    except ValueError:
        raise _Failed(
            BAD_TIMESTAMP,
            f"The webhook-timestamp header must be whole seconds since the epoch, e.g. {now}.",
        ) from None
    age = now - timestamp
    if age > TOLERANCE_SECONDS:
        raise _Failed(
            TOO_OLD,
            f"The timestamp is too old by {age - TOLERANCE_SECONDS} seconds: it is {age} "
            f"seconds before now, and at most {TOLERANCE_SECONDS} are accepted (replay "
            "protection). Sign the message again.",
            off_by_seconds=age - TOLERANCE_SECONDS,
            age=age,
        )
    if -age > TOLERANCE_SECONDS:
        raise _Failed(
            TOO_NEW,
            f"The timestamp is too new by {-age - TOLERANCE_SECONDS} seconds: it is {-age} "
            f"seconds after now, and at most {TOLERANCE_SECONDS} are accepted. Check the "
            "sender's clock.",
            off_by_seconds=-age - TOLERANCE_SECONDS,
            age=age,
        )
    return timestamp


def _has_v1(signature: str) -> bool:
    for part in signature.split():
        version, _, encoded = part.partition(",")
        if version not in ("v1", ed25519.VERSION):
            continue
        try:
            base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        return True
    return False


def _check_headers(headers: Mapping[str, str], now: int) -> None:
    """The fast path's checks before any HMAC, each failure named."""
    msg_id = _header(headers, "id")
    if not msg_id:
        raise _Failed(BAD_MSG_ID, "The webhook-id header is empty; every message needs an id.")
    _timestamp(headers, now)
    if not _has_v1(_header(headers, "signature")):
        raise _Failed(
            NO_V1,
            "The webhook-signature header has no v1 or v1a entry: it holds 'v1,<base64>' "
            "(HMAC) or 'v1a,<base64>' (ed25519) entries separated by spaces.",
        )


def explain_verification(
    uow: UnitOfWork, *, project_id: uuid.UUID, payload: bytes, headers: Mapping[str, str]
) -> Verification:
    """Which active key of the project verifies ``payload`` with ``headers``, or why none does.

    Any member may verify (viewers too). The answer names keys by name and id only."""
    uow.read_only()
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.WEBHOOKS_VERIFY,
        attempted="verifying a payload",
    )
    rows = _signing_keys(uow, project_id)
    tried = tuple(TriedKey(id=r.id, name=r.name) for r in rows)
    now = int(uow.now.timestamp())
    try:
        _check_headers(headers, now)
    except _Failed as failed:
        return Verification(
            False,
            failed.reason,
            failed.message,
            off_by_seconds=failed.off_by_seconds,
            age_seconds=failed.age,
        )
    if not rows:
        return Verification(
            False,
            NO_KEYS,
            "This project has no active key, so nothing can verify. Generate a key first.",
        )
    by_id = {key.id: key for key in tried}
    try:
        matched = _match(rows, headers, payload, now)
    except SignatureError as exc:
        if not _is_no_match(exc):  # a check above should have named it
            return Verification(False, INVALID, str(exc))
        names = ", ".join(key.label for key in tried)
        return Verification(
            False,
            NO_MATCH,
            f"No key matches. Tried {len(tried)} active key{'s' if len(tried) != 1 else ''}: "
            f"{names}. The payload, id or timestamp changed after signing, or another "
            "secret signed it.",
            tried=tried,
        )
    key = by_id[matched]
    return Verification(True, VERIFIED, f"Verified by key {key.label}.", key=key, tried=tried)


def _is_no_match(exc: SignatureError) -> bool:
    text = str(exc)
    return "no signature matches" in text or text.startswith("webhook-signature holds no v1")


def _match(rows: list[Key], headers: Mapping[str, str], payload: bytes, now: int) -> uuid.UUID:
    """The fast path's matching: ``v1`` entries against the HMAC keys, then ``v1a`` entries
    against the ed25519 public keys (nothing is decrypted for those)."""
    hmac_keys = [(r.id, decrypt_secret(r)) for r in rows if r.key_type != KeyType.ED25519]
    ed_keys = [(r.id, r.public_key) for r in rows if r.key_type == KeyType.ED25519 and r.public_key]
    failure: SignatureError | None = None
    for check, candidates in ((verify, hmac_keys), (ed25519.verify, ed_keys)):
        if not candidates:
            continue
        try:
            return check(candidates, headers=headers, payload=payload, clock=lambda: now)
        except SignatureError as exc:
            if failure is None or not _is_no_match(exc):
                failure = exc
    assert failure is not None  # rows is not empty: one of the two lists was tried
    raise failure


def parse_header_lines(text: str) -> dict[str, str]:
    """Headers pasted as ``Name: value`` lines (blank lines ignored) into a dict.

    InvalidInput names the line that is not a header, or a header given twice differently."""
    if len(text) > MAX_HEADER_TEXT:
        raise InvalidInput(f"The headers are at most {MAX_HEADER_TEXT // 1024} KiB.")
    headers: dict[str, str] = {}
    lines = [line.strip() for line in text.splitlines()]
    if sum(1 for line in lines if line) > MAX_HEADER_LINES:
        raise InvalidInput(f"Paste at most {MAX_HEADER_LINES} header lines.")
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or not name or " " in name or has_control_chars(name + value):
            raise InvalidInput(
                f"Line {number} of the headers is not 'Name: value' (e.g. webhook-id: msg_2Lx1...)."
            )
        if headers.get(name, value) != value:
            raise InvalidInput(f"The {name} header is given twice with different values.")
        headers[name] = value
    if not headers:
        raise InvalidInput("Paste the headers you received, one 'Name: value' per line.")
    return headers
