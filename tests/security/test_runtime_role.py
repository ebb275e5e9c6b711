"""Someone holding the app's runtime role runs raw SQL: the schema stays as the owner made it.

Every attack connects with ``pg.app_url`` itself (the login the app uses, a member of the
runtime role), not through the fixtures' driver role. The runtime role owns nothing, so
PostgreSQL refuses each statement before it runs; as the owner (the app's role before two
roles existed) every one of them would succeed.
"""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from meshkeys import migrations
from meshkeys.migrations import RUNTIME_GRANTS, MigrationError

TENANT_TABLES = (
    "projects",
    "memberships",
    "signature_keys",
    "api_tokens",
    "user_sessions",
    "audit_heads",
    "audit_events",
    "invites",
)

ATTACKS = [
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "ALTER TABLE audit_events ADD COLUMN note text",
    "ALTER TABLE audit_events DROP CONSTRAINT uq_audit_events_chain_seq",
    "ALTER TABLE memberships OWNER TO CURRENT_USER",
    "CREATE POLICY everything ON memberships USING (true) WITH CHECK (true)",
    "CREATE OR REPLACE FUNCTION meshkeys_member_projects() RETURNS SETOF uuid "
    "LANGUAGE sql AS $$ SELECT id FROM projects $$",
    "DROP FUNCTION meshkeys_audit_append_only() CASCADE",
    "CREATE TABLE shadow (id int)",
    "UPDATE audit_events SET actor_email = 'someone@else'",
    "DELETE FROM audit_events",
    "DELETE FROM audit_heads",
    "SELECT * FROM alembic_version",
    "UPDATE alembic_version SET version_num = '0001'",
]
ATTACKS += [f"ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY" for t in TENANT_TABLES]
ATTACKS += [f"ALTER TABLE {t} DISABLE ROW LEVEL SECURITY" for t in TENANT_TABLES]
ATTACKS += [f"TRUNCATE {t}" for t in (*TENANT_TABLES, "users", "login_failures")]


@pytest.fixture
def as_runtime_role(pg, pg_engine):
    """A raw connection as the app's own login, on the migrated database."""
    with psycopg.connect(pg.app_dsn) as conn:
        yield conn


def _policies(pg):
    with psycopg.connect(pg.owner_dsn) as conn:
        return conn.execute(
            "SELECT tablename, policyname FROM pg_policies ORDER BY 1, 2"
        ).fetchall()


@pytest.mark.parametrize("statement", ATTACKS)
def test_the_runtime_role_cannot_change_the_schema_or_rewrite_the_log(as_runtime_role, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_runtime_role.execute(statement)


@pytest.mark.parametrize(
    "table, policy",
    [
        ("memberships", "memberships_owners_insert"),
        ("api_tokens", "api_tokens_own"),
        ("audit_events", "audit_events_append"),
        ("signature_keys", "signature_keys_admins_update"),
    ],
)
def test_the_runtime_role_cannot_drop_a_policy(pg, as_runtime_role, table, policy):
    before = _policies(pg)
    assert (table, policy) in before
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner"):
        as_runtime_role.execute(f"DROP POLICY {policy} ON {table}")
    assert _policies(pg) == before


def test_the_runtime_role_cannot_grant_itself_more(as_runtime_role):
    as_runtime_role.execute("GRANT UPDATE, DELETE ON audit_events TO PUBLIC")  # only a warning
    (can,) = as_runtime_role.execute(
        "SELECT has_table_privilege('audit_events', 'UPDATE') "
        "OR has_table_privilege('audit_events', 'DELETE')"
    ).fetchone()
    assert can is False


def test_the_runtime_role_cannot_become_the_owner(pg, as_runtime_role):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_runtime_role.execute(f'SET ROLE "{pg.owner_role}"')


def test_every_tenant_table_has_forced_row_level_security(as_runtime_role):
    rows = as_runtime_role.execute(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
        "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY relname"
    ).fetchall()
    forced = {name for name, enabled, force in rows if enabled and force}
    assert forced == set(TENANT_TABLES)
    # Read before anyone is known (sign-in, rate limits, the cache generation), holding no
    # project's data: docs/SECURITY.md says why these have grants but no policies.
    assert {name for name, *_ in rows} - forced == {
        "users",
        "login_failures",
        "cache_generation",
        "alembic_version",
    }


def test_the_runtime_role_holds_exactly_the_runtime_grants(pg, as_runtime_role):
    rows = as_runtime_role.execute(
        "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
        "WHERE grantee = %s AND table_schema = 'public'",
        (pg.runtime_role,),
    ).fetchall()
    held: dict[str, set[str]] = {}
    for table, privilege in rows:
        held.setdefault(table, set()).add(privilege)
    expected = {t: {p.strip() for p in grants.split(",")} for t, grants in RUNTIME_GRANTS.items()}
    assert held == expected
    assert held["audit_events"] == {"SELECT", "INSERT"}
    (owns,) = as_runtime_role.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
        "WHERE pg_has_role(current_user, r.oid, 'member') AND c.relnamespace = "
        "'public'::regnamespace"
    ).fetchone()
    assert owns == 0


def test_db_upgrade_refuses_a_runtime_role_that_would_escape_the_rules(pg, empty_db):
    migrations.upgrade(empty_db.owner_url, runtime_role=pg.runtime_role)
    with pytest.raises(MigrationError, match="does not exist"):
        migrations.grant_runtime_role(empty_db.owner_url, "meshkeys_nobody")
    with pytest.raises(MigrationError, match="the owner"):
        migrations.grant_runtime_role(empty_db.owner_url, pg.owner_role)
    if not pg.external:
        with pytest.raises(MigrationError, match="superuser"):
            migrations.grant_runtime_role(empty_db.owner_url, "postgres")


def test_db_upgrade_refuses_a_table_without_runtime_grants(pg, empty_db):
    migrations.upgrade(empty_db.owner_url, runtime_role=pg.runtime_role)
    engine = sa.create_engine(empty_db.owner_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE forgotten (id int)"))
    engine.dispose()
    with pytest.raises(MigrationError, match="forgotten"):
        migrations.grant_runtime_role(empty_db.owner_url, pg.runtime_role)
