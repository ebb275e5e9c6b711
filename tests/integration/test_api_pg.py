"""The REST API in-process against PostgreSQL, as a non-superuser: row-level security applies.

The API opens its own sessions (one per request, real commits), so these tests use a database
of their own for this module instead of the rolled-back ``session`` fixture; every test makes
its own users and projects (unique emails), so tests do not see each other's data.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from meshkeys import db, migrations
from meshkeys.api.app import create_api
from tests.api_cases import *  # noqa: F403 - the shared scenarios, collected here
from tests.api_cases import ApiWorld, build_api_world
from tests.helpers import configure, make_world, reset_caches
from tests.integration.conftest import create_database, drop_database
from tests.pgserver import PgServer


@pytest.fixture(scope="module")
def api_database(pg: PgServer) -> Iterator[str]:
    name = f"meshkeys_api_{secrets.token_hex(4)}"
    url = create_database(pg, name)
    migrations.upgrade(url)
    yield url
    drop_database(pg, name)


@pytest.fixture
def api(api_database, monkeypatch) -> Iterator[ApiWorld]:
    configure(monkeypatch, database_url=api_database, master_key=os.environ["MESHKEYS_MASTER_KEY"])
    engine = db.get_engine()
    with Session(engine, expire_on_commit=False) as session:
        world = make_world(session, prefix=f"{secrets.token_hex(3)}-")
    try:
        with TestClient(create_api()) as client:
            yield build_api_world(world, client, engine)
    finally:
        engine.dispose()
        reset_caches()


def test_the_api_role_is_subject_to_row_level_security(api: ApiWorld):
    with api.engine.connect() as conn:
        superuser, bypass = conn.execute(
            sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()
    assert (superuser, bypass) == (False, False)
    key = api.generate()
    # Without the RLS context the API's services set, the same role sees no keys at all.
    with api.engine.connect() as conn:
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM signature_keys WHERE id = :id"), {"id": key["id"]}
            ).scalar_one()
            == 0
        )


def test_health_is_503_when_postgresql_does_not_answer(api_database, monkeypatch):
    configure(monkeypatch, database_url="postgresql+psycopg://meshkeys_app@127.0.0.1:1/meshkeys")
    try:
        answer = TestClient(create_api()).get("/health")
    finally:
        reset_caches()
    assert answer.status_code == 503 and answer.json() == {"status": "unavailable"}
