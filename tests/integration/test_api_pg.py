"""The REST API in-process against PostgreSQL, as a non-superuser: what only PostgreSQL shows.

The API scenarios themselves are in tests/scenarios/test_api.py (both backends); the ``api``
fixture is in tests/backends.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from meshkeys.api.app import create_api
from tests.api_world import ApiWorld
from tests.helpers import configure, reset_caches


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


def test_health_is_503_when_postgresql_does_not_answer(pg_api_database, monkeypatch):
    configure(monkeypatch, database_url="postgresql+psycopg://meshkeys_app@127.0.0.1:1/meshkeys")
    try:
        answer = TestClient(create_api()).get("/health")
    finally:
        reset_caches()
    assert answer.status_code == 503 and answer.json() == {"status": "unavailable"}
