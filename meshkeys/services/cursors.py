"""Opaque page cursors, shared by the key and audit listings.

A cursor is base64url (no padding) of a JSON list whose first item names its kind:
``["c", created_at, id]`` for a key listing (newest first), ``["n", name_search, id]`` for a
key search (name order), ``["s", seq]`` for an audit page. A cursor of another kind, or one
that does not decode, is InvalidInput with the same message: use the previous page's.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from meshkeys.services.errors import InvalidInput, has_control_chars

INVALID = (
    "cursor is not valid for this listing; use the next_cursor of the previous page "
    "with the same status and search"
)
INVALID_AUDIT = (
    "cursor is not valid; use the next_cursor of the previous page with the same filters"
)
# An audit seq is an INTEGER column: a larger one cannot name a page (and would not bind).
MAX_SEQ = 2**31 - 1


def _encode(parts: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def _decode(cursor: str, kind: str, size: int, message: str = INVALID) -> list[Any]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError, binascii.Error, RecursionError) as exc:
        raise InvalidInput(message) from exc
    if not (isinstance(parts, list) and len(parts) == size and parts[0] == kind):
        raise InvalidInput(message)
    return parts


def encode_created(created_at: datetime, key_id: uuid.UUID) -> str:
    return _encode(["c", created_at.isoformat(timespec="microseconds"), key_id.hex])


def decode_created(cursor: str) -> tuple[datetime, uuid.UUID]:
    _, when, ident = _decode(cursor, "c", 3)
    try:
        created_at = datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return created_at.astimezone(UTC), uuid.UUID(hex=ident)
    except (TypeError, ValueError, OverflowError, AttributeError) as exc:  # a list for a hex
        raise InvalidInput(INVALID) from exc


def encode_name(name_search: str, key_id: uuid.UUID) -> str:
    return _encode(["n", name_search, key_id.hex])


def decode_name(cursor: str) -> tuple[str, uuid.UUID]:
    _, name, ident = _decode(cursor, "n", 3)
    try:
        if not isinstance(name, str) or has_control_chars(name):
            raise TypeError("name")
        return name, uuid.UUID(hex=ident)
    except (TypeError, ValueError, AttributeError) as exc:  # uuid.UUID(hex=[...])
        raise InvalidInput(INVALID) from exc


def encode_seq(seq: int) -> str:
    return _encode(["s", seq])


def decode_seq(cursor: str) -> int:
    _, seq = _decode(cursor, "s", 2, INVALID_AUDIT)
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise InvalidInput(INVALID_AUDIT)
    return seq
