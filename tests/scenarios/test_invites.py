"""Invites (issue 9, item 4): an owner invites an email that has no account; the link works
once, for 7 days, and makes the invitee a member with the invited role. Both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from meshkeys import clock
from meshkeys.crypto.secrets import hash_token
from meshkeys.models import Invite, Role
from meshkeys.services import auth, history, invites, projects
from meshkeys.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied


def test_an_invite_makes_a_member_with_its_role_once(uow, session, world):
    created = invites.create_invite(
        uow(world.owner), project_id=world.project_id, email=" New@Example.com ", role="admin"
    )
    assert created.email == "new@example.com" and created.role == Role.ADMIN
    assert created.token.startswith(invites.INVITE_PREFIX) and len(created.token) > 40
    assert created.expires_at - created.created_at == timedelta(days=7)
    listed = invites.list_invites(uow(world.owner), project_id=world.project_id)
    assert [i.id for i in listed] == [created.id] and not hasattr(listed[0], "token")

    preview = invites.preview_invite(uow(), token=created.token)
    assert (preview.email, preview.role, preview.project_name) == (
        "new@example.com",
        Role.ADMIN,
        "Payments",
    )
    actor, project_id = invites.accept_invite(
        uow(), token=created.token, password="a-long-password"
    )
    assert project_id == world.project_id and actor.email == "new@example.com"
    assert projects.get_project(uow(actor), project_id=world.project_id).role == Role.ADMIN
    assert auth.authenticate(uow(), email="new@example.com", password="a-long-password")

    # Single use: the same link is refused, saying so; nothing is listed any more.
    with pytest.raises(invites.InviteInvalid, match="already used"):
        invites.accept_invite(uow(), token=created.token, password="another-password")
    with pytest.raises(invites.InviteInvalid, match="already used"):
        invites.preview_invite(uow(), token=created.token)
    assert invites.list_invites(uow(world.owner), project_id=world.project_id) == []

    events = history.list_events(uow(world.owner), project_id=world.project_id).items
    invited, accepted = (
        next(e for e in events if e.action == a)
        for a in ("member.invited", "member.invite_accepted")
    )
    assert invited.actor_email == world.owner.email
    assert invited.details["email"] == "new@example.com" and invited.details["role"] == "admin"
    assert accepted.actor_email == "new@example.com" and accepted.details["role"] == "admin"
    for event in (invited, accepted):  # never the token, nor its hash
        assert created.token not in repr(event) and hash_token(created.token) not in repr(event)
    with session.no_autoflush:
        stored = session.exec(select(Invite.token_hash)).all()
    assert stored == [hash_token(created.token)]  # only the hash is kept


def test_an_expired_link_is_refused(uow, session, world, monkeypatch):
    created = invites.create_invite(
        uow(world.owner), project_id=world.project_id, email="late@example.com", role="viewer"
    )
    later = clock.now() + timedelta(days=7, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(invites.InviteInvalid, match="expired"):
        invites.preview_invite(uow(), token=created.token)
    with pytest.raises(invites.InviteInvalid, match="expired"):
        invites.accept_invite(uow(), token=created.token, password="a-long-password")
    with pytest.raises(NotFound):
        auth.find_user(uow(), email="late@example.com")


@pytest.mark.parametrize("token", ["", "mki_nope", "mks_" + "a" * 43, "x" * 5000])
def test_an_unknown_link_is_refused(uow, session, world, token):
    with pytest.raises(invites.InviteInvalid, match="not valid"):
        invites.accept_invite(uow(), token=token, password="a-long-password")


def test_a_newer_invite_replaces_the_older_one(uow, session, world):
    first = invites.create_invite(
        uow(world.owner), project_id=world.project_id, email="twice@example.com", role="viewer"
    )
    second = invites.create_invite(
        uow(world.owner), project_id=world.project_id, email="twice@example.com", role="admin"
    )
    with pytest.raises(invites.InviteInvalid, match="replaced"):
        invites.accept_invite(uow(), token=first.token, password="a-long-password")
    actor, _ = invites.accept_invite(uow(), token=second.token, password="a-long-password")
    assert projects.get_project(uow(actor), project_id=world.project_id).role == Role.ADMIN


def test_only_owners_invite_and_only_people_without_an_account(uow, session, world):
    with pytest.raises(PermissionDenied):
        invites.create_invite(
            uow(world.admin), project_id=world.project_id, email="x@example.com", role="viewer"
        )
    with pytest.raises(NotFound):
        invites.create_invite(
            uow(world.outsider), project_id=world.project_id, email="x@example.com", role="viewer"
        )
    with pytest.raises(NotFound):
        invites.list_invites(uow(world.outsider), project_id=world.project_id)
    with pytest.raises(Conflict, match="already has an account"):
        invites.create_invite(
            uow(world.owner), project_id=world.project_id, email=world.outsider.email, role="admin"
        )
    with pytest.raises(InvalidInput, match="role"):
        invites.create_invite(
            uow(world.owner), project_id=world.project_id, email="x@example.com", role="root"
        )
    with pytest.raises(InvalidInput, match="email"):
        invites.create_invite(
            uow(world.owner), project_id=world.project_id, email="not an email", role="viewer"
        )


def test_the_password_follows_the_sign_up_rules(uow, session, world):
    created = invites.create_invite(
        uow(world.owner), project_id=world.project_id, email="short@example.com", role="viewer"
    )
    with pytest.raises(InvalidInput, match="at least"):
        invites.accept_invite(uow(), token=created.token, password="short")
    # Refused input uses nothing up: the link still works.
    actor, _ = invites.accept_invite(uow(), token=created.token, password="long-enough-now")
    assert actor.email == "short@example.com"


def test_an_account_created_meanwhile_makes_the_link_refuse(uow, session, world):
    created = invites.create_invite(
        uow(world.owner), project_id=world.project_id, email="race@example.com", role="viewer"
    )
    auth.create_user(uow(), email="race@example.com", password="someone-else-pw")
    with pytest.raises(Conflict, match="already exists"):
        invites.accept_invite(uow(), token=created.token, password="a-long-password")
