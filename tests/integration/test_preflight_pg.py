"""`meshkeys preflight` on a real PostgreSQL: the runtime URL must be neither a superuser nor the
tables' owner, the schema must be migrated, and the runtime role with a live Redis passes."""

from __future__ import annotations

import secrets

import pytest

from meshkeys.services import preflight
from tests.backends import create_database, drop_database, migrate
from tests.helpers import random_master_key
from tests.pgserver import PgServer


@pytest.fixture(scope="module")
def migrated(pg: PgServer):
    name = f"meshkeys_preflight_{secrets.token_hex(4)}"
    database = create_database(pg, name)
    migrate(pg, database)
    yield database
    drop_database(pg, name)


def _check(url: str, redis_url: str, pg: PgServer) -> preflight.Report:
    return preflight.check(
        {
            "MESHKEYS_ENV": "production",
            "MESHKEYS_MASTER_KEY": random_master_key(),
            "MESHKEYS_DATABASE_URL": url,
            "MESHKEYS_RUNTIME_ROLE": pg.runtime_role,
            "REFLEX_REDIS_URL": redis_url,
        }
    )


def _database_problem(report: preflight.Report) -> str:
    (problem,) = report.problems
    assert problem.setting == "MESHKEYS_DATABASE_URL", problem
    return problem.message


def test_the_runtime_role_with_a_live_redis_passes(pg, migrated, redis_srv):
    report = _check(migrated.app_url, redis_srv.url, pg)
    assert report.ok, report.problems
    assert len(report.checked) == 2


def test_a_superuser_runtime_url_is_refused(pg, migrated, redis_srv):
    from sqlalchemy.engine import make_url

    if pg.external:
        pytest.fail(
            "this test needs the local throwaway cluster (unset MESHKEYS_TEST_DATABASE_URL)"
        )
    url = make_url(pg.admin_url).set(database=make_url(migrated.app_url).database)
    message = _database_problem(
        _check(url.render_as_string(hide_password=False), redis_srv.url, pg)
    )
    assert "superuser" in message


def test_the_tables_owner_as_runtime_url_is_refused(pg, migrated, redis_srv):
    message = _database_problem(_check(migrated.owner_url, redis_srv.url, pg))
    assert "owns the tables" in message and "MESHKEYS_MIGRATION_DATABASE_URL" in message


def test_an_unmigrated_database_is_refused_naming_the_migration_url(pg, empty_db, redis_srv):
    report = _check(empty_db.app_url, redis_srv.url, pg)
    (problem,) = report.problems
    assert problem.setting == "MESHKEYS_MIGRATION_DATABASE_URL"
    assert "meshkeys db upgrade" in problem.message


def test_make_run_prod_migrates_then_refuses_before_reflex_starts(pg, empty_db):
    """`make run-prod` with Redis down: the owner migrates, the preflight refuses naming
    REFLEX_REDIS_URL, and `reflex run` is never reached."""
    import os
    import socket
    import subprocess
    from pathlib import Path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESHKEYS_", "REFLEX_"))}
    env.update(
        MESHKEYS_MASTER_KEY=random_master_key(),
        MESHKEYS_MIGRATION_DATABASE_URL=empty_db.owner_url,
        MESHKEYS_DATABASE_URL=empty_db.app_url,
        MESHKEYS_RUNTIME_ROLE=pg.runtime_role,
        REFLEX_REDIS_URL=f"redis://127.0.0.1:{closed}/0",
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        ["make", "--no-print-directory", "run-prod"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "is at head" in out  # the owner's migration ran first
    assert "REFLEX_REDIS_URL" in out and "will not start" in out
    assert "reflex run" not in out.split("meshkeys preflight", 1)[1]
