"""Self-test of tests/pgserver.py: the throwaway database is real; the owner and the runtime role
are plain roles; the app logs in as a member of the runtime role that owns nothing."""

import psycopg

from tests.pgserver import APP_ROLE, OWNER_ROLE, RUNTIME_ROLE, pg_server

_ME = (
    "select current_user, r.rolsuper, r.rolbypassrls, pg_get_userbyid(d.datdba),"
    " pg_has_role(current_user, %s, 'member')"
    " from pg_roles r, pg_database d"
    " where r.rolname = current_user and d.datname = current_database()"
)


def test_owner_owns_the_database_and_the_app_role_is_a_plain_member_of_the_runtime_role():
    with pg_server() as pg:
        assert pg.app_url.startswith("postgresql+psycopg://")
        assert pg.owner_url.startswith("postgresql+psycopg://")
        assert pg.admin_url.startswith("postgresql+psycopg://")

        with psycopg.connect(pg.owner_dsn) as conn:
            owner, is_super, bypass, db_owner, _ = conn.execute(_ME, (pg.runtime_role,)).fetchone()
            # The owner of the database can create tables in it (PG15: public schema rights).
            conn.execute("create table pgserver_probe (id int primary key)")
        assert (owner, is_super, bypass, db_owner) == (pg.owner_role, False, False, pg.owner_role)

        with psycopg.connect(pg.app_dsn) as conn:
            user, is_super, bypass, db_owner, member = conn.execute(
                _ME, (pg.runtime_role,)
            ).fetchone()
            failed = None
            try:
                conn.execute("create table app_probe (id int primary key)")
            except psycopg.errors.InsufficientPrivilege as exc:
                failed = exc
        assert (user, is_super, bypass, member) == (pg.app_role, False, False, True)
        assert db_owner != pg.app_role and failed is not None
        if not pg.external:
            assert (pg.app_role, pg.owner_role, pg.runtime_role) == (
                APP_ROLE,
                OWNER_ROLE,
                RUNTIME_ROLE,
            )

        with psycopg.connect(pg.admin_dsn) as conn:
            (admin_is_super,) = conn.execute(
                "select rolsuper from pg_roles where rolname = current_user"
            ).fetchone()
            (db,) = conn.execute("select current_database()").fetchone()
        assert db == pg.database
        if not pg.external:
            assert admin_is_super is True
