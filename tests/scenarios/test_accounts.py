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


def test_passwords_are_stored_as_scrypt_hashes(uow, session):
    make_user(uow, "a@example.com")
    stored = session.exec(select(User.password_hash)).one()
    assert stored.startswith("scrypt$") and PASSWORD not in stored


@pytest.mark.parametrize("email,password", [("not-an-email", PASSWORD), ("a@example.com", "short")])
def test_create_user_validates(uow, session, email, password):
    with pytest.raises(InvalidInput):
        auth.create_user(uow(), email=email, password=password)


def test_duplicate_email_is_a_conflict(uow, session):
    make_user(uow, "a@example.com")
    with pytest.raises(Conflict):
        auth.create_user(uow(), email="A@Example.com", password=PASSWORD)


def test_login_success_and_failure_are_audited(uow, session):
    actor = make_user(uow, "a@example.com")
    assert auth.authenticate(uow(request=REQ), email="A@example.com", password=PASSWORD) == actor
    with pytest.raises(Unauthenticated, match="Email or password is wrong"):
        auth.authenticate(uow(request=REQ), email="a@example.com", password="wrong-password")
    with pytest.raises(Unauthenticated, match="Email or password is wrong"):
        auth.authenticate(uow(request=REQ), email="nobody@example.com", password=PASSWORD)
    rows = all_events(uow)
    assert [(e.action, e.actor_email, e.client_ip) for e in rows] == [
        ("login.succeeded", "a@example.com", "203.0.113.9"),
        ("login.failed", "a@example.com", "203.0.113.9"),
        ("login.failed", "nobody@example.com", "203.0.113.9"),
    ]
    assert all("wrong-password" not in str(e.details) for e in rows)


def test_failed_logins_are_rate_limited_per_account_with_a_retry_time(uow, session, monkeypatch):
    make_user(uow, "a@example.com")
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start)
    for _ in range(auth.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(Unauthenticated):
            auth.authenticate(uow(request=REQ), email="a@example.com", password="bad-password")
    with pytest.raises(RateLimited, match=r"Try again in \d+ seconds") as info:
        auth.authenticate(uow(request=REQ), email="a@example.com", password=PASSWORD)
    assert 0 < info.value.retry_after <= 15 * 60 + 1
    monkeypatch.setattr(clock, "now", lambda: start + auth.LOGIN_WINDOW + timedelta(seconds=1))
    assert auth.authenticate(uow(request=REQ), email="a@example.com", password=PASSWORD)


ATTACKER = RequestInfo(client_ip="127.0.0.1", user_agent="attacker")
VICTIM = RequestInfo(client_ip="127.0.0.2", user_agent="victim")


def _fail(uow, request, email, times):
    for _ in range(times):
        with pytest.raises(Unauthenticated):
            auth.authenticate(uow(request=request), email=email, password="bad-password")


def test_an_attackers_failures_never_lock_out_the_account_from_another_address(uow, session):
    make_user(uow, "victim@example.com")
    _fail(uow, ATTACKER, "victim@example.com", auth.MAX_FAILURES_PER_ACCOUNT)
    # The attacker's own address is refused, even with the right password...
    with pytest.raises(RateLimited):
        auth.authenticate(uow(request=ATTACKER), email="victim@example.com", password=PASSWORD)
    # ...the victim, signing in from elsewhere, is not (and can still fail a few times).
    _fail(uow, VICTIM, "victim@example.com", auth.MAX_FAILURES_PER_ACCOUNT - 1)
    assert auth.authenticate(uow(request=VICTIM), email="victim@example.com", password=PASSWORD)


def test_one_noisy_address_does_not_lock_out_the_other_users_behind_it(uow, session):
    make_user(uow, "colleague@example.com")
    for i in range(30):  # more than any per-address limit would allow
        _fail(uow, ATTACKER, f"guess{i}@example.com", 1)
    _fail(uow, ATTACKER, "guess0@example.com", auth.MAX_FAILURES_PER_ACCOUNT - 1)
    with pytest.raises(RateLimited):
        auth.authenticate(uow(request=ATTACKER), email="guess0@example.com", password=PASSWORD)
    # Same address, another account: the colleague behind the same proxy signs in.
    same_address = RequestInfo(client_ip="127.0.0.1", user_agent="colleague")
    assert auth.authenticate(
        uow(request=same_address), email="colleague@example.com", password=PASSWORD
    )


def test_a_refused_attempt_checks_no_password_and_records_nothing(uow, session, monkeypatch):
    make_user(uow, "a@example.com")
    _fail(uow, ATTACKER, "a@example.com", auth.MAX_FAILURES_PER_ACCOUNT)
    checked = []
    monkeypatch.setattr(auth, "verify_password", lambda *a: checked.append(a) or True)
    with pytest.raises(RateLimited):
        auth.authenticate(uow(request=ATTACKER), email="a@example.com", password=PASSWORD)
    assert checked == []
    failed = [e for e in all_events(uow) if e.action == "login.failed"]
    assert len(failed) == auth.MAX_FAILURES_PER_ACCOUNT


def _token(uow, actor):
    with uow(actor) as unit:
        return auth.create_api_token(unit, name="ci").token


def test_bad_api_tokens_are_throttled_per_address_and_token_prefix(uow, session, world):
    good = _token(uow, world.admin)
    guess = good[:7] + "x" * (len(good) - 7)  # the same prefix, the wrong rest
    for _ in range(auth.MAX_TOKEN_FAILURES):
        with pytest.raises(Unauthenticated):
            auth.actor_for_api_token(uow(request=ATTACKER), token=guess)
    with pytest.raises(RateLimited, match=r"Too many failed API token attempts") as info:
        auth.actor_for_api_token(uow(request=ATTACKER), token=guess)
    assert info.value.retry_after > 0
    # While over the limit, even the right token with that prefix is refused from there...
    with pytest.raises(RateLimited):
        auth.actor_for_api_token(uow(request=ATTACKER), token=good)
    # ...but not from another address, and other tokens from the same address still work.
    assert auth.actor_for_api_token(uow(request=VICTIM), token=good).user_id == world.admin.user_id
    other = _token(uow, world.viewer)
    assert other[:7] != good[:7]
    assert (
        auth.actor_for_api_token(uow(request=ATTACKER), token=other).user_id == world.viewer.user_id
    )


def test_sessions_store_only_a_hash_and_end_server_side(uow, session, monkeypatch):
    actor = make_user(uow, "a@example.com")
    token = auth.start_session(uow(actor, request=REQ))
    from meshkeys.models import UserSession

    stored = session.exec(select(UserSession.token_hash)).one()
    assert token not in stored
    assert auth.actor_for_session(uow(), token=token) == actor
    assert auth.actor_for_session(uow(), token=token + "x") is None
    assert auth.actor_for_session(uow(), token=None) is None
    auth.end_session(uow(), token=token)
    assert auth.actor_for_session(uow(), token=token) is None

    second = auth.start_session(uow(actor))
    later = clock.now() + timedelta(days=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert auth.actor_for_session(uow(), token=second) is None  # expired


def test_api_tokens_are_shown_once_hashed_and_revocable(uow, session):
    actor = make_user(uow, "a@example.com")
    created = auth.create_api_token(uow(actor), name="ci")
    assert created.token.startswith("mk_") and created.token_prefix == created.token[:7]
    assert auth.actor_for_api_token(uow(), token=created.token).user_id == actor.user_id
    listed = auth.list_api_tokens(uow(actor))
    assert [t.id for t in listed] == [created.id] and listed[0].last_used_at is not None
    assert "token" not in listed[0].model_dump()
    for forged in (None, "", "mk_forged", "Bearer x", created.token[:-1]):
        with pytest.raises(Unauthenticated):
            auth.actor_for_api_token(uow(), token=forged)
    auth.revoke_api_token(uow(actor), token_id=created.id)
    with pytest.raises(Unauthenticated):
        auth.actor_for_api_token(uow(), token=created.token)
    with pytest.raises(Conflict):
        auth.revoke_api_token(uow(actor), token_id=created.id)
    other = make_user(uow, "b@example.com")
    with pytest.raises(NotFound):
        auth.revoke_api_token(uow(other), token_id=created.id)
    actions = [e.action for e in all_events(uow)]
    assert actions == ["token.created", "token.revoked"]


def test_first_run_setup_only_once(uow, session):
    assert auth.needs_setup(uow())
    actor, project = projects.setup_first_admin(
        uow(), email="admin@example.com", password=PASSWORD, project_name="First"
    )
    assert not auth.needs_setup(uow())
    assert [p.id for p in projects.list_projects(uow(actor))] == [project.id]
    with pytest.raises(Conflict, match="already set up"):
        projects.setup_first_admin(
            uow(), email="x@example.com", password=PASSWORD, project_name="X"
        )


def test_members_and_roles(uow, session, world):
    members = projects.list_members(uow(world.viewer), project_id=world.project_id)
    assert {(m.email, m.role) for m in members} == {
        (world.owner.email, Role.OWNER),
        (world.admin.email, Role.ADMIN),
        (world.viewer.email, Role.VIEWER),
    }
    with pytest.raises(PermissionDenied):
        projects.add_member(
            uow(world.admin), project_id=world.project_id, email=world.outsider.email, role="viewer"
        )
    with pytest.raises(Conflict, match="already a member"):
        projects.add_member(
            uow(world.owner), project_id=world.project_id, email=world.admin.email, role="viewer"
        )
    with pytest.raises(InvalidInput):
        projects.add_member(
            uow(world.owner), project_id=world.project_id, email=world.outsider.email, role="god"
        )
    changed = projects.change_member_role(
        uow(world.owner), project_id=world.project_id, user_id=world.viewer.user_id, role="admin"
    )
    assert changed.role == Role.ADMIN
    with pytest.raises(Conflict, match="at least one owner"):
        projects.remove_member(
            uow(world.owner), project_id=world.project_id, user_id=world.owner.user_id
        )
    with pytest.raises(Conflict, match="at least one owner"):
        projects.change_member_role(
            uow(world.owner),
            project_id=world.project_id,
            user_id=world.owner.user_id,
            role="viewer",
        )
    projects.remove_member(
        uow(world.owner), project_id=world.project_id, user_id=world.viewer.user_id
    )
    with pytest.raises(NotFound):
        projects.get_project(uow(world.viewer), project_id=world.project_id)
    with pytest.raises(NotFound):
        projects.get_project(uow(world.outsider), project_id=world.project_id)
    actions = [e.action for e in all_events(uow, world.project_id)]
    assert actions == [
        "project.created",
        "member.added",
        "member.added",
        "access.denied",
        "member.role_changed",
        "member.removed",
    ]


def test_a_failed_first_run_writes_nothing_and_can_be_retried(uow, session):
    with pytest.raises(InvalidInput):
        projects.setup_first_admin(
            uow(), email="boss@example.com", password=PASSWORD, project_name="   "
        )
    session.rollback()
    assert auth.needs_setup(uow())
    actor, project = projects.setup_first_admin(
        uow(), email="boss@example.com", password=PASSWORD, project_name="Main"
    )
    assert projects.list_projects(uow(actor))[0].id == project.id


@pytest.mark.parametrize("email", ["a\x00@example.com", "nul\x00"])
def test_control_characters_in_a_sign_in_are_a_clean_failure(uow, session, email):
    make_user(uow, "a@example.com")
    with pytest.raises(Unauthenticated):
        auth.authenticate(uow(request=REQ), email=email, password=PASSWORD)
    assert all("\x00" not in e.actor_email for e in all_events(uow))


@pytest.mark.parametrize("name", ["bad\x00name", "tab\tname", "pay\u202emen", "a\u200bb"])
def test_project_and_token_names_refuse_control_characters(uow, session, name):
    actor = make_user(uow, "a@example.com")
    with pytest.raises(InvalidInput):
        projects.create_project(uow(actor), name=name)
    with pytest.raises(InvalidInput):
        auth.create_api_token(uow(actor), name=name)


def test_a_user_cannot_have_two_projects_that_read_the_same(uow, world):
    with pytest.raises(Conflict, match="already have a project named"):
        projects.create_project(uow(world.owner), name=" payments ")  # "Payments" exists
    # The same name is fine for someone who is not a member of the first one.
    other = projects.create_project(uow(world.outsider), name="Payments")
    assert other.name == "Payments"
    names = [p.name for p in projects.list_projects(uow(world.owner))]
    assert names.count("Payments") == 1
