"""Security ring: the attacks, as tests, against the real PostgreSQL the app runs on.

Runs with ``--backend postgres`` (.ci/rings); the fixtures (``pg``, ``session``, ``uow``,
``world``, ``api``, ``committed_db``) are in tests/backends.py. Each test is one attack an
adversary would try; docs/SECURITY.md names the test that proves each defence.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _master_key(scenario_master_key: None) -> None:
    """One random master key for the whole ring."""


@pytest.fixture(scope="session", autouse=True)
def _on_postgres(backend: str) -> None:
    if backend != "postgres":
        pytest.fail("the security ring runs with --backend postgres (see .ci/rings)")
