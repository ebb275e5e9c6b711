"""What every key module shares: limits, the effective status, read models, the secret at rest.

Status model. The ``status`` column records the decision (``active`` or ``revoked``); a
revocation with a grace period also sets ``expires_at``. The *effective* status, which every
reader sees, is computed from both and the clock, so a key whose grace period has passed
counts as revoked everywhere without a background job:

    effective active  = status = 'active' OR expires_at > now
    effective revoked = status = 'revoked' AND (expires_at IS NULL OR expires_at <= now)

The commands are in ``key_commands``, the listings in ``key_queries``, signing in ``signing``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from meshkeys.crypto.ed25519 import SIGNING_KEY_PREFIX
from meshkeys.crypto.encryption import DecryptionError
from meshkeys.crypto.masterkey import get_keyring
from meshkeys.crypto.secrets import mask
from meshkeys.models import KeyPublic, KeyStatus, KeyType, KeyWithSecret, SignatureKey
from meshkeys.services.errors import Conflict, InvalidInput

MAX_GRACE_SECONDS = 7 * 24 * 3600
DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600
MAX_NAME_LENGTH = 200
MAX_PAGE_SIZE = 200
# Sign and verify use the newest active keys of a project, up to this many:
# a webhook-signature header with more signatures than this is a misconfiguration.
MAX_SIGNING_KEYS = 20

KEY_NOT_FOUND = (
    "Key not found in your projects. Check the id; keys of other projects are not visible."
)
UNDECRYPTABLE = (
    "A secret of this project cannot be decrypted with the configured master key. Nothing was "
    "changed: check MESHKEYS_MASTER_KEY, and list older keys in MESHKEYS_MASTER_KEYS."
)


def associated_data(key_id: uuid.UUID, project_id: uuid.UUID) -> bytes:
    """What binds a ciphertext to its row: copied into another row, it does not decrypt."""
    return f"signature_keys:{key_id}:{project_id}".encode()


def key_type_of(value: str | KeyType) -> KeyType:
    """A key type from user input; InvalidInput naming the choices otherwise."""
    try:
        return KeyType(value)
    except ValueError as exc:
        raise InvalidInput(f"type must be one of: {', '.join(KeyType)}") from exc


def effective_status(row: SignatureKey, now: datetime) -> KeyStatus:
    if row.status == KeyStatus.ACTIVE:
        return KeyStatus.ACTIVE
    if row.expires_at is not None and row.expires_at > now:
        return KeyStatus.ACTIVE
    return KeyStatus.REVOKED


def effective_clause(status: KeyStatus, now: datetime) -> ColumnElement[bool]:
    """The SQL form of ``effective_status(row, now) == status``."""
    expires = col(SignatureKey.expires_at)
    if status == KeyStatus.ACTIVE:
        return sa.or_(
            col(SignatureKey.status) == KeyStatus.ACTIVE,
            sa.and_(col(SignatureKey.status) == KeyStatus.REVOKED, expires > now),
        )
    return sa.and_(
        col(SignatureKey.status) == KeyStatus.REVOKED,
        sa.or_(expires.is_(None), expires <= now),
    )


def to_public(row: SignatureKey, now: datetime) -> KeyPublic:
    return KeyPublic(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        key_hint=row.key_hint,
        masked_secret=(
            mask(row.key_hint, SIGNING_KEY_PREFIX)
            if row.key_type == KeyType.ED25519
            else mask(row.key_hint)
        ),
        status=effective_status(row, now),
        revoke_reason=row.revoke_reason,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        key_type=row.key_type,
        public_key=row.public_key,
    )


def with_secret(row: SignatureKey, secret: str, now: datetime) -> KeyWithSecret:
    return KeyWithSecret(**to_public(row, now).model_dump(), secret=secret)


def encrypt_secret(secret: str, key_id: uuid.UUID, project_id: uuid.UUID) -> str:
    aad = associated_data(key_id, project_id)
    return get_keyring().encrypt(secret.encode(), associated_data=aad)


def decrypt_secret(row: SignatureKey) -> str:
    """The plaintext secret; a domain Conflict (opaque about why) when it cannot be decrypted."""
    try:
        aad = associated_data(row.id, row.project_id)
        return get_keyring().decrypt(row.key, associated_data=aad).decode()
    except DecryptionError as exc:
        raise Conflict(UNDECRYPTABLE) from exc
