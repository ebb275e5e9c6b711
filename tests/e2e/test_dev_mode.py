"""Plain ``reflex run`` (Reflex's development mode, with hot reload) keeps a UI sign-in across
reloads and on every page, at localhost and at 127.0.0.1.

The database file sits in the project root, where the default ``meshkeys.db`` lives: the tree the
development server watches. SQLite touches its ``-wal``/``-shm`` files on every query; when the
server watched them, each query restarted the backend, which dropped the websocket, and sign-in
did not stick (meshkeys/reflex_env.py narrows the watch to the code).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from meshkeys.services import projects
from tests.e2e.apprunner import REPO_ROOT, wait_for_hydration
from tests.e2e.pages import signed_in_pages, visit_signed_in
from tests.e2e.support import make_user, new_context, serve, sign_in
from tests.helpers import call

PROJECT = "Dev mode"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    database = REPO_ROOT / f"meshkeys-e2e-{secrets.token_hex(4)}.db"  # *.db: ignored by git
    try:
        with serve(
            tmp_path_factory.mktemp("dev"),
            dev=True,
            database_url=f"sqlite:///{database}",
            timeout=300,
        ) as running:
            yield running
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def owner(app):
    owner = make_user("dev-owner@example.com")
    project = call(projects.create_project, owner, name=PROJECT)
    return owner, project.id


def backend_reloads(log: str) -> list[str]:
    """The development server's reload reports (granian's, logged at debug level: "Changes
    detected, reloading workers..", "Modified: FILE"). The log must show its worker starts too,
    or it would say nothing either way."""
    assert "Started worker" in log, "the server log does not show the dev server's worker starts"
    return [line for line in log.splitlines() if re.search(r"Changes detected|Modified: ", line)]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_sign_in_sticks_in_development_mode(browser, app, owner, host: str):
    actor, project_id = owner
    assert app.url != app.backend_url, "not development mode: pages and backend share a port"
    context = new_context(browser, app, base_url=f"http://{host}:{urlsplit(app.url).port}")
    context.set_default_timeout(30_000)  # the dev server transforms modules on first request
    page = context.new_page()
    try:
        sign_in(page, actor.email)
        page.reload()
        wait_for_hydration(page)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        for path, heading in signed_in_pages(project_id, PROJECT):
            visit_signed_in(page, path, heading)
        # Client-side navigations within one page: its websocket must stay the one it opened.
        pages = signed_in_pages(project_id, PROJECT)
        visit_signed_in(page, *pages[0])
        for link, heading in (("Audit log", pages[1][1]), ("Keys", pages[0][1])):
            page.get_by_role("link", name=link).click()
            expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            wait_for_hydration(page)
        sockets = page.evaluate("window.__meshkeysProbe.sockets")
    finally:
        context.close()
    reloads = backend_reloads(app.log_path.read_text(errors="replace"))
    assert reloads == [], "the development server restarted the backend:\n" + "\n".join(reloads)
    assert sockets == 1, f"the page opened {sockets} websockets: the backend dropped it"
