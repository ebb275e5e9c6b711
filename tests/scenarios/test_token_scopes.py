"""Scoped API tokens (PRODUCT.md "API tokens"): a token acts for its user, narrowed to one
project (or all of the user's), some permissions and an expiry; the user's CURRENT role still
bounds it. Service scenarios, on SQLite (unit ring) and PostgreSQL under RLS (integration)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from meshkeys import clock
from meshkeys.models import Permission
from meshkeys.services import access, audit, auth, key_commands, key_queries, projects, signing
from meshkeys.services.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from tests.helpers import all_events


def _token_actor(uow, actor, **scope):
    """Create a token for ``actor`` and resolve it as the API does: the actor with its scope."""
    created = auth.create_api_token(uow(actor), name="scoped", **scope)
    return created, auth.actor_for_api_token(uow(), token=created.token)


def test_roles_grant_these_permissions():
    assert access.ROLE_PERMISSIONS == {
        "viewer": {"keys:read", "webhooks:verify", "audit:read"},
        "admin": {"keys:read", "webhooks:verify", "audit:read", "keys:write", "webhooks:sign"},
        "owner": set(Permission),
    }


def test_a_sender_token_signs_and_is_refused_the_rest_naming_the_permission(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    created, sender = _token_actor(
        uow, world.admin, project_id=world.project_id, permissions=["webhooks:sign"]
    )
    assert sender.scope is not None and sender.scope.permissions == {"webhooks:sign"}
    headers = signing.sign_payload(uow(sender), project_id=world.project_id, payload=b"{}")
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(PermissionDenied, match=r"^this token lacks the 'keys:read' permission"):
        key_queries.list_keys(uow(sender), project_id=world.project_id)
    with pytest.raises(PermissionDenied, match=r"this token lacks the 'keys:write' permission"):
        key_commands.revoke_key(uow(sender), key_id=key.id, reason="retired")
    with pytest.raises(PermissionDenied, match=r"'webhooks:verify'"):
        signing.verify_payload(uow(sender), project_id=world.project_id, payload=b"{}", headers={})
    denied = all_events(uow, world.project_id, audit.ACCESS_DENIED)
    assert [(e.details["permission"], e.details["attempted"]) for e in denied] == [
        ("keys:read", "reading keys"),
        ("keys:write", "revoking a key"),
        ("webhooks:verify", "verifying a payload"),
    ]
    assert {e.details["token_id"] for e in denied} == {str(created.id)}
    assert all(e.actor_email == world.admin.email for e in denied)
    assert key_queries.get_key(uow(world.admin), key_id=key.id).status == "active"


def test_a_token_never_exceeds_the_role_and_shrinks_when_the_user_is_demoted(uow, session, world):
    _, admin_token = _token_actor(uow, world.admin)  # all projects, every permission
    key = key_commands.generate_key(uow(admin_token), project_id=world.project_id, name="k")
    projects.change_member_role(
        uow(world.owner), project_id=world.project_id, user_id=world.admin.user_id, role="viewer"
    )
    with pytest.raises(PermissionDenied, match=r"role in this project is viewer.*'keys:write'"):
        key_commands.rotate_key(uow(admin_token), key_id=key.id)
    with pytest.raises(PermissionDenied, match=r"'webhooks:sign'"):
        signing.sign_payload(uow(admin_token), project_id=world.project_id, payload=b"{}")
    with pytest.raises(PermissionDenied, match=r"'members:write'"):
        projects.add_member(
            uow(admin_token), project_id=world.project_id, email=world.outsider.email, role="viewer"
        )
    assert key_queries.get_key(uow(admin_token), key_id=key.id).id == key.id  # viewers read
    (denied, _, _) = all_events(uow, world.project_id, audit.ACCESS_DENIED)
    assert denied.details["role"] == "viewer" and denied.details["permission"] == "keys:write"


def test_a_project_token_cannot_see_other_projects(uow, session, world):
    projects.add_member(
        uow(world.outsider),
        project_id=world.other_project_id,
        email=world.admin.email,
        role="admin",
    )
    other_key = key_commands.generate_key(
        uow(world.admin), project_id=world.other_project_id, name="other"
    )
    _, scoped = _token_actor(uow, world.admin, project_id=world.project_id)
    assert [p.id for p in projects.list_projects(uow(scoped))] == [world.project_id]
    for refused in (
        lambda: key_queries.list_keys(uow(scoped), project_id=world.other_project_id),
        lambda: key_queries.get_key(uow(scoped), key_id=other_key.id),
        lambda: key_commands.revoke_key(uow(scoped), key_id=other_key.id, reason="retired"),
        lambda: signing.sign_payload(uow(scoped), project_id=world.other_project_id, payload=b""),
        lambda: projects.get_project(uow(scoped), project_id=world.other_project_id),
    ):
        with pytest.raises(NotFound):  # as for a project one is not a member of: never a 403
            refused()
    assert all_events(uow, world.other_project_id, audit.ACCESS_DENIED) == []
    # The same user without the token still reaches both projects.
    assert key_queries.get_key(uow(world.admin), key_id=other_key.id).id == other_key.id


def test_an_expired_token_is_unauthenticated(uow, session, world, monkeypatch):
    created, _ = _token_actor(uow, world.admin, expires_in_days=30)
    assert created.expires_at == created.created_at + timedelta(days=30)
    later = created.expires_at + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(Unauthenticated, match="expired"):
        auth.actor_for_api_token(uow(), token=created.token)


@pytest.mark.parametrize(
    "scope,message",
    [
        ({"expires_in_days": 0}, "1 to 365 days"),
        ({"expires_in_days": 366}, "1 to 365 days"),
        ({"expires_in_days": True}, "1 to 365 days"),
        ({"permissions": []}, "at least one permission"),
        ({"permissions": ["keys:admin"]}, "Unknown permission 'keys:admin'"),
    ],
)
def test_token_scopes_are_validated(uow, session, world, scope, message):
    with pytest.raises(InvalidInput, match=message):
        auth.create_api_token(uow(world.admin), name="bad", **scope)


def test_a_project_token_asks_only_for_what_the_role_allows_there(uow, session, world):
    with pytest.raises(InvalidInput, match=r"role in this project is viewer.*keys:write"):
        auth.create_api_token(
            uow(world.viewer), name="x", project_id=world.project_id, permissions=["keys:write"]
        )
    with pytest.raises(NotFound):
        auth.create_api_token(uow(world.viewer), name="x", project_id=world.other_project_id)
    made = auth.create_api_token(uow(world.viewer), name="x", project_id=world.project_id)
    assert made.permissions == ["keys:read", "webhooks:verify", "audit:read"]
    (event,) = all_events(uow, None, audit.TOKEN_CREATED)
    assert event.details["project_id"] == str(world.project_id)
    assert event.details["permissions"] == made.permissions
    assert event.details["expires_at"] is None


def test_a_token_cannot_create_tokens(uow, session, world):
    _, token_actor = _token_actor(uow, world.owner)
    with pytest.raises(PermissionDenied, match="cannot create tokens"):
        auth.create_api_token(uow(token_actor), name="wider")
