"""Migration 0003 re-chains the events written before it under the audit key, on the record."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from meshkeys import migrations
from meshkeys.cli import main
from meshkeys.config import ConfigError
from meshkeys.crypto.masterkey import get_keyring
from meshkeys.db import make_engine
from meshkeys.models import AuditEvent
from meshkeys.services import audit, operations
from tests.helpers import all_events, configure, reset_caches, units
from tests.schema_checks import legacy_chain


@pytest.fixture
def blank_url(backend, request, tmp_path, monkeypatch):
    """An empty database, and a master key configured."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'legacy.db'}"
        configure(monkeypatch, database_url=url)
        return url
    request.getfixturevalue("scenario_master_key")
    # The migration and the legacy rows are the owner's business (revision 0002 gives the app
    # a runtime role that may not rewrite events): these checks run as the owner throughout.
    return request.getfixturevalue("empty_db").owner_url


def test_existing_events_are_rechained_under_the_key_and_that_is_audited(blank_url):
    chain, count = legacy_chain(blank_url, events=4)
    migrations.upgrade(blank_url)
    engine = make_engine(blank_url)
    try:
        uow = units(engine)
        verdict = operations.verify_all_chains(uow(system=True), keyring=get_keyring())
        assert verdict.broken is None and verdict.events == count + 1
        events = all_events(uow, uuid.UUID(chain))
        assert all(ev.key_version == get_keyring().current_version for ev in events)
        (rechained,) = all_events(uow, action=audit.AUDIT_RECHAINED)
        assert rechained.details["chains"] == 1 and rechained.details["events"] == count
        assert rechained.details["unverified_chains"] == []
        migrations.downgrade(blank_url, "0001")  # back to what revision 0001's code verifies
        columns = [getattr(AuditEvent, name) for name in (*audit.HASHED_COLUMNS, "hash")]
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT set_config('meshkeys.system', 'on', true)"))
            query = sa.select(*columns).where(AuditEvent.chain_id == uuid.UUID(chain))
            legacy = conn.execute(query.order_by(AuditEvent.seq)).all()
        assert len(legacy) == count
        prev = audit.GENESIS
        for ev in legacy:
            assert ev.prev_hash == prev
            prev = hashlib.sha256(audit.canonical(ev)).hexdigest()
            assert ev.hash == prev
    finally:
        engine.dispose()


def test_a_legacy_chain_that_did_not_verify_is_named_in_the_rechained_event(blank_url):
    chain, _count = legacy_chain(blank_url, events=2)
    engine = make_engine(blank_url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT set_config('meshkeys.system', 'on', true)"))
                conn.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            else:
                conn.execute(sa.text("DROP TRIGGER audit_events_no_update"))
            conn.execute(sa.text("UPDATE audit_events SET actor_email = 'forged@x.io'"))
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        migrations.upgrade(blank_url)
        (rechained,) = all_events(units(engine), action=audit.AUDIT_RECHAINED)
        assert rechained.details["unverified_chains"] == [chain]
    finally:
        engine.dispose()


def test_a_database_with_events_and_no_master_key_says_what_to_set(
    blank_url, monkeypatch, tmp_path
):
    legacy_chain(blank_url, events=1)
    monkeypatch.delenv("MESHKEYS_MASTER_KEY", raising=False)
    monkeypatch.setenv("MESHKEYS_MASTER_KEY_FILE", str(tmp_path / "absent.key"))
    reset_caches()
    with pytest.raises(ConfigError, match="set MESHKEYS_MASTER_KEY"):
        migrations.upgrade(blank_url)
    assert not (tmp_path / "absent.key").exists()
    monkeypatch.setenv("MESHKEYS_DATABASE_URL", blank_url)
    reset_caches()
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 2 and "set MESHKEYS_MASTER_KEY" in result.stderr


def test_a_fresh_database_needs_no_master_key(blank_url, monkeypatch, tmp_path):
    monkeypatch.delenv("MESHKEYS_MASTER_KEY", raising=False)
    monkeypatch.setenv("MESHKEYS_MASTER_KEY_FILE", str(tmp_path / "absent.key"))
    reset_caches()
    migrations.upgrade(blank_url)
    migrations.downgrade(blank_url, "0001")
    assert not (tmp_path / "absent.key").exists()
