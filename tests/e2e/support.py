"""Helpers for the UI end-to-end tests: seeding through the services, Chromium contexts bound to
the module's app (the ``app`` fixture of conftest.py), signing in through the browser."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session

from meshkeys import db
from meshkeys.services import auth, projects
from meshkeys.services.context import Actor
from tests.e2e.apprunner import RunningApp, install_hydration_probe, wait_for_hydration

PASSWORD = "correct-horse-battery"


def services_session() -> Session:
    return Session(db.get_engine(), expire_on_commit=False)


@dataclass
class Team:
    owner: Actor
    viewer: Actor
    outsider: Actor
    project_id: uuid.UUID
    other_project_id: uuid.UUID


def make_user(email: str) -> Actor:
    with services_session() as s:
        user = auth.create_user(s, email=email, password=PASSWORD)
        return Actor(user_id=user.id, email=user.email)


def make_team(prefix: str) -> Team:
    """An owner with a project, a viewer in it, and an outsider with a project of their own."""
    owner = make_user(f"{prefix}-owner@example.com")
    viewer = make_user(f"{prefix}-viewer@example.com")
    outsider = make_user(f"{prefix}-outsider@example.com")
    with services_session() as s:
        project = projects.create_project(s, actor=owner, name=f"{prefix} payments")
        projects.add_member(
            s, actor=owner, project_id=project.id, email=viewer.email, role="viewer"
        )
        other = projects.create_project(s, actor=outsider, name=f"{prefix} elsewhere")
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
