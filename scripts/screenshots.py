"""Refresh the README's screenshots in docs/ (keys, key page, tester, audit, dark mode, phone).

    .venv/bin/python scripts/screenshots.py

Starts the real app once (``tests/e2e/apprunner.run_app``: a throwaway SQLite database, state dir
and log in a temp dir, ``reflex run --env prod`` on a free port), seeds a realistic project
through the services, drives Debian's Chromium (``/usr/bin/chromium``, or ``MESHKEYS_CHROMIUM``)
with Playwright, writes the PNGs to docs/ and stops the app. No secret is ever on screen: the keys
are made through the services, so no one-time secret dialog opens; tables show masked secrets.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from meshkeys.services import key_commands, projects, rotation_policy, signing  # noqa: E402
from tests.e2e.support import (  # noqa: E402
    audit_url,
    goto,
    keys_url,
    make_user,
    new_context,
    serve,
    sign_in,
)
from tests.helpers import call  # noqa: E402

DOCS = REPO_ROOT / "docs"
CHROMIUM = os.environ.get("MESHKEYS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PROJECT = "Acme payments"
PAYLOAD = '{"type": "invoice.paid", "invoice": "in_1042", "amount": 4900, "currency": "EUR"}'


def seed() -> dict:
    """An owner, an admin and a viewer; one project with a rotation policy and 9 keys."""
    owner = make_user("maria@acme.example")
    admin = make_user("devon@acme.example")
    viewer = make_user("support@acme.example")
    project = call(projects.create_project, owner, name=PROJECT)
    call(projects.add_member, owner, project_id=project.id, email=admin.email, role="admin")
    call(projects.add_member, owner, project_id=project.id, email=viewer.email, role="viewer")
    call(rotation_policy.set_policy, owner, project_id=project.id, rotate_every_days=90)

    def generate(actor, name, **kwargs):
        return call(key_commands.generate_key, actor, project_id=project.id, name=name, **kwargs)

    # Oldest first: the keys table lists the newest first, so the rotated, expiring and revoked
    # keys and the ed25519 one are in the first rows of the screenshot.
    generate(admin, "staging-events")
    generate(owner, "partner-acme-crm")
    generate(admin, "inventory-sync")
    generate(admin, "payouts-eu")
    billing = generate(owner, "billing-webhooks")
    generate(admin, "edge-receivers", key_type="ed25519")
    legacy = generate(owner, "legacy-sender")
    orders = generate(owner, "orders-prod")

    call(key_commands.reveal_key, owner, key_id=billing.id)
    call(key_commands.reveal_key, admin, key_id=orders.id)
    call(key_commands.revoke_key, owner, key_id=legacy.id, reason="retired")
    # The old orders-prod key keeps verifying for a day: "expiring" beside its successor.
    call(key_commands.rotate_key, admin, key_id=orders.id, grace_seconds=24 * 3600)
    for _ in range(2):
        call(signing.sign_payload, admin, project_id=project.id, payload=PAYLOAD.encode())
    return {"owner": owner, "project_id": project.id, "orders": orders}


def settle(page: Page) -> None:
    """Mouse out of the way, no toast, no spinner, fonts loaded."""
    size = page.viewport_size or DESKTOP
    page.mouse.move(size["width"] - 1, size["height"] - 1)
    toasts = page.locator("[data-sonner-toast]")
    deadline = time.monotonic() + 12
    while toasts.count() and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    expect(page.locator(".rt-Spinner")).to_have_count(0)
    page.evaluate("document.fonts.ready")
    page.wait_for_timeout(600)


def shot(page: Page, name: str) -> None:
    settle(page)
    path = DOCS / name
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size // 1024} KiB)")


def keys_page(page: Page, world: dict) -> None:
    goto(page, keys_url(world["project_id"]))
    expect(page.get_by_role("heading", name=f"{PROJECT} · Keys")).to_be_visible()
    expect(page.get_by_role("row", name="staging-events")).to_be_visible()


def desktop_shots(browser: Browser, app, world: dict) -> None:
    context = new_context(
        browser,
        app,
        viewport=DESKTOP,
        device_scale_factor=1,
        color_scheme="light",
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    sign_in(page, world["owner"].email)

    keys_page(page, world)
    shot(page, "screenshot-keys.png")

    orders = world["orders"]
    goto(page, f"{keys_url(world['project_id'])}/{orders.id}")
    expect(page.get_by_role("heading", name="Key orders-prod")).to_be_visible()
    expect(page.get_by_label("Key history").get_by_role("rowheader").first).to_be_visible()
    shot(page, "screenshot-key-page.png")

    goto(page, f"/projects/{world['project_id']}/webhooks")
    page.get_by_label("Payload", exact=True).fill(PAYLOAD)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.get_by_label("Signed headers")).to_contain_text("webhook-signature")
    page.get_by_role("button", name="Copy headers").click()
    headers = page.evaluate("navigator.clipboard.readText()")
    page.get_by_label("Received headers").fill(headers)
    page.get_by_label("Received payload").fill(PAYLOAD)
    page.get_by_role("button", name="Verify", exact=True).click()
    result = page.get_by_role("status", name="Verification result")
    expect(result).to_contain_text("Verified by key")
    page.get_by_label("Received headers").evaluate("el => { el.scrollTop = 0; el.blur(); }")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "screenshot-webhook-tester.png")

    goto(page, audit_url(world["project_id"]))
    expect(page.get_by_role("row", name=re.compile("key.rotated")).first).to_be_visible()
    shot(page, "screenshot-audit.png")
    context.close()


def dark_shot(browser: Browser, app, world: dict) -> None:
    context = new_context(
        browser, app, viewport=DESKTOP, device_scale_factor=1, color_scheme="dark"
    )
    page = context.new_page()
    sign_in(page, world["owner"].email)
    keys_page(page, world)
    html = page.locator("html")
    if "dark" not in (html.get_attribute("class") or ""):  # the app does not follow the system
        page.get_by_role("button", name="Toggle dark mode").click()
    expect(html).to_have_class(re.compile(r"\bdark\b"))
    shot(page, "screenshot-keys-dark.png")
    context.close()


def phone_shot(browser: Browser, app, world: dict) -> None:
    context = new_context(
        browser,
        app,
        viewport=PHONE,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        color_scheme="light",
    )
    page = context.new_page()
    sign_in(page, world["owner"].email)
    keys_page(page, world)
    shot(page, "screenshot-keys-phone.png")
    context.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="meshkeys-shots-") as tmp, serve(Path(tmp)) as app:
        print(f"app up at {app.url} in {app.startup_seconds:.1f} s")
        world = seed()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                desktop_shots(browser, app, world)
                dark_shot(browser, app, world)
                phone_shot(browser, app, world)
            finally:
                browser.close()
    print("app stopped")


if __name__ == "__main__":
    main()
