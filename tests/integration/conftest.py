"""Integration ring: real PostgreSQL 15, connected as a non-superuser so row-level security applies.

One throwaway server per test session (tests/pgserver.py), migrated once. Each test runs in a
transaction that is rolled back at the end; services' commits release savepoints inside it.
Tests that need several connections (concurrency) use ``committed_db``: a database of its own.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from meshkeys import migrations
from meshkeys.db import make_engine
from tests.helpers import make_world, random_master_key, reset_caches
from tests.pgserver import PgServer, pg_server


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    with pg_server() as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def _master_key() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("MESHKEYS_MASTER_KEY", "MESHKEYS_MASTER_KEYS")}
    os.environ["MESHKEYS_MASTER_KEY"] = random_master_key()
    os.environ.pop("MESHKEYS_MASTER_KEYS", None)
    reset_caches()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_caches()


@pytest.fixture(scope="session")
def pg_engine(pg: PgServer) -> Iterator[Engine]:
    migrations.upgrade(pg.app_url)
    engine = make_engine(pg.app_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(pg_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = pg_engine.connect()
    outer = connection.begin()
    s = Session(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def world(session):
    return make_world(session)


def create_database(pg: PgServer, name: str) -> str:
    """A new empty database owned by the app role; returns its SQLAlchemy URL."""
    with psycopg.connect(pg.admin_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(pg.app_role)
            )
        )
    return make_url(pg.app_url).set(database=name).render_as_string(hide_password=False)


def drop_database(pg: PgServer, name: str) -> None:
    with psycopg.connect(pg.admin_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


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
