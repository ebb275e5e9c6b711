"""Operator commands that span every project: master-key rotation, chain checks, demo data.

They run from the CLI in a ``system`` unit of work (``UnitOfWork(system=True)``: row-level
security lets it see every project); no door of the app calls them.
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import secrets as pysecrets
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from meshkeys.crypto.encryption import DecryptionError, Keyring
from meshkeys.crypto.secrets import SECRET_PREFIX
from meshkeys.models import KeyStatus, Project, RevokeReason, SignatureKey
from meshkeys.services import audit, auth, projects
from meshkeys.services.audit_check import Verdict, verify_all
from meshkeys.services.errors import InvalidInput
from meshkeys.services.keys import associated_data
from meshkeys.services.uow import UnitOfWork

Progress = Callable[[int], None]


def _require_system(uow: UnitOfWork) -> None:
    if not uow.system:
        raise PermissionError("operator commands need UnitOfWork(system=True)")


def _not_current(keyring: Keyring) -> sa.ColumnElement[bool]:
    return col(SignatureKey.key).not_like(f"mk1.{keyring.current_version}.%")


def secrets_to_reencrypt(uow: UnitOfWork, *, keyring: Keyring) -> int:
    """How many secrets are not yet under the current master key."""
    _require_system(uow)
    count = select(sa.func.count()).select_from(SignatureKey).where(_not_current(keyring))
    total = uow.session.exec(count).one()
    uow.rollback()
    return total


def rotate_master_key(
    uow: UnitOfWork, *, keyring: Keyring, batch: int = 500, progress: Progress | None = None
) -> int:
    """Re-encrypt every secret not yet under the current master key. Resumable.

    Works in batches, each committed on its own with a ``master_key.rotated`` event naming
    its rows: interrupted, the batches already done are on record and a new run picks up the
    rows still under an old key. A secret under a master key that is not configured (or
    that does not decrypt) stops the run with ``InvalidInput`` saying what to set; the
    batch in progress is rolled back. Returns the number of rows changed.
    """
    _require_system(uow)
    changed = 0
    last: uuid.UUID | None = None
    while True:
        query = select(SignatureKey).where(_not_current(keyring))
        if last is not None:
            query = query.where(col(SignatureKey.id) > last)
        query = query.order_by(col(SignatureKey.id)).limit(batch).with_for_update()
        rows = uow.session.exec(query).all()
        if not rows:
            uow.rollback()
            break
        old_versions = set()
        for row in rows:
            aad = associated_data(row.id, row.project_id)
            old_versions.add(Keyring.version_of(row.key) or "?")
            try:
                plain = keyring.decrypt(row.key, associated_data=aad)
            except DecryptionError:
                uow.rollback()
                raise InvalidInput(_undecryptable(row.id, Keyring.version_of(row.key))) from None
            row.key = keyring.encrypt(plain, associated_data=aad)
            uow.session.add(row)
        audit.record(
            uow,
            action=audit.MASTER_KEY_ROTATED,
            actor_email="system",
            details={
                "version": keyring.current_version,
                "from_versions": sorted(old_versions),
                "rows": len(rows),
                "first_key_id": str(rows[0].id),
                "last_key_id": str(rows[-1].id),
            },
        )
        last = rows[-1].id
        changed += len(rows)
        uow.commit()
        if progress:
            progress(len(rows))
    return changed


def _undecryptable(key_id: uuid.UUID, version: str | None) -> str:
    if version is None:
        return f"the secret of key {key_id} is not a meshkeys ciphertext; nothing was changed"
    return (
        f"the secret of key {key_id} is encrypted under master key {version}, which is not "
        "configured (or is not that key): put the old master key in MESHKEYS_MASTER_KEYS "
        "(comma-separated) and the new one in MESHKEYS_MASTER_KEY, then run it again; "
        "batches already done stay done"
    )


def verify_all_chains(uow: UnitOfWork, *, keyring: Keyring) -> Verdict:
    """Check every chain: how many chains and events were checked, and the first break."""
    _require_system(uow)
    uow.read_only()
    verdict = verify_all(uow, keyring=keyring)
    uow.rollback()
    return verdict


@dataclass(frozen=True)
class Seeded:
    project_id: uuid.UUID
    keys: int
    owner: str


def seed(
    uow: UnitOfWork,
    *,
    project_name: str,
    owner_email: str,
    count: int,
    keyring: Keyring,
    progress: Progress | None = None,
) -> Seeded:
    """Demo data for benchmarks: the owner (created if missing, with a random password), their
    project of this name (created if missing), and ``count`` keys in it."""
    _require_system(uow)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInput("--keys must be a whole number of at least 1")
    owner = auth.find_or_create_user(uow, email=owner_email, password=pysecrets.token_urlsafe(24))
    uow.act_as(owner)
    project_id = projects.find_or_create_project(uow, name=project_name)
    seed_keys(
        uow,
        project_id=project_id,
        count=count,
        created_by=owner.user_id,
        keyring=keyring,
        progress=progress,
    )
    return Seeded(project_id=project_id, keys=count, owner=owner.email)


SEED_COLUMNS = (
    "id",
    "project_id",
    "name",
    "name_search",
    "key",
    "key_hint",
    "status",
    "revoke_reason",
    "created_at",
    "created_by",
    "revoked_at",
    "expires_at",
    "rotated_from",
)
SeedRow = tuple[Any, ...]


def _seed_rows(
    *,
    project_id: uuid.UUID,
    first: int,
    n: int,
    start: datetime,
    created_by: uuid.UUID | None,
    encrypt: Callable[[bytes, bytes], str],
    revoked_every: int,
) -> tuple[list[SeedRow], int]:
    """``n`` rows (``SEED_COLUMNS``) of real keys: random ids and secrets, each secret encrypted
    under its own nonce and bound to its row (``associated_data``); and how many are revoked."""
    randoms = os.urandom(48 * n)
    b64 = base64.b64encode
    rows: list[SeedRow] = []
    revoked = 0
    active, retired = KeyStatus.ACTIVE, RevokeReason.RETIRED
    # associated_data(key_id, project_id), its constant part built once
    aad_tail = f":{project_id}".encode()
    for j in range(n):
        i = first + j
        raw = randoms[48 * j : 48 * j + 48]
        key_id = uuid.UUID(bytes=raw[:16], version=4)
        secret = SECRET_PREFIX + b64(raw[16:]).decode("ascii")
        is_revoked = revoked_every > 0 and i % revoked_every == revoked_every - 1
        revoked += is_revoked
        created = start + timedelta(seconds=i)
        name = f"seed-{i:07d}"
        rows.append(
            (
                key_id,
                project_id,
                name,
                name,
                encrypt(
                    secret.encode("ascii"),
                    b"signature_keys:%s%s" % (str(key_id).encode(), aad_tail),
                ),
                secret[-4:],
                KeyStatus.REVOKED if is_revoked else active,
                retired if is_revoked else None,
                created,
                created_by,
                created if is_revoked else None,
                None,
                None,
            )
        )
    return rows, revoked


def _sqlite_values(rows: list[SeedRow]) -> list[SeedRow]:
    """The rows as SQLite stores them: each value through its column's own bind processor
    (UUIDs, timestamps and enums exactly as the ORM writes them); the values that repeat
    (project, creator, status...) processed once."""
    from sqlalchemy.dialects import sqlite

    table = SignatureKey.__table__  # type: ignore[attr-defined]
    dialect = sqlite.dialect()
    procs = [table.c[name].type._cached_bind_processor(dialect) for name in SEED_COLUMNS]
    memo: dict[tuple[int, Any], Any] = {}

    def repeat(index: int, value: Any) -> Any:
        found = memo.get((index, value), memo)
        if found is memo:
            proc = procs[index]
            found = memo[(index, value)] = value if proc is None or value is None else proc(value)
        return found

    # id and created_at differ on every row; the others repeat
    others = [i for i in range(len(SEED_COLUMNS)) if i not in (0, 8) and procs[i] is not None]
    id_proc, at_proc = procs[0], procs[8]
    converted: list[SeedRow] = []
    for r in rows:
        values = list(r)
        values[0] = id_proc(r[0]) if id_proc else r[0]
        values[8] = at_proc(r[8]) if at_proc else r[8]
        for i in others:
            values[i] = repeat(i, r[i])
        converted.append(tuple(values))
    return converted


def _copy_text(value: Any) -> str:
    # Every seeded value is ASCII without tab, newline or backslash: no escaping is needed.
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy_lines(rows: list[SeedRow]) -> str:
    """The rows in COPY's text format."""
    text = _copy_text
    return "".join(["\t".join(map(text, r)) + "\n" for r in rows])


# SQLite's page cache while seeding, KiB. Random UUID primary keys and the name index put each
# row in a random page of their b-trees: with the default cache (2 MiB) most inserts read and
# write back pages that fell out of it. Measured on 1,000,000 keys: see docs/PERFORMANCE.md.
SEED_CACHE_KIB = 256 * 1024
SQLITE_DEFAULT_CACHE_KIB = 2000


def _sqlite_driver(uow: UnitOfWork) -> Any:
    """The sqlite3 connection under this unit of work's transaction."""
    return uow.session.connection().connection.driver_connection


def _insert_sqlite(uow: UnitOfWork, values: Any) -> None:
    """executemany on the driver's cursor (no ORM, no SQLAlchemy statement per row)."""
    marks = ", ".join("?" * len(SEED_COLUMNS))
    cursor = _sqlite_driver(uow).cursor()
    cursor.executemany(
        f"INSERT INTO signature_keys ({', '.join(SEED_COLUMNS)}) VALUES ({marks})",  # noqa: S608
        values,
    )


def _insert_postgres(uow: UnitOfWork, lines: Any) -> None:
    """COPY into a temporary table, then one INSERT ... SELECT into signature_keys: COPY FROM
    is refused on a table under row-level security for a role that does not own it (the
    runtime role owns nothing), and the INSERT passes the same policies as any other."""
    conn = uow.session.connection()
    pg = conn.connection.driver_connection
    columns = ", ".join(SEED_COLUMNS)
    with pg.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS meshkeys_seed "
            "(LIKE signature_keys INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with cursor.copy(f"COPY meshkeys_seed ({columns}) FROM STDIN") as copy:
            copy.write(lines)
        cursor.execute(
            f"INSERT INTO signature_keys ({columns}) SELECT {columns} FROM meshkeys_seed"  # noqa: S608
        )
        cursor.execute("TRUNCATE meshkeys_seed")


_ENCRYPTORS: dict[int, Callable[[bytes, bytes], str]] = {}
_POOL_KEYRING: list[Keyring] = []


def _prepare_batch(
    keyring: Keyring, dialect: str, job: tuple[uuid.UUID, int, int, datetime, uuid.UUID | None, int]
) -> tuple[Any, int]:
    """One batch, ready for its database (COPY text or SQLite values), and its revoked count."""
    project_id, first, n, start, created_by, revoked_every = job
    encrypt = _ENCRYPTORS.get(id(keyring))
    if encrypt is None:
        encrypt = _ENCRYPTORS[id(keyring)] = keyring.bulk_encryptor()
    rows, revoked = _seed_rows(
        project_id=project_id,
        first=first,
        n=n,
        start=start,
        created_by=created_by,
        encrypt=encrypt,
        revoked_every=revoked_every,
    )
    return (_copy_lines(rows) if dialect == "postgresql" else _sqlite_values(rows)), revoked


def _pool_init(keyring: Keyring) -> None:
    _POOL_KEYRING[:] = [keyring]  # inherited through fork, never pickled


def _pool_batch(dialect: str, job: Any) -> tuple[Any, int]:
    return _prepare_batch(_POOL_KEYRING[0], dialect, job)


def seed_keys(
    uow: UnitOfWork,
    *,
    project_id: uuid.UUID,
    count: int,
    created_by: uuid.UUID | None,
    keyring: Keyring,
    revoked_every: int = 10,
    batch: int = 20_000,
    progress: Progress | None = None,
    workers: int | None = None,
) -> int:
    """Bulk demo data for benchmarks: ``count`` keys, one in ``revoked_every`` revoked; returns
    how many are revoked.

    Each key is a real secret, encrypted (AES-256-GCM, a fresh nonce per row, bound to its row)
    under the current master key. Fast paths: one AES-GCM object for the run, the random bytes
    of a batch drawn at once, COPY on PostgreSQL, the driver's executemany on SQLite. Everything
    is one transaction, the project's counters and one ``keys.seeded`` event included (a
    million events would misrepresent test data; none would hide a million keys). ``workers``
    processes (default: up to 2 when there are more than two batches, 0 to stay in this one)
    prepare the batches while this process writes them.
    """
    _require_system(uow)
    if count < 1:
        return 0
    start = uow.now - timedelta(seconds=count)
    dialect = uow.dialect
    insert = _insert_postgres if dialect == "postgresql" else _insert_sqlite
    sqlite = _sqlite_driver(uow) if dialect == "sqlite" else None
    if sqlite is not None:
        sqlite.execute(f"PRAGMA cache_size = {-SEED_CACHE_KIB}")
    jobs = [
        (project_id, first, min(batch, count - first), start, created_by, revoked_every)
        for first in range(0, count, batch)
    ]
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if len(jobs) > 2 else 0
    revoked = 0

    def write(prepared: tuple[Any, int], n: int) -> None:
        nonlocal revoked
        insert(uow, prepared[0])
        revoked += prepared[1]
        if progress:
            progress(n)

    if workers < 1:
        for job in jobs:
            write(_prepare_batch(keyring, dialect, job), job[2])
    else:
        # Worker processes draw, encrypt and format the batches while this one writes; at
        # most two batches per worker wait, so memory stays bounded.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_pool_init, initargs=(keyring,)
        ) as pool:
            pending: deque[tuple[Future[tuple[Any, int]], int]] = deque()
            for job in jobs:
                pending.append((pool.submit(_pool_batch, dialect, job), job[2]))
                if len(pending) >= 2 * workers:
                    future, n = pending.popleft()
                    write(future.result(), n)
            while pending:
                future, n = pending.popleft()
                write(future.result(), n)
    uow.session.execute(
        sa.update(Project)
        .where(col(Project.id) == project_id)
        .values(key_count=Project.key_count + count, revoked_count=Project.revoked_count + revoked)
    )
    audit.record(
        uow,
        action=audit.KEYS_SEEDED,
        project_id=project_id,
        details={"count": count, "revoked": revoked, "revoked_every": revoked_every},
    )
    uow.commit()
    if sqlite is not None:  # back to the default, on the same connection, once it is committed
        sqlite.execute(f"PRAGMA cache_size = {-SQLITE_DEFAULT_CACHE_KIB}")
    if uow.is_postgres:
        # A bulk load leaves the planner's statistics describing a small table: it would scan
        # the whole table until autovacuum's next analyze. Refresh them now (ANALYZE needs the
        # owner: a SECURITY DEFINER function of migration 0002 does it for the runtime role).
        uow.session.execute(sa.text("SELECT meshkeys_analyze_signature_keys()"))
        uow.commit()
    return revoked
