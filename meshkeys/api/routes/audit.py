"""The audit log of a project: pages with filters, and a streamed export."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from meshkeys.api.deps import SignedIn, needs
from meshkeys.api.errors import error_responses
from meshkeys.models import AuditPage, Permission
from meshkeys.services import audit, history
from meshkeys.services.history import AuditFilter

router = APIRouter(prefix="/audit", tags=["audit"], responses=error_responses(400, 401, 404, 422))

ActionName = Literal[audit.ACTIONS]  # type: ignore[valid-type]
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_8601(value: object) -> object:
    # Pydantic would read "422" as seconds since 1970: only ISO 8601 is a date here.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("use an ISO 8601 date-time with a time zone, e.g. 2026-01-31T00:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_8601)]


def audit_filter(
    action: Annotated[
        ActionName | None, Query(description="One action, e.g. `key.revoked`.")
    ] = None,
    key_id: Annotated[uuid.UUID | None, Query(description="Events about this key.")] = None,
    actor: Annotated[str | None, Query(max_length=320, description="Actor email, exact.")] = None,
    since: Annotated[
        IsoDateTime | None,
        Query(description="From this time on (inclusive), with a time zone: 2026-01-31T00:00:00Z."),
    ] = None,
    until: Annotated[IsoDateTime | None, Query(description="Before this time (exclusive).")] = None,
) -> AuditFilter:
    return AuditFilter(action=action, key_id=key_id, actor=actor, since=since, until=until)


Filter = Annotated[AuditFilter, Depends(audit_filter)]


@router.get(
    "",
    response_model=AuditPage,
    responses=error_responses(403),
    openapi_extra=needs(Permission.AUDIT_READ),
)
def list_events(
    uow: SignedIn,
    flt: Filter,
    project_id: Annotated[uuid.UUID, Query(description="The project whose log to read.")],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> AuditPage:
    """One page of events, newest first. Any member of the project may read its log."""
    return history.list_events(uow, project_id=project_id, flt=flt, limit=limit, cursor=cursor)


EXPORT_CHUNK_CHARS = 64 * 1024


def in_chunks(lines: Iterator[str], size: int = EXPORT_CHUNK_CHARS) -> Iterator[str]:
    """The lines joined into pieces of about ``size`` characters. Starlette runs each ``next()``
    of a synchronous iterator in its thread pool: one hop per 64 KiB rather than per line made
    the export six times faster (docs/PERFORMANCE.md), and memory stays one piece."""
    pending: list[str] = []
    length = 0
    for line in lines:
        pending.append(line)
        length += len(line)
        if length >= size:
            yield "".join(pending)
            pending, length = [], 0
    if pending:
        yield "".join(pending)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching event, newest first, as a download.",
            "content": {
                media.split(";")[0]: {"schema": {"type": "string"}}
                for media in history.EXPORT_FORMATS.values()
            },
        },
        **error_responses(403),
    },
    openapi_extra=needs(Permission.AUDIT_READ),
)
def export_events(
    uow: SignedIn,
    flt: Filter,
    project_id: Annotated[uuid.UUID, Query(description="The project whose log to export.")],
    format: Annotated[Literal["csv", "jsonl"], Query(description="`csv` or `jsonl`.")] = "csv",
) -> StreamingResponse:
    """Download the filtered events as CSV or JSON Lines, streamed in batches (never in memory).

    Access is checked before the first byte is sent; the rows are read while the answer
    streams, through the request's unit of work (closed once the last line is sent).
    """
    events = history.export_events(uow, project_id=project_id, flt=flt)
    filename = f"meshkeys-audit-{project_id}-{uow.now:%Y%m%dT%H%M%SZ}.{format}"
    return StreamingResponse(
        in_chunks(history.export_lines(events, format)),
        media_type=history.EXPORT_FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
