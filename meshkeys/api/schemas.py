"""Request bodies and the answers that are not read models of ``meshkeys.models``.

Types and ranges are checked here (422); the rules behind them live in the services (400/409).
Numbers are strict: JSON ``true`` or ``"60"`` is not a number of seconds.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from meshkeys.models import KeyType, RevokeReason
from meshkeys.services.keys import (
    DEFAULT_ROTATION_GRACE_SECONDS,
    MAX_GRACE_SECONDS,
    MAX_NAME_LENGTH,
)
from meshkeys.services.rotation_policy import MAX_DAYS as MAX_ROTATION_DAYS
from meshkeys.services.rotation_policy import MIN_DAYS as MIN_ROTATION_DAYS
from meshkeys.services.signing import MAX_BATCH_MESSAGES


def _encodable(text: str) -> str:
    # JSON may escape a lone surrogate (\\ud800); it has no UTF-8 form, so nothing signs it.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "must be text that UTF-8 can encode; remove the lone surrogate (\\ud800 to \\udfff)"
        ) from None
    return text


Utf8Text = Annotated[str, AfterValidator(_encodable)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateKeyRequest(Body):
    project_id: uuid.UUID
    name: str = Field(max_length=MAX_NAME_LENGTH, examples=["billing-webhooks"])
    type: KeyType = Field(
        default=KeyType.HMAC_SHA256,
        description="`hmac-sha256` (Standard Webhooks `v1`, a `whsec_` secret) or `ed25519` "
        "(`v1a`, a `whsk_` signing key whose `whpk_` public key receivers may fetch).",
    )


class ProjectSettingsRequest(Body):
    publish_public_keys: bool = Field(
        strict=True,
        description="true: anyone may read GET /projects/{id}/public-keys without a token.",
    )


class RevokeKeyRequest(Body):
    reason: RevokeReason = Field(
        description="Why: `retired`, `rotated` or `compromised` "
        "(a compromised key can never be reactivated)."
    )
    grace_seconds: int = Field(
        default=0,
        ge=0,
        strict=True,
        le=MAX_GRACE_SECONDS,
        description="0 revokes now; up to 604800 (7 days) keeps the key signing and verifying "
        "until then.",
    )


class RotateKeyRequest(Body):
    grace_seconds: int = Field(
        default=DEFAULT_ROTATION_GRACE_SECONDS,
        ge=0,
        le=MAX_GRACE_SECONDS,
        strict=True,
        description="How long the old key keeps signing and verifying (default 24 h).",
    )


class RotationPolicyRequest(Body):
    rotate_every_days: int | None = Field(
        ge=MIN_ROTATION_DAYS,
        le=MAX_ROTATION_DAYS,
        strict=True,
        description="Rotate each active key this many days (1-365) after its creation; "
        "null turns the policy off.",
        examples=[90],
    )
    grace_seconds: int = Field(
        default=DEFAULT_ROTATION_GRACE_SECONDS,
        ge=0,
        le=MAX_GRACE_SECONDS,
        strict=True,
        description="How long a rotated key keeps signing and verifying (default 24 h).",
    )


class SignRequest(Body):
    project_id: uuid.UUID
    payload: Utf8Text = Field(description="The webhook body, signed as its UTF-8 bytes, unparsed.")
    msg_id: Utf8Text | None = Field(default=None, description="Default: a new `msg_...` id.")
    timestamp: int | None = Field(
        default=None, strict=True, description="Seconds since the epoch; default now."
    )


class BatchMessage(Body):
    payload: Utf8Text = Field(description="The webhook body, signed as its UTF-8 bytes, unparsed.")
    msg_id: Utf8Text | None = Field(default=None, description="Default: a new `msg_...` id.")
    timestamp: int | None = Field(
        default=None, strict=True, description="Seconds since the epoch; default now."
    )


class SignBatchRequest(Body):
    project_id: uuid.UUID
    messages: list[BatchMessage] = Field(
        min_length=1,
        max_length=MAX_BATCH_MESSAGES,
        description="1 to 1,000 messages, signed in this order.",
    )


class WebhookHeaders(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    webhook_id: str = Field(alias="webhook-id")
    webhook_timestamp: str = Field(alias="webhook-timestamp")
    webhook_signature: str = Field(
        alias="webhook-signature",
        description="One `v1,<base64>` per active key of the project, space-separated.",
    )


class SignResponse(BaseModel):
    headers: WebhookHeaders


class SignBatchResponse(BaseModel):
    items: list[SignResponse] = Field(description="One per message, in the request's order.")


class VerifyRequest(Body):
    project_id: uuid.UUID
    payload: Utf8Text = Field(description="The webhook body exactly as received (UTF-8).")
    headers: dict[Utf8Text, Utf8Text] = Field(
        description="At least `webhook-id`, `webhook-timestamp`, `webhook-signature` "
        "(`svix-` names are accepted too; the `webhook-` one counts when both are sent); "
        "other headers are ignored.",
    )


class VerifyResult(BaseModel):
    valid: bool
    key_id: uuid.UUID | None = Field(default=None, description="The key whose signature matched.")
    detail: str | None = Field(default=None, description="Why verification failed.")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
