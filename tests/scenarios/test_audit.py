"""The audit log: append-only, hash-chained, filtered and paged by the database."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from meshkeys import clock, logs
from meshkeys.models import AuditEvent
from meshkeys.services import audit, cursors, history, key_commands
from meshkeys.services.errors import InvalidInput, NotFound
from meshkeys.services.history import AuditFilter
from tests.helpers import all_events


def test_events_are_append_only(uow, session, world):
    """SQLite: the triggers refuse. PostgreSQL: the runtime role has no UPDATE or DELETE
    privilege on audit_events (the triggers, for the owner: tests/integration/test_schema_pg)."""
    key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    refused = "append-only|permission denied for table audit_events"
    with pytest.raises(sa.exc.DatabaseError, match=refused):
        session.execute(sa.update(AuditEvent).values(actor_email="someone@else.com"))
    session.rollback()
    with pytest.raises(sa.exc.DatabaseError, match=refused):
        session.execute(sa.delete(AuditEvent))
    session.rollback()


def test_seq_is_gapless_and_each_event_links_to_the_previous(uow, session, world):
    for i in range(3):
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=f"k{i}")
    chain = all_events(uow, world.project_id)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert chain[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(chain, chain[1:], strict=False))


def test_secrets_are_refused_in_details(uow, session, world):
    with pytest.raises(ValueError, match="secrets"):
        audit.record(
            session,
            action=audit.KEY_GENERATED,
            actor=world.admin,
            project_id=world.project_id,
            details={"secret": "whsec_x"},
        )


def test_filters_paging_and_export(uow, session, world, monkeypatch):
    start = clock.now()
    monkeypatch.setattr(clock, "now", lambda: start)
    a = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="a")
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(days=1))
    key_commands.revoke_key(uow(world.owner), key_id=a.id, reason="retired")
    b = key_commands.generate_key(uow(world.owner), project_id=world.project_id, name="b")

    page = history.list_events(uow(world.viewer), project_id=world.project_id, limit=2)
    assert [e.action for e in page.items] == ["key.generated", "key.revoked"] and page.next_cursor
    rest = history.list_events(
        uow(world.viewer), project_id=world.project_id, limit=50, cursor=page.next_cursor
    )
    assert rest.items[0].action == "key.generated" and rest.items[-1].action == "project.created"

    by_action = history.list_events(
        uow(world.viewer), project_id=world.project_id, flt=AuditFilter(action="key.generated")
    )
    assert [e.key_id for e in by_action.items] == [b.id, a.id]
    by_key = history.list_events(
        uow(world.viewer), project_id=world.project_id, flt=AuditFilter(key_id=a.id)
    )
    assert [e.action for e in by_key.items] == ["key.revoked", "key.generated"]
    by_actor = history.list_events(
        uow(world.viewer), project_id=world.project_id, flt=AuditFilter(actor=" OWNER@example.com ")
    )
    assert {e.actor_email for e in by_actor.items} == {world.owner.email}
    by_date = history.list_events(
        uow(world.viewer),
        project_id=world.project_id,
        flt=AuditFilter(since=start + timedelta(hours=12)),
    )
    assert [e.action for e in by_date.items] == ["key.generated", "key.revoked"]

    exported = list(
        history.export_events(
            uow(world.viewer), project_id=world.project_id, flt=AuditFilter(action="key.generated")
        )
    )
    assert [e.key_id for e in exported] == [b.id, a.id]
    counts = history.daily_counts(uow(world.viewer), project_id=world.project_id)
    assert sum(c["count"] for c in counts if c["action"] == "key.generated") == 2
    assert len({c["day"] for c in counts}) == 2


def test_export_streams_in_batches(uow, session, world):
    for i in range(7):
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=f"k{i}")
    it = history.export_events(uow(world.viewer), project_id=world.project_id, batch=3)
    seqs = [e.seq for e in it]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == len(set(seqs)) == 10


@pytest.mark.parametrize(
    "flt",
    [
        AuditFilter(action="key.deleted"),
        AuditFilter(since=clock.now(), until=clock.now() - timedelta(1)),
    ],
)
def test_bad_filters_say_what_to_do(uow, session, world, flt):
    with pytest.raises(InvalidInput):
        history.list_events(uow(world.viewer), project_id=world.project_id, flt=flt)


def test_outsiders_cannot_read_the_log(uow, session, world):
    with pytest.raises(NotFound):
        history.list_events(uow(world.outsider), project_id=world.project_id)
    with pytest.raises(NotFound):
        history.export_events(uow(world.outsider), project_id=world.project_id)


def test_every_committed_event_is_logged_once_without_secrets(uow, session, world, caplog):
    caplog.set_level(logging.INFO, logger=logs.AUDIT_LOGGER)
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    key_commands.reveal_key(uow(world.owner), key_id=key.id)
    lines = [r for r in caplog.records if r.name == logs.AUDIT_LOGGER]
    assert [r.getMessage() for r in lines] == ["key.generated", "key.revealed"]
    assert lines[0].key_id == str(key.id) and lines[0].actor == world.admin.email
    for record in lines:
        assert key.secret not in repr(vars(record)) and key.secret[6:] not in repr(vars(record))


def test_rolled_back_events_are_not_logged(uow, session, world, caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger=logs.AUDIT_LOGGER)
    real_commit = session.commit
    monkeypatch.setattr(session, "commit", lambda: (_ for _ in ()).throw(RuntimeError("db gone")))
    with pytest.raises(RuntimeError):
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    session.rollback()
    monkeypatch.setattr(session, "commit", real_commit)
    key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k2")
    lines = [r for r in caplog.records if r.name == logs.AUDIT_LOGGER]
    assert [(r.getMessage(), r.key_name) for r in lines] == [("key.generated", "k2")]


@pytest.mark.parametrize(
    "flt",
    [
        AuditFilter(since=datetime.fromisoformat("0001-01-01T00:00:00+05:00")),
        AuditFilter(until=datetime.fromisoformat("9999-12-31T23:00:00-05:00")),
        AuditFilter(actor="a\x00b"),
    ],
)
def test_filters_at_the_edges_are_invalid_input(uow, session, world, flt):
    with pytest.raises(InvalidInput):
        history.list_events(uow(world.viewer), project_id=world.project_id, flt=flt)


def test_an_absurd_cursor_is_invalid_input(uow, session, world):
    cursor = cursors.encode_seq(10**30)
    with pytest.raises(InvalidInput):
        history.list_events(uow(world.viewer), project_id=world.project_id, cursor=cursor)


def test_the_key_filter_takes_the_short_id_or_the_full_id(uow, session, world):
    """Issue 9, defect 7: the tables show a key's first 8 characters; the filter takes them."""
    a = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="a")
    key_commands.revoke_key(uow(world.owner), key_id=a.id, reason="retired")
    key_commands.generate_key(uow(world.owner), project_id=world.project_id, name="b")
    for text in (str(a.id)[:8], str(a.id)[:8].upper(), str(a.id), a.id.hex, str(a.id)[:13]):
        found = history.list_events(
            uow(world.viewer), project_id=world.project_id, flt=AuditFilter(key_prefix=text)
        )
        assert [e.action for e in found.items] == ["key.revoked", "key.generated"], text
        assert {e.key_id for e in found.items} == {a.id}


def test_a_short_id_is_a_bounded_range_of_ids():
    low, high = history.key_id_range("0123abcd")
    assert str(low) == "0123abcd-0000-0000-0000-000000000000"
    assert str(high) == "0123abcd-ffff-ffff-ffff-ffffffffffff"
    assert history.key_id_range(str(low)) == (low, low)


@pytest.mark.parametrize("text", ["0123abc", "0123abcz", "x" * 36, "0123abcd" * 5, "' OR 1=1"])
def test_a_key_filter_that_is_no_key_id_is_invalid_input(uow, session, world, text):
    with pytest.raises(InvalidInput, match="short id or the full id"):
        history.list_events(
            uow(world.viewer), project_id=world.project_id, flt=AuditFilter(key_prefix=text)
        )
