"""The async routes' reader of the cache generation (``services.cache._AsyncReader``).

Concurrent requests share one statement, but never one that was sent before they arrived (a
revoke committed before a request arrived must be seen by it); a request that goes away while
it waits leaves the others' answer and the connection alone; a failed connection is replaced.
"""

from __future__ import annotations

import asyncio

import psycopg
import sqlalchemy as sa

from meshkeys.services import cache


def _reader(engine: sa.Engine, monkeypatch) -> tuple[cache._AsyncReader, list[int]]:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    opened: list[int] = []
    real = psycopg.AsyncConnection.connect

    async def counted(*args, **kwargs):
        opened.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncConnection, "connect", counted)
    return cache._AsyncReader(url), opened


def _generation(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(cache._READ_SQL)).scalar_one())


def _bump(engine: sa.Engine) -> int:
    with engine.begin() as conn:
        conn.execute(cache._BUMP)
    return _generation(engine)


def test_a_burst_of_reads_shares_one_statement_on_one_connection(committed_db, monkeypatch):
    reader, opened = _reader(committed_db, monkeypatch)

    async def burst() -> list[int | None]:
        results = await asyncio.gather(*(reader.read() for _ in range(40)))
        await reader.close()
        return results

    expected = _generation(committed_db)
    assert asyncio.run(burst()) == [expected] * 40
    assert len(opened) == 1 and reader.statements == 1  # not one each
    assert reader.next is None and reader.pump is None


def test_a_read_that_arrives_during_a_statement_waits_for_the_next_one(committed_db, monkeypatch):
    """The statement in flight may have read the number before a revoke committed: a request
    that arrives after that commit must not take its answer."""
    reader, _ = _reader(committed_db, monkeypatch)
    real = reader._statement
    held_first: list[asyncio.Event] = []

    async def holding_the_first() -> int | None:
        value = await real()  # the number is read here ...
        if not held_first:  # ... and the first statement's answer held until the test says
            held_first.append(asyncio.Event())
            await held_first[0].wait()
        return value

    monkeypatch.setattr(reader, "_statement", holding_the_first)

    async def scenario() -> tuple[int | None, int | None, int]:
        first = asyncio.ensure_future(reader.read())
        while not held_first:  # the first statement has read the old number
            await asyncio.sleep(0.01)
        new = await asyncio.to_thread(_bump, committed_db)  # a revoke commits meanwhile
        second = asyncio.ensure_future(reader.read())  # and a request arrives after it
        await asyncio.sleep(0.05)
        held_first[0].set()
        old = await asyncio.wait_for(first, 10)
        seen = await asyncio.wait_for(second, 10)
        await reader.close()
        return old, seen, new

    old, seen, new = asyncio.run(scenario())
    assert old == new - 1  # the first request's number was read before the commit
    assert seen == new  # the second one's after it
    assert reader.statements == 2


def test_a_read_cancelled_while_it_waits_leaves_the_others_answer(committed_db, monkeypatch):
    reader, opened = _reader(committed_db, monkeypatch)

    async def scenario() -> list[int | None]:
        tasks = [asyncio.ensure_future(reader.read()) for _ in range(12)]
        await asyncio.sleep(0)  # all twelve wait for the same statement
        for task in tasks[::2]:
            task.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in done[::2])
        after = await reader.read()
        await reader.close()
        return [*done[1::2], after]

    expected = _generation(committed_db)
    assert asyncio.run(scenario()) == [expected] * 7
    assert len(opened) == 1 and reader.statements == 2
    assert reader.next is None and reader.pump is None


def test_a_connection_that_fails_is_replaced(committed_db, monkeypatch):
    reader, opened = _reader(committed_db, monkeypatch)

    async def scenario() -> tuple[int | None, int | None]:
        first = await reader.read()
        await reader.connection.close()  # as if the server had restarted
        failed = await reader.read()  # "unknown": the request reads everything itself
        assert failed is None and reader.connection is None
        again = await reader.read()
        await reader.close()
        return first, again

    expected = _generation(committed_db)
    assert asyncio.run(scenario()) == (expected, expected)
    assert len(opened) == 2
