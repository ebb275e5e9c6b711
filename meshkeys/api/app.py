"""The FastAPI factory. A NEW app on every call: Reflex may build its app twice in one process.

``rx.App(api_transformer=mount_api)`` serves these routes before Reflex's own ones.
"""

from __future__ import annotations

from typing import NoReturn

import swagger_ui_bundle
from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Route

from meshkeys import logs
from meshkeys.api.errors import install_error_handlers, use_error_body_for_422
from meshkeys.api.middleware import (
    BodySizeLimit,
    GenerationPrefetch,
    MetricsMiddleware,
    ProxyHeaders,
    SecurityHeaders,
)
from meshkeys.api.observability import Metrics
from meshkeys.api.routes import audit, keys, ops, projects, rotation, webhooks
from meshkeys.api.routes import session as session_routes
from meshkeys.config import get_settings

DESCRIPTION = """Manage the keys that sign webhooks (Standard Webhooks format).

Authenticate with `Authorization: Bearer mk_...`: create a token with
`meshkeys token create --user EMAIL` or on /settings/tokens. Every error answers
`{"detail": "..."}`. See docs/API.md for examples.
"""

DOCS_ASSETS = "/docs-assets"


def create_api() -> FastAPI:
    """Build the API app: routes, error handlers, CORS, metrics and the key-action log."""
    settings = get_settings()
    # /docs is served from the swagger-ui-bundle package, not a CDN: it works offline.
    api = FastAPI(
        title="meshkeys", version="0.1.0", description=DESCRIPTION, docs_url=None, redoc_url=None
    )
    api.mount(
        DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets"
    )

    @api.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="meshkeys API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    api.state.metrics = Metrics()
    logs.configure(as_json=settings.log_json)
    install_error_handlers(api)
    # The sender's routes first: a request is matched against the routers in this order, and
    # sign and verify are most of the traffic (their paths overlap no other router's).
    routers = [
        module.router for module in (webhooks, keys, audit, projects, ops, rotation, session_routes)
    ]
    for router in routers:
        api.include_router(router)
    # Every route of the API with its path template (FastAPI nests included routers).
    api.state.route_table = [
        route
        for route in [*api.router.routes, *(r for router in routers for r in router.routes)]
        if isinstance(route, Route)
    ]
    # Added innermost first: metrics see every answer, CORS headers go on the 413s too.
    api.add_middleware(BodySizeLimit, api=api)
    api.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.page_origins),
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Content-Disposition", "Retry-After", "ETag"],
    )
    api.add_middleware(MetricsMiddleware, api=api)
    api.add_middleware(SecurityHeaders)
    api.add_middleware(session_routes.SessionCookieDigest)
    api.add_middleware(ProxyHeaders)
    api.add_middleware(GenerationPrefetch, api=api)
    default_openapi = api.openapi

    def openapi() -> dict:
        if api.openapi_schema is None:
            api.openapi_schema = use_error_body_for_422(default_openapi())
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api


def accept_socket_origins(sio) -> None:
    """Let Reflex's websocket accept a page of the app's own origin, whatever port it is served
    on, and the configured others (``Settings.accepts_origin``); refuse every other origin.

    Socket.IO would otherwise accept only the fixed list of ``rx.Config.cors_allowed_origins``.
    """

    def accepts(origin: str, environ: dict) -> bool:
        return get_settings().accepts_origin(origin, host=environ.get("HTTP_HOST"))

    sio.eio.cors_allowed_origins = accepts


# Paths that belong to the API, whatever follows: none of them is a page of the web app.
API_PREFIXES = ("/keys", "/audit", "/webhooks", "/auth")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _answer_unknown_api_paths(api: FastAPI) -> None:
    """Below the real routes: an API path or method they do not serve answers the API's JSON
    404 or 405 (with ``Allow``), instead of falling through to the web app mounted behind."""

    def unknown(request: Request) -> NoReturn:
        table = api.state.route_table
        allowed = [route for route in table if route.matches(request.scope)[0] != Match.NONE]
        raise HTTPException(405 if allowed else 404)

    for prefix in API_PREFIXES:
        for path in (prefix, prefix + "/{rest:path}"):
            api.add_api_route(
                path, unknown, methods=ALL_METHODS, include_in_schema=False, response_model=None
            )


def mount_api(reflex_asgi) -> FastAPI:
    """``api_transformer`` for ``rx.App``: our routes first, then everything Reflex serves."""
    api = create_api()
    _answer_unknown_api_paths(api)
    api.mount("", reflex_asgi)
    return api
