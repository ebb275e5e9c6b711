"""SQLite: readers take no lock, writers queue instead of failing."""

from __future__ import annotations

import threading

from meshkeys.services import auth, history, key_commands, key_queries
from meshkeys.services.uow import UnitOfWork


def test_a_long_read_does_not_block_a_writer(engine, world):
    with UnitOfWork(world.admin) as setup:
        key_commands.generate_key(setup, project_id=world.project_id, name="a")
    with UnitOfWork(world.viewer) as reader:
        stream = history.export_events(reader, project_id=world.project_id)
        next(stream)  # the export's transaction is open, mid-stream
        assert reader.session.in_transaction()
        done = []

        def write():
            with UnitOfWork(world.admin) as writer:
                key_commands.generate_key(writer, project_id=world.project_id, name="b")
                done.append(True)

        thread = threading.Thread(target=write)
        thread.start()
        thread.join(timeout=10)
        assert done == [True], "the writer waited for a reader"
        assert len(list(stream)) >= 1


def test_resolving_a_token_leaves_no_transaction_open(engine, world):
    with UnitOfWork(world.admin) as unit:
        token = auth.create_api_token(unit, name="t").token
    for _ in range(2):  # the first call writes last_used_at, the second does not
        with UnitOfWork() as unit:
            assert auth.actor_for_api_token(unit, token=token).user_id == world.admin.user_id
            assert not unit.session.in_transaction()
    with UnitOfWork(world.admin) as unit:
        browser = auth.start_session(unit)
    with UnitOfWork() as unit:
        assert auth.actor_for_session(unit, token=browser) == world.admin
        assert not unit.session.in_transaction()


def test_concurrent_writers_queue_and_all_succeed(engine, world):
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with UnitOfWork(world.admin) as unit:
                key = key_commands.generate_key(unit, project_id=world.project_id, name=f"k{n}")
                key_commands.revoke_key(unit, key_id=key.id, reason="retired")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with UnitOfWork(world.owner) as unit:
        totals = key_queries.key_totals(unit, project_id=world.project_id)
    assert (totals.total, totals.revoked) == (8, 8)
