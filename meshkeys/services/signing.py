"""Sign and verify webhooks (Standard Webhooks) with a project's active keys.

Every effective active key signs, grace periods included, newest first and at most
``MAX_SIGNING_KEYS``; any one of them verifies. The API's requests take the access check and
the loaded keys from ``services.cache`` while nothing has changed. HMAC keys add ``v1``
entries (``crypto.signing``, through a ``KeySet`` that decodes each secret once per load),
ed25519 keys ``v1a`` entries after them (``crypto.ed25519``; verified with the stored public
key, nothing decrypted).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select

from meshkeys.crypto import ed25519
from meshkeys.crypto.signing import KeySet, SignatureError
from meshkeys.models import KeyStatus, KeyType, Permission
from meshkeys.models import SignatureKey as Key
from meshkeys.services import access, cache
from meshkeys.services.cache import ProjectKeys
from meshkeys.services.errors import Conflict, InvalidInput
from meshkeys.services.keys import MAX_SIGNING_KEYS, decrypt_secret, effective_clause
from meshkeys.services.uow import UnitOfWork

MAX_MSG_ID_LENGTH = 200
MAX_BATCH_MESSAGES = 1000


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a batch: its payload bytes, and optionally its id and timestamp."""

    payload: bytes
    msg_id: str | None = None
    timestamp: int | None = None


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


def _project_keys(
    uow: UnitOfWork, project_id: uuid.UUID, permission: Permission, attempted: str
) -> ProjectKeys:
    """The actor's access checked, and the project's signing keys loaded for this request.

    From the API's cache when its entry is current (``services.cache``: any change to a key,
    a token or a membership, in any worker, makes it stale before that change's answer
    returns); else from the database (``access.require``, one key query, each secret decrypted
    and decoded once), then remembered. A refusal is never cached: it goes through
    ``access.require``, which audits it.
    """
    hit = cache.cached_keys(uow, project_id)
    if hit is not None:
        role, keys = hit
        if access.permits(uow, role, project_id, permission):
            return keys
    uow.read_only()  # signing and verifying write nothing: on SQLite no write lock is taken
    role = access.require(uow, project_id=project_id, permission=permission, attempted=attempted)
    rows = _signing_keys(uow, project_id)
    ed_rows = [r for r in rows if r.key_type == KeyType.ED25519]
    keys = ProjectKeys(
        any_key=bool(rows),
        hmac=KeySet((r.id, decrypt_secret(r)) for r in rows if r.key_type != KeyType.ED25519),
        # loading an ed25519 key derives its public point, as costly as a signature: once
        ed_private=tuple(ed25519.private_key(decrypt_secret(r)) for r in ed_rows),
        ed_public=tuple((r.id, r.public_key) for r in ed_rows if r.public_key),
    )
    grace_ends = [r.expires_at for r in rows if r.status == KeyStatus.REVOKED and r.expires_at]
    cache.remember_keys(uow, project_id, role, keys, ends=grace_ends)
    return keys


def sign_payload(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    payload: bytes,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers signed by every active key (grace periods included)."""
    return sign_batch(uow, project_id=project_id, messages=[Message(payload, msg_id, timestamp)])[0]


def sign_batch(
    uow: UnitOfWork, *, project_id: uuid.UUID, messages: Sequence[Message]
) -> list[dict[str, str]]:
    """The headers of each message, in order, every one signed by every active key.

    One access check, one key query and one decryption per key for the whole batch (1 to
    ``MAX_BATCH_MESSAGES`` messages); every message is checked before any is signed.
    """
    keys = _project_keys(uow, project_id, Permission.WEBHOOKS_SIGN, "signing a payload")
    if not 1 <= len(messages) <= MAX_BATCH_MESSAGES:
        raise InvalidInput(f"a batch holds 1 to {MAX_BATCH_MESSAGES} messages")
    for index, message in enumerate(messages):
        try:
            _check_message(message.msg_id, message.timestamp)
        except InvalidInput as exc:
            prefix = f"messages[{index}]: " if len(messages) > 1 else ""
            raise InvalidInput(prefix + exc.message) from None
    if not keys.any_key:
        raise Conflict("This project has no active key to sign with. Generate a key first.")
    ed_seeds = keys.ed_private
    now = uow.now.timestamp()
    signed = []
    for m in messages:
        headers = keys.hmac.sign_headers(
            payload=m.payload, msg_id=m.msg_id, timestamp=m.timestamp, clock=lambda: now
        )
        if ed_seeds:  # one v1a entry per active ed25519 key, after the v1 ones
            headers = ed25519.add_signatures(headers, ed_seeds, payload=m.payload)
        signed.append(headers)
    return signed


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
    keys = _project_keys(uow, project_id, Permission.WEBHOOKS_VERIFY, "verifying a payload")
    now = uow.now.timestamp()
    ed_candidates = keys.ed_public
    try:
        return keys.hmac.verify(headers=headers, payload=payload, clock=lambda: now)
    except SignatureError as exc:
        if not ed_candidates:
            raise InvalidInput(str(exc)) from exc
        hmac_error = exc
    try:  # v1a: verified with the public key alone, nothing to decrypt
        return ed25519.verify(ed_candidates, headers=headers, payload=payload, clock=lambda: now)
    except SignatureError as exc:
        raise InvalidInput(str(_either(hmac_error, exc))) from exc
