"""The rotation policy in Chromium: an owner sets it in the project settings on /projects (by
label), the app's own scheduler rotates the due key as the system, and the keys page says when
each key rotates.

The app runs with its clock two days ahead (``MESHKEYS_CLOCK_OFFSET_SECONDS``, test-only) and
its scheduler every half second; this process seeds with the real clock, so a key generated
here is a day overdue for a one-day policy as soon as the policy is saved.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from meshkeys.models import AuditEvent, SignatureKey
from meshkeys.services import audit, key_commands
from tests.e2e.support import (
    goto,
    keys_url,
    make_team,
    new_context,
    serve,
    services_session,
    sign_in,
)
from tests.helpers import call

OFFSET_DAYS = 2


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    env = {
        "MESHKEYS_CLOCK_OFFSET_SECONDS": str(OFFSET_DAYS * 86400),
        "MESHKEYS_ROTATION_INTERVAL_SECONDS": "0.5",
    }
    with serve(tmp_path_factory.mktemp("app"), extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def team(app):
    return make_team("rot")


@pytest.fixture
def page(browser, app):
    context = new_context(browser, app)
    page = context.new_page()
    yield page
    context.close()


def _system_rotations(project_id) -> list[AuditEvent]:
    with services_session() as s:
        return list(
            s.exec(
                select(AuditEvent).where(
                    AuditEvent.chain_id == project_id,
                    AuditEvent.action == audit.KEY_ROTATED,
                    AuditEvent.actor_email == "system",
                )
            ).all()
        )


def _set_policy(page: Page, project: str, days: str, grace: str) -> None:
    goto(page, "/projects")
    page.get_by_role("button", name=f"Settings of {project}").click()
    expect(page.get_by_role("heading", name="Rotation policy")).to_be_visible()
    page.get_by_label("Rotate every (days)").fill(days)
    page.get_by_label("Grace period (seconds)").fill(grace)
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text(f"Rotation policy of {project} saved")).to_be_visible()


def test_a_policy_set_in_the_ui_rotates_the_due_key_and_the_keys_page_says_when(page, team):
    old = call(key_commands.generate_key, team.owner, project_id=team.project_id, name="prod")
    sign_in(page, team.owner.email)
    _set_policy(page, "rot payments", "1", "3600")
    expect(page.locator("#rotation-policy-text")).to_have_text(
        "Every active key is rotated 1 day after its creation; the old key keeps signing and "
        "verifying for 3600 seconds."
    )

    deadline = time.monotonic() + 30
    while not _system_rotations(team.project_id):
        assert time.monotonic() < deadline, "the app's scheduler did not rotate the due key"
        time.sleep(0.25)
    (event,) = _system_rotations(team.project_id)
    assert event.key_id == old.id
    assert event.details["policy"] == {"rotate_every_days": 1, "grace_seconds": 3600}

    goto(page, keys_url(team.project_id))
    rows = page.get_by_role("row", name="prod")
    expect(rows).to_have_count(2)
    expect(page.locator(".key-rotation")).to_have_count(1)  # the old key is expiring: no date
    expect(page.locator(".key-rotation")).to_have_text("rotates in 1 day")

    _set_policy(page, "rot payments", "30", "3600")
    goto(page, keys_url(team.project_id))
    expect(page.locator(".key-rotation")).to_have_text("rotates in 30 days")
    with services_session() as s:
        assert len(s.exec(select(SignatureKey)).all()) == 2  # nothing rotated twice


def test_a_viewer_sees_the_policy_but_no_form(page, team):
    sign_in(page, team.viewer.email)
    goto(page, "/projects")
    page.get_by_role("button", name="Settings of rot payments").click()
    expect(
        page.get_by_text("Only admins and owners can change the rotation policy.")
    ).to_be_visible()
    expect(page.get_by_label("Rotate every (days)")).to_have_count(0)
