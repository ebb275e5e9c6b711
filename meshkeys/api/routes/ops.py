"""Health and metrics: unauthenticated, for load balancers and Prometheus."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from meshkeys.api.observability import metrics_of
from meshkeys.api.schemas import Health
from meshkeys.services.errors import Unavailable
from meshkeys.services.uow import UnitOfWork

router = APIRouter(tags=["operations"])
log = logging.getLogger("meshkeys.api")


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database does not answer."}},
)
def health():
    """200 when the database answers a query, else 503."""
    try:
        with UnitOfWork() as uow:
            uow.session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, Unavailable) as exc:
        log.warning("health check failed: %s", type(exc).__name__)
        return JSONResponse(Health(status="unavailable").model_dump(), status_code=503)
    return Health(status="ok")


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request) -> Response:
    """Request counts and latency by route and status, key operations, verification results."""
    return Response(generate_latest(metrics_of(request).registry), media_type=CONTENT_TYPE_LATEST)
