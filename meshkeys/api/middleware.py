"""ASGI middleware of the API: request metrics, a JSON 413 for oversized bodies, and HSTS.

Both look only at requests an API route answers; what goes to the mounted Reflex app
(websocket, uploads, pages) passes through untouched.
"""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meshkeys.api.errors import MAX_BODY_BYTES, too_large_detail
from meshkeys.api.observability import UNMATCHED, Metrics


def api_route(api: FastAPI, scope: Scope) -> Route | None:
    """The API route that answers ``scope`` (for requests answered before routing ran)."""
    for candidate in api.state.route_table:
        if isinstance(candidate, Route) and candidate.matches(scope)[0] != Match.NONE:
            return candidate
    return None


class MetricsMiddleware:
    """Counts and times every HTTP request that an API route (or no route) answers.

    Requests handed to the mounted Reflex app are not counted: Reflex has its own endpoints.
    """

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api

    def _route(self, scope: Scope) -> str | None:
        route = scope.get("route") or api_route(self.api, scope)
        if route is None:
            return UNMATCHED
        return route.path_format if isinstance(route, Route) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = self._route(scope)
            if route is not None:
                metrics: Metrics = self.api.state.metrics
                labels = (scope["method"], route, str(status))
                metrics.requests.labels(*labels).inc()
                metrics.latency.labels(*labels).observe(time.perf_counter() - started)


class BodySizeLimit:
    """Refuse a declared ``Content-Length`` above the limit before reading a byte.

    Bodies without a length (chunked) are counted by the routers' ``max_body_size``.
    Starlette answers that case in plain text, so the declared case is answered here, in JSON.
    """

    def __init__(self, app: ASGIApp, api: FastAPI, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.api = api
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes and api_route(self.api, scope):
                response = JSONResponse({"detail": too_large_detail()}, status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


HSTS = "max-age=31536000; includeSubDomains"


def is_https(scope: Scope) -> bool:
    """Served over HTTPS, directly or behind a proxy that says so (X-Forwarded-Proto)."""
    forwarded = Headers(scope=scope).get("x-forwarded-proto", "").split(",")[0].strip()
    return scope.get("scheme") in ("https", "wss") or forwarded == "https"


class SecurityHeaders:
    """On every HTTP answer (API and Reflex pages alike): ``nosniff``, and HSTS over HTTPS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = is_https(scope)

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if https:
                    headers.append((b"strict-transport-security", HSTS.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)
