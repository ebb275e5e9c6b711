"""Integration ring: real PostgreSQL 15, connected as a non-superuser so row-level security applies.

One throwaway server per test session (tests/pgserver.py), migrated once; the ``pg``,
``session``, ``uow`` and ``world`` fixtures are in tests/backends.py. Each test runs in a
transaction that is rolled back at the end; services' commits release savepoints inside it.
Tests that need several connections (concurrency) use ``committed_db`` (tests/backends.py): a
database of its own.
"""

from __future__ import annotations

import pytest

from tests.backends import create_database, drop_database

__all__ = ["create_database", "drop_database"]


@pytest.fixture(scope="session", autouse=True)
def _master_key(scenario_master_key: None) -> None:
    """One random master key for the whole ring (``tests/backends.py``)."""


@pytest.fixture(scope="session", autouse=True)
def _on_postgres(backend: str) -> None:
    if backend != "postgres":
        pytest.fail("the integration ring runs with --backend postgres (see .ci/rings)")
