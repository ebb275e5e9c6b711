"""Tables (SQLModel) and the read models handed to the UI, API and CLI.

Read models (``KeyPublic``, ``AuditEventPublic``...) have no secret field, so
they cannot leak one into a response or a Reflex var. The one model that
carries a secret, ``KeyWithSecret``, exists only for the answer to generate,
rotate and reveal.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlmodel import Field, SQLModel

NIL_UUID = uuid.UUID(int=0)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware timestamps on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zone, so values are
    stored as UTC and given ``tzinfo=UTC`` again when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: meshkeys stores timezone-aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


class EnumText(sa.types.TypeDecorator[StrEnum]):
    """A ``StrEnum`` stored as its text value: rows read back as enum members, not strings.

    The column stays ``VARCHAR(n)`` with its CHECK constraint, so no migration is needed
    and the database never depends on a native enum type.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class KeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class RevokeReason(StrEnum):
    RETIRED = "retired"
    ROTATED = "rotated"
    COMPROMISED = "compromised"


class KeyType(StrEnum):
    """Standard Webhooks signature schemes: ``v1`` (HMAC-SHA256) and ``v1a`` (ed25519)."""

    HMAC_SHA256 = "hmac-sha256"
    ED25519 = "ed25519"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    VIEWER = "viewer"


class Permission(StrEnum):
    """What an API token may do (PRODUCT.md "API tokens"); always narrowed by the user's role."""

    KEYS_READ = "keys:read"
    KEYS_WRITE = "keys:write"
    WEBHOOKS_SIGN = "webhooks:sign"
    WEBHOOKS_VERIFY = "webhooks:verify"
    AUDIT_READ = "audit:read"
    MEMBERS_WRITE = "members:write"


ALL_PERMISSIONS: tuple[Permission, ...] = tuple(Permission)


class PermissionList(sa.types.TypeDecorator[list[Permission]]):
    """A set of permissions stored as one space-separated text value, in a fixed order
    (OAuth's ``scope`` spelling): the same column on SQLite and PostgreSQL, readable in psql."""

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int = 200) -> None:
        super().__init__(length)

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        wanted = {Permission(p) for p in value}
        return " ".join(p.value for p in ALL_PERMISSIONS if p in wanted)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> list[Permission] | None:
        if value is None:
            return None
        return [Permission(p) for p in str(value).split()]


# ---------------------------------------------------------------- tables


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (
        sa.CheckConstraint(
            "rotate_every_days IS NULL OR rotate_every_days BETWEEN 1 AND 365",
            name="ck_projects_rotate_every_days",
        ),
        sa.CheckConstraint(
            "rotation_grace_seconds BETWEEN 0 AND 604800", name="ck_projects_rotation_grace"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = _ts()
    # Denormalised counters kept in the same transaction as every key change,
    # so totals on a project of a million keys cost one row read.
    key_count: int = Field(default=0)
    revoked_count: int = Field(default=0)
    # GET /projects/{id}/public-keys answers without a token when on (an owner's choice).
    publish_public_keys: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )
    # Rotation policy (meshkeys.services.rotation_policy): the scheduler rotates each active key
    # rotate_every_days after its creation, the old key kept for rotation_grace_seconds.
    # NULL: no policy. The CHECKs repeat the service's limits (1-365 days, 0-7 days of grace).
    rotate_every_days: int | None = Field(default=None)
    rotation_grace_seconds: int = Field(default=86400)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=300)
    created_at: datetime = _ts()


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = (sa.Index("ix_memberships_user", "user_id", "project_id"),)

    project_id: uuid.UUID = Field(foreign_key="projects.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    role: Role = Field(sa_type=EnumText(Role))
    created_at: datetime = _ts()


class SignatureKey(SQLModel, table=True):
    __tablename__ = "signature_keys"
    __table_args__ = (
        # Keyset paging, newest first: WHERE project_id = ? ORDER BY created_at DESC, id DESC.
        sa.Index("ix_signature_keys_project_created", "project_id", "created_at", "id"),
        # The same order within one status (the status filter).
        sa.Index("ix_signature_keys_project_status", "project_id", "status", "created_at", "id"),
        # Case-insensitive name prefix search, paged in name order. text_pattern_ops: byte
        # order under any collation, with leakproof range operators (usable under RLS).
        sa.Index(
            "ix_signature_keys_project_name",
            "project_id",
            "name_search",
            "id",
            postgresql_ops={"name_search": "text_pattern_ops"},
        ),
        # Keys in a revocation grace period (few): totals and signing.
        sa.Index("ix_signature_keys_project_expires", "project_id", "expires_at"),
        sa.CheckConstraint("status IN ('active', 'revoked')", name="ck_signature_keys_status"),
        sa.CheckConstraint(
            "revoke_reason IS NULL OR revoke_reason IN ('retired', 'rotated', 'compromised')",
            name="ck_signature_keys_reason",
        ),
        sa.CheckConstraint(
            "key_type IN ('hmac-sha256', 'ed25519')", name="ck_signature_keys_key_type"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    name: str = Field(max_length=200)
    name_search: str = Field(max_length=200)
    key: str = Field(max_length=200)  # AES-256-GCM envelope of the whsec_ secret, never plaintext
    key_hint: str = Field(max_length=4)
    # hmac-sha256: `key` holds a whsec_ secret; ed25519: `key` holds the whsk_ seed and
    # `public_key` the whpk_ public key (not a secret, stored in the clear).
    key_type: KeyType = Field(
        default=KeyType.HMAC_SHA256,
        sa_type=EnumText(KeyType),
        sa_column_kwargs={"server_default": KeyType.HMAC_SHA256.value},
    )
    public_key: str | None = Field(default=None, max_length=60)
    status: KeyStatus = Field(default=KeyStatus.ACTIVE, sa_type=EnumText(KeyStatus))
    revoke_reason: RevokeReason | None = Field(default=None, sa_type=EnumText(RevokeReason))
    created_at: datetime = _ts()
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    revoked_at: datetime | None = _ts(nullable=True)
    expires_at: datetime | None = _ts(nullable=True)
    rotated_from: uuid.UUID | None = Field(default=None)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    __table_args__ = (sa.Index("ix_api_tokens_user", "user_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    name: str = Field(max_length=200)
    token_prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)
    # The scope (revision 0004): one project or, when None, all of the user's projects; the
    # permissions it may use there (intersected with the user's role at every use); an expiry.
    project_id: uuid.UUID | None = Field(
        default=None, foreign_key="projects.id", ondelete="CASCADE", nullable=True
    )
    permissions: list[Permission] = Field(
        default_factory=lambda: list(ALL_PERMISSIONS),
        sa_type=PermissionList,
        sa_column_kwargs={"server_default": " ".join(ALL_PERMISSIONS)},
    )
    expires_at: datetime | None = _ts(nullable=True)


class UserSession(SQLModel, table=True):
    __tablename__ = "user_sessions"
    __table_args__ = (sa.Index("ix_user_sessions_user", "user_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    ended_at: datetime | None = _ts(nullable=True)
    client_ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=400)


class Invite(SQLModel, table=True):
    """A one-time link for someone without an account to join a project (only its hash)."""

    __tablename__ = "invites"
    __table_args__ = (sa.Index("ix_invites_project", "project_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    email: str = Field(max_length=320)
    role: Role = Field(sa_type=EnumText(Role))
    token_hash: str = Field(max_length=64, unique=True)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    # Set once: when the link was used (and by whom), or when a newer invite replaced it.
    accepted_at: datetime | None = _ts(nullable=True)
    accepted_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    revoked_at: datetime | None = _ts(nullable=True)


class LoginFailure(SQLModel, table=True):
    """Recent failed sign-ins, for rate limiting by account and by client IP."""

    __tablename__ = "login_failures"
    __table_args__ = (
        sa.Index("ix_login_failures_email", "email", "created_at"),
        sa.Index("ix_login_failures_ip", "client_ip", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320)
    client_ip: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()


class CacheGeneration(SQLModel, table=True):
    """One row: a number every change to what the API's caches hold increments, in the same
    transaction (``services.cache``). Workers compare it with the number their entries were
    made under, so a committed revoke is seen by every worker's very next request."""

    __tablename__ = "cache_generation"
    __table_args__ = (sa.CheckConstraint("id = 1", name="ck_cache_generation_one_row"),)

    id: int = Field(default=1, primary_key=True)
    generation: int = Field(default=0, sa_type=sa.BigInteger)


class AuditHead(SQLModel, table=True):
    """The tip of one audit hash chain; its row lock serialises appends."""

    __tablename__ = "audit_heads"

    chain_id: uuid.UUID = Field(primary_key=True)
    seq: int = Field(default=0)
    head_hash: str = Field(default="", max_length=64)


class AuditEvent(SQLModel, table=True):
    """Append-only. ``chain_id`` is the project id, or NIL_UUID for account events."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.UniqueConstraint("chain_id", "seq", name="uq_audit_events_chain_seq"),
        sa.Index("ix_audit_events_chain_action", "chain_id", "action", "seq"),
        sa.Index("ix_audit_events_chain_key", "chain_id", "key_id", "seq"),
        sa.Index("ix_audit_events_chain_actor", "chain_id", "actor_email", "seq"),
        sa.Index("ix_audit_events_chain_created", "chain_id", "created_at"),
        sa.CheckConstraint("seq >= 1", name="ck_audit_events_seq"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    chain_id: uuid.UUID
    seq: int
    project_id: uuid.UUID | None = Field(default=None)
    actor_id: uuid.UUID | None = Field(default=None)
    actor_email: str = Field(max_length=320)
    action: str = Field(max_length=40)
    key_id: uuid.UUID | None = Field(default=None)
    key_name: str | None = Field(default=None, max_length=200)
    old_status: str | None = Field(default=None, max_length=16)
    new_status: str | None = Field(default=None, max_length=16)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    client_ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=400)
    created_at: datetime = _ts()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # The master key version whose audit key made ``hash`` (meshkeys.crypto.audit_keys).
    key_version: str = Field(default="", max_length=8)


# ---------------------------------------------------------------- read models


class ReadModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class KeyPublic(ReadModel):
    """A key as anyone allowed to see the project may see it: never the secret."""

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    key_hint: str
    masked_secret: str
    status: KeyStatus  # effective: a key past its grace period is revoked
    revoke_reason: RevokeReason | None
    created_at: datetime
    created_by: uuid.UUID | None
    revoked_at: datetime | None
    expires_at: datetime | None
    key_type: KeyType = KeyType.HMAC_SHA256
    public_key: str | None = None  # ed25519 only: whpk_..., not a secret
    # When the project's rotation policy rotates this key (active keys only; None: no policy).
    rotates_at: datetime | None = None


class KeyWithSecret(KeyPublic):
    """Only in the answer to generate, rotate and reveal."""

    secret: str


class KeyTotals(ReadModel):
    active: int
    expiring: int  # revoked with a grace period that has not ended (counted in active too)
    revoked: int
    total: int


class KeyPage(ReadModel):
    items: list[KeyPublic]
    next_cursor: str | None
    total: int  # keys matching the filters
    totals: KeyTotals  # the project's keys by status, whatever the filters


class ProjectPublic(ReadModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    role: Role | None = None
    publish_public_keys: bool = False


class PublicKeyEntry(ReadModel):
    """One ed25519 public key a receiver may trust (active, or expiring at ``expires_at``)."""

    key_id: uuid.UUID
    name: str
    type: KeyType
    public_key: str
    created_at: datetime
    expires_at: datetime | None


class PublicKeySet(ReadModel):
    """The answer of GET /projects/{id}/public-keys: never a secret."""

    project_id: uuid.UUID
    published: bool
    keys: list[PublicKeyEntry]


class RotationPolicyPublic(ReadModel):
    """A project's rotation policy; ``rotate_every_days`` None means there is none."""

    project_id: uuid.UUID
    rotate_every_days: int | None
    grace_seconds: int


class MemberPublic(ReadModel):
    user_id: uuid.UUID
    email: str
    role: Role
    created_at: datetime


class InvitePublic(ReadModel):
    """An invite as its project's owners see it: never the token."""

    id: uuid.UUID
    project_id: uuid.UUID
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


class InviteCreated(InvitePublic):
    token: str  # shown once, in the link


class InvitePreview(ReadModel):
    """What the invitee's page shows before a password is set."""

    project_name: str
    email: str
    role: Role
    expires_at: datetime


class UserPublic(ReadModel):
    id: uuid.UUID
    email: str
    created_at: datetime


class ApiTokenPublic(ReadModel):
    id: uuid.UUID
    name: str
    token_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    project_id: uuid.UUID | None = None  # None: all of the user's projects
    permissions: list[Permission] = []
    expires_at: datetime | None = None


class ApiTokenCreated(ApiTokenPublic):
    token: str


class AuditEventPublic(ReadModel):
    id: uuid.UUID
    seq: int
    project_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    actor_email: str
    action: str
    key_id: uuid.UUID | None
    key_name: str | None
    old_status: str | None
    new_status: str | None
    details: dict[str, Any]
    client_ip: str | None
    user_agent: str | None
    created_at: datetime


class AuditPage(ReadModel):
    items: list[AuditEventPublic]
    next_cursor: str | None
