"""Settings from the environment, read once and validated.

Every knob meshkeys has is listed here, and nothing else parses one: rxconfig.py, the API, the
CLI and the tests read these ``Settings``. (meshkeys/reflex_env.py only fills in Reflex's own
variables for the ``reflex`` commands.)
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from meshkeys.forwarding import Network, parse_networks

DEFAULT_DATABASE_URL = "sqlite:///meshkeys.db"
# The PostgreSQL role `meshkeys db upgrade` grants the app's privileges to (docs/SECURITY.md).
DEFAULT_RUNTIME_ROLE = "meshkeys_runtime"
# No extra origins by default: a page of the app's own origin is always accepted (accepts_origin).
DEFAULT_ALLOWED_ORIGINS: tuple[str, ...] = ()
# Both spellings of this machine: a browser at 127.0.0.1 is another origin than localhost.
LOCAL_HOSTS = ("localhost", "127.0.0.1")
ENVIRONMENTS = ("development", "production")


class ConfigError(RuntimeError):
    """The environment is misconfigured; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Migrations connect with this URL (the owner role on PostgreSQL); None: ``database_url``.
    migration_database_url_setting: str | None = field(default=None, repr=False)
    # The role the runtime URL logs in as is this role, or a member of it (Vault, IAM users).
    runtime_role: str = DEFAULT_RUNTIME_ROLE
    env: str = "development"
    # Base64 of 32 bytes; None means "use the embedded development key file".
    master_key: str | None = field(default=None, repr=False)
    # Older master keys, still accepted for decryption during a rotation.
    old_master_keys: tuple[str, ...] = field(default=(), repr=False)
    master_key_file: Path = Path(".meshkeys/master.key")
    # Extra origins (MESHKEYS_ALLOWED_ORIGINS, e.g. a proxy's public name), normalised.
    allowed_origins: tuple[str, ...] = DEFAULT_ALLOWED_ORIGINS
    # The port `reflex run` serves pages on (it exports REFLEX_FRONTEND_PORT to its backend). In
    # development mode it differs from the backend's: pages there are the app's own too.
    frontend_port: int | None = None
    log_json: bool = False
    # Where the app writes a signed audit checkpoint every hour (None: it writes none).
    audit_checkpoint_dir: Path | None = None
    session_ttl_seconds: int = 12 * 3600
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (meshkeys.forwarding).
    trusted_proxies: tuple[Network, ...] = ()
    # How often the app's rotation scheduler looks for due keys (meshkeys.services.rotation_policy).
    rotation_interval_seconds: float = 60.0
    # Test-only: meshkeys.clock.now() runs this many seconds ahead (refused in production).
    clock_offset_seconds: float = 0.0
    # The API's in-memory caches of tokens and keys (services.cache); off: every request reads.
    api_cache: bool = True
    # A line for every successful sign (the data plane): off, they are counted only.
    log_signing: bool = False

    @property
    def migration_database_url(self) -> str:
        """Where migrations run: ``MESHKEYS_MIGRATION_DATABASE_URL``, else the app's own URL."""
        return self.migration_database_url_setting or self.database_url

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def page_origins(self) -> tuple[str, ...]:
        """Origins besides the request's own host that may call the backend: the development
        frontend on both spellings of this machine, then the extra ones."""
        frontend = tuple(f"http://{host}:{self.frontend_port}" for host in LOCAL_HOSTS)
        return (frontend if self.frontend_port else ()) + self.allowed_origins

    def accepts_origin(self, origin: str | None, *, host: str | None) -> bool:
        """Whether a page of ``origin`` may use the backend reached at ``host`` (the Host header):
        its own origin, whatever port that is, or one of ``page_origins``. No Origin (not a
        browser, or a same-origin GET) is accepted; the session cookie is SameSite."""
        if not origin:
            return True
        origin = normalise_origin(origin)
        if origin in self.page_origins:
            return True
        parts = urlsplit(origin)
        if not host or parts.scheme not in ("http", "https"):
            return False
        return parts.netloc == host.lower()


CHECKPOINT_DIR = "MESHKEYS_AUDIT_CHECKPOINT_DIR"
ROTATION_INTERVAL = "MESHKEYS_ROTATION_INTERVAL_SECONDS"
CLOCK_OFFSET = "MESHKEYS_CLOCK_OFFSET_SECONDS"
MAX_ROTATION_INTERVAL = 86400.0


def _seconds(value: str | None, *, source: str, default: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{source} must be a number of seconds, not {value!r}") from None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ConfigError(f"{source} must be a finite number of seconds, not {value!r}")
    return seconds


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _split(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(part.strip() for part in value.replace(";", ",").split(",") if part.strip())


def _role_name(value: str | None) -> str:
    """A PostgreSQL role name, as ``MESHKEYS_RUNTIME_ROLE`` spells it (quoted when granted)."""
    name = (value or "").strip() or DEFAULT_RUNTIME_ROLE
    if len(name) > 63 or any(not (c.isalnum() or c in "_-.") for c in name):
        raise ConfigError(
            "MESHKEYS_RUNTIME_ROLE must be a PostgreSQL role name of at most 63 letters, digits, "
            f"'_', '-' or '.', not {name!r}"
        )
    return name


def normalise_origin(value: str) -> str:
    """``scheme://host[:port]`` as browsers send it in ``Origin``: lower case, no trailing "/"."""
    return value.strip().rstrip("/").lower()


def _port(value: str | None, *, source: str) -> int | None:
    if not value or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{source} must be a port number, not {value!r}") from None


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


API_CACHE = "MESHKEYS_API_CACHE"
LOG_SIGNING = "MESHKEYS_LOG_SIGNING"


def _on_off(env: Mapping[str, str], name: str, *, default: str) -> bool:
    value = (_text(env, name) or default).lower()
    if value not in ("on", "off"):
        raise ConfigError(f"{name} must be on or off, not {value!r}")
    return value == "on"


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
    origins = tuple(normalise_origin(o) for o in _split(env.get("MESHKEYS_ALLOWED_ORIGINS")))
    checkpoint_dir = _text(env, CHECKPOINT_DIR)
    try:
        proxies = parse_networks(_split(env.get("MESHKEYS_TRUSTED_PROXIES")))
    except ValueError as exc:
        raise ConfigError(
            f"MESHKEYS_TRUSTED_PROXIES must list IP addresses or networks (10.0.0.5, "
            f"10.0.0.0/24), comma-separated: {exc}"
        ) from None
    interval = _seconds(_text(env, ROTATION_INTERVAL), source=ROTATION_INTERVAL, default=60.0)
    if not 0 < interval <= MAX_ROTATION_INTERVAL:
        raise ConfigError(
            f"{ROTATION_INTERVAL} must be more than 0 and at most {MAX_ROTATION_INTERVAL:.0f} "
            f"seconds (a day), not {interval:g}"
        )
    offset = _seconds(_text(env, CLOCK_OFFSET), source=CLOCK_OFFSET, default=0.0)
    if offset and mode == "production":
        raise ConfigError(
            f"{CLOCK_OFFSET} moves the app's clock for tests; it is refused with "
            "MESHKEYS_ENV=production. Unset it."
        )
    api_cache = _on_off(env, API_CACHE, default="on")
    log_signing = _on_off(env, LOG_SIGNING, default="off")
    return Settings(
        database_url=env.get("MESHKEYS_DATABASE_URL") or DEFAULT_DATABASE_URL,
        migration_database_url_setting=env.get("MESHKEYS_MIGRATION_DATABASE_URL") or None,
        runtime_role=_role_name(env.get("MESHKEYS_RUNTIME_ROLE")),
        env=mode,
        master_key=master,
        old_master_keys=old,
        master_key_file=Path(env.get("MESHKEYS_MASTER_KEY_FILE") or ".meshkeys/master.key"),
        allowed_origins=origins,
        frontend_port=_port(env.get("REFLEX_FRONTEND_PORT"), source="REFLEX_FRONTEND_PORT"),
        log_json=env.get("MESHKEYS_LOG_JSON", "") in ("1", "true", "yes"),
        audit_checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
        trusted_proxies=proxies,
        rotation_interval_seconds=interval,
        clock_offset_seconds=offset,
        api_cache=api_cache,
        log_signing=log_signing,
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
