"""Domain errors -> HTTP answers, and the error responses documented in OpenAPI.

Every error body is ``{"detail": "<what happened and what to do>"}``. Validation
errors (422) add ``errors``: FastAPI's list of what failed where.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from meshkeys.services import errors

log = logging.getLogger("meshkeys.api")

MAX_BODY_BYTES = 1024 * 1024

STATUS_OF: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}
NOT_JSON = (
    "The request body is not valid JSON; send a UTF-8 JSON object with "
    "Content-Type: application/json."
)


class ErrorBody(BaseModel):
    detail: str


class ValidationErrorBody(ErrorBody):
    errors: list[dict[str, Any]] = []


_DESCRIPTIONS = {
    400: "Bad input: the detail says what to change.",
    401: "A missing, unknown, revoked or expired API token. Send `Authorization: Bearer mk_...`.",
    403: "Your role in the project, or the API token's permissions, do not allow this action; "
    "`detail` names the missing permission.",
    404: "Unknown, or belongs to a project you are not a member of.",
    409: "The change does not fit the current state (already revoked, compromised...).",
    413: f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB.",
    422: "The request does not match the schema (types, ranges, required fields).",
    429: "Too many attempts; retry after the number of seconds in `Retry-After`.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each listed error with its body model."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "model": ValidationErrorBody if code == 422 else ErrorBody,
            "description": _DESCRIPTIONS[code],
        }
        if code == 401:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "schema": {"type": "string"},
                    "description": "Always `Bearer`.",
                }
            }
        out[code] = entry
    return out


def too_large_detail() -> str:
    return (
        f"The request body is larger than the API's limit of {MAX_BODY_BYTES // 1024} KiB; "
        "send a smaller payload."
    )


def status_for(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers.update(BEARER_CHALLENGE)
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"detail": exc.message}, status_code=status, headers=headers)


def _where(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = list(exc.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        # Not JSON at all is bad input, not a schema mismatch.
        return JSONResponse({"detail": NOT_JSON}, status_code=400)
    summary = "; ".join(
        f"{_where(p.get('loc', ()))}: {p.get('msg', 'invalid')}" for p in problems[:5]
    )
    cleaned = [
        {
            "loc": [str(x) for x in p.get("loc", ())],
            "msg": str(p.get("msg", "")),
            "type": str(p.get("type", "")),
        }
        for p in problems
    ]
    return JSONResponse(
        {"detail": f"Invalid request: {summary}", "errors": cleaned}, status_code=422
    )


def _allowed_methods(request: Request) -> list[str]:
    """Every documented method of the resource (Starlette names only the first route's).

    A literal path (``/keys/generate``) is its own resource, even though a template
    (``/keys/{key_id}``) matches it too.
    """
    matching = [
        route
        for route in request.app.state.route_table
        if getattr(route, "include_in_schema", True)
        and route.matches(request.scope)[0] != Match.NONE
    ]
    literal = [route for route in matching if not route.param_convertors]
    return sorted({method for route in (literal or matching) for method in route.methods or ()})


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if exc.status_code == 413:
        detail = too_large_detail()
    elif exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = NOT_JSON  # FastAPI's words for a body that is not even UTF-8
    elif exc.status_code == 404 and detail == "Not Found":
        detail = "No such endpoint. The API reference is at /docs."
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = (
            f"{request.method} is not supported on {request.url.path}; use {' or '.join(allowed)}."
        )
    return JSONResponse({"detail": str(detail)}, status_code=exc.status_code, headers=headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "Internal error; it has been logged. Try again later."}, status_code=500
    )


def use_error_body_for_422(schema: dict[str, Any]) -> dict[str, Any]:
    """Document every 422 with the body the handler above sends (FastAPI's default differs)."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422")
            if answer:
                answer["content"] = {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ValidationErrorBody"}
                    }
                }
                answer["description"] = _DESCRIPTIONS[422]
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["ValidationErrorBody"] = ValidationErrorBody.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    return schema


def install_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(errors.DomainError, _domain_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(Exception, _unexpected)
