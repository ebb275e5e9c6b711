"""The app as served: its websocket accepts its own origin on whatever port it runs (never 3000
here) plus the configured extra origins, refuses every other origin, and no page requests an asset
that is missing."""

from __future__ import annotations

import base64
import http.client
import os
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Response

from meshkeys.services import projects
from tests.e2e.apprunner import DEFAULT_PORTS
from tests.e2e.pages import signed_in_pages, visit_signed_in
from tests.e2e.support import goto, make_user, new_context, sign_in
from tests.helpers import call

# An extra origin, as for a proxy's public name; written with a trailing "/" on purpose.
PROXY_ORIGIN = "https://keys.example.com"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from tests.e2e.support import serve

    extra = {"MESHKEYS_ALLOWED_ORIGINS": PROXY_ORIGIN + "/"}
    with serve(tmp_path_factory.mktemp("app"), extra_env=extra) as running:
        yield running


@pytest.fixture(scope="module")
def owner(app):
    owner = make_user("serving-owner@example.com")
    project = call(projects.create_project, owner, name="Serving")
    return owner, project.id


def websocket_handshake(url: str, origin: str, host: str | None = None) -> int:
    """The HTTP status of a Socket.IO websocket handshake to ``url`` sent with ``origin`` (and a
    ``host`` header naming the server otherwise than ``url`` does); 101 means accepted."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        conn.request(
            "GET",
            "/_event/?EIO=4&transport=websocket",
            headers={
                "Host": host or parts.netloc,
                "Origin": origin,
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
                "Sec-WebSocket-Version": "13",
            },
        )
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_page_connects_on_a_port_that_is_not_3000(browser, app, host: str):
    port = urlsplit(app.url).port
    assert port not in DEFAULT_PORTS
    context = new_context(browser, app, base_url=f"http://{host}:{port}")
    page = context.new_page()
    try:
        goto(page, "/login")  # fails unless the websocket connects and the state hydrates
    finally:
        context.close()


def test_the_websocket_accepts_its_own_origin_and_the_extra_one(app):
    port = urlsplit(app.url).port
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", PROXY_ORIGIN):
        assert websocket_handshake(app.url, origin) == 101, origin
    # Reached under another name (a LAN address, a proxy that keeps the Host), its own origin too.
    assert websocket_handshake(app.url, f"http://10.1.2.3:{port}", host=f"10.1.2.3:{port}") == 101


@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "https://keys.example.com.evil.example", "null", "other-port"],
)
def test_the_websocket_refuses_foreign_origins(app, origin: str):
    if origin == "other-port":  # the same host on another port is another origin
        origin = f"http://127.0.0.1:{urlsplit(app.url).port + 1}"
    status = websocket_handshake(app.url, origin)
    assert status != 101 and status >= 400, f"{origin} got {status}"


def icon_status(page: Page, context: BrowserContext) -> tuple[str, int]:
    """The browser fetches a page's icon itself (no page request event): fetch it as it does."""
    icon = page.evaluate(
        "() => (document.querySelector('link[rel~=icon]') || {}).href"
        " || new URL('/favicon.ico', location.href).href"
    )
    return icon, context.request.get(icon).status


def test_no_page_requests_a_missing_asset(browser, app, owner):
    actor, project_id = owner
    context = new_context(browser, app)
    page = context.new_page()
    failures: list[str] = []
    page.on("requestfailed", lambda r: failures.append(f"{r.url}: {r.failure}"))

    def on_response(response: Response) -> None:
        if response.status >= 400:
            failures.append(f"{response.url}: HTTP {response.status}")

    page.on("response", on_response)
    try:
        goto(page, "/login")
        icons = [icon_status(page, context)]
        sign_in(page, actor.email)
        for path, heading in signed_in_pages(project_id, "Serving"):
            visit_signed_in(page, path, heading)
            icons.append(icon_status(page, context))
            logo = page.locator("img[src='/logo.svg']")  # decorative (alt=""): no img role
            assert logo.evaluate("img => img.complete && img.naturalWidth > 0"), path
    finally:
        context.close()
    failures += [
        f"{icon} (the page's icon): HTTP {status}" for icon, status in icons if status >= 400
    ]
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", "/keys/0b6f4c1e-0000-4000-8000-000000000000/revoke", 405, "POST"),
        ("POST", "/keys", 405, "GET"),
        ("DELETE", "/keys/0b6f4c1e-0000-4000-8000-000000000000", 405, "GET"),
        ("GET", "/keys/a/b/c", 404, None),
    ],
)
def test_api_paths_the_api_does_not_serve_answer_json_not_the_web_page(
    app, method: str, path: str, status: int, allow: str | None
):
    netloc = urlsplit(app.url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=10)
    connection.request(method, path)
    answer = connection.getresponse()
    body = answer.read().decode()
    connection.close()
    assert answer.status == status, body
    assert answer.getheader("content-type", "").startswith("application/json"), body
    assert answer.getheader("allow") == allow
    assert '"detail"' in body
