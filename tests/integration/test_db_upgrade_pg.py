"""`meshkeys db upgrade` as an operator runs it: the owner's URL migrates, the app's URL works."""

from __future__ import annotations

from click.testing import CliRunner

from meshkeys.cli import main
from tests.helpers import PASSWORD, reset_caches


def test_db_upgrade_migrates_as_the_owner_and_the_app_then_runs_as_the_runtime_role(
    pg, empty_db, monkeypatch
):
    monkeypatch.setenv("MESHKEYS_DATABASE_URL", empty_db.app_url)
    monkeypatch.setenv("MESHKEYS_MIGRATION_DATABASE_URL", empty_db.owner_url)
    monkeypatch.setenv("MESHKEYS_RUNTIME_ROLE", pg.runtime_role)
    reset_caches()
    runner = CliRunner()
    try:
        upgraded = runner.invoke(main, ["db", "upgrade"], catch_exceptions=False)
        assert upgraded.exit_code == 0, upgraded.output
        assert pg.owner_role in upgraded.output and "warning" not in upgraded.output
        created = runner.invoke(
            main,
            ["user", "create", "ops@example.com", "--password-stdin"],
            input=PASSWORD + "\n",
            catch_exceptions=False,
        )
        assert created.exit_code == 0, created.output
    finally:
        reset_caches()


def test_db_upgrade_says_how_to_create_a_missing_runtime_role(pg, empty_db, monkeypatch):
    monkeypatch.setenv("MESHKEYS_DATABASE_URL", empty_db.owner_url)
    monkeypatch.delenv("MESHKEYS_MIGRATION_DATABASE_URL", raising=False)
    monkeypatch.setenv("MESHKEYS_RUNTIME_ROLE", "meshkeys_not_created")
    reset_caches()
    try:
        result = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
    finally:
        reset_caches()
    assert result.exit_code == 2
    assert "meshkeys_not_created" in result.output and "CREATE ROLE" in result.output


def test_db_upgrade_warns_when_the_app_would_log_in_as_the_owner(pg, empty_db, monkeypatch):
    monkeypatch.setenv("MESHKEYS_DATABASE_URL", empty_db.owner_url)  # one URL for both
    monkeypatch.delenv("MESHKEYS_MIGRATION_DATABASE_URL", raising=False)
    monkeypatch.setenv("MESHKEYS_RUNTIME_ROLE", pg.runtime_role)
    reset_caches()
    try:
        result = CliRunner().invoke(main, ["db", "upgrade"], catch_exceptions=False)
    finally:
        reset_caches()
    assert result.exit_code == 0
    assert "warning:" in result.output and "owns the tables" in result.output
