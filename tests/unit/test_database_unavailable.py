"""A database that does not answer: every door says so, fast, instead of a 500 or a hang.

PostgreSQL "down" here is a real closed port on 127.0.0.1 (nothing listens there); the cluster
ring stops and restarts a real server under load (tests/cluster/test_faults.py).
"""

from __future__ import annotations

import socket
import time

import pytest
from fastapi.testclient import TestClient

from meshkeys.api.app import create_api
from meshkeys.services import auth
from meshkeys.services.errors import Unavailable
from meshkeys.services.uow import UnitOfWork
from tests.helpers import configure


@pytest.fixture
def database_down(monkeypatch: pytest.MonkeyPatch) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://meshkeys_app:pw@127.0.0.1:{port}/meshkeys"
    configure(monkeypatch, database_url=url)
    return url


def test_a_unit_of_work_raises_unavailable_not_a_driver_error(database_down):
    with pytest.raises(Unavailable, match="database is unavailable"), UnitOfWork() as uow:
        auth.needs_setup(uow)


def test_the_api_answers_503_json_in_under_two_seconds(database_down):
    client = TestClient(create_api())
    for method, path, kwargs in (
        ("GET", "/health", {}),
        ("GET", "/keys", {"headers": {"Authorization": "Bearer mk_abcdefgh12345"}}),
        ("POST", "/auth/login", {"json": {"email": "a@example.com", "password": "x" * 12}}),
    ):
        started = time.monotonic()
        answer = client.request(method, path, **kwargs)
        assert time.monotonic() - started < 2, path
        assert answer.status_code == 503, (path, answer.text)
        body = answer.json()
        assert body.get("detail", body.get("status")) in (
            "unavailable",
            Unavailable().message,
        ), body
        assert "pw@" not in answer.text


def test_the_cli_exits_7_with_the_message(database_down):
    from click.testing import CliRunner

    from meshkeys.cli import main

    result = CliRunner().invoke(main, ["project", "list", "--user", "a@example.com"])
    assert result.exit_code == 7, result.output
    assert "database is unavailable" in result.output


def test_the_ui_says_the_database_is_unavailable_instead_of_failing(database_down):
    import asyncio

    from meshkeys.services import projects
    from meshkeys.ui.state.keys import KeysState
    from tests.unit.test_ui_state import _tab

    root = _tab("meshkeys_session=sha256." + "0" * 64)
    keys = asyncio.run(root.get_state(KeysState))
    started = time.monotonic()
    shown = keys._attempt(lambda: keys._call(projects.list_projects))
    assert time.monotonic() - started < 2
    assert "The database is unavailable" in str(shown), shown
