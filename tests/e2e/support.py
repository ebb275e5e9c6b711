"""Helpers for the UI end-to-end tests: one real app per test module, seeding through the services,
signing in through the browser.

Each module starts its own app (fresh SQLite database, random master key) with::

    app = module_app()

and gets Chromium contexts bound to it from ``new_context(browser, app)``. pytest-playwright's own
``page``/``context`` fixtures go through the session-wide ``base_url``/``app_server`` of
conftest.py; these modules override ``page`` so that only their own app is started.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session

from meshkeys import db
from meshkeys.services import auth, projects
from meshkeys.services.context import Actor
from tests.e2e.apprunner import RunningApp, install_hydration_probe, run_app, wait_for_hydration
from tests.helpers import call, reset_caches

PASSWORD = "correct-horse-battery"
_KNOBS = (
    "MESHKEYS_DATABASE_URL",
    "MESHKEYS_MASTER_KEY",
    "MESHKEYS_MASTER_KEYS",
    "MESHKEYS_ENV",
    "MESHKEYS_MASTER_KEY_FILE",
)


@contextlib.contextmanager
def start_app(tmp_path_factory) -> Iterator[RunningApp]:
    """The real app on a fresh database; this process is pointed at the same database and
    master key, so tests seed and check through the services."""
    saved = {k: os.environ.get(k) for k in _KNOBS}
    with run_app(tmp_path_factory.mktemp("app")) as app:
        os.environ["MESHKEYS_DATABASE_URL"] = app.database_url
        os.environ["MESHKEYS_MASTER_KEY"] = app.master_key
        for k in ("MESHKEYS_MASTER_KEYS", "MESHKEYS_ENV", "MESHKEYS_MASTER_KEY_FILE"):
            os.environ.pop(k, None)
        reset_caches()
        try:
            yield app
        finally:
            db.get_engine().dispose()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            reset_caches()


def module_app():
    """A module-scoped ``app`` fixture: this module's own app on a fresh database."""

    @pytest.fixture(scope="module")
    def app(tmp_path_factory):
        with start_app(tmp_path_factory) as running:
            yield running

    return app


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


def new_context(browser: Browser, app: RunningApp, **kwargs) -> BrowserContext:
    context = browser.new_context(base_url=app.url, **kwargs)
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
