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


def test_tokens_older_than_0004_keep_all_projects_and_every_permission(tmp_path):
    """Revision 0004 migrates existing tokens to "all of the user's projects, every permission,
    no expiry" (CHANGELOG.md); the token still works and carries that scope."""
    import uuid
    from datetime import UTC, datetime

    from alembic.script import ScriptDirectory

    from meshkeys.crypto.secrets import hash_token
    from meshkeys.models import ALL_PERMISSIONS, UTCDateTime
    from meshkeys.services import auth
    from meshkeys.services.uow import UnitOfWork

    url = f"sqlite:///{tmp_path / 'old.db'}"
    script = ScriptDirectory.from_config(migrations.alembic_config(url))
    migrations.upgrade(url, script.get_revision("0004_token_scopes").down_revision)
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("email", sa.String()),
        sa.column("password_hash", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    tokens = sa.table(
        "api_tokens",
        *(sa.column(c, sa.Uuid()) for c in ("id", "user_id")),
        *(sa.column(c, sa.String()) for c in ("name", "token_prefix", "token_hash")),
        sa.column("created_at", UTCDateTime()),
    )
    user_id, token = uuid.uuid4(), "mk_" + uuid.uuid4().hex
    now = datetime.now(UTC)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            users.insert().values(
                id=user_id, email="old@example.com", password_hash="x", created_at=now
            )
        )
        conn.execute(
            tokens.insert().values(
                id=uuid.uuid4(), user_id=user_id, name="old", token_prefix=token[:7],
                token_hash=hash_token(token), created_at=now,
            )
        )  # fmt: skip
    migrations.upgrade(url)
    with UnitOfWork(bind=engine) as uow:
        actor = auth.actor_for_api_token(uow, token=token)
    with UnitOfWork(actor, bind=engine) as uow:
        (listed,) = auth.list_api_tokens(uow)
    engine.dispose()
    assert actor.scope is not None and actor.scope.project_id is None
    assert actor.scope.permissions == set(ALL_PERMISSIONS)
    assert (listed.project_id, listed.permissions, listed.expires_at) == (
        None,
        list(ALL_PERMISSIONS),
        None,
    )
