"""The one engine factory, SQLite's pragmas and locking, and transaction-wide locks.

Sessions are opened by ``meshkeys.services.uow.UnitOfWork``, which also tells PostgreSQL's
row-level security who acts in every transaction it begins.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from meshkeys.config import get_settings
from meshkeys.services.errors import Unavailable

try:  # psycopg's "could not connect" (the server is down or unreachable)
    from psycopg import OperationalError as _PsycopgOperationalError

    _DRIVER_UNAVAILABLE: tuple[type[BaseException], ...] = (_PsycopgOperationalError,)
except ImportError:  # pragma: no cover - psycopg is a dependency
    _DRIVER_UNAVAILABLE = ()

READ_ONLY_OPTION = "meshkeys_read_only"
# Seconds to wait for PostgreSQL to accept a connection (libpq's connect_timeout).
CONNECT_TIMEOUT_SECONDS = 2


# SQLSTATEs of a server that is away: connection exceptions (08...), shutting down or starting.
_AWAY_STATES = ("57P01", "57P02", "57P03")


def _is_unreachable(exc: BaseException) -> bool:
    """A driver error saying the server cannot be reached (no SQLSTATE: it never answered)."""
    if not isinstance(exc, _DRIVER_UNAVAILABLE):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith("08") or state in _AWAY_STATES


def make_engine(url: str, **kwargs: object) -> Engine:
    """Create an engine with meshkeys' settings for its backend."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            # Let SQLAlchemy issue BEGIN itself, so that writes take the lock at
            # BEGIN IMMEDIATE and concurrent writers queue instead of deadlocking.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA busy_timeout = 30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:  # pragma: no cover - trivial
            # Readers (see read_only) take no lock: WAL lets them run beside one writer.
            options = conn.get_execution_options()
            if options.get("isolation_level") == "AUTOCOMMIT":
                return  # each statement on its own (services.cache reads its number so)
            read = options.get(READ_ONLY_OPTION)
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    connect_args = dict(kwargs.pop("connect_args", None) or {})  # type: ignore[call-overload]
    # A database that does not answer fails a request in seconds, not after the OS's timeout.
    connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "handle_error")
    def _unavailable(context: sa.engine.ExceptionContext) -> None:
        # A lost or refused connection is the database being away, not a bug: every door says
        # so (API 503, CLI, UI toast). A failed pre-ping is the pool's to retry, not ours.
        if context.is_pre_ping:
            return
        original = context.original_exception
        if context.is_disconnect or _is_unreachable(original):
            raise Unavailable() from original

    return engine


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().database_url)


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def serialize(session: Session, name: str) -> None:
    """Hold a transaction-wide lock named ``name`` until commit or rollback.

    PostgreSQL: an advisory lock. SQLite needs none: every transaction starts
    with ``BEGIN IMMEDIATE`` and so already excludes other writers.
    """
    if is_postgres(session):
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def read_only(session: Session) -> None:
    """Declare that the transaction about to start only reads.

    On SQLite every other transaction starts with ``BEGIN IMMEDIATE`` (it takes
    the write lock at once, so writers queue instead of failing on a lock
    upgrade); a read-only one starts with a plain ``BEGIN`` and, under WAL,
    neither waits for a writer nor blocks one: a long audit export does not
    stop key changes. On PostgreSQL this changes nothing. Called before the
    first statement; inside a transaction already begun it does nothing.
    """
    if not session.in_transaction():
        session.connection(execution_options={READ_ONLY_OPTION: True})
