"""`meshkeys db|user|project|member|token`: the schema, users, projects, members, API tokens."""

from __future__ import annotations

import sys
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
from meshkeys.models import Permission, Role
from meshkeys.services import auth, errors, invites, projects, public_keys, rotation_policy
from meshkeys.services.uow import UnitOfWork

# ---------------------------------------------------------------- db


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@handles_errors
def db_upgrade(revision: str) -> None:
    """Apply migrations as the owner (MESHKEYS_MIGRATION_DATABASE_URL, else
    MESHKEYS_DATABASE_URL); on PostgreSQL, grant MESHKEYS_RUNTIME_ROLE what the app needs."""
    from meshkeys import migrations
    from meshkeys.config import get_settings

    settings = get_settings()
    migrations.upgrade(revision=revision)
    click.echo(f"database at {_redact(settings.migration_database_url)} is at {revision}")
    problem = migrations.app_role_problem(settings.database_url, settings.runtime_role)
    if problem:
        click.echo(f"warning: {problem}", err=True)


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
    emit(created, as_json, lambda u: f"created user {u.email} ({u.id})")


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

    with as_user(owner) as uow:
        created = projects.create_project(uow, name=name)
    emit(created, as_json, lambda p: str(p.id))


@project.command("list")
@user_option
@json_option
@handles_errors
def project_list(user_email: str, as_json: bool) -> None:
    """Projects the user is a member of."""

    with as_user(user_email) as uow:
        items = projects.list_projects(
            uow,
        )
    emit(items, as_json, lambda ps: "\n".join(f"{p.id}  {p.role:<6}  {p.name}" for p in ps))


def _public_keys_text(found: Any) -> str:
    state = "published (no token needed)" if found.published else "not published"
    lines = [f"public keys of {found.project_id}: {state}"]
    for k in found.keys:
        until = f"  expires {k.expires_at.isoformat()}" if k.expires_at else ""
        lines.append(f"{k.key_id}  {k.public_key}  {k.name}{until}")
    return "\n".join(lines)


@project.command("public-keys")
@click.argument("project_id")
@click.option(
    "--publish/--unpublish",
    "publish",
    default=None,
    help="Let anyone read GET /projects/PROJECT_ID/public-keys without a token, or stop it "
    "(owners only; audited). Without either, print the set.",
)
@user_option
@json_option
@handles_errors
def project_public_keys(
    project_id: str, publish: bool | None, user_email: str, as_json: bool
) -> None:
    """The project's ed25519 public keys (whpk_...), and whether they are published."""

    pid = parse_uuid(project_id, "PROJECT_ID")
    with as_user(user_email) as uow:
        if publish is None:
            found = public_keys.public_key_set(uow, project_id=pid)
        else:
            found = public_keys.set_publish_public_keys(uow, project_id=pid, publish=publish)
    emit(found, as_json, _public_keys_text)


@project.command("policy")
@click.argument("project_id")
@click.option(
    "--rotate-every",
    "rotate_every",
    type=int,
    default=None,
    metavar="DAYS",
    help="Rotate each active key this many days (1-365) after its creation.",
)
@click.option(
    "--grace-seconds",
    type=int,
    default=None,
    help="How long a rotated key keeps signing (0-604800; default 86400).",
)
@click.option("--off", is_flag=True, help="Turn the rotation policy off.")
@user_option
@json_option
@handles_errors
def project_policy(
    project_id: str,
    rotate_every: int | None,
    grace_seconds: int | None,
    off: bool,
    user_email: str,
    as_json: bool,
) -> None:
    """Show, set (--rotate-every DAYS [--grace-seconds S]) or clear (--off) the project's
    rotation policy. Setting and clearing need the admin or owner role."""

    pid = parse_uuid(project_id, "PROJECT_ID")
    if off and (rotate_every is not None or grace_seconds is not None):
        raise errors.InvalidInput("--off turns the policy off; give it alone")
    if rotate_every is None and grace_seconds is not None:
        raise errors.InvalidInput("--grace-seconds needs --rotate-every DAYS")
    with as_user(user_email) as uow:
        if off:
            policy = rotation_policy.clear_policy(uow, project_id=pid)
        elif rotate_every is not None:
            policy = rotation_policy.set_policy(
                uow,
                project_id=pid,
                rotate_every_days=rotate_every,
                grace_seconds=(
                    rotation_policy.DEFAULT_GRACE_SECONDS
                    if grace_seconds is None
                    else grace_seconds
                ),
            )
        else:
            policy = rotation_policy.get_policy(uow, project_id=pid)
    emit(policy, as_json, _describe_policy)


def _describe_policy(policy: Any) -> str:
    if policy.rotate_every_days is None:
        return "rotation policy: off"
    return (
        f"rotation policy: rotate every {policy.rotate_every_days} days, "
        f"grace {policy.grace_seconds} s"
    )


@main.group()
def member() -> None:
    """Project members."""


@member.command("add")
@click.argument("project_id")
@click.argument("email")
@click.option("--role", type=choice_of(Role), required=True)
@user_option
@json_option
@handles_errors
def member_add(project_id: str, email: str, role: str, user_email: str, as_json: bool) -> None:
    """Add EMAIL to PROJECT_ID with a role (the acting --user must be an owner)."""

    with as_user(user_email) as uow:
        added = projects.add_member(
            uow,
            project_id=parse_uuid(project_id, "PROJECT_ID"),
            email=email,
            role=role,
        )
    emit(added, as_json, lambda m: f"{m.email} is now {m.role} of {project_id}")


@member.command("invite")
@click.argument("project_id")
@click.argument("email")
@click.option("--role", type=choice_of(Role), required=True)
@click.option(
    "--base-url",
    default="http://localhost:3000",
    show_default=True,
    help="Where the app is served: the link starts with it.",
)
@user_option
@json_option
@handles_errors
def member_invite(
    project_id: str, email: str, role: str, base_url: str, user_email: str, as_json: bool
) -> None:
    """Print a one-time invite link for EMAIL (who has no account yet) to join PROJECT_ID with a
    role: it works once, for 7 days (the acting --user must be an owner)."""

    with as_user(user_email) as uow:
        created = invites.create_invite(
            uow, project_id=parse_uuid(project_id, "PROJECT_ID"), email=email, role=role
        )
    link = f"{base_url.rstrip('/')}/invite/{created.token}"
    emit(
        {**created.model_dump(mode="json", exclude={"token"}), "link": link},
        as_json,
        lambda _: link,
    )


# ---------------------------------------------------------------- API tokens


@main.group()
def token() -> None:
    """API tokens (Authorization: Bearer mk_...)."""


def _scope(t: Any) -> str:
    """A token's scope in one column: where, what, until when."""
    where = f"project {t.project_id}" if t.project_id else "all projects"
    perms = ",".join(str(p) for p in t.permissions) or "-"
    until = f"expires {t.expires_at:%Y-%m-%d}" if t.expires_at else "no expiry"
    return f"{where}  {perms}  {until}"


def _token_line(t: Any) -> str:
    state = (
        f"revoked {t.revoked_at:%Y-%m-%d}"
        if t.revoked_at
        else (f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used")
    )
    return (
        f"{t.id}  {t.token_prefix}…  {t.created_at:%Y-%m-%d %H:%M}  {state:<24}  {t.name}  "
        f"[{_scope(t)}]"
    )


@token.command("create")
@user_option
@click.option("--name", default="cli", show_default=True, help="A name to recognise the token by.")
@click.option(
    "--project",
    "project_id",
    default=None,
    help="Scope the token to this project (an id). Default: all of the user's projects.",
)
@click.option(
    "--permission",
    "permissions",
    multiple=True,
    type=choice_of(Permission),
    help="A permission the token has (repeat the option). Default: every permission the "
    "user's role allows (with --project: in that project).",
)
@click.option(
    "--expires-in",
    "expires_in",
    type=click.IntRange(1, auth.MAX_TOKEN_DAYS),
    default=None,
    metavar="DAYS",
    help=f"Expire the token after DAYS days (1 to {auth.MAX_TOKEN_DAYS}). Default: never.",
)
@json_option
@handles_errors
def token_create(
    user_email: str,
    name: str,
    project_id: str | None,
    permissions: tuple[str, ...],
    expires_in: int | None,
    as_json: bool,
) -> None:
    """Create an API token for --user, scoped by --project, --permission and --expires-in;
    it is printed once (only its hash is stored)."""

    project = parse_uuid(project_id, "--project") if project_id is not None else None
    with as_user(user_email) as uow:
        created = auth.create_api_token(
            uow,
            name=name,
            project_id=project,
            permissions=list(permissions) or None,
            expires_in_days=expires_in,
        )
    emit(
        created,
        as_json,
        lambda t: f"{t.token}\n(the token is shown once; store it now)\nscope: {_scope(t)}",
    )


@token.command("list")
@user_option
@json_option
@handles_errors
def token_list(user_email: str, as_json: bool) -> None:
    """The API tokens of --user (never the tokens themselves)."""

    with as_user(user_email) as uow:
        items = auth.list_api_tokens(
            uow,
        )
    emit(items, as_json, lambda ts: "\n".join(_token_line(t) for t in ts) or "no tokens")


@token.command("revoke")
@click.argument("token_id")
@user_option
@json_option
@handles_errors
def token_revoke(token_id: str, user_email: str, as_json: bool) -> None:
    """Revoke one of --user's API tokens by its id (from `meshkeys token list`)."""

    with as_user(user_email) as uow:
        revoked = auth.revoke_api_token(uow, token_id=parse_uuid(token_id, "TOKEN_ID"))
    emit(revoked, as_json, _token_line)
