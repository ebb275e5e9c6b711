"""Key queries: one key, one page of keys with the project's totals, the totals alone.

A listing pages newest first on ``(created_at, id)``; a search pages in name order on
``(name_search, id)``, the order of the index that finds the matches, so a page costs the
same wherever the matches lie. Totals come from the project's counters plus the few keys in
a grace period: one row read and one small index range, whatever the project's size.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from meshkeys.models import KeyPage, KeyPublic, KeyStatus, KeyTotals, Permission, Project, User
from meshkeys.models import SignatureKey as Key
from meshkeys.services import access, cache, cursors
from meshkeys.services.errors import InvalidInput, NotFound, has_control_chars
from meshkeys.services.keys import (
    KEY_NOT_FOUND,
    MAX_NAME_LENGTH,
    MAX_PAGE_SIZE,
    effective_clause,
    to_public,
)
from meshkeys.services.uow import UnitOfWork

_HEX_PREFIX = re.compile(r"^[0-9a-f-]{4,36}$")
_NAME = Key.__table__.c.name_search  # type: ignore[attr-defined]
_ID = Key.__table__.c.id  # type: ignore[attr-defined]
_CREATED = Key.__table__.c.created_at  # type: ignore[attr-defined]


@dataclass(frozen=True)
class KeyFilter:
    """What a listing asks for, checked: an effective status and a search text."""

    status: KeyStatus | None = None
    q: str | None = None

    @classmethod
    def parse(cls, status: str | KeyStatus | None, q: str | None) -> KeyFilter:
        wanted = None
        if status:
            try:
                wanted = KeyStatus(status)
            except ValueError as exc:
                raise InvalidInput("status must be 'active' or 'revoked'") from exc
        if q is not None and len(q) > MAX_NAME_LENGTH:
            raise InvalidInput(f"search text is at most {MAX_NAME_LENGTH} characters")
        if q is not None and has_control_chars(q):
            raise InvalidInput("search text cannot contain control characters")
        term = q.strip().lower() if q else ""
        return cls(status=wanted, q=term or None)


def get_key(uow: UnitOfWork, *, key_id: uuid.UUID) -> KeyPublic:
    uow.read_only()
    row = uow.session.get(Key, key_id)
    if row is None:
        raise NotFound(KEY_NOT_FOUND)
    access.require(
        uow,
        project_id=row.project_id,
        permission=Permission.KEYS_READ,
        attempted="reading keys",
        not_found=KEY_NOT_FOUND,
        key_id=key_id,
    )
    project = uow.session.get(Project, row.project_id)
    days = project.rotate_every_days if project is not None else None
    return _with_rotation(to_public(row, uow.now), days)


def _with_rotation(key: KeyPublic, rotate_every_days: int | None) -> KeyPublic:
    """``rotates_at`` for an active key (not in a grace period) of a project with a policy."""
    if rotate_every_days is None or key.status != KeyStatus.ACTIVE or key.expires_at is not None:
        return key
    key.rotates_at = key.created_at + timedelta(days=rotate_every_days)
    return key


@dataclass(frozen=True)
class KeyDetails:
    """One key as its page shows it: the read model and its creator's email."""

    key: KeyPublic
    created_by_email: str | None


def get_project_key(uow: UnitOfWork, *, project_id: uuid.UUID, key_id: uuid.UUID) -> KeyDetails:
    """One key of one project. Another project's key is NotFound, exactly as an unknown one."""
    uow.read_only()
    row = uow.session.get(Key, key_id)
    if row is None or row.project_id != project_id:
        raise NotFound(KEY_NOT_FOUND)
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.KEYS_READ,
        attempted="reading keys",
        not_found=KEY_NOT_FOUND,
        key_id=key_id,
    )
    project = uow.session.get(Project, project_id)
    days = project.rotate_every_days if project is not None else None
    creator = uow.session.get(User, row.created_by) if row.created_by else None
    return KeyDetails(
        key=_with_rotation(to_public(row, uow.now), days),
        created_by_email=creator.email if creator else None,
    )


def key_totals(uow: UnitOfWork, *, project_id: uuid.UUID) -> KeyTotals:
    """Totals by effective status (a key in a grace period is active and also expiring)."""
    uow.read_only()
    access.require(
        uow, project_id=project_id, permission=Permission.KEYS_READ, attempted="reading keys"
    )
    return _totals(uow, project_id)


def list_keys(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    status: str | KeyStatus | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> KeyPage:
    """One page of keys, the number matching the filters, and the project's totals.

    A unit of work that uses the API's caches gets a page it asked for before from memory
    while nothing changed (``services.cache``: any write to a key, a project, a membership
    or a token, and the end of a grace period, make it stale); the actor's access is
    checked against the cached role and the token's scope on every call.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    flt = KeyFilter.parse(status, q)
    view = (flt.status, flt.q, limit, cursor)
    hit = cache.cached_page(uow, project_id, view)
    if hit is not None and access.permits(uow, hit[0], project_id, Permission.KEYS_READ):
        return hit[1]
    uow.read_only()
    role = access.require(
        uow, project_id=project_id, permission=Permission.KEYS_READ, attempted="reading keys"
    )
    now = uow.now
    where = [col(Key.project_id) == project_id]
    if flt.status:
        where.append(effective_clause(flt.status, now))
    if flt.q:
        where.append(_search_clause(flt.q, uow.dialect))
    query = select(Key).where(*where)
    if flt.q:
        query = _by_name(query, cursor, uow.dialect)
    else:
        query = _by_creation(query, cursor)
    rows = uow.session.exec(query.limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = (
            cursors.encode_name(last.name_search, last.id)
            if flt.q
            else cursors.encode_created(last.created_at, last.id)
        )
    project, totals, grace_ends = _project_totals(uow, project_id)
    if flt.q:
        count = select(sa.func.count()).select_from(Key).where(*where)
        total = uow.session.exec(count).one()
    else:
        total = {None: totals.total, KeyStatus.ACTIVE: totals.active}.get(
            flt.status, totals.revoked
        )
    days = project.rotate_every_days
    items = [_with_rotation(to_public(r, now), days) for r in rows[:limit]]
    page = KeyPage(items=items, next_cursor=next_cursor, total=total, totals=totals)
    cache.remember_page(uow, project_id, view, role, page, ends=grace_ends)
    return page


# ---------------------------------------------------------------- totals


def _totals(uow: UnitOfWork, project_id: uuid.UUID) -> KeyTotals:
    return _project_totals(uow, project_id)[1]


def _project_totals(
    uow: UnitOfWork, project_id: uuid.UUID
) -> tuple[Project, KeyTotals, list[datetime]]:
    """The project (read afresh: its counters), its totals by effective status, and when the
    first grace period ends (none: empty), which changes both the totals and a key's status."""
    project = uow.session.get(Project, project_id, populate_existing=True)
    if project is None:
        raise NotFound(access.PROJECT_NOT_FOUND)
    in_grace = select(sa.func.count(), sa.func.min(col(Key.expires_at))).where(
        col(Key.project_id) == project_id, col(Key.expires_at) > uow.now
    )
    expiring, first_end = uow.session.exec(in_grace).one()
    revoked = project.revoked_count - expiring
    totals = KeyTotals(
        active=project.key_count - revoked,
        expiring=expiring,
        revoked=revoked,
        total=project.key_count,
    )
    return project, totals, [] if first_end is None else [first_end]


# ---------------------------------------------------------------- order and search


def _by_creation(query: Any, cursor: str | None) -> Any:
    if cursor:
        created_at, key_id = cursors.decode_created(cursor)
        after = sa.tuple_(_CREATED, _ID) < sa.tuple_(
            sa.literal(created_at, _CREATED.type), sa.literal(key_id, _ID.type)
        )
        query = query.where(after)
    return query.order_by(col(Key.created_at).desc(), col(Key.id).desc())


def _by_name(query: Any, cursor: str | None, dialect: str) -> Any:
    """Name order as the ``text_pattern_ops`` index stores it (bytes), then id."""
    if cursor:
        name, key_id = cursors.decode_name(cursor)
        query = query.where(_after_name(name, key_id, dialect))
    if dialect == "postgresql":
        return query.order_by(sa.text("signature_keys.name_search USING ~<~"), col(Key.id))
    return query.order_by(col(Key.name_search), col(Key.id))


def _after_name(name: str, key_id: uuid.UUID, dialect: str) -> ColumnElement[bool]:
    """Rows after ``(name, key_id)`` in name order; the first clause bounds the index scan."""
    column = col(Key.name_search)
    if dialect == "postgresql":
        return sa.and_(
            column.op("~>=~", is_comparison=True)(name),
            sa.or_(
                column.op("~>~", is_comparison=True)(name),
                sa.and_(column == name, col(Key.id) > key_id),
            ),
        )
    return sa.tuple_(_NAME, _ID) > sa.tuple_(
        sa.literal(name, _NAME.type), sa.literal(key_id, _ID.type)
    )


def _prefix_range(prefix: str, dialect: str) -> ColumnElement[bool]:
    """``name_search`` starts with ``prefix``, as a range the index can serve.

    Not ``LIKE 'abc%'``: under row-level security PostgreSQL may only push leakproof
    operators into an index scan, and LIKE is not leakproof, while the pattern comparisons
    ``~>=~`` / ``~<~`` (``text_pattern_ops``) are. SQLite compares bytes with plain ``>=`` /
    ``<``. UTF-8 byte order is code point order, so "the prefix with its last character
    incremented" is the upper bound.
    """
    column = col(Key.name_search)
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: skip to the next one
        following = 0xE000
    upper = prefix[:-1] + chr(following) if following <= 0x10FFFF else None
    ge: Callable[[str], ColumnElement[bool]]
    lt: Callable[[str], ColumnElement[bool]]
    if dialect == "postgresql":
        ge, lt = column.op("~>=~", is_comparison=True), column.op("~<~", is_comparison=True)
    else:
        ge, lt = column.__ge__, column.__lt__
    return sa.and_(ge(prefix), lt(upper)) if upper else ge(prefix)


def _search_clause(term: str, dialect: str) -> ColumnElement[bool]:
    """A name prefix, or (for 4 to 32 hex digits) an id prefix too."""
    clause = _prefix_range(term, dialect)
    if _HEX_PREFIX.match(term):
        digits = term.replace("-", "")
        if 4 <= len(digits) <= 32 and all(c in "0123456789abcdef" for c in digits):
            low = uuid.UUID(hex=digits.ljust(32, "0"))
            high = uuid.UUID(hex=digits.ljust(32, "f"))
            clause = sa.or_(clause, col(Key.id).between(low, high))
    return clause
