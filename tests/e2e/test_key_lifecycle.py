"""The whole key lifecycle in Chromium: generate (secret shown once, copied, downloaded), revoke
with confirm, reactivate, rotate, reveal; then the audit page lists every event, exports them as
CSV, and both pages render as screenshots. Then ed25519 keys: generated from the
dialog's type choice, the public key seen and copied, published from /projects.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from meshkeys.models import AuditEvent, Project, SignatureKey
from meshkeys.services import history, key_commands, key_queries, keys
from tests.e2e.support import (
    audit_url,
    goto,
    keys_url,
    make_team,
    new_context,
    services_session,
    sign_in,
)
from tests.helpers import call


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    """The page renders as a picture (the README's are made by scripts/screenshots.py)."""
    path = tmp_path / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


@pytest.fixture(scope="module")
def team(app):
    return make_team("life")


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


def key_row(page: Page, name: str, status: str) -> Locator:
    return page.get_by_role("row", name=name, exact=True).filter(
        has=page.get_by_label(f"status {status}", exact=True)
    )


def read_secret_dialog(page: Page) -> str:
    dialog = page.get_by_role("dialog")
    # Honest words: a key's secret can be revealed again (audited); only the list masks it.
    expect(dialog).to_contain_text("an owner or admin can reveal it again")
    expect(dialog).not_to_contain_text("not be shown again")
    expect(dialog).not_to_contain_text("only time")
    secret = dialog.locator("#shown-secret").inner_text().strip()
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 44
    return secret


def close_secret_dialog(page: Page, secret: str) -> None:
    # Escape and a click beside the dialog do not close it (issue 9, defect 8): only Close,
    # then "Close anyway".
    page.keyboard.press("Escape")
    page.mouse.click(5, 5)
    expect(page.get_by_role("dialog")).to_contain_text(secret)
    page.get_by_role("button", name="Close", exact=True).click()
    page.get_by_role("button", name="Close anyway").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    # Gone from the page: the value lived only in the dialog's client-side state.
    assert secret not in page.content()


def stored_secret(name: str, status: str = "active") -> str:
    with services_session() as s:
        row = s.exec(
            select(SignatureKey).where(SignatureKey.name == name, SignatureKey.status == status)
        ).one()
        return keys.decrypt_secret(row)


def test_generate_revoke_reactivate_rotate_reveal_then_audit(page: Page, team, tmp_path):
    sign_in(page, team.owner.email)
    expect(page.get_by_text("No signing keys yet")).to_be_visible()

    # Generate: the secret is shown once, copied and downloaded.
    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill("production")
    page.get_by_role("button", name="Generate", exact=True).click()
    secret = read_secret_dialog(page)
    assert secret == stored_secret("production")
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert Path(download.value.path()).read_text().strip() == secret
    close_secret_dialog(page, secret)

    row = key_row(page, "production", "active")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("whsec_…" + secret[-4:])
    expect(page.get_by_label("Active keys")).to_contain_text("1")

    # Revoke, with its confirm dialog (reason defaults to retired, immediate).
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("dialog")).to_contain_text("Revoke key production")
    expect(page.get_by_label("Reason")).to_contain_text("retired")
    page.get_by_role("button", name="Revoke key").click()
    expect(key_row(page, "production", "revoked")).to_have_count(1)
    expect(page.get_by_text("Key 'production' revoked (retired)")).to_be_visible()
    expect(page.get_by_label("Revoked keys")).to_contain_text("1")

    # Reactivate, confirmed.
    key_row(page, "production", "revoked").get_by_role("button", name="Reactivate").click()
    page.get_by_role("button", name="Reactivate key").click()
    expect(key_row(page, "production", "active")).to_have_count(1)
    expect(page.get_by_text("Key 'production' is active again.")).to_be_visible()

    # Rotate: a new key with a new secret; the old one keeps signing for 24 h ("expiring").
    key_row(page, "production", "active").get_by_role("button", name="Rotate").click()
    page.get_by_role("button", name="Rotate key").click()
    rotated = read_secret_dialog(page)
    assert rotated != secret and rotated == stored_secret("production", "active")
    close_secret_dialog(page, rotated)
    expect(key_row(page, "production", "expiring")).to_have_count(1)
    expect(key_row(page, "production", "expiring")).to_contain_text("expires")
    expect(key_row(page, "production", "active")).to_have_count(1)
    # The cards add up: a key in its grace period is expiring, not also active.
    for label, count in (("Active", 1), ("Expiring", 1), ("Revoked", 0), ("Total", 2)):
        expect(page.get_by_label(f"{label} keys")).to_have_text(f"{label}{count}")

    # Reveal the new key's secret again (owner), confirmed and audited.
    key_row(page, "production", "active").get_by_role("button", name="Reveal").click()
    page.get_by_role("button", name="Reveal secret").click()
    assert read_secret_dialog(page) == rotated
    close_secret_dialog(page, rotated)

    # A second key, for a fuller screenshot.
    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill("billing-webhooks")
    page.get_by_role("button", name="Generate", exact=True).click()
    close_secret_dialog(page, read_secret_dialog(page))
    expect(key_row(page, "billing-webhooks", "active")).to_have_count(1)
    screenshot(page, "screenshot-keys.png", tmp_path)

    # The audit page lists each event, newest first.
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url(f"**{audit_url(team.project_id)}*")
    table = page.get_by_role("table")
    expect(table.get_by_role("rowheader")).to_have_text(
        [
            "key.generated",
            "key.revealed",
            "key.generated",
            "key.rotated",
            "key.reactivated",
            "key.revoked",
            "key.generated",
            "member.added",
            "project.created",
        ]
    )
    revoked = table.get_by_role("row", name="key.revoked production")
    expect(revoked).to_contain_text(team.owner.email)
    expect(revoked).to_contain_text("active")
    expect(revoked).to_contain_text("revoked")
    expect(revoked).to_contain_text("127.0.0.1")
    expect(page.get_by_label("Actions per day")).to_be_visible()
    screenshot(page, "screenshot-audit.png", tmp_path)
    assert secret not in page.content() and rotated not in page.content()


def test_audit_filters_and_csv_export(page: Page, team):
    sign_in(page, team.owner.email)
    goto(page, audit_url(team.project_id))
    table = page.get_by_role("table")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert tuple(rows[0]) == history.CSV_COLUMNS
    exported = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    with services_session() as s:
        events = s.exec(
            select(AuditEvent)
            .where(AuditEvent.project_id == team.project_id)
            .order_by(AuditEvent.seq.desc())
        ).all()
    assert [e["action"] for e in exported] == [e.action for e in events]
    assert all(e["actor_email"] == team.owner.email for e in exported)
    assert not any("whsec_" in cell for r in rows for cell in r)

    # Filter by action: the table and the export hold only those events.
    page.get_by_label("Action filter").click()
    page.get_by_role("option", name="key.revoked", exact=True).click()
    page.get_by_role("button", name="Apply filters").click()
    expect(table.get_by_role("rowheader")).to_have_count(1)
    expect(table.get_by_role("rowheader")).to_have_text("key.revoked")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r[2] for r in rows[1:]] == ["key.revoked"]

    # Filter by key id and by actor; an unknown actor matches nothing.
    page.get_by_role("button", name="Clear").click()
    with services_session() as s:
        first = s.exec(select(SignatureKey).where(SignatureKey.name == "billing-webhooks")).one()
    page.get_by_label("Key filter").fill(str(first.id))
    page.get_by_role("button", name="Apply filters").click()
    expect(table.get_by_role("rowheader")).to_have_text(["key.generated"])
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Actor filter").fill("someone-else@example.com")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No events match")).to_be_visible()
    # A date range that ends before today matches nothing either.
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("From date").fill("2020-01-01")
    page.get_by_label("To date").fill("2020-01-31")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_text("No events match")).to_be_visible()


def test_keys_page_reachable_from_the_project_switcher(page: Page, team):
    sign_in(page, team.owner.email)
    goto(page, "/projects")
    page.get_by_role("button", name="Switch project").click()
    page.get_by_role("menuitem", name="life payments").click()
    page.wait_for_url(f"**{keys_url(team.project_id)}*")
    expect(page.get_by_role("heading", name="life payments · Keys")).to_be_visible()
    expect(page.get_by_label("Total keys")).to_be_visible()
    # A handful of active keys: no warning about the signing limit.
    expect(page.get_by_text("newest active keys sign and verify")).to_have_count(0)


def test_compromised_keys_offer_no_reactivate_and_a_refusal_closes_the_dialog(page: Page):
    """Issue 9, defect 5: the table shows why a key was revoked; a compromised key offers no
    Reactivate; a confirm dialog whose action is refused closes and shows the key as it is."""
    team = make_team("refusal")
    leaked = call(key_commands.generate_key, team.owner, project_id=team.project_id, name="leaked")
    call(key_commands.revoke_key, team.owner, key_id=leaked.id, reason="compromised")
    old = call(key_commands.generate_key, team.owner, project_id=team.project_id, name="old")
    call(key_commands.revoke_key, team.owner, key_id=old.id, reason="retired")
    sign_in(page, team.owner.email)
    goto(page, keys_url(team.project_id))

    leaked_row = key_row(page, "leaked", "revoked")
    expect(leaked_row).to_contain_text("(compromised)")
    expect(leaked_row.get_by_role("button", name="Reactivate")).to_have_count(0)
    old_row = key_row(page, "old", "revoked")
    expect(old_row).to_contain_text("(retired)")

    old_row.get_by_role("button", name="Reactivate").click()
    expect(page.get_by_role("dialog")).to_contain_text("Reactivate key old")
    call(key_commands.reactivate_key, team.owner, key_id=old.id)  # someone else, meanwhile
    page.get_by_role("button", name="Reactivate key").click()
    expect(page.get_by_text("Key 'old' is already active")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(key_row(page, "old", "active")).to_have_count(1)


def test_a_double_click_acts_once(page: Page):
    """Issue 9, defect 3: double-clicking Generate makes one key (and shows its secret);
    double-clicking "Revoke key" revokes once, with no "already revoked" after the success."""
    team = make_team("double")
    sign_in(page, team.owner.email)
    goto(page, keys_url(team.project_id))
    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill("twice")
    page.get_by_role("button", name="Generate", exact=True).dblclick()
    secret = read_secret_dialog(page)
    close_secret_dialog(page, secret)
    expect(key_row(page, "twice", "active")).to_have_count(1)
    listed = call(key_queries.list_keys, team.owner, project_id=team.project_id)
    assert [k.name for k in listed.items] == ["twice"]

    key_row(page, "twice", "active").get_by_role("button", name="Revoke").click()
    page.get_by_role("button", name="Revoke key").dblclick()
    expect(key_row(page, "twice", "revoked")).to_have_count(1)
    expect(page.get_by_text("Key 'twice' revoked (retired)")).to_be_visible()
    page.wait_for_timeout(1000)  # the second click's answer, if there were one, has arrived
    expect(page.get_by_text("already revoked")).to_have_count(0)
    revoked = call(history.list_events, team.owner, project_id=team.project_id)
    assert [e.action for e in revoked.items].count("key.revoked") == 1


# ---------------------------------------------------------------- ed25519 (v1a) keys
# Generate one from the dialog's type choice, see and copy its public key in the keys table,
# then publish the project's public keys from /projects and fetch them without signing in.
# (In this module to share its app start.)


@pytest.fixture(scope="module")
def ed_team(app):
    return make_team("edkeys")


def stored_ed25519(name: str) -> SignatureKey:
    with services_session() as s:
        return s.exec(select(SignatureKey).where(SignatureKey.name == name)).one()


def test_generate_an_ed25519_key_copy_its_public_key_and_publish_it(page: Page, ed_team, app):
    sign_in(page, ed_team.owner.email)
    goto(page, keys_url(ed_team.project_id))
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
    row = stored_ed25519("edge")
    assert row.key_type == "ed25519" and keys.decrypt_secret(row) == secret
    close_secret_dialog(page, secret)

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
    url = f"{app.url}/projects/{ed_team.project_id}/public-keys"
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
        assert s.get(Project, ed_team.project_id).publish_public_keys is True
    answer = page.request.get(url, headers={"Cookie": ""})
    assert answer.status == 200 and answer.headers["cache-control"] == "public, max-age=60"
    assert [k["public_key"] for k in answer.json()["keys"]] == [row.public_key]


def test_a_viewer_sees_the_public_key_but_cannot_publish(browser, app, ed_team):
    context = new_context(browser, app)
    page = context.new_page()
    try:
        sign_in(page, ed_team.viewer.email)
        goto(page, keys_url(ed_team.project_id))
        expect(page.get_by_label("Public key of edge", exact=True)).to_have_text(
            stored_ed25519("edge").public_key
        )
        goto(page, "/projects")
        page.get_by_role("row", name="edkeys payments").get_by_role(
            "button", name="Members"
        ).click()
        expect(page.get_by_role("switch", name="Publish public keys")).to_be_disabled()
        expect(page.get_by_text("Only owners can change this.")).to_be_visible()
    finally:
        context.close()
