"""Migration checks shared by the SQLite (unit) and PostgreSQL (integration) rings."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import meshkeys.models  # noqa: F401
from meshkeys import migrations
from meshkeys.db import make_engine


def schema_diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def check_full_cycle(url: str, *, runtime_role: str | None = None) -> None:
    """Empty -> head (no drift from the models) -> base (nothing left) -> head again.
    ``url`` is the owner's (PostgreSQL), who grants ``runtime_role``."""
    assert table_names(url) == set()
    migrations.upgrade(url, runtime_role=runtime_role)
    assert table_names(url) == set(SQLModel.metadata.tables)
    diff = schema_diff(url)
    assert diff == [], f"models and migrations differ: {diff}"
    migrations.downgrade(url, "base")
    assert table_names(url) == set()
    migrations.upgrade(url, runtime_role=runtime_role)
    assert schema_diff(url) == []


def legacy_chain(url: str, *, events: int = 3) -> tuple[str, int]:
    """Migrate to revision 0001 and write a chain as its code did (unkeyed SHA-256 hashes).

    Returns the chain id and how many events it holds.
    """
    import hashlib
    import uuid

    from meshkeys.services.audit import GENESIS, canonical
    from tests.helpers import audit_row

    migrations.upgrade(url, "0001")
    chain = uuid.uuid4()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT set_config('meshkeys.system', 'on', true)"))
            prev = GENESIS
            for seq in range(1, events + 1):
                row = audit_row(chain, seq, prev, actor_email="legacy@example.com")
                prev = hashlib.sha256(canonical(row)).hexdigest()
                conn.execute(
                    sa.text(
                        "INSERT INTO audit_events (id, chain_id, seq, actor_email, action, "
                        "details, client_ip, created_at, prev_hash, hash) VALUES (:id, :chain, "
                        ":seq, :email, :action, :details, :ip, :at, :prev, :hash)"
                    ).bindparams(
                        sa.bindparam("id", type_=sa.Uuid()),
                        sa.bindparam("chain", type_=sa.Uuid()),
                        sa.bindparam("at", type_=meshkeys.models.UTCDateTime(timezone=True)),
                        sa.bindparam("details", type_=sa.JSON()),
                    ),
                    {
                        "id": row.id,
                        "chain": chain,
                        "seq": seq,
                        "email": row.actor_email,
                        "action": row.action,
                        "details": row.details,
                        "ip": row.client_ip,
                        "at": row.created_at,
                        "prev": row.prev_hash,
                        "hash": prev,
                    },
                )
            conn.execute(
                sa.text(
                    "INSERT INTO audit_heads (chain_id, seq, head_hash) VALUES (:c, :s, :h)"
                ).bindparams(sa.bindparam("c", type_=sa.Uuid())),
                {"c": chain, "s": events, "h": prev},
            )
    finally:
        engine.dispose()
    return str(chain), events
