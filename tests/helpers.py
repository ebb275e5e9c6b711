"""Shared test helpers: a migrated database; users, projects and actors made by the services."""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from meshkeys import config, db
from meshkeys.crypto import masterkey
from meshkeys.services import auth, projects
from meshkeys.services.context import Actor

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


def make_user(session: Session, email: str) -> Actor:
    user = auth.create_user(session, email=email, password=PASSWORD)
    return Actor(user_id=user.id, email=user.email)


def make_world(session: Session, prefix: str = "") -> World:
    owner = make_user(session, f"{prefix}owner@example.com")
    admin = make_user(session, f"{prefix}admin@example.com")
    viewer = make_user(session, f"{prefix}viewer@example.com")
    outsider = make_user(session, f"{prefix}outsider@example.com")
    project = projects.create_project(session, actor=owner, name=f"{prefix}Payments")
    projects.add_member(
        session, actor=owner, project_id=project.id, email=admin.email, role="admin"
    )
    projects.add_member(
        session, actor=owner, project_id=project.id, email=viewer.email, role="viewer"
    )
    other = projects.create_project(session, actor=outsider, name=f"{prefix}Elsewhere")
    return World(owner, admin, viewer, outsider, project.id, other.id)


def all_events(session: Session, chain_id: uuid.UUID | None = None, action: str | None = None):
    """Every audit event (of a chain), oldest first, read as an operator would (RLS: system)."""
    from sqlmodel import select

    from meshkeys.models import AuditEvent

    db.bind_actor(session, None, system=True)
    query = select(AuditEvent).order_by(AuditEvent.chain_id, AuditEvent.seq)
    if chain_id is not None:
        query = query.where(AuditEvent.chain_id == chain_id)
    if action:
        query = query.where(AuditEvent.action == action)
    return session.exec(query).all()


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
