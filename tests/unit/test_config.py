"""The one settings object: the origin rule every web door uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meshkeys import clock
from meshkeys.config import (
    CLOCK_OFFSET,
    ROTATION_INTERVAL,
    ConfigError,
    load_settings,
    reset_settings,
)


@pytest.mark.parametrize(
    ("origin", "host", "accepted"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1:8080", True),  # its own origin, any port
        ("https://keys.example.com", "keys.example.com", True),
        ("http://KEYS.example.com", "keys.example.com", True),
        (None, "127.0.0.1:8080", True),  # no Origin: not a cross-site browser request
        ("http://127.0.0.1:9090", "127.0.0.1:8080", False),  # another port is another origin
        ("https://evil.example", "keys.example.com", False),
        ("https://keys.example.com.evil.example", "keys.example.com", False),
        ("null", "keys.example.com", False),
        ("ftp://keys.example.com", "keys.example.com", False),
        ("http://127.0.0.1:8080", None, False),
    ],
)
def test_a_page_may_use_its_own_origin_whatever_the_port(origin, host, accepted):
    assert load_settings({}).accepts_origin(origin, host=host) is accepted


def test_allowed_origins_only_add_and_are_normalised():
    settings = load_settings({"MESHKEYS_ALLOWED_ORIGINS": "https://Proxy.example.com/, "})
    assert settings.allowed_origins == ("https://proxy.example.com",)
    assert settings.accepts_origin("https://proxy.example.com", host="10.0.0.5:3000")
    assert settings.accepts_origin("http://10.0.0.5:3000", host="10.0.0.5:3000")


def test_the_dev_frontend_port_is_accepted_on_both_spellings_of_this_machine():
    settings = load_settings({"REFLEX_FRONTEND_PORT": "3001"})
    for origin in ("http://localhost:3001", "http://127.0.0.1:3001"):
        assert settings.accepts_origin(origin, host="127.0.0.1:8001")
    assert not settings.accepts_origin("http://localhost:3002", host="127.0.0.1:8001")


def test_migrations_use_the_app_url_unless_an_owner_url_is_given():
    plain = load_settings({"MESHKEYS_DATABASE_URL": "postgresql+psycopg://app@db/meshkeys"})
    assert plain.migration_database_url == "postgresql+psycopg://app@db/meshkeys"
    assert load_settings({}).migration_database_url == "sqlite:///meshkeys.db"
    split = load_settings(
        {
            "MESHKEYS_DATABASE_URL": "postgresql+psycopg://app@db/meshkeys",
            "MESHKEYS_MIGRATION_DATABASE_URL": "postgresql+psycopg://owner:pw@db/meshkeys",
        }
    )
    assert split.database_url == "postgresql+psycopg://app@db/meshkeys"
    assert split.migration_database_url == "postgresql+psycopg://owner:pw@db/meshkeys"
    assert "owner:pw" not in repr(split)


def test_the_runtime_role_is_named_by_a_setting_and_must_be_a_role_name():
    assert load_settings({}).runtime_role == "meshkeys_runtime"
    assert load_settings({"MESHKEYS_RUNTIME_ROLE": " app-rw "}).runtime_role == "app-rw"
    with pytest.raises(ConfigError, match="MESHKEYS_RUNTIME_ROLE"):
        load_settings({"MESHKEYS_RUNTIME_ROLE": 'x"; DROP TABLE users; --'})


def test_the_rotation_interval_defaults_to_a_minute_and_must_be_a_positive_number():
    assert load_settings({}).rotation_interval_seconds == 60.0
    assert load_settings({ROTATION_INTERVAL: "0.5"}).rotation_interval_seconds == 0.5
    for bad in ("0", "-5", "abc", "nan", "86401"):
        with pytest.raises(ConfigError, match=ROTATION_INTERVAL):
            load_settings({ROTATION_INTERVAL: bad})


def test_the_clock_offset_moves_now_and_is_refused_in_production(monkeypatch):
    key = "A" * 43 + "="
    with pytest.raises(ConfigError, match="refused with MESHKEYS_ENV=production"):
        load_settings(
            {CLOCK_OFFSET: "86400", "MESHKEYS_ENV": "production", "MESHKEYS_MASTER_KEY": key}
        )
    assert load_settings({"MESHKEYS_ENV": "production", "MESHKEYS_MASTER_KEY": key})
    with pytest.raises(ConfigError, match=CLOCK_OFFSET):
        load_settings({CLOCK_OFFSET: "tomorrow"})
    monkeypatch.setenv(CLOCK_OFFSET, str(40 * 86400))
    reset_settings()
    try:
        ahead = clock.now() - datetime.now(UTC)
    finally:
        monkeypatch.delenv(CLOCK_OFFSET)
        reset_settings()
    assert timedelta(days=40) - timedelta(seconds=5) < ahead <= timedelta(days=40)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)
