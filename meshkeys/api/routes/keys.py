"""Signing keys: generate, list, get, revoke, reactivate, rotate."""

from __future__ import annotations

import uuid
from typing import Annotated, NoReturn

from fastapi import APIRouter, Body, HTTPException, Query, Request

from meshkeys.api.deps import Authenticated, SignedIn, answer, needs
from meshkeys.api.errors import MAX_BODY_BYTES, error_responses
from meshkeys.api.observability import key_action
from meshkeys.api.schemas import GenerateKeyRequest, RevokeKeyRequest, RotateKeyRequest
from meshkeys.models import KeyPage, KeyPublic, KeyStatus, KeyWithSecret, Permission
from meshkeys.services import key_commands, key_queries
from meshkeys.services.keys import MAX_NAME_LENGTH, MAX_PAGE_SIZE

router = APIRouter(
    prefix="/keys", tags=["keys"], max_body_size=MAX_BODY_BYTES, responses=error_responses(401, 422)
)


@router.post(
    "/generate",
    status_code=201,
    response_model=KeyWithSecret,
    responses=error_responses(400, 403, 404, 413),
    openapi_extra=needs(Permission.KEYS_WRITE),
)
def generate_key(
    body: GenerateKeyRequest,
    request: Request,
    uow: SignedIn,
) -> KeyWithSecret:
    """Create a key. The answer carries its `secret`: the only time it is returned.

    `type` is `hmac-sha256` (default: a `whsec_` secret, `v1` signatures) or `ed25519`
    (a `whsk_` signing key, `v1a` signatures; its `public_key` is shown with the key).

    Needs `keys:write` (admins and owners; a token must have it too).
    """
    with key_action(request, "generate", uow.actor, project_id=body.project_id) as note:
        key = key_commands.generate_key(
            uow, project_id=body.project_id, name=body.name, key_type=body.type
        )
        note.key_id = key.id
    return key


@router.api_route(
    "/generate",
    methods=["GET", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    response_model=None,
)
def generate_with_another_method() -> NoReturn:
    """Without this, GET /keys/generate would reach GET /keys/{key_id} and say "not a UUID"."""
    raise HTTPException(405)


@router.get(
    "",
    response_model=KeyPage,
    responses=error_responses(400, 403, 404),
    openapi_extra=needs(Permission.KEYS_READ),
)
async def list_keys(
    who: Authenticated,
    project_id: Annotated[uuid.UUID, Query(description="The project whose keys to list.")],
    status: Annotated[
        KeyStatus | None,
        Query(description="Effective status: keys in a grace period count as active."),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_NAME_LENGTH, description="Name prefix (case-insensitive) or id prefix."
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> KeyPage:
    """One page of keys, newest first; `total` counts every key matching the filters."""
    return await answer(
        who,
        lambda uow: key_queries.list_keys(
            uow, project_id=project_id, status=status, q=q, limit=limit, cursor=cursor
        ),
    )


@router.get(
    "/{key_id}",
    response_model=KeyPublic,
    responses=error_responses(403, 404),
    openapi_extra=needs(Permission.KEYS_READ),
)
def get_key(key_id: uuid.UUID, uow: SignedIn) -> KeyPublic:
    """One key, with its masked secret only."""
    return key_queries.get_key(uow, key_id=key_id)


@router.post(
    "/{key_id}/revoke",
    response_model=KeyPublic,
    responses=error_responses(400, 403, 404, 409, 413),
    openapi_extra=needs(Permission.KEYS_WRITE),
)
def revoke_key(
    key_id: uuid.UUID,
    body: RevokeKeyRequest,
    request: Request,
    uow: SignedIn,
) -> KeyPublic:
    """Revoke now (`grace_seconds` 0) or after a grace period; already revoked is a 409.

    A key in a grace period may be revoked again only to bring the end forward.
    """
    with key_action(
        request,
        "revoke",
        uow.actor,
        key_id=key_id,
        reason=str(body.reason),
        grace_seconds=body.grace_seconds,
    ) as note:
        key = key_commands.revoke_key(
            uow,
            key_id=key_id,
            reason=body.reason,
            grace_seconds=body.grace_seconds,
        )
        note.project_id = key.project_id
    return key


@router.post(
    "/{key_id}/reactivate",
    response_model=KeyPublic,
    responses=error_responses(403, 404, 409),
    openapi_extra=needs(Permission.KEYS_WRITE),
)
def reactivate_key(key_id: uuid.UUID, request: Request, uow: SignedIn) -> KeyPublic:
    """Make a revoked key active again. Already active, or revoked as compromised: 409."""
    with key_action(request, "reactivate", uow.actor, key_id=key_id) as note:
        key = key_commands.reactivate_key(uow, key_id=key_id)
        note.project_id = key.project_id
    return key


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    response_model=KeyWithSecret,
    responses=error_responses(400, 403, 404, 409, 413),
    openapi_extra=needs(Permission.KEYS_WRITE),
)
def rotate_key(
    key_id: uuid.UUID,
    request: Request,
    uow: SignedIn,
    body: Annotated[RotateKeyRequest | None, Body()] = None,
) -> KeyWithSecret:
    """Generate a successor (same name) and revoke this key after `grace_seconds` (default 24 h).

    The answer is the NEW key with its `secret`, shown this once.
    """
    grace = (body or RotateKeyRequest()).grace_seconds
    with key_action(request, "rotate", uow.actor, key_id=key_id, grace_seconds=grace) as note:
        key = key_commands.rotate_key(uow, key_id=key_id, grace_seconds=grace)
        note.project_id = key.project_id
        note.fields["new_key_id"] = key.id
    return key
