"""Fixtures every ring shares."""

from __future__ import annotations

import pytest

from meshkeys import config
from meshkeys.crypto import masterkey, passwords

# The backends (--backend sqlite|postgres) and the scenario fixtures: uow, session, world.
pytest_plugins = ["tests.backends"]


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """scrypt at full cost is ~0.1 s a hash and the tests hash hundreds of passwords.

    Hashes record their cost, so a hash made here still verifies anywhere.
    """
    original = passwords.LOG2_N
    passwords.LOG2_N = 10
    passwords.dummy_hash.cache_clear()
    yield
    passwords.LOG2_N = original
    passwords.dummy_hash.cache_clear()


@pytest.fixture(autouse=True)
def _forget_cached_keyring():
    """A test that switches master keys must not leave its keyring cached for the next one."""
    yield
    config.reset_settings()
    masterkey.get_keyring.cache_clear()


@pytest.fixture(scope="session")
def redis_srv():
    """A throwaway redis-server on a free port (tests/redisserver.py), started once a session."""
    from tests.redisserver import RedisServerError, redis_server

    try:
        with redis_server() as server:
            yield server
    except RedisServerError as exc:
        pytest.fail(str(exc), pytrace=False)
