"""The async routes' reader of the cache generation (``services.cache._AsyncReader``).

Under a burst of concurrent requests it keeps at most ``SIZE`` connections and hands them on,
instead of opening (and forking a PostgreSQL backend for) one per request beyond its idle ones;
a request that goes away while it waits or reads leaves nothing behind.
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


def test_a_burst_of_reads_shares_a_few_connections(committed_db, monkeypatch):
    reader, opened = _reader(committed_db, monkeypatch)

    async def burst() -> list[int | None]:
        results = await asyncio.gather(*(reader.read() for _ in range(5 * reader.SIZE)))
        await asyncio.gather(*(c.close() for c in reader.idle))
        return results

    expected = _generation(committed_db)
    assert asyncio.run(burst()) == [expected] * (5 * reader.SIZE)
    assert len(opened) == reader.SIZE  # not one per request
    assert reader.opened == len(reader.idle) == reader.SIZE and not reader.waiters


def test_reads_cancelled_while_waiting_or_reading_leave_nothing_behind(committed_db, monkeypatch):
    reader, opened = _reader(committed_db, monkeypatch)

    async def scenario() -> list[int | None]:
        first = [asyncio.ensure_future(reader.read()) for _ in range(3 * reader.SIZE)]
        await asyncio.sleep(0)  # the first SIZE are connecting, the rest wait for one
        for task in first[1::2]:
            task.cancel()
        await asyncio.gather(*first, return_exceptions=True)
        after = await asyncio.gather(*(reader.read() for _ in range(2 * reader.SIZE)))
        busy = reader.opened - len(reader.idle)
        await asyncio.gather(*(c.close() for c in reader.idle))
        assert busy == 0 and not reader.waiters
        return after

    expected = _generation(committed_db)
    assert asyncio.run(scenario()) == [expected] * (2 * reader.SIZE)
    assert reader.opened <= reader.SIZE


def test_a_connection_that_fails_is_replaced(committed_db, monkeypatch):
    reader, opened = _reader(committed_db, monkeypatch)

    async def scenario() -> tuple[int | None, int | None]:
        first = await reader.read()
        (connection,) = reader.idle
        await connection.close()  # as if the server had restarted
        failed = await reader.read()  # "unknown": the request reads everything itself
        assert failed is None and reader.opened == 0
        again = await reader.read()
        await asyncio.gather(*(c.close() for c in reader.idle))
        return first, again

    expected = _generation(committed_db)
    assert asyncio.run(scenario()) == (expected, expected)
    assert len(opened) == 2
