"""A project's rotation policy: read it, set it, turn it off."""

from __future__ import annotations

import uuid
from typing import NoReturn

from fastapi import APIRouter, HTTPException, Request

from meshkeys.api.deps import SignedIn, needs
from meshkeys.api.errors import MAX_BODY_BYTES, error_responses
from meshkeys.api.schemas import RotationPolicyRequest
from meshkeys.models import Permission, RotationPolicyPublic
from meshkeys.services import rotation_policy

router = APIRouter(
    prefix="/projects",
    tags=["projects"],
    max_body_size=MAX_BODY_BYTES,
    responses=error_responses(401, 404, 422),
)

PATH = "/{project_id}/rotation-policy"


@router.get(PATH, response_model=RotationPolicyPublic, openapi_extra=needs(Permission.KEYS_READ))
def get_rotation_policy(project_id: uuid.UUID, uow: SignedIn) -> RotationPolicyPublic:
    """The project's rotation policy (any member); `rotate_every_days` null: none."""
    return rotation_policy.get_policy(uow, project_id=project_id)


@router.put(
    PATH,
    response_model=RotationPolicyPublic,
    responses=error_responses(400, 403, 413),
    openapi_extra=needs(Permission.KEYS_WRITE),
)
def put_rotation_policy(
    project_id: uuid.UUID, body: RotationPolicyRequest, request: Request, uow: SignedIn
) -> RotationPolicyPublic:
    """Set the policy, or turn it off with `"rotate_every_days": null` (admin or owner).

    The app then rotates each active key `rotate_every_days` after its creation, keeping the
    old key for `grace_seconds`, audited with actor `system`.
    """
    if body.rotate_every_days is None:
        return rotation_policy.clear_policy(uow, project_id=project_id)
    return rotation_policy.set_policy(
        uow,
        project_id=project_id,
        rotate_every_days=body.rotate_every_days,
        grace_seconds=body.grace_seconds,
    )


@router.api_route(
    PATH,
    methods=["POST", "PATCH", "DELETE"],
    include_in_schema=False,
    response_model=None,
)
def rotation_policy_with_another_method() -> NoReturn:
    """The web app is mounted behind the API: without this it would answer with a page."""
    raise HTTPException(405, headers={"Allow": "GET, PUT"})
