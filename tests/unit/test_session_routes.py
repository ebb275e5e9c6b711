"""The browser's sign-in routes, in-process: first-run setup, login, logout, cookie flags."""

from __future__ import annotations

import logging
import uuid

from fastapi.testclient import TestClient

from meshkeys.api.app import create_api
from meshkeys.services import auth, invites
from meshkeys.services.uow import UnitOfWork
from meshkeys.web_session import SESSION_COOKIE
from tests.helpers import PASSWORD, all_events, call, reset_caches


def _client() -> TestClient:
    return TestClient(create_api(), base_url="http://localhost:3000")


def test_setup_then_login_then_logout(db_path):
    client = _client()
    assert client.get("/auth/setup").json() == {"needs_setup": True}
    short = client.post(
        "/auth/setup", json={"email": "a@example.com", "password": "short", "project_name": "P"}
    )
    assert short.status_code == 400 and "10 characters" in short.json()["detail"]

    made = client.post(
        "/auth/setup",
        json={"email": "a@example.com", "password": PASSWORD, "project_name": "Payments"},
    )
    assert made.status_code == 201, made.text
    cookie = made.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=mks_") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Secure" not in cookie
    assert made.json()["next"] == f"/projects/{made.json()['project_id']}/keys"
    again = client.post("/auth/setup", json={"email": "b@example.com", "password": PASSWORD})
    assert again.status_code == 409

    wrong = client.post(
        "/auth/login", json={"email": "a@example.com", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == 401 and wrong.json()["detail"] == "Email or password is wrong."
    signed_in = client.post("/auth/login", json={"email": "a@example.com", "password": PASSWORD})
    assert signed_in.status_code == 200
    token = signed_in.cookies[SESSION_COOKIE]
    assert call(auth.actor_for_session, token=token).email == "a@example.com"

    client.cookies.set(SESSION_COOKIE, token)
    out = client.post("/auth/logout")
    assert out.status_code == 200 and f'{SESSION_COOKIE}=""' in out.headers["set-cookie"]
    assert call(auth.actor_for_session, token=token) is None
    events = [(e.action, e.client_ip) for e in all_events(UnitOfWork)]
    assert ("login.failed", "testclient") in events and ("login.succeeded", "testclient") in events


def test_cookie_is_secure_over_https_and_cross_site_posts_are_refused(db_path, monkeypatch):
    monkeypatch.setenv("MESHKEYS_TRUSTED_PROXIES", "10.0.0.1")
    reset_caches()
    client = TestClient(create_api(), base_url="http://localhost:3000", client=("10.0.0.1", 1))
    made = client.post(
        "/auth/setup",
        headers={"X-Forwarded-Proto": "https"},
        json={"email": "a@example.com", "password": PASSWORD},
    )
    assert "Secure" in made.headers["set-cookie"]
    assert "strict-transport-security" in made.headers
    evil = client.post(
        "/auth/login",
        headers={"Origin": "https://evil.example"},
        json={"email": "a@example.com", "password": PASSWORD},
    )
    assert evil.status_code == 403 and "set-cookie" not in evil.headers


def test_repeated_failures_answer_429_with_retry_after(db_path):
    client = _client()
    client.post("/auth/setup", json={"email": "a@example.com", "password": PASSWORD})
    for _ in range(auth.MAX_FAILURES_PER_ACCOUNT):
        assert (
            client.post(
                "/auth/login", json={"email": "a@example.com", "password": "wrong-wrong"}
            ).status_code
            == 401
        )
    limited = client.post("/auth/login", json={"email": "a@example.com", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert "Try again in" in limited.json()["detail"]


def test_the_websocket_sees_the_session_cookie_only_as_a_digest():
    import asyncio

    from meshkeys.api.routes.session import SessionCookieDigest
    from meshkeys.crypto.secrets import hash_token
    from meshkeys.web_session import session_digest

    seen = {}

    async def app(scope, receive, send):
        seen[scope["path"]] = dict(scope["headers"])[b"cookie"].decode()

    header = f"theme=dark; {SESSION_COOKIE}=mks_secret-token; other=1".encode()
    middleware = SessionCookieDigest(app)
    for kind, path in (
        ("websocket", "/_event/"),
        ("http", "/_event/?EIO=4"),
        ("http", "/auth/logout"),
    ):
        asyncio.run(
            middleware({"type": kind, "path": path, "headers": [(b"cookie", header)]}, None, None)
        )
    digest = hash_token("mks_secret-token")
    assert seen["/_event/"] == f"theme=dark; {SESSION_COOKIE}=sha256.{digest}; other=1"
    assert seen["/_event/?EIO=4"] == seen["/_event/"]
    assert seen["/auth/logout"] == header.decode()  # the sign-in routes get the real cookie
    assert session_digest(f"sha256.{digest}") == digest and session_digest("mks_x") is None

    # A digest stolen from a state store and sent as the cookie is hashed again: useless.
    forged = f"{SESSION_COOKIE}=sha256.{digest}".encode()
    asyncio.run(
        middleware(
            {"type": "websocket", "path": "/_event/", "headers": [(b"cookie", forged)]}, None, None
        )
    )
    assert seen["/_event/"] == f"{SESSION_COOKIE}=sha256.{hash_token('sha256.' + digest)}"


def test_sessions_resolve_by_digest(db_path):
    from meshkeys.crypto.secrets import hash_token

    client = _client()
    client.post("/auth/setup", json={"email": "a@example.com", "password": PASSWORD})
    token = client.post(
        "/auth/login", json={"email": "a@example.com", "password": PASSWORD}
    ).cookies[SESSION_COOKIE]
    assert call(auth.actor_for_session_digest, digest=hash_token(token)).email == "a@example.com"
    assert call(auth.actor_for_session_digest, digest=hash_token(hash_token(token))) is None
    assert call(auth.actor_for_session_digest, digest="short") is None


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(db_path):
    client = _client()
    made = client.post(
        "/auth/setup", json={"email": "a@example.com", "password": PASSWORD, "project_name": "P"}
    )
    assert made.status_code == 201
    body = {"email": "a@example.com", "password": PASSWORD}
    back = client.post("/auth/login", json={**body, "next": "/settings/tokens"})
    assert back.status_code == 200 and back.json()["next"] == "/settings/tokens"
    for evil in ("https://evil.example", "//evil.example", "/\\evil.example"):
        answer = client.post("/auth/login", json={**body, "next": evil})
        assert answer.status_code == 200 and answer.json()["next"] == "/", evil


def test_an_invite_link_signs_the_invitee_in_once(db_path, caplog):
    caplog.set_level(logging.DEBUG)
    client = _client()
    made = client.post("/auth/setup", json={"email": "owner@example.com", "password": PASSWORD})
    project_id = uuid.UUID(made.json()["project_id"])
    owner = call(auth.actor_for_session, token=made.cookies[SESSION_COOKIE])
    invite = call(
        invites.create_invite, owner, project_id=project_id, email="new@example.com", role="admin"
    )
    fresh = _client()
    body = {"token": invite.token, "password": "new-user-password"}
    assert fresh.post("/auth/invite", json={**body, "password": "short"}).status_code == 400
    joined = fresh.post("/auth/invite", json=body)
    assert joined.status_code == 201, joined.text
    assert joined.json() == {
        "email": "new@example.com",
        "project_id": str(project_id),
        "next": f"/projects/{project_id}/keys",
    }
    assert "HttpOnly" in joined.headers["set-cookie"]
    assert call(auth.actor_for_session, token=joined.cookies[SESSION_COOKIE]).email == (
        "new@example.com"
    )
    again = _client().post("/auth/invite", json=body)
    assert again.status_code == 404 and "already used" in again.json()["detail"]
    unknown = _client().post("/auth/invite", json={**body, "token": "mki_nope"})
    assert unknown.status_code == 404 and "not valid" in unknown.json()["detail"]
    foreign = _client().post("/auth/invite", json=body, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    assert invite.token not in caplog.text
