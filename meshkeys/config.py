"""Settings from the environment, read once and validated.

Every knob meshkeys has is listed here; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///meshkeys.db"
# Both spellings of this machine: a browser at 127.0.0.1 is another origin than localhost.
DEFAULT_ALLOWED_ORIGINS = ("http://localhost:3000", "http://127.0.0.1:3000")
ENVIRONMENTS = ("development", "production")


class ConfigError(RuntimeError):
    """The environment is misconfigured; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    env: str = "development"
    # Base64 of 32 bytes; None means "use the embedded development key file".
    master_key: str | None = field(default=None, repr=False)
    # Older master keys, still accepted for decryption during a rotation.
    old_master_keys: tuple[str, ...] = field(default=(), repr=False)
    master_key_file: Path = Path(".meshkeys/master.key")
    allowed_origins: tuple[str, ...] = DEFAULT_ALLOWED_ORIGINS
    log_json: bool = False
    session_ttl_seconds: int = 12 * 3600

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


def decode_master_key(value: str, *, source: str) -> bytes:
    """Decode a base64 master key, refusing anything that is not 32 bytes."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"{source} must be the base64 encoding of exactly 32 random bytes; "
            "create one with: python -c "
            "'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'"
        )
    return raw


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    mode = env.get("MESHKEYS_ENV", "development").strip().lower() or "development"
    if mode not in ENVIRONMENTS:
        raise ConfigError(f"MESHKEYS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {mode!r}")
    master = env.get("MESHKEYS_MASTER_KEY") or None
    old = _split(env.get("MESHKEYS_MASTER_KEYS"))
    if master is not None:
        decode_master_key(master, source="MESHKEYS_MASTER_KEY")
    for item in old:
        decode_master_key(item, source="MESHKEYS_MASTER_KEYS")
    if mode == "production" and master is None:
        raise ConfigError(
            "MESHKEYS_ENV=production needs MESHKEYS_MASTER_KEY (base64 of 32 random bytes); "
            "meshkeys will not fall back to a key file on disk in production."
        )
    origins = _split(env.get("MESHKEYS_ALLOWED_ORIGINS")) or DEFAULT_ALLOWED_ORIGINS
    return Settings(
        database_url=env.get("MESHKEYS_DATABASE_URL") or DEFAULT_DATABASE_URL,
        env=mode,
        master_key=master,
        old_master_keys=old,
        master_key_file=Path(env.get("MESHKEYS_MASTER_KEY_FILE") or ".meshkeys/master.key"),
        allowed_origins=origins,
        log_json=env.get("MESHKEYS_LOG_JSON", "") in ("1", "true", "yes"),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
