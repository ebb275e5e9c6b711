"""/projects (create, members and roles), /settings/tokens (create shown once, list, revoke), and
dark mode, in Chromium.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from meshkeys.models import ApiToken, Membership, Project
from meshkeys.services import auth
from meshkeys.services.errors import Unauthenticated
from tests.e2e.support import (
    goto,
    make_team,
    make_user,
    new_context,
    services_session,
    sign_in,
)
from tests.helpers import call


@pytest.fixture(scope="module")
def team(app):
    team = make_team("org")
    make_user("newcomer@example.com")
    return team


@pytest.fixture
def page(browser, app, team):
    context = new_context(browser, app, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_in(page, team.owner.email)
    yield page
    context.close()


def role_in(project_id, email: str) -> str | None:
    with services_session() as s:
        user = call(auth.find_user, email=email)
        member = s.get(Membership, (project_id, user.id))
        return member.role if member else None


def test_create_a_project_and_manage_its_members(page: Page, team):
    goto(page, "/projects")
    page.get_by_role("button", name="New project").click()
    page.get_by_label("Name").fill("Billing")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_text("Project 'Billing' created")).to_be_visible()
    billing = page.get_by_role("row", name="Billing")
    expect(billing).to_contain_text("owner")
    # A second "billing" would read the same in the switcher: refused (issue 9, defect 11).
    page.get_by_role("button", name="New project").click()
    page.get_by_label("Name").fill("billing")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_text("You already have a project named 'billing'")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("row", name="Billing")).to_have_count(1)

    billing.get_by_role("button", name="Members").click()
    expect(page.get_by_role("heading", name="Members of Billing")).to_be_visible()
    hint = page.get_by_text("Someone with a meshkeys account is added at once")
    expect(hint).to_be_visible()
    assert "`" not in hint.inner_text()  # plain words, not markdown shown as is
    page.get_by_label("Member email").fill("newcomer@example.com")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("newcomer@example.com added as viewer.")).to_be_visible()
    with services_session() as s:
        billing_id = s.exec(select(Project.id).where(Project.name == "Billing")).one()
    assert role_in(billing_id, "newcomer@example.com") == "viewer"

    page.get_by_label("Role of newcomer@example.com").click()
    page.get_by_role("option", name="admin").click()
    expect(page.get_by_text("newcomer@example.com is now admin.")).to_be_visible()
    assert role_in(billing_id, "newcomer@example.com") == "admin"

    # The last owner cannot step down: the service says why, the select shows the truth.
    page.get_by_label(f"Role of {team.owner.email}").click()
    page.get_by_role("option", name="viewer").click()
    expect(page.get_by_text("A project needs at least one owner")).to_be_visible()
    expect(page.get_by_label(f"Role of {team.owner.email}")).to_contain_text("owner")
    assert role_in(billing_id, team.owner.email) == "owner"

    page.get_by_role("row", name="newcomer@example.com").get_by_role(
        "button", name="Remove"
    ).click()
    page.get_by_role("button", name="Remove member").click()
    expect(page.get_by_text("newcomer@example.com removed from Billing.")).to_be_visible()
    expect(page.get_by_role("row", name="newcomer@example.com")).to_have_count(0)
    assert role_in(billing_id, "newcomer@example.com") is None


def test_viewer_cannot_manage_members(browser, app, team):
    context = new_context(browser, app)
    page = context.new_page()
    sign_in(page, team.viewer.email)
    goto(page, "/projects")
    page.get_by_role("row", name="org payments").get_by_role("button", name="Members").click()
    expect(page.get_by_text("Only owners can add, change or remove members.")).to_be_visible()
    expect(page.get_by_role("button", name="Add member")).to_have_count(0)
    expect(page.get_by_role("button", name="Remove")).to_have_count(0)
    context.close()


def test_api_token_is_shown_once_listed_and_revoked(page: Page, team):
    goto(page, "/settings/tokens")
    expect(page.get_by_text("No API tokens yet")).to_be_visible()
    page.get_by_role("button", name="Create token").click()
    page.get_by_label("Name").fill("ci-deploy")
    page.get_by_role("button", name="Create", exact=True).dblclick()  # acts once
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("it will not be shown again")
    expect(dialog).to_contain_text("shows its first 7 characters")
    expect(dialog).not_to_contain_text("last 4")
    token = dialog.locator("#shown-secret").inner_text().strip()
    assert token.startswith("mk_")
    with services_session() as s:
        assert call(auth.actor_for_api_token, token=token).email == team.owner.email
        stored = s.exec(select(ApiToken.token_hash)).all()
        assert token not in stored  # only its hash
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == token
    page.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_contain_text("Have you copied the token?")
    page.get_by_role("button", name="Close anyway").click()
    assert token not in page.content()

    row = page.get_by_role("row", name="ci-deploy")
    expect(row).to_have_count(1)  # the double-click made one token
    expect(row).to_contain_text(token[:7])
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("button", name="Revoke token").dblclick()
    expect(page.get_by_text("Token 'ci-deploy' revoked")).to_be_visible()
    page.wait_for_timeout(1000)  # the second click's answer, if there were one, has arrived
    expect(page.get_by_text("Pick a token from the list")).to_have_count(0)
    expect(row).to_contain_text("revoked")
    with services_session() as s, pytest.raises(Unauthenticated):
        call(auth.actor_for_api_token, token=token)


def test_a_scoped_token_is_created_by_project_permissions_and_expiry_and_listed(page: Page, team):
    goto(page, "/settings/tokens")
    page.get_by_role("button", name="Create token").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("webhook-sender")
    dialog.get_by_role("combobox", name="Project").click()
    page.get_by_role("option", name="org payments").click()
    for name in ("keys:read", "keys:write", "webhooks:verify", "audit:read", "members:write"):
        box = dialog.get_by_role("checkbox", name=name)
        expect(box).to_be_checked()  # an owner's token may have every permission
        box.click()
    expect(dialog.get_by_role("checkbox", name="webhooks:sign")).to_be_checked()
    dialog.get_by_role("combobox", name="Expires").click()
    page.get_by_role("option", name="30 days").click()
    dialog.get_by_role("button", name="Create", exact=True).click()
    token = page.locator("#shown-secret").inner_text().strip()
    page.get_by_role("button", name="Close", exact=True).click()
    page.get_by_role("button", name="Close anyway").click()

    actor = call(auth.actor_for_api_token, token=token)
    assert actor.scope is not None and actor.scope.project_id == team.project_id
    assert actor.scope.permissions == {"webhooks:sign"}
    row = page.get_by_role("row", name="webhook-sender")
    expect(row).to_contain_text("org payments")
    expect(row).to_contain_text("webhooks:sign")
    expect(row).not_to_contain_text("keys:read")
    with services_session() as s:
        stored = s.exec(select(ApiToken).where(ApiToken.name == "webhook-sender")).one()
    assert stored.expires_at is not None
    expect(row).to_contain_text(f"{stored.expires_at:%Y-%m-%d %H:%M}")
    expect(row).to_contain_text("active")


def test_dark_mode_toggle(page: Page):
    html = page.locator("html")
    before = html.get_attribute("class") or ""
    page.get_by_role("button", name="Toggle dark mode").click()
    expected = "light" if "dark" in before else "dark"
    expect(html).to_have_class(re.compile(rf"\b{expected}\b"))
