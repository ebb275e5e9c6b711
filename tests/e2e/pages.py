"""Every signed-in page of the app, for tests that walk them all (dev mode, missing assets)."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.support import audit_url, goto, keys_url


def signed_in_pages(
    project_id: uuid.UUID, project_name: str, key: tuple[uuid.UUID, str] | None = None
) -> list[tuple[str, str]]:
    """(path, heading) of each signed-in page; the key page too when given a ``(id, name)``."""
    pages = [
        (keys_url(project_id), f"{project_name} · Keys"),
        (audit_url(project_id), f"{project_name} · Audit log"),
        (f"/projects/{project_id}/webhooks", f"{project_name} · Webhook tester"),
        ("/projects", "Projects"),
        ("/settings/tokens", "API tokens"),
    ]
    if key is not None:
        pages.insert(1, (f"{keys_url(project_id)}/{key[0]}", f"Key {key[1]}"))
    return pages


def visit_signed_in(page: Page, path: str, heading: str) -> None:
    """Open ``path`` with a full page load and check it shows ``heading``, still signed in."""
    goto(page, path)
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert not re.search(r"/login/?(\?|$)", page.url), f"{path} sent the browser to sign in again"
