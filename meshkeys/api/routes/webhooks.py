"""Standard Webhooks signing and verification with a project's active keys."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from meshkeys.api.deps import Authenticated, answer, needs
from meshkeys.api.errors import MAX_BODY_BYTES, ErrorBody, error_responses
from meshkeys.api.observability import key_action, metrics_of
from meshkeys.api.schemas import (
    SignBatchRequest,
    SignBatchResponse,
    SignRequest,
    SignResponse,
    VerifyRequest,
    VerifyResult,
)
from meshkeys.models import Permission
from meshkeys.services import signing
from meshkeys.services.errors import InvalidInput
from meshkeys.services.uow import UnitOfWork

router = APIRouter(
    prefix="/webhooks",
    tags=["webhooks"],
    max_body_size=MAX_BODY_BYTES,
    responses=error_responses(401, 404, 413, 422),
)


@router.post(
    "/sign",
    response_model=SignResponse,
    responses=error_responses(400, 403, 409),
    openapi_extra=needs(Permission.WEBHOOKS_SIGN),
)
async def sign(body: SignRequest, request: Request, who: Authenticated) -> SignResponse:
    """The three Standard Webhooks headers for `payload`, signed by every active key.

    Keys in a revocation grace period still sign. A project without an active key is a 409.
    """

    def work(uow: UnitOfWork) -> SignResponse:
        with key_action(request, "sign", uow.actor, project_id=body.project_id):
            headers = signing.sign_payload(
                uow,
                project_id=body.project_id,
                payload=body.payload.encode("utf-8"),
                msg_id=body.msg_id,
                timestamp=body.timestamp,
            )
        return SignResponse(headers=headers)

    return await answer(who, work)


@router.post(
    "/sign/batch",
    response_model=SignBatchResponse,
    responses=error_responses(400, 403, 409),
    openapi_extra=needs(Permission.WEBHOOKS_SIGN),
)
async def sign_batch(
    body: SignBatchRequest, request: Request, who: Authenticated
) -> SignBatchResponse:
    """Sign 1 to 1,000 messages in one call: `items[i]` holds the headers of `messages[i]`.

    The project's keys are loaded once for the whole batch; each message is signed by every
    active key, as `POST /webhooks/sign` does. More than 1,000 messages, or none, is a 422.
    """
    messages = [
        signing.Message(m.payload.encode("utf-8"), m.msg_id, m.timestamp) for m in body.messages
    ]

    def work(uow: UnitOfWork) -> SignBatchResponse:
        with key_action(
            request, "sign_batch", uow.actor, project_id=body.project_id, messages=len(messages)
        ):
            signed = signing.sign_batch(uow, project_id=body.project_id, messages=messages)
        return SignBatchResponse(items=[SignResponse(headers=h) for h in signed])

    return await answer(who, work)


@router.post(
    "/verify",
    response_model=VerifyResult,
    responses={
        400: {
            "model": VerifyResult | ErrorBody,
            "description": "Not valid: `valid` is false and `detail` says why (no matching active "
            "key, a timestamp more than 300 s away, a missing header...). A body that is not JSON "
            "gets the usual error body.",
        },
        **error_responses(403, 409),
    },
    openapi_extra=needs(Permission.WEBHOOKS_VERIFY),
)
async def verify(body: VerifyRequest, request: Request, who: Authenticated):
    """Check a received webhook against the project's active keys; answers which key matched."""

    def work(uow: UnitOfWork) -> VerifyResult | JSONResponse:
        try:
            key_id = signing.verify_payload(
                uow,
                project_id=body.project_id,
                payload=body.payload.encode("utf-8"),
                headers=body.headers,
            )
        except InvalidInput as exc:
            metrics_of(request).verifications.labels("invalid").inc()
            return JSONResponse(
                VerifyResult(valid=False, detail=exc.message).model_dump(mode="json"),
                status_code=400,
            )
        metrics_of(request).verifications.labels("valid").inc()
        return VerifyResult(valid=True, key_id=key_id)

    return await answer(who, work)
