"""Checking the audit chains: every event recomputed, every head compared, a checkpoint honoured.

A chain is found from its events (``DISTINCT chain_id``) as well as from ``audit_heads``, so
deleting a head row hides nothing. Each chain is read in ``seq`` order from the database in one
streamed query and must hold exactly the events 1, 2, ... n, each linked to the one before and
carrying the keyed hash of its content (``audit.canonical`` under the audit key of its master
key version); its head must name event n and its hash. Against a signed checkpoint
(``checkpoints``), every chain it lists must still hold the event it recorded, with that hash:
a truncated tail or a chain rolled back to an older state is caught there.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from meshkeys.crypto import audit_keys
from meshkeys.crypto.encryption import Keyring
from meshkeys.models import AuditEvent, AuditHead
from meshkeys.services import audit
from meshkeys.services.uow import UnitOfWork


@dataclass(frozen=True)
class ChainBreak:
    """The first broken event: its chain, its seq, its id (None when it is missing)."""

    chain_id: uuid.UUID | None
    seq: int
    event_id: uuid.UUID | None
    problem: str


@dataclass(frozen=True)
class ChainTip:
    """What a chain holds: how many events, the last seq and its hash, and the hashes of the
    events a checkpoint asked about."""

    events: int
    seq: int
    hash: str
    event_id: uuid.UUID | None
    anchor: tuple[uuid.UUID, str] | None = None


_HASHED = len(audit.HASHED_COLUMNS)
_UUIDS = {"id", "chain_id", "project_id", "actor_id", "key_id"}


def _columns(rendered_by_sql: bool) -> list[Any]:
    """The hashed columns; on PostgreSQL rendered as ``audit.rendered`` would by the database
    (uuid as text, the time as ISO 8601 UTC): a verification of a million events spends a
    third of its time turning them into Python objects and back."""
    columns: list[Any] = []
    for name in audit.HASHED_COLUMNS:
        column: Any = col(getattr(AuditEvent, name))
        if rendered_by_sql and name in _UUIDS:
            column = sa.cast(column, sa.Text).label(name)
        elif rendered_by_sql and name == "created_at":
            utc = sa.func.timezone("UTC", column)
            column = sa.func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"').label(name)
        columns.append(column)
    return columns


def chain_ids(uow: UnitOfWork) -> list[uuid.UUID]:
    """Every chain that has an event or a head, in a stable order."""
    from_events = select(AuditEvent.chain_id).distinct()
    from_heads = select(AuditHead.chain_id)
    rows = uow.session.execute(sa.union(from_events, from_heads)).scalars().all()
    return sorted(rows)


def _problem_with_seq(expected: int, seq: int) -> str:
    if seq < expected:
        return (
            f"event with seq {seq} does not belong here (#{expected} expected): "
            "inserted, duplicated or moved"
        )
    return f"event #{expected} is missing (the next one is #{seq})"


def verify_chain(
    uow: UnitOfWork,
    chain_id: uuid.UUID,
    *,
    keyring: Keyring,
    anchor_seq: int | None = None,
    batch: int = 5000,
) -> tuple[ChainTip, ChainBreak | None]:
    """Recompute one chain from its start; return what it holds and its first break (or None).

    ``anchor_seq``: also return the id and hash of the event at that seq (for a checkpoint).
    """
    rendered_by_sql = uow.is_postgres
    query = (
        sa.select(
            *_columns(rendered_by_sql),
            col(AuditEvent.hash),
            col(AuditEvent.key_version),
            col(AuditEvent.id).label("event_id"),
        )
        .where(col(AuditEvent.chain_id) == chain_id)
        .order_by(col(AuditEvent.seq), col(AuditEvent.id))
        .execution_options(yield_per=batch)
    )
    macers: dict[str, hmac.HMAC] = {}
    prev = audit.GENESIS
    expected = 1
    last_id: uuid.UUID | None = None
    anchor: tuple[uuid.UUID, str] | None = None

    def tip(events: int) -> ChainTip:
        return ChainTip(events=events, seq=expected - 1, hash=prev, event_id=last_id, anchor=anchor)

    # On the session's connection, not through the ORM: plain rows, streamed in batches.
    for row in uow.session.connection().execute(query):
        if row.seq != expected:
            return tip(expected - 1), ChainBreak(
                chain_id, row.seq, row.event_id, _problem_with_seq(expected, row.seq)
            )
        if row.prev_hash != prev:
            problem = "prev_hash does not match the event before: reordered or re-linked"
            return tip(expected - 1), ChainBreak(chain_id, row.seq, row.event_id, problem)
        macer = macers.get(row.key_version)
        if macer is None:
            try:
                macer = macers[row.key_version] = audit_keys.chain_macer(keyring, row.key_version)
            except audit_keys.UnknownKeyVersion:
                problem = (
                    f"keyed by master key {row.key_version or '(none)'}, which is not "
                    "configured: list it in MESHKEYS_MASTER_KEYS to verify this event"
                )
                return tip(expected - 1), ChainBreak(chain_id, row.seq, row.event_id, problem)
        values = row[:_HASHED] if rendered_by_sql else audit.rendered(row)
        mac = macer.copy()
        mac.update(audit.canonical_of(values))
        if not hmac.compare_digest(mac.hexdigest(), row.hash):
            problem = "hash does not match the content: edited, or recomputed without the audit key"
            return tip(expected - 1), ChainBreak(chain_id, row.seq, row.event_id, problem)
        if row.seq == anchor_seq:
            anchor = (row.event_id, row.hash)
        prev = row.hash
        last_id = row.event_id
        expected += 1
    found = tip(expected - 1)
    return found, _head_break(uow, chain_id, found)


def _head_break(uow: UnitOfWork, chain_id: uuid.UUID, found: ChainTip) -> ChainBreak | None:
    head = uow.session.get(AuditHead, chain_id, populate_existing=True)
    if head is None:
        if found.events == 0:
            return None
        problem = f"the chain's head row is gone (audit_heads), its events end at #{found.seq}"
        return ChainBreak(chain_id, found.seq, found.event_id, problem)
    if head.seq > found.seq:
        problem = (
            f"events after #{found.seq} were deleted: the head is at #{head.seq} "
            f"and the chain holds {found.events} events"
        )
        return ChainBreak(chain_id, found.seq + 1, None, problem)
    if head.seq < found.seq:
        problem = f"the chain goes on past its head (#{head.seq}) to #{found.seq}"
        return ChainBreak(chain_id, head.seq + 1, None, problem)
    if head.head_hash != found.hash:
        problem = "the head's hash is not the hash of the last event"
        return ChainBreak(chain_id, found.seq, found.event_id, problem)
    return None


@dataclass(frozen=True)
class Anchor:
    """One chain as a checkpoint recorded it."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Verdict:
    chains: int
    events: int
    broken: ChainBreak | None


def verify_all(
    uow: UnitOfWork,
    *,
    keyring: Keyring,
    anchors: Mapping[uuid.UUID, Anchor] | None = None,
    anchored_at: str = "",
) -> Verdict:
    """Check every chain (and, with ``anchors``, against a checkpoint); stop at the first break."""
    anchors = anchors or {}
    ids = sorted(set(chain_ids(uow)) | set(anchors))
    events = 0
    for n, chain in enumerate(ids, start=1):
        anchor = anchors.get(chain)
        found, broken = verify_chain(
            uow, chain, keyring=keyring, anchor_seq=anchor.seq if anchor else None
        )
        events += found.events
        if broken is None and anchor is not None:
            broken = _anchor_break(chain, found, anchor, anchored_at)
        if broken is not None:
            return Verdict(chains=n, events=events, broken=broken)
    return Verdict(chains=len(ids), events=events, broken=None)


def _anchor_break(
    chain: uuid.UUID, found: ChainTip, anchor: Anchor, anchored_at: str
) -> ChainBreak | None:
    if anchor.seq == 0:
        return None
    if found.seq < anchor.seq:
        problem = (
            f"truncated or rolled back: the chain ends at #{found.seq}, the checkpoint of "
            f"{anchored_at} recorded #{anchor.seq}"
        )
        return ChainBreak(chain, found.seq + 1, None, problem)
    if found.anchor is None or not hmac.compare_digest(found.anchor[1], anchor.hash):
        problem = (
            f"differs from the checkpoint of {anchored_at}: the chain was rolled back to "
            "another state or rewritten"
        )
        return ChainBreak(chain, anchor.seq, found.anchor[0] if found.anchor else None, problem)
    return None
