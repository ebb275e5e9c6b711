"""The `meshkeys` command: a thin door onto the services.

Every command that acts on a project names its actor with ``--user EMAIL``
(or ``MESHKEYS_USER``): the CLI obeys the same roles as the UI and the API.
Exit codes: 0 ok, 1 unexpected, 2 bad input, 3 not found, 4 permission denied,
5 conflict, 6 authentication.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import wraps
from typing import Any

import click
from pydantic import BaseModel

from meshkeys import logs
from meshkeys.config import ConfigError
from meshkeys.models import KeyStatus, RevokeReason, Role
from meshkeys.services import (
    auth,
    errors,
    key_commands,
    key_queries,
    operations,
    projects,
    signing,
)
from meshkeys.services.keys import DEFAULT_ROTATION_GRACE_SECONDS
from meshkeys.services.uow import UnitOfWork

EXIT_CODES = {
    errors.InvalidInput: 2,
    errors.NotFound: 3,
    errors.PermissionDenied: 4,
    errors.Conflict: 5,
    errors.Unauthenticated: 6,
    errors.RateLimited: 6,
}


@contextmanager
def _as_user(email: str) -> Iterator[UnitOfWork]:
    """A unit of work acting as the user with this email (``--user``)."""

    if not email:
        raise errors.InvalidInput("name the acting user with --user EMAIL (or MESHKEYS_USER)")
    with UnitOfWork() as uow:
        auth.act_as_user(uow, email=email)
        yield uow


def _emit(obj: Any, as_json: bool, human: Callable[[Any], str] | None = None) -> None:
    if as_json:
        if isinstance(obj, BaseModel):
            payload: Any = obj.model_dump(mode="json")
        elif isinstance(obj, list):
            payload = [o.model_dump(mode="json") if isinstance(o, BaseModel) else o for o in obj]
        else:
            payload = obj
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        click.echo(human(obj) if human else str(obj))


def handles_errors(fn: Callable) -> Callable:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.DomainError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(EXIT_CODES.get(type(exc), 1))
        except ConfigError as exc:
            click.echo(f"configuration error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.InvalidInput(
            f"{what} must be a UUID such as 0b6f4c1e-...; got {value!r}"
        ) from None


def _choice(enum: type[StrEnum]) -> click.Choice[str]:
    """The values of a model enum, as click's choices: never spelled twice."""
    return click.Choice([member.value for member in enum])


user_option = click.option(
    "--user",
    "user_email",
    envvar="MESHKEYS_USER",
    required=True,
    help="Email of the acting user (env MESHKEYS_USER).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group()
def main() -> None:
    """meshkeys: keys that sign webhooks."""
    logs.configure()


# ---------------------------------------------------------------- db


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@handles_errors
def db_upgrade(revision: str) -> None:
    """Apply migrations to MESHKEYS_DATABASE_URL."""
    from meshkeys import migrations
    from meshkeys.config import get_settings

    migrations.upgrade(revision=revision)
    click.echo(f"database at {_redact(get_settings().database_url)} is at {revision}")


@db.command("downgrade")
@click.option("--revision", default="base", show_default=True)
@handles_errors
def db_downgrade(revision: str) -> None:
    """Revert migrations (default: everything)."""
    from meshkeys import migrations

    migrations.downgrade(revision=revision)
    click.echo(f"database downgraded to {revision}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# ---------------------------------------------------------------- users, projects, members


@main.group()
def user() -> None:
    """Users."""


@user.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
@handles_errors
def user_create(email: str, password_stdin: bool, as_json: bool) -> None:
    """Create a user (password from a prompt, or stdin)."""

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with UnitOfWork() as uow:
        created = auth.create_user(uow, email=email, password=password)
    _emit(created, as_json, lambda u: f"created user {u.email} ({u.id})")


@main.group()
def project() -> None:
    """Projects."""


@project.command("create")
@click.argument("name")
@click.option("--owner", required=True, help="Email of the owning user.")
@json_option
@handles_errors
def project_create(name: str, owner: str, as_json: bool) -> None:
    """Create a project and print its id."""

    with _as_user(owner) as uow:
        created = projects.create_project(uow, name=name)
    _emit(created, as_json, lambda p: str(p.id))


@project.command("list")
@user_option
@json_option
@handles_errors
def project_list(user_email: str, as_json: bool) -> None:
    """Projects the user is a member of."""

    with _as_user(user_email) as uow:
        items = projects.list_projects(
            uow,
        )
    _emit(items, as_json, lambda ps: "\n".join(f"{p.id}  {p.role:<6}  {p.name}" for p in ps))


@main.group()
def member() -> None:
    """Project members."""


@member.command("add")
@click.argument("project_id")
@click.argument("email")
@click.option("--role", type=_choice(Role), required=True)
@user_option
@json_option
@handles_errors
def member_add(project_id: str, email: str, role: str, user_email: str, as_json: bool) -> None:
    """Add EMAIL to PROJECT_ID with a role (the acting --user must be an owner)."""

    with _as_user(user_email) as uow:
        added = projects.add_member(
            uow,
            project_id=_uuid(project_id, "PROJECT_ID"),
            email=email,
            role=role,
        )
    _emit(added, as_json, lambda m: f"{m.email} is now {m.role} of {project_id}")


# ---------------------------------------------------------------- keys


@main.group()
def keys() -> None:
    """Signing keys."""


def _key_line(k: Any) -> str:
    extra = f"  expires {k.expires_at.isoformat()}" if k.expires_at else ""
    created = f"{k.created_at:%Y-%m-%d %H:%M}"
    return f"{k.id}  {k.status:<7}  {k.masked_secret:<12}  {created}  {k.name}{extra}"


@keys.command("generate")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.option("--name", required=True, help="A name for the key.")
@user_option
@json_option
@handles_errors
def keys_generate(project_id: str, name: str, user_email: str, as_json: bool) -> None:
    """Generate a key; its secret is printed once."""

    with _as_user(user_email) as uow:
        key = key_commands.generate_key(uow, project_id=_uuid(project_id, "--project"), name=name)
    _emit(key, as_json, lambda k: f"{k.id}\n{k.secret}\n(the secret is shown once; store it now)")


@keys.command("list")
@click.option("--project", "project_id", required=True)
@click.option("--status", type=_choice(KeyStatus))
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

    with _as_user(user_email) as uow:
        page = key_queries.list_keys(
            uow,
            project_id=_uuid(project_id, "--project"),
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

    _emit(page, as_json, human)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--reason", type=_choice(RevokeReason), required=True)
@click.option("--grace-seconds", default=0, show_default=True, type=int)
@user_option
@json_option
@handles_errors
def keys_revoke(
    key_id: str, reason: str, grace_seconds: int, user_email: str, as_json: bool
) -> None:
    """Revoke a key now, or after a grace period (at most 604800 s)."""

    with _as_user(user_email) as uow:
        key = key_commands.revoke_key(
            uow,
            key_id=_uuid(key_id, "KEY_ID"),
            reason=reason,
            grace_seconds=grace_seconds,
        )
    _emit(key, as_json, _key_line)


@keys.command("reactivate")
@click.argument("key_id")
@user_option
@json_option
@handles_errors
def keys_reactivate(key_id: str, user_email: str, as_json: bool) -> None:
    """Reactivate a revoked key (refused for compromised keys)."""

    with _as_user(user_email) as uow:
        key = key_commands.reactivate_key(uow, key_id=_uuid(key_id, "KEY_ID"))
    _emit(key, as_json, _key_line)


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

    with _as_user(user_email) as uow:
        key = key_commands.rotate_key(
            uow,
            key_id=_uuid(key_id, "KEY_ID"),
            grace_seconds=grace_seconds,
        )
    _emit(key, as_json, lambda k: f"{k.id}\n{k.secret}\n(the secret is shown once; store it now)")


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
    with _as_user(user_email) as uow:
        headers = signing.sign_payload(
            uow,
            project_id=_uuid(project_id, "--project"),
            payload=body,
            msg_id=msg_id,
            timestamp=timestamp,
        )
    _emit(headers, as_json, lambda h: "\n".join(f"{k}: {v}" for k, v in h.items()))


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
    with _as_user(user_email) as uow:
        key_id = signing.verify_payload(
            uow,
            project_id=_uuid(project_id, "--project"),
            payload=body,
            headers=headers,
        )
    _emit(
        {"valid": True, "key_id": str(key_id)},
        as_json,
        lambda d: f"valid: signed by key {d['key_id']}",
    )


# ---------------------------------------------------------------- API tokens


@main.group()
def token() -> None:
    """API tokens (Authorization: Bearer mk_...)."""


def _token_line(t: Any) -> str:
    state = (
        f"revoked {t.revoked_at:%Y-%m-%d}"
        if t.revoked_at
        else (f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used")
    )
    return f"{t.id}  {t.token_prefix}…  {t.created_at:%Y-%m-%d %H:%M}  {state:<24}  {t.name}"


@token.command("create")
@user_option
@click.option("--name", default="cli", show_default=True, help="A name to recognise the token by.")
@json_option
@handles_errors
def token_create(user_email: str, name: str, as_json: bool) -> None:
    """Create an API token for --user; it is printed once (only its hash is stored)."""

    with _as_user(user_email) as uow:
        created = auth.create_api_token(uow, name=name)
    _emit(created, as_json, lambda t: f"{t.token}\n(the token is shown once; store it now)")


@token.command("list")
@user_option
@json_option
@handles_errors
def token_list(user_email: str, as_json: bool) -> None:
    """The API tokens of --user (never the tokens themselves)."""

    with _as_user(user_email) as uow:
        items = auth.list_api_tokens(
            uow,
        )
    _emit(items, as_json, lambda ts: "\n".join(_token_line(t) for t in ts) or "no tokens")


@token.command("revoke")
@click.argument("token_id")
@user_option
@json_option
@handles_errors
def token_revoke(token_id: str, user_email: str, as_json: bool) -> None:
    """Revoke one of --user's API tokens by its id (from `meshkeys token list`)."""

    with _as_user(user_email) as uow:
        revoked = auth.revoke_api_token(uow, token_id=_uuid(token_id, "TOKEN_ID"))
    _emit(revoked, as_json, _token_line)


# ---------------------------------------------------------------- operations


@main.group("master-key")
def master_key() -> None:
    """The master key that encrypts secrets at rest."""


@master_key.command("rotate")
@handles_errors
def master_key_rotate() -> None:
    """Re-encrypt every secret under MESHKEYS_MASTER_KEY (old ones in MESHKEYS_MASTER_KEYS).

    Resumable.
    """
    from meshkeys.crypto.masterkey import get_keyring

    keyring = get_keyring()
    with UnitOfWork(system=True) as uow:
        todo = operations.secrets_to_reencrypt(uow, keyring=keyring)
        with click.progressbar(length=todo, label="re-encrypting", file=sys.stderr) as bar:
            done = operations.rotate_master_key(uow, keyring=keyring, progress=bar.update)
    click.echo(f"re-encrypted {done} secrets under master key {keyring.current_version}")


@main.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@handles_errors
def audit_verify() -> None:
    """Check every hash chain; exit 1 and print the first broken event."""
    with UnitOfWork(system=True) as uow:
        checked, broken = operations.verify_all_chains(uow)
    if broken:
        event = f" ({broken.event_id})" if broken.event_id else ""
        click.echo(
            f"BROKEN chain {broken.chain_id} at event #{broken.seq}{event}: {broken.problem}",
            err=True,
        )
        sys.exit(1)
    click.echo(f"ok: {checked} chains intact")


@main.command()
@click.option("--keys", "count", type=int, required=True, help="How many keys to create.")
@click.option("--project", "project_name", required=True, help="Project name (created if missing).")
@click.option("--owner", default="demo@meshkeys.local", show_default=True)
@json_option
@handles_errors
def seed(count: int, project_name: str, owner: str, as_json: bool) -> None:
    """Bulk demo data for benchmarks (one key in ten revoked)."""
    from meshkeys.crypto.masterkey import get_keyring

    with (
        UnitOfWork(system=True) as uow,
        click.progressbar(length=count, label="seeding keys", file=sys.stderr) as bar,
    ):
        seeded = operations.seed(
            uow,
            project_name=project_name,
            owner_email=owner,
            count=count,
            keyring=get_keyring(),
            progress=bar.update,
        )
    result = {"project_id": str(seeded.project_id), "keys": seeded.keys, "owner": seeded.owner}
    _emit(result, as_json, lambda d: d["project_id"])


if __name__ == "__main__":  # pragma: no cover
    main()
