"""Users, sign-in, browser sessions and API tokens."""

from __future__ import annotations

import hmac
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from meshkeys.config import get_settings
from meshkeys.crypto.passwords import dummy_hash, hash_password, verify_password
from meshkeys.crypto.secrets import generate_token, hash_token
from meshkeys.models import (
    ALL_PERMISSIONS,
    ApiToken,
    ApiTokenCreated,
    ApiTokenPublic,
    LoginFailure,
    Permission,
    User,
    UserPublic,
    UserSession,
)
from meshkeys.services import access, audit, cache
from meshkeys.services.context import Actor, TokenScope
from meshkeys.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    UnknownUser,
    clean_name,
    has_control_chars,
)
from meshkeys.services.uow import UnitOfWork

MIN_PASSWORD_LENGTH = 10
LOGIN_WINDOW = timedelta(minutes=15)
# Failures per account (or API token prefix) AND client address, in LOGIN_WINDOW.
MAX_FAILURES_PER_ACCOUNT = 5
MAX_TOKEN_FAILURES = 10
_TOKEN_THROTTLE_KEY = "api-token:"  # noqa: S105 - a label of login_failures rows, not a secret
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
SESSION_PREFIX = "mks_"
MAX_TOKEN_DAYS = 365  # an API token's expiry is at most a year away
_ORDER = {p: i for i, p in enumerate(ALL_PERMISSIONS)}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 320 or has_control_chars(email):
        raise InvalidInput("Enter an email address like name@example.com.")
    return email


def _check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > 1024:
        raise InvalidInput("Passwords are at most 1024 characters.")


def actor_of(user: User) -> Actor:
    return Actor(user_id=user.id, email=user.email)


def add_user(uow: UnitOfWork, *, email: str, password: str) -> UserPublic:
    """Insert a user into the current transaction; the caller commits (with more, or alone)."""
    email = normalize_email(email)
    _check_password(password)
    if uow.session.exec(select(User.id).where(User.email == email)).first():
        raise Conflict(f"A user with email {email} already exists.")
    user = User(email=email, password_hash=hash_password(password), created_at=uow.now)
    uow.session.add(user)
    uow.session.flush()
    return UserPublic.model_validate(user)


def create_user(uow: UnitOfWork, *, email: str, password: str) -> UserPublic:
    """Create a user (an operator action: the CLI, or the first-run setup)."""
    created = add_user(uow, email=email, password=password)
    uow.commit()
    return created


def find_user(uow: UnitOfWork, *, email: str) -> User:
    user = uow.session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise UnknownUser(
            f"No user with email {email.strip().lower()}. Create one with `meshkeys user create`."
        )
    return user


def act_as_user(uow: UnitOfWork, *, email: str) -> Actor:
    """Make the user with this email the unit of work's actor (an operator's ``--user``)."""
    actor = actor_of(find_user(uow, email=email))
    uow.act_as(actor)
    return actor


def find_or_create_user(uow: UnitOfWork, *, email: str, password: str) -> Actor:
    """The user with this email, created with ``password`` if there is none (demo data)."""
    try:
        return actor_of(find_user(uow, email=email))
    except NotFound:
        created = create_user(uow, email=email, password=password)
        return Actor(user_id=created.id, email=created.email)


def needs_setup(uow: UnitOfWork) -> bool:
    """True while the database has no user: the first visit offers to create the admin."""
    uow.read_only()
    return uow.session.exec(select(User.id).limit(1)).first() is None


def _throttle(uow: UnitOfWork, *, subject: str, limit: int, what: str) -> None:
    """Refuse the attempt while ``subject`` has ``limit`` failures from this client in the window.

    Limits key on the subject (an account, an API token's prefix) and the client address
    together: an attacker's failures lock out only their own pair, never the same account
    signing in from elsewhere, nor the other users behind the attacker's address
    (docs/DECISIONS.md). The check takes a lock on the pair that the transaction holds until
    its failure, if any, is recorded and committed, so concurrent attempts queue: at most
    ``limit`` of them are ever checked (PostgreSQL: an advisory lock; SQLite: the write lock
    every writing transaction takes at BEGIN IMMEDIATE).
    """
    uow.serialize(f"throttle {subject} from {uow.request.client_ip or '-'}")
    wait = _locked_out_for(uow, subject=subject, limit=limit)
    if wait is not None:
        uow.rollback()
        raise _rate_limited(what, wait)


def _locked_out_for(uow: UnitOfWork, *, subject: str, limit: int) -> int | None:
    """Seconds until ``subject`` from this client may try again; None when it may now.

    Only counts: the caller holds the throttle's lock when it may record a failure next
    (``_throttle``); an attempt that records nothing (a valid API token) counts without it.
    """
    client_ip = uow.request.client_ip
    now = uow.now
    same_client = (
        col(LoginFailure.client_ip).is_(None)
        if client_ip is None
        else col(LoginFailure.client_ip) == client_ip
    )
    times = uow.session.exec(
        select(LoginFailure.created_at)
        .where(
            col(LoginFailure.email) == subject,
            same_client,
            col(LoginFailure.created_at) >= now - LOGIN_WINDOW,
        )
        .order_by(col(LoginFailure.created_at).desc())
        .limit(limit)
    ).all()
    if len(times) < limit:
        return None
    # Locked until the oldest of the last `limit` failures leaves the window.
    return max(1, int((times[-1] + LOGIN_WINDOW - now).total_seconds()) + 1)


def _rate_limited(what: str, wait: int) -> RateLimited:
    return RateLimited(f"Too many failed {what}. Try again in {wait} seconds.", retry_after=wait)


def _record_failure(uow: UnitOfWork, *, subject: str) -> None:
    uow.session.add(
        LoginFailure(email=subject, client_ip=uow.request.client_ip, created_at=uow.now)
    )


def authenticate(uow: UnitOfWork, *, email: str, password: str) -> Actor:
    """Check a password in constant time; failures are audited and rate-limited.

    On success the user becomes the unit of work's actor (``start_session`` follows).
    """
    try:
        email = normalize_email(email)
    except InvalidInput:  # still checked and recorded, as typed but printable
        typed = "".join(c if not has_control_chars(c) else "?" for c in (email or ""))
        email = typed.strip().lower()[:320] or "(empty)"
    _throttle(uow, subject=email, limit=MAX_FAILURES_PER_ACCOUNT, what="sign-ins")
    user = uow.session.exec(select(User).where(User.email == email)).first()
    ok = verify_password(password or "", user.password_hash if user else dummy_hash())
    if user is None or not ok:
        _record_failure(uow, subject=email)
        audit.record(
            uow,
            action=audit.LOGIN_FAILED,
            actor_email=email,
            details={"reason": "bad credentials"},
        )
        uow.commit()
        raise Unauthenticated("Email or password is wrong.")
    actor = actor_of(user)
    uow.act_as(actor)
    audit.record(uow, action=audit.LOGIN_SUCCEEDED)
    uow.commit()
    return actor


# ---------------------------------------------------------------- browser sessions


def start_session(uow: UnitOfWork) -> str:
    """Create a browser session for the acting user; returns the raw token (only its hash
    is stored)."""
    token = generate_token(SESSION_PREFIX)
    now = uow.now
    uow.session.add(
        UserSession(
            user_id=uow.actor.user_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(seconds=get_settings().session_ttl_seconds),
            client_ip=uow.request.client_ip,
            user_agent=(uow.request.user_agent or "")[:400] or None,
        )
    )
    uow.commit()
    return token


def actor_for_session(uow: UnitOfWork, *, token: str | None) -> Actor | None:
    """The user of a browser session token, or None (see ``actor_for_session_digest``)."""
    if not token or not token.startswith(SESSION_PREFIX):
        return None
    return actor_for_session_digest(uow, digest=hash_token(token))


def actor_for_session_digest(uow: UnitOfWork, *, digest: str | None) -> Actor | None:
    """The user of the browser session whose token hashes to ``digest``, or None.

    A found user becomes the unit of work's actor. The UI's websocket never sees the raw
    cookie, only this digest (``meshkeys.web_session``). The lookup's read-only transaction
    ends here, so the service called next starts a fresh one.
    """
    if not digest or len(digest) != 64:
        return None
    actor = None
    with uow.system_step():  # no actor yet: the session is found by its hash alone
        row = uow.session.exec(
            select(UserSession, User)
            .join(User, col(User.id) == UserSession.user_id)
            .where(UserSession.token_hash == digest)
        ).first()
        if row is not None:
            user_session, user = row
            valid = (
                hmac.compare_digest(user_session.token_hash, digest)
                and user_session.ended_at is None
                and user_session.expires_at > uow.now
            )
            actor = actor_of(user) if valid else None
    if actor is not None:
        uow.act_as(actor)
    return actor


def end_session(uow: UnitOfWork, *, token: str | None) -> None:
    """End the browser session of ``token``, as its user (row-level security: only one's own)."""
    if not token or actor_for_session(uow, token=token) is None:
        return
    uow.session.execute(
        sa.update(UserSession)
        .where(
            col(UserSession.token_hash) == hash_token(token), col(UserSession.ended_at).is_(None)
        )
        .values(ended_at=uow.now)
    )
    uow.commit()


# ---------------------------------------------------------------- API tokens


def _permissions(
    uow: UnitOfWork, *, project_id: uuid.UUID | None, permissions: Iterable[str] | None
) -> list[Permission]:
    """The token's permissions: as asked (each a known name), or by default all that apply.

    With a project, the default is what the user's role there allows, and asking for more is
    refused: a token is never made to promise what its user cannot do. Without one the role
    differs by project; every use is intersected with the role (``access.require``).
    """
    role = None
    if project_id is not None:
        role = access.role_of(uow, project_id)
        if role is None:
            raise NotFound(access.PROJECT_NOT_FOUND)
    if permissions is None:
        return sorted(
            access.ROLE_PERMISSIONS[role] if role else ALL_PERMISSIONS, key=_ORDER.__getitem__
        )
    wanted: set[Permission] = set()
    for name in permissions:
        try:
            wanted.add(Permission(str(name).strip()))
        except ValueError as exc:
            raise InvalidInput(
                f"Unknown permission {str(name)[:40]!r}; choose from: {', '.join(Permission)}."
            ) from exc
    if not wanted:
        raise InvalidInput(f"Give the token at least one permission: {', '.join(Permission)}.")
    if role is not None:
        beyond = sorted(wanted - access.ROLE_PERMISSIONS[role], key=_ORDER.__getitem__)
        if beyond:
            raise InvalidInput(
                f"Your role in this project is {role}; it does not allow "
                f"{', '.join(beyond)}, so a token for it cannot have "
                f"{'it' if len(beyond) == 1 else 'them'}."
            )
    return sorted(wanted, key=_ORDER.__getitem__)


def _expiry(uow: UnitOfWork, expires_in_days: int | None) -> datetime | None:
    if expires_in_days is None:
        return None
    if (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, int)
        or not 1 <= expires_in_days <= MAX_TOKEN_DAYS
    ):
        raise InvalidInput(
            f"A token expires in 1 to {MAX_TOKEN_DAYS} days, or never (leave the expiry out)."
        )
    return uow.now + timedelta(days=expires_in_days)


def create_api_token(
    uow: UnitOfWork,
    *,
    name: str,
    project_id: uuid.UUID | None = None,
    permissions: Iterable[str] | None = None,
    expires_in_days: int | None = None,
) -> ApiTokenCreated:
    """Create an API token for the acting user, scoped to one project (None: all of the
    user's projects), some permissions (None: all that apply) and an expiry (None: never).
    Only a signed-in user or an operator creates tokens, never a token."""
    if uow.actor.scope is not None:
        raise PermissionDenied("An API token cannot create tokens; sign in to create one.")
    name = clean_name(name, what="token")
    expires_at = _expiry(uow, expires_in_days)
    granted = _permissions(uow, project_id=project_id, permissions=permissions)
    token = generate_token()
    row = ApiToken(
        user_id=uow.actor.user_id,
        name=name,
        token_prefix=token[:7],
        token_hash=hash_token(token),
        created_at=uow.now,
        project_id=project_id,
        permissions=granted,
        expires_at=expires_at,
    )
    uow.session.add(row)
    uow.session.flush()
    audit.record(
        uow,
        action=audit.TOKEN_CREATED,
        details={
            "token_id": str(row.id),
            "name": name,
            "prefix": row.token_prefix,
            "project_id": str(project_id) if project_id else None,
            "permissions": [str(p) for p in granted],
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    uow.commit()
    return ApiTokenCreated(**ApiTokenPublic.model_validate(row).model_dump(), token=token)


def list_api_tokens(uow: UnitOfWork) -> list[ApiTokenPublic]:
    uow.read_only()
    rows = uow.session.exec(
        select(ApiToken)
        .where(ApiToken.user_id == uow.actor.user_id)
        .order_by(col(ApiToken.created_at).desc())
    ).all()
    return [ApiTokenPublic.model_validate(r) for r in rows]


def revoke_api_token(uow: UnitOfWork, *, token_id: uuid.UUID) -> ApiTokenPublic:
    row = uow.session.exec(
        select(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == uow.actor.user_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound("Token not found among your tokens.")
    if row.revoked_at is not None:
        raise Conflict(f"Token '{row.name}' is already revoked.")
    row.revoked_at = uow.now
    uow.session.add(row)
    audit.record(
        uow,
        action=audit.TOKEN_REVOKED,
        details={"token_id": str(row.id), "name": row.name, "prefix": row.token_prefix},
    )
    uow.commit()
    return ApiTokenPublic.model_validate(row)


def actor_for_api_token(uow: UnitOfWork, *, token: str | None) -> Actor:
    """Resolve a bearer token and make its user the unit of work's actor.

    The actor carries the token's scope (``Actor.scope``): ``access.require`` narrows the
    user's role with it. Raises Unauthenticated for missing, unknown, revoked or expired
    tokens, RateLimited after ``MAX_TOKEN_FAILURES`` failures of this client with this token
    prefix. The lookup is a transaction of its own (holding the throttle's lock, and
    recording a failure); ``last_used_at`` (kept to the minute) is written in a second, short
    one, so the request's service call starts fresh.
    """
    if not token or not token.startswith("mk_") or len(token) > 200 or has_control_chars(token):
        raise Unauthenticated("Send 'Authorization: Bearer mk_...' with a valid API token.")
    digest = hash_token(token)
    known = cache.cached_actor(uow, digest)  # the API's cache: see services.cache
    if known is not None:
        uow.act_as(known)
        return known
    # A token's failures are throttled per client and token prefix (its "account"): over the
    # limit even the right token is refused, and a valid token from another address still
    # works. Only a failure is recorded, so only a failing attempt takes the throttle's lock
    # (its check and its record atomic); a valid token is counted without it, in the same
    # read-only step as its lookup, so a sender's concurrent requests neither queue on the
    # lock nor pay a transaction of their own for the count (docs/PERFORMANCE.md).
    subject = _TOKEN_THROTTLE_KEY + token[:7]
    found = None
    expires_at: datetime | None = None
    wait: int | None = None
    with uow.system_step():  # no actor yet: the token is found by its hash alone
        row = uow.session.exec(
            select(ApiToken, User)
            .join(User, col(User.id) == ApiToken.user_id)
            .where(ApiToken.token_hash == digest)
        ).first()
        valid = row is not None and hmac.compare_digest(row[0].token_hash, digest)
        if row is not None and valid and not row[0].revoked_at:
            api_token, user = row
            expired = api_token.expires_at is not None and api_token.expires_at <= uow.now
            scope = TokenScope(
                token_id=api_token.id,
                project_id=api_token.project_id,
                permissions=frozenset(str(p) for p in api_token.permissions),
            )
            actor = Actor(user_id=user.id, email=user.email, scope=scope)
            found = api_token.id, api_token.last_used_at, actor, expired
            expires_at = api_token.expires_at
            if not expired:
                wait = _locked_out_for(uow, subject=subject, limit=MAX_TOKEN_FAILURES)
    if found is None or found[3]:
        _throttle(uow, subject=subject, limit=MAX_TOKEN_FAILURES, what="API token attempts")
        _record_failure(uow, subject=subject)
        uow.commit()
        raise Unauthenticated(
            "The API token has expired. Create a new one on /settings/tokens."
            if found is not None
            else "The API token is unknown or revoked. Create a new one on /settings/tokens."
        )
    if wait is not None:
        raise _rate_limited("API token attempts", wait)
    token_id, last_used, actor, _ = found
    uow.act_as(actor)
    now = uow.now
    if last_used is None or now - last_used > TOKEN_TOUCH_INTERVAL:
        uow.session.execute(
            sa.update(ApiToken)
            .where(col(ApiToken.id) == token_id)
            .values(last_used_at=now)
            .execution_options(**{cache.NEUTRAL: True})  # no cached entry depends on it
        )
        uow.commit()
        last_used = now
    # Not locked out, not expired: remembered until it expires or its use is due again.
    cache.remember_actor(
        uow, digest, actor, expires_at=expires_at, touch_due=last_used + TOKEN_TOUCH_INTERVAL
    )
    return actor
