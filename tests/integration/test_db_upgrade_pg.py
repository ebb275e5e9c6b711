"""`meshkeys db upgrade` as an operator runs it: the owner's URL migrates, the app's URL works."""

from __future__ import annotations

from click.testing import CliRunner

from meshkeys.cli import main
from tests.helpers import PASSWORD, reset_caches


def _run(monkeypatch, *args: str, app_url: str, runtime_role: str, owner_url: str | None = None):
    """One ``meshkeys`` command with this environment (no owner URL: the app's URL migrates)."""
    monkeypatch.setenv("MESHKEYS_DATABASE_URL", app_url)
    if owner_url is None:
        monkeypatch.delenv("MESHKEYS_MIGRATION_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("MESHKEYS_MIGRATION_DATABASE_URL", owner_url)
    monkeypatch.setenv("MESHKEYS_RUNTIME_ROLE", runtime_role)
    reset_caches()
    try:
        return CliRunner().invoke(main, list(args), input=PASSWORD + "\n", catch_exceptions=False)
    finally:
        reset_caches()


def test_db_upgrade_migrates_as_the_owner_and_the_app_then_runs_as_the_runtime_role(
    pg, empty_db, monkeypatch
):
    urls = dict(app_url=empty_db.app_url, owner_url=empty_db.owner_url)
    upgraded = _run(monkeypatch, "db", "upgrade", runtime_role=pg.runtime_role, **urls)
    assert upgraded.exit_code == 0, upgraded.output
    assert pg.owner_role in upgraded.output and "warning" not in upgraded.output
    created = _run(
        monkeypatch,
        *("user", "create", "ops@example.com", "--password-stdin"),
        runtime_role=pg.runtime_role,
        **urls,
    )
    assert created.exit_code == 0, created.output


def test_db_upgrade_says_how_to_create_a_missing_runtime_role(pg, empty_db, monkeypatch):
    result = _run(
        monkeypatch,
        "db",
        "upgrade",
        app_url=empty_db.owner_url,
        runtime_role="meshkeys_not_created",
    )
    assert result.exit_code == 2
    assert "meshkeys_not_created" in result.output and "CREATE ROLE" in result.output


def test_db_upgrade_warns_when_the_app_would_log_in_as_the_owner(pg, empty_db, monkeypatch):
    # One URL for both: the owner's.
    result = _run(
        monkeypatch, "db", "upgrade", app_url=empty_db.owner_url, runtime_role=pg.runtime_role
    )
    assert result.exit_code == 0
    assert "warning:" in result.output and "owns the tables" in result.output
