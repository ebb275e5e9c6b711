"""What the API keeps in memory between requests, and how every worker knows it is stale.

A sender's ``POST /webhooks/sign`` would otherwise cost two transactions (the token lookup,
then the access check and the key query) for one HMAC. So each API worker keeps:

- per API token and client address, the token's actor (``remember_actor``, ``cached_actor``);
- per user and project, the user's role there and the project's signing keys, decoded and
  loaded (``remember_keys``, ``cached_keys``);
- per user, project and query, the user's role there and a page of the project's keys as
  ``GET /keys`` answers it (``remember_page``, ``cached_page``): a dashboard or a script that
  polls the list between changes reads it from memory.

**Stale entries are never used.** ``cache_generation`` holds one number. Any transaction that
changes what an entry was made of (a key, a token, a membership, a user, a project, a failed
attempt) increments it before it commits, in the same transaction: the ORM's flush and bulk
statements on those tables are watched here (``_watch_flush``, ``_watch_statement``), and the
increment is the last statement before COMMIT (``_bump``). A request reads the number once,
outside any transaction, before it reads anything else (``generation``), and uses an entry only
if it was made under that number. So once a revoke's COMMIT has returned, before its answer
is sent, every worker's next request sees the new number and reloads: revocation is effective
on the very next request, whichever worker or process (API, UI, CLI, scheduler) made it.

Time alone changes an entry too: it ends at the token's expiry, when the token's last use is
due to be recorded again (``auth.TOKEN_TOUCH_INTERVAL``), and when a key's grace period ends,
whichever comes first (``valid_until``); and after ``MAX_AGE`` at most, a bound for changes made
outside the app (raw SQL by an operator), which this module cannot see.

Only units of work that ask for it (``UnitOfWork(cached=True)``: the API's requests) read or
fill the caches, and only when bound to an engine (a test's connection-bound unit of work
sees uncommitted rows the number does not cover). ``MESHKEYS_API_CACHE=off`` turns them off.
Decoded secrets are held in the worker's memory as they are during any signing request; they
never leave it (docs/SECURITY.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session

from meshkeys import db
from meshkeys.config import get_settings
from meshkeys.db import CONNECT_TIMEOUT_SECONDS, make_engine
from meshkeys.models import (
    ApiToken,
    KeyPage,
    LoginFailure,
    Membership,
    Project,
    Role,
    SignatureKey,
    User,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from meshkeys.crypto.signing import KeySet
    from meshkeys.services.context import Actor
    from meshkeys.services.uow import UnitOfWork

MAX_ENTRIES = 4096
# A page holds up to 100 keys' public fields (~1.5 KiB each in memory): at most ~40 MiB.
MAX_PAGES = 256
MAX_AGE = timedelta(seconds=60)
# An execution option for a statement that changes nothing a cache holds (the token's
# last-used time): it does not increment the generation.
NEUTRAL = "meshkeys_cache_neutral"

_WATCHED = (SignatureKey, ApiToken, Membership, User, Project, LoginFailure)
_WATCHED_TABLES = frozenset(model.__tablename__ for model in _WATCHED)
_DIRTY = "meshkeys.cache.dirty"
_READ_SQL = "SELECT generation FROM cache_generation WHERE id = 1"
_BUMP = sa.text("UPDATE cache_generation SET generation = generation + 1 WHERE id = 1")


@dataclass(frozen=True, slots=True)
class ProjectKeys:
    """A project's signing keys as one request uses them: HMAC keys decoded (``KeySet``),
    ed25519 keys loaded for signing, and their public keys for verifying."""

    any_key: bool
    hmac: KeySet[uuid.UUID]
    ed_private: tuple[Ed25519PrivateKey, ...]
    ed_public: tuple[tuple[uuid.UUID, str], ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    value: Any
    generation: int
    valid_until: datetime


K = TypeVar("K", bound=Hashable)


class _Lru(Generic[K]):
    """A bounded map, least recently used out first; safe across the API's threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, generation: int, now: datetime) -> Any | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            if entry.generation != generation or now >= entry.valid_until:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return entry.value

    def put(self, key: K, entry: _Entry) -> None:
        with self._lock:
            self._items[key] = entry
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


_actors: _Lru[tuple[str, str | None]] = _Lru(MAX_ENTRIES)
_keys: _Lru[tuple[uuid.UUID, uuid.UUID]] = _Lru(MAX_ENTRIES)
_pages: _Lru[tuple[uuid.UUID, uuid.UUID, Hashable]] = _Lru(MAX_PAGES)


def clear() -> None:
    """Forget every entry of this process (tests; a worker never needs to)."""
    _actors.clear()
    _keys.clear()
    _pages.clear()
    with _readers_lock:
        _async_readers.clear()


# ---------------------------------------------------------------- the generation


def generation(uow: UnitOfWork) -> int | None:
    """The generation this request's entries are checked and made under: read once per unit
    of work, before anything the request reads next. None: this unit of work uses no cache
    (or the number cannot be read just now: the request then reads everything itself).
    """
    if not uow.cached:
        return None
    if uow.cache_generation is None:
        bind = uow.session.get_bind()
        if not isinstance(bind, Engine) or not get_settings().api_cache:
            uow.cached = False
            return None
        found = _read_generation(bind)
        if found is None:
            uow.cached = False
            return None
        uow.cache_generation = found
    return uow.cache_generation


_readers: dict[int, tuple[Engine, Engine]] = {}  # id(bind) -> (bind, its reader)
_readers_lock = threading.Lock()


def _reader(bind: Engine) -> Engine:
    """An engine beside ``bind`` for the generation's read alone: the same database, in
    autocommit (no BEGIN, no reset on return), without the pre-ping round trip (a dead
    connection fails the read, which then says "unknown"). Disposed with ``bind``."""
    known = _readers.get(id(bind))
    if known is not None and known[0] is bind:
        return known[1]
    with _readers_lock:
        known = _readers.get(id(bind))
        if known is not None and known[0] is bind:
            reader = known[1]
        else:
            options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"}
            if bind.dialect.name == "postgresql":
                # Each connection is held for one statement: a few suffice per worker.
                options |= {
                    "pool_pre_ping": False,
                    "pool_reset_on_return": None,
                    "pool_size": 4,
                    "max_overflow": 8,
                }
            reader = make_engine(bind.url.render_as_string(hide_password=False), **options)
            _readers[id(bind)] = (bind, reader)

            def _disposed(_engine: Engine, key: int = id(bind)) -> None:
                gone = _readers.pop(key, None)
                if gone is not None:
                    gone[1].dispose()

            event.listen(bind, "engine_disposed", _disposed)
    return reader


def _read_generation(bind: Engine) -> int | None:
    """One statement on a raw pooled connection; None for a database before revision 0008 or
    one that cannot be reached (the request's own reads then report it)."""
    reader = _reader(bind)
    try:
        connection = reader.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(_READ_SQL)
            row = cursor.fetchone()
            cursor.close()
        finally:
            connection.close()
    except Exception:  # noqa: BLE001 - any failure means "unknown": read everything instead
        reader.dispose()  # its connections may all be dead (a restarted server)
        return None
    return None if row is None else int(row[0])


class _AsyncReader:
    """One autocommit connection of one event loop to one database, for the generation's
    read alone: an ``async`` route reads it without blocking the loop or taking a thread.

    **Concurrent requests share a statement, never one sent before they arrived.** At most one
    statement is in flight. A request that arrives while none is waits for one sent at once;
    one that arrives while a statement is in flight waits for the next, which is sent as soon
    as that one answers and serves every request that arrived meanwhile. So each request's
    number was read after the request arrived (a revoke whose answer came before it is seen),
    and under load one round trip serves many requests: a worker spent a fifth of a warm
    sign's time on its own read (docs/PERFORMANCE.md). A request that goes away (cancelled)
    stops waiting; the statement it shared goes on for the others.
    """

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.connection: Any = None
        self.next: asyncio.Future[int | None] | None = None  # not sent yet: arrivals join it
        self.pump: asyncio.Task[None] | None = None  # the task sending statements, if any
        self.statements = 0  # sent on this reader (tests and benches count them)

    def join(self) -> asyncio.Future[int | None]:
        """The answer of the next statement sent from now on, joined now without waiting for
        it (a request that arrives joins here, then goes on reading its body meanwhile)."""
        future = self.next
        if future is None:
            loop = asyncio.get_running_loop()
            future = self.next = loop.create_future()
            if self.pump is None:
                self.pump = loop.create_task(self._pump())
        return future

    async def read(self) -> int | None:
        return await asyncio.shield(self.join())

    async def _pump(self) -> None:
        """Send the next statement while requests wait for one; stop when none does."""
        try:
            while self.next is not None:
                # Whoever arrives from here on waits for the statement after this one.
                future, self.next = self.next, None
                try:
                    value = await self._statement()
                except BaseException:
                    future.cancel()
                    raise
                if not future.done():
                    future.set_result(value)
        finally:
            self.pump = None
            if self.next is not None:  # cut off (the loop is closing): nobody waits forever
                self.next.cancel()
                self.next = None

    async def _statement(self) -> int | None:
        """One read on the connection, opened first if need be; None ("unknown": the request
        reads everything itself) when it cannot be opened or the read fails, and a failed
        connection is dropped, so the next statement opens a new one."""
        import psycopg  # only PostgreSQL has this path

        try:
            if self.connection is None:
                self.connection = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
                )
            self.statements += 1
            cursor = await self.connection.execute(_READ_SQL)
            row = await cursor.fetchone()
        except BaseException as exc:  # noqa: BLE001 - any failure means "unknown"
            connection, self.connection = self.connection, None
            if not isinstance(exc, Exception):
                raise  # cancelled (the loop is closing): the connection goes with it
            if connection is not None:
                await _close_quietly(connection)
            return None
        return None if row is None else int(row[0])

    async def close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            await _close_quietly(connection)


async def _close_quietly(connection: Any) -> None:
    with contextlib.suppress(Exception):  # it is being dropped because it failed
        await connection.close()


_async_readers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _AsyncReader]] = (
    weakref.WeakKeyDictionary()
)


def start_generation_read() -> asyncio.Future[int | None] | None:
    """The generation of the configured database, as a statement sent on the running event
    loop from now on (psycopg's async connection, autocommit, one statement, shared by the
    requests that arrive meanwhile: ``_AsyncReader``); None where there is none to send.

    The API's outermost middleware starts it when a request arrives (``GenerationPrefetch``),
    so its round trip to PostgreSQL overlaps the request's way through the middleware,
    routing and body parsing; ``read_generation_async`` then waits for what is left of it.

    None when the API's caches are off (``MESHKEYS_API_CACHE=off``) or the database is not
    PostgreSQL (SQLite's read would block the loop).
    """
    if not get_settings().api_cache:
        return None
    engine = db.get_engine()
    if engine.dialect.name != "postgresql":
        return None
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    loop = asyncio.get_running_loop()
    with _readers_lock:
        reader = _async_readers.setdefault(loop, {}).setdefault(url, _AsyncReader(url))
    return reader.join()


async def read_generation_async(started: asyncio.Future[int | None] | None = None) -> int | None:
    """The generation of the configured database, read on the running event loop without
    blocking it: ``started`` (``start_generation_read``'s, when the request's arrival began
    it), else a read begun now.

    None where ``start_generation_read`` has none, or when the number cannot be read just now:
    the caller then takes the ordinary path, which reads it (or everything) itself. Read
    after the request arrived, like ``generation``: a revoke whose answer was sent before it
    is seen.
    """
    future = started if started is not None else start_generation_read()
    if future is None:
        return None
    # Shielded: a request that goes away stops waiting; the shared statement goes on.
    return await asyncio.shield(future)


def _until(uow: UnitOfWork, *ends: datetime | None) -> datetime:
    return min([uow.now + MAX_AGE, *(end for end in ends if end is not None)])


# ---------------------------------------------------------------- the entries


def cached_actor(uow: UnitOfWork, digest: str) -> Actor | None:
    """The actor of the API token with this hash, for this client, if still current."""
    gen = generation(uow)
    if gen is None:
        return None
    found: Actor | None = _actors.get((digest, uow.request.client_ip), gen, uow.now)
    return found


def remember_actor(
    uow: UnitOfWork, digest: str, actor: Actor, *, expires_at: datetime | None, touch_due: datetime
) -> None:
    """Keep a token's actor until the token expires or its last use is due to be recorded."""
    gen = generation(uow)
    if gen is not None:
        entry = _Entry(actor, gen, _until(uow, expires_at, touch_due))
        _actors.put((digest, uow.request.client_ip), entry)


def cached_keys(uow: UnitOfWork, project_id: uuid.UUID) -> tuple[Role, ProjectKeys] | None:
    """The actor's role in the project and the project's signing keys, if still current."""
    gen = generation(uow)
    if gen is None:
        return None
    found: tuple[Role, ProjectKeys] | None = _keys.get(
        (uow.actor.user_id, project_id), gen, uow.now
    )
    return found


def remember_keys(
    uow: UnitOfWork,
    project_id: uuid.UUID,
    role: Role,
    keys: ProjectKeys,
    *,
    ends: list[datetime],
) -> None:
    """Keep the actor's role and the project's keys until the first of ``ends`` (the grace
    periods that end) or a change anywhere increments the generation."""
    gen = generation(uow)
    if gen is not None:
        _keys.put((uow.actor.user_id, project_id), _Entry((role, keys), gen, _until(uow, *ends)))


def cached_page(
    uow: UnitOfWork, project_id: uuid.UUID, query: Hashable
) -> tuple[Role, KeyPage] | None:
    """The actor's role in the project and the page ``query`` asked for, if still current."""
    gen = generation(uow)
    if gen is None:
        return None
    found: tuple[Role, KeyPage] | None = _pages.get(
        (uow.actor.user_id, project_id, query), gen, uow.now
    )
    return found


def remember_page(
    uow: UnitOfWork,
    project_id: uuid.UUID,
    query: Hashable,
    role: Role,
    page: KeyPage,
    *,
    ends: list[datetime],
) -> None:
    """Keep a page (treated as read-only by every reader) until the first of ``ends`` (when
    a key's grace period ends, its status and the totals change) or any change anywhere
    increments the generation."""
    gen = generation(uow)
    if gen is not None:
        entry = _Entry((role, page), gen, _until(uow, *ends))
        _pages.put((uow.actor.user_id, project_id, query), entry)


# ---------------------------------------------------------------- the writers


@event.listens_for(Session, "before_flush")
def _watch_flush(session: Session, _context: Any, _instances: Any) -> None:
    for instance in (*session.new, *session.dirty, *session.deleted):
        if isinstance(instance, _WATCHED):
            session.info[_DIRTY] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _watch_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if state.execution_options.get(NEUTRAL):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        state.session.info[_DIRTY] = True


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    session.flush()  # what COMMIT would flush next may mark the transaction
    if session.info.pop(_DIRTY, False):
        # The last statement before COMMIT: the row's lock is held for the commit alone.
        session.execute(_BUMP)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_DIRTY, None)
