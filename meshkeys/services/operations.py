"""Operator commands that span every project: master-key rotation, chain checks, demo data.

They run from the CLI with the ``system`` RLS context; no door of the app calls them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from meshkeys import clock, db
from meshkeys.crypto import generate_secret, key_hint
from meshkeys.crypto.encryption import DecryptionError, Keyring
from meshkeys.models import Project, SignatureKey
from meshkeys.services import audit
from meshkeys.services.audit import ChainBreak
from meshkeys.services.keys import associated_data


def rotate_master_key(
    session: Session,
    *,
    keyring: Keyring,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-encrypt every secret not yet under the current master key. Resumable.

    Works in batches, each committed on its own: interrupted, it picks up the
    rows still under an old key. Rows are selected by their version tag, so a
    finished run finds nothing more to do. Returns the number of rows changed.
    """
    prefix = f"mk1.{keyring.current_version}.%"
    changed = 0
    last: uuid.UUID | None = None
    while True:
        db.bind_actor(session, None, system=True)
        query = select(SignatureKey).where(col(SignatureKey.key).not_like(prefix))
        if last is not None:
            query = query.where(SignatureKey.id > last)
        rows = session.exec(query.order_by(SignatureKey.id).limit(batch).with_for_update()).all()
        if not rows:
            session.commit()
            break
        for row in rows:
            aad = associated_data(row.id, row.project_id)
            try:
                plain = keyring.decrypt(row.key, associated_data=aad)
            except DecryptionError as exc:
                session.rollback()
                raise DecryptionError() from exc
            row.key = keyring.encrypt(plain, associated_data=aad)
            session.add(row)
        last = rows[-1].id
        changed += len(rows)
        session.commit()
        if progress:
            progress(len(rows))
    if changed:
        db.bind_actor(session, None, system=True)
        audit.record(
            session,
            action=audit.MASTER_KEY_ROTATED,
            actor=None,
            actor_email="system",
            details={"version": keyring.current_version, "rows": changed},
        )
        session.commit()
    return changed


def verify_all_chains(session: Session) -> tuple[int, ChainBreak | None]:
    """Check every chain; return how many were checked and the first break."""
    db.bind_actor(session, None, system=True)
    ids = audit.chain_ids(session)
    for n, chain in enumerate(ids, start=1):
        db.bind_actor(session, None, system=True)
        broken = audit.verify_chain(session, chain)
        if broken:
            return n, broken
    session.rollback()
    return len(ids), None


def seed_keys(
    session: Session,
    *,
    project_id: uuid.UUID,
    count: int,
    created_by: uuid.UUID | None,
    keyring: Keyring,
    revoked_every: int = 10,
    batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Bulk demo data for benchmarks: ``count`` keys, one in ``revoked_every`` revoked.

    Each key is a real encrypted secret. Seeded keys are not individually
    audited (they are test data); one ``key.generated`` event per batch would
    misrepresent them, so the audit log stays untouched.
    """
    if count < 1:
        return
    start = clock.now() - timedelta(seconds=count)
    made = 0
    while made < count:
        db.bind_actor(session, None, system=True)
        n = min(batch, count - made)
        rows = []
        revoked = 0
        for i in range(made, made + n):
            key_id = uuid.uuid4()
            secret = generate_secret()
            is_revoked = revoked_every > 0 and i % revoked_every == revoked_every - 1
            revoked += is_revoked
            created = start + timedelta(seconds=i)
            rows.append(
                {
                    "id": key_id,
                    "project_id": project_id,
                    "name": f"seed-{i:07d}",
                    "name_search": f"seed-{i:07d}",
                    "key": keyring.encrypt(
                        secret.encode(), associated_data=associated_data(key_id, project_id)
                    ),
                    "key_hint": key_hint(secret),
                    "status": "revoked" if is_revoked else "active",
                    "revoke_reason": "retired" if is_revoked else None,
                    "created_at": created,
                    "created_by": created_by,
                    "revoked_at": created if is_revoked else None,
                    "expires_at": None,
                    "rotated_from": None,
                }
            )
        session.execute(sa.insert(SignatureKey), rows)
        session.execute(
            sa.update(Project)
            .where(col(Project.id) == project_id)
            .values(key_count=Project.key_count + n, revoked_count=Project.revoked_count + revoked)
        )
        session.commit()
        made += n
        if progress:
            progress(n)
    if db.is_postgres(session):
        # A bulk load leaves the planner's statistics describing a small table: it would scan
        # the whole table until autovacuum's next analyze. Refresh them now.
        session.execute(sa.text("ANALYZE signature_keys"))
        session.commit()
