"""The REST API in-process on SQLite: what only this ring checks (OpenAPI, logs, mounting).

The API scenarios are in tests/scenarios/test_api.py and run on both backends.
"""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from meshkeys.api.app import create_api, mount_api
from meshkeys.logs import KEY_LOGGER
from meshkeys.logs import configure as configure_key_log
from tests.api_world import ApiWorld, assert_error
from tests.helpers import configure, reset_caches

# ---------------------------------------------------------------- only here


def test_health_is_503_when_the_database_does_not_answer(db_path, monkeypatch, tmp_path):
    configure(monkeypatch, database_url=f"sqlite:///{tmp_path}/missing-dir/none.db")
    try:
        answer = TestClient(create_api()).get("/health")
    finally:
        reset_caches()
    assert answer.status_code == 503 and answer.json() == {"status": "unavailable"}


def test_openapi_documents_every_endpoint_with_models_and_errors(db_path):
    client = TestClient(create_api())
    spec = client.get("/openapi.json").json()
    expected = {
        ("post", "/keys/generate"): "201",
        ("get", "/keys"): "200",
        ("get", "/keys/{key_id}"): "200",
        ("post", "/keys/{key_id}/revoke"): "200",
        ("post", "/keys/{key_id}/reactivate"): "200",
        ("post", "/keys/{key_id}/rotate"): "201",
        ("get", "/audit"): "200",
        ("get", "/audit/export"): "200",
        ("post", "/webhooks/sign"): "200",
        ("post", "/webhooks/sign/batch"): "200",
        ("post", "/webhooks/verify"): "200",
        ("get", "/health"): "200",
        ("get", "/metrics"): "200",
    }
    for (method, path), success in expected.items():
        operation = spec["paths"][path][method]
        assert success in operation["responses"], (method, path)
        assert operation.get("description") or operation.get("summary")
        if path not in ("/health", "/metrics"):
            assert operation["security"] == [{"ApiToken": []}]
            assert {"401", "422"} <= set(operation["responses"]), (method, path)
            error = operation["responses"]["401"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}
    schemas = spec["components"]["schemas"]
    assert "secret" in schemas["KeyWithSecret"]["properties"]
    assert "secret" not in schemas["KeyPublic"]["properties"]
    key_ref = spec["paths"]["/keys/{key_id}"]["get"]["responses"]["200"]["content"]
    assert key_ref["application/json"]["schema"] == {"$ref": "#/components/schemas/KeyPublic"}
    revoke = schemas["RevokeKeyRequest"]["properties"]["grace_seconds"]
    assert (revoke["minimum"], revoke["maximum"]) == (0, 604800)
    assert spec["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text


def test_interactive_docs_load_no_file_from_the_internet(db_path):
    """/docs works offline: its script and stylesheet are served by the API itself."""
    import re

    client = TestClient(create_api())
    page = client.get("/docs").text
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200 and len(answer.content) > 500, asset


def test_unknown_paths_answer_json_404(db_path):
    answer = TestClient(create_api()).get("/nope")
    assert_error(answer, 404, contains="/docs")


def test_every_422_is_documented_with_the_body_it_has(db_path):
    spec = TestClient(create_api()).get("/openapi.json").json()
    documented = [
        op["responses"]["422"]
        for ops in spec["paths"].values()
        for op in ops.values()
        if "422" in op["responses"]
    ]
    assert len(documented) >= 10
    for answer in documented:
        schema = answer["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ValidationErrorBody"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert (
        spec["components"]["schemas"]["ValidationErrorBody"]["properties"]["detail"]["type"]
        == "string"
    )


def test_cors_answers_only_the_configured_origins(db_path, monkeypatch):
    monkeypatch.setenv("MESHKEYS_ALLOWED_ORIGINS", "https://keys.example.com")
    reset_caches()
    client = TestClient(create_api())
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = client.options(
        "/keys/generate", headers={"Origin": "https://keys.example.com", **preflight}
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://keys.example.com"
    evil = client.options("/keys/generate", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in evil.headers
    simple = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_each_app_has_its_own_metrics_registry(db_path):
    first, second = TestClient(create_api()), TestClient(create_api())
    first.get("/health")
    first.get("/health")
    line = 'meshkeys_http_requests_total{method="GET",route="/health",status="200"}'
    assert f"{line} 2.0" in first.get("/metrics").text
    assert 'route="/health"' not in second.get("/metrics").text


def test_mount_api_serves_the_api_first_and_the_rest_from_the_mounted_app(db_path):
    other = Starlette(
        routes=[
            Route(
                "/{path:path}", lambda request: PlainTextResponse("reflex"), methods=["GET", "POST"]
            )
        ]
    )
    client = TestClient(mount_api(other))
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/keys/abc").status_code == 401  # ours, not the mounted app's
    assert client.get("/keys/generate").status_code == 405
    assert client.get("/_event").text == "reflex"
    assert client.get("/projects/x/keys").text == "reflex"
    assert 'route="/health"' in client.get("/metrics").text
    # Requests the mounted app answers are not counted (and bodies there are not limited by us).
    assert "_event" not in client.get("/metrics").text
    big = client.post("/_upload", content=b"x" * (2 * 1024 * 1024))
    assert big.text == "reflex"


@pytest.mark.parametrize("as_json", [True, False])
def test_key_actions_are_logged_with_ids_and_never_a_secret(api: ApiWorld, as_json, capsys):
    configure_key_log(as_json=as_json)
    try:
        key = api.generate("logged")
        api.post(f"/keys/{key['id']}/revoke", "viewer", json={"reason": "retired"})
        rotated = api.post(f"/keys/{key['id']}/rotate", json={"grace_seconds": 5}).json()
    finally:
        configure_key_log(as_json=False)
    err = capsys.readouterr().err.splitlines()
    assert key["secret"] not in "\n".join(err) and rotated["secret"] not in "\n".join(err)
    assert "whsec_" not in "\n".join(err)
    # The API's request-outcome lines (meshkeys.keys) ...
    lines = [line for line in err if "meshkeys.keys " in line or '"meshkeys.keys"' in line]
    assert len(lines) == 3, lines
    # ... and the services' committed audit events (meshkeys.keys.audit), from every door.
    audit_lines = [line for line in err if "meshkeys.keys.audit" in line]
    assert len(audit_lines) == 4, audit_lines  # generated, access.denied, rotated, generated
    if as_json:
        records = [json.loads(line) for line in lines]
        assert [json.loads(line)["event"] for line in audit_lines] == [
            "key.generated",
            "access.denied",
            "key.rotated",
            "key.generated",
        ]
        assert [(r["event"], r["outcome"]) for r in records] == [
            ("key.generate", "ok"),
            ("key.revoke", "denied"),
            ("key.rotate", "ok"),
        ]
        assert records[0]["key_id"] == key["id"] and records[0]["project_id"] == api.project
        assert records[1]["level"] == "warning" and records[1]["actor"] == api.world.viewer.email
        assert records[2]["new_key_id"] == rotated["id"]
    else:
        assert "key.generate outcome=ok" in lines[0] and f"key_id={key['id']}" in lines[0]


def test_the_key_log_has_one_handler_however_many_apps_are_built(db_path):
    for _ in range(3):
        create_api()
    handlers = [h for h in logging.getLogger(KEY_LOGGER).handlers if getattr(h, "meshkeys", False)]
    assert len(handlers) == 1


def test_pages_get_a_nonce_csp_and_every_answer_refuses_framing(db_path):
    import re

    from fastapi.responses import HTMLResponse

    def html_page(_request):
        return HTMLResponse("<html><script>boot()</script><SCRIPT src='/a.js'></SCRIPT></html>")

    api = create_api()
    api.add_route("/page-for-test", html_page)
    client = TestClient(api)
    page = client.get("/page-for-test", headers={"Accept": "text/html"})
    csp = page.headers["content-security-policy"]
    (nonce,) = re.findall(r"'nonce-([\w-]+)'", csp)
    assert page.text.count(f'nonce="{nonce}"') == 2 and "frame-ancestors 'none'" in csp
    assert page.headers["content-length"] == str(len(page.content))
    assert page.headers["cache-control"] == "no-store" and "etag" not in page.headers
    again = client.get("/page-for-test", headers={"Accept": "text/html"})
    assert again.headers["content-security-policy"] != csp  # a fresh nonce per answer
    data = client.get("/health")
    assert data.headers["content-security-policy"].startswith("default-src 'none'")
    for answer in (page, data):
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "same-origin"


def test_hsts_only_over_https_and_nosniff_always(db_path, monkeypatch):
    monkeypatch.setenv("MESHKEYS_TRUSTED_PROXIES", "10.0.0.0/24")
    reset_caches()
    client = TestClient(create_api(), client=("10.0.0.7", 40000))
    plain = client.get("/health")
    assert "strict-transport-security" not in plain.headers
    assert plain.headers["x-content-type-options"] == "nosniff"
    proxied = client.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert proxied.headers["strict-transport-security"].startswith("max-age=31536000")
    # The same header from an address that is not a trusted proxy is not believed.
    untrusted = TestClient(create_api(), client=("192.0.2.1", 40000))
    spoofed = untrusted.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in spoofed.headers
    direct = TestClient(create_api(), base_url="https://testserver").get("/health")
    assert "strict-transport-security" in direct.headers


def test_unknown_api_paths_and_methods_answer_json_even_with_the_web_app_mounted(db_path):
    """Under `make run` the web app is mounted behind the API: an API path it does not know must
    still answer the API's JSON, never the web page's HTML 404 or a plain-text 405."""
    web = Starlette(
        routes=[
            Route(
                "/{path:path}",
                lambda request: PlainTextResponse("<html>page</html>", status_code=404),
                methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            )
        ]
    )
    client = TestClient(mount_api(web))
    key = "0b6f4c1e-0000-4000-8000-000000000000"
    unknown = client.get(f"/keys/{key}/revoke")
    assert unknown.status_code == 405 and unknown.headers["allow"] == "POST"
    assert "POST" in unknown.json()["detail"]
    listed = client.post("/keys")
    assert listed.status_code == 405 and listed.headers["allow"] == "GET"
    deleted = client.delete(f"/keys/{key}")
    assert deleted.status_code == 405 and deleted.headers["allow"] == "GET"
    for path in ("/keys/a/b/c", "/audit/nothing", "/webhooks/none", "/auth/nothing"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["detail"].startswith("No such endpoint"), path
    # /projects is a page of the web app, but the rotation policy below it is the API's.
    for method in ("POST", "PATCH", "DELETE"):
        answer = client.request(method, f"/projects/{key}/rotation-policy")
        assert answer.status_code == 405 and answer.headers["allow"] == "GET, PUT", method
        assert answer.json()["detail"]
    assert client.get("/projects/x/keys").text == "<html>page</html>"  # pages stay the web app's
