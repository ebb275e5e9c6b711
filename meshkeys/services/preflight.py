"""The production preflight: what must hold before ``reflex run --env prod`` may start.

``make run-prod`` (and ``meshkeys preflight``) calls ``check`` after the migrations and before
the app servers: a deployment that would half-start (workers up, but no Redis to share state, or
a database they cannot reach, or a runtime role that could switch off row-level security) is
refused with one line per problem, each naming the setting to fix. Nothing here prints a secret:
URLs are shown without their password, errors by their kind and the server's short reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from meshkeys.config import ConfigError, Settings, load_settings

REDIS_URL = "REFLEX_REDIS_URL"
# Seconds a check waits for a server before calling it unreachable.
CONNECT_TIMEOUT = 3


@dataclass(frozen=True)
class Problem:
    setting: str  # the environment variable to fix
    message: str  # what is wrong and what to do, naming ``setting``


@dataclass(frozen=True)
class Report:
    problems: tuple[Problem, ...]
    checked: tuple[str, ...]  # what passed, for the operator's log

    @property
    def ok(self) -> bool:
        return not self.problems


def redact(url: str) -> str:
    """``url`` without its password (for messages)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return "(unparsable URL)"


def _short(exc: BaseException) -> str:
    """The first line of a driver error, without any URL it may quote."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first[:200]


def check(environ: Mapping[str, str] | None = None) -> Report:
    """Every preflight check on ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    problems: list[Problem] = []
    checked: list[str] = []
    try:
        settings: Settings | None = load_settings(dict(env))
    except ConfigError as exc:
        settings = None
        problems.append(Problem(_setting_in(str(exc)), str(exc)))
    if not (env.get("MESHKEYS_MASTER_KEY") or "").strip():
        problems.append(
            Problem(
                "MESHKEYS_MASTER_KEY",
                "MESHKEYS_MASTER_KEY is not set: a production start needs the master key "
                "(base64 of 32 random bytes) from your secret store, never a key file",
            )
        )
    if settings is not None:
        problems += _database(env, settings, checked)
    problems += _redis(env, checked)
    # One line per setting: a bad master key is reported by load_settings and by the check above.
    unique = {(p.setting, p.message): p for p in problems}
    return Report(tuple(unique.values()), tuple(checked))


def _setting_in(message: str) -> str:
    first = message.split()[0] if message.split() else ""
    return first.split("=")[0] if first.startswith(("MESHKEYS_", "REFLEX_")) else "MESHKEYS_ENV"


def _database(env: Mapping[str, str], settings: Settings, checked: list[str]) -> list[Problem]:
    name = "MESHKEYS_DATABASE_URL"
    url = (env.get(name) or "").strip()
    if not url:
        return [
            Problem(
                name,
                f"{name} is not set: name the PostgreSQL database the app uses, as the runtime "
                "role (postgresql+psycopg://meshkeys_app:...@host:5432/meshkeys)",
            )
        ]
    if not url.startswith("postgresql"):
        return [
            Problem(
                name,
                f"{name} is {redact(url)}: several app servers need PostgreSQL "
                "(postgresql+psycopg://...); SQLite serves one process only (make run)",
            )
        ]
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    except (sa.exc.ArgumentError, ValueError, ImportError) as exc:
        return [Problem(name, f"{name} is not a database URL meshkeys can use: {_short(exc)}")]
    try:
        with engine.connect() as conn:
            user, superuser, bypass, owns, member, migrated = conn.execute(
                sa.text(
                    "SELECT current_user, r.rolsuper, r.rolbypassrls, "
                    "EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' "
                    "AND pg_has_role(current_user, tableowner, 'member')), "
                    "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :role "
                    "AND pg_has_role(current_user, oid, 'member')), "
                    "to_regclass('public.alembic_version') IS NOT NULL "
                    "FROM pg_roles r WHERE r.rolname = current_user"
                ),
                {"role": settings.runtime_role},
            ).one()
    except sa.exc.SQLAlchemyError as exc:
        return [Problem(name, f"{name} ({redact(url)}) cannot be reached: {_short(exc)}")]
    finally:
        engine.dispose()
    role_fix = (
        f"let the app log in as a member of {settings.runtime_role} that owns nothing, and "
        "migrate with MESHKEYS_MIGRATION_DATABASE_URL (the owner)"
    )
    if superuser or bypass:
        what = "a superuser" if superuser else "a role with BYPASSRLS"
        return [
            Problem(
                name,
                f"{name} logs in as {user}, {what}: row-level security would not apply; "
                + role_fix,
            )
        ]
    if owns:
        return [
            Problem(
                name,
                f"{name} logs in as {user}, which owns the tables: the app could disable "
                "row-level security and the audit triggers; " + role_fix,
            )
        ]
    if not migrated:
        return [
            Problem(
                "MESHKEYS_MIGRATION_DATABASE_URL",
                f"the database at {redact(url)} has no meshkeys schema: run `meshkeys db "
                "upgrade` with MESHKEYS_MIGRATION_DATABASE_URL naming the owner role first",
            )
        ]
    if not member:
        return [
            Problem(
                name,
                f"{name} logs in as {user}, which is not a member of {settings.runtime_role} "
                "(MESHKEYS_RUNTIME_ROLE): it holds none of the app's grants",
            )
        ]
    checked.append(f"database {redact(url)} as {user} (runtime role, owns nothing)")
    return []


def _redis(env: Mapping[str, str], checked: list[str]) -> list[Problem]:
    url = (env.get(REDIS_URL) or "").strip()
    if not url:
        return [
            Problem(
                REDIS_URL,
                f"{REDIS_URL} is not set: several workers keep the browser sessions' state in "
                "Redis (redis://host:6379/0); without it each worker would hold its own",
            )
        ]
    import redis  # Reflex's own dependency

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
        )
    except ValueError as exc:
        return [Problem(REDIS_URL, f"{REDIS_URL} is not a Redis URL: {_short(exc)}")]
    try:
        client.ping()
    except redis.RedisError as exc:
        return [Problem(REDIS_URL, f"{REDIS_URL} ({redact(url)}) cannot be reached: {_short(exc)}")]
    finally:
        client.close()
    checked.append(f"redis {redact(url)}")
    return []
