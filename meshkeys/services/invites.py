"""Invites: a one-time link for someone who has no account yet to join a project.

An owner creates an invite for an email and a role; the link carries a random token (shown
once; only its SHA-256 is stored, like API tokens). The invitee opens the link, sets a
password, and becomes a member with that role, signed in. A link works once, for
``INVITE_TTL`` (7 days); a newer invite for the same email and project replaces an older one.
Both steps are audited (``member.invited``, ``member.invite_accepted``); never the token.

Row-level security (migration 0007): owners see their projects' invites; a transaction that
presents a token (``meshkeys.invite_hash``, set by ``_present``) sees that one invite, so the
accept step needs neither an actor nor the system context to find it.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from meshkeys.crypto.secrets import generate_token, hash_token
from meshkeys.models import (
    Invite,
    InviteCreated,
    InvitePreview,
    InvitePublic,
    Membership,
    Permission,
    Project,
    Role,
    User,
)
from meshkeys.services import access, audit, auth
from meshkeys.services.context import Actor
from meshkeys.services.errors import Conflict, InvalidInput, NotFound
from meshkeys.services.uow import UnitOfWork

INVITE_TTL = timedelta(days=7)
INVITE_PREFIX = "mki_"
# Every refusal of a link says what to do next.
UNKNOWN = "This invite link is not valid. Ask the project's owner for a new one."
USED = "This invite link was already used. Sign in instead, or ask the owner for a new link."
EXPIRED = "This invite link has expired. Ask the project's owner for a new one."
REPLACED = "This invite link was replaced by a newer one. Use the newest link you were sent."


class InviteInvalid(NotFound):
    """The link cannot be used (unknown, used, expired or replaced); the message says why."""


def _role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise InvalidInput(f"role must be one of: {', '.join(Role)}") from exc


def _public(invite: Invite) -> InvitePublic:
    return InvitePublic.model_validate(invite)


def create_invite(
    uow: UnitOfWork, *, project_id: uuid.UUID, email: str, role: str | Role
) -> InviteCreated:
    """An invite for ``email`` (who has no account yet) to join as ``role``; owners only.

    Returns the token once (for the link). An email that already has an account is added with
    ``projects.add_member`` instead (Conflict here, saying so).
    """
    role = _role(role)
    email = auth.normalize_email(email)
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.MEMBERS_WRITE,
        attempted="inviting a member",
    )
    uow.serialize(f"meshkeys.members:{project_id}")
    if uow.session.exec(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict(f"{email} already has an account: add them as a member instead.")
    now = uow.now
    older = uow.session.exec(
        select(Invite).where(
            col(Invite.project_id) == project_id,
            col(Invite.email) == email,
            col(Invite.accepted_at).is_(None),
            col(Invite.revoked_at).is_(None),
        )
    ).all()
    for invite in older:  # a newer link replaces the older ones: only the newest works
        invite.revoked_at = now
        uow.session.add(invite)
    replaced = len(older)
    token = generate_token(INVITE_PREFIX)
    new = Invite(
        project_id=project_id,
        email=email,
        role=role,
        token_hash=hash_token(token),
        created_by=uow.actor.user_id,
        created_at=now,
        expires_at=now + INVITE_TTL,
    )
    uow.session.add(new)
    uow.session.flush()
    audit.record(
        uow,
        action=audit.MEMBER_INVITED,
        project_id=new.project_id,
        details={
            "invite_id": str(new.id),
            "email": email,
            "role": role,
            "expires_at": new.expires_at.isoformat(),
            "replaced": replaced,
        },
    )
    created = InviteCreated(**_public(new).model_dump(), token=token)
    uow.commit()
    return created


def list_invites(uow: UnitOfWork, *, project_id: uuid.UUID) -> list[InvitePublic]:
    """The project's invites that can still be used, newest first; owners only."""
    uow.read_only()
    access.require(
        uow, project_id=project_id, permission=Permission.MEMBERS_WRITE, attempted="listing invites"
    )
    rows = uow.session.exec(
        select(Invite)
        .where(
            col(Invite.project_id) == project_id,
            col(Invite.accepted_at).is_(None),
            col(Invite.revoked_at).is_(None),
            col(Invite.expires_at) > uow.now,
        )
        .order_by(col(Invite.created_at).desc())
    ).all()
    return [_public(r) for r in rows]


def _present(uow: UnitOfWork, token: str) -> str:
    """Show the database the hash of the token in this transaction (row-level security lets
    the transaction see that one invite); returns the hash."""
    digest = hash_token(token)
    if uow.is_postgres:
        uow.session.execute(
            sa.text("SELECT set_config('meshkeys.invite_hash', :h, true)"), {"h": digest}
        )
    return digest


def _usable(uow: UnitOfWork, token: str, *, lock: bool) -> Invite:
    """The invite of ``token`` if it can be used now; InviteInvalid saying why not."""
    if not token or not token.startswith(INVITE_PREFIX) or len(token) > 200:
        raise InviteInvalid(UNKNOWN)
    digest = _present(uow, token)
    query = select(Invite).where(col(Invite.token_hash) == digest)
    if lock:
        query = query.with_for_update()
    invite = uow.session.exec(query).first()
    if invite is None or not hmac.compare_digest(invite.token_hash, digest):
        raise InviteInvalid(UNKNOWN)
    if invite.accepted_at is not None:
        raise InviteInvalid(USED)
    if invite.revoked_at is not None:
        raise InviteInvalid(REPLACED)
    if invite.expires_at <= uow.now:
        raise InviteInvalid(EXPIRED)
    return invite


def preview_invite(uow: UnitOfWork, *, token: str) -> InvitePreview:
    """What the invitee's page shows: the project, the email and the role; no actor needed."""
    uow.read_only()
    invite = _usable(uow, token, lock=False)
    project_id, email, role, expires_at = (
        invite.project_id,
        invite.email,
        invite.role,
        invite.expires_at,
    )
    # The invitee is no member yet, so the project's row is not theirs to read: its name is
    # looked up in a system step, by the id the presented token's invite names.
    with uow.system_step():
        name = uow.session.exec(select(Project.name).where(col(Project.id) == project_id)).first()
    return InvitePreview(
        project_name=name or "a project", email=email, role=role, expires_at=expires_at
    )


def accept_invite(uow: UnitOfWork, *, token: str, password: str) -> tuple[Actor, uuid.UUID]:
    """Use the link once: create the invitee's account with ``password``, make them a member
    with the invited role, and act as them (the door then starts their session).

    One transaction: the account, the membership, the used invite and the audit event exist
    together or not at all; the invite row is locked first, so a link used twice at once
    makes one account.
    """
    uow.serialize(f"meshkeys.invite:{hash_token(token or '')}")
    invite = _usable(uow, token, lock=True)
    user = auth.add_user(uow, email=invite.email, password=password)
    actor = Actor(user_id=user.id, email=user.email)
    uow.act_as(actor)
    now = uow.now
    invite.accepted_at = now
    invite.accepted_by = user.id
    uow.session.add(invite)
    uow.session.flush()
    if uow.session.get(Membership, (invite.project_id, user.id)) is not None:
        raise Conflict("You are already a member of this project; sign in instead.")
    uow.session.add(
        Membership(project_id=invite.project_id, user_id=user.id, role=invite.role, created_at=now)
    )
    uow.session.flush()
    audit.record(
        uow,
        action=audit.MEMBER_INVITE_ACCEPTED,
        project_id=invite.project_id,
        details={
            "invite_id": str(invite.id),
            "user_id": str(user.id),
            "email": user.email,
            "role": invite.role,
        },
    )
    project_id = invite.project_id
    uow.commit()
    return actor, project_id
