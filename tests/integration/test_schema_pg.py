"""Migrations, triggers, row-level security and query plans on PostgreSQL 15."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlmodel import select

from meshkeys.crypto.masterkey import get_keyring
from meshkeys.models import AuditEvent, SignatureKey
from meshkeys.services import history, key_commands, key_queries, operations
from tests.backends import as_owner
from tests.schema_checks import check_full_cycle


def test_empty_postgres_to_head_and_back_with_no_drift(empty_db, pg):
    check_full_cycle(empty_db.owner_url, runtime_role=pg.runtime_role)


def test_app_role_is_subject_to_row_level_security(uow, session):
    user, superuser, bypass = session.execute(
        sa.text(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
    ).one()
    assert not superuser and not bypass
    forced = session.execute(
        sa.text(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname IN ('signature_keys', 'audit_events') ORDER BY relname"
        )
    ).all()
    assert forced == [("audit_events", True, True), ("signature_keys", True, True)]


def _bind(session, user_id, *, system=False):
    """Set the RLS context by hand, as the unit of work does: these tests probe the policies."""
    session.execute(
        sa.text(
            "SELECT set_config('meshkeys.user_id', :uid, true), "
            "set_config('meshkeys.system', :system, true)"
        ),
        {"uid": str(user_id) if user_id else "", "system": "on" if system else "off"},
    )


def _visible(session, model, user_id, *, system=False):
    _bind(session, user_id, system=system)
    return session.exec(select(model)).all()


def test_rls_confines_each_transaction_to_the_actors_projects(uow, session, world):
    mine = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="mine")
    theirs = key_commands.generate_key(
        uow(world.outsider), project_id=world.other_project_id, name="theirs"
    )
    assert {k.id for k in _visible(session, SignatureKey, world.viewer.user_id)} == {mine.id}
    assert {k.id for k in _visible(session, SignatureKey, world.outsider.user_id)} == {theirs.id}
    assert _visible(session, SignatureKey, None) == []  # nobody bound: nothing visible
    assert len(_visible(session, SignatureKey, None, system=True)) == 2

    chains = {e.chain_id for e in _visible(session, AuditEvent, world.viewer.user_id)}
    assert chains == {world.project_id}


def test_rls_refuses_writes_into_another_project(uow, session, world):
    key_commands.generate_key(uow(world.outsider), project_id=world.other_project_id, name="theirs")
    _bind(session, world.admin.user_id)
    # An UPDATE of rows the actor cannot see changes nothing.
    changed = session.execute(sa.update(SignatureKey).values(status="revoked")).rowcount
    assert changed == 0
    session.execute(sa.text("SAVEPOINT probe"))
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        session.execute(
            sa.insert(SignatureKey).values(
                id=uuid.uuid4(),
                project_id=world.other_project_id,
                name="x",
                name_search="x",
                key="mk1.x.y",
                key_hint="abcd",
                status="active",
                created_at=sa.func.now(),
            )
        )
    session.execute(sa.text("ROLLBACK TO SAVEPOINT probe"))


def test_audit_events_refuse_update_delete_and_truncate_even_to_the_owner(uow, session, world):
    """The triggers hold for the owner role too (explicitly: as_owner), which has the privileges
    and can take row-level security out of the way (no policy lets anyone UPDATE or DELETE an
    event); the runtime role can do none of it (tests/security/test_runtime_role.py)."""
    key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    for statement in (
        "UPDATE audit_events SET actor_email = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        _bind(session, None, system=True)
        session.execute(sa.text("SAVEPOINT probe"))
        with as_owner(session):
            session.execute(sa.text("ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY"))
            with pytest.raises(sa.exc.DatabaseError, match="append-only"):
                session.execute(sa.text(statement))
            session.execute(sa.text("ROLLBACK TO SAVEPOINT probe"))


def _plan(session, sql_text: str, **params) -> str:
    rows = session.execute(sa.text("EXPLAIN " + sql_text), params).all()
    return "\n".join(r[0] for r in rows)


def test_list_queries_use_indexes_not_sorts(uow, session, world):
    operations.seed_keys(
        uow(system=True),
        project_id=world.project_id,
        count=20_000,
        created_by=world.owner.user_id,
        keyring=get_keyring(),
    )
    session.execute(sa.text("ANALYZE signature_keys"))
    _bind(session, world.owner.user_id)
    pid = str(world.project_id)
    newest = _plan(
        session,
        "SELECT * FROM signature_keys WHERE project_id = :p "
        "ORDER BY created_at DESC, id DESC LIMIT 51",
        p=pid,
    )
    assert "ix_signature_keys_project_created" in newest and "Sort" not in newest
    by_status = _plan(
        session,
        "SELECT * FROM signature_keys WHERE project_id = :p AND status = 'revoked' "
        "ORDER BY created_at DESC, id DESC LIMIT 51",
        p=pid,
    )
    assert "ix_signature_keys_project_status" in by_status and "Sort" not in by_status
    # The statement the service builds for a name search, planned under RLS.
    stmt = select(SignatureKey).where(
        SignatureKey.project_id == world.project_id,
        key_queries._search_clause("seed-00012", "postgresql"),
    )
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    search = _plan(session, str(compiled))
    assert "ix_signature_keys_project_name" in search and "Seq Scan on signature_keys" not in search
    page = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, q="Seed-00012")
    assert page.total == 100 and all(k.name.startswith("seed-00012") for k in page.items)


def test_services_see_nothing_of_other_projects_even_by_id(uow, session, world):
    theirs = key_commands.generate_key(
        uow(world.outsider), project_id=world.other_project_id, name="theirs"
    )
    _bind(session, world.admin.user_id)
    assert session.get(SignatureKey, theirs.id, populate_existing=True) is None


def test_psycopg_driver_is_in_use(pg_engine):
    assert pg_engine.dialect.driver == "psycopg" and psycopg.__version__


def test_the_service_list_queries_are_index_scans_under_rls(uow, session, world):
    """EXPLAIN the exact statements list_keys sends (second page, filters, search) on 20k keys,
    right after a bulk seed (whose statistics must already describe the large table)."""
    operations.seed_keys(
        uow(system=True),
        project_id=world.project_id,
        count=20_000,
        created_by=world.owner.user_id,
        keyring=get_keyring(),
    )
    # No ANALYZE here: seed_keys refreshes the statistics itself after a bulk load.
    connection = session.connection()
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "signature_keys" in statement:
            captured.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        first = key_queries.list_keys(uow(world.viewer), project_id=world.project_id)
        key_queries.list_keys(
            uow(world.viewer), project_id=world.project_id, cursor=first.next_cursor
        )
        key_queries.list_keys(
            uow(world.viewer),
            project_id=world.project_id,
            status="revoked",
            cursor=first.next_cursor,
        )
        found = key_queries.list_keys(uow(world.viewer), project_id=world.project_id, q="seed-0000")
        # The oldest keys match: a newest-first walk would read all 20,000 rows to find them.
        key_queries.list_keys(
            uow(world.viewer), project_id=world.project_id, q="seed-0000", cursor=found.next_cursor
        )
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    pages = [(s, p) for s, p in captured if "LIMIT" in s and "count(" not in s]
    assert len(pages) == 5
    for n, (statement, params) in enumerate(pages):  # each walks an index in order
        plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + statement, params))
        assert "Seq Scan on signature_keys" not in plan, plan
        assert "Sort" not in plan, plan
        if n >= 3:  # searches walk the name index, where the matches are next to each other
            assert "ix_signature_keys_project_name" in plan, plan


def test_the_audit_key_prefix_filter_is_a_range_on_the_key_index(uow, session, world):
    """Issue 9, defect 7: the 8-character short id becomes ``key_id BETWEEN low AND high``, an
    index range on (chain_id, key_id, seq): bounded however many events the log holds."""
    key = key_commands.generate_key(uow(world.admin), project_id=world.project_id, name="k")
    with as_owner(session):  # 20,000 events about 2,000 other keys (the chain is not checked)
        _bind(session, None, system=True)
        session.execute(
            sa.text(
                "INSERT INTO audit_events (id, chain_id, seq, project_id, actor_email, action, "
                "key_id, details, created_at, prev_hash, hash, key_version) "
                "SELECT gen_random_uuid(), :p, 1000 + n, :p, 'seed@example.com', 'key.revealed', "
                "('00000000-0000-0000-0000-' || lpad(to_hex(n % 2000), 12, '0'))::uuid, "
                "'{}', now(), '', '', '' FROM generate_series(1, 20000) AS n"
            ),
            {"p": str(world.project_id)},
        )
        session.execute(sa.text("ANALYZE audit_events"))
    connection = session.connection()
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM audit_events" in statement and "LIMIT" in statement:
            captured.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        history.list_events(
            uow(world.viewer),
            project_id=world.project_id,
            flt=history.AuditFilter(key_prefix=str(key.id)[:8]),
        )
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    [(statement, params)] = captured
    plan = "\n".join(r[0] for r in connection.exec_driver_sql("EXPLAIN " + statement, params))
    assert "ix_audit_events_chain_key" in plan, plan
    assert "key_id >=" in plan and "key_id <=" in plan, plan
