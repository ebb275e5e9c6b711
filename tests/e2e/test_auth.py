"""Sign-in in Chromium: first-run admin creation, failed and successful sign-in, sign-out, guards.

One app (fresh database) for the module; the tests run in file order, the first one on the
empty database.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from meshkeys.models import AuditEvent, Project, UserSession
from meshkeys.services import auth
from tests.e2e.apprunner import wait_for_hydration
from tests.e2e.support import PASSWORD, goto, new_context, services_session, sign_in
from tests.helpers import call

ADMIN = "first-admin@example.com"


@pytest.fixture
def page(browser, app):
    context = new_context(browser, app)
    yield context.new_page()
    context.close()


def _session_cookie(page: Page) -> dict | None:
    return next((c for c in page.context.cookies() if c["name"] == "meshkeys_session"), None)


def test_first_visit_creates_the_first_admin_and_project(page: Page):
    goto(page, "/")
    page.wait_for_url(re.compile(r"/login/?$"))
    expect(page.get_by_role("heading", name="Create the first admin account")).to_be_visible()
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("short")
    page.get_by_label("First project").fill("Payments")
    # The browser's own check (min length) would stop the submit: bypass it to see the server's.
    page.locator("#setup-form").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("at least 10 characters")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/projects/[0-9a-f-]{36}/keys/?$"))
    expect(page.get_by_role("heading", name="Payments · Keys")).to_be_visible()
    expect(page.get_by_text("No signing keys yet")).to_be_visible()
    expect(page.get_by_text(ADMIN)).to_be_visible()

    cookie = _session_cookie(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("meshkeys_session") == -1
    with services_session() as s:
        assert not call(auth.needs_setup)
        assert [p.name for p in s.exec(select(Project)).all()] == ["Payments"]
        stored = s.exec(select(UserSession.token_hash)).all()
        assert len(stored) == 1 and cookie["value"] not in stored  # only the hash is stored

    # Setup is a one-time thing: a second visitor sees the sign-in form.
    page.context.clear_cookies()
    goto(page, "/login")
    expect(page.get_by_role("heading", name="Sign in to meshkeys")).to_be_visible()
    expect(page.get_by_role("heading", name="Create the first admin account")).to_have_count(0)


def test_wrong_password_shows_the_services_message_and_is_audited(page: Page):
    goto(page, "/login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Email or password is wrong.")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    assert _session_cookie(page) is None
    with services_session() as s:
        failed = s.exec(select(AuditEvent).where(AuditEvent.action == "login.failed")).all()
        assert [e.actor_email for e in failed] == [ADMIN]


def test_repeated_failures_are_rate_limited_with_a_time_to_retry(page: Page):
    goto(page, "/login")
    email = "nobody@example.com"
    for _ in range(auth.MAX_FAILURES_PER_ACCOUNT):
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("guess-guess-guess")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text(
        re.compile(r"Too many failed sign-ins\. Try again in \d+ seconds\.")
    )


def test_sign_in_then_sign_out_ends_the_session(page: Page, app):
    sign_in(page, ADMIN)
    expect(page.get_by_role("heading", name="Payments · Keys")).to_be_visible()
    token = _session_cookie(page)["value"]

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login/?$"))
    expect(page.get_by_role("heading", name="Sign in to meshkeys")).to_be_visible()
    assert _session_cookie(page) is None
    assert call(auth.actor_for_session, token=token) is None  # ended server-side

    # Replaying the old cookie gets nothing: the page sends the browser back to /login.
    page.context.add_cookies([{"name": "meshkeys_session", "value": token, "url": app.url}])
    page.goto("/projects")
    page.wait_for_url(re.compile(r"/login/?\?next=%2Fprojects(%2F)?$"))
    expect(page.get_by_role("heading", name="Sign in to meshkeys")).to_be_visible()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/projects",
        "/settings/tokens",
        "/projects/00000000-0000-4000-8000-000000000000/keys",
        "/projects/00000000-0000-4000-8000-000000000000/audit",
    ],
)
def test_every_page_but_login_needs_a_session(page: Page, path: str):
    page.goto(path)
    page.wait_for_url(re.compile(r"/login/?(\?next=[^&]+)?$"))
    expect(page.get_by_role("heading", name="Sign in to meshkeys")).to_be_visible()


def test_sign_in_returns_to_the_page_that_was_asked_for(page: Page):
    """Issue 9, defect 9: sign-in remembers the page; only a path of this site is followed."""
    page.goto("/settings/tokens")
    page.wait_for_url(re.compile(r"/login/?\?next=%2Fsettings%2Ftokens(%2F)?$"))
    wait_for_hydration(page)
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/settings/tokens/?$"))
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()


def test_sign_in_never_follows_a_next_to_another_site(page: Page):
    page.goto("/login?next=//evil.example/phish")
    wait_for_hydration(page)
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/projects/[0-9a-f-]{36}/keys/?$"))  # home, on this site


def test_the_state_store_never_holds_the_session_token(page: Page, app):
    """Reflex pickles each tab's state, handshake headers included, into its state store.
    The websocket only sees the cookie hashed, so the store holds the digest, never the token."""
    from meshkeys.crypto.secrets import hash_token

    sign_in(page, ADMIN)
    token = _session_cookie(page)["value"]
    page.get_by_role("link", name="Audit log").click()
    page.wait_for_url(re.compile(r"/audit/?$"))
    expect(page.get_by_role("heading", name=re.compile("Audit log"))).to_be_visible()
    stored = b""
    for _ in range(50):  # the disk store writes after the event; poll briefly
        stored = b"".join(
            p.read_bytes() for p in (app.workdir / "states").rglob("*") if p.is_file()
        )
        if hash_token(token).encode() in stored:
            break
        page.wait_for_timeout(100)
    assert hash_token(token).encode() in stored, "the state store was not where the test looked"
    assert token.encode() not in stored
