"""One Alembic history: an empty SQLite database to head and back, with no drift from the models."""

from __future__ import annotations

import sqlalchemy as sa

from meshkeys import migrations
from meshkeys.db import make_engine
from tests.schema_checks import check_full_cycle, schema_diff


def test_sqlite_upgrade_downgrade_and_no_autogenerate_diff(tmp_path):
    check_full_cycle(f"sqlite:///{tmp_path / 'fresh.db'}")


def test_drift_is_detected(tmp_path):
    """The drift check can fail: drop an index by hand and it notices."""
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_signature_keys_project_status"))
    engine.dispose()
    assert any("ix_signature_keys_project_status" in str(d) for d in schema_diff(url))


def test_list_query_uses_the_keyset_index(tmp_path):
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    migrations.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        plan = conn.execute(
            sa.text(
                "EXPLAIN QUERY PLAN SELECT * FROM signature_keys WHERE project_id = 'x' "
                "ORDER BY created_at DESC, id DESC LIMIT 51"
            )
        ).all()
    engine.dispose()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "ix_signature_keys_project_created" in detail and "TEMP B-TREE" not in detail
