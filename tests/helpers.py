"""Shared test helpers: a migrated database; users, projects and actors made by the services."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshkeys import config, db
from meshkeys.crypto import masterkey
from meshkeys.services import auth, cache, projects
from meshkeys.services.context import Actor
from meshkeys.services.uow import UnitOfWork

UowFactory = Callable[..., UnitOfWork]

PASSWORD = "correct-horse-battery"


def random_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def configure(
    monkeypatch, *, database_url: str, master_key: str | None = None, **extra: str
) -> None:
    """Point meshkeys at a database and master key, forgetting cached settings."""
    monkeypatch.setenv("MESHKEYS_DATABASE_URL", database_url)
    monkeypatch.setenv("MESHKEYS_MASTER_KEY", master_key or random_master_key())
    monkeypatch.delenv("MESHKEYS_MASTER_KEYS", raising=False)
    monkeypatch.delenv("MESHKEYS_ENV", raising=False)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    reset_caches()


def use_master_keys(monkeypatch, current: str, *older: str) -> None:
    """Restart-equivalent: the process now runs with these master keys."""
    monkeypatch.setenv("MESHKEYS_MASTER_KEY", current)
    monkeypatch.setenv("MESHKEYS_MASTER_KEYS", ",".join(older))
    config.reset_settings()
    masterkey.get_keyring.cache_clear()


def reset_caches() -> None:
    cache.clear()
    config.reset_settings()
    masterkey.get_keyring.cache_clear()
    db.get_engine.cache_clear()


@dataclass
class World:
    """An owner, an admin, a viewer and an outsider; one project; made through the services."""

    owner: Actor
    admin: Actor
    viewer: Actor
    outsider: Actor
    project_id: uuid.UUID
    other_project_id: uuid.UUID


def make_user(uow: UowFactory, email: str) -> Actor:
    with uow() as unit:
        user = auth.create_user(unit, email=email, password=PASSWORD)
    return Actor(user_id=user.id, email=user.email)


def make_world(uow: UowFactory = UnitOfWork, prefix: str = "") -> World:
    """Made through the services; ``uow`` opens units of work (default: the configured
    database, committed for real)."""
    owner = make_user(uow, f"{prefix}owner@example.com")
    admin = make_user(uow, f"{prefix}admin@example.com")
    viewer = make_user(uow, f"{prefix}viewer@example.com")
    outsider = make_user(uow, f"{prefix}outsider@example.com")
    with uow(owner) as unit:
        project = projects.create_project(unit, name=f"{prefix}Payments")
        projects.add_member(unit, project_id=project.id, email=admin.email, role="admin")
        projects.add_member(unit, project_id=project.id, email=viewer.email, role="viewer")
    with uow(outsider) as unit:
        other = projects.create_project(unit, name=f"{prefix}Elsewhere")
    return World(owner, admin, viewer, outsider, project.id, other.id)


def all_events(uow: UowFactory, chain_id: uuid.UUID | None = None, action: str | None = None):
    """Every audit event (of a chain), oldest first, read as an operator would (RLS: system)."""
    from sqlmodel import select

    from meshkeys.models import AuditEvent

    query = select(AuditEvent).order_by(AuditEvent.chain_id, AuditEvent.seq)
    if chain_id is not None:
        query = query.where(AuditEvent.chain_id == chain_id)
    if action:
        query = query.where(AuditEvent.action == action)
    with uow(system=True) as unit:
        events = unit.session.exec(query).all()
        unit.session.expunge_all()
    return events


def units(bind: Any = None) -> UowFactory:
    """Units of work on ``bind`` (an engine; default: the configured database), committing
    for real: for tests of several connections, the doors and the benches."""

    def factory(actor: Actor | None = None, **kwargs: Any) -> UnitOfWork:
        return UnitOfWork(actor, bind=bind, **kwargs)

    return factory


def call(fn: Callable[..., Any], actor: Actor | None = None, /, **kwargs: Any) -> Any:
    """Call one service as a door does: in a unit of work of its own, closed afterwards.

    ``bind`` and ``system`` go to the unit of work, everything else to the service.
    """
    options = {k: kwargs.pop(k) for k in ("bind", "system") if k in kwargs}
    with UnitOfWork(actor, **options) as unit:
        return fn(unit, **kwargs)


def audit_row(chain_id: uuid.UUID, seq: int, prev_hash: str, **fields: Any) -> Any:
    """An audit event's hashed columns as a plain object (for ``audit.canonical``), for tests and
    benches that write events without ``audit.record``: a sign-in failure unless ``fields`` say
    otherwise."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    row = {
        "id": uuid.uuid4(),
        "chain_id": chain_id,
        "seq": seq,
        "project_id": None,
        "actor_id": None,
        "actor_email": "someone@example.com",
        "action": "login.failed",
        "key_id": None,
        "key_name": None,
        "old_status": None,
        "new_status": None,
        "details": {"n": seq},
        "client_ip": "127.0.0.1",
        "user_agent": None,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq),
        "prev_hash": prev_hash,
    }
    row.update(fields)
    return SimpleNamespace(**row)
