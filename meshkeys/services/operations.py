"""Operator commands that span every project: master-key rotation, chain checks, demo data.

They run from the CLI in a ``system`` unit of work (``UnitOfWork(system=True)``: row-level
security lets it see every project); no door of the app calls them.
"""

from __future__ import annotations

import secrets as pysecrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from meshkeys.crypto import generate_secret, key_hint
from meshkeys.crypto.encryption import DecryptionError, Keyring
from meshkeys.models import KeyStatus, Project, RevokeReason, SignatureKey
from meshkeys.services import audit, auth, projects
from meshkeys.services.audit_check import Verdict, verify_all
from meshkeys.services.errors import InvalidInput
from meshkeys.services.keys import associated_data
from meshkeys.services.uow import UnitOfWork

Progress = Callable[[int], None]


def _require_system(uow: UnitOfWork) -> None:
    if not uow.system:
        raise PermissionError("operator commands need UnitOfWork(system=True)")


def _not_current(keyring: Keyring) -> sa.ColumnElement[bool]:
    return col(SignatureKey.key).not_like(f"mk1.{keyring.current_version}.%")


def secrets_to_reencrypt(uow: UnitOfWork, *, keyring: Keyring) -> int:
    """How many secrets are not yet under the current master key."""
    _require_system(uow)
    count = select(sa.func.count()).select_from(SignatureKey).where(_not_current(keyring))
    total = uow.session.exec(count).one()
    uow.rollback()
    return total


def rotate_master_key(
    uow: UnitOfWork, *, keyring: Keyring, batch: int = 500, progress: Progress | None = None
) -> int:
    """Re-encrypt every secret not yet under the current master key. Resumable.

    Works in batches, each committed on its own with a ``master_key.rotated`` event naming
    its rows: interrupted, the batches already done are on record and a new run picks up the
    rows still under an old key. A secret under a master key that is not configured (or
    that does not decrypt) stops the run with ``InvalidInput`` saying what to set; the
    batch in progress is rolled back. Returns the number of rows changed.
    """
    _require_system(uow)
    changed = 0
    last: uuid.UUID | None = None
    while True:
        query = select(SignatureKey).where(_not_current(keyring))
        if last is not None:
            query = query.where(col(SignatureKey.id) > last)
        query = query.order_by(col(SignatureKey.id)).limit(batch).with_for_update()
        rows = uow.session.exec(query).all()
        if not rows:
            uow.rollback()
            break
        old_versions = set()
        for row in rows:
            aad = associated_data(row.id, row.project_id)
            old_versions.add(Keyring.version_of(row.key) or "?")
            try:
                plain = keyring.decrypt(row.key, associated_data=aad)
            except DecryptionError:
                uow.rollback()
                raise InvalidInput(_undecryptable(row.id, Keyring.version_of(row.key))) from None
            row.key = keyring.encrypt(plain, associated_data=aad)
            uow.session.add(row)
        audit.record(
            uow,
            action=audit.MASTER_KEY_ROTATED,
            actor_email="system",
            details={
                "version": keyring.current_version,
                "from_versions": sorted(old_versions),
                "rows": len(rows),
                "first_key_id": str(rows[0].id),
                "last_key_id": str(rows[-1].id),
            },
        )
        last = rows[-1].id
        changed += len(rows)
        uow.commit()
        if progress:
            progress(len(rows))
    return changed


def _undecryptable(key_id: uuid.UUID, version: str | None) -> str:
    if version is None:
        return f"the secret of key {key_id} is not a meshkeys ciphertext; nothing was changed"
    return (
        f"the secret of key {key_id} is encrypted under master key {version}, which is not "
        "configured (or is not that key): put the old master key in MESHKEYS_MASTER_KEYS "
        "(comma-separated) and the new one in MESHKEYS_MASTER_KEY, then run it again; "
        "batches already done stay done"
    )


def verify_all_chains(uow: UnitOfWork, *, keyring: Keyring) -> Verdict:
    """Check every chain: how many chains and events were checked, and the first break."""
    _require_system(uow)
    uow.read_only()
    verdict = verify_all(uow, keyring=keyring)
    uow.rollback()
    return verdict


@dataclass(frozen=True)
class Seeded:
    project_id: uuid.UUID
    keys: int
    owner: str


def seed(
    uow: UnitOfWork,
    *,
    project_name: str,
    owner_email: str,
    count: int,
    keyring: Keyring,
    progress: Progress | None = None,
) -> Seeded:
    """Demo data for benchmarks: the owner (created if missing, with a random password), their
    project of this name (created if missing), and ``count`` keys in it."""
    _require_system(uow)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInput("--keys must be a whole number of at least 1")
    owner = auth.find_or_create_user(uow, email=owner_email, password=pysecrets.token_urlsafe(24))
    uow.act_as(owner)
    project_id = projects.find_or_create_project(uow, name=project_name)
    seed_keys(
        uow,
        project_id=project_id,
        count=count,
        created_by=owner.user_id,
        keyring=keyring,
        progress=progress,
    )
    return Seeded(project_id=project_id, keys=count, owner=owner.email)


def seed_keys(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    count: int,
    created_by: uuid.UUID | None,
    keyring: Keyring,
    revoked_every: int = 10,
    batch: int = 5000,
    progress: Progress | None = None,
) -> None:
    """Bulk demo data for benchmarks: ``count`` keys, one in ``revoked_every`` revoked.

    Each key is a real encrypted secret. Seeded keys are not individually audited (they are
    test data); one ``key.generated`` event per batch would misrepresent them, so the audit
    log stays untouched.
    """
    _require_system(uow)
    if count < 1:
        return
    start = uow.now - timedelta(seconds=count)
    made = 0
    while made < count:
        n = min(batch, count - made)
        rows = []
        revoked = 0
        for i in range(made, made + n):
            key_id = uuid.uuid4()
            secret = generate_secret()
            is_revoked = revoked_every > 0 and i % revoked_every == revoked_every - 1
            revoked += is_revoked
            created = start + timedelta(seconds=i)
            aad = associated_data(key_id, project_id)
            rows.append(
                {
                    "id": key_id,
                    "project_id": project_id,
                    "name": f"seed-{i:07d}",
                    "name_search": f"seed-{i:07d}",
                    "key": keyring.encrypt(secret.encode(), associated_data=aad),
                    "key_hint": key_hint(secret),
                    "status": KeyStatus.REVOKED if is_revoked else KeyStatus.ACTIVE,
                    "revoke_reason": RevokeReason.RETIRED if is_revoked else None,
                    "created_at": created,
                    "created_by": created_by,
                    "revoked_at": created if is_revoked else None,
                    "expires_at": None,
                    "rotated_from": None,
                }
            )
        uow.session.execute(sa.insert(SignatureKey), rows)
        uow.session.execute(
            sa.update(Project)
            .where(col(Project.id) == project_id)
            .values(key_count=Project.key_count + n, revoked_count=Project.revoked_count + revoked)
        )
        uow.commit()
        made += n
        if progress:
            progress(n)
    if uow.is_postgres:
        # A bulk load leaves the planner's statistics describing a small table: it would scan
        # the whole table until autovacuum's next analyze. Refresh them now (ANALYZE needs the
        # owner: a SECURITY DEFINER function of migration 0002 does it for the runtime role).
        uow.session.execute(sa.text("SELECT meshkeys_analyze_signature_keys()"))
        uow.commit()
