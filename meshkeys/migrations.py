"""Alembic through its API: used by `meshkeys db upgrade`, the tests and the benches.

On PostgreSQL, migrations run as the owner role (``MESHKEYS_MIGRATION_DATABASE_URL``) and
``upgrade`` then grants the runtime role (``MESHKEYS_RUNTIME_ROLE``) what the app needs, and
nothing more: ``RUNTIME_GRANTS``. The runtime role owns nothing, so it cannot alter a table,
disable a trigger or row-level security, drop a policy or truncate (docs/SECURITY.md).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config

from alembic import command
from meshkeys.config import ConfigError, get_settings
from meshkeys.db import make_engine

ROOT = Path(__file__).resolve().parent.parent

_WRITES = "SELECT, INSERT, UPDATE, DELETE"
# Every table the runtime role may use, and how. A table missing here fails `db upgrade`.
RUNTIME_GRANTS: dict[str, str] = {
    "users": _WRITES,
    "projects": _WRITES,
    "memberships": _WRITES,
    "signature_keys": _WRITES,
    "api_tokens": _WRITES,
    "user_sessions": _WRITES,
    "login_failures": _WRITES,
    "audit_heads": "SELECT, INSERT, UPDATE",
    "audit_events": "SELECT, INSERT",  # append-only: no UPDATE, DELETE or TRUNCATE
}
_NOT_GRANTED = {"alembic_version"}


class MigrationError(ConfigError):
    """The roles are not set up as the runtime grants need; the message says what to do."""


def alembic_config(url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    url = url or get_settings().migration_database_url
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(
    url: str | None = None, revision: str = "head", *, runtime_role: str | None = None
) -> None:
    """Migrate (as the owner) and, on PostgreSQL, grant ``runtime_role`` its privileges."""
    url = url or get_settings().migration_database_url
    command.upgrade(alembic_config(url), revision)
    grant_runtime_role(url, runtime_role or get_settings().runtime_role)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def grant_runtime_role(url: str, role: str) -> None:
    """Give ``role`` exactly ``RUNTIME_GRANTS`` on the tables of ``url`` (PostgreSQL only).

    Idempotent: everything the role held on the schema's tables is revoked first.
    """
    if not url.startswith("postgres"):
        return
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _grant(conn, role)
    finally:
        engine.dispose()


def _grant(conn: sa.Connection, role: str) -> None:
    found = conn.execute(
        sa.text(
            "SELECT rolsuper OR rolbypassrls, rolname = current_user FROM pg_roles "
            "WHERE rolname = :role"
        ),
        {"role": role},
    ).first()
    if found is None:
        raise MigrationError(
            f"the runtime role {role!r} does not exist: create it as the README shows "
            f"(CREATE ROLE {role} NOLOGIN NOSUPERUSER NOBYPASSRLS), or name yours in "
            "MESHKEYS_RUNTIME_ROLE"
        )
    if found[0]:
        raise MigrationError(
            f"the runtime role {role!r} is a superuser or has BYPASSRLS, which would switch "
            "off row-level security for the app: use a plain role"
        )
    if found[1]:
        raise MigrationError(
            f"the runtime role {role!r} is the role running the migrations (the owner): run "
            "`meshkeys db upgrade` with MESHKEYS_MIGRATION_DATABASE_URL naming the owner and "
            "let the app connect as another role"
        )
    tables = set(
        conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
    )
    unknown = sorted(tables - set(RUNTIME_GRANTS) - _NOT_GRANTED)
    if unknown:
        raise MigrationError(
            f"no runtime grants are defined for {', '.join(unknown)}: "
            "add them to meshkeys.migrations.RUNTIME_GRANTS"
        )
    quoted = conn.dialect.identifier_preparer.quote(role)
    conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}"))
    conn.execute(sa.text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}"))
    conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    for table in sorted(tables & set(RUNTIME_GRANTS)):
        conn.execute(sa.text(f"GRANT {RUNTIME_GRANTS[table]} ON {table} TO {quoted}"))
    conn.execute(sa.text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
