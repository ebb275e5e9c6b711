"""Unit ring: SQLite files in a temporary directory, migrated with the real Alembic history.

The schema is migrated once per test session into a template file, which each test copies.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session

from meshkeys import db, migrations
from tests.helpers import configure, make_world, reset_caches


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_path(tmp_path, template_db, monkeypatch) -> Path:
    path = tmp_path / "meshkeys.db"
    shutil.copy(template_db, path)
    configure(
        monkeypatch,
        database_url=f"sqlite:///{path}",
        MESHKEYS_MASTER_KEY_FILE=str(tmp_path / "master.key"),
    )
    yield path
    db.get_engine().dispose()
    reset_caches()


@pytest.fixture
def engine(db_path):
    return db.get_engine()


@pytest.fixture
def session(engine):
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def world(session):
    return make_world(session)
