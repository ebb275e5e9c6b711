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
    "invites": "SELECT, INSERT, UPDATE",  # used or replaced invites are kept, never deleted
    "audit_heads": "SELECT, INSERT, UPDATE",
    "audit_events": "SELECT, INSERT",  # append-only: no UPDATE, DELETE or TRUNCATE
    "cache_generation": "SELECT, UPDATE",  # one row, incremented: services.cache
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


def app_role_problem(app_url: str, runtime_role: str) -> str | None:
    """What is wrong with the role ``app_url`` logs in as, for the app (PostgreSQL), or None.

    The app should log in as the runtime role, or as a member of it, and own no table: the
    owner can switch off row-level security and the append-only triggers.
    """
    if not app_url.startswith("postgres"):
        return None
    engine = make_engine(app_url)
    try:
        with engine.connect() as conn:
            user, owns, member = conn.execute(
                sa.text(
                    "SELECT current_user, "
                    "EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' "
                    "AND pg_has_role(current_user, tableowner, 'member')), "
                    "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :role "
                    "AND pg_has_role(current_user, oid, 'member'))"
                ),
                {"role": runtime_role},
            ).one()
    except sa.exc.SQLAlchemyError as exc:
        return f"cannot check the role of MESHKEYS_DATABASE_URL: {exc.__class__.__name__}"
    finally:
        engine.dispose()
    if owns:
        return (
            f"MESHKEYS_DATABASE_URL logs in as {user}, which owns the tables: the app could "
            "disable row-level security and the audit triggers. Let the app log in as a member "
            f"of {runtime_role} and migrate with MESHKEYS_MIGRATION_DATABASE_URL (README)."
        )
    if not member:
        return f"MESHKEYS_DATABASE_URL logs in as {user}, which is not a member of {runtime_role}."
    return None
