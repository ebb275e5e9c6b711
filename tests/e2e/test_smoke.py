"""Smoke test: the real app starts and its index page renders and hydrates in Chromium.

A placeholder until the keys page test replaces it.
"""

import re

from playwright.sync_api import Page, expect

from tests.e2e.apprunner import wait_for_hydration


def test_index_page_renders_and_hydrates(page: Page):
    page.goto("/")
    expect(page).to_have_title(re.compile("meshkeys"))
    expect(page.get_by_text("meshkeys").first).to_be_visible()
    wait_for_hydration(page)
