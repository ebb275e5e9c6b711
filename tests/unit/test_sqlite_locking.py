"""SQLite: readers take no lock, writers queue instead of failing."""

from __future__ import annotations

import threading

from sqlmodel import Session

from meshkeys.services import auth, history, keys


def test_a_long_read_does_not_block_a_writer(engine, world):
    with Session(engine, expire_on_commit=False) as writer_setup:
        keys.generate_key(writer_setup, actor=world.admin, project_id=world.project_id, name="a")
    with Session(engine, expire_on_commit=False) as reader:
        stream = history.export_events(reader, actor=world.viewer, project_id=world.project_id)
        next(stream)  # the export's transaction is open, mid-stream
        assert reader.in_transaction()
        done = []

        def write():
            with Session(engine, expire_on_commit=False) as writer:
                keys.generate_key(writer, actor=world.admin, project_id=world.project_id, name="b")
                done.append(True)

        thread = threading.Thread(target=write)
        thread.start()
        thread.join(timeout=10)
        assert done == [True], "the writer waited for a reader"
        assert len(list(stream)) >= 1


def test_resolving_a_token_leaves_no_transaction_open(session, world):
    token = auth.create_api_token(session, actor=world.admin, name="t").token
    for _ in range(2):  # the first call writes last_used_at, the second does not
        auth.actor_for_api_token(session, token=token)
        assert not session.in_transaction()
    browser = auth.start_session(session, actor=world.admin)
    assert auth.actor_for_session(session, token=browser) == world.admin
    assert not session.in_transaction()


def test_concurrent_writers_queue_and_all_succeed(engine, world):
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with Session(engine, expire_on_commit=False) as s:
                key = keys.generate_key(
                    s, actor=world.admin, project_id=world.project_id, name=f"k{n}"
                )
                keys.revoke_key(s, actor=world.admin, key_id=key.id, reason="retired")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with Session(engine) as s:
        totals = keys.key_totals(s, actor=world.owner, project_id=world.project_id)
    assert (totals.total, totals.revoked) == (8, 8)
