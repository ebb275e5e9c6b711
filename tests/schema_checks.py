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
