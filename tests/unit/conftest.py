"""Unit ring: SQLite files in a temporary directory, migrated with the real Alembic history.

The fixtures every ring shares (``db_path``, ``session``, ``uow``, ``world``) are in
``tests/backends.py``; the schema is migrated once per test session into a template file,
which each test copies.
"""

from __future__ import annotations

import pytest

from meshkeys import db


@pytest.fixture
def engine(db_path):
    return db.get_engine()
