"""ASGI middleware of the API: request metrics, a JSON 413 for oversized bodies, and the
security headers of every answer (pages included).

Both look only at requests an API route answers; what goes to the mounted Reflex app
(websocket, uploads, pages) passes through untouched.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meshkeys.api.deps import GENERATION_READ, caller
from meshkeys.api.errors import MAX_BODY_BYTES, too_large_detail
from meshkeys.api.observability import UNMATCHED, Metrics
from meshkeys.config import get_settings
from meshkeys.forwarding import came_over_https, client_address, trusted
from meshkeys.services.cache import start_generation_read


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


def _route_path(scope: Scope) -> str:
    """The path the API's routes match (without the ``root_path`` of a mount), as Starlette's."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _depends_on(dependant: Any, call: Any) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


class GenerationPrefetch:
    """Begins the cache generation's read as a request of an ``async`` route arrives (the
    routes whose sign-in is ``deps.caller``: sign, verify, batch, the key list), before the
    rest of the middleware, routing and body parsing run: the route's ``caller`` then waits
    for what is left of that round trip instead of starting it (``cache.start_generation_read``).

    Semantics unchanged: the statement is sent after the request arrived, so a revoke
    answered before it is seen. Outermost, so the round trip overlaps as much as it can.
    """

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.warm = {
            (method, route.path)
            for route in api.state.route_table
            if isinstance(route, APIRoute) and _depends_on(route.dependant, caller)
            for method in route.methods
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], _route_path(scope)) in self.warm:
            scope[GENERATION_READ] = start_generation_read()
        await self.app(scope, receive, send)


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


class ProxyHeaders:
    """Outermost: a request from a trusted proxy (MESHKEYS_TRUSTED_PROXIES) is seen by everything
    inside (Reflex's redirects and websocket, the routes, the throttle) as the proxy saw it: the
    client's address from X-Forwarded-For, the scheme from X-Forwarded-Proto. From anyone
    else the headers change nothing (meshkeys.forwarding)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            proxies = get_settings().trusted_proxies
            client = scope.get("client")
            peer = client[0] if client else None
            if proxies and trusted(peer, proxies):
                headers = Headers(scope=scope)
                forwarded = client_address(peer, headers.get("x-forwarded-for"), proxies)
                scope = {**scope, "client": (forwarded, client[1] if client else 0)}
                proto = (headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
                if proto in ("http", "https"):
                    secure = proto == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = proto
        await self.app(scope, receive, send)


def is_https(scope: Scope) -> bool:
    """Served over HTTPS, directly or behind a trusted proxy that says so (X-Forwarded-Proto
    from an address in MESHKEYS_TRUSTED_PROXIES; meshkeys.forwarding)."""
    client = scope.get("client")
    return came_over_https(
        scope.get("scheme"),
        client[0] if client else None,
        Headers(scope=scope).get("x-forwarded-proto"),
        get_settings().trusted_proxies,
    )


# Every answer: no framing, no referrer to other origins, no sniffing.
COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]
# Answers that are not pages (JSON, CSV, assets): nothing may run or load from them.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def page_csp(nonce: str) -> str:
    """The policy of an HTML page: scripts only from this origin or carrying this answer's nonce.

    Reflex's prerendered pages hold inline scripts (React Router's context, the theme and
    scroll helpers, the streaming markers) and Swagger UI one: each gets the nonce. Reflex runs
    the scripts its server sends over the websocket with ``eval`` (``rx.call_script``, and the
    ``ClientStateVar`` the one-time secret dialog is built on), hence ``'unsafe-eval'``. Styles
    may be inline (Emotion and Radix inject ``<style>`` at run time); images and fonts may be
    ``data:``; the websocket and fetches go to this origin only; nothing may frame a page.
    """
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}' 'unsafe-eval'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


PATHSEND = "http.response.pathsend"
_SCRIPT_TAG = re.compile(rb"<script(?=[\s>])", re.IGNORECASE)


def add_nonce(html: bytes, nonce: str) -> bytes:
    """Every ``<script`` tag of a page with ``nonce="..."``.

    Safe only because every page is a static build (Reflex's prerendered HTML, Swagger UI's
    template): no server-side HTML carries user text, so every script tag is the app's own.
    User data reaches the browser over the websocket and React renders it as text.
    """
    return _SCRIPT_TAG.sub(b'<script nonce="' + nonce.encode("ascii") + b'"', html)


def _drop(headers: list[tuple[bytes, bytes]], *names: bytes) -> list[tuple[bytes, bytes]]:
    return [(k, v) for k, v in headers if k.lower() not in names]


class SecurityHeaders:
    """On every HTTP answer (API and Reflex pages alike): ``nosniff``, ``X-Frame-Options: DENY``,
    ``Referrer-Policy: same-origin``, a Content-Security-Policy, and HSTS over HTTPS.

    HTML pages get ``page_csp`` with a fresh nonce added to their script tags (their body is
    read whole, rewritten and sent without validators, so a cached copy never meets another
    answer's nonce); every other answer gets ``DATA_CSP``. A 304 gets no policy: the cached
    page keeps the one its nonce belongs to.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = is_https(scope)
        if "text/html" in Headers(scope=scope).get("accept", ""):
            # A page is rewritten, so it must come uncompressed (Reflex may serve .gz/.br) and as
            # body messages (not granian's ``pathsend``, which hands the server a file path).
            extensions = {k: v for k, v in scope.get("extensions", {}).items() if k != PATHSEND}
            headers = _drop(list(scope["headers"]), b"accept-encoding")
            scope = {**scope, "headers": headers, "extensions": extensions}
        start: Message | None = None
        body: list[bytes] = []

        def with_headers(message: Message, csp: str | None) -> Message:
            headers = list(message.get("headers", [])) + COMMON_HEADERS
            if csp is not None:
                headers.append((b"content-security-policy", csp.encode()))
            if https:
                headers.append((b"strict-transport-security", HSTS.encode()))
            return {**message, "headers": headers}

        async def add_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = Headers(raw=list(message.get("headers", [])))
                is_page = headers.get("content-type", "").startswith("text/html")
                if message["status"] == 304:
                    await send(with_headers(message, None))
                elif is_page and not headers.get("content-encoding") and scope["method"] != "HEAD":
                    start = message  # sent with the rewritten body
                else:
                    csp = page_csp(secrets.token_urlsafe(16)) if is_page else DATA_CSP
                    await send(with_headers(message, csp))
                return
            if start is None or message["type"] not in ("http.response.body", PATHSEND):
                await send(message)
                return
            if message["type"] == PATHSEND:  # a server that offered it anyway: read the file
                body.append(await anyio.Path(message["path"]).read_bytes())
            else:
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
            nonce = secrets.token_urlsafe(16)
            html = add_nonce(b"".join(body), nonce)
            raw = _drop(
                list(start.get("headers", [])),
                b"content-length",
                b"etag",
                b"last-modified",
                b"cache-control",
            )
            raw += [(b"content-length", str(len(html)).encode()), (b"cache-control", b"no-store")]
            await send(with_headers({**start, "headers": raw}, page_csp(nonce)))
            await send({"type": "http.response.body", "body": html, "more_body": False})

        await self.app(scope, receive, add_headers)
