"""Scoped API tokens through the REST API: every route declares its permission, and a token
lacking exactly that permission is refused there with a 403 naming it and an ``access.denied``
event. SQLite in the unit ring; PostgreSQL as the runtime role under RLS in the integration ring."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from meshkeys.api.deps import PERMISSION_KEY
from meshkeys.models import Permission
from meshkeys.services import auth, key_commands, projects
from tests.api_world import assert_error
from tests.helpers import call

API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def _token(api, who: str = "owner", **scope) -> dict[str, str]:
    actor = getattr(api.world, who)
    made = call(auth.create_api_token, actor, bind=api.engine, name="scoped", **scope)
    return {"Authorization": f"Bearer {made.token}"}


def _routes(api) -> dict[tuple[str, str], str]:
    """(method, path template) -> declared permission, from /openapi.json."""
    paths = api.client.get("/openapi.json").json()["paths"]
    return {
        (method.upper(), path): operation[PERMISSION_KEY]
        for path, methods in paths.items()
        for method, operation in methods.items()
        if PERMISSION_KEY in operation
    }


def _request(api, method: str, path: str, headers: dict[str, str], key_id: str):
    project = api.project
    url = path.replace("{key_id}", key_id).replace("{project_id}", project)
    body = {
        "/keys/generate": {"project_id": project, "name": "x"},
        "/webhooks/sign": {"project_id": project, "payload": "{}"},
        "/webhooks/sign/batch": {"project_id": project, "messages": [{"payload": "{}"}]},
        "/webhooks/verify": {"project_id": project, "payload": "{}", "headers": {}},
        "/keys/{key_id}/revoke": {"reason": "retired"},
        "/keys/{key_id}/rotate": {},
        "/projects/{project_id}": {"publish_public_keys": True},
        "/projects/{project_id}/rotation-policy": {"rotate_every_days": 30, "grace_seconds": 60},
    }.get(path)
    in_path = "{key_id}" in path or "{project_id}" in path
    params = {"project_id": project} if method == "GET" and not in_path else None
    return api.client.request(method, url, headers=headers, json=body, params=params)


def test_every_token_route_declares_its_permission_and_api_md_lists_it(api):
    declared = _routes(api)
    paths = api.client.get("/openapi.json").json()["paths"]
    signed_in = {
        (method.upper(), path)
        for path, methods in paths.items()
        for method, operation in methods.items()
        if {"ApiToken": []} in operation.get("security", [])
    }
    assert signed_in and set(declared) == signed_in  # no token route without a permission
    table = dict(
        ((m, p), perm)
        for m, p, perm in re.findall(
            r"^\| `(GET|POST|PUT|PATCH|DELETE) ([^`]+)` \| `([a-z]+:[a-z]+)` \|",
            API_MD.read_text(),
            re.M,
        )
    )
    assert table == declared


def test_a_token_lacking_a_routes_permission_gets_403_naming_it_and_an_audit_event(api):
    key = api.generate()
    routes = _routes(api)
    for (method, path), permission in routes.items():
        others = [p for p in Permission if p != permission]
        answer = _request(api, method, path, _token(api, permissions=others), key["id"])
        detail = assert_error(answer, 403)["detail"]
        assert detail.startswith(f"this token lacks the '{permission}' permission"), (path, detail)
    denied = api.events(action="access.denied")
    assert sorted(e["details"]["permission"] for e in denied) == sorted(routes.values())
    assert {e["actor_email"] for e in denied} == {api.world.owner.email}


def test_a_sender_token_signs_but_cannot_list_or_revoke(api):
    key = api.generate()
    sender = _token(api, "admin", project_id=uuid.UUID(api.project), permissions=["webhooks:sign"])
    signed = api.client.post(
        "/webhooks/sign", headers=sender, json={"project_id": api.project, "payload": '{"a":1}'}
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["headers"]["webhook-signature"].startswith("v1,")
    listed = api.client.get("/keys", headers=sender, params={"project_id": api.project})
    assert_error(listed, 403, contains="this token lacks the 'keys:read' permission")
    revoked = api.client.post(
        f"/keys/{key['id']}/revoke", headers=sender, json={"reason": "compromised"}
    )
    assert_error(revoked, 403, contains="this token lacks the 'keys:write' permission")
    assert api.get(f"/keys/{key['id']}").json()["status"] == "active"
    denied = api.events(action="access.denied")
    assert [(e["details"]["permission"], e["key_id"]) for e in denied] == [
        ("keys:write", key["id"]),  # newest first
        ("keys:read", None),
    ]


def test_a_project_token_gets_404_for_another_projects_rows(api):
    """The user is an admin of both projects; the token is for the first one only."""
    other = str(api.world.other_project_id)
    call(
        projects.add_member,
        api.world.outsider,
        bind=api.engine,
        project_id=api.world.other_project_id,
        email=api.world.admin.email,
        role="admin",
    )
    other_key = call(
        key_commands.generate_key,
        api.world.admin,
        bind=api.engine,
        project_id=api.world.other_project_id,
        name="elsewhere",
    )
    scoped = _token(api, "admin", project_id=uuid.UUID(api.project))
    assert api.client.get("/keys", headers=scoped, params={"project_id": api.project}).is_success
    for answer in (
        api.client.get("/keys", headers=scoped, params={"project_id": other}),
        api.client.get(f"/keys/{other_key.id}", headers=scoped),
        api.client.post(f"/keys/{other_key.id}/revoke", headers=scoped, json={"reason": "retired"}),
        api.client.get("/audit", headers=scoped, params={"project_id": other}),
        api.client.post(
            "/webhooks/sign", headers=scoped, json={"project_id": other, "payload": "{}"}
        ),
    ):
        assert_error(answer, 404)
    # The admin's unscoped token reaches the other project.
    assert api.get(f"/keys/{other_key.id}").json()["status"] == "active"


def test_an_expired_token_gets_401(api, monkeypatch):
    from datetime import timedelta

    from meshkeys import clock

    headers = _token(api, "admin", expires_in_days=1)
    url = f"/keys?project_id={api.project}"
    assert api.client.get(url, headers=headers).status_code == 200
    later = clock.now() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert_error(api.client.get(url, headers=headers), 401, contains="expired")
