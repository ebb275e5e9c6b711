"""Behind a reverse proxy: X-Forwarded-For / -Proto believed only from MESHKEYS_TRUSTED_PROXIES;
production refuses to sign in over plain HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from meshkeys.api.app import create_api
from meshkeys.config import ConfigError, load_settings
from meshkeys.forwarding import came_over_https, client_address, parse_networks
from meshkeys.services import projects
from meshkeys.services.uow import UnitOfWork
from tests.helpers import PASSWORD, all_events, random_master_key, reset_caches

PROXIES = parse_networks(["10.0.0.0/24", "::1"])


def test_the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy():
    assert client_address("192.0.2.9", "203.0.113.5", PROXIES) == "192.0.2.9"
    assert client_address("10.0.0.2", "203.0.113.5", PROXIES) == "203.0.113.5"
    # The left part is the client's to write: the right-most untrusted hop is the client.
    assert client_address("10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.3", PROXIES) == "203.0.113.5"
    assert client_address("10.0.0.2", "not-an-ip", PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", None, PROXIES) == "10.0.0.2"
    assert client_address("::1", "2001:db8::7", PROXIES) == "2001:db8::7"
    assert client_address("192.0.2.9", "203.0.113.5", ()) == "192.0.2.9"


def test_forwarded_https_is_believed_from_trusted_proxies_only():
    assert came_over_https("https", "192.0.2.9", None, ())
    assert came_over_https("http", "10.0.0.2", "https", PROXIES)
    assert not came_over_https("http", "192.0.2.9", "https", PROXIES)
    assert not came_over_https("http", "10.0.0.2", "http", PROXIES)


def test_the_setting_is_parsed_and_a_bad_entry_named():
    settings = load_settings({"MESHKEYS_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.5/32", "10.1.0.0/16"]
    with pytest.raises(ConfigError, match="MESHKEYS_TRUSTED_PROXIES.*'proxy.local'"):
        load_settings({"MESHKEYS_TRUSTED_PROXIES": "10.0.0.5,proxy.local"})


def _login(client: TestClient, **headers: str):
    return client.post(
        "/auth/login", headers=headers, json={"email": "a@example.com", "password": "wrong-pw-123"}
    )


def test_audit_and_throttle_see_the_forwarded_client_only_through_a_trusted_proxy(
    db_path, monkeypatch
):
    monkeypatch.setenv("MESHKEYS_TRUSTED_PROXIES", "10.0.0.1")
    reset_caches()
    via_proxy = TestClient(create_api(), base_url="http://localhost", client=("10.0.0.1", 1))
    direct = TestClient(create_api(), base_url="http://localhost", client=("192.0.2.50", 1))
    assert _login(via_proxy, **{"X-Forwarded-For": "203.0.113.7"}).status_code == 401
    assert _login(direct, **{"X-Forwarded-For": "203.0.113.8"}).status_code == 401
    ips = {e.client_ip for e in all_events(UnitOfWork) if e.action == "login.failed"}
    assert ips == {"203.0.113.7", "192.0.2.50"}


def test_production_refuses_plain_http_sign_in_with_a_clear_message(db_path, monkeypatch):
    monkeypatch.setenv("MESHKEYS_ENV", "production")
    monkeypatch.setenv("MESHKEYS_MASTER_KEY", random_master_key())
    monkeypatch.setenv("MESHKEYS_TRUSTED_PROXIES", "10.0.0.1")
    reset_caches()
    from tests.helpers import call

    call(projects.setup_first_admin, email="a@example.com", password=PASSWORD, project_name="P")
    body = {"email": "a@example.com", "password": PASSWORD}
    plain = TestClient(create_api(), base_url="http://localhost", client=("10.0.0.1", 1))
    refused = plain.post("/auth/login", json=body)
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    assert "HTTPS" in refused.json()["detail"]
    assert "MESHKEYS_TRUSTED_PROXIES" in refused.json()["detail"]
    # A client that claims HTTPS itself is not a trusted proxy.
    liar = TestClient(create_api(), base_url="http://localhost", client=("192.0.2.5", 1))
    assert (
        liar.post("/auth/login", json=body, headers={"X-Forwarded-Proto": "https"}).status_code
        == 403
    )
    ok = plain.post("/auth/login", json=body, headers={"X-Forwarded-Proto": "https"})
    assert ok.status_code == 200 and "Secure" in ok.headers["set-cookie"]
    assert ok.headers["strict-transport-security"].startswith("max-age=")
    direct_tls = TestClient(create_api(), base_url="https://localhost")
    assert direct_tls.post("/auth/login", json=body).status_code == 200
    # An invite link sets a session cookie too: refused over plain HTTP before it is looked at.
    invite = plain.post("/auth/invite", json={"token": "mki_" + "x" * 43, "password": PASSWORD})
    assert invite.status_code == 403 and "set-cookie" not in invite.headers
    assert "HTTPS" in invite.json()["detail"]


def _echo_app():
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, RedirectResponse
    from starlette.routing import Route

    def echo(request: Request):
        return JSONResponse({"scheme": request.url.scheme, "client": request.client.host})

    def slash(request: Request):
        return RedirectResponse(request.url.replace(path="/echo"))  # as Reflex's trailing slash

    from meshkeys.api.middleware import ProxyHeaders

    return ProxyHeaders(Starlette(routes=[Route("/echo", echo), Route("/redirect", slash)]))


def test_everything_inside_sees_the_trusted_proxys_client_and_scheme(monkeypatch):
    monkeypatch.setenv("MESHKEYS_TRUSTED_PROXIES", "10.0.0.1")
    reset_caches()
    forwarded = {"X-Forwarded-For": "203.0.113.4", "X-Forwarded-Proto": "https"}
    via_proxy = TestClient(_echo_app(), client=("10.0.0.1", 1), follow_redirects=False)
    assert via_proxy.get("/echo", headers=forwarded).json() == {
        "scheme": "https",
        "client": "203.0.113.4",
    }
    # A redirect built from the request goes back to https://, not to plain HTTP.
    moved = via_proxy.get("/redirect", headers={**forwarded, "Host": "keys.example"})
    assert moved.headers["location"] == "https://keys.example/echo"
    stranger = TestClient(_echo_app(), client=("192.0.2.8", 1))
    assert stranger.get("/echo", headers=forwarded).json() == {
        "scheme": "http",
        "client": "192.0.2.8",
    }
