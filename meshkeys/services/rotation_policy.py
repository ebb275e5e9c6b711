"""Rotation policies and the scheduler that applies them.

A project may have one policy: "rotate every N days (1-365) with a grace of G seconds" (G within
the revoke limits, 0 to 7 days). A key is *due* when it is active (``status = 'active'``: not
revoked, not in a revocation or rotation grace period) and ``created_at + N days <= now``. The
scheduler (``run_in_background``, a lifespan task of the app, every
``MESHKEYS_ROTATION_INTERVAL_SECONDS``) rotates each due key once with the rotate command:
a successor with the same name, the old key revoked as ``rotated`` after G seconds, audited
with actor ``system`` and the policy in the details. The successor is due N days later.

Exactly once, with several workers or processes: ``rotate_due`` locks the due keys of one batch
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's writers take the database lock
one at a time), re-reads them under the lock and rotates only those still active, in the same
transaction. A key another worker is rotating is skipped, one it has rotated is no longer
active. Nothing in memory decides what is due, so a restart changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from meshkeys.config import get_settings
from meshkeys.models import KeyStatus, Permission, Project, RotationPolicyPublic
from meshkeys.models import SignatureKey as Key
from meshkeys.services import access, audit, key_commands
from meshkeys.services.errors import InvalidInput, NotFound
from meshkeys.services.keys import MAX_GRACE_SECONDS
from meshkeys.services.uow import UnitOfWork

MIN_DAYS = 1
MAX_DAYS = 365
DEFAULT_GRACE_SECONDS = 24 * 3600
BATCH = 50  # keys rotated per transaction
MAX_PER_RUN = 1000  # keys rotated per call of rotate_due; the scheduler calls again at once

_log = logging.getLogger("meshkeys.rotation")


def _whole(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number")
    return value


def check_policy(rotate_every_days: object, grace_seconds: object) -> tuple[int, int]:
    """The policy's two numbers, checked; InvalidInput saying the limits otherwise."""
    days = _whole(rotate_every_days, "rotate_every_days")
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput(f"rotate_every_days must be between {MIN_DAYS} and {MAX_DAYS} days.")
    grace = _whole(grace_seconds, "grace_seconds")
    if not 0 <= grace <= MAX_GRACE_SECONDS:
        raise InvalidInput(
            f"grace_seconds must be between 0 and {MAX_GRACE_SECONDS} (7 days), "
            "as for a revocation."
        )
    return days, grace


def rotates_at(created_at: datetime, rotate_every_days: int | None) -> datetime | None:
    """When a key created at ``created_at`` is due under the policy (None: no policy)."""
    if rotate_every_days is None:
        return None
    return created_at + timedelta(days=rotate_every_days)


def _public(project: Project) -> RotationPolicyPublic:
    return RotationPolicyPublic(
        project_id=project.id,
        rotate_every_days=project.rotate_every_days,
        grace_seconds=project.rotation_grace_seconds,
    )


def _policy_details(project: Project) -> dict[str, int | None]:
    return {
        "rotate_every_days": project.rotate_every_days,
        "grace_seconds": project.rotation_grace_seconds,
    }


def get_policy(uow: UnitOfWork, *, project_id: uuid.UUID) -> RotationPolicyPublic:
    """The project's policy, for any member."""
    uow.read_only()
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.KEYS_READ,
        attempted="reading the rotation policy",
    )
    project = uow.session.get(Project, project_id, populate_existing=True)
    if project is None:
        raise NotFound(access.PROJECT_NOT_FOUND)
    return _public(project)


def _project_for_change(uow: UnitOfWork, project_id: uuid.UUID, attempted: str) -> Project:
    access.require(
        uow, project_id=project_id, permission=Permission.KEYS_WRITE, attempted=attempted
    )
    project = uow.session.get(Project, project_id, with_for_update=True, populate_existing=True)
    if project is None:
        raise NotFound(access.PROJECT_NOT_FOUND)
    return project


def set_policy(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    rotate_every_days: int,
    grace_seconds: int = DEFAULT_GRACE_SECONDS,
) -> RotationPolicyPublic:
    """Turn the policy on or change it (admin or owner), audited as ``project.policy_set``.

    Keys already older than the new period become due at once: the scheduler rotates them at
    its next run, as AWS KMS does when a rotation period is shortened.
    """
    days, grace = check_policy(rotate_every_days, grace_seconds)
    project = _project_for_change(uow, project_id, "setting the rotation policy")
    previous = _policy_details(project)
    project.rotate_every_days = days
    project.rotation_grace_seconds = grace
    uow.session.add(project)
    audit.record(
        uow,
        action=audit.PROJECT_POLICY_SET,
        project_id=project_id,
        details={**_policy_details(project), "previous": previous},
    )
    result = _public(project)
    uow.commit()
    return result


def clear_policy(uow: UnitOfWork, *, project_id: uuid.UUID) -> RotationPolicyPublic:
    """Turn the policy off (admin or owner), audited as ``project.policy_cleared``."""
    project = _project_for_change(uow, project_id, "clearing the rotation policy")
    previous = _policy_details(project)
    project.rotate_every_days = None
    uow.session.add(project)
    audit.record(
        uow,
        action=audit.PROJECT_POLICY_CLEARED,
        project_id=project_id,
        details={"previous": previous},
    )
    result = _public(project)
    uow.commit()
    return result


# ---------------------------------------------------------------- the scheduler's side


def _require_system(uow: UnitOfWork) -> None:
    if not uow.system or uow.has_actor:
        raise PermissionError("the rotation scheduler runs as the system (UnitOfWork(system=True))")


@dataclass(frozen=True)
class DueKey:
    key_id: uuid.UUID
    project_id: uuid.UUID
    due_at: datetime


def _policies(uow: UnitOfWork) -> list[tuple[uuid.UUID, int, int]]:
    rows = uow.session.exec(
        select(Project.id, Project.rotate_every_days, Project.rotation_grace_seconds)
        .where(col(Project.rotate_every_days).is_not(None))
        .order_by(col(Project.id))
    ).all()
    return [(pid, int(days), int(grace)) for pid, days, grace in rows if days is not None]


def _due_query(project_id: uuid.UUID, days: int, now: datetime) -> SelectOfScalar[Key]:
    """Served by ix_signature_keys_project_status (project_id, status, created_at, id)."""
    return (
        select(Key)
        .where(
            col(Key.project_id) == project_id,
            col(Key.status) == KeyStatus.ACTIVE,
            col(Key.created_at) <= now - timedelta(days=days),
        )
        .order_by(col(Key.created_at), col(Key.id))
    )


def due_keys(uow: UnitOfWork, *, limit: int = 1000) -> list[DueKey]:
    """The keys the scheduler would rotate now, oldest first per project (system only)."""
    _require_system(uow)
    uow.read_only()
    now = uow.now
    found: list[DueKey] = []
    for project_id, days, _grace in _policies(uow):
        rows = uow.session.exec(_due_query(project_id, days, now).limit(limit - len(found))).all()
        found += [DueKey(r.id, r.project_id, r.created_at + timedelta(days=days)) for r in rows]
        if len(found) >= limit:
            break
    uow.rollback()
    return found


def rotate_due(uow: UnitOfWork, *, batch: int = BATCH, limit: int = MAX_PER_RUN) -> int:
    """Rotate up to ``limit`` due keys, ``batch`` per transaction; the number rotated.

    Runs as the system (``UnitOfWork(system=True)``). Each batch locks its keys with
    ``FOR UPDATE SKIP LOCKED`` (keys another worker holds are left to it), re-reads the
    policy and the keys under the lock, rotates those still active and due, and commits.
    """
    _require_system(uow)
    rotated = 0
    uow.read_only()
    projects = [pid for pid, _days, _grace in _policies(uow)]
    uow.rollback()
    for project_id in projects:
        while rotated < limit:
            done = _rotate_batch(uow, project_id, min(batch, limit - rotated))
            rotated += done
            if done == 0:
                break
    return rotated


def _rotate_batch(uow: UnitOfWork, project_id: uuid.UUID, size: int) -> int:
    """One transaction: lock up to ``size`` due keys of one project and rotate them."""
    project = uow.session.get(Project, project_id, populate_existing=True)
    if project is None or project.rotate_every_days is None:  # cleared meanwhile
        uow.rollback()
        return 0
    days, grace = project.rotate_every_days, project.rotation_grace_seconds
    now = uow.now
    query = _due_query(project_id, days, now).limit(size).with_for_update(skip_locked=True)
    rows = uow.session.exec(query.execution_options(populate_existing=True)).all()
    policy = {"rotate_every_days": days, "grace_seconds": grace}
    count = 0
    for old in rows:
        due_at = old.created_at + timedelta(days=days)
        if old.status != KeyStatus.ACTIVE or due_at > now:  # re-checked under the lock
            continue
        key_commands.rotate_locked(
            uow,
            old,
            grace_seconds=grace,
            details={"policy": policy, "due_at": due_at.isoformat(), "scheduled": True},
        )
        count += 1
    if count:
        uow.commit()
    else:
        uow.rollback()
    return count


# ---------------------------------------------------------------- the app's background task


async def run_in_background(*, interval_seconds: float | None = None) -> None:
    """The app's rotation scheduler: every ``MESHKEYS_ROTATION_INTERVAL_SECONDS`` (default
    60), rotate the due keys of every project with a policy. Every worker of the app runs
    one; ``rotate_due`` makes each key rotate once. Failures are logged and retried at the
    next run; a run that hit ``MAX_PER_RUN`` is followed by another at once."""
    interval = interval_seconds or get_settings().rotation_interval_seconds
    _log.info("rotation scheduler every %ss", interval)
    while True:
        rotated = 0
        try:
            rotated = await asyncio.to_thread(_run_once)
            if rotated:
                _log.info("rotation scheduler rotated %d due keys", rotated)
        except Exception:  # noqa: BLE001 (the app keeps serving; the next run retries)
            _log.exception("rotation scheduler failed")
        if rotated < MAX_PER_RUN:
            await asyncio.sleep(interval)


def _run_once() -> int:
    with UnitOfWork(system=True) as uow:
        return rotate_due(uow, batch=BATCH, limit=MAX_PER_RUN)
