"""Authorization: who may do what in which project. Called inside every service.

Every project operation requires one ``Permission``. A role grants a set of permissions
(``ROLE_PERMISSIONS``); an API token narrows its user to a project and a subset of
permissions (``Actor.scope``). What an actor may do is the intersection, computed at each
call from the user's CURRENT role: demote the user and their tokens shrink with them.
"""

from __future__ import annotations

import uuid

from sqlmodel import select

from meshkeys.models import Membership, Permission, Role
from meshkeys.services import audit
from meshkeys.services.errors import NotFound, PermissionDenied
from meshkeys.services.uow import UnitOfWork

RANK = {Role.VIEWER: 1, Role.ADMIN: 2, Role.OWNER: 3}

_VIEWER = frozenset({Permission.KEYS_READ, Permission.WEBHOOKS_VERIFY, Permission.AUDIT_READ})
_ADMIN = _VIEWER | {Permission.KEYS_WRITE, Permission.WEBHOOKS_SIGN}
# Viewers verify but do not sign: signing is acting as the sender (docs/DECISIONS.md).
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.ADMIN: _ADMIN,
    Role.OWNER: _ADMIN | {Permission.MEMBERS_WRITE},
}

PROJECT_NOT_FOUND = "Project not found, or you are not a member of it. Ask an owner to add you."


def lowest_role(permission: Permission) -> Role:
    """The lowest role that grants ``permission``."""
    return min(
        (role for role, granted in ROLE_PERMISSIONS.items() if permission in granted),
        key=RANK.__getitem__,
    )


def role_of(uow: UnitOfWork, project_id: uuid.UUID) -> Role | None:
    """The acting user's role in a project as the actor may use it: None for a non-member,
    and None for a project outside the actor's token scope (it must not learn it exists)."""
    scope = uow.actor.scope
    if scope is not None and scope.project_id is not None and scope.project_id != project_id:
        return None
    role = uow.session.exec(
        select(Membership.role).where(
            Membership.project_id == project_id, Membership.user_id == uow.actor.user_id
        )
    ).first()
    return Role(role) if role is not None else None


def allowed(role: Role, permission: Permission, scope_permissions: frozenset[str] | None) -> bool:
    """Whether ``role`` narrowed by a token's permissions (None: no token) grants ``permission``."""
    in_role = permission in ROLE_PERMISSIONS[role]
    return in_role and (scope_permissions is None or permission in scope_permissions)


def permits(uow: UnitOfWork, role: Role, project_id: uuid.UUID, permission: Permission) -> bool:
    """Whether the actor, whose role in the project is ``role`` (a cached one), may use
    ``permission`` there: the role and the token's scope both grant it. A False is no
    refusal: the caller asks ``require``, which reads the role afresh and audits."""
    scope = uow.actor.scope
    in_scope = scope is None or scope.project_id in (None, project_id)
    granted = None if scope is None else scope.permissions
    return in_scope and allowed(role, permission, granted)


def require(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    permission: Permission | None,
    attempted: str,
    not_found: str = PROJECT_NOT_FOUND,
    key_id: uuid.UUID | None = None,
) -> Role:
    """Check that the actor may use ``permission`` in the project; audit and refuse if not.

    ``permission`` None asks for membership only (viewing the project and its members).
    Non-members, and a token scoped to another project, get ``NotFound`` (never reveal that a
    project exists). A role that lacks the permission, or a token that lacks it, gets
    ``PermissionDenied`` naming it; the transaction so far is rolled back and an
    ``access.denied`` event (with the missing ``permission``) is committed on its own before
    the refusal is raised.
    """
    role = role_of(uow, project_id)
    if role is None:
        raise NotFound(not_found)
    if permission is None:
        return role
    scope = uow.actor.scope
    if permission not in ROLE_PERMISSIONS[role]:
        minimum = lowest_role(permission)
        message = (
            f"Your role in this project is {role}; {attempted} needs {minimum} or higher "
            f"(the '{permission}' permission). Ask a project owner to change your role."
        )
    elif scope is not None and permission not in scope.permissions:
        message = (
            f"this token lacks the '{permission}' permission ({attempted} needs it). "
            "Create a token that has it on /settings/tokens."
        )
    else:
        return role
    uow.rollback()
    details: dict[str, object] = {
        "attempted": attempted,
        "role": role,
        "permission": str(permission),
    }
    if scope is not None:
        details["token_id"] = str(scope.token_id)
    audit.record(
        uow,
        action=audit.ACCESS_DENIED,
        project_id=project_id,
        key_id=key_id,
        details=details,
    )
    uow.commit()
    raise PermissionDenied(message)
