"""Project settings and the published ed25519 public keys of a project."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from meshkeys.api.deps import SignedIn, _bearer, needs, unit_of_work
from meshkeys.api.errors import MAX_BODY_BYTES, error_responses
from meshkeys.api.schemas import ProjectSettingsRequest
from meshkeys.models import Permission, PublicKeySet
from meshkeys.services import auth, public_keys
from meshkeys.services.uow import UnitOfWork

router = APIRouter(
    prefix="/projects",
    tags=["projects"],
    max_body_size=MAX_BODY_BYTES,
    responses=error_responses(401, 404, 422),
)

# Published sets may sit in shared caches (a CDN in front of the app) for a minute; a set
# read with a token is for that caller only.
PUBLISHED_CACHE_CONTROL = "public, max-age=60"
PRIVATE_CACHE_CONTROL = "private"


def etag_of(body: bytes) -> str:
    """A strong validator: the same bytes give the same tag, any change another."""
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or any listed tag (weak comparison, as the RFC says)."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t == "*" or t.removeprefix("W/") == etag for t in tags)


@router.get(
    "/{project_id}/public-keys",
    response_model=PublicKeySet,
    responses={
        304: {"description": "Not modified: the `If-None-Match` tag is the current one."},
        **error_responses(429),
    },
    openapi_extra=needs(Permission.KEYS_READ),
)
def get_public_keys(
    project_id: uuid.UUID,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(unit_of_work, scope="request")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Response:
    """The project's active and expiring ed25519 public keys (`whpk_...`), newest first.

    No token is needed once an owner has published them (`PATCH /projects/{id}`
    `{"publish_public_keys": true}`); otherwise any member's token reads them. The answer
    carries a strong `ETag`: send it back as `If-None-Match` to get a 304 without a body.
    Unknown and unpublished projects look the same without a token (401).
    """
    found = public_keys.published_key_set(uow, project_id=project_id)
    cache_control = PUBLISHED_CACHE_CONTROL
    if found is None:
        auth.actor_for_api_token(uow, token=credentials.credentials if credentials else None)
        found = public_keys.public_key_set(uow, project_id=project_id)
        cache_control = PRIVATE_CACHE_CONTROL
    body = found.model_dump_json().encode()
    etag = etag_of(body)
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Authorization"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type="application/json", headers=headers)


@router.patch(
    "/{project_id}",
    response_model=PublicKeySet,
    responses=error_responses(400, 403, 413),
    openapi_extra=needs(Permission.MEMBERS_WRITE),
)
def update_project(
    project_id: uuid.UUID, body: ProjectSettingsRequest, uow: SignedIn
) -> PublicKeySet:
    """Change a project's settings (owners only): `publish_public_keys` turns the anonymous
    read of `GET /projects/{id}/public-keys` on or off. Audited as
    `project.public_keys_published` / `project.public_keys_unpublished`."""
    return public_keys.set_publish_public_keys(
        uow, project_id=project_id, publish=body.publish_public_keys
    )
