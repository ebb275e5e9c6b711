"""Users, sign-in with rate limiting, sessions, API tokens, projects and members."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from meshkeys import clock
from meshkeys.models import Role, User
from meshkeys.services import auth, projects
from meshkeys.services.context import RequestInfo
from meshkeys.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from tests.helpers import PASSWORD, all_events, make_user

REQ = RequestInfo(client_ip="203.0.113.9", user_agent="pytest")


def test_passwords_are_stored_as_scrypt_hashes(session):
    make_user(session, "a@example.com")
    stored = session.exec(select(User.password_hash)).one()
    assert stored.startswith("scrypt$") and PASSWORD not in stored


@pytest.mark.parametrize("email,password", [("not-an-email", PASSWORD), ("a@example.com", "short")])
def test_create_user_validates(session, email, password):
    with pytest.raises(InvalidInput):
        auth.create_user(session, email=email, password=password)


def test_duplicate_email_is_a_conflict(session):
    make_user(session, "a@example.com")
    with pytest.raises(Conflict):
        auth.create_user(session, email="A@Example.com", password=PASSWORD)


def test_login_success_and_failure_are_audited(session):
    actor = make_user(session, "a@example.com")
    assert (
        auth.authenticate(session, email="A@example.com", password=PASSWORD, request=REQ) == actor
    )
    with pytest.raises(Unauthenticated, match="Email or password is wrong"):
        auth.authenticate(session, email="a@example.com", password="wrong-password", request=REQ)
    with pytest.raises(Unauthenticated, match="Email or password is wrong"):
        auth.authenticate(session, email="nobody@example.com", password=PASSWORD, request=REQ)
    rows = all_events(session)
    assert [(e.action, e.actor_email, e.client_ip) for e in rows] == [
        ("login.succeeded", "a@example.com", "203.0.113.9"),
        ("login.failed", "a@example.com", "203.0.113.9"),
        ("login.failed", "nobody@example.com", "203.0.113.9"),
    ]
    assert all("wrong-password" not in str(e.details) for e in rows)


def test_failed_logins_are_rate_limited_per_account_with_a_retry_time(session, monkeypatch):
    make_user(session, "a@example.com")
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start)
    for _ in range(auth.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(Unauthenticated):
            auth.authenticate(session, email="a@example.com", password="bad-password", request=REQ)
    with pytest.raises(RateLimited, match=r"Try again in \d+ seconds") as info:
        auth.authenticate(session, email="a@example.com", password=PASSWORD, request=REQ)
    assert 0 < info.value.retry_after <= 15 * 60 + 1
    monkeypatch.setattr(clock, "now", lambda: start + auth.LOGIN_WINDOW + timedelta(seconds=1))
    assert auth.authenticate(session, email="a@example.com", password=PASSWORD, request=REQ)


def test_failed_logins_are_rate_limited_per_ip(session):
    make_user(session, "victim@example.com")
    for i in range(auth.MAX_FAILURES_PER_IP):
        with pytest.raises(Unauthenticated):
            auth.authenticate(
                session, email=f"guess{i}@example.com", password="x" * 10, request=REQ
            )
    with pytest.raises(RateLimited):
        auth.authenticate(session, email="victim@example.com", password=PASSWORD, request=REQ)
    other_ip = RequestInfo(client_ip="198.51.100.1")
    assert auth.authenticate(
        session, email="victim@example.com", password=PASSWORD, request=other_ip
    )


def test_sessions_store_only_a_hash_and_end_server_side(session, monkeypatch):
    actor = make_user(session, "a@example.com")
    token = auth.start_session(session, actor=actor, request=REQ)
    from meshkeys.models import UserSession

    stored = session.exec(select(UserSession.token_hash)).one()
    assert token not in stored
    assert auth.actor_for_session(session, token=token) == actor
    assert auth.actor_for_session(session, token=token + "x") is None
    assert auth.actor_for_session(session, token=None) is None
    auth.end_session(session, token=token)
    assert auth.actor_for_session(session, token=token) is None

    second = auth.start_session(session, actor=actor)
    later = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert auth.actor_for_session(session, token=second) is None  # expired


def test_api_tokens_are_shown_once_hashed_and_revocable(session):
    actor = make_user(session, "a@example.com")
    created = auth.create_api_token(session, actor=actor, name="ci")
    assert created.token.startswith("mk_") and created.token_prefix == created.token[:7]
    assert auth.actor_for_api_token(session, token=created.token) == actor
    listed = auth.list_api_tokens(session, actor=actor)
    assert [t.id for t in listed] == [created.id] and listed[0].last_used_at is not None
    assert "token" not in listed[0].model_dump()
    for forged in (None, "", "mk_forged", "Bearer x", created.token[:-1]):
        with pytest.raises(Unauthenticated):
            auth.actor_for_api_token(session, token=forged)
    auth.revoke_api_token(session, actor=actor, token_id=created.id)
    with pytest.raises(Unauthenticated):
        auth.actor_for_api_token(session, token=created.token)
    with pytest.raises(Conflict):
        auth.revoke_api_token(session, actor=actor, token_id=created.id)
    other = make_user(session, "b@example.com")
    with pytest.raises(NotFound):
        auth.revoke_api_token(session, actor=other, token_id=created.id)
    actions = [e.action for e in all_events(session)]
    assert actions == ["token.created", "token.revoked"]


def test_first_run_setup_only_once(session):
    assert auth.needs_setup(session)
    actor, project = projects.setup_first_admin(
        session, email="admin@example.com", password=PASSWORD, project_name="First"
    )
    assert not auth.needs_setup(session)
    assert [p.id for p in projects.list_projects(session, actor=actor)] == [project.id]
    with pytest.raises(Conflict, match="already set up"):
        projects.setup_first_admin(
            session, email="x@example.com", password=PASSWORD, project_name="X"
        )


def test_members_and_roles(session, world):
    members = projects.list_members(session, actor=world.viewer, project_id=world.project_id)
    assert {(m.email, m.role) for m in members} == {
        (world.owner.email, Role.OWNER),
        (world.admin.email, Role.ADMIN),
        (world.viewer.email, Role.VIEWER),
    }
    with pytest.raises(PermissionDenied):
        projects.add_member(
            session,
            actor=world.admin,
            project_id=world.project_id,
            email=world.outsider.email,
            role="viewer",
        )
    with pytest.raises(Conflict, match="already a member"):
        projects.add_member(
            session,
            actor=world.owner,
            project_id=world.project_id,
            email=world.admin.email,
            role="viewer",
        )
    with pytest.raises(InvalidInput):
        projects.add_member(
            session,
            actor=world.owner,
            project_id=world.project_id,
            email=world.outsider.email,
            role="god",
        )
    changed = projects.change_member_role(
        session,
        actor=world.owner,
        project_id=world.project_id,
        user_id=world.viewer.user_id,
        role="admin",
    )
    assert changed.role == Role.ADMIN
    with pytest.raises(Conflict, match="at least one owner"):
        projects.remove_member(
            session, actor=world.owner, project_id=world.project_id, user_id=world.owner.user_id
        )
    with pytest.raises(Conflict, match="at least one owner"):
        projects.change_member_role(
            session,
            actor=world.owner,
            project_id=world.project_id,
            user_id=world.owner.user_id,
            role="viewer",
        )
    projects.remove_member(
        session, actor=world.owner, project_id=world.project_id, user_id=world.viewer.user_id
    )
    with pytest.raises(NotFound):
        projects.get_project(session, actor=world.viewer, project_id=world.project_id)
    with pytest.raises(NotFound):
        projects.get_project(session, actor=world.outsider, project_id=world.project_id)
    actions = [e.action for e in all_events(session, world.project_id)]
    assert actions == [
        "project.created",
        "member.added",
        "member.added",
        "access.denied",
        "member.role_changed",
        "member.removed",
    ]


def test_a_failed_first_run_writes_nothing_and_can_be_retried(session):
    with pytest.raises(InvalidInput):
        projects.setup_first_admin(
            session, email="boss@example.com", password=PASSWORD, project_name="   "
        )
    session.rollback()
    assert auth.needs_setup(session)
    actor, project = projects.setup_first_admin(
        session, email="boss@example.com", password=PASSWORD, project_name="Main"
    )
    assert projects.list_projects(session, actor=actor)[0].id == project.id


@pytest.mark.parametrize("email", ["a\x00@example.com", "nul\x00"])
def test_control_characters_in_a_sign_in_are_a_clean_failure(session, email):
    make_user(session, "a@example.com")
    with pytest.raises(Unauthenticated):
        auth.authenticate(session, email=email, password=PASSWORD, request=REQ)
    assert all("\x00" not in e.actor_email for e in all_events(session))


@pytest.mark.parametrize("name", ["bad\x00name", "tab\tname"])
def test_project_and_token_names_refuse_control_characters(session, name):
    actor = make_user(session, "a@example.com")
    with pytest.raises(InvalidInput):
        projects.create_project(session, actor=actor, name=name)
    with pytest.raises(InvalidInput):
        auth.create_api_token(session, actor=actor, name=name)
