"""The key lifecycle through the services, on SQLite."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from meshkeys import clock
from meshkeys.crypto import masterkey
from meshkeys.crypto.signing import sign_headers
from meshkeys.models import KeyStatus, SignatureKey
from meshkeys.services import audit, key_commands, key_queries, operations, signing
from meshkeys.services.context import RequestInfo
from meshkeys.services.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.helpers import all_events, random_master_key, use_master_keys


def events(uow, project_id, action=None):
    return all_events(uow, project_id, action)


def at(monkeypatch, moment):
    monkeypatch.setattr(clock, "now", lambda: moment)


# ---------------------------------------------------------------- generate


def _stored_bytes(session, backend, request) -> bytes:
    """Everything the database holds: the SQLite file (and its WAL), or every row as JSON."""
    if backend == "sqlite":
        db_path = request.getfixturevalue("db_path")
        session.close()
        wal = db_path.with_name(db_path.name + "-wal")
        return db_path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    dump = []
    for table in ("signature_keys", "audit_events", "audit_heads"):
        query = sa.text(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608
        dump += session.execute(query).scalars().all()
    return "\n".join(dump).encode()


def test_generate_returns_the_secret_once_and_stores_only_ciphertext(
    uow, session, world, backend, request
):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=" prod ")
    assert key.secret.startswith("whsec_") and key.name == "prod"
    assert key.masked_secret == f"whsec_…{key.secret[-4:]}"
    key_commands.reveal_key(uow(world.owner), key_id=key.id)
    row = session.get(SignatureKey, key.id)
    assert row.key.startswith("mk1.") and key.secret not in row.key
    raw = _stored_bytes(session, backend, request)
    assert key.secret.encode() not in raw and key.secret[6:].encode() not in raw
    # Reading it back never carries the secret.
    public = key_queries.get_key(uow(world.viewer), key_id=key.id)
    assert "secret" not in public.model_dump()


def test_generate_writes_its_audit_event_without_the_secret(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="prod")
    (event,) = events(uow, world.project_id, audit.KEY_GENERATED)
    assert (event.actor_email, event.key_id, event.key_name) == (world.admin.email, key.id, "prod")
    assert (event.old_status, event.new_status) == (None, "active")
    for column in event.model_dump().values():
        assert key.secret not in str(column) and key.secret[6:] not in str(column)


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "tab\there"])
def test_generate_refuses_bad_names(uow, session, world, name):
    with pytest.raises(InvalidInput):
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=name)
    assert session.exec(select(sa.func.count()).select_from(SignatureKey)).one() == 0


SPOOFING_NAMES = [
    "invoice\u202egpj.exe",  # RIGHT-TO-LEFT OVERRIDE: reads "invoiceexe.jpg"
    "prod\u2066dev\u2069",  # isolates
    "pro\u200bd",  # zero-width space: looks like "prod"
    "\ufeffprod",  # byte order mark
    "prod\u00ad",  # soft hyphen
    "prod\U000e0041",  # a tag character
]


@pytest.mark.parametrize("name", SPOOFING_NAMES)
def test_key_names_refuse_bidi_and_invisible_characters(uow, session, world, name):
    with pytest.raises(InvalidInput, match="invisible or text-direction character"):
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=name)
    assert session.exec(select(sa.func.count()).select_from(SignatureKey)).one() == 0


def test_key_names_keep_the_joiners_emoji_and_scripts_need(uow, session, world):
    for name in [
        "family \U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    ]:
        made = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=name)
        assert made.name == name


def test_key_and_audit_event_commit_together_or_not_at_all(uow, session, world, monkeypatch):
    def broken_record(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record", broken_record)
    with pytest.raises(RuntimeError):
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="prod")
    session.rollback()
    assert session.exec(select(sa.func.count()).select_from(SignatureKey)).one() == 0
    totals = key_queries.key_totals(uow(world.owner), project_id=world.project_id)
    assert totals.total == 0


# ---------------------------------------------------------------- permissions


def test_viewer_cannot_change_keys_and_the_refusal_is_audited(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    with pytest.raises(PermissionDenied, match="viewer"):
        key_commands.revoke_key(uow(world.viewer), key_id=key.id, reason="retired")
    with pytest.raises(PermissionDenied):
        key_commands.generate_key(uow(world.viewer), project_id=world.project_id, name="x")
    with pytest.raises(PermissionDenied):
        key_commands.reveal_key(uow(world.viewer), key_id=key.id)
    assert key_queries.get_key(uow(world.viewer), key_id=key.id).status == KeyStatus.ACTIVE
    denied = events(uow, world.project_id, audit.ACCESS_DENIED)
    assert [e.details["attempted"] for e in denied] == [
        "revoking a key",
        "generating a key",
        "revealing a secret",
    ]
    assert all(e.actor_email == world.viewer.email for e in denied)


def test_outsiders_get_not_found_never_permission_denied(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    for call in (
        lambda: key_queries.get_key(uow(world.outsider), key_id=key.id),
        lambda: key_commands.revoke_key(uow(world.outsider), key_id=key.id, reason="retired"),
        lambda: key_commands.reveal_key(uow(world.outsider), key_id=key.id),
        lambda: key_queries.list_keys(uow(world.outsider), project_id=world.project_id),
        lambda: key_commands.generate_key(
            uow(world.outsider), project_id=world.project_id, name="x"
        ),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(NotFound):
        key_queries.get_key(uow(world.owner), key_id=uuid.uuid4())


# ---------------------------------------------------------------- revoke / reactivate


def test_revoke_now_then_reactivate(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    revoked = key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="retired")
    assert revoked.status == KeyStatus.REVOKED and revoked.revoked_at and revoked.expires_at is None
    with pytest.raises(Conflict, match="already revoked"):
        key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="retired")
    again = key_commands.reactivate_key(uow(world.owner), key_id=key.id)
    assert (
        again.status == KeyStatus.ACTIVE
        and again.revoked_at is None
        and again.revoke_reason is None
    )
    with pytest.raises(Conflict, match="already active"):
        key_commands.reactivate_key(uow(world.owner), key_id=key.id)
    trail = [
        (e.action, e.old_status, e.new_status)
        for e in events(uow, world.project_id)
        if e.key_id == key.id
    ]
    assert trail == [
        ("key.generated", None, "active"),
        ("key.revoked", "active", "revoked"),
        ("key.reactivated", "revoked", "active"),
    ]


def test_compromised_keys_cannot_be_reactivated(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="compromised")
    with pytest.raises(Conflict, match="compromised"):
        key_commands.reactivate_key(uow(world.owner), key_id=key.id)
    assert key_queries.get_key(uow(world.owner), key_id=key.id).status == KeyStatus.REVOKED


@pytest.mark.parametrize(
    "reason,grace",
    [("lost", 0), ("retired", -1), ("retired", 604801), ("retired", "60"), ("retired", True)],
)
def test_revoke_validates_reason_and_grace(uow, session, world, reason, grace):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    with pytest.raises(InvalidInput):
        key_commands.revoke_key(uow(world.admin), key_id=key.id, reason=reason, grace_seconds=grace)


def test_grace_period_ends_without_any_job(uow, session, world, monkeypatch):
    start = clock.now()
    at(monkeypatch, start)
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="retired", grace_seconds=3600)
    during = key_queries.get_key(uow(world.viewer), key_id=key.id)
    assert during.status == KeyStatus.ACTIVE and during.expires_at == start + timedelta(hours=1)
    totals = key_queries.key_totals(uow(world.viewer), project_id=world.project_id)
    assert (totals.active, totals.expiring, totals.revoked) == (1, 1, 0)
    assert (
        key_queries.list_keys(uow(world.viewer), project_id=world.project_id, status="active").total
        == 1
    )
    # The key still signs during its grace period.
    assert signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=b"p")

    at(monkeypatch, start + timedelta(hours=1, seconds=1))
    after = key_queries.get_key(uow(world.viewer), key_id=key.id)
    assert after.status == KeyStatus.REVOKED
    totals = key_queries.key_totals(uow(world.viewer), project_id=world.project_id)
    assert (totals.active, totals.expiring, totals.revoked) == (0, 0, 1)
    page = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, status="revoked")
    assert [k.id for k in page.items] == [key.id]
    with pytest.raises(Conflict, match="no active key"):
        signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=b"p")
    with pytest.raises(Conflict, match="already revoked"):
        key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="retired")


def test_a_grace_period_can_be_brought_forward_not_extended(uow, session, world, monkeypatch):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="rotated", grace_seconds=3600)
    with pytest.raises(Conflict, match="bring that forward"):
        key_commands.revoke_key(
            uow(world.admin), key_id=key.id, reason="rotated", grace_seconds=7200
        )
    now = key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="compromised")
    assert now.status == KeyStatus.REVOKED and now.revoke_reason == "compromised"
    totals = key_queries.key_totals(uow(world.owner), project_id=world.project_id)
    assert (totals.active, totals.revoked, totals.total) == (0, 1, 1)


def test_reactivating_during_grace_cancels_the_revocation(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="retired", grace_seconds=60)
    back = key_commands.reactivate_key(uow(world.admin), key_id=key.id)
    assert back.expires_at is None and back.status == KeyStatus.ACTIVE
    totals = key_queries.key_totals(uow(world.owner), project_id=world.project_id)
    assert (totals.active, totals.expiring, totals.revoked) == (1, 0, 0)


# ---------------------------------------------------------------- rotate / reveal


def test_rotate_makes_a_successor_and_keeps_the_old_key_for_the_grace_period(uow, session, world):
    old = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="prod")
    new = key_commands.rotate_key(uow(world.admin), key_id=old.id, grace_seconds=600)
    assert new.id != old.id and new.name == "prod" and new.secret != old.secret
    old_now = key_queries.get_key(uow(world.admin), key_id=old.id)
    assert old_now.status == KeyStatus.ACTIVE and old_now.revoke_reason == "rotated"
    assert old_now.expires_at is not None
    headers = signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=b"p")
    assert len(headers["webhook-signature"].split()) == 2
    with pytest.raises(Conflict):
        key_commands.rotate_key(uow(world.admin), key_id=old.id)
    actions = [e.action for e in events(uow, world.project_id) if e.key_id in (old.id, new.id)]
    assert actions == ["key.generated", "key.rotated", "key.generated"]


def test_reveal_returns_the_secret_and_is_audited(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    shown = key_commands.reveal_key(uow(world.owner), key_id=key.id)
    assert shown.secret == key.secret
    (event,) = events(uow, world.project_id, audit.KEY_REVEALED)
    assert event.actor_email == world.owner.email and key.secret not in str(event.details)


# ---------------------------------------------------------------- encryption in the rows


def test_ciphertext_copied_into_another_row_does_not_decrypt(uow, session, world):
    a = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="a")
    b = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="b")
    stolen = session.get(SignatureKey, a.id).key
    session.execute(sa.update(SignatureKey).where(SignatureKey.id == b.id).values(key=stolen))
    session.commit()
    with pytest.raises(Conflict, match="cannot be decrypted"):
        key_commands.reveal_key(uow(world.owner), key_id=b.id)
    assert key_commands.reveal_key(uow(world.owner), key_id=a.id).secret == a.secret


def test_wrong_master_key_fails_opaquely_and_loses_nothing(uow, session, world, monkeypatch):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    good = os.environ["MESHKEYS_MASTER_KEY"]
    use_master_keys(monkeypatch, random_master_key())
    with pytest.raises(Conflict) as info:
        key_commands.reveal_key(uow(world.owner), key_id=key.id)
    assert key.secret not in str(info.value) and "MESHKEYS_MASTER_KEY" in str(info.value)
    with pytest.raises(Conflict):
        signing.sign_payload(uow(world.admin), project_id=world.project_id, payload=b"p")
    assert len(events(uow, world.project_id, audit.KEY_REVEALED)) == 0
    use_master_keys(monkeypatch, good)
    assert key_commands.reveal_key(uow(world.owner), key_id=key.id).secret == key.secret


def test_master_key_rotation_reencrypts_everything_and_is_resumable(
    uow, session, world, monkeypatch
):
    from meshkeys.crypto.encryption import Keyring

    made = [
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=f"k{i}")
        for i in range(5)
    ]
    old, new = os.environ["MESHKEYS_MASTER_KEY"], random_master_key()
    use_master_keys(monkeypatch, new, old)
    ring = masterkey.get_keyring()

    def interrupt(_n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # an interrupted run commits its first batch of two
        operations.rotate_master_key(uow(system=True), keyring=ring, batch=2, progress=interrupt)
    assert operations.rotate_master_key(uow(system=True), keyring=ring, batch=2) == 3
    assert operations.rotate_master_key(uow(system=True), keyring=ring, batch=2) == 0
    versions = {Keyring.version_of(r) for r in session.exec(select(SignatureKey.key)).all()}
    assert versions == {ring.current_version}
    use_master_keys(monkeypatch, new)  # the old key is gone, and nothing needs it
    for k in made:
        assert key_commands.reveal_key(uow(world.owner), key_id=k.id).secret == k.secret


# ---------------------------------------------------------------- listing


def test_paging_filtering_search_and_totals(uow, session, world, monkeypatch):
    base = clock.now()
    made = []
    for i in range(7):
        at(monkeypatch, base + timedelta(seconds=i))
        made.append(
            key_commands.generate_key(
                uow(world.admin),
                project_id=world.project_id,
                name=f"{'billing' if i % 2 else 'Orders'}-{i}",
            )
        )
    key_commands.revoke_key(uow(world.admin), key_id=made[0].id, reason="retired")
    key_commands.revoke_key(uow(world.admin), key_id=made[3].id, reason="retired")

    seen, cursor = [], None
    while True:
        page = key_queries.list_keys(
            uow(world.viewer), project_id=world.project_id, limit=3, cursor=cursor
        )
        seen += [k.id for k in page.items]
        assert page.total == 7
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == [k.id for k in reversed(made)]  # newest first, nothing twice or lost

    revoked = key_queries.list_keys(
        uow(world.viewer), project_id=world.project_id, status="revoked"
    )
    assert [k.id for k in revoked.items] == [made[3].id, made[0].id] and revoked.total == 2
    active = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, status="active")
    assert active.total == 5 and made[3].id not in {k.id for k in active.items}

    by_name = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, q="ORDERS")
    assert {k.name for k in by_name.items} == {"Orders-0", "Orders-2", "Orders-4", "Orders-6"}
    assert by_name.total == 4
    by_id = key_queries.list_keys(
        uow(world.viewer), project_id=world.project_id, q=str(made[5].id)[:8]
    )
    assert made[5].id in {k.id for k in by_id.items}
    wildcard = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, q="%")
    assert wildcard.items == [] and wildcard.total == 0

    totals = key_queries.key_totals(uow(world.viewer), project_id=world.project_id)
    assert (totals.active, totals.revoked, totals.expiring, totals.total) == (5, 2, 0, 7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 201},
        {"status": "gone"},
        {"cursor": "not-a-cursor"},
        {"q": "x" * 201},
    ],
)
def test_list_rejects_bad_parameters_with_a_message(uow, session, world, kwargs):
    with pytest.raises(InvalidInput):
        key_queries.list_keys(uow(world.viewer), project_id=world.project_id, **kwargs)


# ---------------------------------------------------------------- sign / verify


def test_sign_and_verify_through_the_services(uow, session, world):
    a = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="a")
    headers = signing.sign_payload(
        uow(world.admin), project_id=world.project_id, payload=b'{"x":1}', msg_id="msg_1"
    )
    assert headers["webhook-id"] == "msg_1"
    assert (
        signing.verify_payload(
            uow(world.viewer), project_id=world.project_id, payload=b'{"x":1}', headers=headers
        )
        == a.id
    )
    key_commands.revoke_key(uow(world.admin), key_id=a.id, reason="retired")
    with pytest.raises(InvalidInput, match="no signature matches"):
        signing.verify_payload(
            uow(world.viewer), project_id=world.project_id, payload=b'{"x":1}', headers=headers
        )
    key_commands.reactivate_key(uow(world.admin), key_id=a.id)
    external = sign_headers([a.secret], payload=b"raw")
    assert (
        signing.verify_payload(
            uow(world.viewer), project_id=world.project_id, payload=b"raw", headers=external
        )
        == a.id
    )
    with pytest.raises(PermissionDenied):
        signing.sign_payload(uow(world.viewer), project_id=world.project_id, payload=b"p")


def test_a_compromised_revocation_is_never_downgraded(uow, session, world):
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    key_commands.revoke_key(
        uow(world.admin), key_id=key.id, reason="compromised", grace_seconds=3600
    )
    again = key_commands.revoke_key(uow(world.admin), key_id=key.id, reason="retired")
    assert again.revoke_reason == "compromised" and again.status == KeyStatus.REVOKED
    with pytest.raises(Conflict, match="compromised"):
        key_commands.reactivate_key(uow(world.owner), key_id=key.id)


@pytest.mark.parametrize("q", ["a\x00", "tab\there", "a\ud800"])
def test_search_refuses_control_characters(uow, session, world, q):
    with pytest.raises(InvalidInput, match="control characters"):
        key_queries.list_keys(uow(world.viewer), project_id=world.project_id, q=q)


def test_search_just_below_the_surrogates_works(uow, session, world):
    key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="a\ud7ff")
    page = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, q="a\ud7ff")
    assert [k.name for k in page.items] == ["a\ud7ff"]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_cursors_at_the_edge_of_time_are_invalid_input(uow, session, world, when):
    cursor = base64.urlsafe_b64encode(f"{when}|{uuid.uuid4().hex}".encode()).decode()
    with pytest.raises(InvalidInput):
        key_queries.list_keys(uow(world.viewer), project_id=world.project_id, cursor=cursor)


def test_a_refused_signing_is_audited_with_the_client(uow, session, world):
    key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    request = RequestInfo(client_ip="192.0.2.7", user_agent="curl/8")
    with pytest.raises(PermissionDenied):
        signing.sign_payload(
            uow(world.viewer, request=request), project_id=world.project_id, payload=b"p"
        )
    (denied,) = events(uow, world.project_id, audit.ACCESS_DENIED)
    assert (denied.client_ip, denied.user_agent) == ("192.0.2.7", "curl/8")


def test_search_pages_in_name_order_without_loss_or_repeat(uow, session, world, monkeypatch):
    base = clock.now()
    names = ["beta", "Alpha-2", "alpha-1", "alpha-1", "ALPHA-3", "alphabet", "alpine", "gamma"]
    for i, name in enumerate(names):
        at(monkeypatch, base + timedelta(seconds=i))
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=name)
    seen, cursor = [], None
    while True:
        page = key_queries.list_keys(
            uow(world.viewer), project_id=world.project_id, q="alp", limit=2, cursor=cursor
        )
        assert page.total == 6
        seen += [(k.name.lower(), k.id) for k in page.items]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert [n for n, _ in seen] == [
        "alpha-1",
        "alpha-1",
        "alpha-2",
        "alpha-3",
        "alphabet",
        "alpine",
    ]
    assert len({i for _, i in seen}) == 6
    ties = [i for n, i in seen if n == "alpha-1"]
    assert ties == sorted(ties, key=lambda u: u.hex)  # equal names page in id order
    # A cursor of one listing is refused by the other, with a message that says why.
    plain = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, limit=2)
    with pytest.raises(InvalidInput, match="same status and search"):
        key_queries.list_keys(
            uow(world.viewer), project_id=world.project_id, q="alp", cursor=plain.next_cursor
        )
