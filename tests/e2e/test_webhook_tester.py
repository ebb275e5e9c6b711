"""Issue 9, item 3: the webhook tester. Sign a payload (headers and a copyable curl), paste the
headers into Verify: verified by the key; tampered: no key matches, with the keys tried; an old
timestamp: too old by N seconds. A viewer can verify but not sign."""

from __future__ import annotations

import re
import shlex
import time

import pytest
from playwright.sync_api import Page, expect

from meshkeys.services import key_commands, signing
from tests.e2e.support import goto, keys_url, make_team, new_context, sign_in
from tests.e2e.test_key_lifecycle import screenshot
from tests.helpers import call

PAYLOAD = '{"note": "it\'s $HOME `here`"}'


@pytest.fixture(scope="module")
def team(app):
    team = make_team("hook")
    team.old = call(key_commands.generate_key, team.owner, project_id=team.project_id, name="old")
    team.new = call(key_commands.generate_key, team.owner, project_id=team.project_id, name="new")
    return team


@pytest.fixture
def page(browser, app):
    context = new_context(
        browser,
        app,
        permissions=["clipboard-read", "clipboard-write"],
        viewport={"width": 1366, "height": 900},
    )
    yield context.new_page()
    context.close()


def webhooks_url(team) -> str:
    return f"/projects/{team.project_id}/webhooks"


def sign(page: Page, payload: str, timestamp: str = "") -> str:
    """Sign ``payload`` in the form; the headers as copied by "Copy headers"."""
    page.get_by_label("Payload", exact=True).fill(payload)
    page.get_by_label("Timestamp (optional)").fill(timestamp)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_label("Signed headers")).to_contain_text("webhook-signature")
    page.get_by_role("button", name="Copy headers").click()
    return page.evaluate("navigator.clipboard.readText()")


def verify(page: Page, headers: str, payload: str):
    page.get_by_label("Received headers").fill(headers)
    page.get_by_label("Received payload").fill(payload)
    page.get_by_role("button", name="Verify", exact=True).click()
    return page.get_by_role("status", name="Verification result")


def test_sign_then_verify_tamper_and_an_old_timestamp(page: Page, team, tmp_path):
    sign_in(page, team.owner.email)
    goto(page, keys_url(team.project_id))
    page.get_by_role("link", name="Webhook tester").click()
    page.wait_for_url(f"**{webhooks_url(team)}")
    expect(page.get_by_role("heading", name="hook payments · Webhook tester")).to_be_visible()

    headers = sign(page, PAYLOAD)
    lines = dict(line.split(": ", 1) for line in headers.splitlines())
    assert list(lines) == ["webhook-id", "webhook-timestamp", "webhook-signature"]
    assert len(lines["webhook-signature"].split()) == 2  # both active keys sign
    # The curl sends the payload exactly, single quotes and all, to the URL field's address.
    page.get_by_role("button", name="Copy curl").click()
    curl = page.evaluate("navigator.clipboard.readText()")
    expect(page.get_by_label("curl command")).to_have_text(curl)
    args = shlex.split(curl)
    assert args[:4] == ["curl", "-X", "POST", "https://example.com/webhook"]
    assert args[-2:] == ["--data-binary", PAYLOAD]
    assert f"webhook-signature: {lines['webhook-signature']}" in args

    result = verify(page, headers, PAYLOAD)
    expect(result).to_contain_text(f"Verified by key new ({str(team.new.id)[:8]}).")
    result.get_by_role("link", name=str(team.new.id)[:8]).click()
    page.wait_for_url(f"**{keys_url(team.project_id)}/{team.new.id}")
    expect(page.get_by_role("heading", name="Key new")).to_be_visible()

    goto(page, webhooks_url(team))
    result = verify(page, headers, PAYLOAD + " ")
    expect(result).to_contain_text("No key matches")
    tried = result.get_by_label("Keys tried")
    expect(tried.get_by_role("listitem")).to_have_count(2)
    for key in (team.new, team.old):
        expect(tried).to_contain_text(key.name)
        expect(tried.get_by_role("link", name=str(key.id)[:8])).to_be_visible()
    if not page.get_by_label("curl command").count():  # signed again for the screenshot
        sign(page, PAYLOAD)
    screenshot(page, "screenshot-webhook-tester.png", tmp_path)

    old = sign(page, PAYLOAD, timestamp=str(int(time.time()) - 3600))
    result = verify(page, old, PAYLOAD)
    expect(result).to_contain_text(re.compile(r"too old by 33\d\d seconds"))

    result = verify(page, f"webhook-id: msg_1\nwebhook-timestamp: {int(time.time())}", PAYLOAD)
    expect(result).to_contain_text("webhook-signature header is missing")
    expect(result.get_by_label("Keys tried")).to_have_count(0)  # no key was tried
    result = verify(page, "webhook-id msg_1", PAYLOAD)
    expect(result).to_contain_text("Line 1 of the headers is not 'Name: value'")
    # Headers, payloads and key names reach the page; a secret never does.
    html = page.content()
    assert team.new.secret not in html and team.old.secret not in html


def test_a_viewer_verifies_but_cannot_sign(page: Page, team):
    headers = call(
        signing.sign_payload, team.owner, project_id=team.project_id, payload=PAYLOAD.encode()
    )
    sign_in(page, team.viewer.email)
    goto(page, webhooks_url(team))
    expect(page.get_by_label("Why signing is off")).to_contain_text("Viewers can't sign")
    expect(page.get_by_role("button", name="Sign", exact=True)).to_be_disabled()
    pasted = "\n".join(f"{name}: {value}" for name, value in headers.items())
    result = verify(page, pasted, PAYLOAD)
    expect(result).to_contain_text(f"Verified by key new ({str(team.new.id)[:8]}).")
