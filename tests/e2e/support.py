"""Helpers for the UI end-to-end tests: seeding through the services, Chromium contexts bound to
the module's app (the ``app`` fixture of conftest.py), signing in through the browser."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session

from meshkeys import db
from meshkeys.services import auth, projects
from meshkeys.services.context import Actor
from tests.e2e.apprunner import RunningApp, install_hydration_probe, run_app, wait_for_hydration
from tests.helpers import call, reset_caches

PASSWORD = "correct-horse-battery"
# The settings this process takes from the app while it runs (then restored).
_KNOBS = {"MESHKEYS_DATABASE_URL": "database_url", "MESHKEYS_MASTER_KEY": "master_key"}
_CLEARED = ("MESHKEYS_MASTER_KEYS", "MESHKEYS_ENV", "MESHKEYS_MASTER_KEY_FILE")


@contextlib.contextmanager
def serve(tmp_dir: Path, **options) -> Iterator[RunningApp]:
    """``run_app(tmp_dir, **options)``, with this process pointed at the app's database and master
    key meanwhile, so tests seed and check through the services."""
    saved = {k: os.environ.get(k) for k in (*_KNOBS, *_CLEARED)}
    with run_app(tmp_dir, **options) as running:
        for name, attribute in _KNOBS.items():
            os.environ[name] = getattr(running, attribute)
        for name in _CLEARED:
            os.environ.pop(name, None)
        reset_caches()
        try:
            yield running
        finally:
            db.get_engine().dispose()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            reset_caches()


def services_session() -> Session:
    """A session for looking at the app's database: it reads without taking SQLite's write lock
    (``db.READ_ONLY_OPTION``), so the app and units of work beside it never wait for it."""
    engine = db.get_engine().execution_options(**{db.READ_ONLY_OPTION: True})
    return Session(engine, expire_on_commit=False)


@dataclass
class Team:
    owner: Actor
    viewer: Actor
    outsider: Actor
    project_id: uuid.UUID
    other_project_id: uuid.UUID


def make_user(email: str) -> Actor:
    user = call(auth.create_user, email=email, password=PASSWORD)
    return Actor(user_id=user.id, email=user.email)


def make_team(prefix: str) -> Team:
    """An owner with a project, a viewer in it, and an outsider with a project of their own."""
    owner = make_user(f"{prefix}-owner@example.com")
    viewer = make_user(f"{prefix}-viewer@example.com")
    outsider = make_user(f"{prefix}-outsider@example.com")
    project = call(projects.create_project, owner, name=f"{prefix} payments")
    call(projects.add_member, owner, project_id=project.id, email=viewer.email, role="viewer")
    other = call(projects.create_project, outsider, name=f"{prefix} elsewhere")
    return Team(owner, viewer, outsider, project.id, other.id)


def new_context(
    browser: Browser, app: RunningApp, base_url: str | None = None, **kwargs
) -> BrowserContext:
    context = browser.new_context(base_url=base_url or app.url, **kwargs)
    install_hydration_probe(context)
    context.set_default_timeout(15_000)
    return context


def goto(page: Page, path: str) -> None:
    page.goto(path)
    wait_for_hydration(page)


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and wait for the signed-in page to hydrate."""
    goto(page, "/login")
    expect(page.get_by_role("heading", name="Sign in to meshkeys")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/projects(/|$)"))
    wait_for_hydration(page)


def keys_url(project_id: uuid.UUID) -> str:
    return f"/projects/{project_id}/keys"


def audit_url(project_id: uuid.UUID) -> str:
    return f"/projects/{project_id}/audit"
