"""Sign and verify webhooks (Standard Webhooks) with a project's active keys.

Every effective active key signs, grace periods included, newest first and at most
``MAX_SIGNING_KEYS``; any one of them verifies. The format itself is ``crypto.signing``.
"""

from __future__ import annotations

import uuid

from sqlmodel import col, select

from meshkeys.crypto import ed25519
from meshkeys.crypto.signing import SignatureError, sign_headers
from meshkeys.crypto.signing import verify as verify_signature
from meshkeys.models import KeyStatus, KeyType, Permission
from meshkeys.models import SignatureKey as Key
from meshkeys.services import access
from meshkeys.services.errors import Conflict, InvalidInput
from meshkeys.services.keys import MAX_SIGNING_KEYS, decrypt_secret, effective_clause
from meshkeys.services.uow import UnitOfWork

MAX_MSG_ID_LENGTH = 200


def _signing_keys(uow: UnitOfWork, project_id: uuid.UUID) -> list[Key]:
    query = (
        select(Key)
        .where(col(Key.project_id) == project_id, effective_clause(KeyStatus.ACTIVE, uow.now))
        .order_by(col(Key.created_at).desc(), col(Key.id).desc())
        .limit(MAX_SIGNING_KEYS)
    )
    return list(uow.session.exec(query).all())


def _check_message(msg_id: str | None, timestamp: int | None) -> None:
    if msg_id is not None and not (
        1 <= len(msg_id) <= MAX_MSG_ID_LENGTH and msg_id.isprintable() and "." not in msg_id
    ):
        raise InvalidInput("msg_id must be 1 to 200 printable characters without '.'")
    if timestamp is not None and not 0 <= timestamp < 2**40:
        raise InvalidInput("timestamp must be seconds since the epoch")


def sign_payload(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    payload: bytes,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers signed by every active key (grace periods included)."""
    uow.read_only()  # signing writes nothing: on SQLite it takes no write lock
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.WEBHOOKS_SIGN,
        attempted="signing a payload",
    )
    _check_message(msg_id, timestamp)
    rows = _signing_keys(uow, project_id)
    if not rows:
        raise Conflict("This project has no active key to sign with. Generate a key first.")
    ed_rows = [r for r in rows if r.key_type == KeyType.ED25519]
    secrets = [decrypt_secret(r) for r in rows if r.key_type != KeyType.ED25519]
    now = uow.now.timestamp()
    headers = sign_headers(
        secrets, payload=payload, msg_id=msg_id, timestamp=timestamp, clock=lambda: now
    )
    if ed_rows:  # one v1a entry per active ed25519 key, after the v1 ones
        headers = ed25519.add_signatures(
            headers, [decrypt_secret(r) for r in ed_rows], payload=payload
        )
    return headers


def _either(hmac_error: SignatureError, v1a_error: SignatureError) -> SignatureError:
    """One reason when neither scheme matched: the shared one, or the most useful one."""
    first, second = str(hmac_error), str(v1a_error)
    if first == second:
        return hmac_error
    if first.startswith("webhook-signature holds no") and second.startswith(
        "webhook-signature holds no"
    ):
        return SignatureError("webhook-signature holds no v1 or v1a signature")
    return SignatureError("no signature matches an active key of this project")


def verify_payload(
    uow: UnitOfWork, *, project_id: uuid.UUID, payload: bytes, headers: dict[str, str]
) -> uuid.UUID:
    """The id of the active key whose signature is in ``headers``; InvalidInput when none is."""
    uow.read_only()
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.WEBHOOKS_VERIFY,
        attempted="verifying a payload",
    )
    rows = _signing_keys(uow, project_id)
    now = uow.now.timestamp()
    ed_candidates = [(r.id, r.public_key) for r in rows if r.key_type == KeyType.ED25519]
    try:
        candidates = [(r.id, decrypt_secret(r)) for r in rows if r.key_type != KeyType.ED25519]
        return verify_signature(candidates, headers=headers, payload=payload, clock=lambda: now)
    except SignatureError as exc:
        if not ed_candidates:
            raise InvalidInput(str(exc)) from exc
        hmac_error = exc
    try:  # v1a: verified with the public key alone, nothing to decrypt
        return ed25519.verify(
            [(i, k) for i, k in ed_candidates if k],
            headers=headers,
            payload=payload,
            clock=lambda: now,
        )
    except SignatureError as exc:
        raise InvalidInput(str(_either(hmac_error, exc))) from exc
