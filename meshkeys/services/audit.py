"""The audit log: append-only, one hash chain per project.

``record`` is called by every service inside the transaction of its change, so
the event and the change commit together or not at all. Each event stores the
SHA-256 of its canonical content and of the previous event of the same chain;
``verify_chain`` recomputes them. The row of ``audit_heads`` for the chain is
locked while appending (``SELECT ... FOR UPDATE``), which keeps ``seq`` gapless
and the chain linear under concurrent writers. On PostgreSQL a trigger refuses
UPDATE and DELETE on ``audit_events``; on SQLite a trigger does the same.

One structured log line per event (``logs.audit_line``) is written after its
transaction commits, whichever door (UI, API, CLI) caused it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from meshkeys import logs
from meshkeys.crypto import audit_keys
from meshkeys.crypto.encryption import Keyring
from meshkeys.crypto.masterkey import get_keyring
from meshkeys.models import NIL_UUID, AuditEvent, AuditHead
from meshkeys.services.context import Actor
from meshkeys.services.uow import UnitOfWork

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
MEMBER_INVITED = "member.invited"
MEMBER_INVITE_ACCEPTED = "member.invite_accepted"
TOKEN_CREATED = "token.created"  # noqa: S105 (an action name)
TOKEN_REVOKED = "token.revoked"  # noqa: S105 (an action name)
LOGIN_SUCCEEDED = "login.succeeded"
LOGIN_FAILED = "login.failed"
ACCESS_DENIED = "access.denied"
MASTER_KEY_ROTATED = "master_key.rotated"
AUDIT_RECHAINED = "audit.rechained"
PUBLIC_KEYS_PUBLISHED = "project.public_keys_published"
PUBLIC_KEYS_UNPUBLISHED = "project.public_keys_unpublished"
PROJECT_POLICY_SET = "project.policy_set"
PROJECT_POLICY_CLEARED = "project.policy_cleared"
KEYS_SEEDED = "keys.seeded"  # one per `meshkeys seed` run: benchmark keys, counted

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
    MEMBER_INVITED,
    MEMBER_INVITE_ACCEPTED,
    TOKEN_CREATED,
    TOKEN_REVOKED,
    LOGIN_SUCCEEDED,
    LOGIN_FAILED,
    ACCESS_DENIED,
    MASTER_KEY_ROTATED,
    AUDIT_RECHAINED,
    PUBLIC_KEYS_PUBLISHED,
    PUBLIC_KEYS_UNPUBLISHED,
    PROJECT_POLICY_SET,
    PROJECT_POLICY_CLEARED,
    KEYS_SEEDED,
)

GENESIS = "0" * 64
# Field names that must never be written into an event's details.
_FORBIDDEN_DETAIL_KEYS = {"secret", "key", "token", "password", "password_hash"}


# The columns an event's hash covers, in the order ``canonical`` reads them.
HASHED_COLUMNS = (
    "id",
    "chain_id",
    "seq",
    "project_id",
    "actor_id",
    "actor_email",
    "action",
    "key_id",
    "key_name",
    "old_status",
    "new_status",
    "details",
    "client_ip",
    "user_agent",
    "created_at",
    "prev_hash",
)


# One encoder, built once: json.dumps with options builds a new one per call (a third of the time
# of a verification of a million events).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def rendered(row: Any) -> tuple[Any, ...]:
    """The ``HASHED_COLUMNS`` of an event (or of any row with them as attributes) as the text
    and JSON values its hash covers: ids as canonical UUID text, the time as ISO 8601 UTC."""
    return (
        str(row.id),
        str(row.chain_id),
        row.seq,
        str(row.project_id) if row.project_id else None,
        str(row.actor_id) if row.actor_id else None,
        row.actor_email,
        row.action,
        str(row.key_id) if row.key_id else None,
        row.key_name,
        row.old_status,
        row.new_status,
        row.details,
        row.client_ip,
        row.user_agent,
        row.created_at.isoformat(timespec="microseconds"),
        row.prev_hash,
    )


def canonical_of(values: Sequence[Any]) -> bytes:
    """The bytes an event's hash covers, from its ``rendered`` values: compact, sorted JSON."""
    return _ENCODER.encode(dict(zip(HASHED_COLUMNS, values, strict=True))).encode()


def canonical(row: Any) -> bytes:
    """The bytes an event's hash covers: its content and the previous event's hash."""
    return canonical_of(rendered(row))


def event_hash(event: AuditEvent, keyring: Keyring | None = None) -> str:
    """The keyed hash of an event under the audit key of its ``key_version``."""
    return audit_keys.chain_mac(keyring or get_keyring(), event.key_version, canonical(event))


def _lock_head(uow: UnitOfWork, chain_id: uuid.UUID) -> AuditHead:
    insert = postgresql.insert if uow.is_postgres else sqlite.insert
    uow.session.execute(
        insert(AuditHead)
        .values(chain_id=chain_id, seq=0, head_hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["chain_id"])
    )
    query = select(AuditHead).where(AuditHead.chain_id == chain_id).with_for_update()
    return uow.session.exec(query.execution_options(populate_existing=True)).one()


def record(
    uow: UnitOfWork,
    *,
    action: str,
    actor: Actor | None = None,
    actor_email: str | None = None,
    project_id: uuid.UUID | None = None,
    key_id: uuid.UUID | None = None,
    key_name: str | None = None,
    old_status: str | None = None,
    new_status: str | None = None,
    details: dict[str, Any] | None = None,
    chain_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append one event to the chain of ``project_id`` (or the account chain). Does not commit.

    The actor is the unit of work's unless named (a sign-in names the user it checks);
    with neither, ``actor_email`` (or "system") is recorded. The time is ``uow.now`` and the
    client is ``uow.request``. Its log line is written once the transaction commits.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    details = dict(details or {})
    leaked = _FORBIDDEN_DETAIL_KEYS & set(details)
    if leaked:
        raise ValueError(f"audit details must not carry secrets: {sorted(leaked)}")
    if actor is None and uow.has_actor:
        actor = uow.actor
    chain = chain_id or project_id or NIL_UUID
    head = _lock_head(uow, chain)
    request = uow.request
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
        created_at=uow.now,
        prev_hash=head.head_hash,
        hash="",
    )
    keyring = get_keyring()
    event.key_version = keyring.current_version
    event.hash = event_hash(event, keyring)
    head.seq = event.seq
    head.head_hash = event.hash
    uow.session.add(event)
    uow.session.add(head)
    uow.session.flush()
    uow.after_commit(partial(logs.audit_line, event.action, _log_fields(event)))
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
    return fields


# ---------------------------------------------------------------- checking
