"""`meshkeys keys ...`: generate, list, revoke, reactivate, rotate; sign and verify webhooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from meshkeys.cli import (
    as_user,
    choice_of,
    emit,
    handles_errors,
    json_option,
    main,
    parse_uuid,
    user_option,
)
from meshkeys.models import KeyStatus, KeyType, RevokeReason
from meshkeys.services import errors, key_commands, key_queries, signing
from meshkeys.services.keys import DEFAULT_ROTATION_GRACE_SECONDS

# ---------------------------------------------------------------- keys


@main.group()
def keys() -> None:
    """Signing keys."""


def _key_line(k: Any) -> str:
    extra = f"  expires {k.expires_at.isoformat()}" if k.expires_at else ""
    created = f"{k.created_at:%Y-%m-%d %H:%M}"
    return f"{k.id}  {k.status:<7}  {k.masked_secret:<12}  {created}  {k.name}{extra}"


def _generated_text(k: Any) -> str:
    public = f"\npublic key: {k.public_key} (not a secret: give it to receivers)"
    return f"{k.id}\n{k.secret}\n(the secret is shown once; store it now)" + (
        public if k.public_key else ""
    )


@keys.command("generate")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.option("--name", required=True, help="A name for the key.")
@click.option(
    "--type",
    "key_type",
    type=choice_of(KeyType),
    default=KeyType.HMAC_SHA256.value,
    show_default=True,
    help="hmac-sha256 (v1, whsec_) or ed25519 (v1a, whsk_ with a whpk_ public key).",
)
@user_option
@json_option
@handles_errors
def keys_generate(
    project_id: str, name: str, key_type: str, user_email: str, as_json: bool
) -> None:
    """Generate a key; its secret is printed once."""

    with as_user(user_email) as uow:
        key = key_commands.generate_key(
            uow, project_id=parse_uuid(project_id, "--project"), name=name, key_type=key_type
        )
    emit(key, as_json, _generated_text)


@keys.command("list")
@click.option("--project", "project_id", required=True)
@click.option("--status", type=choice_of(KeyStatus))
@click.option("-q", "--search", "q", help="Name prefix or id prefix.")
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--cursor")
@user_option
@json_option
@handles_errors
def keys_list(
    project_id: str,
    status: str | None,
    q: str | None,
    limit: int,
    cursor: str | None,
    user_email: str,
    as_json: bool,
) -> None:
    """One page of keys, newest first."""

    with as_user(user_email) as uow:
        page = key_queries.list_keys(
            uow,
            project_id=parse_uuid(project_id, "--project"),
            status=status,
            q=q,
            limit=limit,
            cursor=cursor,
        )

    def human(p: Any) -> str:
        lines = [_key_line(k) for k in p.items]
        lines.append(
            f"{len(p.items)} of {p.total}"
            + (f"; next: --cursor {p.next_cursor}" if p.next_cursor else "")
        )
        return "\n".join(lines)

    emit(page, as_json, human)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--reason", type=choice_of(RevokeReason), required=True)
@click.option("--grace-seconds", default=0, show_default=True, type=int)
@user_option
@json_option
@handles_errors
def keys_revoke(
    key_id: str, reason: str, grace_seconds: int, user_email: str, as_json: bool
) -> None:
    """Revoke a key now, or after a grace period (at most 604800 s)."""

    with as_user(user_email) as uow:
        key = key_commands.revoke_key(
            uow,
            key_id=parse_uuid(key_id, "KEY_ID"),
            reason=reason,
            grace_seconds=grace_seconds,
        )
    emit(key, as_json, _key_line)


@keys.command("reactivate")
@click.argument("key_id")
@user_option
@json_option
@handles_errors
def keys_reactivate(key_id: str, user_email: str, as_json: bool) -> None:
    """Reactivate a revoked key (refused for compromised keys)."""

    with as_user(user_email) as uow:
        key = key_commands.reactivate_key(uow, key_id=parse_uuid(key_id, "KEY_ID"))
    emit(key, as_json, _key_line)


@keys.command("rotate")
@click.argument("key_id")
@click.option(
    "--grace-seconds", default=DEFAULT_ROTATION_GRACE_SECONDS, show_default=True, type=int
)
@user_option
@json_option
@handles_errors
def keys_rotate(key_id: str, grace_seconds: int, user_email: str, as_json: bool) -> None:
    """Replace a key: a new one now, the old one revoked after the grace period."""

    with as_user(user_email) as uow:
        key = key_commands.rotate_key(
            uow,
            key_id=parse_uuid(key_id, "KEY_ID"),
            grace_seconds=grace_seconds,
        )
    emit(key, as_json, _generated_text)


def _payload(payload: str | None, payload_file: Any) -> bytes:
    if (payload is None) == (payload_file is None):
        raise errors.InvalidInput(
            "give the payload with --payload TEXT or --payload-file PATH ('-' for stdin)"
        )
    return payload.encode("utf-8") if payload is not None else payload_file.read()


payload_options = [
    click.option("--payload", help="The webhook body as text (signed as UTF-8)."),
    click.option(
        "--payload-file",
        type=click.File("rb"),
        help="Read the body from a file, byte for byte ('-' for stdin).",
    ),
]


def _with(options: list[Callable]) -> Callable:
    def decorate(fn: Callable) -> Callable:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


@keys.command("sign")
@click.option("--project", "project_id", required=True, help="Project id.")
@_with(payload_options)
@click.option("--msg-id", help="Message id (default: a new msg_... id).")
@click.option("--timestamp", type=int, help="Seconds since the epoch (default: now).")
@user_option
@json_option
@handles_errors
def keys_sign(
    project_id: str,
    payload: str | None,
    payload_file: Any,
    msg_id: str | None,
    timestamp: int | None,
    user_email: str,
    as_json: bool,
) -> None:
    """Print the Standard Webhooks headers for a payload, signed by every active key."""

    body = _payload(payload, payload_file)
    with as_user(user_email) as uow:
        headers = signing.sign_payload(
            uow,
            project_id=parse_uuid(project_id, "--project"),
            payload=body,
            msg_id=msg_id,
            timestamp=timestamp,
        )
    emit(headers, as_json, lambda h: "\n".join(f"{k}: {v}" for k, v in h.items()))


def _parse_headers(values: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise errors.InvalidInput(f"--header takes 'name: value', got {value!r}")
        headers[name.strip().lower()] = content.strip()
    return headers


@keys.command("verify")
@click.option("--project", "project_id", required=True, help="Project id.")
@_with(payload_options)
@click.option(
    "--header",
    "header_values",
    multiple=True,
    required=True,
    help="A received header as 'name: value'; repeat for webhook-id, webhook-timestamp "
    "and webhook-signature.",
)
@user_option
@json_option
@handles_errors
def keys_verify(
    project_id: str,
    payload: str | None,
    payload_file: Any,
    header_values: tuple[str, ...],
    user_email: str,
    as_json: bool,
) -> None:
    """Check a received webhook against the project's active keys (exit 2 when it fails)."""

    body = _payload(payload, payload_file)
    headers = _parse_headers(header_values)
    with as_user(user_email) as uow:
        key_id = signing.verify_payload(
            uow,
            project_id=parse_uuid(project_id, "--project"),
            payload=body,
            headers=headers,
        )
    emit(
        {"valid": True, "key_id": str(key_id)},
        as_json,
        lambda d: f"valid: signed by key {d['key_id']}",
    )
