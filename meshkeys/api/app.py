"""The FastAPI factory. A NEW app on every call: Reflex may build its app twice in one process.

``rx.App(api_transformer=mount_api)`` serves these routes before Reflex's own ones.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from meshkeys.api.routes import session as session_routes
from meshkeys.db import session_scope


def create_api() -> FastAPI:
    """Build the API app: routes, error handlers, middleware, metrics."""
    api = FastAPI(title="meshkeys", version="0.1.0")
    api.include_router(session_routes.router)

    @api.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        try:
            with session_scope() as s:
                s.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return api


def mount_api(reflex_asgi) -> FastAPI:
    """``api_transformer`` for ``rx.App``: our routes first, then everything Reflex serves."""
    api = create_api()
    api.mount("", reflex_asgi)
    return api
