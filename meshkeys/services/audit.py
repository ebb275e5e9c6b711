"""The audit log: append-only, one hash chain per project.

``record`` is called by every service inside the transaction of its change, so
the event and the change commit together or not at all. Each event stores the
SHA-256 of its canonical content and of the previous event of the same chain;
``verify_chain`` recomputes them. The row of ``audit_heads`` for the chain is
locked while appending (``SELECT ... FOR UPDATE``), which keeps ``seq`` gapless
and the chain linear under concurrent writers. On PostgreSQL a trigger refuses
UPDATE and DELETE on ``audit_events``; on SQLite a trigger does the same.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, select

from meshkeys import clock
from meshkeys.models import NIL_UUID, AuditEvent, AuditEventPublic, AuditHead, AuditPage
from meshkeys.services.context import Actor, RequestInfo
from meshkeys.services.errors import InvalidInput, has_control_chars

# Stable, dotted action names: filters and exports depend on them.
KEY_GENERATED = "key.generated"
KEY_REVOKED = "key.revoked"
KEY_REACTIVATED = "key.reactivated"
KEY_ROTATED = "key.rotated"
KEY_REVEALED = "key.revealed"
PROJECT_CREATED = "project.created"
MEMBER_ADDED = "member.added"
MEMBER_ROLE_CHANGED = "member.role_changed"
MEMBER_REMOVED = "member.removed"
TOKEN_CREATED = "token.created"  # noqa: S105 (an action name)
TOKEN_REVOKED = "token.revoked"  # noqa: S105 (an action name)
LOGIN_SUCCEEDED = "login.succeeded"
LOGIN_FAILED = "login.failed"
ACCESS_DENIED = "access.denied"
MASTER_KEY_ROTATED = "master_key.rotated"

ACTIONS = (
    KEY_GENERATED,
    KEY_REVOKED,
    KEY_REACTIVATED,
    KEY_ROTATED,
    KEY_REVEALED,
    PROJECT_CREATED,
    MEMBER_ADDED,
    MEMBER_ROLE_CHANGED,
    MEMBER_REMOVED,
    TOKEN_CREATED,
    TOKEN_REVOKED,
    LOGIN_SUCCEEDED,
    LOGIN_FAILED,
    ACCESS_DENIED,
    MASTER_KEY_ROTATED,
)

GENESIS = "0" * 64
# One structured log line per audit event, written after its transaction commits, whichever door
# (UI, API, CLI) caused it. Fields are the event's own: ids, names, statuses; never a secret.
LOGGER = logging.getLogger("meshkeys.keys.audit")
_PENDING = "meshkeys.audit.pending"
# Field names that must never be written into an event's details.
_FORBIDDEN_DETAIL_KEYS = {"secret", "key", "token", "password", "password_hash"}


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "id": str(event.id),
        "chain_id": str(event.chain_id),
        "seq": event.seq,
        "project_id": str(event.project_id) if event.project_id else None,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "actor_email": event.actor_email,
        "action": event.action,
        "key_id": str(event.key_id) if event.key_id else None,
        "key_name": event.key_name,
        "old_status": event.old_status,
        "new_status": event.new_status,
        "details": event.details,
        "client_ip": event.client_ip,
        "user_agent": event.user_agent,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "prev_hash": event.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def _lock_head(session: Session, chain_id: uuid.UUID) -> AuditHead:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(AuditHead)
        .values(chain_id=chain_id, seq=0, head_hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["chain_id"])
    )
    head = session.exec(
        select(AuditHead)
        .where(AuditHead.chain_id == chain_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return head


def record(
    session: Session,
    *,
    action: str,
    actor: Actor | None,
    actor_email: str | None = None,
    project_id: uuid.UUID | None = None,
    key_id: uuid.UUID | None = None,
    key_name: str | None = None,
    old_status: str | None = None,
    new_status: str | None = None,
    details: dict[str, Any] | None = None,
    request: RequestInfo | None = None,
    chain_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append one event to the chain of ``project_id`` (or the account chain). Does not commit."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    details = dict(details or {})
    leaked = _FORBIDDEN_DETAIL_KEYS & set(details)
    if leaked:
        raise ValueError(f"audit details must not carry secrets: {sorted(leaked)}")
    chain = chain_id or project_id or NIL_UUID
    head = _lock_head(session, chain)
    request = request or RequestInfo()
    event = AuditEvent(
        chain_id=chain,
        seq=head.seq + 1,
        project_id=project_id,
        actor_id=actor.user_id if actor else None,
        actor_email=(actor.email if actor else actor_email) or "system",
        action=action,
        key_id=key_id,
        key_name=key_name,
        old_status=old_status,
        new_status=new_status,
        details=details,
        client_ip=request.client_ip,
        user_agent=(request.user_agent or None) and request.user_agent[:400],
        created_at=clock.now(),
        prev_hash=head.head_hash,
        hash="",
    )
    event.hash = event_hash(event)
    head.seq = event.seq
    head.head_hash = event.hash
    session.add(event)
    session.add(head)
    session.flush()
    session.info.setdefault(_PENDING, []).append(_log_fields(event))
    return event


def _log_fields(event: AuditEvent) -> dict[str, Any]:
    fields = {
        "seq": event.seq,
        "actor": event.actor_email,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "project_id": str(event.project_id) if event.project_id else None,
        "key_id": str(event.key_id) if event.key_id else None,
        "key_name": event.key_name,
        "old_status": event.old_status,
        "new_status": event.new_status,
        "client_ip": event.client_ip,
    }
    fields.update({f"detail_{k}": v for k, v in event.details.items()})
    return {"action": event.action, "fields": fields}


@sa_event.listens_for(OrmSession, "after_commit")
def _log_committed(session: OrmSession) -> None:
    for item in session.info.pop(_PENDING, []):
        LOGGER.info(
            item["action"], extra={k: v for k, v in item["fields"].items() if v is not None}
        )


@sa_event.listens_for(OrmSession, "after_soft_rollback")
def _forget_rolled_back(session: OrmSession, previous_transaction) -> None:
    session.info.pop(_PENDING, None)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    key_id: uuid.UUID | None = None
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
        if since and until and since > until:
            raise InvalidInput("'since' is after 'until'; swap them")
        return replace(self, since=since, until=until)


def _filtered(chain_id: uuid.UUID, flt: AuditFilter):
    query = select(AuditEvent).where(AuditEvent.chain_id == chain_id)
    if flt.action:
        query = query.where(AuditEvent.action == flt.action)
    if flt.key_id:
        query = query.where(AuditEvent.key_id == flt.key_id)
    if flt.actor:
        query = query.where(AuditEvent.actor_email == flt.actor.strip().lower())
    if flt.since:
        query = query.where(AuditEvent.created_at >= flt.since)
    if flt.until:
        query = query.where(AuditEvent.created_at < flt.until)
    return query


def encode_seq_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_seq_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s") or not raw[1:].isdigit() or len(raw) > 19:
            raise ValueError
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput("cursor is not valid; use the next_cursor of the previous page") from exc


def page_events(
    session: Session, *, chain_id: uuid.UUID, flt: AuditFilter, limit: int, cursor: str | None
) -> AuditPage:
    """Newest first, keyset on the chain's ``seq``."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500")
    query = _filtered(chain_id, flt.validate())
    if cursor:
        query = query.where(AuditEvent.seq < decode_seq_cursor(cursor))
    rows = session.exec(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)).all()
    items = [AuditEventPublic.model_validate(r) for r in rows[:limit]]
    next_cursor = encode_seq_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return AuditPage(items=items, next_cursor=next_cursor)


def iter_events(
    session: Session,
    *,
    chain_id: uuid.UUID,
    flt: AuditFilter,
    batch: int = 1000,
    newest_first: bool = True,
) -> Iterator[AuditEventPublic]:
    """Every matching event, fetched in keyset batches: memory stays O(batch)."""
    base = _filtered(chain_id, flt.validate())
    last: int | None = None
    while True:
        query = base
        if last is not None:
            query = query.where(AuditEvent.seq < last if newest_first else AuditEvent.seq > last)
        order = AuditEvent.seq.desc() if newest_first else AuditEvent.seq.asc()
        rows = session.exec(query.order_by(order).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield AuditEventPublic.model_validate(row)
        last = rows[-1].seq
        session.expunge_all()


def actions_per_day(
    session: Session, *, chain_id: uuid.UUID, since: datetime
) -> list[dict[str, Any]]:
    """Counts per (day, action) since a time, for the audit chart; grouped by the database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        day = sa.func.to_char(sa.func.timezone("UTC", AuditEvent.created_at), "YYYY-MM-DD")
    else:
        day = sa.func.substr(sa.cast(AuditEvent.created_at, sa.String), 1, 10)
    rows = session.execute(
        sa.select(day.label("day"), AuditEvent.action, sa.func.count())
        .where(AuditEvent.chain_id == chain_id, AuditEvent.created_at >= since)
        .group_by(day, AuditEvent.action)
        .order_by(day)
    ).all()
    return [{"day": d, "action": a, "count": int(c)} for d, a, c in rows]


@dataclass(frozen=True)
class ChainBreak:
    chain_id: uuid.UUID
    seq: int
    event_id: uuid.UUID | None
    problem: str


def verify_chain(session: Session, chain_id: uuid.UUID, batch: int = 1000) -> ChainBreak | None:
    """Recompute a chain from its start; return the first broken event, or None."""
    prev = GENESIS
    expected_seq = 1
    last = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.chain_id == chain_id, AuditEvent.seq > last)
            .order_by(AuditEvent.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return ChainBreak(chain_id, expected_seq, None, f"event #{expected_seq} is missing")
            if ev.prev_hash != prev:
                return ChainBreak(
                    chain_id, ev.seq, ev.id, "prev_hash does not match the event before"
                )
            if event_hash(ev) != ev.hash:
                return ChainBreak(
                    chain_id, ev.seq, ev.id, "content was changed after it was written"
                )
            prev = ev.hash
            expected_seq += 1
        last = rows[-1].seq
        session.expunge_all()
    head = session.get(AuditHead, chain_id)
    if head is not None and (head.seq != expected_seq - 1 or head.head_hash != prev):
        return ChainBreak(chain_id, expected_seq, None, "events after this one were deleted")
    return None


def chain_ids(session: Session) -> list[uuid.UUID]:
    return list(session.exec(select(AuditHead.chain_id)).all())
