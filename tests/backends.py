"""The database backends the tests run on, as fixtures (a pytest plugin of the root conftest).

``--backend sqlite`` (the unit ring) or ``--backend postgres`` (the integration ring) chooses
where the scenarios of ``tests/scenarios`` run; every scenario runs on both, from one
definition. The fixtures a scenario uses:

- ``uow(actor=None, system=False)``: a ``UnitOfWork`` acting as ``actor``, the way a door
  opens one, on the test's own connection;
- ``session``: a plain session on that connection, for checking what the services wrote;
- ``world``: an owner, an admin, a viewer and an outsider, and their projects.

On SQLite every test has a fresh database file; on PostgreSQL every test runs inside one
outer transaction that is rolled back at the end (the services' commits release savepoints
inside it), as the runtime role (not a superuser, not the owner), so row-level security and the
runtime grants apply. ``pg`` is a throwaway PostgreSQL server, started once per test session when
a test asks for it (``tests/pgserver.py``). Every database is migrated as its owner role
(``pg.owner_url``) and used as the runtime role (``pg.app_url``), as in production.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from meshkeys import db, migrations
from meshkeys.api.app import create_api
from meshkeys.db import make_engine
from meshkeys.services.context import Actor
from meshkeys.services.uow import UnitOfWork
from tests.api_world import build_api_world
from tests.helpers import (
    UowFactory,
    World,
    configure,
    make_world,
    random_master_key,
    reset_caches,
    units,
)
from tests.pgserver import PgServer, pg_server

BACKENDS = ("sqlite", "postgres")
_PG_ROLES: dict[str, str] = {}  # the roles pg_engine's connections switch between


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=BACKENDS,
        default="sqlite",
        help="database the scenarios in tests/scenarios run on (default: sqlite)",
    )


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--backend"))


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    with pg_server() as server:
        yield server


@pytest.fixture(scope="session")
def scenario_master_key() -> Iterator[None]:
    """One master key for the whole run (scenarios may switch it with monkeypatch)."""
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
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_path(tmp_path: Path, template_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh migrated SQLite database, configured as the app's (doors open their own units
    of work on it, and commit for real)."""
    path = tmp_path / "meshkeys.db"
    shutil.copy(template_db, path)
    configure(
        monkeypatch,
        database_url=f"sqlite:///{path}",
        MESHKEYS_MASTER_KEY_FILE=str(tmp_path / "master.key"),
    )
    yield path
    db.get_engine().dispose()
    reset_caches()


@pytest.fixture(scope="session")
def pg_engine(pg: PgServer, scenario_master_key: None) -> Iterator[Engine]:
    """The throwaway server's database, migrated once by its owner, used as the runtime role.

    Its connections log in as ``pg.driver_url`` and switch to the app role at once (``SET
    ROLE``): they hold exactly the app's privileges, and ``as_owner`` can switch one to the
    owner for a test that plays an attacker on the same (uncommitted) data."""
    migrations.upgrade(pg.owner_url, runtime_role=pg.runtime_role)
    engine = make_engine(pg.driver_url)
    app_role = engine.dialect.identifier_preparer.quote(pg.app_role)

    @sa.event.listens_for(engine, "connect")
    def _as_app(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET ROLE {app_role}")
        dbapi_conn.commit()

    _PG_ROLES.update(app_role=pg.app_role, owner_role=pg.owner_role)
    yield engine
    engine.dispose()


@pytest.fixture
def session(backend: str, request: pytest.FixtureRequest) -> Iterator[Session]:
    """The test's session. SQLite: on a fresh database file, committing for real.
    PostgreSQL: inside an outer transaction rolled back after the test (the services'
    commits release savepoints)."""
    if backend == "sqlite":
        request.getfixturevalue("db_path")
        with Session(db.get_engine(), expire_on_commit=False) as s:
            yield s
        return
    engine: Engine = request.getfixturevalue("pg_engine")
    connection = engine.connect()
    outer = connection.begin()
    s = Session(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        connection.close()


@contextlib.contextmanager
def as_owner(session: Session) -> Iterator[None]:
    """Run the block as the role that owns the tables: what an attacker holding the owner's
    credentials (not the app's) could do. PostgreSQL: ``SET LOCAL ROLE`` to the owner on the
    test's own connection, then back to the app role. SQLite has no roles: nothing changes."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    roles = _PG_ROLES
    session.execute(sa.text(f'SET LOCAL ROLE "{roles["owner_role"]}"'))
    try:
        yield
    finally:
        session.execute(sa.text(f'SET LOCAL ROLE "{roles["app_role"]}"'))


@pytest.fixture
def uow(session: Session) -> UowFactory:
    """``uow(actor)``: a unit of work acting as ``actor``, on the test's session."""

    def factory(actor: Actor | None = None, *, system: bool = False, **kwargs: Any) -> UnitOfWork:
        return UnitOfWork(actor, system=system, session=session, **kwargs)

    return factory


@pytest.fixture
def world(uow: UowFactory) -> World:
    return make_world(uow)


# ---------------------------------------------------------------- the REST API


@dataclass(frozen=True)
class Database:
    """A database of its own on the throwaway server: migrate as ``owner_url``, use as
    ``app_url`` (the runtime role)."""

    owner_url: str
    app_url: str


def create_database(pg: PgServer, name: str) -> Database:
    """A new empty database owned by the owner role."""
    with psycopg.connect(pg.admin_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(pg.owner_role)
            )
        )

    def url(of: str) -> str:
        return make_url(of).set(database=name).render_as_string(hide_password=False)

    return Database(owner_url=url(pg.owner_url), app_url=url(pg.app_url))


def migrate(pg: PgServer, database: Database) -> str:
    """Migrate as the owner, grant the runtime role; returns the runtime role's URL."""
    migrations.upgrade(database.owner_url, runtime_role=pg.runtime_role)
    return database.app_url


def drop_database(pg: PgServer, name: str) -> None:
    with psycopg.connect(pg.admin_dsn, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def pg_api_database(pg: PgServer) -> Iterator[str]:
    """A migrated database whose commits are real: the API opens its own units of work."""
    name = f"meshkeys_api_{secrets.token_hex(4)}"
    yield migrate(pg, create_database(pg, name))
    drop_database(pg, name)


@pytest.fixture
def api(backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """The API in-process (``TestClient(create_api())``) on the chosen backend, and a world
    whose users each hold an API token. On PostgreSQL the database is shared by the session's
    API tests: every test makes its own users and projects (unique emails)."""
    if backend == "sqlite":
        world: World = request.getfixturevalue("world")
        engine = db.get_engine()
    else:
        request.getfixturevalue("scenario_master_key")  # also when no integration test runs
        url = request.getfixturevalue("pg_api_database")
        configure(monkeypatch, database_url=url, master_key=os.environ["MESHKEYS_MASTER_KEY"])
        engine = db.get_engine()
        world = make_world(units(engine), prefix=f"{secrets.token_hex(3)}-")
    try:
        with TestClient(create_api()) as client:
            yield build_api_world(world, client, engine)
    finally:
        if backend == "postgres":
            engine.dispose()
            reset_caches()


@pytest.fixture
def empty_db(pg: PgServer) -> Iterator[Database]:
    name = f"meshkeys_empty_{secrets.token_hex(4)}"
    yield create_database(pg, name)
    drop_database(pg, name)


@pytest.fixture
def committed_db(pg: PgServer) -> Iterator[Engine]:
    """A migrated database of its own whose commits are real (for multi-connection tests)."""
    name = f"meshkeys_committed_{secrets.token_hex(4)}"
    engine = make_engine(migrate(pg, create_database(pg, name)), pool_size=10)
    yield engine
    engine.dispose()
    drop_database(pg, name)
