"""Self-test of tests/pgserver.py: the throwaway database is real, the app role no superuser."""

import psycopg

from tests.pgserver import APP_ROLE, pg_server


def test_app_role_is_a_plain_role_that_owns_the_database():
    with pg_server() as pg:
        assert pg.app_url.startswith("postgresql+psycopg://")
        assert pg.admin_url.startswith("postgresql+psycopg://")

        with psycopg.connect(pg.app_dsn) as conn:
            user, is_super = conn.execute(
                "select current_user, (select rolsuper from pg_roles where rolname = current_user)"
            ).fetchone()
            bypass_rls, owner = conn.execute(
                "select r.rolbypassrls, pg_get_userbyid(d.datdba)"
                " from pg_roles r, pg_database d"
                " where r.rolname = current_user and d.datname = current_database()"
            ).fetchone()
            # The owner of the database can create tables in it (PG15: public schema rights).
            conn.execute("create table pgserver_probe (id int primary key)")
            conn.execute("insert into pgserver_probe values (1)")

        assert user == pg.app_role
        if not pg.external:
            assert user == APP_ROLE
        assert is_super is False
        assert bypass_rls is False
        assert owner == pg.app_role

        with psycopg.connect(pg.admin_dsn) as conn:
            (admin_is_super,) = conn.execute(
                "select rolsuper from pg_roles where rolname = current_user"
            ).fetchone()
            (db,) = conn.execute("select current_database()").fetchone()
        assert db == pg.database
        if not pg.external:
            assert admin_is_super is True
