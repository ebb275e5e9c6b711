"""A transaction acting as one user, with raw SQL as the runtime role, reaches only its own rows.

Each attack binds the row-level-security context by hand (``meshkeys.user_id``, as the unit of
work does) on the test's connection, which runs as the app role, and tries what a bug in a
service, or an injected statement, could: claim another project, read another user's tokens,
edit another project, forge account events. The policies are migration 0002's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from meshkeys.crypto.secrets import hash_token
from meshkeys.models import (
    NIL_UUID,
    ApiToken,
    AuditEvent,
    AuditHead,
    Invite,
    Membership,
    Project,
    SignatureKey,
    UserSession,
)
from meshkeys.services import auth, invites, key_commands, projects

RLS_REFUSED = "row-level security"


def _act_as(session, user_id) -> None:
    session.execute(
        sa.text(
            "SELECT set_config('meshkeys.user_id', :uid, true), "
            "set_config('meshkeys.system', 'off', true)"
        ),
        {"uid": str(user_id) if user_id else ""},
    )


def _refused(session, statement) -> None:
    session.execute(sa.text("SAVEPOINT attack"))
    with pytest.raises(sa.exc.ProgrammingError, match=RLS_REFUSED):
        session.execute(statement)
    session.execute(sa.text("ROLLBACK TO SAVEPOINT attack"))


def _role(session, project_id, user_id):
    _act_as(session, None)
    session.execute(sa.text("SELECT set_config('meshkeys.system', 'on', true)"))
    return session.execute(
        sa.select(Membership.role).where(
            Membership.project_id == project_id, Membership.user_id == user_id
        )
    ).scalar()


def test_nobody_makes_themselves_owner_of_another_project(session, world):
    claim = sa.insert(Membership).values(
        project_id=world.project_id,
        user_id=world.outsider.user_id,
        role="owner",
        created_at=datetime.now(UTC),
    )
    _act_as(session, world.outsider.user_id)  # a stranger to the project
    _refused(session, claim)
    _act_as(session, world.viewer.user_id)  # a member, but not an owner
    _refused(session, claim.values(user_id=world.viewer.user_id))
    _act_as(session, world.admin.user_id)
    _refused(session, claim.values(user_id=world.admin.user_id))
    # Promoting one's own membership: the row is not the viewer's to change.
    _act_as(session, world.viewer.user_id)
    changed = session.execute(
        sa.update(Membership).where(Membership.project_id == world.project_id).values(role="owner")
    ).rowcount
    assert changed == 0
    assert _role(session, world.project_id, world.viewer.user_id) == "viewer"
    assert _role(session, world.project_id, world.outsider.user_id) is None


def test_a_new_project_gets_its_creator_as_first_owner_and_no_one_else(session, world):
    project_id = uuid.uuid4()
    _act_as(session, world.outsider.user_id)
    session.execute(
        sa.insert(Project).values(
            id=project_id, name="mine", created_at=datetime.now(UTC), key_count=0, revoked_count=0
        )
    )
    first = dict(project_id=project_id, role="owner", created_at=datetime.now(UTC))
    # Not as somebody else, and not below owner.
    _refused(session, sa.insert(Membership).values(user_id=world.owner.user_id, **first))
    _refused(
        session,
        sa.insert(Membership).values(**{**first, "role": "viewer"}, user_id=world.outsider.user_id),
    )
    session.execute(sa.insert(Membership).values(user_id=world.outsider.user_id, **first))
    # Once it has a member, "first owner" no longer applies: an existing project's owners decide.
    _act_as(session, world.viewer.user_id)
    _refused(session, sa.insert(Membership).values(user_id=world.viewer.user_id, **first))


def test_nobody_removes_members_of_a_project_they_do_not_own(session, world):
    for user in (world.outsider, world.admin):
        _act_as(session, user.user_id)
        gone = session.execute(
            sa.delete(Membership).where(Membership.project_id == world.project_id)
        ).rowcount
        assert gone == 0
    assert _role(session, world.project_id, world.owner.user_id) == "owner"


def test_another_users_api_tokens_are_invisible_and_untouchable(uow, session, world):
    created = auth.create_api_token(uow(world.owner), name="ci")
    _act_as(session, world.outsider.user_id)
    assert session.exec(select(ApiToken)).all() == []
    assert session.get(ApiToken, created.id, populate_existing=True) is None
    revoked = session.execute(
        sa.update(ApiToken).where(ApiToken.id == created.id).values(revoked_at=sa.func.now())
    ).rowcount
    assert revoked == 0
    _refused(
        session,
        sa.insert(ApiToken).values(
            id=uuid.uuid4(),
            user_id=world.owner.user_id,
            name="planted",
            token_prefix="mk_abcd",
            token_hash="0" * 64,
            created_at=datetime.now(UTC),
        ),
    )
    _act_as(session, world.owner.user_id)
    assert [t.id for t in session.exec(select(ApiToken)).all()] == [created.id]


def test_another_users_browser_sessions_are_invisible_and_none_is_planted(uow, session, world):
    with uow() as unit:
        auth.authenticate(unit, email=world.owner.email, password="correct-horse-battery")
        auth.start_session(unit)
    _act_as(session, world.outsider.user_id)
    assert session.exec(select(UserSession)).all() == []
    ended = session.execute(sa.update(UserSession).values(ended_at=sa.func.now())).rowcount
    assert ended == 0
    # Planting a session for the owner, whose token the attacker knows, would sign them in as
    # the owner.
    now = datetime.now(UTC)
    _refused(
        session,
        sa.insert(UserSession).values(
            id=uuid.uuid4(),
            user_id=world.owner.user_id,
            token_hash="1" * 64,
            created_at=now,
            expires_at=now + timedelta(hours=1),
        ),
    )
    _act_as(session, world.owner.user_id)
    assert len(session.exec(select(UserSession)).all()) == 1


def test_another_projects_row_is_invisible_and_unchangeable(session, world):
    _act_as(session, world.outsider.user_id)
    assert session.get(Project, world.project_id, populate_existing=True) is None
    assert (
        session.execute(
            sa.update(Project).where(Project.id == world.project_id).values(name="pwned")
        ).rowcount
        == 0
    )
    assert session.execute(sa.delete(Project).where(Project.id == world.project_id)).rowcount == 0
    # Its chain's head cannot be moved back either.
    assert (
        session.execute(
            sa.update(AuditHead).where(AuditHead.chain_id == world.project_id).values(seq=0)
        ).rowcount
        == 0
    )
    # A member who is not an owner cannot delete it.
    _act_as(session, world.admin.user_id)
    assert session.execute(sa.delete(Project).where(Project.id == world.project_id)).rowcount == 0
    _act_as(session, world.viewer.user_id)
    assert session.get(Project, world.project_id, populate_existing=True).name.endswith("Payments")


def _event(chain_id, actor, action="login.succeeded", **about):
    return sa.insert(AuditEvent).values(
        id=uuid.uuid4(),
        chain_id=chain_id,
        seq=10_000,
        project_id=about.get("project_id", None if chain_id == NIL_UUID else chain_id),
        actor_id=actor.user_id,
        actor_email=actor.email,
        action=action,
        details={},
        created_at=datetime.now(UTC),
        prev_hash="0" * 64,
        hash="0" * 64,
    )


def test_nobody_writes_audit_events_in_another_users_name(session, world):
    # Acting as the outsider: a sign-in of the owner on the account chain.
    _act_as(session, world.outsider.user_id)
    _refused(session, _event(NIL_UUID, world.owner))
    # Acting as nobody (before sign-in): the same forgery.
    _act_as(session, None)
    _refused(session, _event(NIL_UUID, world.owner))
    # An admin of the project: "the owner revealed a key", on the project's chain.
    _act_as(session, world.admin.user_id)
    _refused(session, _event(world.project_id, world.owner, action="key.revealed"))
    # A stranger, in their own name, on a project they are not in.
    _act_as(session, world.outsider.user_id)
    _refused(session, _event(world.project_id, world.outsider, action="key.revealed"))
    # In one's own name, on one's own chain, but about another project (or, on the account
    # chain, about any project).
    about = {"project_id": world.project_id}
    _refused(session, _event(world.other_project_id, world.outsider, "key.revealed", **about))
    _refused(session, _event(NIL_UUID, world.outsider, "key.revealed", **about))
    # In one's own name, on one's own chains: what the services do.
    session.execute(sa.text("SAVEPOINT own"))
    session.execute(_event(NIL_UUID, world.outsider))
    session.execute(_event(world.other_project_id, world.outsider, action="key.revealed"))
    session.execute(sa.text("ROLLBACK TO SAVEPOINT own"))


def test_a_viewer_cannot_write_keys_or_the_project_row(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="prod")
    _act_as(session, world.viewer.user_id)
    assert session.get(SignatureKey, key.id, populate_existing=True) is not None  # may read
    revoked = session.execute(
        sa.update(SignatureKey).where(SignatureKey.id == key.id).values(status="revoked")
    ).rowcount
    renamed = session.execute(
        sa.update(Project).where(Project.id == world.project_id).values(name="pwned")
    ).rowcount
    deleted = session.execute(sa.delete(SignatureKey).where(SignatureKey.id == key.id)).rowcount
    assert (revoked, renamed, deleted) == (0, 0, 0)
    _refused(
        session,
        sa.insert(SignatureKey).values(
            id=uuid.uuid4(),
            project_id=world.project_id,
            name="planted",
            name_search="planted",
            key="mk1.x.y",
            key_hint="abcd",
            status="active",
            created_at=datetime.now(UTC),
        ),
    )


def test_the_system_step_before_sign_in_can_only_read(uow):
    with uow() as unit, unit.system_step():
        assert unit.session.execute(sa.select(sa.func.count()).select_from(ApiToken)).scalar() >= 0
        with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
            unit.session.execute(sa.delete(ApiToken))


def test_a_project_scoped_token_reaches_no_other_projects_rows_even_with_raw_sql(
    session, uow, world
):
    """Migration 0004: the unit of work tells PostgreSQL a token's project scope
    (``meshkeys.project_scope``), and the policies narrow the user's memberships to it. A
    service that forgot its check, or an injected statement, still sees one project."""
    from meshkeys.services import projects
    from meshkeys.services.context import Actor, TokenScope

    projects.add_member(
        uow(world.outsider),
        project_id=world.other_project_id,
        email=world.admin.email,
        role="admin",
    )
    mine = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="p")
    other = key_commands.generate_key(uow(world.admin), project_id=world.other_project_id, name="q")
    scope = TokenScope(token_id=uuid.uuid4(), project_id=world.project_id, permissions=frozenset())
    scoped = Actor(user_id=world.admin.user_id, email=world.admin.email, scope=scope)

    def reach(actor) -> tuple[set, set, set]:
        unit = uow(actor)
        keys = set(unit.session.exec(select(SignatureKey.id)).all())
        found = set(unit.session.exec(select(Project.id)).all())
        chains = set(unit.session.exec(select(AuditEvent.chain_id)).all()) - {NIL_UUID}
        return keys, found, chains

    both = {world.project_id, world.other_project_id}
    assert reach(world.admin) == ({mine.id, other.id}, both, both)
    assert reach(scoped) == ({mine.id}, {world.project_id}, {world.project_id})
    unit = uow(scoped)
    _refused(
        unit.session,
        sa.insert(SignatureKey).values(
            id=uuid.uuid4(),
            project_id=world.other_project_id,
            name="forged",
            name_search="forged",
            key="x",
            key_hint="x",
            status="active",
            created_at=datetime.now(UTC),
            created_by=world.admin.user_id,
        ),
    )
    revoked = unit.session.execute(
        sa.update(SignatureKey).where(SignatureKey.id == other.id).values(status="revoked")
    ).rowcount
    assert revoked == 0


def _present(session, token: str) -> None:
    session.execute(
        sa.text("SELECT set_config('meshkeys.invite_hash', :h, true)"), {"h": hash_token(token)}
    )


def test_invites_are_seen_by_their_owners_or_by_the_holder_of_the_link(uow, session, world):
    """Migration 0007: the runtime role lists no other project's invites; an invite is found
    only by the hash of its own token; a member cannot claim another role, nor use a link
    to join a project it was not made for."""
    mine = invites.create_invite(
        uow(world.owner), project_id=world.project_id, email="new@example.com", role="viewer"
    )
    other_project = projects.create_project(uow(world.outsider), name="Outsider's")
    theirs = invites.create_invite(
        uow(world.outsider), project_id=other_project.id, email="x@example.com", role="owner"
    )
    listed = sa.select(Invite.email)
    _act_as(session, world.outsider.user_id)
    assert session.execute(listed).scalars().all() == ["x@example.com"]
    _act_as(session, world.admin.user_id)  # a member, but not an owner: no invites
    assert session.execute(listed).scalars().all() == []
    _act_as(session, world.owner.user_id)
    assert session.execute(listed).scalars().all() == ["new@example.com"]
    _act_as(session, None)  # nobody: nothing, unless a link's token is presented
    assert session.execute(listed).scalars().all() == []
    _present(session, "mki_guessed")
    assert session.execute(listed).scalars().all() == []
    _present(session, mine.token)
    assert session.execute(listed).scalars().all() == ["new@example.com"]

    # The invite for one project lets nobody into another, nor with another role.
    newcomer = auth.create_user(uow(), email="new@example.com", password="a-long-password")
    _act_as(session, newcomer.id)
    _present(session, mine.token)
    session.execute(sa.update(Invite).where(Invite.id == mine.id).values(accepted_by=newcomer.id))
    join = sa.insert(Membership).values(
        project_id=other_project.id, user_id=newcomer.id, role="owner", created_at=datetime.now(UTC)
    )
    _refused(session, join)
    _refused(session, join.values(project_id=world.project_id, role="owner"))
    # The owner's invite of the other project cannot be edited without its token.
    assert (
        session.execute(
            sa.update(Invite).where(Invite.id == theirs.id).values(accepted_by=newcomer.id)
        ).rowcount
        == 0
    )
