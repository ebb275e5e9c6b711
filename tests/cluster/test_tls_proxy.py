"""Behind a real TLS proxy: nginx running deploy/nginx.conf in front of both app servers.

Chromium trusts the throwaway certificate's key only (tests/cluster/tlsproxy.py), signs in and
runs the key lifecycle over https://; the answers carry HSTS and a Secure session cookie; the
audit log's client address comes from the proxy's X-Forwarded-For because the servers list the
proxy in MESHKEYS_TRUSTED_PROXIES, and from nobody else's; production refuses to sign in over
plain HTTP. Last: the server holding the browser's websocket is killed and the tab carries on
through the other one (the state is in Redis). That test stops a server: it runs last.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import time

import httpx
import psutil
import psycopg
import pytest
from playwright.sync_api import Page, expect

from meshkeys.services import projects
from tests.cluster.conftest import Cluster, check_keys_against_log, make_admin
from tests.cluster.test_faults import Load
from tests.cluster.tlsproxy import Proxy, TlsFiles
from tests.e2e.apprunner import install_hydration_probe, wait_for_hydration
from tests.e2e.support import PASSWORD, keys_url, make_user
from tests.helpers import call

# The address the test's own HTTP clients connect from (any 127/8 address is this machine):
# not a trusted proxy, so what it claims in X-Forwarded-* must be ignored.
CLIENT = "127.0.0.9"


@pytest.fixture(scope="module")
def owner(cluster):
    actor = make_user(f"tls-{secrets.token_hex(3)}@example.com")
    project = call(projects.create_project, actor, name="tls payments")
    return actor, project.id


@pytest.fixture
def page(browser, proxy: Proxy):
    context = browser.new_context(base_url=proxy.url, ignore_https_errors=False)
    install_hydration_probe(context)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def _client(base_url: str, tls: TlsFiles | None = None) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=CLIENT, verify=tls.context() if tls else True)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def _failed_logins_from(cluster: Cluster, email: str) -> list[str | None]:
    with psycopg.connect(cluster.superuser_dsn) as conn:
        rows = conn.execute(
            "SELECT client_ip FROM audit_events WHERE action = 'login.failed' "
            "AND actor_email = %s ORDER BY created_at",
            (email,),
        ).fetchall()
    return [ip for (ip,) in rows]


def test_https_answers_hsts_and_the_audit_sees_the_client_the_proxy_names(
    cluster: Cluster, proxy: Proxy, tls: TlsFiles, owner
):
    actor, _ = owner
    wrong = {"email": actor.email, "password": "not-the-password"}
    with _client(proxy.url, tls) as https:
        health = https.get("/health")
        assert health.status_code == 200
        assert health.headers["strict-transport-security"].startswith("max-age=31536000")
        # A forged X-Forwarded-For sent to the proxy is replaced by the proxy's own view.
        failed = https.post("/auth/login", json=wrong, headers={"X-Forwarded-For": "6.6.6.6"})
        assert failed.status_code == 401, failed.text
    assert _failed_logins_from(cluster, actor.email) == [CLIENT]

    with _client(cluster.a.url) as direct:
        # Straight to a server, not through the proxy: its X-Forwarded-* are not believed.
        forged = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"}
        plain = direct.get("/health", headers=forged)
        assert "strict-transport-security" not in plain.headers
        refused = direct.post(
            "/auth/login", json={"email": actor.email, "password": PASSWORD}, headers=forged
        )
        assert refused.status_code == 403, refused.text
        assert "HTTPS" in refused.json()["detail"] and "set-cookie" not in refused.headers
    assert "203.0.113.66" not in _failed_logins_from(cluster, actor.email)


def test_the_key_lifecycle_over_https_in_chromium(page: Page, owner):
    actor, project_id = owner
    page.goto("/login")
    assert page.url.startswith("https://")
    wait_for_hydration(page)
    page.get_by_label("Email").fill(actor.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/projects(/|$)"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "meshkeys_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    page.goto(keys_url(project_id))
    wait_for_hydration(page)
    _generate(page, "over-tls")
    row = page.get_by_role("row", name="over-tls", exact=True)
    row.get_by_role("button", name="Revoke").click()
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("Key 'over-tls' revoked (retired)")).to_be_visible()
    page.get_by_role("row", name="over-tls", exact=True).get_by_role(
        "button", name="Reactivate"
    ).click()
    page.get_by_role("button", name="Reactivate key").click()
    expect(page.get_by_text("Key 'over-tls' is active again.")).to_be_visible()
    page.get_by_role("row", name="over-tls", exact=True).get_by_role(
        "button", name="Rotate"
    ).click()
    page.get_by_role("button", name="Rotate key").click()
    _close_secret(page)
    expect(page.get_by_label("Total keys")).to_have_text("Total2")


def _generate(page: Page, name: str) -> None:
    page.get_by_role("button", name="Generate key").click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Generate", exact=True).click()
    _close_secret(page)


def _close_secret(page: Page) -> None:
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("#shown-secret")).to_contain_text("whsec_")
    page.get_by_role("button", name="Close", exact=True).click()  # then it asks: copied?
    page.get_by_role("button", name="Close anyway").click()
    expect(dialog).to_have_count(0)


def _websocket_server(cluster: Cluster) -> int:
    """Which server (0: A, 1: B) holds the proxy's long-lived connection (the websocket):
    nginx keeps no idle upstream connections, so it is the only one established."""
    ports = [int(app.url.rsplit(":", 1)[1]) for app in cluster.servers]
    held = {
        c.laddr.port
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port in ports
    }
    assert len(held) == 1, f"expected one server to hold the websocket, saw {held}"
    return ports.index(held.pop())


def test_zz_a_signed_in_tab_carries_on_when_its_server_is_killed(
    page: Page, cluster: Cluster, owner
):
    """Runs last: it kills a server. SIGKILL to the process group of the server that holds
    this tab's websocket; the tab reconnects through the proxy to the other server, which
    reads the tab's state from Redis: still signed in, still on its page, still working."""
    actor, project_id = owner
    page.goto("/login")
    wait_for_hydration(page)
    page.get_by_label("Email").fill(actor.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/projects(/|$)"))
    page.goto(keys_url(project_id))
    wait_for_hydration(page)
    expect(page.get_by_role("heading", name="tls payments · Keys")).to_be_visible()

    victim = cluster.servers[_websocket_server(cluster)]
    sockets = page.evaluate("window.__meshkeysProbe.sockets")
    # Requests in flight on the victim when it dies: each change is there with its audit
    # event, or not at all.
    _, load_project, token = make_admin("sigkill")
    load = Load(cluster, load_project, token, servers=(victim,))
    with load:
        time.sleep(1.0)
        killed = time.monotonic()
        os.killpg(os.getpgid(victim.process.pid), signal.SIGKILL)
        victim.process.wait(timeout=10)
        time.sleep(0.5)
    survivor = next(app for app in cluster.servers if app is not victim)
    keys, unacknowledged = check_keys_against_log(cluster, load_project, load.acknowledged)
    print(
        f"\nSIGKILL mid-request: {dict(load.statuses)} (0: no answer), "
        f"{len(keys)} keys in the database, {len(unacknowledged)} committed but not acknowledged"
    )
    assert load.statuses[0] > 0  # the clients saw the failure

    # Reflex's client reconnects by itself (through the proxy: to the survivor); a click while
    # the socket is down is not replayed, as a person would see the "connection" banner first.
    page.wait_for_function(
        "(n) => window.__meshkeysProbe.sockets > n && window.__meshkeysProbe.open",
        arg=sockets,
        timeout=30_000,
    )
    print(f"\nthe tab reconnected {time.monotonic() - killed:.1f} s after the SIGKILL")
    _generate(page, "after-the-kill")
    expect(page.get_by_role("row", name="after-the-kill", exact=True)).to_have_count(1)
    assert "/login" not in page.url
    assert _websocket_server_alive(survivor)


def _websocket_server_alive(app) -> bool:
    return httpx.get(app.url + "/health", timeout=5).status_code == 200
