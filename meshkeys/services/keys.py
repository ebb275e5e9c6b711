"""Signing keys: generate, list, get, revoke, reactivate, rotate, reveal, sign, verify.

Status model. The ``status`` column records the decision (``active`` or
``revoked``); a revocation with a grace period also sets ``expires_at``. The
*effective* status, which every reader sees, is computed from both and the
clock, so a key whose grace period has passed counts as revoked everywhere
without a background job:

    effective active  = status = 'active' OR expires_at > now
    effective revoked = status = 'revoked' AND (expires_at IS NULL OR expires_at <= now)

Every change locks the key row (``SELECT ... FOR UPDATE``), checks the state,
writes the change and its audit event, and commits once.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from meshkeys import clock, db
from meshkeys.crypto import generate_secret, key_hint
from meshkeys.crypto.encryption import DecryptionError
from meshkeys.crypto.masterkey import get_keyring
from meshkeys.crypto.secrets import mask
from meshkeys.crypto.signing import SignatureError, sign_headers
from meshkeys.crypto.signing import verify as verify_signature
from meshkeys.models import (
    KeyPage,
    KeyPublic,
    KeyStatus,
    KeyTotals,
    KeyWithSecret,
    Project,
    RevokeReason,
    Role,
    SignatureKey,
)
from meshkeys.services import access, audit
from meshkeys.services.context import Actor, RequestInfo
from meshkeys.services.errors import Conflict, InvalidInput, NotFound, has_control_chars

MAX_GRACE_SECONDS = 7 * 24 * 3600
DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600
MAX_NAME_LENGTH = 200
MAX_PAGE_SIZE = 200
# Sign and verify use the newest active keys of a project, up to this many:
# a webhook-signature header with more signatures than this is a misconfiguration.
MAX_SIGNING_KEYS = 20

KEY_NOT_FOUND = (
    "Key not found in your projects. Check the id; keys of other projects are not visible."
)
_HEX_PREFIX = re.compile(r"^[0-9a-f-]{4,36}$")


# ---------------------------------------------------------------- helpers


def associated_data(key_id: uuid.UUID, project_id: uuid.UUID) -> bytes:
    return f"signature_keys:{key_id}:{project_id}".encode()


def effective_status(row: SignatureKey, now: datetime) -> KeyStatus:
    if row.status == KeyStatus.ACTIVE:
        return KeyStatus.ACTIVE
    if row.expires_at is not None and row.expires_at > now:
        return KeyStatus.ACTIVE
    return KeyStatus.REVOKED


def to_public(row: SignatureKey, now: datetime | None = None) -> KeyPublic:
    now = now or clock.now()
    return KeyPublic(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        key_hint=row.key_hint,
        masked_secret=mask(row.key_hint),
        status=effective_status(row, now),
        revoke_reason=RevokeReason(row.revoke_reason) if row.revoke_reason else None,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
    )


def _with_secret(row: SignatureKey, secret: str) -> KeyWithSecret:
    return KeyWithSecret(**to_public(row).model_dump(), secret=secret)


def _effective_clause(status: KeyStatus, now: datetime):
    if status == KeyStatus.ACTIVE:
        return sa.or_(
            SignatureKey.status == KeyStatus.ACTIVE.value,
            sa.and_(
                SignatureKey.status == KeyStatus.REVOKED.value, col(SignatureKey.expires_at) > now
            ),
        )
    return sa.and_(
        SignatureKey.status == KeyStatus.REVOKED.value,
        sa.or_(col(SignatureKey.expires_at).is_(None), col(SignatureKey.expires_at) <= now),
    )


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Give the key a name, e.g. 'production' or 'billing-webhooks'.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Key names are at most {MAX_NAME_LENGTH} characters.")
    if has_control_chars(name):
        raise InvalidInput("Key names cannot contain control characters.")
    return name


def _check_grace(grace_seconds: int) -> int:
    if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, int):
        raise InvalidInput("grace_seconds must be a whole number of seconds")
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise InvalidInput(
            f"grace_seconds must be between 0 (revoke now) and {MAX_GRACE_SECONDS} (7 days)."
        )
    return grace_seconds


def _encrypt(secret: str, key_id: uuid.UUID, project_id: uuid.UUID) -> str:
    return get_keyring().encrypt(
        secret.encode(), associated_data=associated_data(key_id, project_id)
    )


UNDECRYPTABLE = (
    "A secret of this project cannot be decrypted with the configured master key. Nothing was "
    "changed: check MESHKEYS_MASTER_KEY, and list older keys in MESHKEYS_MASTER_KEYS."
)


def decrypt_secret(row: SignatureKey) -> str:
    """The plaintext secret; a domain Conflict (opaque about why) when it cannot be decrypted."""
    try:
        return (
            get_keyring()
            .decrypt(row.key, associated_data=associated_data(row.id, row.project_id))
            .decode()
        )
    except DecryptionError as exc:
        raise Conflict(UNDECRYPTABLE) from exc


def _load_for_change(
    session: Session,
    *,
    actor: Actor,
    key_id: uuid.UUID,
    attempted: str,
    request: RequestInfo | None,
    minimum: Role = Role.ADMIN,
) -> SignatureKey:
    """Find the key, check the actor's role in its project, and lock its row."""
    db.bind_actor(session, actor.user_id)
    project_id = session.exec(
        select(SignatureKey.project_id).where(SignatureKey.id == key_id)
    ).first()
    if project_id is None:
        raise NotFound(KEY_NOT_FOUND)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=minimum,
        attempted=attempted,
        request=request,
        not_found=KEY_NOT_FOUND,
        key_id=key_id,
    )
    row = session.exec(
        select(SignatureKey)
        .where(SignatureKey.id == key_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def _refuse(session: Session, message: str) -> Conflict:
    """End the transaction and return the Conflict to raise.

    The message is built by the caller *before* the rollback: a rollback
    expires loaded rows, and reloading one in a new transaction with no actor
    bound would find nothing under row-level security.
    """
    session.rollback()
    return Conflict(message)


def _bump_counters(
    session: Session, project_id: uuid.UUID, *, keys: int = 0, revoked: int = 0
) -> None:
    session.execute(
        sa.update(Project)
        .where(Project.id == project_id)
        .values(key_count=Project.key_count + keys, revoked_count=Project.revoked_count + revoked)
    )


def _insert_key(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    name: str,
    now: datetime,
    rotated_from: uuid.UUID | None = None,
) -> tuple[SignatureKey, str]:
    secret = generate_secret()
    key_id = uuid.uuid4()
    row = SignatureKey(
        id=key_id,
        project_id=project_id,
        name=name,
        name_search=name.lower(),
        key=_encrypt(secret, key_id, project_id),
        key_hint=key_hint(secret),
        status=KeyStatus.ACTIVE.value,
        created_at=now,
        created_by=actor.user_id,
        rotated_from=rotated_from,
    )
    session.add(row)
    _bump_counters(session, project_id, keys=1)
    return row, secret


# ---------------------------------------------------------------- commands


def generate_key(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    name: str,
    request: RequestInfo | None = None,
) -> KeyWithSecret:
    """Create a key. The answer is the only time its secret is returned unasked."""
    name = _clean_name(name)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.ADMIN,
        attempted="generating a key",
        request=request,
    )
    now = clock.now()
    row, secret = _insert_key(session, actor=actor, project_id=project_id, name=name, now=now)
    session.flush()
    audit.record(
        session,
        action=audit.KEY_GENERATED,
        actor=actor,
        project_id=project_id,
        key_id=row.id,
        key_name=row.name,
        old_status=None,
        new_status="active",
        request=request,
    )
    result = _with_secret(row, secret)
    session.commit()  # the answer is built first: nothing reloads after the commit
    return result


def revoke_key(
    session: Session,
    *,
    actor: Actor,
    key_id: uuid.UUID,
    reason: str | RevokeReason,
    grace_seconds: int = 0,
    request: RequestInfo | None = None,
) -> KeyPublic:
    """Revoke now (``grace_seconds=0``) or at the end of a grace period of up to 7 days.

    Revoking a key that is still in a grace period is allowed when it brings the
    end forward (for instance: the rotated key turns out to be compromised).
    """
    try:
        reason = RevokeReason(reason)
    except ValueError as exc:
        raise InvalidInput("reason must be one of: retired, rotated, compromised") from exc
    grace_seconds = _check_grace(grace_seconds)
    row = _load_for_change(
        session, actor=actor, key_id=key_id, attempted="revoking a key", request=request
    )
    now = clock.now()
    before = effective_status(row, now)
    new_expiry = now + timedelta(seconds=grace_seconds) if grace_seconds else None
    if before == KeyStatus.REVOKED:
        raise _refuse(
            session,
            f"Key '{row.name}' is already revoked. "
            "Reactivate it first if you meant to use it again.",
        )
    if row.status == KeyStatus.REVOKED.value:  # in a grace period: only bring the end forward
        if new_expiry is not None and row.expires_at is not None and new_expiry >= row.expires_at:
            raise _refuse(
                session,
                f"Key '{row.name}' is already being revoked at {row.expires_at.isoformat()}; "
                "a new revocation can only bring that forward (use grace_seconds=0 to revoke now).",
            )
        if row.revoke_reason == RevokeReason.COMPROMISED.value:
            reason = RevokeReason.COMPROMISED  # never downgraded: it would allow a reactivation
    else:
        _bump_counters(session, row.project_id, revoked=1)
    row.status = KeyStatus.REVOKED.value
    row.revoke_reason = reason.value
    row.revoked_at = now
    row.expires_at = new_expiry
    session.add(row)
    after = effective_status(row, now)
    audit.record(
        session,
        action=audit.KEY_REVOKED,
        actor=actor,
        project_id=row.project_id,
        key_id=row.id,
        key_name=row.name,
        old_status=before.value,
        new_status=after.value,
        details={
            "reason": reason.value,
            "grace_seconds": grace_seconds,
            "expires_at": new_expiry.isoformat() if new_expiry else None,
        },
        request=request,
    )
    result = to_public(row, now)
    session.commit()  # the answer is built first: nothing reloads after the commit
    return result


def reactivate_key(
    session: Session, *, actor: Actor, key_id: uuid.UUID, request: RequestInfo | None = None
) -> KeyPublic:
    """Make a revoked key active again, unless it was revoked as compromised."""
    row = _load_for_change(
        session, actor=actor, key_id=key_id, attempted="reactivating a key", request=request
    )
    now = clock.now()
    before = effective_status(row, now)
    if row.status == KeyStatus.ACTIVE.value:
        raise _refuse(
            session, f"Key '{row.name}' is already active; there is nothing to reactivate."
        )
    if row.revoke_reason == RevokeReason.COMPROMISED.value:
        raise _refuse(
            session,
            f"Key '{row.name}' was revoked as compromised and cannot be reactivated: a compromised "
            "key never protects data again (NIST SP 800-57). Generate a new key instead.",
        )
    previous_reason = row.revoke_reason
    row.status = KeyStatus.ACTIVE.value
    row.revoke_reason = None
    row.revoked_at = None
    row.expires_at = None
    session.add(row)
    _bump_counters(session, row.project_id, revoked=-1)
    audit.record(
        session,
        action=audit.KEY_REACTIVATED,
        actor=actor,
        project_id=row.project_id,
        key_id=row.id,
        key_name=row.name,
        old_status=before.value,
        new_status="active",
        details={"previous_reason": previous_reason},
        request=request,
    )
    result = to_public(row, now)
    session.commit()  # the answer is built first: nothing reloads after the commit
    return result


def rotate_key(
    session: Session,
    *,
    actor: Actor,
    key_id: uuid.UUID,
    grace_seconds: int = DEFAULT_ROTATION_GRACE_SECONDS,
    request: RequestInfo | None = None,
) -> KeyWithSecret:
    """Generate a successor with the same name and revoke this key after a grace period."""
    grace_seconds = _check_grace(grace_seconds)
    old = _load_for_change(
        session, actor=actor, key_id=key_id, attempted="rotating a key", request=request
    )
    if old.status != KeyStatus.ACTIVE.value:
        raise _refuse(
            session,
            f"Key '{old.name}' is already revoked or being revoked; rotate an active key, "
            "or generate a new one.",
        )
    now = clock.now()
    new, secret = _insert_key(
        session, actor=actor, project_id=old.project_id, name=old.name, now=now, rotated_from=old.id
    )
    old.status = KeyStatus.REVOKED.value
    old.revoke_reason = RevokeReason.ROTATED.value
    old.revoked_at = now
    old.expires_at = now + timedelta(seconds=grace_seconds) if grace_seconds else None
    session.add(old)
    _bump_counters(session, old.project_id, revoked=1)
    session.flush()
    audit.record(
        session,
        action=audit.KEY_ROTATED,
        actor=actor,
        project_id=old.project_id,
        key_id=old.id,
        key_name=old.name,
        old_status="active",
        new_status=effective_status(old, now).value,
        details={
            "new_key_id": str(new.id),
            "grace_seconds": grace_seconds,
            "expires_at": old.expires_at.isoformat() if old.expires_at else None,
        },
        request=request,
    )
    audit.record(
        session,
        action=audit.KEY_GENERATED,
        actor=actor,
        project_id=new.project_id,
        key_id=new.id,
        key_name=new.name,
        old_status=None,
        new_status="active",
        details={"rotated_from": str(old.id)},
        request=request,
    )
    result = _with_secret(new, secret)
    session.commit()  # the answer is built first: nothing reloads after the commit
    return result


def reveal_key(
    session: Session, *, actor: Actor, key_id: uuid.UUID, request: RequestInfo | None = None
) -> KeyWithSecret:
    """Show a key's secret again (owner/admin), recorded as ``key.revealed``."""
    row = _load_for_change(
        session, actor=actor, key_id=key_id, attempted="revealing a secret", request=request
    )
    try:
        secret = decrypt_secret(row)
    except Conflict:
        session.rollback()
        raise
    status = effective_status(row, clock.now()).value  # revealing changes nothing
    audit.record(
        session,
        action=audit.KEY_REVEALED,
        actor=actor,
        project_id=row.project_id,
        key_id=row.id,
        key_name=row.name,
        old_status=status,
        new_status=status,
        request=request,
    )
    result = _with_secret(row, secret)
    session.commit()  # the answer is built first: nothing reloads after the commit
    return result


# ---------------------------------------------------------------- queries


def get_key(session: Session, *, actor: Actor, key_id: uuid.UUID) -> KeyPublic:
    db.read_only(session)
    db.bind_actor(session, actor.user_id)
    row = session.get(SignatureKey, key_id)
    if row is None or access.role_of(session, actor, row.project_id) is None:
        raise NotFound(KEY_NOT_FOUND)
    return to_public(row)


# Cursors are opaque to clients: base64url of JSON. A listing pages newest first on
# (created_at, id); a search pages in name order on (name_search, id), the order of the
# index that finds the matches, so a page costs the same wherever the matches lie.


def _encode(parts: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def _decode(cursor: str, kind: str) -> list[str]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (
            isinstance(parts, list)
            and len(parts) == 3
            and parts[0] == kind
            and all(isinstance(p, str) for p in parts)
        ):
            raise ValueError("shape")
        return parts
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput(
            "cursor is not valid for this listing; use the next_cursor of the previous page "
            "with the same status and search"
        ) from exc


def encode_cursor(created_at: datetime, key_id: uuid.UUID) -> str:
    return _encode(["c", created_at.isoformat(timespec="microseconds"), key_id.hex])


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    _, when, ident = _decode(cursor, "c")
    try:
        created_at = datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return created_at.astimezone(UTC), uuid.UUID(hex=ident)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput("cursor is not valid; use the next_cursor of the previous page") from exc


def encode_search_cursor(name_search: str, key_id: uuid.UUID) -> str:
    return _encode(["n", name_search, key_id.hex])


def decode_search_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    _, name, ident = _decode(cursor, "n")
    try:
        return name, uuid.UUID(hex=ident)
    except ValueError as exc:
        raise InvalidInput("cursor is not valid; use the next_cursor of the previous page") from exc


def _name_order(dialect: str) -> list:
    """Name order as the ``text_pattern_ops`` index stores it (bytes), then id."""
    if dialect == "postgresql":
        return [sa.text("signature_keys.name_search USING ~<~"), col(SignatureKey.id)]
    return [col(SignatureKey.name_search), col(SignatureKey.id)]


def _after_name(name: str, key_id: uuid.UUID, dialect: str):
    """Rows after ``(name, key_id)`` in name order; the first clause bounds the index scan."""
    column = col(SignatureKey.name_search)
    if dialect == "postgresql":
        return sa.and_(
            column.op("~>=~", is_comparison=True)(name),
            sa.or_(
                column.op("~>~", is_comparison=True)(name),
                sa.and_(column == name, col(SignatureKey.id) > key_id),
            ),
        )
    return sa.tuple_(column, SignatureKey.id) > sa.tuple_(
        sa.literal(name, SignatureKey.__table__.c.name_search.type),
        sa.literal(key_id, SignatureKey.__table__.c.id.type),
    )


def _prefix_range(column, prefix: str, dialect: str):
    """``column`` starts with ``prefix``, as a range the index can serve.

    Not ``LIKE 'abc%'``: under row-level security PostgreSQL may only push
    leakproof operators into an index scan, and LIKE is not leakproof, while the
    pattern comparisons ``~>=~`` / ``~<~`` (``text_pattern_ops``) are. SQLite
    compares bytes with plain ``>=`` / ``<``. UTF-8 byte order is code point
    order, so "the prefix with its last character incremented" is the upper bound.
    """
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: skip to the next one
        following = 0xE000
    upper = prefix[:-1] + chr(following) if following <= 0x10FFFF else None
    if dialect == "postgresql":
        ge, lt = column.op("~>=~", is_comparison=True), column.op("~<~", is_comparison=True)
    else:
        ge, lt = column.__ge__, column.__lt__
    return sa.and_(ge(prefix), lt(upper)) if upper else ge(prefix)


def _search_clause(q: str, dialect: str):
    term = q.strip().lower()
    clause = _prefix_range(col(SignatureKey.name_search), term, dialect)
    if _HEX_PREFIX.match(term):
        digits = term.replace("-", "")
        if 4 <= len(digits) <= 32 and all(c in "0123456789abcdef" for c in digits):
            low = uuid.UUID(hex=digits.ljust(32, "0"))
            high = uuid.UUID(hex=digits.ljust(32, "f"))
            clause = sa.or_(clause, col(SignatureKey.id).between(low, high))
    return clause


def key_totals(session: Session, *, actor: Actor, project_id: uuid.UUID) -> KeyTotals:
    """Totals by effective status from the project's counters plus the few keys in grace."""
    db.read_only(session)
    access.require(
        session, actor=actor, project_id=project_id, minimum=Role.VIEWER, attempted="reading keys"
    )
    return _totals(session, project_id)


def _totals(session: Session, project_id: uuid.UUID) -> KeyTotals:
    project = session.get(Project, project_id, populate_existing=True)
    if project is None:
        raise NotFound(access.PROJECT_NOT_FOUND)
    expiring = session.exec(
        select(sa.func.count())
        .select_from(SignatureKey)
        .where(SignatureKey.project_id == project_id, col(SignatureKey.expires_at) > clock.now())
    ).one()
    revoked = project.revoked_count - expiring
    return KeyTotals(
        active=project.key_count - revoked,
        expiring=expiring,
        revoked=revoked,
        total=project.key_count,
    )


def list_keys(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    status: str | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> KeyPage:
    """One page, keyset-paged: newest first on ``(created_at, id)``; a search (``q``) in name
    order on ``(name_search, id)``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    wanted: KeyStatus | None = None
    if status:
        try:
            wanted = KeyStatus(status)
        except ValueError as exc:
            raise InvalidInput("status must be 'active' or 'revoked'") from exc
    if q is not None and len(q) > MAX_NAME_LENGTH:
        raise InvalidInput(f"search text is at most {MAX_NAME_LENGTH} characters")
    if q is not None and has_control_chars(q):
        raise InvalidInput("search text cannot contain control characters")
    searching = bool(q and q.strip())
    after = (
        (decode_search_cursor(cursor) if searching else decode_cursor(cursor)) if cursor else None
    )
    db.read_only(session)
    access.require(
        session, actor=actor, project_id=project_id, minimum=Role.VIEWER, attempted="reading keys"
    )
    dialect = session.get_bind().dialect.name
    now = clock.now()
    where = [SignatureKey.project_id == project_id]
    if wanted:
        where.append(_effective_clause(wanted, now))
    if searching:
        where.append(_search_clause(q, dialect))
    query = select(SignatureKey).where(*where)
    if searching:
        if after:
            query = query.where(_after_name(*after, dialect))
        query = query.order_by(*_name_order(dialect))
    else:
        if after:
            query = query.where(
                sa.tuple_(SignatureKey.created_at, SignatureKey.id)
                < sa.tuple_(
                    sa.literal(after[0], SignatureKey.__table__.c.created_at.type),
                    sa.literal(after[1], SignatureKey.__table__.c.id.type),
                )
            )
        query = query.order_by(col(SignatureKey.created_at).desc(), col(SignatureKey.id).desc())
    rows = session.exec(query.limit(limit + 1)).all()
    items = [to_public(r, now) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = (
            encode_search_cursor(last.name_search, last.id)
            if searching
            else encode_cursor(last.created_at, last.id)
        )
    if searching:
        total = session.exec(select(sa.func.count()).select_from(SignatureKey).where(*where)).one()
    else:
        totals = _totals(session, project_id)
        total = {
            None: totals.total,
            KeyStatus.ACTIVE: totals.active,
            KeyStatus.REVOKED: totals.revoked,
        }[wanted]
    return KeyPage(items=items, next_cursor=next_cursor, total=total)


# ---------------------------------------------------------------- signing


def _signing_keys(session: Session, project_id: uuid.UUID) -> list[SignatureKey]:
    return list(
        session.exec(
            select(SignatureKey)
            .where(
                SignatureKey.project_id == project_id,
                _effective_clause(KeyStatus.ACTIVE, clock.now()),
            )
            .order_by(col(SignatureKey.created_at).desc(), col(SignatureKey.id).desc())
            .limit(MAX_SIGNING_KEYS)
        ).all()
    )


def sign_payload(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    payload: bytes,
    msg_id: str | None = None,
    timestamp: int | None = None,
    request: RequestInfo | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers signed by every active key (grace periods included)."""
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.ADMIN,
        attempted="signing a payload",
        request=request,
    )
    if msg_id is not None and not (
        1 <= len(msg_id) <= 200 and msg_id.isprintable() and "." not in msg_id
    ):
        raise InvalidInput("msg_id must be 1 to 200 printable characters without '.'")
    if timestamp is not None and not 0 <= timestamp < 2**40:
        raise InvalidInput("timestamp must be seconds since the epoch")
    rows = _signing_keys(session, project_id)
    if not rows:
        raise Conflict("This project has no active key to sign with. Generate a key first.")
    secrets = [decrypt_secret(r) for r in rows]
    return sign_headers(
        secrets,
        payload=payload,
        msg_id=msg_id,
        timestamp=timestamp,
        clock=lambda: clock.now().timestamp(),
    )


def verify_payload(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    payload: bytes,
    headers: dict[str, str],
) -> uuid.UUID:
    """The id of the active key whose signature is in ``headers``; InvalidInput when none is."""
    db.read_only(session)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.VIEWER,
        attempted="verifying a payload",
    )
    rows = _signing_keys(session, project_id)
    try:
        candidates = [(r.id, decrypt_secret(r)) for r in rows]
        return verify_signature(
            candidates, headers=headers, payload=payload, clock=lambda: clock.now().timestamp()
        )
    except SignatureError as exc:
        raise InvalidInput(str(exc)) from exc
