"""The API's caches of tokens and keys (services.cache): used while nothing changed, never after.

Each test first proves the cache is in use (a warm sign runs no statement on the app's engine:
only the generation's read, on a connection of its own), then changes something the way a user
would and checks that the very next request sees it. Without the generation's increment these
tests would sign with a revoked key.
"""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa

from meshkeys import clock, config
from meshkeys.models import Role
from meshkeys.services import auth, key_commands, projects
from tests.api_world import assert_error
from tests.helpers import call


@contextmanager
def statements(engine):
    """The SQL statements the engine runs inside the block."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _warm(api, payload: str = "{}") -> dict[str, str]:
    api.sign(payload)  # fills the caches
    with statements(api.engine) as seen:
        headers = api.sign(payload)
    # Answered from memory: nothing on the app's engine (the generation is read beside it).
    assert seen == [], seen
    return headers


def _generation(api) -> int:
    with api.engine.connect() as conn:
        return conn.execute(sa.text("SELECT generation FROM cache_generation")).scalar_one()


def test_a_warm_sign_reads_only_the_generation_and_increments_nothing(api):
    api.generate("k")
    before = _generation(api)
    _warm(api)
    answer = api.verify("{}", api.sign("{}"), who="admin")
    assert answer.status_code == 200 and answer.json()["valid"] is True, answer.text
    assert _generation(api) == before  # signing and the token's last-use touch change nothing


def test_a_key_revoked_through_the_api_stops_signing_on_the_next_request(api):
    old = api.generate("old")
    new = api.generate("new")
    signed_by_both = _warm(api)
    assert signed_by_both["webhook-signature"].count("v1,") == 2
    answer = api.post(f"/keys/{old['id']}/revoke", json={"reason": "compromised"})
    assert answer.status_code == 200, answer.text
    assert api.sign("{}")["webhook-signature"].count("v1,") == 1
    only_old = {
        **signed_by_both,
        "webhook-signature": signed_by_both["webhook-signature"].split()[1],
    }
    verdicts = {
        api.verify("{}", signed_by_both).json()["key_id"],
        api.verify("{}", only_old).status_code,
    }
    assert verdicts == {new["id"], 400}


def test_a_key_revoked_by_another_process_stops_signing_on_the_next_request(api):
    """The CLI and the UI write through their own units of work: they increment it too."""
    key = api.generate("k")
    _warm(api)
    call(
        key_commands.revoke_key,
        api.world.admin,
        bind=api.engine,
        key_id=uuid.UUID(key["id"]),
        reason="compromised",
    )
    assert_error(api.post("/webhooks/sign", json={"project_id": api.project, "payload": "{}"}), 409)


def test_a_demoted_user_loses_signing_on_the_next_request(api):
    api.generate("k")
    _warm(api)
    call(
        projects.change_member_role,
        api.world.owner,
        bind=api.engine,
        project_id=api.world.project_id,
        user_id=api.world.admin.user_id,
        role=Role.VIEWER,
    )
    assert_error(
        api.post("/webhooks/sign", json={"project_id": api.project, "payload": "{}"}),
        403,
        contains="webhooks:sign",
    )


def test_a_revoked_token_is_refused_on_the_next_request(api):
    api.generate("k")
    _warm(api)
    tokens = call(auth.list_api_tokens, api.world.admin, bind=api.engine)
    call(auth.revoke_api_token, api.world.admin, bind=api.engine, token_id=tokens[0].id)
    assert_error(api.get("/keys", params={"project_id": api.project}), 401)


def test_a_grace_period_that_ends_ends_the_keys_entry(api, monkeypatch):
    leaving = api.generate("leaving")
    api.generate("staying")
    answer = api.post(
        f"/keys/{leaving['id']}/revoke", json={"reason": "rotated", "grace_seconds": 300}
    )
    assert answer.status_code == 200, answer.text
    assert _warm(api)["webhook-signature"].count("v1,") == 2  # in its grace period: signs
    later = clock.now() + timedelta(seconds=301)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert api.sign("{}")["webhook-signature"].count("v1,") == 1


def test_failures_from_the_same_client_lock_out_even_a_cached_token(api):
    api.generate("k")
    _warm(api)
    token = api.tokens["admin"]
    wrong = token[:7] + "x" * (len(token) - 7)
    for _ in range(auth.MAX_TOKEN_FAILURES):
        answer = api.client.get("/keys", headers={"Authorization": f"Bearer {wrong}"})
        assert answer.status_code == 401, answer.text
    assert_error(api.post("/webhooks/sign", json={"project_id": api.project, "payload": "{}"}), 429)


def test_the_cache_can_be_turned_off(api, monkeypatch):
    api.generate("k")
    monkeypatch.setenv("MESHKEYS_API_CACHE", "off")
    config.reset_settings()
    api.sign("{}")
    with statements(api.engine) as seen:
        api.sign("{}")
    assert len(seen) > 3, seen


def test_a_warm_page_of_keys_reads_the_project_once(api):
    """The page's totals and its rotation policy come from one read of the project row."""
    api.generate("k")
    params = {"project_id": api.project, "limit": 50}
    assert api.get("/keys", params=params).status_code == 200  # fills the token cache
    with statements(api.engine) as seen:
        answer = api.get("/keys", params=params)
    assert answer.status_code == 200 and answer.json()["total"] == 1, answer.text
    reads = [s for s in seen if re.search(r"\bFROM projects\b", s)]
    assert len(reads) == 1, seen
