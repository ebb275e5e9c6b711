"""The audit log against a database superuser (or the tables' owner) without the master key.

The attacker works in raw SQL, as a superuser, on the database the app uses (so these attacks
stay the worst case whichever role owns the tables): disables the append-only trigger,
drops constraints, edits, deletes, inserts and re-links events, moves or deletes heads, and
recomputes hashes with plain SHA-256 (all they can compute). Each attack is detected and the
first broken event named; truncation and rollback to an older state against a checkpoint.
"""

from __future__ import annotations

import hashlib
import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from meshkeys.crypto.masterkey import get_keyring
from meshkeys.db import make_engine
from meshkeys.services import audit, checkpoints, key_commands, operations
from tests.helpers import call, make_world, units

OWNER_SETUP = (
    "SELECT set_config('meshkeys.system', 'on', true)",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
)


@pytest.fixture
def attacker(committed_db, pg):
    """A superuser's engine on the app's database."""
    url = sa.make_url(pg.admin_url).set(database=committed_db.url.database)
    engine = make_engine(url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()


@pytest.fixture
def team(committed_db):
    world = make_world(units(committed_db))
    for i in range(4):
        call(
            key_commands.generate_key,
            world.admin,
            bind=committed_db,
            project_id=world.project_id,
            name=f"k{i}",
        )
    assert _verify(committed_db).broken is None
    return world


def _verify(engine, directory=None):
    keyring = get_keyring()
    if directory is None:
        return call(operations.verify_all_chains, system=True, bind=engine, keyring=keyring)
    verdict, _path = call(
        checkpoints.verify_against, system=True, bind=engine, directory=directory, keyring=keyring
    )
    return verdict


def _attack(engine, *statements: str, **params) -> None:
    with engine.begin() as conn:
        for sql in (*OWNER_SETUP, *statements):
            conn.execute(sa.text(sql), params)


def _rows(engine, chain):
    with engine.begin() as conn:
        conn.execute(sa.text(OWNER_SETUP[0]))
        return [
            SimpleNamespace(**row._mapping)
            for row in conn.execute(
                sa.text("SELECT * FROM audit_events WHERE chain_id = :c ORDER BY seq"), {"c": chain}
            )
        ]


def _event_id(engine, chain, seq):
    return next(r.id for r in _rows(engine, chain) if r.seq == seq)


def test_edit_and_sha256_recompute_of_every_later_hash_and_the_head(committed_db, attacker, team):
    chain = team.project_id
    _attack(
        attacker,
        "UPDATE audit_events SET actor_email = 'bob@x.io' WHERE chain_id = :c AND seq = 4",
        c=chain,
    )
    prev = audit.GENESIS
    with attacker.begin() as conn:
        for sql in OWNER_SETUP:
            conn.execute(sa.text(sql))
        for row in _rows(attacker, chain):
            row.prev_hash = prev
            prev = hashlib.sha256(audit.canonical(row)).hexdigest()
            conn.execute(
                sa.text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE id = :i"),
                {"p": row.prev_hash, "h": prev, "i": row.id},
            )
        conn.execute(
            sa.text("UPDATE audit_heads SET head_hash = :h WHERE chain_id = :c"),
            {"h": prev, "c": chain},
        )
    broken = _verify(committed_db).broken
    assert (broken.chain_id, broken.seq) == (chain, 1)  # the very first event no longer verifies
    assert "recomputed without the audit key" in broken.problem


def test_seq_zero_is_refused_then_named_once_the_check_is_dropped(committed_db, attacker, team):
    chain = team.project_id
    copy = (
        "INSERT INTO audit_events (id, chain_id, seq, project_id, actor_email, action, details, "
        "created_at, prev_hash, hash, key_version) SELECT :new, chain_id, :seq, project_id, "
        "'bob@x.io', 'key.revealed', details, created_at, prev_hash, hash, key_version "
        "FROM audit_events WHERE chain_id = :c AND seq = 1"
    )
    with pytest.raises(sa.exc.IntegrityError, match="ck_audit_events_seq"):
        _attack(attacker, copy, new=uuid.uuid4(), seq=0, c=chain)
    forged = uuid.uuid4()
    _attack(
        attacker,
        "ALTER TABLE audit_events DROP CONSTRAINT ck_audit_events_seq",
        copy,
        new=forged,
        seq=-5,
        c=chain,
    )
    broken = _verify(committed_db).broken
    assert (broken.chain_id, broken.seq, broken.event_id) == (chain, -5, forged)


def test_a_duplicate_seq_is_named_once_the_unique_constraint_is_dropped(
    committed_db, attacker, team
):
    chain = team.project_id
    forged = uuid.uuid4()
    _attack(
        attacker,
        "ALTER TABLE audit_events DROP CONSTRAINT uq_audit_events_chain_seq",
        "INSERT INTO audit_events (id, chain_id, seq, project_id, actor_email, action, details, "
        "created_at, prev_hash, hash, key_version) SELECT :new, chain_id, seq, project_id, "
        "'bob@x.io', 'key.revealed', details, created_at, prev_hash, hash, key_version "
        "FROM audit_events WHERE chain_id = :c AND seq = 3",
        new=forged,
        c=chain,
    )
    broken = _verify(committed_db).broken
    assert (
        broken.chain_id == chain
        and broken.seq == 3
        and broken.event_id
        in (
            forged,
            _event_id(attacker, chain, 3),
        )
    )


def test_an_edit_hidden_by_deleting_the_head_row(committed_db, attacker, team):
    chain = team.project_id
    _attack(
        attacker,
        "UPDATE audit_events SET key_name = 'x' WHERE chain_id = :c AND seq = 6",
        "DELETE FROM audit_heads WHERE chain_id = :c",
        c=chain,
    )
    broken = _verify(committed_db).broken
    assert (broken.chain_id, broken.seq) == (chain, 6)


def test_deleting_a_head_row_alone(committed_db, attacker, team):
    _attack(attacker, "DELETE FROM audit_heads WHERE chain_id = :c", c=team.project_id)
    broken = _verify(committed_db).broken
    assert broken.chain_id == team.project_id and "head row is gone" in broken.problem


def test_tail_truncation_with_the_head_moved_back_against_a_checkpoint(
    committed_db, attacker, team, tmp_path
):
    chain = team.project_id
    call(
        checkpoints.write, system=True, bind=committed_db, directory=tmp_path, keyring=get_keyring()
    )
    _attack(
        attacker,
        "DELETE FROM audit_events WHERE chain_id = :c AND seq > 5",
        "UPDATE audit_heads SET seq = 5, head_hash = (SELECT hash FROM audit_events "
        "WHERE chain_id = :c AND seq = 5) WHERE chain_id = :c",
        c=chain,
    )
    assert _verify(committed_db).broken is None  # consistent: only the checkpoint knows
    broken = _verify(committed_db, tmp_path).broken
    assert (broken.chain_id, broken.seq) == (chain, 6) and "truncated" in broken.problem


def test_a_restored_older_snapshot_against_a_checkpoint(committed_db, attacker, team, tmp_path):
    chain = team.project_id
    _attack(
        attacker,
        "CREATE TABLE snap_events AS SELECT * FROM audit_events",
        "CREATE TABLE snap_heads AS SELECT * FROM audit_heads",
    )
    for i in range(2):
        call(
            key_commands.generate_key,
            team.admin,
            bind=committed_db,
            project_id=chain,
            name=f"later{i}",
        )
    call(
        checkpoints.write, system=True, bind=committed_db, directory=tmp_path, keyring=get_keyring()
    )
    _attack(
        attacker,
        "DELETE FROM audit_events",
        "INSERT INTO audit_events SELECT * FROM snap_events",
        "DELETE FROM audit_heads",
        "INSERT INTO audit_heads SELECT * FROM snap_heads",
    )
    assert _verify(committed_db).broken is None
    broken = _verify(committed_db, tmp_path).broken
    assert (broken.chain_id, broken.seq) == (chain, 8)
    assert "truncated or rolled back" in broken.problem
