"""ed25519 keys in Chromium: generate one from the dialog's type choice, see and copy its public
key in the keys table, then publish the project's public keys from /projects and fetch them
without signing in."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from meshkeys.models import Project, SignatureKey
from meshkeys.services import keys
from tests.e2e.support import goto, keys_url, make_team, new_context, services_session, sign_in


@pytest.fixture(scope="module")
def team(app):
    return make_team("edkeys")


@pytest.fixture
def page(browser, app):
    context = new_context(
        browser,
        app,
        permissions=["clipboard-read", "clipboard-write"],
        viewport={"width": 1360, "height": 860},
    )
    yield context.new_page()
    context.close()


def stored(name: str) -> SignatureKey:
    with services_session() as s:
        return s.exec(select(SignatureKey).where(SignatureKey.name == name)).one()


def test_generate_an_ed25519_key_copy_its_public_key_and_publish_it(page: Page, team, app):
    sign_in(page, team.owner.email)
    goto(page, keys_url(team.project_id))
    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill("edge")
    type_choice = page.get_by_label("Key type")
    expect(type_choice).to_contain_text("HMAC-SHA256")  # the default
    type_choice.click()
    page.get_by_role("option", name="Ed25519 (v1a): receivers get only a public key").click()
    page.get_by_role("button", name="Generate", exact=True).click()

    dialog = page.get_by_role("dialog")
    secret = dialog.locator("#shown-secret").inner_text().strip()
    assert secret.startswith("whsk_") and len(secret) == len("whsk_") + 44
    row = stored("edge")
    assert row.key_type == "ed25519" and keys.decrypt_secret(row) == secret
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("dialog")).to_have_count(0)

    # The public key is shown (it is not a secret) and copied; the seed is only masked.
    table_row = page.get_by_role("row", name="edge", exact=True)
    expect(table_row).to_contain_text("whsk_…" + secret[-4:])
    shown = table_row.get_by_label("Public key of edge", exact=True)
    expect(shown).to_have_text(row.public_key)
    table_row.get_by_role("button", name="Copy public key of edge").click()
    expect(page.get_by_text("Public key copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == row.public_key
    assert secret not in page.content()

    # Unpublished: the endpoint needs a token. The owner publishes it on /projects.
    url = f"{app.url}/projects/{team.project_id}/public-keys"
    assert page.request.get(url).status == 401
    goto(page, "/projects")
    page.get_by_role("row", name="edkeys payments").get_by_role("button", name="Members").click()
    switch = page.get_by_role("switch", name="Publish public keys")
    expect(switch).to_be_enabled()
    expect(page.get_by_label("Public keys state")).to_have_text("not published")
    switch.click()
    expect(page.get_by_text("Public keys published")).to_be_visible()
    expect(page.get_by_label("Public keys state")).to_have_text("published")
    with services_session() as s:
        assert s.get(Project, team.project_id).publish_public_keys is True
    answer = page.request.get(url, headers={"Cookie": ""})
    assert answer.status == 200 and answer.headers["cache-control"] == "public, max-age=60"
    assert [k["public_key"] for k in answer.json()["keys"]] == [row.public_key]


def test_a_viewer_sees_the_public_key_but_cannot_publish(browser, app, team):
    context = new_context(browser, app)
    page = context.new_page()
    try:
        sign_in(page, team.viewer.email)
        goto(page, keys_url(team.project_id))
        expect(page.get_by_label("Public key of edge", exact=True)).to_have_text(
            stored("edge").public_key
        )
        goto(page, "/projects")
        page.get_by_role("row", name="edkeys payments").get_by_role(
            "button", name="Members"
        ).click()
        expect(page.get_by_role("switch", name="Publish public keys")).to_be_disabled()
        expect(page.get_by_text("Only owners can change this.")).to_be_visible()
    finally:
        context.close()
