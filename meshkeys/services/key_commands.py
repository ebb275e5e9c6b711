"""Key commands: generate, revoke, reactivate, rotate, reveal.

Every command checks the acting user's role, locks the key row (``SELECT ... FOR UPDATE``),
checks the state, writes the change and its audit event with one ``uow.now``, and commits
once: both exist or neither.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from meshkeys.crypto import ed25519, generate_secret, key_hint
from meshkeys.models import (
    KeyPublic,
    KeyStatus,
    KeyType,
    KeyWithSecret,
    Permission,
    Project,
    RevokeReason,
)
from meshkeys.models import SignatureKey as Key
from meshkeys.services import access, audit
from meshkeys.services.errors import Conflict, InvalidInput, NotFound, clean_name
from meshkeys.services.keys import (
    DEFAULT_ROTATION_GRACE_SECONDS,
    KEY_NOT_FOUND,
    MAX_GRACE_SECONDS,
    MAX_NAME_LENGTH,
    decrypt_secret,
    effective_status,
    encrypt_secret,
    key_type_of,
    to_public,
    with_secret,
)
from meshkeys.services.uow import UnitOfWork


def _check_grace(grace_seconds: int) -> int:
    if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, int):
        raise InvalidInput("grace_seconds must be a whole number of seconds")
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise InvalidInput(
            f"grace_seconds must be between 0 (revoke now) and {MAX_GRACE_SECONDS} (7 days)."
        )
    return grace_seconds


def _reason(value: str | RevokeReason) -> RevokeReason:
    try:
        return RevokeReason(value)
    except ValueError as exc:
        choices = ", ".join(RevokeReason)
        raise InvalidInput(f"reason must be one of: {choices}") from exc


def load_for_change(
    uow: UnitOfWork,
    *,
    key_id: uuid.UUID,
    attempted: str,
    permission: Permission = Permission.KEYS_WRITE,
) -> Key:
    """Find the key, check the actor's permission in its project, and lock its row."""
    session = uow.session
    project_id = session.exec(select(Key.project_id).where(Key.id == key_id)).first()
    if project_id is None:
        raise NotFound(KEY_NOT_FOUND)
    access.require(
        uow,
        project_id=project_id,
        permission=permission,
        attempted=attempted,
        not_found=KEY_NOT_FOUND,
        key_id=key_id,
    )
    query = select(Key).where(Key.id == key_id).with_for_update()
    return session.exec(query.execution_options(populate_existing=True)).one()


def _refuse(uow: UnitOfWork, message: str) -> Conflict:
    """End the transaction (releasing the row lock) and return the Conflict to raise."""
    uow.rollback()
    return Conflict(message)


def _bump_counters(
    uow: UnitOfWork, project_id: uuid.UUID, *, keys: int = 0, revoked: int = 0
) -> None:
    uow.session.execute(
        sa.update(Project)
        .where(col(Project.id) == project_id)
        .values(key_count=Project.key_count + keys, revoked_count=Project.revoked_count + revoked)
    )


def _insert_key(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    name: str,
    key_type: KeyType = KeyType.HMAC_SHA256,
    rotated_from: uuid.UUID | None = None,
) -> tuple[Key, str]:
    public_key: str | None = None
    if key_type == KeyType.ED25519:
        secret = ed25519.generate_signing_key()
        public_key = ed25519.public_key_of(secret)
    else:
        secret = generate_secret()
    key_id = uuid.uuid4()
    row = Key(
        key_type=key_type,
        public_key=public_key,
        id=key_id,
        project_id=project_id,
        name=name,
        name_search=name.lower(),
        key=encrypt_secret(secret, key_id, project_id),
        key_hint=key_hint(secret),
        status=KeyStatus.ACTIVE,
        created_at=uow.now,
        created_by=uow.actor.user_id if uow.has_actor else None,  # None: the scheduler
        rotated_from=rotated_from,
    )
    uow.session.add(row)
    _bump_counters(uow, project_id, keys=1)
    return row, secret


def _clean_key_name(name: str) -> str:
    name = clean_name(name, what="key", max_length=MAX_NAME_LENGTH)
    if len(name.lower()) > MAX_NAME_LENGTH:  # "İ" lowercases to two characters
        raise InvalidInput(f"Give the key a name of 1 to {MAX_NAME_LENGTH} printable characters.")
    return name


def generate_key(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    name: str,
    key_type: str | KeyType = KeyType.HMAC_SHA256,
) -> KeyWithSecret:
    """Create a key (HMAC-SHA256 unless ``key_type`` says ed25519). The answer is the only
    time its secret (``whsec_`` or ``whsk_``) is returned unasked."""
    name = _clean_key_name(name)
    key_type = key_type_of(key_type)
    access.require(
        uow, project_id=project_id, permission=Permission.KEYS_WRITE, attempted="generating a key"
    )
    row, secret = _insert_key(uow, project_id=project_id, name=name, key_type=key_type)
    uow.session.flush()
    audit.record(
        uow,
        action=audit.KEY_GENERATED,
        project_id=project_id,
        key_id=row.id,
        key_name=row.name,
        old_status=None,
        new_status=KeyStatus.ACTIVE,
        details={"type": key_type},
    )
    result = _with_rotation(uow, with_secret(row, secret, uow.now))
    uow.commit()
    return result


def revoke_key(
    uow: UnitOfWork, *, key_id: uuid.UUID, reason: str | RevokeReason, grace_seconds: int = 0
) -> KeyPublic:
    """Revoke now (``grace_seconds=0``) or at the end of a grace period of up to 7 days.

    Revoking a key that is still in a grace period is allowed when it brings the end
    forward (for instance: the rotated key turns out to be compromised).
    """
    reason = _reason(reason)
    grace_seconds = _check_grace(grace_seconds)
    row = load_for_change(uow, key_id=key_id, attempted="revoking a key")
    now = uow.now
    before = effective_status(row, now)
    new_expiry = now + timedelta(seconds=grace_seconds) if grace_seconds else None
    if before == KeyStatus.REVOKED:
        raise _refuse(
            uow,
            f"Key '{row.name}' is already revoked. "
            "Reactivate it first if you meant to use it again.",
        )
    if row.status == KeyStatus.REVOKED:  # in a grace period: only bring the end forward
        if new_expiry is not None and row.expires_at is not None and new_expiry >= row.expires_at:
            raise _refuse(
                uow,
                f"Key '{row.name}' is already being revoked at {row.expires_at.isoformat()}; "
                "a new revocation can only bring that forward (use grace_seconds=0 to revoke now).",
            )
        if row.revoke_reason == RevokeReason.COMPROMISED:
            reason = RevokeReason.COMPROMISED  # never downgraded: it would allow a reactivation
    else:
        _bump_counters(uow, row.project_id, revoked=1)
    row.status = KeyStatus.REVOKED
    row.revoke_reason = reason
    row.revoked_at = now
    row.expires_at = new_expiry
    uow.session.add(row)
    audit.record(
        uow,
        action=audit.KEY_REVOKED,
        project_id=row.project_id,
        key_id=row.id,
        key_name=row.name,
        old_status=before,
        new_status=effective_status(row, now),
        details={
            "reason": reason,
            "grace_seconds": grace_seconds,
            "expires_at": new_expiry.isoformat() if new_expiry else None,
        },
    )
    uow.commit()
    return to_public(row, now)


def reactivate_key(uow: UnitOfWork, *, key_id: uuid.UUID) -> KeyPublic:
    """Make a revoked key active again, unless it was revoked as compromised."""
    row = load_for_change(uow, key_id=key_id, attempted="reactivating a key")
    now = uow.now
    before = effective_status(row, now)
    if row.status == KeyStatus.ACTIVE:
        raise _refuse(uow, f"Key '{row.name}' is already active; there is nothing to reactivate.")
    if row.revoke_reason == RevokeReason.COMPROMISED:
        raise _refuse(
            uow,
            f"Key '{row.name}' was revoked as compromised and cannot be reactivated: a "
            "compromised key never protects data again (NIST SP 800-57). "
            "Generate a new key instead.",
        )
    previous_reason = row.revoke_reason
    row.status = KeyStatus.ACTIVE
    row.revoke_reason = None
    row.revoked_at = None
    row.expires_at = None
    uow.session.add(row)
    _bump_counters(uow, row.project_id, revoked=-1)
    audit.record(
        uow,
        action=audit.KEY_REACTIVATED,
        project_id=row.project_id,
        key_id=row.id,
        key_name=row.name,
        old_status=before,
        new_status=KeyStatus.ACTIVE,
        details={"previous_reason": previous_reason},
    )
    uow.commit()
    return to_public(row, now)


def rotate_key(
    uow: UnitOfWork, *, key_id: uuid.UUID, grace_seconds: int = DEFAULT_ROTATION_GRACE_SECONDS
) -> KeyWithSecret:
    """Generate a successor with the same name and revoke this key after a grace period."""
    grace_seconds = _check_grace(grace_seconds)
    old = load_for_change(uow, key_id=key_id, attempted="rotating a key")
    if old.status != KeyStatus.ACTIVE:
        raise _refuse(
            uow,
            f"Key '{old.name}' is already revoked or being revoked; rotate an active key, "
            "or generate a new one.",
        )
    new, secret = rotate_locked(uow, old, grace_seconds=grace_seconds)
    result = _with_rotation(uow, with_secret(new, secret, new.created_at))
    uow.commit()
    return result


def _with_rotation(uow: UnitOfWork, key: KeyWithSecret) -> KeyWithSecret:
    """A new key's ``rotates_at`` under its project's rotation policy (None without one)."""
    days = uow.session.exec(
        select(Project.rotate_every_days).where(col(Project.id) == key.project_id)
    ).first()
    if days is not None:
        key.rotates_at = key.created_at + timedelta(days=days)
    return key


def rotate_locked(
    uow: UnitOfWork,
    old: Key,
    *,
    grace_seconds: int,
    details: dict[str, Any] | None = None,
) -> tuple[Key, str]:
    """Rotate an active key whose row the caller has locked and whose right it has checked
    (``rotate_key`` for a member, ``rotation_policy.rotate_due`` for the scheduler): the
    successor, the old key revoked after ``grace_seconds``, both audit events (``details``
    added to the ``key.rotated`` one). Does not commit."""
    now = uow.now
    new, secret = _insert_key(
        uow,
        project_id=old.project_id,
        name=old.name,
        key_type=old.key_type,  # rotation keeps the type
        rotated_from=old.id,
    )
    old.status = KeyStatus.REVOKED
    old.revoke_reason = RevokeReason.ROTATED
    old.revoked_at = now
    old.expires_at = now + timedelta(seconds=grace_seconds) if grace_seconds else None
    uow.session.add(old)
    _bump_counters(uow, old.project_id, revoked=1)
    uow.session.flush()
    audit.record(
        uow,
        action=audit.KEY_ROTATED,
        project_id=old.project_id,
        key_id=old.id,
        key_name=old.name,
        old_status=KeyStatus.ACTIVE,
        new_status=effective_status(old, now),
        details={
            "new_key_id": str(new.id),
            "grace_seconds": grace_seconds,
            "expires_at": old.expires_at.isoformat() if old.expires_at else None,
            **(details or {}),
        },
    )
    audit.record(
        uow,
        action=audit.KEY_GENERATED,
        project_id=new.project_id,
        key_id=new.id,
        key_name=new.name,
        old_status=None,
        new_status=KeyStatus.ACTIVE,
        details={"rotated_from": str(old.id), "type": new.key_type},
    )
    return new, secret


def reveal_key(uow: UnitOfWork, *, key_id: uuid.UUID) -> KeyWithSecret:
    """Show a key's secret again (owner/admin), recorded as ``key.revealed``."""
    row = load_for_change(uow, key_id=key_id, attempted="revealing a secret")
    try:
        secret = decrypt_secret(row)
    except Conflict:
        uow.rollback()
        raise
    status = effective_status(row, uow.now)  # revealing changes nothing
    audit.record(
        uow,
        action=audit.KEY_REVEALED,
        project_id=row.project_id,
        key_id=row.id,
        key_name=row.name,
        old_status=status,
        new_status=status,
    )
    now = uow.now
    uow.commit()
    return with_secret(row, secret, now)
