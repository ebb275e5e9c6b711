"""Reading a project's audit log, with the permission check (any member may read)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from meshkeys import clock, db
from meshkeys.models import AuditEventPublic, AuditPage, Role
from meshkeys.services import access, audit
from meshkeys.services.audit import AuditFilter
from meshkeys.services.context import Actor
from meshkeys.services.errors import InvalidInput


def list_events(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    flt: AuditFilter | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AuditPage:
    db.read_only(session)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.VIEWER,
        attempted="reading the audit log",
    )
    return audit.page_events(
        session, chain_id=project_id, flt=flt or AuditFilter(), limit=limit, cursor=cursor
    )


def export_events(
    session: Session, *, actor: Actor, project_id: uuid.UUID, flt: AuditFilter | None = None
) -> Iterator[AuditEventPublic]:
    """All matching events, newest first, streamed in batches; access checked before any row."""
    flt = (flt or AuditFilter()).validate()
    db.read_only(session)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.VIEWER,
        attempted="exporting the audit log",
    )
    return audit.iter_events(session, chain_id=project_id, flt=flt)


def daily_counts(
    session: Session, *, actor: Actor, project_id: uuid.UUID, days: int = 30
) -> list[dict[str, Any]]:
    db.read_only(session)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.VIEWER,
        attempted="reading the audit log",
    )
    since: datetime = clock.now() - timedelta(days=days)
    return audit.actions_per_day(session, chain_id=project_id, since=since)


CSV_COLUMNS = (
    "created_at",
    "seq",
    "action",
    "actor_email",
    "key_id",
    "key_name",
    "old_status",
    "new_status",
    "client_ip",
    "user_agent",
    "details",
)

EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    elif isinstance(value, datetime):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_lines(events: Iterable[AuditEventPublic], fmt: str) -> Iterator[str]:
    """Render events as CSV (header first, ``CSV_COLUMNS``) or JSON Lines, one line at a time."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be one of: {', '.join(EXPORT_FORMATS)}")
    if fmt == "jsonl":
        for event in events:
            yield json.dumps(event.model_dump(mode="json"), separators=(",", ":")) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(cells: Iterable[str]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    for event in events:
        yield line(_csv_cell(getattr(event, name)) for name in CSV_COLUMNS)
