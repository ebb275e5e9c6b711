"""Unit ring: SQLite files in a temporary directory, migrated with the real Alembic history.

The fixtures every ring shares (``db_path``, ``session``, ``uow``, ``world``) are in
``tests/backends.py``; the schema is migrated once per test session into a template file,
which each test copies.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from meshkeys import db
from meshkeys.cli import main


@pytest.fixture
def engine(db_path):
    return db.get_engine()


@pytest.fixture
def cli(db_path):
    """``cli(*args, input=..., code=0)``: the `meshkeys` command through click's runner, on the
    test's database; fails unless it exits with ``code``."""
    runner = CliRunner()

    def invoke(*args: str, input: str | bytes | None = None, code: int = 0):
        result = runner.invoke(main, list(args), input=input, catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke
