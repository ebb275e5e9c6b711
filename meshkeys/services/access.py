"""Authorization: who may do what in which project. Called inside every service."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from meshkeys import db
from meshkeys.models import Membership, Role
from meshkeys.services import audit
from meshkeys.services.context import Actor, RequestInfo
from meshkeys.services.errors import NotFound, PermissionDenied

RANK = {Role.VIEWER: 1, Role.ADMIN: 2, Role.OWNER: 3}

PROJECT_NOT_FOUND = "Project not found, or you are not a member of it. Ask an owner to add you."


def role_of(session: Session, actor: Actor, project_id: uuid.UUID) -> Role | None:
    role = session.exec(
        select(Membership.role).where(
            Membership.project_id == project_id, Membership.user_id == actor.user_id
        )
    ).first()
    return Role(role) if role else None


def require(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    minimum: Role,
    attempted: str,
    request: RequestInfo | None = None,
    not_found: str = PROJECT_NOT_FOUND,
    key_id: uuid.UUID | None = None,
) -> Role:
    """Bind the actor for RLS and check their role; audit and refuse if it is too low.

    Non-members get ``NotFound`` (never reveal that a project exists). Members
    below ``minimum`` get ``PermissionDenied``, and an ``access.denied`` event is
    committed on its own before the refusal is raised.
    """
    db.bind_actor(session, actor.user_id)
    role = role_of(session, actor, project_id)
    if role is None:
        raise NotFound(not_found)
    if RANK[role] < RANK[minimum]:
        session.rollback()
        db.bind_actor(session, actor.user_id)
        audit.record(
            session,
            action=audit.ACCESS_DENIED,
            actor=actor,
            project_id=project_id,
            key_id=key_id,
            details={"attempted": attempted, "role": role.value},
            request=request,
        )
        session.commit()
        raise PermissionDenied(
            f"Your role in this project is {role.value}; {attempted} needs {minimum.value} "
            "or higher. Ask a project owner to change your role."
        )
    return role
