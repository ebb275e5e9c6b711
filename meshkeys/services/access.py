"""Authorization: who may do what in which project. Called inside every service."""

from __future__ import annotations

import uuid

from sqlmodel import select

from meshkeys.models import Membership, Role
from meshkeys.services import audit
from meshkeys.services.errors import NotFound, PermissionDenied
from meshkeys.services.uow import UnitOfWork

RANK = {Role.VIEWER: 1, Role.ADMIN: 2, Role.OWNER: 3}

PROJECT_NOT_FOUND = "Project not found, or you are not a member of it. Ask an owner to add you."


def role_of(uow: UnitOfWork, project_id: uuid.UUID) -> Role | None:
    """The acting user's role in a project, or None for a non-member."""
    role = uow.session.exec(
        select(Membership.role).where(
            Membership.project_id == project_id, Membership.user_id == uow.actor.user_id
        )
    ).first()
    return Role(role) if role is not None else None


def require(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    minimum: Role,
    attempted: str,
    not_found: str = PROJECT_NOT_FOUND,
    key_id: uuid.UUID | None = None,
) -> Role:
    """Check the acting user's role; audit and refuse if it is too low.

    Non-members get ``NotFound`` (never reveal that a project exists). Members below
    ``minimum`` get ``PermissionDenied``; the transaction so far is rolled back and an
    ``access.denied`` event is committed on its own before the refusal is raised.
    """
    role = role_of(uow, project_id)
    if role is None:
        raise NotFound(not_found)
    if RANK[role] < RANK[minimum]:
        uow.rollback()
        audit.record(
            uow,
            action=audit.ACCESS_DENIED,
            project_id=project_id,
            key_id=key_id,
            details={"attempted": attempted, "role": role},
        )
        uow.commit()
        raise PermissionDenied(
            f"Your role in this project is {role}; {attempted} needs {minimum} "
            "or higher. Ask a project owner to change your role."
        )
    return role
