"""Issue 9, defect 10: an address that is no page answers inside the layout, with a way back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import goto, make_team, new_context, sign_in


@pytest.fixture
def page(browser, app):
    context = new_context(browser, app)
    yield context.new_page()
    context.close()


def test_an_unknown_address_shows_the_layout_and_a_way_back(page: Page):
    team = make_team("lost")
    sign_in(page, team.owner.email)
    goto(page, "/no/such/page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_text("There is no page at this address")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # the layout is there
    page.get_by_role("link", name="Go to your projects").click()
    page.wait_for_url("**/projects")
    expect(page.get_by_role("heading", name="Projects")).to_be_visible()


def test_a_signed_out_visitor_is_offered_the_sign_in(page: Page):
    goto(page, "/no/such/page")
    expect(page.get_by_text("Page not found")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url("**/login")
