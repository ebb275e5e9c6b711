"""Concurrent revoke/reactivate of one key from several threads, with committed transactions."""

from __future__ import annotations

import random
import threading

from sqlmodel import select

from meshkeys.crypto.masterkey import get_keyring
from meshkeys.models import AuditEvent, KeyStatus
from meshkeys.services import audit, key_commands, key_queries, operations
from meshkeys.services.errors import Conflict
from tests.helpers import call, make_world, units

THREADS = 6
ROUNDS = 12


def test_concurrent_revoke_and_reactivate_leave_state_and_log_consistent(committed_db):
    uow = units(committed_db)
    with uow() as _:
        world = make_world(uow)
        with uow(world.admin) as unit:
            key = key_commands.generate_key(unit, project_id=world.project_id, name="hot")

    successes: list[str] = []
    conflicts: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(ROUNDS):
            try:
                uow = units(committed_db)
                if rng.random() < 0.5:
                    with uow(world.admin) as unit:
                        key_commands.revoke_key(unit, key_id=key.id, reason="retired")
                    outcome = "revoked"
                else:
                    with uow(world.owner) as unit:
                        key_commands.reactivate_key(unit, key_id=key.id)
                    outcome = "reactivated"
                with lock:
                    successes.append(outcome)
            except Conflict:
                with lock:
                    conflicts.append("conflict")
            except BaseException as exc:  # anything else is a bug: deadlock, lost update...
                with lock:
                    failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert len(successes) + len(conflicts) == THREADS * ROUNDS
    assert successes, "no operation succeeded: the test proved nothing"

    uow = units(committed_db)
    with uow(system=True) as operator:
        s = operator.session
        with uow(world.owner) as unit:
            final = key_queries.get_key(unit, key_id=key.id)
        trail = s.exec(
            select(AuditEvent).where(AuditEvent.key_id == key.id).order_by(AuditEvent.seq)
        ).all()
        changes = [e for e in trail if e.action in (audit.KEY_REVOKED, audit.KEY_REACTIVATED)]
        # Exactly one event per successful change: none lost, none duplicated.
        assert len(changes) == len(successes)
        assert sorted(e.action.split(".")[1] for e in changes) == sorted(successes)
        # The events alternate, each starting from the state the previous one left.
        for before, after in zip(changes, changes[1:], strict=False):
            assert after.old_status == before.new_status
        last = changes[-1] if changes else trail[0]
        assert final.status == KeyStatus(last.new_status)
        verdict = call(
            operations.verify_all_chains, system=True, bind=committed_db, keyring=get_keyring()
        )
        assert verdict.broken is None and verdict.chains >= 2
        with uow(world.owner) as unit:
            totals = key_queries.key_totals(unit, project_id=world.project_id)
        expected_revoked = 1 if final.status == KeyStatus.REVOKED else 0
        assert (totals.total, totals.revoked) == (1, expected_revoked)


def test_only_one_first_admin_when_two_set_up_at_once(committed_db):
    from meshkeys.services import projects
    from tests.helpers import PASSWORD

    results: list[str] = []
    start = threading.Barrier(4)

    def setup(n: int) -> None:
        start.wait()
        try:
            uow = units(committed_db)
            with uow() as unit:
                projects.setup_first_admin(
                    unit, email=f"admin{n}@example.com", password=PASSWORD, project_name=f"P{n}"
                )
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=setup, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == ["conflict", "conflict", "conflict", "ok"]


def test_two_owners_demoting_themselves_at_once_leave_one_owner(committed_db):
    from meshkeys.models import Role
    from meshkeys.services import projects

    uow = units(committed_db)
    with uow() as _:
        world = make_world(uow)
        with uow(world.owner) as unit:
            projects.change_member_role(
                unit, project_id=world.project_id, user_id=world.admin.user_id, role="owner"
            )
    results: dict[str, str] = {}
    start = threading.Barrier(2)

    def demote(actor) -> None:
        start.wait()
        try:
            uow = units(committed_db)
            with uow(actor) as unit:
                projects.change_member_role(
                    unit, project_id=world.project_id, user_id=actor.user_id, role="admin"
                )
            results[actor.email] = "ok"
        except Conflict:
            results[actor.email] = "conflict"

    threads = [threading.Thread(target=demote, args=(a,)) for a in (world.owner, world.admin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results.values()) == ["conflict", "ok"]
    uow = units(committed_db)
    with uow(world.viewer) as unit:
        members = projects.list_members(unit, project_id=world.project_id)
    assert [m.role for m in members].count(Role.OWNER) == 1
