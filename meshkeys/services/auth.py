"""Users, sign-in, browser sessions and API tokens."""

from __future__ import annotations

import hmac
import re
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from meshkeys import clock, db
from meshkeys.config import get_settings
from meshkeys.crypto.passwords import dummy_hash, hash_password, verify_password
from meshkeys.crypto.secrets import generate_token, hash_token
from meshkeys.models import (
    ApiToken,
    ApiTokenCreated,
    ApiTokenPublic,
    LoginFailure,
    User,
    UserPublic,
    UserSession,
)
from meshkeys.services import audit
from meshkeys.services.context import Actor, RequestInfo
from meshkeys.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    has_control_chars,
)

MIN_PASSWORD_LENGTH = 10
LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 20
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)
SESSION_PREFIX = "mks_"
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


def create_user(session: Session, *, email: str, password: str, commit: bool = True) -> UserPublic:
    """Create a user; ``commit=False`` leaves the commit to a caller doing more in the same unit."""
    email = normalize_email(email)
    _check_password(password)
    if session.exec(select(User.id).where(User.email == email)).first():
        raise Conflict(f"A user with email {email} already exists.")
    user = User(email=email, password_hash=hash_password(password), created_at=clock.now())
    session.add(user)
    session.flush()
    created = UserPublic.model_validate(user)
    if commit:
        session.commit()
    return created


def find_user(session: Session, *, email: str) -> User:
    user = session.exec(select(User).where(User.email == normalize_email(email))).first()
    if user is None:
        raise NotFound(
            f"No user with email {email.strip().lower()}. Create one with `meshkeys user create`."
        )
    return user


def needs_setup(session: Session) -> bool:
    """True while the database has no user: the first visit offers to create the admin."""
    return session.exec(select(User.id).limit(1)).first() is None


def _retry_after(session: Session, *, email: str, client_ip: str | None) -> int:
    since = clock.now() - LOGIN_WINDOW
    checks = [(LoginFailure.email == email, MAX_FAILURES_PER_ACCOUNT)]
    if client_ip:
        checks.append((LoginFailure.client_ip == client_ip, MAX_FAILURES_PER_IP))
    wait = 0
    for clause, limit in checks:
        times = session.exec(
            select(LoginFailure.created_at)
            .where(clause, LoginFailure.created_at >= since)
            .order_by(col(LoginFailure.created_at).desc())
            .limit(limit)
        ).all()
        if len(times) >= limit:
            # Locked until the oldest of the last `limit` failures leaves the window.
            wait = max(wait, int((times[-1] + LOGIN_WINDOW - clock.now()).total_seconds()) + 1)
    return wait


def authenticate(
    session: Session, *, email: str, password: str, request: RequestInfo | None = None
) -> Actor:
    """Check a password in constant time; failures are audited and rate-limited."""
    request = request or RequestInfo()
    try:
        email = normalize_email(email)
    except InvalidInput:  # still checked and recorded, as typed but printable
        typed = "".join(c if not has_control_chars(c) else "?" for c in (email or ""))
        email = typed.strip().lower()[:320] or "(empty)"
    wait = _retry_after(session, email=email, client_ip=request.client_ip)
    if wait:
        raise RateLimited(
            f"Too many failed sign-ins. Try again in {wait} seconds.", retry_after=wait
        )
    user = session.exec(select(User).where(User.email == email)).first()
    ok = verify_password(password or "", user.password_hash if user else dummy_hash())
    if user is None or not ok:
        session.add(LoginFailure(email=email, client_ip=request.client_ip, created_at=clock.now()))
        audit.record(
            session,
            action=audit.LOGIN_FAILED,
            actor=None,
            actor_email=email,
            details={"reason": "bad credentials"},
            request=request,
        )
        session.commit()
        raise Unauthenticated("Email or password is wrong.")
    actor = actor_of(user)
    audit.record(session, action=audit.LOGIN_SUCCEEDED, actor=actor, request=request)
    session.commit()
    return actor


# ---------------------------------------------------------------- browser sessions


def start_session(session: Session, *, actor: Actor, request: RequestInfo | None = None) -> str:
    """Create a browser session; returns the raw token (only its hash is stored)."""
    request = request or RequestInfo()
    token = generate_token(SESSION_PREFIX)
    now = clock.now()
    session.add(
        UserSession(
            user_id=actor.user_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(seconds=get_settings().session_ttl_seconds),
            client_ip=request.client_ip,
            user_agent=(request.user_agent or "")[:400] or None,
        )
    )
    session.commit()
    return token


def actor_for_session(session: Session, *, token: str | None) -> Actor | None:
    """The user of a browser session, or None."""
    if not token or not token.startswith(SESSION_PREFIX):
        return None
    return actor_for_session_digest(session, digest=hash_token(token))


def actor_for_session_digest(session: Session, *, digest: str | None) -> Actor | None:
    """The user of the browser session whose token hashes to ``digest``, or None.

    The UI's websocket never sees the raw cookie, only this digest (see
    ``meshkeys.api.routes.session.SessionCookieDigest``). Ends its own read-only
    transaction, so the service called next in the same session starts a fresh one.
    """
    if not digest or len(digest) != 64:
        return None
    db.read_only(session)
    row = session.exec(
        select(UserSession, User)
        .join(User, col(User.id) == UserSession.user_id)
        .where(UserSession.token_hash == digest)
    ).first()
    actor = None
    if row is not None:
        user_session, user = row
        valid = (
            hmac.compare_digest(user_session.token_hash, digest)
            and user_session.ended_at is None
            and user_session.expires_at > clock.now()
        )
        actor = actor_of(user) if valid else None
    session.rollback()
    return actor


def end_session(session: Session, *, token: str | None) -> None:
    if not token:
        return
    session.execute(
        sa.update(UserSession)
        .where(
            col(UserSession.token_hash) == hash_token(token), col(UserSession.ended_at).is_(None)
        )
        .values(ended_at=clock.now())
    )
    session.commit()


# ---------------------------------------------------------------- API tokens


def create_api_token(
    session: Session, *, actor: Actor, name: str, request: RequestInfo | None = None
) -> ApiTokenCreated:
    name = (name or "").strip()
    if not name or len(name) > 200 or has_control_chars(name):
        raise InvalidInput(
            "Give the token a name of 1 to 200 printable characters, e.g. 'ci-deploy'."
        )
    token = generate_token()
    row = ApiToken(
        user_id=actor.user_id,
        name=name,
        token_prefix=token[:7],
        token_hash=hash_token(token),
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        action=audit.TOKEN_CREATED,
        actor=actor,
        details={"token_id": str(row.id), "name": name, "prefix": row.token_prefix},
        request=request,
    )
    session.commit()
    return ApiTokenCreated(**ApiTokenPublic.model_validate(row).model_dump(), token=token)


def list_api_tokens(session: Session, *, actor: Actor) -> list[ApiTokenPublic]:
    db.read_only(session)
    rows = session.exec(
        select(ApiToken)
        .where(ApiToken.user_id == actor.user_id)
        .order_by(col(ApiToken.created_at).desc())
    ).all()
    return [ApiTokenPublic.model_validate(r) for r in rows]


def revoke_api_token(
    session: Session, *, actor: Actor, token_id: uuid.UUID, request: RequestInfo | None = None
) -> ApiTokenPublic:
    row = session.exec(
        select(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == actor.user_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound("Token not found among your tokens.")
    if row.revoked_at is not None:
        raise Conflict(f"Token '{row.name}' is already revoked.")
    row.revoked_at = clock.now()
    session.add(row)
    audit.record(
        session,
        action=audit.TOKEN_REVOKED,
        actor=actor,
        details={"token_id": str(row.id), "name": row.name, "prefix": row.token_prefix},
        request=request,
    )
    session.commit()
    return ApiTokenPublic.model_validate(row)


def actor_for_api_token(session: Session, *, token: str | None) -> Actor:
    """Resolve a bearer token; raises Unauthenticated for missing, unknown or revoked ones.

    The lookup is a read-only transaction of its own; ``last_used_at`` (kept to the
    minute) is written in a second, short one, so the request's service call starts fresh.
    """
    if not token or not token.startswith("mk_") or len(token) > 200:
        raise Unauthenticated("Send 'Authorization: Bearer mk_...' with a valid API token.")
    digest = hash_token(token)
    db.read_only(session)
    row = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(ApiToken.token_hash == digest)
    ).first()
    valid = (
        row is not None and hmac.compare_digest(row[0].token_hash, digest) and not row[0].revoked_at
    )
    if valid:
        token_id, last_used, actor = row[0].id, row[0].last_used_at, actor_of(row[1])
    session.rollback()
    if not valid:
        raise Unauthenticated(
            "The API token is unknown or revoked. Create a new one on /settings/tokens."
        )
    now = clock.now()
    if last_used is None or now - last_used > TOKEN_TOUCH_INTERVAL:
        session.execute(
            sa.update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now)
        )
        session.commit()
    return actor
