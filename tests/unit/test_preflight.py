"""`meshkeys preflight`: a production start is refused, naming the setting, before it half-starts.

The database and Redis refusals use real closed ports on 127.0.0.1 (nothing listens there); the
role checks need PostgreSQL and live in tests/integration/test_preflight_pg.py.
"""

from __future__ import annotations

import socket

import pytest

from meshkeys.services import preflight
from tests.helpers import random_master_key


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def _env(**overrides: str) -> dict[str, str]:
    env = {
        "MESHKEYS_ENV": "production",
        "MESHKEYS_MASTER_KEY": random_master_key(),
        "MESHKEYS_DATABASE_URL": f"postgresql+psycopg://app:pw@127.0.0.1:{_closed_port()}/mk",
        "REFLEX_REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v}


def _settings(report: preflight.Report) -> set[str]:
    return {p.setting for p in report.problems}


def test_a_missing_master_key_is_refused_by_name():
    report = preflight.check(_env(MESHKEYS_MASTER_KEY=""))
    assert "MESHKEYS_MASTER_KEY" in _settings(report)
    assert all(
        "MESHKEYS_MASTER_KEY" in p.message
        for p in report.problems
        if p.setting == "MESHKEYS_MASTER_KEY"
    )


def test_a_master_key_that_is_not_32_bytes_is_refused_and_not_echoed():
    report = preflight.check(_env(MESHKEYS_MASTER_KEY="c2hvcnQ="))
    assert "MESHKEYS_MASTER_KEY" in _settings(report)
    assert not any("c2hvcnQ=" in p.message for p in report.problems)


def test_a_missing_or_sqlite_database_url_is_refused():
    assert "MESHKEYS_DATABASE_URL" in _settings(preflight.check(_env(MESHKEYS_DATABASE_URL="")))
    sqlite = preflight.check(_env(MESHKEYS_DATABASE_URL="sqlite:///meshkeys.db"))
    assert any(
        p.setting == "MESHKEYS_DATABASE_URL" and "PostgreSQL" in p.message for p in sqlite.problems
    )


def test_an_unreachable_database_is_refused_fast_without_its_password():
    env = _env()
    report = preflight.check(env)
    (db,) = [p for p in report.problems if p.setting == "MESHKEYS_DATABASE_URL"]
    assert "cannot be reached" in db.message
    assert ":pw@" not in db.message and "***" in db.message


def test_a_missing_redis_url_is_refused():
    report = preflight.check(_env(REFLEX_REDIS_URL=""))
    assert any(p.setting == "REFLEX_REDIS_URL" and "not set" in p.message for p in report.problems)


def test_an_unreachable_redis_is_refused():
    report = preflight.check(_env())
    (problem,) = [p for p in report.problems if p.setting == "REFLEX_REDIS_URL"]
    assert "cannot be reached" in problem.message


def test_a_live_redis_passes_its_check(redis_srv):
    report = preflight.check(_env(REFLEX_REDIS_URL=redis_srv.url))
    assert "REFLEX_REDIS_URL" not in _settings(report)
    assert any(line.startswith("redis ") for line in report.checked)


def test_the_cli_exits_1_and_names_every_setting(cli, monkeypatch: pytest.MonkeyPatch):
    for name in ("MESHKEYS_MASTER_KEY", "MESHKEYS_DATABASE_URL", "REFLEX_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MESHKEYS_ENV", raising=False)
    result = cli("preflight", code=1)
    for name in ("MESHKEYS_MASTER_KEY", "MESHKEYS_DATABASE_URL", "REFLEX_REDIS_URL"):
        assert name in result.output
    assert "will not start" in result.output
