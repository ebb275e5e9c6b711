"""What a hostile page or a stolen tab token gets from the running app, in Chromium.

- Every page works under the Content-Security-Policy: no violation is reported while each
  page hydrates and a key is generated, and every answer carries the policy, X-Frame-Options
  and Referrer-Policy.
- A foreign page cannot frame the app (``frame-ancestors 'none'``).
- A tab token replayed from another browser without the session cookie hydrates no user data.
- The state files Reflex writes are readable by their owner only.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from meshkeys.services import key_commands, projects
from tests.e2e.pages import signed_in_pages, visit_signed_in
from tests.e2e.support import goto, keys_url, make_user, new_context, sign_in
from tests.helpers import call

REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspReport(`${e.violatedDirective} blocked ${e.blockedURI} on ${location.pathname}`);
});
"""


@pytest.fixture(scope="module")
def owner(app):
    owner = make_user("csp-owner@example.com")
    project = call(projects.create_project, owner, name="Hardened")
    call(key_commands.generate_key, owner, project_id=project.id, name="billing-prod-key")
    return owner, project.id


def _watch_csp(context: BrowserContext) -> list[str]:
    violations: list[str] = []
    context.expose_function("__cspReport", lambda text: violations.append(text))
    context.add_init_script(REPORT_VIOLATIONS)
    return violations


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return errors


def test_every_page_works_under_the_csp_and_carries_the_headers(browser, app, owner):
    actor, project_id = owner
    context = new_context(browser, app)
    violations = _watch_csp(context)
    page = context.new_page()
    console = _console_errors(page)
    answers: dict[str, dict[str, str]] = {}
    page.on("response", lambda r: answers.setdefault(r.url, r.all_headers()))
    try:
        goto(page, "/login")
        sign_in(page, actor.email)
        for path, heading in signed_in_pages(project_id, "Hardened"):
            visit_signed_in(page, path, heading)  # hydration itself needs the scripts to run
        goto(page, keys_url(project_id))
        page.get_by_role("button", name="Generate key").click()
        page.get_by_label("Name").fill("under-csp")
        page.get_by_role("button", name="Generate", exact=True).click()
        expect(page.locator("#shown-secret")).to_contain_text("whsec_")  # the ClientStateVar
        page.goto("/docs")
        expect(page.get_by_role("heading", name=re.compile(r"^meshkeys 0\."))).to_be_visible()
        expect(page.locator(".opblock").first).to_be_visible()  # Swagger UI's script ran
    finally:
        context.close()
    assert violations == [] and console == []
    pages = [url for url, h in answers.items() if h.get("content-type", "").startswith("text/html")]
    assert pages, answers.keys()
    for url, headers in answers.items():
        assert headers.get("x-frame-options") == "DENY", url
        assert headers.get("referrer-policy") == "same-origin", url
        assert headers.get("x-content-type-options") == "nosniff", url
        csp = headers.get("content-security-policy", "")
        if url in pages:
            assert "frame-ancestors 'none'" in csp and re.search(r"'nonce-[\w-]{16,}'", csp), url
            assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], url
        elif headers.get("content-type", "").startswith("application/json"):
            assert csp.startswith("default-src 'none'"), url


@pytest.fixture
def hostile_origin() -> Iterator[str]:
    """A page of another origin: its own server on the loopback (another port), so that only
    the app's headers, not Chromium's local network rules, decide whether it may frame."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<p>a page of another origin</p>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def test_a_foreign_page_cannot_frame_the_app(browser, app, hostile_origin):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(hostile_origin)
        page.evaluate(
            """url => new Promise(loaded => {
                const frame = document.createElement('iframe');
                frame.onload = loaded;
                frame.src = url;
                document.body.appendChild(frame);
            })""",
            f"{app.url}/login",
        )
        (framed,) = [f for f in page.frames if f is not page.main_frame]
        # Chromium replaces a refused frame with its error page; the app's never loads in it.
        assert not framed.url.startswith(app.url), framed.url
        assert framed.get_by_role("heading", name="Sign in to meshkeys").count() == 0
    finally:
        context.close()


def test_a_replayed_tab_token_without_the_cookie_gets_no_user_data(browser, app, owner):
    actor, project_id = owner
    victim = new_context(browser, app)
    page = victim.new_page()
    try:
        sign_in(page, actor.email)
        goto(page, keys_url(project_id))
        expect(page.get_by_text("billing-prod-key")).to_be_visible()
        tab_token = page.input_value("#hydrated-token")
        assert tab_token
    finally:
        victim.close()

    thief = new_context(browser, app)
    thief.add_init_script(f"window.sessionStorage.setItem('token', {tab_token!r});")
    frames: list[str] = []
    page = thief.new_page()
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))),
    )
    try:
        page.goto(keys_url(project_id))
        page.wait_for_url(re.compile(r"/login/?(\?next=[^&]+)?$"))
        expect(page.get_by_role("heading", name="Sign in to meshkeys")).to_be_visible()
        assert page.input_value("#hydrated-token") == tab_token  # the same tab state was used
    finally:
        thief.close()
    received = "\n".join(frames)
    assert "is_hydrated" in received  # the snapshot did arrive...
    for secret in (actor.email, "billing-prod-key", "Hardened"):
        assert secret not in received  # ...without the user's email, keys or projects


def test_state_files_are_readable_by_their_owner_only(browser, app, owner):
    actor, project_id = owner
    context = new_context(browser, app)
    try:
        page = context.new_page()
        sign_in(page, actor.email)
        goto(page, keys_url(project_id))
        expect(page.get_by_text("billing-prod-key")).to_be_visible()
    finally:
        context.close()
    directory = Path(app.env["REFLEX_STATES_WORKDIR"])
    deadline = time.monotonic() + 30
    while not (states := list(directory.glob("*.pkl"))) and time.monotonic() < deadline:
        time.sleep(0.2)  # Reflex writes states from a queue, a moment after the event
    assert states, f"a signed-in page was shown, yet {directory} holds no state"
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in states}
    assert modes == {name: "0o600" for name in modes}
    assert directory.stat().st_mode & 0o777 == 0o700
