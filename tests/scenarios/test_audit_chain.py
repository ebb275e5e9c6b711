"""The keyed audit chain against someone who can write to the database but lacks the master key.

Each test plays the attacker with the table owner's rights (triggers dropped or disabled, RLS
context set, constraints dropped where needed) and checks that ``audit verify`` names the first
broken event. The attacks that only a checkpoint can catch (truncation, rollback) use one.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import select

from meshkeys.crypto.masterkey import get_keyring
from meshkeys.models import AuditEvent, AuditHead
from meshkeys.services import audit, checkpoints, key_commands, operations
from meshkeys.services.audit_check import ChainBreak
from meshkeys.services.errors import InvalidInput
from tests.backends import _PG_ROLES
from tests.helpers import all_events


def _verify(uow) -> ChainBreak | None:
    return operations.verify_all_chains(uow(system=True), keyring=get_keyring()).broken


def _attacker(session, backend, *, checks: bool = False) -> None:
    """What the table owner can do: drop the append-only triggers (and the seq CHECK).

    On PostgreSQL the rest of the test runs as the owner (``SET LOCAL ROLE``, undone when the
    test's outer transaction rolls back): the app's runtime role may do none of this. No policy
    lets anyone UPDATE or DELETE an event, so the owner also lifts FORCE on its own table.
    """
    if backend == "postgres":
        owner = _PG_ROLES["owner_role"]
        session.execute(sa.text(f'SET LOCAL ROLE "{owner}"'))
        session.execute(sa.text("SELECT set_config('meshkeys.system', 'on', true)"))
        session.execute(
            sa.text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        )
        for table in ("audit_events", "audit_heads"):
            session.execute(sa.text(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY"))
        if checks:
            session.execute(sa.text("ALTER TABLE audit_events DROP CONSTRAINT ck_audit_events_seq"))
    else:
        session.execute(sa.text("DROP TRIGGER audit_events_no_update"))
        session.execute(sa.text("DROP TRIGGER audit_events_no_delete"))
        if checks:
            session.execute(sa.text("PRAGMA ignore_check_constraints = ON"))


@pytest.fixture
def chain(uow, world):
    """The project's chain with seven events (three from the world, four key generations)."""
    for i in range(4):
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=f"k{i}")
    assert _verify(uow) is None
    return world.project_id


def _event(session, chain_id: uuid.UUID, seq: int) -> AuditEvent:
    return session.exec(
        select(AuditEvent).where(AuditEvent.chain_id == chain_id, AuditEvent.seq == seq)
    ).one()


def _where(chain_id, seq):
    return sa.and_(AuditEvent.chain_id == chain_id, AuditEvent.seq == seq)


def _sha256_rewrite(session, chain_id: uuid.UUID, start: int) -> None:
    """Recompute every hash from ``start`` on with plain SHA-256 (all that an attacker without
    the master key can compute) and move the head: the unkeyed chain would verify again."""
    events = session.exec(
        select(AuditEvent).where(AuditEvent.chain_id == chain_id).order_by(AuditEvent.seq)
    ).all()
    prev = events[start - 2].hash if start > 1 else audit.GENESIS
    for ev in events[start - 1 :]:
        ev.prev_hash = prev
        prev = hashlib.sha256(audit.canonical(ev)).hexdigest()
        session.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.id == ev.id)
            .values(prev_hash=ev.prev_hash, hash=prev)
        )
    session.execute(
        sa.update(AuditHead).where(AuditHead.chain_id == chain_id).values(head_hash=prev)
    )


def test_each_event_is_keyed_by_the_master_key_version(uow, world, chain):
    events = all_events(uow, chain)
    keyring = get_keyring()
    assert {ev.key_version for ev in events} == {keyring.current_version}
    assert all(audit.event_hash(ev, keyring) == ev.hash for ev in events)
    assert all(hashlib.sha256(audit.canonical(ev)).hexdigest() != ev.hash for ev in events)


def test_an_edited_event_is_named(uow, session, backend, chain):
    target = _event(session, chain, 3)
    _attacker(session, backend)
    session.execute(sa.update(AuditEvent).where(_where(chain, 3)).values(key_name="innocent"))
    session.commit()
    broken = _verify(uow)
    assert (broken.chain_id, broken.seq, broken.event_id) == (chain, 3, target.id)
    assert "does not match the content" in broken.problem


def test_a_rewrite_recomputed_with_plain_sha256_is_named(uow, session, backend, chain):
    target = _event(session, chain, 3)
    _attacker(session, backend)
    session.execute(sa.update(AuditEvent).where(_where(chain, 3)).values(actor_email="bob@x.io"))
    session.commit()
    _sha256_rewrite(session, chain, 3)
    session.commit()
    broken = _verify(uow)
    assert (broken.seq, broken.event_id) == (3, target.id)
    assert "recomputed without the audit key" in broken.problem


def test_a_deleted_event_is_named(uow, session, backend, chain):
    _attacker(session, backend)
    session.execute(sa.delete(AuditEvent).where(_where(chain, 4)))
    session.commit()
    broken = _verify(uow)
    assert (broken.chain_id, broken.seq) == (chain, 5)
    assert "#4 is missing" in broken.problem


def test_reordered_events_are_named(uow, session, backend, chain):
    _attacker(session, backend)
    session.execute(sa.update(AuditEvent).where(_where(chain, 2)).values(seq=1000))
    session.execute(sa.update(AuditEvent).where(_where(chain, 3)).values(seq=2))
    session.execute(sa.update(AuditEvent).where(_where(chain, 1000)).values(seq=3))
    session.commit()
    broken = _verify(uow)
    assert broken.seq == 2 and "reordered" in broken.problem


def _forge(session, chain_id: uuid.UUID, *, seq: int, like: int = 2) -> uuid.UUID:
    """Insert a copy of event ``like`` at ``seq``, claiming bob revealed a key."""
    model = _event(session, chain_id, like)
    forged = {c: getattr(model, c) for c in AuditEvent.model_fields}
    forged.update(id=uuid.uuid4(), seq=seq, action=audit.KEY_REVEALED, actor_email="bob@x.io")
    forged["hash"] = hashlib.sha256(audit.canonical(AuditEvent(**forged))).hexdigest()
    session.execute(sa.insert(AuditEvent).values(**forged))
    return forged["id"]


def test_the_database_refuses_seq_below_one(session, backend, chain):
    with pytest.raises(sa.exc.IntegrityError):
        _forge(session, chain, seq=0)
    session.rollback()


@pytest.mark.parametrize("seq", [0, -1, -(2**31)])
def test_an_event_inserted_before_the_first_is_named(uow, session, backend, chain, seq):
    _attacker(session, backend, checks=True)
    forged = _forge(session, chain, seq=seq)
    session.commit()
    broken = _verify(uow)
    assert (broken.chain_id, broken.seq, broken.event_id) == (chain, seq, forged)
    assert "does not belong" in broken.problem


def test_an_event_inserted_past_a_gap_is_named(uow, session, backend, chain):
    _attacker(session, backend)
    forged = _forge(session, chain, seq=10)
    session.commit()
    broken = _verify(uow)
    assert broken.seq == 10 and broken.event_id == forged and "#8 is missing" in broken.problem


def test_an_event_appended_and_the_head_moved_is_named(uow, session, backend, chain):
    _attacker(session, backend)
    head = session.get(AuditHead, chain)
    forged = {c: getattr(_event(session, chain, 7), c) for c in AuditEvent.model_fields}
    forged.update(id=uuid.uuid4(), seq=8, prev_hash=head.head_hash, action=audit.KEY_REVEALED)
    forged["hash"] = hashlib.sha256(audit.canonical(AuditEvent(**forged))).hexdigest()
    session.execute(sa.insert(AuditEvent).values(**forged))
    session.execute(
        sa.update(AuditHead)
        .where(AuditHead.chain_id == chain)
        .values(seq=8, head_hash=forged["hash"])
    )
    session.commit()
    broken = _verify(uow)
    assert (broken.seq, broken.event_id) == (8, forged["id"])


def test_a_deleted_head_is_named(uow, session, backend, chain):
    _attacker(session, backend)
    session.execute(sa.delete(AuditHead).where(AuditHead.chain_id == chain))
    session.commit()
    broken = _verify(uow)
    assert broken.chain_id == chain and "head row is gone" in broken.problem


def test_an_edit_hidden_by_deleting_the_head_is_named(uow, session, backend, chain):
    _attacker(session, backend)
    session.execute(sa.update(AuditEvent).where(_where(chain, 5)).values(key_name="innocent"))
    session.execute(sa.delete(AuditHead).where(AuditHead.chain_id == chain))
    session.commit()
    broken = _verify(uow)
    assert (broken.chain_id, broken.seq) == (chain, 5)


def test_a_deleted_tail_with_its_head_left_is_named(uow, session, backend, chain):
    _attacker(session, backend)
    session.execute(sa.delete(AuditEvent).where(_where(chain, 7)))
    session.commit()
    broken = _verify(uow)
    assert (broken.seq, broken.event_id) == (7, None) and "deleted" in broken.problem


def _truncate(session, chain_id: uuid.UUID, keep: int) -> None:
    """Delete every event after ``keep`` and move the head back: a consistent older chain."""
    kept = _event(session, chain_id, keep)
    session.execute(
        sa.delete(AuditEvent).where(AuditEvent.chain_id == chain_id, AuditEvent.seq > keep)
    )
    session.execute(
        sa.update(AuditHead)
        .where(AuditHead.chain_id == chain_id)
        .values(seq=keep, head_hash=kept.hash)
    )


def test_a_truncated_tail_is_named_against_a_checkpoint(uow, session, backend, chain, tmp_path):
    checkpoints.write(uow(system=True), directory=tmp_path, keyring=get_keyring())
    _attacker(session, backend)
    _truncate(session, chain, keep=5)
    session.commit()
    assert _verify(uow) is None  # without a checkpoint, a consistent older chain verifies
    verdict, _path = checkpoints.verify_against(
        uow(system=True), directory=tmp_path, keyring=get_keyring()
    )
    broken = verdict.broken
    assert (broken.chain_id, broken.seq, broken.event_id) == (chain, 6, None)
    assert "truncated or rolled back" in broken.problem and "#7" in broken.problem


def test_a_chain_rolled_back_then_grown_is_named_against_a_checkpoint(
    uow, session, backend, world, chain, tmp_path
):
    checkpoints.write(uow(system=True), directory=tmp_path, keyring=get_keyring())
    _attacker(session, backend)
    _truncate(session, chain, keep=5)
    session.commit()
    for i in range(3):  # the app goes on writing after the rollback: seq 6, 7, 8 again
        key_commands.generate_key(uow(world.admin), project_id=chain, name=f"after{i}")
    assert _verify(uow) is None
    verdict, _path = checkpoints.verify_against(
        uow(system=True), directory=tmp_path, keyring=get_keyring()
    )
    assert verdict.broken.seq == 7 and "differs from the checkpoint" in verdict.broken.problem
    assert verdict.broken.event_id == _event(session, chain, 7).id


def test_an_intact_log_verifies_against_its_checkpoint(uow, world, chain, tmp_path):
    checkpoints.write(uow(system=True), directory=tmp_path, keyring=get_keyring())
    key_commands.generate_key(uow(world.admin), project_id=chain, name="later")
    verdict, path = checkpoints.verify_against(
        uow(system=True), directory=tmp_path, keyring=get_keyring()
    )
    assert verdict.broken is None and verdict.chains >= 2 and path.parent == tmp_path
    assert verdict.events == len(all_events(uow))


def test_an_edited_checkpoint_is_refused(uow, chain, tmp_path):
    path = checkpoints.write(uow(system=True), directory=tmp_path, keyring=get_keyring())
    body = json.loads(path.read_text())
    body["chains"][str(chain)]["seq"] = 3
    path.write_text(json.dumps(body))
    verdict, _ = checkpoints.verify_against(
        uow(system=True), directory=tmp_path, keyring=get_keyring()
    )
    assert verdict.broken.chain_id is None and "bad signature" in verdict.broken.problem


def test_no_checkpoint_in_the_folder_is_invalid_input(uow, tmp_path):
    with pytest.raises(InvalidInput, match="no checkpoint"):
        checkpoints.verify_against(uow(system=True), directory=tmp_path, keyring=get_keyring())


def test_a_checkpoint_is_written_once_an_interval(uow, chain, tmp_path):
    keyring = get_keyring()
    first = checkpoints.write_if_due(uow(system=True), directory=tmp_path, keyring=keyring)
    again = checkpoints.write_if_due(uow(system=True), directory=tmp_path, keyring=keyring)
    assert first is not None and again is None
    assert [p.name for p in tmp_path.glob("checkpoint-*")] == [first.name]


def test_a_head_moved_back_alone_is_named(uow, session, backend, chain):
    _attacker(session, backend)
    session.execute(sa.update(AuditHead).where(AuditHead.chain_id == chain).values(seq=5))
    session.commit()
    broken = _verify(uow)
    assert (broken.seq, broken.event_id) == (6, None) and "past its head" in broken.problem


def test_a_head_with_another_hash_is_named(uow, session, backend, chain):
    _attacker(session, backend)
    session.execute(
        sa.update(AuditHead).where(AuditHead.chain_id == chain).values(head_hash="f" * 64)
    )
    session.commit()
    broken = _verify(uow)
    assert broken.seq == 7 and "head's hash" in broken.problem


def test_a_chain_deleted_whole_is_named_against_a_checkpoint(
    uow, session, backend, chain, tmp_path
):
    checkpoints.write(uow(system=True), directory=tmp_path, keyring=get_keyring())
    _attacker(session, backend)
    session.execute(sa.delete(AuditEvent).where(AuditEvent.chain_id == chain))
    session.execute(sa.delete(AuditHead).where(AuditHead.chain_id == chain))
    session.commit()
    assert _verify(uow) is None
    verdict, _ = checkpoints.verify_against(
        uow(system=True), directory=tmp_path, keyring=get_keyring()
    )
    assert (verdict.broken.chain_id, verdict.broken.seq) == (chain, 1)


def test_an_unreadable_checkpoint_is_refused(uow, chain, tmp_path):
    (tmp_path / "checkpoint-99990101T000000000000Z-0.json").write_text("{not json")
    verdict, _ = checkpoints.verify_against(
        uow(system=True), directory=tmp_path, keyring=get_keyring()
    )
    assert verdict.broken.chain_id is None and "cannot be read" in verdict.broken.problem


def test_a_checkpoint_of_an_unknown_master_key_says_what_to_set(uow, chain, tmp_path, monkeypatch):
    from tests.helpers import random_master_key, use_master_keys

    checkpoints.write(uow(system=True), directory=tmp_path, keyring=get_keyring())
    use_master_keys(monkeypatch, random_master_key())
    verdict, _ = checkpoints.verify_against(
        uow(system=True), directory=tmp_path, keyring=get_keyring()
    )
    assert "MESHKEYS_MASTER_KEYS" in verdict.broken.problem


def test_a_checkpoint_with_an_unreadable_time_does_not_stop_the_next(uow, chain, tmp_path):
    (tmp_path / "checkpoint-00000101T000000000000Z-0.json").write_text('{"created_at": "soon"}')
    written = checkpoints.write_if_due(uow(system=True), directory=tmp_path, keyring=get_keyring())
    assert written is not None
