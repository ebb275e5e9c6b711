"""Reading a project's audit log, with the permission check (any member may read)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from meshkeys import clock
from meshkeys.models import AuditEventPublic, AuditPage, Role
from meshkeys.services import access, audit
from meshkeys.services.audit import AuditFilter
from meshkeys.services.context import Actor


def list_events(
    session: Session, *, actor: Actor, project_id: uuid.UUID, flt: AuditFilter | None = None,
    limit: int = 50, cursor: str | None = None,
) -> AuditPage:
    access.require(session, actor=actor, project_id=project_id, minimum=Role.VIEWER,
                   attempted="reading the audit log")
    return audit.page_events(session, chain_id=project_id, flt=flt or AuditFilter(), limit=limit,
                             cursor=cursor)


def export_events(
    session: Session, *, actor: Actor, project_id: uuid.UUID, flt: AuditFilter | None = None
) -> Iterator[AuditEventPublic]:
    """All matching events, newest first, streamed in batches. Checks access before the first row."""
    flt = (flt or AuditFilter()).validate()
    access.require(session, actor=actor, project_id=project_id, minimum=Role.VIEWER,
                   attempted="exporting the audit log")
    return audit.iter_events(session, chain_id=project_id, flt=flt)


def daily_counts(
    session: Session, *, actor: Actor, project_id: uuid.UUID, days: int = 30
) -> list[dict[str, Any]]:
    access.require(session, actor=actor, project_id=project_id, minimum=Role.VIEWER,
                   attempted="reading the audit log")
    since: datetime = clock.now() - timedelta(days=days)
    return audit.actions_per_day(session, chain_id=project_id, since=since)


CSV_COLUMNS = ("created_at", "seq", "action", "actor_email", "key_id", "key_name", "old_status",
               "new_status", "client_ip", "user_agent", "details")
