"""REST API scenarios: run on SQLite in the unit ring and on PostgreSQL in the integration ring
(``--backend``), from this one definition. The ``api`` fixture is in tests/backends.py."""

from __future__ import annotations

import base64
import csv
import io
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks
import svix.webhooks

from meshkeys import clock
from meshkeys.services import auth
from tests.api_world import (
    NOT_FOUND_KEY,
    USER_AGENT,
    _standard_headers,
    assert_error,
)
from tests.helpers import call


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer mk_" + "A" * 43,
        "Bearer not-a-meshkeys-token",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ],
)
def test_requests_without_a_valid_token_get_401_with_a_bearer_challenge(api, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, url, body in [
        ("GET", f"/keys?project_id={api.project}", None),
        ("POST", "/keys/generate", {"project_id": api.project, "name": "x"}),
        ("GET", f"/keys/{uuid.uuid4()}", None),
        ("GET", f"/audit?project_id={api.project}", None),
        ("POST", "/webhooks/sign", {"project_id": api.project, "payload": "{}"}),
    ]:
        answer = api.client.request(method, url, headers=headers, json=body)
        assert_error(answer, 401)
        assert answer.headers["www-authenticate"] == "Bearer"


def test_a_bad_token_is_a_401_before_a_malformed_request_is_a_422(api):
    """Authentication comes first on every route, the ``async`` ones (sign, verify, batch,
    the key list: ``api.deps.caller``) as the others: a stranger learns nothing about what
    a request should hold."""
    guess = {"Authorization": "Bearer mk_" + "B" * 43}
    for method, url, body in [
        ("GET", "/keys", None),
        ("GET", "/keys?project_id=not-a-uuid&limit=0", None),
        ("POST", "/keys/generate", {"name": 5}),
        ("POST", "/webhooks/sign", {"payload": 5}),
        ("POST", "/webhooks/sign/batch", {"messages": []}),
        ("POST", "/webhooks/verify", {"headers": "none"}),
    ]:
        answer = api.client.request(method, url, headers=guess, json=body)
        assert_error(answer, 401)


def test_a_revoked_token_stops_working_and_use_is_recorded(api):
    assert api.get(f"/keys?project_id={api.project}").status_code == 200
    (token,) = call(auth.list_api_tokens, api.world.admin, bind=api.engine)
    assert token.last_used_at is not None
    call(auth.revoke_api_token, api.world.admin, bind=api.engine, token_id=token.id)
    assert_error(api.get(f"/keys?project_id={api.project}"), 401, contains="revoked")


def test_repeated_bad_tokens_answer_429_with_retry_after_and_good_tokens_still_work(api):
    guess = {"Authorization": f"Bearer mk_{secrets.token_urlsafe(32)}"}
    url = f"/keys?project_id={api.project}"
    for _ in range(auth.MAX_TOKEN_FAILURES):
        assert_error(api.client.get(url, headers=guess), 401)
    limited = assert_error(api.client.get(url, headers=guess), 429, contains="Try again in")
    assert limited["detail"].startswith("Too many failed API token attempts")
    assert int(api.client.get(url, headers=guess).headers["retry-after"]) > 0
    assert api.get(url).status_code == 200  # the admin's own token, another prefix


# ---------------------------------------------------------------- keys


def test_generate_answers_201_with_the_secret_only_that_once(api):
    key = api.generate("billing")
    assert key["secret"].startswith("whsec_") and len(base64.b64decode(key["secret"][6:])) == 32
    assert key["key_hint"] == key["secret"][-4:] and key["masked_secret"].endswith(key["key_hint"])
    assert key["status"] == "active" and key["project_id"] == api.project

    fetched = api.get(f"/keys/{key['id']}", "viewer")
    assert fetched.status_code == 200 and "secret" not in fetched.json()
    assert {k: v for k, v in key.items() if k != "secret"} == fetched.json()
    listed = api.get("/keys", "viewer", params={"project_id": api.project}).json()
    assert [item["id"] for item in listed["items"]] == [key["id"]]
    assert key["secret"] not in json.dumps(listed) and "secret" not in listed["items"][0]

    (event,) = api.events(action="key.generated")
    assert event["key_id"] == key["id"] and event["actor_email"] == api.world.admin.email
    assert event["user_agent"] == USER_AGENT and event["client_ip"]
    assert key["secret"] not in json.dumps(event)


def test_generate_refuses_bad_input_roles_and_other_projects(api):
    def generate(body, who="admin", **kwargs):
        return api.post("/keys/generate", who, json=body, **kwargs)

    assert_error(generate({"project_id": api.project, "name": "  "}), 400, contains="name")
    assert_error(generate({"project_id": api.project, "name": "x" * 201}), 422)
    assert_error(generate({"project_id": api.project}), 422, contains="name")
    assert_error(generate({"project_id": api.project, "name": "x", "secret": "mine"}), 422)
    assert_error(generate({"project_id": "not-a-uuid", "name": "x"}), 422, contains="project_id")
    assert_error(
        generate({"project_id": api.project, "name": "x"}, "viewer"), 403, contains="viewer"
    )
    assert_error(generate({"project_id": str(api.world.other_project_id), "name": "x"}), 404)
    assert_error(generate({"project_id": str(uuid.uuid4()), "name": "x"}), 404)
    # Nothing was created by any of them.
    assert api.get("/keys", params={"project_id": api.project}).json()["total"] == 0


def test_malformed_or_oversized_bodies_get_clear_answers(api):
    h = {**api.headers(), "Content-Type": "application/json"}
    assert_error(
        api.client.post("/keys/generate", content=b'{"project_id": ', headers=h),
        400,
        contains="not valid JSON",
    )
    assert_error(
        api.client.post("/webhooks/verify", content=b"\xff\xfe{", headers=h),
        400,
        contains="not valid JSON",
    )
    assert_error(api.client.post("/keys/generate", content=b"[1, 2]", headers=h), 422)
    huge = json.dumps({"project_id": api.project, "payload": "x" * (1024 * 1024 + 1)})
    assert_error(
        api.client.post("/webhooks/sign", content=huge, headers=h), 413, contains="1024 KiB"
    )

    def chunked():  # no Content-Length: counted while read
        for _ in range(20):
            yield b"x" * 65536

    assert_error(
        api.client.post("/keys/generate", content=chunked(), headers=h), 413, contains="larger than"
    )


def test_malformed_uuids_are_422_naming_the_parameter(api):
    for answer, where in [
        (api.get("/keys/not-a-uuid"), ["path", "key_id"]),
        (api.post("/keys/1234/revoke", json={"reason": "retired"}), ["path", "key_id"]),
        (api.post("/keys/zzzz/reactivate"), ["path", "key_id"]),
        (api.post(f"/keys/{uuid.uuid4().hex[:31]}/rotate"), ["path", "key_id"]),
    ]:
        body = assert_error(answer, 422, contains="key_id")
        assert body["errors"][0]["loc"] == where
    # In a query or a body it is a schema error: 422, naming the field.
    for answer, field in [
        (api.get("/keys", params={"project_id": "nope"}), "project_id"),
        (api.get("/audit", params={"project_id": api.project, "key_id": "nope"}), "key_id"),
        (api.post("/webhooks/sign", json={"project_id": "12", "payload": "x"}), "project_id"),
    ]:
        body = assert_error(answer, 422, contains=field)
        assert body["errors"][0]["loc"][-1] == field
    # A method the path does not have is 405 with the methods it has (not "generate is no UUID").
    for method in ("GET", "DELETE"):
        wrong = api.client.request(method, "/keys/generate", headers=api.headers())
        assert_error(wrong, 405, contains="use POST")
        assert wrong.headers["allow"] == "POST"
    assert api.client.delete(f"/keys/{uuid.uuid4()}").headers["allow"] == "GET"


def test_another_projects_keys_are_404_exactly_like_unknown_ones(api):
    key = api.generate()
    unknown = str(uuid.uuid4())
    for who in ("outsider",):
        for path, body in [
            ("", None),
            ("/revoke", {"reason": "compromised"}),
            ("/reactivate", None),
            ("/rotate", {"grace_seconds": 0}),
        ]:
            method = "GET" if not path else "POST"
            theirs = api.client.request(
                method, f"/keys/{key['id']}{path}", headers=api.headers(who), json=body
            )
            missing = api.client.request(
                method, f"/keys/{unknown}{path}", headers=api.headers(who), json=body
            )
            assert_error(theirs, 404, contains=NOT_FOUND_KEY)
            assert theirs.json() == missing.json()
    assert_error(api.get("/keys", "outsider", params={"project_id": api.project}), 404)
    # The key is untouched.
    assert api.get(f"/keys/{key['id']}").json()["status"] == "active"


def test_list_pages_with_a_cursor_filters_and_counts(api):
    made = [api.generate(f"svc-{i}") for i in range(5)]
    for key in made[:2]:
        assert api.post(f"/keys/{key['id']}/revoke", json={"reason": "retired"}).status_code == 200

    seen, cursor, pages = [], None, 0
    while True:
        params = {"project_id": api.project, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/keys", "viewer", params=params).json()
        assert page["total"] == 5
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and seen == [k["id"] for k in reversed(made)]

    revoked = api.get("/keys", params={"project_id": api.project, "status": "revoked"}).json()
    assert revoked["total"] == 2 and {i["id"] for i in revoked["items"]} == {
        made[0]["id"],
        made[1]["id"],
    }
    active = api.get("/keys", params={"project_id": api.project, "status": "active"}).json()
    assert active["total"] == 3
    found = api.get("/keys", params={"project_id": api.project, "q": "SVC-3"}).json()
    assert [i["id"] for i in found["items"]] == [made[3]["id"]] and found["total"] == 1
    by_id = api.get("/keys", params={"project_id": api.project, "q": made[4]["id"][:8]}).json()
    assert made[4]["id"] in [i["id"] for i in by_id["items"]]

    for bad in ({"limit": 0}, {"limit": 201}, {"status": "expired"}):
        assert_error(api.get("/keys", params={"project_id": api.project, **bad}), 422)
    assert_error(
        api.get("/keys", params={"project_id": api.project, "cursor": "garbage!"}),
        400,
        contains="cursor",
    )
    assert api.get("/keys", params={"project_id": api.project, "limit": 200}).status_code == 200


def test_revoke_twice_is_409_and_reactivate_brings_it_back(api):
    key = api.generate()
    revoked = api.post(f"/keys/{key['id']}/revoke", json={"reason": "retired", "grace_seconds": 0})
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoke_reason"] == "retired"
    assert "secret" not in revoked.json()
    assert_error(
        api.post(f"/keys/{key['id']}/revoke", json={"reason": "retired"}),
        409,
        contains="already revoked",
    )
    back = api.post(f"/keys/{key['id']}/reactivate")
    assert back.status_code == 200 and back.json()["status"] == "active"
    assert back.json()["revoked_at"] is None and "secret" not in back.json()
    assert_error(api.post(f"/keys/{key['id']}/reactivate"), 409, contains="already active")
    actions = [e["action"] for e in api.events(key_id=key["id"])]
    assert actions == ["key.reactivated", "key.revoked", "key.generated"]


def test_a_compromised_key_can_never_be_reactivated(api):
    key = api.generate()
    assert api.post(f"/keys/{key['id']}/revoke", json={"reason": "compromised"}).status_code == 200
    body = assert_error(
        api.post(f"/keys/{key['id']}/reactivate", "owner"), 409, contains="compromised"
    )
    assert "NIST" in body["detail"]
    assert api.get(f"/keys/{key['id']}").json()["status"] == "revoked"


def test_revoke_validates_its_body(api):
    key = api.generate()
    for body in [
        {},
        {"reason": "bored"},
        {"reason": "retired", "grace_seconds": -1},
        {"reason": "retired", "grace_seconds": 604801},
        {"reason": "retired", "grace_seconds": "60"},
        {"reason": "retired", "grace_seconds": True},
        {"reason": "retired", "grace_seconds": 1.5},
    ]:
        assert_error(api.post(f"/keys/{key['id']}/revoke", json=body), 422)
    graced = api.post(
        f"/keys/{key['id']}/revoke", json={"reason": "retired", "grace_seconds": 604800}
    )
    assert graced.status_code == 200
    expires = datetime.fromisoformat(graced.json()["expires_at"])
    assert (
        timedelta(days=7) - timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(days=7)
    )
    assert graced.json()["status"] == "active"  # still signing until then


def test_a_viewer_cannot_revoke_and_the_refusal_is_audited(api):
    key = api.generate()
    assert_error(
        api.post(f"/keys/{key['id']}/revoke", "viewer", json={"reason": "compromised"}),
        403,
        contains="viewer",
    )
    assert api.get(f"/keys/{key['id']}", "viewer").json()["status"] == "active"
    (denied,) = api.events(action="access.denied")
    assert denied["actor_email"] == api.world.viewer.email and denied["key_id"] == key["id"]
    assert denied["details"]["attempted"] == "revoking a key"
    assert_error(api.post(f"/keys/{key['id']}/reactivate", "viewer"), 403)
    assert_error(api.post(f"/keys/{key['id']}/rotate", "viewer", json={}), 403)


def test_rotate_answers_201_with_the_new_secret_and_keeps_the_old_key_for_the_grace(api):
    old = api.generate("payments")
    rotated = api.post(f"/keys/{old['id']}/rotate", json={"grace_seconds": 3600})
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["id"] != old["id"] and new["name"] == "payments"
    assert new["secret"].startswith("whsec_") and new["secret"] != old["secret"]
    old_now = api.get(f"/keys/{old['id']}").json()
    assert old_now["status"] == "active" and old_now["revoke_reason"] == "rotated"
    assert old_now["expires_at"] is not None
    assert_error(api.post(f"/keys/{old['id']}/rotate", json={}), 409)

    # No body: the default grace of 24 hours.
    default = api.post(f"/keys/{new['id']}/rotate")
    assert default.status_code == 201
    expires = datetime.fromisoformat(api.get(f"/keys/{new['id']}").json()["expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=24)
    assert_error(
        api.post(f"/keys/{default.json()['id']}/rotate", json={"grace_seconds": 604801}), 422
    )


# ---------------------------------------------------------------- audit


def test_audit_pages_and_filters(api):
    a, b = api.generate("a"), api.generate("b")
    api.post(f"/keys/{a['id']}/revoke", json={"reason": "retired"})
    api.post(f"/keys/{b['id']}/rotate", "owner", json={"grace_seconds": 60})

    everything = api.events("viewer")
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)
    assert {e["action"] for e in everything} >= {
        "project.created",
        "key.generated",
        "key.revoked",
        "key.rotated",
    }
    assert [e["key_id"] for e in api.events(action="key.revoked")] == [a["id"]]
    assert {e["action"] for e in api.events(key_id=b["id"])} == {"key.generated", "key.rotated"}
    assert {e["actor_email"] for e in api.events(actor=api.world.owner.email.upper())} == {
        api.world.owner.email
    }
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.events(since=future) == []
    assert len(api.events(until=future)) == len(everything)

    first = api.get("/audit", params={"project_id": api.project, "limit": 2}).json()
    second = api.get(
        "/audit", params={"project_id": api.project, "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in everything[:4]]

    assert_error(
        api.get("/audit", params={"project_id": api.project, "action": "key.exploded"}), 422
    )
    assert_error(
        api.get(
            "/audit",
            params={"project_id": api.project, "since": future, "until": "2020-01-01T00:00:00Z"},
        ),
        400,
        contains="since",
    )
    assert_error(
        api.get("/audit", params={"project_id": api.project, "since": "2026-01-01T00:00:00"}),
        400,
        contains="time zone",
    )
    assert_error(api.get("/audit", params={"project_id": api.project, "cursor": "%%%"}), 400)
    assert_error(
        api.get("/audit", params={"project_id": api.project, "since": "1700000000"}),
        422,
        contains="ISO 8601",
    )
    assert_error(api.get("/audit", "outsider", params={"project_id": api.project}), 404)


def test_audit_export_streams_csv_and_jsonl_with_the_filters(api):
    key = api.generate("export-me")
    api.post(f"/keys/{key['id']}/revoke", json={"reason": "compromised"})
    listed = api.events()

    answer = api.get("/audit/export", "viewer", params={"project_id": api.project, "format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "content-length" not in answer.headers  # streamed, not built up front
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["seq"] for r in rows] == [str(e["seq"]) for e in listed]
    assert (
        rows[0]["action"] == "key.revoked"
        and json.loads(rows[0]["details"])["reason"] == "compromised"
    )
    assert key["secret"] not in answer.text

    jsonl = api.get(
        "/audit/export", params={"project_id": api.project, "format": "jsonl", "key_id": key["id"]}
    )
    assert jsonl.status_code == 200 and jsonl.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [e["action"] for e in lines] == ["key.revoked", "key.generated"]
    assert all(e["key_id"] == key["id"] for e in lines)

    assert_error(api.get("/audit/export", "outsider", params={"project_id": api.project}), 404)
    assert_error(api.get("/audit/export", params={"project_id": api.project, "format": "xml"}), 422)
    assert_error(
        api.get("/audit/export", params={"project_id": api.project, "since": "2026-01-01"}), 400
    )


# ---------------------------------------------------------------- webhooks


def test_signatures_from_sign_verify_with_standardwebhooks_and_svix(api):
    key = api.generate()
    payload = '{"type": "invoice.paid", "amount": 4200, "note": "café ☕"}'
    headers = api.sign(payload)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert (
        headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
    )
    assert standardwebhooks.Webhook(key["secret"]).verify(payload, headers) == json.loads(payload)
    svix.webhooks.Webhook(key["secret"]).verify(payload.encode("utf-8"), headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(key["secret"]).verify(payload.replace("4200", "4201"), headers)

    fixed = api.sign(payload, msg_id="msg_fixed", timestamp=1614265330)
    assert fixed["webhook-id"] == "msg_fixed" and fixed["webhook-timestamp"] == "1614265330"
    assert_error(
        api.post(
            "/webhooks/sign", json={"project_id": api.project, "payload": "x", "msg_id": "has.dot"}
        ),
        400,
        contains="msg_id",
    )


def test_verify_follows_revocation_and_reactivation(api):
    key = api.generate()
    payload = '{"event": "ping"}'
    headers = _standard_headers(key["secret"], payload)
    ok = api.verify(payload, headers)
    assert ok.status_code == 200 and ok.json() == {
        "valid": True,
        "key_id": key["id"],
        "detail": None,
    }

    api.post(f"/keys/{key['id']}/revoke", json={"reason": "retired"})
    refused = api.verify(payload, headers)
    assert refused.status_code == 400 and refused.json()["valid"] is False
    assert "no signature matches" in refused.json()["detail"]

    api.post(f"/keys/{key['id']}/reactivate")
    assert api.verify(payload, headers).json()["key_id"] == key["id"]


def test_during_a_rotation_grace_both_keys_sign_and_either_secret_verifies(api, monkeypatch):
    old = api.generate()
    new = api.post(f"/keys/{old['id']}/rotate", json={"grace_seconds": 600}).json()
    payload = "raw bytes, not JSON at all"
    headers = api.sign(payload)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old["secret"], new["secret"]):
        svix.webhooks.Webhook(secret).verify(payload, headers)
        standardwebhooks.Webhook(secret).verify(payload, headers, json_parse=False)
    for key in (old, new):
        answer = api.verify(payload, _standard_headers(key["secret"], payload))
        assert answer.json() == {"valid": True, "key_id": key["id"], "detail": None}

    # After the grace period only the new key signs and verifies.
    later = clock.now() + timedelta(seconds=601)
    monkeypatch.setattr(clock, "now", lambda: later)
    at = later.replace(microsecond=0)
    assert api.verify(payload, _standard_headers(old["secret"], payload, at=at)).status_code == 400
    headers = api.sign(payload)
    assert len(headers["webhook-signature"].split(" ")) == 1
    svix_new = svix.webhooks.Webhook(new["secret"])
    assert svix_new.sign(headers["webhook-id"], at, payload) == headers["webhook-signature"]


def test_verify_refuses_stale_timestamps_tampering_and_missing_headers(api):
    key = api.generate()
    payload = '{"a": 1}'
    stale = _standard_headers(key["secret"], payload, at=datetime.now(UTC) - timedelta(minutes=10))
    answer = api.verify(payload, stale)
    assert answer.status_code == 400 and "300 s" in answer.json()["detail"]
    fresh = _standard_headers(key["secret"], payload)
    assert api.verify('{"a": 2}', fresh).json()["valid"] is False
    assert api.verify(payload + " ", fresh).json()["valid"] is False  # bytes, not parsed JSON
    missing = api.verify(payload, {"webhook-id": "msg_1"})
    assert missing.status_code == 400 and "missing header" in missing.json()["detail"]
    svix_named = {k.replace("webhook-", "svix-"): v for k, v in fresh.items()}
    assert api.verify(payload, svix_named).json()["valid"] is True


def test_sign_and_verify_refusals(api):
    assert_error(
        api.post("/webhooks/sign", json={"project_id": api.project, "payload": "x"}),
        409,
        contains="Generate a key first",
    )
    api.generate()
    assert_error(
        api.post("/webhooks/sign", "viewer", json={"project_id": api.project, "payload": "x"}), 403
    )
    assert (
        api.post(
            "/webhooks/sign", "owner", json={"project_id": api.project, "payload": "x"}
        ).status_code
        == 200
    )
    assert_error(
        api.post("/webhooks/sign", "outsider", json={"project_id": api.project, "payload": "x"}),
        404,
    )
    assert_error(api.verify("x", {}, who="outsider"), 404)
    assert_error(
        api.post("/webhooks/verify", json={"project_id": api.project, "payload": "x"}), 422
    )
    assert_error(api.post("/webhooks/sign", json={"project_id": api.project, "payload": 5}), 422)


# ---------------------------------------------------------------- operations


def test_health_and_metrics_answer_without_a_token(api):
    assert api.client.get("/health").json() == {"status": "ok"}
    key = api.generate()
    api.post(f"/keys/{key['id']}/revoke", json={"reason": "retired"})
    api.post(f"/keys/{key['id']}/revoke", json={"reason": "retired"})
    api.verify("x", {"webhook-id": "m", "webhook-timestamp": "0", "webhook-signature": "v1,AA=="})
    signer = api.generate("signer")
    assert api.verify("x", _standard_headers(signer["secret"], "x")).status_code == 200
    text = api.client.get("/metrics").text
    assert (
        'meshkeys_http_requests_total{method="POST",route="/keys/{key_id}/revoke",status="409"} 1.0'
        in text
    )
    assert (
        'meshkeys_http_requests_total{method="POST",route="/keys/generate",status="201"} 2.0'
        in text
    )
    assert (
        "meshkeys_http_request_duration_seconds_count"
        '{method="GET",route="/health",status="200"} 1.0' in text
    )
    assert 'meshkeys_key_operations_total{action="revoke",outcome="conflict"} 1.0' in text
    assert 'meshkeys_key_operations_total{action="generate",outcome="ok"} 2.0' in text
    assert 'meshkeys_webhook_verifications_total{result="invalid"} 1.0' in text
    assert 'meshkeys_webhook_verifications_total{result="valid"} 1.0' in text
    assert key["secret"] not in text
