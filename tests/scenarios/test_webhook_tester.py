"""What the UI's key page and webhook tester ask of the services, on both backends: one key of
one project with its creator, and a verification that says which key matched or why none did."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from meshkeys import clock
from meshkeys.services import key_commands, key_queries, signing, verification
from meshkeys.services.errors import InvalidInput, NotFound
from meshkeys.services.keys import KEY_NOT_FOUND


def _keys(uow, world, *names):
    return [
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=n)
        for n in names
    ]


def _explain(uow, actor, world, headers, payload=b'{"a":1}'):
    return verification.explain_verification(
        uow(actor), project_id=world.project_id, payload=payload, headers=headers
    )


def test_a_key_of_the_project_with_its_creator_and_nothing_else(uow, world):
    (key,) = _keys(uow, world, "billing")
    details = key_queries.get_project_key(
        uow(world.viewer), project_id=world.project_id, key_id=key.id
    )
    assert details.key.id == key.id and details.created_by_email == world.admin.email
    assert not hasattr(details.key, "secret")
    # Another project's key, an outsider, an unknown id: the same NotFound, never "exists".
    for actor, project_id, key_id in (
        (world.owner, world.other_project_id, key.id),
        (world.outsider, world.project_id, key.id),
        (world.outsider, world.other_project_id, key.id),
        (world.owner, world.project_id, uuid.uuid4()),
    ):
        with pytest.raises(NotFound) as caught:
            key_queries.get_project_key(uow(actor), project_id=project_id, key_id=key_id)
        assert caught.value.message == KEY_NOT_FOUND


def test_a_viewer_learns_which_key_verified(uow, world):
    old, new = _keys(uow, world, "old", "new")
    headers = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=b"p")
    result = _explain(uow, world.viewer, world, headers, b"p")
    assert result.valid and result.reason == verification.VERIFIED
    assert result.key == verification.TriedKey(new.id, "new")  # newest first
    assert result.message == f"Verified by key new ({str(new.id)[:8]})."
    assert [k.id for k in result.tried] == [new.id, old.id]


def test_a_tampered_payload_names_the_keys_tried(uow, world):
    (one,) = _keys(uow, world, "one")
    headers = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=b"p")
    (two,) = _keys(uow, world, "two")
    result = _explain(uow, world.viewer, world, headers, b"p!")
    assert not result.valid and result.reason == verification.NO_MATCH
    assert [k.id for k in result.tried] == [two.id, one.id]
    assert f"two ({str(two.id)[:8]}), one ({str(one.id)[:8]})" in result.message
    assert "Tried 2 active keys" in result.message
    # A revoked key is not tried: it never verifies, even the payload it signed.
    key_commands.revoke_key(uow(world.admin), key_id=one.id, reason="retired", grace_seconds=0)
    result = _explain(uow, world.viewer, world, headers, b"p")
    assert (result.valid, result.reason) == (False, verification.NO_MATCH)
    assert [k.id for k in result.tried] == [two.id] and "Tried 1 active key:" in result.message


@pytest.mark.parametrize(
    ("shift", "reason", "words"),
    [
        (-3600, verification.TOO_OLD, "too old by 3300 seconds: it is 3600 seconds before now"),
        (900, verification.TOO_NEW, "too new by 600 seconds: it is 900 seconds after now"),
    ],
)
def test_a_timestamp_out_of_tolerance_says_by_how_much(
    uow, world, monkeypatch, shift, reason, words
):
    _keys(uow, world, "k")
    frozen = clock.now()
    monkeypatch.setattr(clock, "now", lambda: frozen)  # a slow machine adds no second
    stamp = int(frozen.timestamp()) + shift
    headers = signing.sign_payload(
        uow(world.admin), project_id=world.project_id, payload=b"p", timestamp=stamp
    )
    result = _explain(uow, world.viewer, world, headers, b"p")
    assert not result.valid and result.reason == reason
    assert words in result.message
    assert result.off_by_seconds == abs(shift) - 300


def test_each_header_failure_is_named(uow, world):
    _keys(uow, world, "k")
    good = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=b"p")
    cases = {
        verification.MISSING_HEADER: {k: v for k, v in good.items() if k != "webhook-signature"},
        verification.BAD_TIMESTAMP: {**good, "webhook-timestamp": "soon"},
        verification.BAD_MSG_ID: {**good, "webhook-id": ""},
        verification.NO_V1: {**good, "webhook-signature": "v2,abc v1,not-base64!"},
        verification.DUPLICATE_HEADER: {**good, "WEBHOOK-ID": "other"},
    }
    for reason, headers in cases.items():
        result = _explain(uow, world.viewer, world, headers, b"p")
        assert (result.valid, result.reason) == (False, reason), (reason, result.message)
        assert result.tried == ()  # no key was tried
    missing = _explain(uow, world.viewer, world, cases[verification.MISSING_HEADER], b"p")
    assert "webhook-signature header is missing" in missing.message
    # Svix's header names are read too, as by the API.
    svix = {k.replace("webhook-", "svix-"): v for k, v in good.items()}
    assert _explain(uow, world.viewer, world, svix, b"p").valid
    # What only the fast path checks (an id UTF-8 cannot encode) is reported in its words.
    odd = _explain(uow, world.viewer, world, {**good, "webhook-id": "\udc80"}, b"p")
    assert (odd.valid, odd.reason) == (False, verification.INVALID) and "UTF-8" in odd.message


def test_no_active_key_and_no_member(uow, world):
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(clock.now().timestamp()))}
    headers["webhook-signature"] = "v1,AAAA"
    result = _explain(uow, world.viewer, world, headers)
    assert (result.valid, result.reason, result.tried) == (False, verification.NO_KEYS, ())
    with pytest.raises(NotFound):
        _explain(uow, world.outsider, world, headers)


def test_the_explanation_agrees_with_the_fast_path(uow, world, monkeypatch):
    _keys(uow, world, "k")
    now = clock.now()
    monkeypatch.setattr(clock, "now", lambda: now)  # both answers at the same second
    for shift, payload in ((0, b"p"), (0, b"x"), (-300, b"p"), (-301, b"p"), (301, b"p")):
        stamp = int((now + timedelta(seconds=shift)).timestamp())
        headers = signing.sign_payload(
            uow(world.admin), project_id=world.project_id, payload=b"p", timestamp=stamp
        )
        explained = _explain(uow, world.viewer, world, headers, payload)
        try:
            signing.verify_payload(
                uow(world.viewer), project_id=world.project_id, payload=payload, headers=headers
            )
            fast = True
        except InvalidInput:
            fast = False
        assert explained.valid is fast, (shift, payload, explained.message)


def test_pasted_header_lines():
    parse = verification.parse_header_lines
    text = "Webhook-Id: msg_1\n\n  webhook-timestamp:  123 \nwebhook-signature: v1,a= v1,b=\n"
    assert parse(text) == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "123",
        "webhook-signature": "v1,a= v1,b=",
    }
    assert parse("content-type: application/json\ncontent-type: application/json") == {
        "content-type": "application/json"
    }
    for bad, words in (
        ("webhook-id msg_1", "Line 1"),
        ("a: 1\n: 2", "Line 2"),
        ("a: 1\na: 2", "given twice"),
        ("", "Paste the headers"),
        ("a: \x00", "Line 1"),
        ("a: 1\n" * 101, "at most 100"),
        ("a: " + "x" * 70_000, "at most 64 KiB"),
    ):
        with pytest.raises(InvalidInput, match=words):
            parse(bad)


def test_an_ed25519_signature_is_explained_by_its_key_and_a_v1a_only_header_is_not_no_v1(
    uow, world
):
    """A project holding both kinds: the tester names the ed25519 key whose v1a entry matched,
    also when the header holds only that entry (no v1 at all)."""
    (hmac_key,) = _keys(uow, world, "shared")
    ed = key_commands.generate_key(
        uow(world.admin), project_id=world.project_id, name="edge", key_type="ed25519"
    )
    headers = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=b"p")
    v1a_only = {
        **headers,
        "webhook-signature": " ".join(
            e for e in headers["webhook-signature"].split() if e.startswith("v1a,")
        ),
    }
    assert v1a_only["webhook-signature"]
    result = _explain(uow, world.viewer, world, v1a_only, b"p")
    assert result.valid and result.key == verification.TriedKey(ed.id, "edge")
    tampered = _explain(uow, world.viewer, world, v1a_only, b"p!")
    assert (tampered.valid, tampered.reason) == (False, verification.NO_MATCH)
    assert {k.id for k in tampered.tried} == {hmac_key.id, ed.id}
