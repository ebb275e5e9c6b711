"""Projects and their members."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import col, select

from meshkeys.models import (
    MemberPublic,
    Membership,
    Permission,
    Project,
    ProjectPublic,
    Role,
    User,
)
from meshkeys.services import access, audit, auth
from meshkeys.services.context import Actor
from meshkeys.services.errors import Conflict, InvalidInput, NotFound, clean_name
from meshkeys.services.uow import UnitOfWork

LAST_OWNER = "A project needs at least one owner; make someone else owner first."
NOT_A_MEMBER = "That user is not a member of this project."


def _role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise InvalidInput(f"role must be one of: {', '.join(Role)}") from exc


def _add_project(uow: UnitOfWork, *, name: str) -> ProjectPublic:
    """Insert a project owned by the acting user, with its audit event; the caller commits."""
    now = uow.now
    project = Project(name=name, created_at=now)
    uow.session.add(project)
    uow.session.flush()
    uow.session.add(
        Membership(
            project_id=project.id, user_id=uow.actor.user_id, role=Role.OWNER, created_at=now
        )
    )
    uow.session.flush()
    audit.record(uow, action=audit.PROJECT_CREATED, project_id=project.id, details={"name": name})
    return ProjectPublic(id=project.id, name=name, created_at=now, role=Role.OWNER)


def create_project(uow: UnitOfWork, *, name: str) -> ProjectPublic:
    """Create a project with the acting user as its owner.

    Names are unique among the projects a user belongs to (case-insensitive), so the project
    switcher never shows two entries that read the same.
    """
    name = clean_name(name, what="project")
    uow.serialize(f"meshkeys.projects-of:{uow.actor.user_id}")
    taken = uow.session.exec(
        select(Project.id)
        .join(Membership, col(Membership.project_id) == Project.id)
        .where(
            col(Membership.user_id) == uow.actor.user_id,
            sa.func.lower(col(Project.name)) == name.lower(),
        )
    ).first()
    if taken is not None:
        raise Conflict(f"You already have a project named '{name}'. Choose another name.")
    project = _add_project(uow, name=name)
    uow.commit()
    return project


def _in_scope(uow: UnitOfWork) -> list[sa.ColumnElement[bool]]:
    """A project-scoped token sees its one project only."""
    scope = uow.actor.scope
    if scope is None or scope.project_id is None:
        return []
    return [col(Membership.project_id) == scope.project_id]


def list_projects(uow: UnitOfWork) -> list[ProjectPublic]:
    uow.read_only()
    rows = uow.session.exec(
        select(Project, Membership.role)
        .join(Membership, col(Membership.project_id) == Project.id)
        .where(Membership.user_id == uow.actor.user_id, *_in_scope(uow))
        .order_by(col(Project.name), col(Project.id))
    ).all()
    return [
        ProjectPublic(
            id=p.id,
            name=p.name,
            created_at=p.created_at,
            role=Role(role),
            publish_public_keys=p.publish_public_keys,
        )
        for p, role in rows
    ]


def find_or_create_project(uow: UnitOfWork, *, name: str) -> uuid.UUID:
    """The acting user's project of this name, created if there is none (demo data)."""
    found = uow.session.exec(
        select(Project.id)
        .join(Membership, col(Membership.project_id) == Project.id)
        .where(Project.name == name, Membership.user_id == uow.actor.user_id)
    ).first()
    return found if found is not None else create_project(uow, name=name).id


def get_project(uow: UnitOfWork, *, project_id: uuid.UUID) -> ProjectPublic:
    uow.read_only()
    role = access.require(
        uow, project_id=project_id, permission=None, attempted="viewing the project"
    )
    project = uow.session.get(Project, project_id)
    if project is None:
        raise NotFound(access.PROJECT_NOT_FOUND)
    return ProjectPublic(
        id=project.id,
        name=project.name,
        created_at=project.created_at,
        role=role,
        publish_public_keys=project.publish_public_keys,
    )


def list_members(uow: UnitOfWork, *, project_id: uuid.UUID) -> list[MemberPublic]:
    uow.read_only()
    access.require(uow, project_id=project_id, permission=None, attempted="listing members")
    rows = uow.session.exec(
        select(Membership, User.email)
        .join(User, col(User.id) == Membership.user_id)
        .where(Membership.project_id == project_id)
        .order_by(col(User.email))
    ).all()
    return [
        MemberPublic(user_id=m.user_id, email=e, role=m.role, created_at=m.created_at)
        for m, e in rows
    ]


def _lock_members(uow: UnitOfWork, project_id: uuid.UUID) -> None:
    """Membership changes of one project run one at a time, so "at least one owner" holds
    under concurrent demotions and removals (each would otherwise count two owners)."""
    uow.serialize(f"meshkeys.members:{project_id}")


def _owners(uow: UnitOfWork, project_id: uuid.UUID) -> int:
    query = select(sa.func.count()).where(
        col(Membership.project_id) == project_id, col(Membership.role) == Role.OWNER
    )
    return uow.session.exec(query).one()


def _member_for_change(uow: UnitOfWork, project_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    _lock_members(uow, project_id)
    member = uow.session.get(Membership, (project_id, user_id), with_for_update=True)
    if member is None:
        raise NotFound(NOT_A_MEMBER)
    return member


def add_member(
    uow: UnitOfWork, *, project_id: uuid.UUID, email: str, role: str | Role
) -> MemberPublic:
    role = _role(role)
    access.require(
        uow, project_id=project_id, permission=Permission.MEMBERS_WRITE, attempted="adding a member"
    )
    _lock_members(uow, project_id)
    user = auth.find_user(uow, email=email)
    if uow.session.get(Membership, (project_id, user.id)) is not None:
        raise Conflict(f"{user.email} is already a member; change their role instead.")
    member = Membership(project_id=project_id, user_id=user.id, role=role, created_at=uow.now)
    uow.session.add(member)
    audit.record(
        uow,
        action=audit.MEMBER_ADDED,
        project_id=project_id,
        details={"user_id": str(user.id), "email": user.email, "role": role},
    )
    result = MemberPublic(user_id=user.id, email=user.email, role=role, created_at=uow.now)
    uow.commit()
    return result


def change_member_role(
    uow: UnitOfWork, *, project_id: uuid.UUID, user_id: uuid.UUID, role: str | Role
) -> MemberPublic:
    role = _role(role)
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.MEMBERS_WRITE,
        attempted="changing a member's role",
    )
    member = _member_for_change(uow, project_id, user_id)
    if member.role == Role.OWNER and role != Role.OWNER and _owners(uow, project_id) <= 1:
        raise Conflict(LAST_OWNER)
    old = member.role
    member.role = role
    uow.session.add(member)
    email = uow.session.exec(select(User.email).where(User.id == user_id)).one()
    audit.record(
        uow,
        action=audit.MEMBER_ROLE_CHANGED,
        project_id=project_id,
        details={"user_id": str(user_id), "email": email, "old_role": old, "role": role},
    )
    uow.commit()
    return MemberPublic(user_id=user_id, email=email, role=role, created_at=member.created_at)


def remove_member(uow: UnitOfWork, *, project_id: uuid.UUID, user_id: uuid.UUID) -> None:
    access.require(
        uow,
        project_id=project_id,
        permission=Permission.MEMBERS_WRITE,
        attempted="removing a member",
    )
    member = _member_for_change(uow, project_id, user_id)
    if member.role == Role.OWNER and _owners(uow, project_id) <= 1:
        raise Conflict(LAST_OWNER)
    email = uow.session.exec(select(User.email).where(User.id == user_id)).one()
    role = member.role
    uow.session.delete(member)
    audit.record(
        uow,
        action=audit.MEMBER_REMOVED,
        project_id=project_id,
        details={"user_id": str(user_id), "email": email, "role": role},
    )
    uow.commit()


def setup_first_admin(
    uow: UnitOfWork, *, email: str, password: str, project_name: str
) -> tuple[Actor, ProjectPublic]:
    """First run only: create the first user and their first project, in one commit.

    The check and the insert happen under one lock, so two people racing through the
    first-run form cannot both become the first admin; both rows exist or neither.
    """
    project_name = clean_name(project_name, what="project")  # checked before any write
    uow.serialize("meshkeys.first-admin")
    if not auth.needs_setup(uow):
        raise Conflict("meshkeys is already set up; sign in instead.")
    user = auth.add_user(uow, email=email, password=password)
    actor = Actor(user_id=user.id, email=user.email)
    uow.act_as(actor)
    project = _add_project(uow, name=project_name)
    uow.commit()
    return actor, project
