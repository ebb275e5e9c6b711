"""The unit of work: one session, its transactions, who acts in them, and what runs after commit.

    with UnitOfWork(actor, request=info) as uow:
        key = key_commands.revoke_key(uow, key_id=key_id, reason="retired")

- It owns the session. Services receive the unit of work and call ``uow.commit()``; nothing
  else commits, rolls back or binds.
- Every transaction it begins says who acts, for PostgreSQL's row-level security: a SQLAlchemy
  ``after_begin`` listener reads the acting user from ``session.info``, so a rollback (or a
  commit followed by more work) cannot lose it and no call site binds by hand.
- ``uow.now`` is fixed for one transaction: a change and its audit event carry the same time.
- Work registered with ``after_commit`` (the audit log lines) runs once the commit succeeded,
  and is forgotten on rollback.
- A transaction that changes keys, tokens or memberships increments the cache generation
  before it commits (``services.cache``, whose listeners every session has); ``cached=True``
  (the API's requests) lets the services answer from the caches checked against it.
- ``UnitOfWork.from_cache(generation)`` has no session at all: the API's first try at a
  signing request, on the event loop (``api.deps.answer``). Every service answers it from the
  caches or, the moment it would need the database, raises ``NeedsDatabase``; the door then
  runs the whole work again in an ordinary unit of work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from meshkeys import clock, db
from meshkeys.services import cache as _cache  # noqa: F401  (its listeners watch every session)
from meshkeys.services.context import Actor, RequestInfo
from meshkeys.services.errors import Unauthenticated

_INFO_KEY = "meshkeys.uow"


class NeedsDatabase(Exception):  # noqa: N818 - a signal to the door, not an error of the user's
    """A unit of work made by ``UnitOfWork.from_cache`` was asked for its session: what it
    was doing is not all in the caches. Nothing was read or written; run it again in an
    ordinary unit of work."""


# ``bind`` of a unit of work that has no session (``UnitOfWork.from_cache``).
_NO_DATABASE: Engine = object()  # type: ignore[assignment]


class UnitOfWork:
    """One session for one action of a door (a request, a UI event, a CLI command).

    ``actor`` is the acting user (None until a door has resolved one: see ``act_as``);
    ``system=True`` is for operator commands that span every project (CLI only).
    ``bind`` is an engine or a connection; the default is the configured database.
    ``session`` lends the unit of work a session it does not own (tests that check rows in
    between): it binds the actor at once if a transaction is open, and never closes it.
    ``cached`` lets the services use the API's caches (``services.cache``).
    """

    def __init__(
        self,
        actor: Actor | None = None,
        *,
        request: RequestInfo | None = None,
        system: bool = False,
        bind: Engine | Connection | None = None,
        session: Session | None = None,
        cached: bool = False,
    ) -> None:
        self._actor = actor
        self.cached = cached
        self.cache_generation: int | None = None
        self.system = system
        self.request = request or RequestInfo()
        self._owns_session = session is None
        self._now: datetime | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._session: Session | None = None
        if bind is _NO_DATABASE:
            return
        if session is None:
            session = Session(bind if bind is not None else db.get_engine(), expire_on_commit=False)
        self._session = session
        session.info[_INFO_KEY] = self
        if not self._owns_session and session.in_transaction():
            _bind_rls(self, session.connection())

    @classmethod
    def from_cache(cls, generation: int, *, request: RequestInfo | None = None) -> UnitOfWork:
        """A unit of work without a session, whose entries are checked against ``generation``
        (read by the caller, ``cache.read_generation_async``): ``session`` raises
        ``NeedsDatabase``. For a door that first tries to answer from memory alone."""
        uow = cls(request=request, cached=True, bind=_NO_DATABASE)
        uow.cache_generation = generation
        return uow

    @property
    def session(self) -> Session:
        if self._session is None:
            raise NeedsDatabase()
        return self._session

    # ------------------------------------------------------------ who acts

    @property
    def actor(self) -> Actor:
        """The acting user; Unauthenticated when no door has named one."""
        if self._actor is None:
            raise Unauthenticated("Sign in first: this action needs a user.")
        return self._actor

    @property
    def has_actor(self) -> bool:
        return self._actor is not None

    def act_as(self, actor: Actor | None) -> None:
        """Name the acting user once a door has resolved it (from a cookie or a token).

        The transaction in progress, if any, is told at once; later ones by the listener.
        """
        self._actor = actor
        if self._session is not None and self._session.in_transaction():
            _bind_rls(self, self._session.connection())

    @contextlib.contextmanager
    def system_step(self) -> Iterator[None]:
        """One transaction with row-level security's system context, for the few lookups that
        must happen before anyone is known: a credential found by the hash of its secret
        (a browser session, an API token). The transaction in progress ends first; the
        step's own is read-only (PostgreSQL refuses any write in it) and is rolled back when
        the block exits. docs/SECURITY.md lists every caller.
        """
        if self.session.in_transaction():
            self.rollback()
        saved, self.system = self.system, True
        try:
            self.read_only()
            if self.is_postgres:
                self.session.execute(sa.text("SET LOCAL transaction_read_only = on"))
            yield
        finally:
            self.rollback()
            self.system = saved

    # ------------------------------------------------------------ transactions

    @property
    def now(self) -> datetime:
        """One "now" per transaction: a change and its audit event agree on the time."""
        if self._now is None:
            self._now = clock.now()
        return self._now

    @property
    def is_postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def read_only(self) -> None:
        """Declare that the transaction about to start only reads (see ``db.read_only``)."""
        db.read_only(self.session)

    def serialize(self, name: str) -> None:
        """Hold a lock named ``name`` until this transaction ends (see ``db.serialize``)."""
        db.serialize(self.session, name)

    def after_commit(self, work: Callable[[], None]) -> None:
        """Run ``work`` after the current transaction commits (never if it rolls back)."""
        self._after_commit.append(work)

    def commit(self) -> None:
        self.session.commit()
        self._now = None
        pending, self._after_commit = self._after_commit, []
        for work in pending:
            work()

    def rollback(self) -> None:
        self.session.rollback()
        self._now = None
        self._after_commit = []

    def close(self) -> None:
        """End the unit of work: what was not committed is rolled back. Rows already loaded
        stay readable (closing detaches them; it does not expire them as a rollback would)."""
        if self._session is None:
            return
        if self._owns_session:
            self._now = None
            self._after_commit = []
            self._session.close()
        else:
            self.rollback()

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _bind_rls(uow: UnitOfWork, connection: Connection) -> None:
    """Tell PostgreSQL's row-level security who acts in the transaction just begun."""
    if connection.dialect.name != "postgresql":
        return
    actor = uow._actor
    user_id = actor.user_id if actor is not None else None
    # A project-scoped API token narrows the policies to its project (revision 0004).
    scope = actor.scope.project_id if actor is not None and actor.scope is not None else None
    connection.execute(
        sa.text(
            "SELECT set_config('meshkeys.user_id', :uid, true), "
            "set_config('meshkeys.system', :system, true), "
            "set_config('meshkeys.project_scope', :scope, true)"
        ),
        {
            "uid": str(user_id) if user_id else "",
            "system": "on" if uow.system else "off",
            "scope": str(scope) if scope else "",
        },
    )


@event.listens_for(OrmSession, "after_begin")
def _bind_actor(
    session: OrmSession, _transaction: SessionTransaction, connection: Connection
) -> None:
    uow = session.info.get(_INFO_KEY)
    if isinstance(uow, UnitOfWork):
        _bind_rls(uow, connection)
