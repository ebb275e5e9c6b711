"""Projects and their members."""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from meshkeys import clock, db
from meshkeys.models import MemberPublic, Membership, Project, ProjectPublic, Role, User
from meshkeys.services import access, audit, auth
from meshkeys.services.context import Actor, RequestInfo
from meshkeys.services.errors import Conflict, InvalidInput, NotFound, has_control_chars


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200 or has_control_chars(name):
        raise InvalidInput("Give the project a name of 1 to 200 printable characters.")
    return name


def _role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise InvalidInput("role must be one of: owner, admin, viewer") from exc


def create_project(
    session: Session, *, actor: Actor, name: str, request: RequestInfo | None = None
) -> ProjectPublic:
    """Create a project with the actor as its owner."""
    name = _clean_name(name)
    now = clock.now()
    project = Project(name=name, created_at=now)
    session.add(project)
    session.flush()
    db.bind_actor(session, actor.user_id)
    session.add(
        Membership(
            project_id=project.id, user_id=actor.user_id, role=Role.OWNER.value, created_at=now
        )
    )
    session.flush()
    audit.record(
        session,
        action=audit.PROJECT_CREATED,
        actor=actor,
        project_id=project.id,
        details={"name": name},
        request=request,
    )
    session.commit()
    return ProjectPublic(
        id=project.id, name=project.name, created_at=project.created_at, role=Role.OWNER
    )


def list_projects(session: Session, *, actor: Actor) -> list[ProjectPublic]:
    db.read_only(session)
    rows = session.exec(
        select(Project, Membership.role)
        .join(Membership, col(Membership.project_id) == Project.id)
        .where(Membership.user_id == actor.user_id)
        .order_by(Project.name, Project.id)
    ).all()
    return [
        ProjectPublic(id=p.id, name=p.name, created_at=p.created_at, role=Role(r)) for p, r in rows
    ]


def get_project(session: Session, *, actor: Actor, project_id: uuid.UUID) -> ProjectPublic:
    db.read_only(session)
    role = access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.VIEWER,
        attempted="viewing the project",
    )
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(access.PROJECT_NOT_FOUND)
    return ProjectPublic(id=project.id, name=project.name, created_at=project.created_at, role=role)


def list_members(session: Session, *, actor: Actor, project_id: uuid.UUID) -> list[MemberPublic]:
    db.read_only(session)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.VIEWER,
        attempted="listing members",
    )
    rows = session.exec(
        select(Membership, User.email)
        .join(User, col(User.id) == Membership.user_id)
        .where(Membership.project_id == project_id)
        .order_by(User.email)
    ).all()
    return [
        MemberPublic(user_id=m.user_id, email=e, role=Role(m.role), created_at=m.created_at)
        for m, e in rows
    ]


def add_member(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    email: str,
    role: str | Role,
    request: RequestInfo | None = None,
) -> MemberPublic:
    role = _role(role)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.OWNER,
        attempted="adding a member",
        request=request,
    )
    _lock_members(session, project_id)
    user = auth.find_user(session, email=email)
    if session.get(Membership, (project_id, user.id)) is not None:
        raise Conflict(f"{user.email} is already a member; change their role instead.")
    member = Membership(
        project_id=project_id, user_id=user.id, role=role.value, created_at=clock.now()
    )
    session.add(member)
    audit.record(
        session,
        action=audit.MEMBER_ADDED,
        actor=actor,
        project_id=project_id,
        details={"user_id": str(user.id), "email": user.email, "role": role.value},
        request=request,
    )
    session.commit()
    return MemberPublic(user_id=user.id, email=user.email, role=role, created_at=member.created_at)


def _lock_members(session: Session, project_id: uuid.UUID) -> None:
    """Membership changes of one project run one at a time, so "at least one owner" holds
    under concurrent demotions and removals (each would otherwise count two owners)."""
    db.serialize(session, f"meshkeys.members:{project_id}")


def _owners(session: Session, project_id: uuid.UUID) -> int:
    return len(
        session.exec(
            select(Membership.user_id).where(
                Membership.project_id == project_id, Membership.role == Role.OWNER.value
            )
        ).all()
    )


def change_member_role(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str | Role,
    request: RequestInfo | None = None,
) -> MemberPublic:
    role = _role(role)
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.OWNER,
        attempted="changing a member's role",
        request=request,
    )
    _lock_members(session, project_id)
    member = session.get(Membership, (project_id, user_id), with_for_update=True)
    if member is None:
        raise NotFound("That user is not a member of this project.")
    if member.role == Role.OWNER.value and role != Role.OWNER and _owners(session, project_id) <= 1:
        raise Conflict("A project needs at least one owner; make someone else owner first.")
    old = member.role
    member.role = role.value
    session.add(member)
    user = session.get(User, user_id)
    audit.record(
        session,
        action=audit.MEMBER_ROLE_CHANGED,
        actor=actor,
        project_id=project_id,
        details={
            "user_id": str(user_id),
            "email": user.email if user else None,
            "old_role": old,
            "role": role.value,
        },
        request=request,
    )
    session.commit()
    return MemberPublic(
        user_id=user_id, email=user.email if user else "", role=role, created_at=member.created_at
    )


def remove_member(
    session: Session,
    *,
    actor: Actor,
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    request: RequestInfo | None = None,
) -> None:
    access.require(
        session,
        actor=actor,
        project_id=project_id,
        minimum=Role.OWNER,
        attempted="removing a member",
        request=request,
    )
    _lock_members(session, project_id)
    member = session.get(Membership, (project_id, user_id), with_for_update=True)
    if member is None:
        raise NotFound("That user is not a member of this project.")
    if member.role == Role.OWNER.value and _owners(session, project_id) <= 1:
        raise Conflict("A project needs at least one owner; make someone else owner first.")
    user = session.get(User, user_id)
    session.delete(member)
    audit.record(
        session,
        action=audit.MEMBER_REMOVED,
        actor=actor,
        project_id=project_id,
        details={
            "user_id": str(user_id),
            "email": user.email if user else None,
            "role": member.role,
        },
        request=request,
    )
    session.commit()


def setup_first_admin(
    session: Session,
    *,
    email: str,
    password: str,
    project_name: str,
    request: RequestInfo | None = None,
) -> tuple[Actor, ProjectPublic]:
    """First run only: create the first user and their first project.

    The check and the insert happen under one lock, so two people racing
    through the first-run form cannot both become the first admin.
    """
    project_name = _clean_name(project_name)  # checked before anything is written
    db.serialize(session, "meshkeys.first-admin")
    if not auth.needs_setup(session):
        raise Conflict("meshkeys is already set up; sign in instead.")
    # One commit for the user and the project (in create_project): both exist or neither.
    user = auth.create_user(session, email=email, password=password, commit=False)
    actor = Actor(user_id=user.id, email=user.email)
    project = create_project(session, actor=actor, name=project_name, request=request)
    return actor, project
