"""Reading a project's audit log: filters, pages, the export, the chart. Any member may read.

Pages are newest first, keyset on the chain's ``seq`` (``cursors.encode_seq``); the export
streams in keyset batches, so its memory stays O(batch) whatever the log's size.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from meshkeys.models import AuditEvent, AuditEventPublic, AuditPage, Permission
from meshkeys.services import access, cursors
from meshkeys.services.audit import ACTIONS
from meshkeys.services.errors import InvalidInput, has_control_chars
from meshkeys.services.uow import UnitOfWork

MAX_PAGE_SIZE = 500
# The shortest key id prefix the key filter takes: the 8 characters every table shows.
MIN_KEY_PREFIX = 8
_HEX = frozenset("0123456789abcdef")


def key_id_range(text: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The ids a key reference covers, as an inclusive range: a full key id (one id), or the
    8-character short id the tables show (a prefix of at least MIN_KEY_PREFIX hex digits).

    A uuid prefix is a contiguous range of uuids (PostgreSQL compares uuids byte by byte,
    SQLite stores them as lowercase hex), so ``key_id BETWEEN low AND high`` walks the
    ``(chain_id, key_id, seq)`` index: bounded, however large the log.
    """
    digits = text.strip().lower().replace("-", "")
    if not MIN_KEY_PREFIX <= len(digits) <= 32 or not set(digits) <= _HEX:
        raise InvalidInput(
            f"key takes a key id: the {MIN_KEY_PREFIX}-character short id or the full id "
            "(hexadecimal digits)"
        )
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    key_id: uuid.UUID | None = None
    # A key id or its short prefix (``key_id_range``); checked by validate().
    key_prefix: str | None = None
    actor: str | None = None  # actor email, exact (case-insensitive)
    since: datetime | None = None
    until: datetime | None = None

    def validate(self) -> AuditFilter:
        if self.action and self.action not in ACTIONS:
            raise InvalidInput(f"unknown action {self.action!r}; use one of: {', '.join(ACTIONS)}")
        if self.actor is not None and (len(self.actor) > 320 or has_control_chars(self.actor)):
            raise InvalidInput("actor is an email address (at most 320 printable characters)")
        bounds = []
        for value in (self.since, self.until):
            if value is not None and value.tzinfo is None:
                raise InvalidInput("dates need a time zone, e.g. 2026-01-31T00:00:00Z")
            try:
                bounds.append(value.astimezone(UTC) if value is not None else None)
            except OverflowError as exc:
                raise InvalidInput("dates must lie between the years 1 and 9999 in UTC") from exc
        since, until = bounds
        if self.key_prefix is not None:
            key_id_range(self.key_prefix)
        if since and until and since > until:
            raise InvalidInput("'since' is after 'until'; swap them")
        return replace(self, since=since, until=until)


def _filtered(chain_id: uuid.UUID, flt: AuditFilter) -> SelectOfScalar[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.chain_id == chain_id)
    if flt.action:
        query = query.where(AuditEvent.action == flt.action)
    if flt.key_id:
        query = query.where(AuditEvent.key_id == flt.key_id)
    if flt.key_prefix:
        low, high = key_id_range(flt.key_prefix)
        query = query.where(col(AuditEvent.key_id).between(low, high))
    if flt.actor:
        query = query.where(AuditEvent.actor_email == flt.actor.strip().lower())
    if flt.since:
        query = query.where(AuditEvent.created_at >= flt.since)
    if flt.until:
        query = query.where(AuditEvent.created_at < flt.until)
    return query


def list_events(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    flt: AuditFilter | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> AuditPage:
    """One page of a project's events, newest first."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    query = _filtered(project_id, (flt or AuditFilter()).validate())
    if cursor:
        query = query.where(col(AuditEvent.seq) < cursors.decode_seq(cursor))
    uow.read_only()
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.AUDIT_READ,
        attempted="reading the audit log",
    )
    rows = uow.session.exec(query.order_by(col(AuditEvent.seq).desc()).limit(limit + 1)).all()
    items = [AuditEventPublic.model_validate(r) for r in rows[:limit]]
    next_cursor = cursors.encode_seq(rows[limit - 1].seq) if len(rows) > limit else None
    return AuditPage(items=items, next_cursor=next_cursor)


def export_events(
    uow: UnitOfWork, *, project_id: uuid.UUID, flt: AuditFilter | None = None, batch: int = 1000
) -> Iterator[AuditEventPublic]:
    """All matching events, newest first, streamed in batches; access checked before any row."""
    base = _filtered(project_id, (flt or AuditFilter()).validate())
    uow.read_only()
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.AUDIT_READ,
        attempted="exporting the audit log",
    )
    return _batches(uow, base, batch)


def _batches(
    uow: UnitOfWork, base: SelectOfScalar[AuditEvent], batch: int
) -> Iterator[AuditEventPublic]:
    last: int | None = None
    while True:
        query = base if last is None else base.where(col(AuditEvent.seq) < last)
        rows = uow.session.exec(query.order_by(col(AuditEvent.seq).desc()).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield AuditEventPublic.model_validate(row)
        last = rows[-1].seq
        uow.session.expunge_all()


def daily_counts(uow: UnitOfWork, *, project_id: uuid.UUID, days: int = 30) -> list[dict[str, Any]]:
    """Counts per (day, action) over the last ``days``, for the chart; grouped by the database."""
    uow.read_only()
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.AUDIT_READ,
        attempted="reading the audit log",
    )
    since = uow.now - timedelta(days=days)
    created = col(AuditEvent.created_at)
    if uow.is_postgres:
        day = sa.func.to_char(sa.func.timezone("UTC", created), "YYYY-MM-DD")
    else:
        day = sa.func.substr(sa.cast(created, sa.String), 1, 10)
    rows = uow.session.execute(
        sa.select(day.label("day"), col(AuditEvent.action), sa.func.count())
        .where(col(AuditEvent.chain_id) == project_id, created >= since)
        .group_by(day, AuditEvent.action)
        .order_by(day)
    ).all()
    return [{"day": d, "action": a, "count": int(c)} for d, a, c in rows]


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
