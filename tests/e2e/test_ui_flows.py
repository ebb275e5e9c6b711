"""Issue 9: the audit filters (defect 7), views in the URL, confirmations where a mistake costs,
and sign-in returning to the page (with its query) that was asked for."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from meshkeys.crypto.secrets import hash_token
from meshkeys.models import Invite
from meshkeys.services import history, key_commands, key_queries, projects
from meshkeys.services.uow import UnitOfWork
from tests.e2e.apprunner import wait_for_hydration
from tests.e2e.support import (
    PASSWORD,
    audit_url,
    goto,
    keys_url,
    make_team,
    new_context,
    services_session,
    sign_in,
)
from tests.helpers import call


@pytest.fixture(scope="module")
def team(app):
    team = make_team("flows")
    for name in ("alpha", "beta"):
        key = call(key_commands.generate_key, team.owner, project_id=team.project_id, name=name)
        call(key_commands.revoke_key, team.owner, key_id=key.id, reason="retired")
        team.__dict__.setdefault("keys", {})[name] = key
    return team


@pytest.fixture
def page(browser, app):
    context = new_context(browser, app, viewport={"width": 1360, "height": 860})
    yield context.new_page()
    context.close()


def expect_query(page: Page, expected: dict[str, list[str]]) -> None:
    """Wait until the address bar's query is ``expected`` (pushState follows the rows)."""
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query) == expected, timeout=5000)


def rowheaders(page: Page):
    return page.get_by_role("table").get_by_role("rowheader")


def test_audit_filters_apply_together_and_bad_ones_clear_the_table(page: Page, team):
    alpha = team.keys["alpha"]
    sign_in(page, team.owner.email)
    goto(page, audit_url(team.project_id))
    everything = len(call(history.list_events, team.owner, project_id=team.project_id).items)
    expect(rowheaders(page)).to_have_count(everything)

    # Every filter waits for "Apply filters" (or Enter): choosing an action alone changes nothing.
    page.get_by_label("Action filter").click()
    page.get_by_role("option", name="key.revoked", exact=True).click()
    page.wait_for_timeout(500)
    expect(rowheaders(page)).to_have_count(everything)
    page.get_by_role("button", name="Apply filters").click()
    expect(rowheaders(page)).to_have_text(["key.revoked"] * 2)
    # The short id the table shows is a key filter; Enter in a field applies all of them.
    page.get_by_label("Key filter").fill(str(alpha.id)[:8])
    page.get_by_label("Key filter").press("Enter")
    expect(rowheaders(page)).to_have_text(["key.revoked"])
    expect(page.get_by_role("table")).to_contain_text("alpha")
    expect_query(page, {"action": ["key.revoked"], "key": [str(alpha.id)[:8]]})

    # An invalid key id: no rows left on screen as if they were the answer; the label's word.
    page.get_by_label("Key filter").fill("not-a-key")
    page.get_by_role("button", name="Apply filters").click()
    alert = page.get_by_role("alert").filter(has_text="short id")
    expect(alert).to_contain_text("Key:")
    expect(page.get_by_role("table")).to_have_count(0)

    # Reversed dates: the same, in the labels' words (From, To), never the API's.
    page.get_by_label("Key filter").fill("")
    page.get_by_label("From date").fill("2026-02-01")
    page.get_by_label("To date").fill("2026-01-01")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("alert").filter(has_text="From is after To")).to_be_visible()
    expect(page.get_by_text("'since'")).to_have_count(0)
    expect(page.get_by_role("table")).to_have_count(0)

    # The full id works too; Clear shows every event again.
    page.get_by_label("From date").fill("")
    page.get_by_label("To date").fill("")
    page.get_by_label("Key filter").fill(str(alpha.id))
    page.get_by_role("button", name="Apply filters").click()
    expect(rowheaders(page)).to_have_text(["key.revoked"])
    page.get_by_role("button", name="Clear").click()
    expect(rowheaders(page)).to_have_count(everything)
    expect(page.get_by_role("alert").filter(has_text="Key:")).to_have_count(0)


def test_closing_the_secret_dialog_asks_whether_it_was_copied(page: Page, team):
    sign_in(page, team.owner.email)
    goto(page, keys_url(team.project_id))
    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill("gamma")
    page.get_by_role("button", name="Generate", exact=True).click()
    dialog = page.get_by_role("dialog")
    secret = dialog.locator("#shown-secret").inner_text().strip()
    assert secret.startswith("whsec_")

    page.get_by_role("button", name="Close", exact=True).click()
    question = dialog.get_by_role("alertdialog", name="Close the secret?")
    # Honest: the secret is not shown in full here again, but an owner or admin can reveal it.
    expect(question).to_contain_text("Have you copied the secret?")
    expect(question).to_contain_text("owners and admins can reveal it later")
    question.get_by_role("button", name="Go back").click()
    expect(question).to_have_count(0)
    expect(dialog).to_contain_text(secret)  # still there to copy

    page.get_by_role("button", name="Close", exact=True).click()
    page.get_by_role("button", name="Close anyway").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert secret not in page.content()


def test_revoking_as_compromised_warns_that_it_cannot_be_undone(page: Page, team):
    call(key_commands.generate_key, team.owner, project_id=team.project_id, name="delta")
    sign_in(page, team.owner.email)
    goto(page, keys_url(team.project_id))
    row = page.get_by_role("row", name="delta", exact=True)
    row.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("alert", name="Cannot be undone")).to_have_count(0)
    dialog.get_by_label("Reason").click()
    page.get_by_role("option", name="compromised", exact=True).click()
    warning = dialog.get_by_role("alert", name="Cannot be undone")
    expect(warning).to_contain_text("This cannot be undone")
    expect(warning).to_contain_text("never be reactivated")
    # Shown before the confirm button.
    warning_box, button_box = (
        warning.bounding_box(),
        dialog.get_by_role("button", name="Revoke key").bounding_box(),
    )
    assert warning_box and button_box and warning_box["y"] < button_box["y"]
    dialog.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("Key 'delta' revoked (compromised)")).to_be_visible()
    expect(page.get_by_role("row", name="delta", exact=True)).to_contain_text("(compromised)")


@pytest.fixture(scope="module")
def bulk(team):
    """A second project of the owner's with 55 keys bulk-00..bulk-54 (newest last): two pages."""
    project = call(projects.create_project, team.owner, name="flows bulk")
    with UnitOfWork(team.owner) as uow:
        for i in range(55):
            key_commands.generate_key(uow, project_id=project.id, name=f"bulk-{i:02d}")
    return project.id


def first_names(page: Page) -> Locator:
    return page.get_by_role("rowheader").first


def test_the_keys_view_lives_in_the_url(page: Page, team, bulk):
    sign_in(page, team.owner.email)
    goto(page, keys_url(bulk))
    expect(first_names(page)).to_have_text("bulk-54")
    page.get_by_role("button", name="Next").click()
    expect(first_names(page)).to_have_text("bulk-04")
    expect(page).to_have_url(re.compile(r"\?cursor=[^&]+&page=2$"))
    assert "whsec_" not in page.url and "bulk" not in page.url  # an opaque keyset cursor

    # Reload: the same page; the browser's Back: the first page; Forward: page 2 again.
    page.reload()
    wait_for_hydration(page)
    expect(first_names(page)).to_have_text("bulk-04")
    expect(page.get_by_text("Page 2", exact=True)).to_be_visible()
    page.go_back()
    expect(first_names(page)).to_have_text("bulk-54")
    expect(page.get_by_text("Page 1", exact=True)).to_be_visible()
    page.go_forward()
    expect(first_names(page)).to_have_text("bulk-04")
    page.get_by_role("button", name="Previous").click()
    expect(first_names(page)).to_have_text("bulk-54")
    expect(page).to_have_url(re.compile(keys_url(bulk) + "$"))
    # A key generated on page 2 shows on the first page, and the address says so.
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"&page=2$"))
    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill("bulk-new")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.get_by_role("button", name="Close", exact=True).click()
    page.get_by_role("button", name="Close anyway").click()
    expect(first_names(page)).to_have_text("bulk-new")
    expect(page).to_have_url(re.compile(keys_url(bulk) + "$"))

    # Status filter and search: in the URL, kept by a reload, undone by Back.
    goto(page, keys_url(team.project_id))
    revoked = call(
        key_queries.list_keys, team.owner, project_id=team.project_id, status="revoked"
    ).items
    assert {"alpha", "beta"} <= {k.name for k in revoked}
    page.get_by_label("Status filter").click()
    page.get_by_role("option", name="revoked").click()
    expect(page.get_by_role("rowheader")).to_have_text([k.name for k in revoked])
    page.get_by_label("Search keys").fill("alp")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("rowheader")).to_have_text(["alpha"])
    expect_query(page, {"status": ["revoked"], "q": ["alp"]})
    page.reload()
    wait_for_hydration(page)
    expect(page.get_by_role("rowheader")).to_have_text(["alpha"])
    expect(page.get_by_label("Search keys")).to_have_value("alp")
    expect(page.get_by_label("Status filter")).to_have_text("revoked")
    page.go_back()
    expect(page.get_by_role("rowheader")).to_have_text([k.name for k in revoked])
    expect(page.get_by_label("Search keys")).to_have_value("")


def test_a_search_that_cannot_run_says_what_to_fix_and_keeps_the_totals(page: Page, team):
    """Found trying wrong input by hand: a tab in the search (pasted, or in a shared link)
    showed "No key matches", every total 0 and the service's words. Now the page says what
    to do with its own labels, the totals are the project's, and Clear filters recovers."""
    sign_in(page, team.owner.email)
    total = call(key_queries.list_keys, team.owner, project_id=team.project_id).total
    goto(page, keys_url(team.project_id) + "?q=al%09pha")
    expect(page.get_by_role("alert", name="Search error")).to_contain_text(
        "Search: the text has a tab, a line break or another control character."
    )
    expect(page.get_by_label("Total keys")).to_contain_text(str(total))
    expect(page.get_by_role("table")).to_have_count(0)
    expect(page.get_by_text("No key matches")).to_have_count(0)
    page.get_by_role("button", name="Clear filters").click()
    expect(page.get_by_role("alert", name="Search error")).to_have_count(0)
    expect(rowheaders(page)).to_have_count(total)


def test_the_audit_view_lives_in_the_url(page: Page, team):
    alpha = team.keys["alpha"]
    sign_in(page, team.owner.email)
    goto(page, audit_url(team.project_id) + f"?key={str(alpha.id)[:8]}&action=key.revoked")
    expect(rowheaders(page)).to_have_text(["key.revoked"])
    expect(page.get_by_label("Key filter")).to_have_value(str(alpha.id)[:8])
    expect(page.get_by_label("Action filter")).to_have_text("key.revoked")

    page.get_by_label("Key filter").fill("")
    page.get_by_label("From date").fill("2020-01-01")
    page.get_by_label("To date").fill("2020-01-31")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No events match")).to_be_visible()
    expect_query(
        page,
        {
            "action": ["key.revoked"],
            "from": ["2020-01-01"],
            "to": ["2020-01-31"],
        },
    )
    page.reload()
    wait_for_hydration(page)
    expect(page.get_by_text("No events match")).to_be_visible()
    expect(page.get_by_label("From date")).to_have_value("2020-01-01")
    page.go_back()
    expect(rowheaders(page)).to_have_text(["key.revoked"])
    expect(page.get_by_label("From date")).to_have_value("")

    # A cursor that is no cursor: said so, and no rows.
    goto(page, audit_url(team.project_id) + "?cursor=bm90LWEtY3Vyc29y&page=3")
    expect(page.get_by_role("alert").filter(has_text="page link is not valid")).to_be_visible()
    expect(page.get_by_role("table")).to_have_count(0)


def test_sign_in_returns_to_the_view_asked_for_with_its_query(browser, app, team):
    context = new_context(browser, app)
    page = context.new_page()
    asked = keys_url(team.project_id) + "?status=revoked&q=alp"
    page.goto(asked)
    page.wait_for_url(re.compile(r"/login\?next="))
    wait_for_hydration(page)
    page.get_by_label("Email").fill(team.owner.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(asked) + "$"))
    wait_for_hydration(page)
    expect(page.get_by_role("rowheader")).to_have_text(["alpha"])
    context.close()


def test_an_owner_invites_by_email_and_the_link_signs_the_invitee_in(browser, app, page, team):
    """Issue 9, item 4: an email without an account gets a one-time link; opened in another
    browser, it sets a password and lands signed in, in the project, with the invited role;
    the same link is then refused."""
    sign_in(page, team.owner.email)
    goto(page, "/projects")
    page.get_by_role("row", name="flows payments").get_by_role("button", name="Members").click()
    page.get_by_label("Member email").fill("Invitee@Example.com")
    page.get_by_label("New member role").click()
    page.get_by_role("option", name="admin").click()
    page.get_by_role("button", name="Add member").click()
    offer = page.get_by_role("status", name="Invite by link")
    expect(offer).to_contain_text("No account uses invitee@example.com yet")
    offer.get_by_role("button", name="Create invite link").dblclick()  # makes one link
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Invite link for invitee@example.com")
    expect(dialog).to_contain_text("It works once, for 7 days")
    link = dialog.locator("#shown-secret").inner_text().strip()
    assert re.fullmatch(re.escape(page.url.split("/projects")[0]) + r"/invite/mki_[\w-]{43}", link)
    page.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_contain_text("Have you copied the link?")
    page.get_by_role("button", name="Close anyway").click()
    assert link not in page.content()
    expect(page.get_by_label("Pending invites")).to_contain_text("invitee@example.com · admin")
    with services_session() as s:
        rows = s.exec(select(Invite).where(Invite.email == "invitee@example.com")).all()
    assert len(rows) == 1 and rows[0].token_hash == hash_token(link.rsplit("/", 1)[1])

    # Someone else's browser: the link, a password, and the project, signed in.
    guest = new_context(browser, app)
    visitor = guest.new_page()
    goto(visitor, link)
    expect(visitor.get_by_role("heading", name="Join flows payments")).to_be_visible()
    expect(visitor.get_by_text("invitee@example.com")).to_be_visible()
    visitor.get_by_label("Password").fill("invitee-password-1")
    visitor.get_by_role("button", name="Create account and join").click()
    visitor.wait_for_url(re.compile(keys_url(team.project_id) + "$"))
    wait_for_hydration(visitor)
    expect(visitor.get_by_role("heading", name="flows payments · Keys")).to_be_visible()
    expect(visitor.get_by_text("invitee@example.com")).to_be_visible()  # signed in as them
    expect(visitor.get_by_role("button", name="Generate key")).to_be_visible()  # admin

    # The link is used up: a clear page, not a form.
    other = new_context(browser, app).new_page()
    goto(other, link)
    expect(other.get_by_role("heading", name="This invite link cannot be used")).to_be_visible()
    expect(other.get_by_role("alert")).to_contain_text("already used")
    goto(other, "/invite/mki_" + "x" * 43)
    expect(other.get_by_role("alert")).to_contain_text("not valid")
    other.context.close()
    guest.close()
