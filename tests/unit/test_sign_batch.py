"""`POST /webhooks/sign/batch` and the loaded-keys fast path (crypto.signing.KeySet)."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import standardwebhooks

from meshkeys.crypto.secrets import generate_secret
from meshkeys.crypto.signing import KeySet, SignatureError, parse_headers, sign, verify
from tests.api_world import assert_error

# ---------------------------------------------------------------- the endpoint


def test_a_batch_carries_a_v1a_entry_per_ed25519_key_beside_the_v1_ones(api):
    """A project holding both kinds: every message of a batch is signed by both, and the
    ed25519 entry verifies with the public key alone (cryptography's Ed25519PublicKey)."""
    from meshkeys.crypto import ed25519
    from meshkeys.crypto.signing import signed_content

    hmac_secret = api.generate("shared")["secret"]
    answer = api.post(
        "/keys/generate",
        "admin",
        json={"project_id": api.project, "name": "edge", "type": "ed25519"},
    )
    assert answer.status_code == 201, answer.text
    public = ed25519.public_key(answer.json()["public_key"])
    messages = [{"payload": json.dumps({"n": n})} for n in range(3)]
    items = _batch(api, messages).json()["items"]
    for message, item in zip(messages, items, strict=True):
        headers = item["headers"]
        entries = headers["webhook-signature"].split(" ")
        assert [e.split(",")[0] for e in entries] == ["v1", "v1a"]
        standardwebhooks.Webhook(hmac_secret).verify(message["payload"], headers)
        content = signed_content(
            headers["webhook-id"], int(headers["webhook-timestamp"]), message["payload"].encode()
        )
        public.verify(base64.b64decode(entries[1].split(",")[1]), content)
        v1a_only = {**headers, "webhook-signature": entries[1]}
        assert api.verify(message["payload"], v1a_only).json()["valid"] is True


def _batch(api, messages, who: str = "admin"):
    return api.post(
        "/webhooks/sign/batch", who, json={"project_id": api.project, "messages": messages}
    )


def test_a_batch_is_signed_in_order_by_every_active_key(api):
    keys = [api.generate("one")["secret"], api.generate("two")["secret"]]
    now = int(datetime.now(UTC).timestamp())
    messages = [
        {"payload": json.dumps({"n": n}), "msg_id": f"msg_{n}", "timestamp": now - n}
        for n in range(5)
    ] + [{"payload": '{"no": "id"}'}]
    answer = _batch(api, messages)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert len(items) == len(messages)
    for message, item in zip(messages, items, strict=True):
        headers = item["headers"]
        if "msg_id" in message:
            assert headers["webhook-id"] == message["msg_id"]
            assert headers["webhook-timestamp"] == str(message["timestamp"])
        else:
            assert headers["webhook-id"].startswith("msg_")
        assert len(headers["webhook-signature"].split(" ")) == 2
        for secret in keys:  # each key's signature verifies with the reference package
            standardwebhooks.Webhook(secret).verify(message["payload"], headers)
        assert api.verify(message["payload"], headers).json()["valid"] is True
    assert items[5]["headers"]["webhook-id"] != api.sign("x")["webhook-id"]


def test_a_batch_loads_the_keys_once(api):
    api.generate("one")
    api.generate("two")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(api.engine, "before_cursor_execute", seen)
    try:
        answer = _batch(api, [{"payload": str(n)} for n in range(1000)])
    finally:
        sa.event.remove(api.engine, "before_cursor_execute", seen)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["items"]) == 1000
    key_loads = [s for s in statements if "FROM signature_keys" in s]
    assert len(key_loads) == 1, key_loads


@pytest.mark.parametrize("count", [0, 1001])
def test_a_batch_holds_1_to_1000_messages(api, count):
    api.generate()
    assert_error(_batch(api, [{"payload": "x"}] * count), 422, contains="messages")


def test_a_bad_message_names_its_index_and_nothing_is_signed(api):
    api.generate()
    messages = [{"payload": "a"}, {"payload": "b", "msg_id": "has.dot"}]
    assert_error(_batch(api, messages), 400, contains="messages[1]: msg_id")
    assert_error(_batch(api, [{"payload": "a", "extra": 1}]), 422, contains="extra")


def test_a_batch_needs_an_admin_and_an_active_key(api):
    assert_error(_batch(api, [{"payload": "a"}]), 409, contains="no active key")
    api.generate()
    assert _batch(api, [{"payload": "a"}], who="viewer").status_code == 403
    assert _batch(api, [{"payload": "a"}], who="outsider").status_code == 404


# ---------------------------------------------------------------- the fast path


@pytest.mark.parametrize("size", [0, 1024, 65536])
def test_keyset_agrees_with_standardwebhooks_both_ways(size):
    secrets = [generate_secret() for _ in range(5)]
    keys = KeySet((f"k{i}", s) for i, s in enumerate(secrets))
    payload = json.dumps({"d": os.urandom(size // 2).hex()}).encode()  # the reference parses it
    now = datetime.now(UTC)
    ours = keys.sign_headers(payload=payload, msg_id="msg_eq", timestamp=int(now.timestamp()))
    assert len(ours["webhook-signature"].split(" ")) == 5
    for secret in secrets:
        standardwebhooks.Webhook(secret).verify(payload, ours)  # raises on mismatch
    for i, secret in enumerate(secrets):  # theirs: each key's own signature, oldest last
        theirs = standardwebhooks.Webhook(secret).sign("msg_eq", now, payload.decode())
        headers = {
            "webhook-id": "msg_eq",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": theirs,
        }
        assert keys.verify(headers=headers, payload=payload) == f"k{i}"
        assert ours["webhook-signature"].split(" ")[i] == theirs
    tampered = dict(ours, **{"webhook-id": "msg_other"})
    with pytest.raises(SignatureError, match="no signature matches"):
        keys.verify(headers=tampered, payload=payload)


def test_keyset_decodes_each_secret_once():
    secret = generate_secret()
    keys = KeySet([("k", secret)])
    signed = [keys.sign_headers(payload=b"%d" % n, timestamp=5) for n in range(3)]
    assert keys._keys == [("k", base64.b64decode(secret.removeprefix("whsec_")))]
    for n, headers in enumerate(signed):
        assert keys.verify(headers=headers, payload=b"%d" % n, clock=lambda: 5) == "k"
        assert headers["webhook-signature"] == sign(
            secret, msg_id=headers["webhook-id"], timestamp=5, payload=b"%d" % n
        )


def test_headers_are_parsed_in_one_pass_whatever_their_case_and_order():
    svix = {"svix-id": "s", "svix-timestamp": "1", "svix-signature": "v1,s"}
    std = {"Webhook-Id": "w", "WEBHOOK-timestamp": "2", "webhook-signature": "v1,w"}
    assert parse_headers({**svix, **std}) == ("w", "2", "v1,w")
    assert parse_headers({**std, **svix}) == ("w", "2", "v1,w")
    assert parse_headers(svix) == ("s", "1", "v1,s")
    assert parse_headers({**std, "webhook-id": "w"}) == ("w", "2", "v1,w")  # same value twice
    with pytest.raises(SignatureError, match="webhook-id is given twice"):
        parse_headers({**std, "webhook-id": "other"})
    with pytest.raises(SignatureError, match="missing header webhook-signature"):
        parse_headers({"webhook-id": "w", "svix-timestamp": "1", "other": "x"})
    secret = generate_secret()
    mixed = {
        "svix-id": "m",
        "webhook-timestamp": "9",
        "Svix-Signature": sign(secret, msg_id="m", timestamp=9, payload=b"p"),
    }
    assert verify([("k", secret)], headers=mixed, payload=b"p", clock=lambda: 9) == "k"


def test_a_revoked_key_stops_signing_and_verifying_on_the_very_next_request(api):
    """No cache of keys across requests: the revoke's answer is enough."""
    old = api.generate("old")
    api.generate("new")
    payload = '{"n": 1}'
    before = _batch(api, [{"payload": payload}]).json()["items"][0]["headers"]
    assert len(before["webhook-signature"].split(" ")) == 2
    by_old = dict(before, **{"webhook-signature": before["webhook-signature"].split(" ")[1]})
    assert api.verify(payload, by_old).json()["key_id"] == old["id"]
    revoked = api.post(f"/keys/{old['id']}/revoke", json={"reason": "compromised"})
    assert revoked.status_code == 200, revoked.text
    after = _batch(api, [{"payload": payload}]).json()["items"][0]["headers"]
    assert len(after["webhook-signature"].split(" ")) == 1
    assert api.verify(payload, by_old).status_code == 400
