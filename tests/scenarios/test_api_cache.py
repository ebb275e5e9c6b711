"""The API's caches of tokens and keys (services.cache): used while nothing changed, never after.

Each test first proves the cache is in use (a warm sign runs no statement on the app's engine:
only the generation's read, on a connection of its own), then changes something the way a user
would and checks that the very next request sees it. Without the generation's increment these
tests would sign with a revoked key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from meshkeys import clock, config
from meshkeys.logs import KEY_LOGGER
from meshkeys.models import Role
from meshkeys.services import auth, cache, key_commands, key_queries, projects, signing
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


def _two_keys_one_leaving_in_20_seconds(api) -> None:
    leaving = api.generate("leaving")
    api.generate("staying")
    answer = api.post(
        f"/keys/{leaving['id']}/revoke", json={"reason": "rotated", "grace_seconds": 20}
    )
    assert answer.status_code == 200, answer.text


def _twenty_one_seconds_later(monkeypatch) -> None:
    """Past the grace period, and still within the entries' MAX_AGE (60 s)."""
    later = clock.now() + timedelta(seconds=21)
    monkeypatch.setattr(clock, "now", lambda: later)


def test_a_grace_period_that_ends_ends_the_keys_entry(api, monkeypatch):
    _two_keys_one_leaving_in_20_seconds(api)
    assert _warm(api)["webhook-signature"].count("v1,") == 2  # in its grace period: signs
    _twenty_one_seconds_later(monkeypatch)
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


def test_a_page_of_keys_read_from_the_database_reads_the_project_once(api):
    """The page's totals and its rotation policy come from one read of the project row."""
    api.generate("k")
    params = {"project_id": api.project, "limit": 50}
    assert api.get("/keys", params=params).status_code == 200  # fills the token cache
    cache._pages.clear()
    with statements(api.engine) as seen:
        answer = api.get("/keys", params=params)
    assert answer.status_code == 200 and answer.json()["total"] == 1, answer.text
    reads = [s for s in seen if re.search(r"\bFROM projects\b", s)]
    assert len(reads) == 1, seen


# ---------------------------------------------------------------- pages of keys


def _warm_list(api, who: str = "admin", **params) -> dict:
    params = {"project_id": api.project, **params}
    assert api.get("/keys", who, params=params).status_code == 200  # fills the caches
    with statements(api.engine) as seen:
        answer = api.get("/keys", who, params=params)
    assert answer.status_code == 200, answer.text
    assert seen == [], seen  # from memory
    page: dict = answer.json()
    return page


def _list(api, who: str = "admin", **params) -> dict:
    answer = api.get("/keys", who, params={"project_id": api.project, **params})
    assert answer.status_code == 200, answer.text
    page: dict = answer.json()
    return page


def test_a_warm_page_of_keys_shows_a_revoke_on_the_next_request(api):
    key = api.generate("k")
    assert _warm_list(api)["totals"] == {"active": 1, "expiring": 0, "revoked": 0, "total": 1}
    answer = api.post(f"/keys/{key['id']}/revoke", json={"reason": "compromised"})
    assert answer.status_code == 200, answer.text
    page = _list(api)
    assert [k["status"] for k in page["items"]] == ["revoked"]
    assert page["totals"] == {"active": 0, "expiring": 0, "revoked": 1, "total": 1}


def test_a_warm_page_of_keys_shows_a_key_made_by_another_process(api):
    api.generate("first")
    assert _warm_list(api, status="active")["total"] == 1
    call(
        key_commands.generate_key,
        api.world.admin,
        bind=api.engine,
        project_id=api.world.project_id,
        name="second",
    )
    page = _list(api, status="active")
    assert [k["name"] for k in page["items"]] == ["second", "first"] and page["total"] == 2


def test_each_view_of_the_keys_is_its_own_entry(api):
    api.generate("alpha")
    api.generate("beta")
    assert _warm_list(api, q="al")["total"] == 1
    assert _warm_list(api, limit=1)["next_cursor"] is not None
    assert [k["name"] for k in _list(api)["items"]] == ["beta", "alpha"]


def test_a_grace_period_that_ends_ends_the_pages_entry(api, monkeypatch):
    """No write happens when a grace period ends, yet the key's status and the totals change."""
    _two_keys_one_leaving_in_20_seconds(api)
    warm = _warm_list(api)
    assert warm["totals"]["expiring"] == 1 and warm["totals"]["revoked"] == 0
    _twenty_one_seconds_later(monkeypatch)
    page = _list(api)
    assert page["totals"]["expiring"] == 0 and page["totals"]["revoked"] == 1
    assert {k["name"]: k["status"] for k in page["items"]}["leaving"] == "revoked"


def test_a_token_without_keys_read_is_refused_a_page_its_user_has_cached(api):
    """The entry is the user's; each request's token scope is checked against it, and a
    refusal goes through the audited path."""
    api.generate("k")
    _warm_list(api)
    signer = call(
        auth.create_api_token,
        api.world.admin,
        bind=api.engine,
        name="signer only",
        project_id=api.world.project_id,
        permissions=["webhooks:sign"],
    )
    answer = api.client.get(
        "/keys",
        params={"project_id": api.project},
        headers={"Authorization": f"Bearer {signer.token}"},
    )
    assert_error(answer, 403, contains="keys:read")
    assert any(e["action"] == "access.denied" for e in api.events())


def test_a_page_is_not_shared_with_another_user(api):
    api.generate("k")
    _warm_list(api)
    assert_error(api.get("/keys", "outsider", params={"project_id": api.project}), 404)
    assert _warm_list(api, "viewer")["total"] == 1


# ---------------------------------------------------------------- answered on the event loop


def _on_the_loop(monkeypatch, module, name: str) -> list[bool]:
    """Wrap ``module.name``: for each call, whether it ran on the event loop (True) or in a
    worker thread of the pool, which has no running loop (False)."""
    on_loop: list[bool] = []
    real = getattr(module, name)

    def watched(*args, **kwargs):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, watched)
    return on_loop


def test_a_warm_sign_verify_and_batch_take_no_thread_on_postgres(api, monkeypatch):
    """On PostgreSQL the sender's routes answer a warm request on the event loop (the
    generation read with psycopg's async connection, ``api.deps.answer``): no thread hop. On
    SQLite that read would block the loop, so every request takes the thread pool."""
    api.generate("k")
    headers = _warm(api)
    on_loop = _on_the_loop(monkeypatch, signing, "_project_keys")
    assert api.verify("{}", headers, who="admin").json()["valid"] is True
    api.sign("{}")
    batch = api.post(
        "/webhooks/sign/batch",
        json={"project_id": api.project, "messages": [{"payload": "{}"}, {"payload": "[]"}]},
    )
    assert batch.status_code == 200, batch.text
    assert len(batch.json()["items"]) == 2
    assert on_loop == [api.engine.dialect.name == "postgresql"] * 3


def test_a_warm_page_of_keys_takes_no_thread_on_postgres(api, monkeypatch):
    api.generate("k")
    _warm_list(api)
    on_loop = _on_the_loop(monkeypatch, key_queries, "list_keys")
    assert _list(api)["total"] == 1
    assert on_loop == [api.engine.dialect.name == "postgresql"]


def _asgi(api, method: str, path: str, body: bytes, on_receive) -> tuple[int, int]:
    """One request straight through the app's ASGI interface on a loop of its own, calling
    ``on_receive(loop)`` when the app first asks for the body; the answer's status and the
    generation statements that loop's readers sent."""

    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        sent: list[dict] = []

        async def receive() -> dict:
            on_receive(loop)
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        token = api.tokens["admin"].encode()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"testserver"),
                (b"authorization", b"Bearer " + token),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }

        def readers() -> list[cache._AsyncReader]:
            return list(cache._async_readers.get(loop, {}).values())

        try:
            await api.client.app(scope, receive, send)
            return sent[0]["status"], sum(reader.statements for reader in readers())
        finally:
            for reader in readers():
                await reader.close()

    return asyncio.run(scenario())


def test_a_senders_request_starts_the_generation_read_before_its_body_is_read(api):
    """On PostgreSQL the generation's round trip begins as the request arrives (the outermost
    middleware, ``api.middleware.GenerationPrefetch``), so it overlaps the way to the route
    (the body's arrival, routing, parsing): the sign waits for what is left of it, and that
    read is its only one. A route that does not answer from memory starts none."""
    api.generate("k")
    _warm(api)
    in_flight: list[bool] = []

    def reading(loop) -> None:
        readers = cache._async_readers.get(loop, {}).values()
        in_flight.append(any(r.pump is not None for r in readers))

    payload = json.dumps({"project_id": api.project, "payload": "{}"}).encode()
    on_postgres = api.engine.dialect.name == "postgresql"
    assert _asgi(api, "POST", "/webhooks/sign", payload, reading) == (200, int(on_postgres))
    generate = json.dumps({"project_id": api.project, "name": "n"}).encode()
    assert _asgi(api, "POST", "/keys/generate", generate, reading) == (201, 0)
    assert in_flight == [on_postgres, False]


@contextmanager
def _key_lines():
    lines: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = lines.append  # type: ignore[method-assign]
    logger = logging.getLogger(KEY_LOGGER)
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def test_a_sign_that_misses_the_cache_midway_is_logged_and_counted_once(api, monkeypatch):
    """The actor is cached, the keys are not: the first try stops inside the key action
    (``NeedsDatabase``) and the thread pool runs it again. One ``key.sign`` line, one count,
    both "ok": the abandoned try is neither an outcome nor an error."""
    monkeypatch.setenv("MESHKEYS_LOG_SIGNING", "on")
    config.reset_settings()
    api.generate("k")
    _warm(api)
    cache._keys.clear()
    before = _sign_counts(api)
    with _key_lines() as lines:
        api.sign("{}")
    assert [(r.getMessage(), r.__dict__["outcome"]) for r in lines] == [("key.sign", "ok")]
    after = _sign_counts(api)
    assert {k: after.get(k, 0) - before.get(k, 0) for k in after} == {"ok": 1}


def test_a_sign_is_counted_not_logged_unless_asked_and_a_refusal_always_is(api):
    """A sender signs on every delivery: by default its successes are counted, as verify's
    are, and write no line (``MESHKEYS_LOG_SIGNING=on`` writes them); a refused sign is a
    WARNING line whatever the setting."""
    api.generate("k")
    _warm(api)
    before = _sign_counts(api)
    with _key_lines() as lines:
        api.sign("{}")
        api.post(
            "/webhooks/sign/batch",
            json={"project_id": api.project, "messages": [{"payload": "{}"}]},
        )
        refused = api.post(
            "/webhooks/sign", json={"project_id": str(uuid.uuid4()), "payload": "{}"}
        )
    assert refused.status_code == 404, refused.text
    assert [(r.getMessage(), r.levelname, r.__dict__["outcome"]) for r in lines] == [
        ("key.sign", "WARNING", "not_found")
    ]
    after = _sign_counts(api)
    assert {k: after.get(k, 0) - before.get(k, 0) for k in after} == {"ok": 1, "not_found": 1}


def test_a_bad_log_signing_setting_is_refused_with_what_to_write():
    with pytest.raises(config.ConfigError, match="MESHKEYS_LOG_SIGNING must be on or off"):
        config.load_settings({"MESHKEYS_LOG_SIGNING": "yes please"})


def _sign_counts(api) -> dict[str, float]:
    text = api.client.get("/metrics").text
    found = re.findall(
        r'meshkeys_key_operations_total\{action="sign",outcome="(\w+)"\} ([0-9.e+]+)', text
    )
    return {outcome: float(value) for outcome, value in found}
