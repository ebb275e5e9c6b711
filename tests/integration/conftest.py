"""Integration ring: real PostgreSQL 15, connected as a non-superuser so row-level security applies.

One throwaway server per test session (tests/pgserver.py), migrated once; the ``pg``,
``session``, ``uow`` and ``world`` fixtures are in tests/backends.py. Each test runs in a
transaction that is rolled back at the end; services' commits release savepoints inside it.
Tests that need several connections (concurrency) use ``committed_db``: a database of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from meshkeys import migrations
from meshkeys.db import make_engine
from tests.backends import create_database, drop_database
from tests.pgserver import PgServer

__all__ = ["create_database", "drop_database"]


@pytest.fixture(scope="session", autouse=True)
def _master_key(scenario_master_key: None) -> None:
    """One random master key for the whole ring (``tests/backends.py``)."""


@pytest.fixture(scope="session", autouse=True)
def _on_postgres(backend: str) -> None:
    if backend != "postgres":
        pytest.fail("the integration ring runs with --backend postgres (see .ci/rings)")


@pytest.fixture
def empty_db(pg: PgServer) -> Iterator[str]:
    name = f"meshkeys_empty_{secrets.token_hex(4)}"
    url = create_database(pg, name)
    yield url
    drop_database(pg, name)


@pytest.fixture
def committed_db(pg: PgServer) -> Iterator[Engine]:
    """A migrated database of its own whose commits are real (for multi-connection tests)."""
    name = f"meshkeys_committed_{secrets.token_hex(4)}"
    url = create_database(pg, name)
    migrations.upgrade(url)
    engine = make_engine(url, pool_size=10)
    yield engine
    engine.dispose()
    drop_database(pg, name)
