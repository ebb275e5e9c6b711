"""Paging, status filter, search and totals through 120 keys seeded through the services."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from meshkeys.services import key_commands
from meshkeys.services.context import RequestInfo
from meshkeys.services.uow import UnitOfWork
from tests.e2e.support import (
    keys_url,
    make_team,
    new_context,
    sign_in,
)

COUNT = 120


@pytest.fixture(scope="module")
def seeded(app):
    """120 keys svc-000..svc-119 (newest last), every tenth revoked: 108 active, 12 revoked."""
    team = make_team("page")
    ids = {}
    with UnitOfWork(team.owner, request=RequestInfo("10.0.0.1")) as uow:
        for i in range(COUNT):
            key = key_commands.generate_key(uow, project_id=team.project_id, name=f"svc-{i:03d}")
            ids[key.name] = str(key.id)
        for i in range(0, COUNT, 10):
            key_commands.revoke_key(uow, key_id=uuid.UUID(ids[f"svc-{i:03d}"]), reason="retired")
    return team, ids


@pytest.fixture
def page(browser, app, seeded):
    context = new_context(browser, app)
    page = context.new_page()
    sign_in(page, seeded[0].owner.email)
    yield page
    context.close()


def names(page: Page) -> list[str]:
    return [n.strip() for n in page.get_by_role("rowheader").all_inner_texts()]


def expect_page(page: Page, first: str, count: int, showing: str) -> None:
    expect(page.get_by_role("rowheader")).to_have_count(count)
    expect(page.get_by_role("rowheader").first).to_have_text(first)
    expect(page.get_by_text(re.compile(r"^Showing "))).to_have_text(showing)


def test_next_and_previous_walk_the_pages(page: Page, seeded):
    team, _ = seeded
    expect(page).to_have_url(re.compile(keys_url(team.project_id)))
    expect_page(page, "svc-119", 50, "Showing 1–50 of 120 keys")
    assert names(page) == [f"svc-{i:03d}" for i in range(119, 69, -1)]
    previous = page.get_by_role("button", name="Previous")
    following = page.get_by_role("button", name="Next")
    expect(previous).to_be_disabled()

    following.click()
    expect_page(page, "svc-069", 50, "Showing 51–100 of 120 keys")
    expect(page.get_by_text("Page 2", exact=True)).to_be_visible()
    following.click()
    expect_page(page, "svc-019", 20, "Showing 101–120 of 120 keys")
    assert names(page)[-1] == "svc-000"
    expect(following).to_be_disabled()

    previous.click()
    expect_page(page, "svc-069", 50, "Showing 51–100 of 120 keys")
    previous.click()
    expect_page(page, "svc-119", 50, "Showing 1–50 of 120 keys")
    expect(previous).to_be_disabled()


def test_totals_come_from_the_database(page: Page):
    expect(page.get_by_label("Active keys")).to_contain_text("108")
    expect(page.get_by_label("Revoked keys")).to_contain_text("12")
    expect(page.get_by_label("Expiring keys")).to_contain_text("0")
    expect(page.get_by_label("Total keys")).to_contain_text("120")
    # 108 active keys: more than sign a webhook, and the page says so.
    expect(page.get_by_role("status").filter(has_text="newest active keys")).to_contain_text(
        "Only the 20 newest active keys sign and verify webhooks"
    )


def test_status_filter(page: Page):
    page.get_by_label("Status filter").click()
    page.get_by_role("option", name="revoked").click()
    expect_page(page, "svc-110", 12, "Showing 1–12 of 12 matching keys")
    assert names(page) == [f"svc-{i:03d}" for i in range(110, -1, -10)]
    expect(page.get_by_label("status revoked")).to_have_count(12)
    expect(page.get_by_role("button", name="Next")).to_be_disabled()

    page.get_by_label("Status filter").click()
    page.get_by_role("option", name="active").click()
    expect_page(page, "svc-119", 50, "Showing 1–50 of 108 matching keys")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    expect_page(page, "svc-008", 8, "Showing 101–108 of 108 matching keys")
    assert names(page) == [f"svc-{i:03d}" for i in range(8, 0, -1)]


def test_search_by_name_and_by_id_prefix(page: Page, seeded):
    _, ids = seeded
    page.get_by_label("Search keys").fill("svc-11")
    page.get_by_role("button", name="Search").click()
    # Search results come in name order (the order of the index that finds them).
    expect_page(page, "svc-110", 10, "Showing 1–10 of 10 matching keys")

    page.get_by_label("Search keys").fill(ids["svc-042"][:8])
    page.get_by_role("button", name="Search").click()
    expect_page(page, "svc-042", 1, "Showing 1–1 of 1 matching keys")

    page.get_by_label("Search keys").fill("no-such-key")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("No key matches")).to_be_visible()
    page.get_by_role("button", name="Clear filters").first.click()
    expect_page(page, "svc-119", 50, "Showing 1–50 of 120 keys")
