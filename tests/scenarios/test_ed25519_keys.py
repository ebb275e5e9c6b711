"""ed25519 (Standard Webhooks v1a) keys through the services and the REST API, on both backends
(on PostgreSQL as the runtime role under row-level security): generate, sign, verify, rotate,
revoke; the project's public key set, published or not; a receiver that only fetches it."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import nacl.signing
import pytest
from sqlmodel import select

from meshkeys import clock
from meshkeys.models import KeyType, SignatureKey
from meshkeys.services import audit, key_commands, public_keys, signing
from meshkeys.services.errors import InvalidInput, NotFound, PermissionDenied
from meshkeys.services.keys import decrypt_secret
from tests.api_world import assert_error
from tests.helpers import all_events

PAYLOAD = b'{"type":"invoice.paid","data":{"id":"in_1"}}'


def _gen(uow, world, name="edge", key_type="ed25519"):
    return key_commands.generate_key(
        uow(world.admin), project_id=world.project_id, name=name, key_type=key_type
    )


def _entries(headers):
    return [part.split(",")[0] for part in headers["webhook-signature"].split()]


# ---------------------------------------------------------------- services


def test_generate_ed25519_shows_whsk_once_stores_it_encrypted_and_the_public_key_in_clear(
    uow, session, world
):
    key = _gen(uow, world)
    assert key.key_type == KeyType.ED25519
    assert key.secret.startswith("whsk_") and key.public_key.startswith("whpk_")
    assert key.masked_secret == "whsk_…" + key.secret[-4:]
    row = session.get(SignatureKey, key.id)
    assert (
        row.key.startswith("mk1.") and key.secret not in row.key and key.secret[5:] not in row.key
    )
    assert row.public_key == key.public_key and decrypt_secret(row) == key.secret
    # Bound to the row like an HMAC secret: associated data = the row's id and project.
    row.id = uuid.uuid4()
    with pytest.raises(Exception, match="cannot be decrypted"):
        decrypt_secret(row)
    [event] = all_events(uow, world.project_id, audit.KEY_GENERATED)
    assert event.details == {"type": "ed25519"}
    assert key.secret not in json.dumps(event.details)
    # HMAC stays the default.
    plain = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="h")
    assert plain.key_type == KeyType.HMAC_SHA256 and plain.public_key is None
    with pytest.raises(InvalidInput, match="type must be one of"):
        _gen(uow, world, key_type="rsa")


def test_a_mixed_project_signs_with_v1_and_v1a_and_verify_accepts_either(uow, world):
    hmac_key = _gen(uow, world, "hmac", "hmac-sha256")
    ed_key = _gen(uow, world, "ed")
    headers = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=PAYLOAD)
    assert sorted(_entries(headers)) == ["v1", "v1a"]

    def verify(h, payload=PAYLOAD):
        return signing.verify_payload(
            uow(world.viewer), project_id=world.project_id, payload=payload, headers=h
        )

    only_v1a = {**headers, "webhook-signature": headers["webhook-signature"].split()[1]}
    only_v1 = {**headers, "webhook-signature": headers["webhook-signature"].split()[0]}
    assert verify(only_v1a) == ed_key.id
    assert verify(only_v1) == hmac_key.id
    assert verify(headers) in (ed_key.id, hmac_key.id)
    with pytest.raises(InvalidInput, match="no signature matches"):
        verify(only_v1a, PAYLOAD + b" ")
    with pytest.raises(InvalidInput, match="holds no v1 or v1a signature"):
        verify({**headers, "webhook-signature": "v2,abc"})


def test_rotate_keeps_the_type_and_a_revoked_ed25519_key_never_verifies(uow, world, monkeypatch):
    old = _gen(uow, world)
    before = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=PAYLOAD)
    new = key_commands.rotate_key(uow(world.admin), key_id=old.id, grace_seconds=60)
    assert new.key_type == KeyType.ED25519 and new.secret.startswith("whsk_")
    assert new.public_key != old.public_key
    # During the grace period both sign (two v1a entries) and both are published.
    headers = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=PAYLOAD)
    assert _entries(headers) == ["v1a", "v1a"]
    listed = public_keys.public_key_set(uow(world.viewer), project_id=world.project_id)
    assert [k.public_key for k in listed.keys] == [new.public_key, old.public_key]
    assert listed.keys[0].expires_at is None and listed.keys[1].expires_at is not None
    # Once the grace period is over the old key is revoked: its signature no longer verifies,
    # and it leaves the public key set.
    later = clock.now() + timedelta(seconds=120)
    monkeypatch.setattr(clock, "now", lambda: later)
    before["webhook-timestamp"] = str(int(later.timestamp()))
    resigned = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=PAYLOAD)
    assert _entries(resigned) == ["v1a"]
    old_only = {
        "webhook-id": resigned["webhook-id"],
        "webhook-timestamp": resigned["webhook-timestamp"],
        "webhook-signature": _old_signature(uow, old.id, resigned),
    }
    with pytest.raises(InvalidInput, match="no signature matches"):
        signing.verify_payload(
            uow(world.viewer), project_id=world.project_id, payload=PAYLOAD, headers=old_only
        )
    listed = public_keys.public_key_set(uow(world.viewer), project_id=world.project_id)
    assert [k.public_key for k in listed.keys] == [new.public_key]


def _old_signature(uow, key_id, headers) -> str:
    """What the revoked key would sign now (it still exists, encrypted)."""
    from meshkeys.crypto import ed25519

    with uow(system=True) as unit:
        row = unit.session.exec(select(SignatureKey).where(SignatureKey.id == key_id)).one()
        seed = decrypt_secret(row)
    return ed25519.sign(
        seed,
        msg_id=headers["webhook-id"],
        timestamp=int(headers["webhook-timestamp"]),
        payload=PAYLOAD,
    )


def test_the_public_key_set_lists_only_effective_ed25519_keys_and_publishing_is_an_owner_act(
    uow, world
):
    _gen(uow, world, "hmac", "hmac-sha256")
    gone = _gen(uow, world, "gone")
    key_commands.revoke_key(uow(world.admin), key_id=gone.id, reason="retired")
    live = _gen(uow, world, "live")
    listed = public_keys.public_key_set(uow(world.viewer), project_id=world.project_id)
    assert [k.key_id for k in listed.keys] == [live.id] and listed.published is False
    assert "whsk_" not in listed.model_dump_json()
    with pytest.raises(NotFound):
        public_keys.public_key_set(uow(world.outsider), project_id=world.project_id)
    # Not published: nobody reads it anonymously, and an unknown project answers the same.
    assert public_keys.published_key_set(uow(), project_id=world.project_id) is None
    assert public_keys.published_key_set(uow(), project_id=uuid.uuid4()) is None
    with pytest.raises(PermissionDenied, match="owner"):
        public_keys.set_publish_public_keys(
            uow(world.admin), project_id=world.project_id, publish=True
        )
    with pytest.raises(NotFound):
        public_keys.set_publish_public_keys(
            uow(world.outsider), project_id=world.project_id, publish=True
        )
    done = public_keys.set_publish_public_keys(
        uow(world.owner), project_id=world.project_id, publish=True
    )
    assert done.published and [k.key_id for k in done.keys] == [live.id]
    anonymous = public_keys.published_key_set(uow(), project_id=world.project_id)
    assert anonymous is not None and anonymous.model_dump() == done.model_dump()
    # Setting it again changes nothing and records nothing; turning it off is recorded.
    public_keys.set_publish_public_keys(uow(world.owner), project_id=world.project_id, publish=True)
    public_keys.set_publish_public_keys(
        uow(world.owner), project_id=world.project_id, publish=False
    )
    assert public_keys.published_key_set(uow(), project_id=world.project_id) is None
    actions = [
        e.action
        for e in all_events(uow, world.project_id)
        if e.action.startswith("project.public_keys")
    ]
    assert actions == [audit.PUBLIC_KEYS_PUBLISHED, audit.PUBLIC_KEYS_UNPUBLISHED]
    denied = all_events(uow, world.project_id, audit.ACCESS_DENIED)
    assert denied[-1].details["attempted"] == "publishing public keys"
    with pytest.raises(InvalidInput):
        public_keys.set_publish_public_keys(
            uow(world.owner), project_id=world.project_id, publish="yes"
        )


# ---------------------------------------------------------------- REST API


def _public_keys_url(api, project=None) -> str:
    return f"/projects/{project or api.project}/public-keys"


def _get_with(api, who, url, **extra_headers):
    return api.client.get(url, headers={**api.headers(who), **extra_headers})


def test_api_generates_either_type_and_shows_the_public_key_any_time(api):
    made = api.post(
        "/keys/generate", json={"project_id": api.project, "name": "ed", "type": "ed25519"}
    )
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["key_type"] == "ed25519" and key["secret"].startswith("whsk_")
    assert key["public_key"].startswith("whpk_")
    shown = api.get(f"/keys/{key['id']}", "viewer").json()
    assert shown["public_key"] == key["public_key"] and "secret" not in shown
    assert shown["masked_secret"] == "whsk_…" + key["secret"][-4:]
    assert api.generate("plain")["key_type"] == "hmac-sha256"
    assert_error(
        api.post("/keys/generate", json={"project_id": api.project, "name": "x", "type": "rsa"}),
        422,
        contains="type",
    )
    rotated = api.post(f"/keys/{key['id']}/rotate", json={"grace_seconds": 0})
    assert rotated.status_code == 201 and rotated.json()["key_type"] == "ed25519"


def test_public_keys_endpoint_has_a_strong_etag_304_and_cache_control(api):
    first = api.post(
        "/keys/generate", json={"project_id": api.project, "name": "a", "type": "ed25519"}
    ).json()
    answer = api.get(_public_keys_url(api), "viewer")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["published"] is False
    assert [k["public_key"] for k in body["keys"]] == [first["public_key"]]
    assert "secret" not in answer.text and "whsk_" not in answer.text
    etag = answer.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert answer.headers["cache-control"] == "private"
    # The same tag back: 304 without a body; a stale tag: the set again.
    same = _get_with(api, "viewer", _public_keys_url(api), **{"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    listed = _get_with(api, "viewer", _public_keys_url(api), **{"If-None-Match": f'"x", {etag}'})
    assert listed.status_code == 304
    assert (
        _get_with(api, "admin", _public_keys_url(api), **{"If-None-Match": '"x"'}).status_code
        == 200
    )
    # A new key changes the tag.
    api.post("/keys/generate", json={"project_id": api.project, "name": "b", "type": "ed25519"})
    changed = _get_with(api, "viewer", _public_keys_url(api), **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(changed.json()["keys"]) == 2


def test_no_token_reads_the_public_keys_only_once_an_owner_publishes_them(api):
    api.post("/keys/generate", json={"project_id": api.project, "name": "a", "type": "ed25519"})
    anonymous = api.client.get(_public_keys_url(api))
    unknown = api.client.get(_public_keys_url(api, uuid.uuid4()))
    # Unpublished and unknown projects answer alike: nothing tells them apart.
    assert_error(anonymous, 401)
    assert_error(unknown, 401)
    assert anonymous.json() == unknown.json()
    # With a token: a non-member and an unknown project are the same 404.
    assert_error(api.get(_public_keys_url(api), "outsider"), 404)
    assert_error(api.get(_public_keys_url(api, uuid.uuid4()), "owner"), 404)
    assert_error(
        api.client.patch(
            f"/projects/{api.project}",
            json={"publish_public_keys": True},
            headers=api.headers("admin"),
        ),
        403,
        contains="owner",
    )
    assert_error(
        api.client.patch(
            f"/projects/{api.project}",
            json={"publish_public_keys": "yes"},
            headers=api.headers("owner"),
        ),
        422,
    )
    assert_error(
        api.client.patch(f"/projects/{api.world.project_id}", json={"publish_public_keys": True}),
        401,
    )
    published = api.client.patch(
        f"/projects/{api.project}", json={"publish_public_keys": True}, headers=api.headers("owner")
    )
    assert published.status_code == 200 and published.json()["published"] is True
    open_read = api.client.get(_public_keys_url(api))
    assert open_read.status_code == 200 and open_read.json()["published"] is True
    assert open_read.headers["cache-control"] == "public, max-age=60"
    again = api.client.get(
        _public_keys_url(api), headers={"If-None-Match": open_read.headers["etag"]}
    )
    assert again.status_code == 304 and again.headers["cache-control"] == "public, max-age=60"
    # Another project stays closed; unpublishing closes this one again.
    assert_error(api.client.get(_public_keys_url(api, api.world.other_project_id)), 401)
    api.client.patch(
        f"/projects/{api.project}",
        json={"publish_public_keys": False},
        headers=api.headers("owner"),
    )
    assert_error(api.client.get(_public_keys_url(api)), 401)
    actions = [e["action"] for e in api.events()]
    assert "project.public_keys_published" in actions
    assert "project.public_keys_unpublished" in actions


def test_a_receiver_that_only_fetched_the_public_keys_verifies_with_pynacl(api, capsys):
    """The issue's closing note: the sender signs through the API; the receiver holds no token
    and no secret, only what GET /projects/{id}/public-keys gave it, and verifies with PyNaCl."""
    api.post("/keys/generate", json={"project_id": api.project, "name": "v1a", "type": "ed25519"})
    api.generate("hmac")  # a mixed project: the header carries v1 and v1a entries
    api.client.patch(
        f"/projects/{api.project}", json={"publish_public_keys": True}, headers=api.headers("owner")
    )
    payload = '{"type":"invoice.paid","data":{"id":"in_42","amount":1200}}'
    headers = api.sign(payload)

    fetched = api.client.get(_public_keys_url(api))  # no Authorization header
    assert fetched.status_code == 200
    trusted = [
        nacl.signing.VerifyKey(base64.b64decode(k["public_key"].removeprefix("whpk_")))
        for k in fetched.json()["keys"]
    ]
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{payload}".encode()
    verified = []
    for entry in headers["webhook-signature"].split():
        version, _, encoded = entry.partition(",")
        if version != "v1a":
            continue
        for key in trusted:
            try:
                key.verify(content, base64.b64decode(encoded))
            except nacl.exceptions.BadSignatureError:
                continue
            verified.append(entry)
    assert len(verified) == 1
    tampered = content.replace(b"1200", b"9999")
    with pytest.raises(nacl.exceptions.BadSignatureError):
        trusted[0].verify(tampered, base64.b64decode(verified[0].split(",")[1]))
    with capsys.disabled():
        print(
            "\nreceiver: GET",
            _public_keys_url(api),
            "(no token) ->",
            fetched.status_code,
            fetched.headers["cache-control"],
            "etag",
            fetched.headers["etag"],
            "\nreceiver: public keys",
            [k["public_key"] for k in fetched.json()["keys"]],
            "\nreceiver: webhook-signature",
            headers["webhook-signature"],
            "\nreceiver: PyNaCl verified",
            verified[0][:24] + "...",
            "; tampered payload refused",
        )
