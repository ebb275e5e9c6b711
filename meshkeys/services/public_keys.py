"""Published ed25519 public keys: what a receiver fetches instead of being handed a secret.

A project's public key set lists its effective active ed25519 keys (grace periods included,
with their ``expires_at``), newest first, at most ``MAX_SIGNING_KEYS``: exactly the keys whose
``v1a`` entries ``signing.sign_payload`` writes. Only public columns are ever selected.

- A member (any role) reads the set of their project (``public_key_set``).
- Anyone reads it without signing in once an owner has turned ``publish_public_keys`` on
  (``published_key_set``): that lookup happens before anyone is known, so it runs in a
  read-only system step (docs/SECURITY.md lists it) and answers None for an unknown project
  and for an unpublished one alike, so that an anonymous caller learns nothing.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import col, select

from meshkeys.models import KeyStatus, KeyType, Permission, Project, PublicKeyEntry, PublicKeySet
from meshkeys.models import SignatureKey as Key
from meshkeys.services import access, audit
from meshkeys.services.errors import InvalidInput, NotFound
from meshkeys.services.keys import MAX_SIGNING_KEYS, effective_clause
from meshkeys.services.uow import UnitOfWork


def _entries(uow: UnitOfWork, project_id: uuid.UUID) -> list[PublicKeyEntry]:
    query = (
        sa.select(
            col(Key.id),
            col(Key.name),
            col(Key.public_key),
            col(Key.created_at),
            col(Key.status),
            col(Key.expires_at),
        )
        .where(
            col(Key.project_id) == project_id,
            col(Key.key_type) == KeyType.ED25519,
            effective_clause(KeyStatus.ACTIVE, uow.now),
        )
        .order_by(col(Key.created_at).desc(), col(Key.id).desc())
        .limit(MAX_SIGNING_KEYS)
    )
    return [
        PublicKeyEntry(
            key_id=key_id,
            name=name,
            type=KeyType.ED25519,
            public_key=public_key,
            created_at=created_at,
            # an active key has no end; a key in its grace period ends at expires_at
            expires_at=expires_at if status == KeyStatus.REVOKED else None,
        )
        for key_id, name, public_key, created_at, status, expires_at in uow.session.execute(
            query
        ).all()
        if public_key
    ]


def public_key_set(uow: UnitOfWork, *, project_id: uuid.UUID) -> PublicKeySet:
    """The set for a member of the project (any role); NotFound for anyone else."""
    uow.read_only()
    access.require(
        uow, project_id=project_id, permission=Permission.KEYS_READ, attempted="listing public keys"
    )
    published = uow.session.exec(
        select(Project.publish_public_keys).where(Project.id == project_id)
    ).one()
    return PublicKeySet(
        project_id=project_id, published=bool(published), keys=_entries(uow, project_id)
    )


def published_key_set(uow: UnitOfWork, *, project_id: uuid.UUID) -> PublicKeySet | None:
    """The set of a project whose owner published it, for anyone; None otherwise.

    Unknown and unpublished projects both answer None: the caller cannot tell them apart.
    """
    with uow.system_step():
        published = uow.session.exec(
            select(Project.publish_public_keys).where(Project.id == project_id)
        ).first()
        if not published:
            return None
        return PublicKeySet(project_id=project_id, published=True, keys=_entries(uow, project_id))


def set_publish_public_keys(
    uow: UnitOfWork, *, project_id: uuid.UUID, publish: bool
) -> PublicKeySet:
    """Turn publishing on or off (owners only), audited; the set as it now stands."""
    if not isinstance(publish, bool):
        raise InvalidInput("publish_public_keys must be true or false")
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.MEMBERS_WRITE,
        attempted="publishing public keys" if publish else "unpublishing public keys",
    )
    project = uow.session.get(Project, project_id, with_for_update=True)
    if project is None:  # pragma: no cover - the membership check found it
        raise NotFound(access.PROJECT_NOT_FOUND)
    before = bool(project.publish_public_keys)
    if before != publish:
        project.publish_public_keys = publish
        uow.session.add(project)
        audit.record(
            uow,
            action=audit.PUBLIC_KEYS_PUBLISHED if publish else audit.PUBLIC_KEYS_UNPUBLISHED,
            project_id=project_id,
            details={"publish_public_keys": publish, "was": before},
        )
    result = PublicKeySet(project_id=project_id, published=publish, keys=_entries(uow, project_id))
    uow.commit()
    return result
