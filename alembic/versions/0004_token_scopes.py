"""scoped API tokens: api_tokens.project_id, permissions, expires_at; RLS follows the scope

Revision ID: 0004_token_scopes
Revises: 0003_keyed_audit

Adds the scope of an API token (PRODUCT.md "API tokens"): ``project_id`` (NULL: all of the
user's projects), ``permissions`` (space-separated, e.g. ``keys:read webhooks:sign``) and
``expires_at`` (NULL: never). Existing tokens get NULL, every permission and no expiry: they
keep working exactly as before, still bounded by their user's role (CHANGELOG.md).

PostgreSQL: the transaction's project scope (``meshkeys.project_scope``, set by the unit of work
for a project-scoped token) narrows what the acting user's memberships reach: the policy
functions ``meshkeys_member_projects()`` and ``meshkeys_project_role()`` and the policy that
reads keys ignore every other project, so a scoped token cannot read another project's rows
even if a service forgot to check.
"""

from collections.abc import Sequence

import sqlalchemy as sa

import meshkeys.models
from alembic import op

revision: str = "0004_token_scopes"
down_revision: str | None = "0003_keyed_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALL = "keys:read keys:write webhooks:sign webhooks:verify audit:read members:write"

_SYSTEM = "current_setting('meshkeys.system', true) = 'on'"
_ACTOR = "NULLIF(current_setting('meshkeys.user_id', true), '')::uuid"
_SCOPE = "NULLIF(current_setting('meshkeys.project_scope', true), '')::uuid"
_IN_SCOPE = f"({_SCOPE} IS NULL OR project_id = {_SCOPE})"


def _functions(scoped: bool) -> dict[str, tuple[str | None, str]]:
    """0002's functions; ``scoped`` adds the token's project scope to their memberships."""
    extra = f" AND {_IN_SCOPE}" if scoped else ""
    return {
        "meshkeys_member_projects() RETURNS SETOF uuid": (
            None,
            f"SELECT project_id FROM memberships WHERE user_id = {_ACTOR}{extra}",
        ),
        "meshkeys_project_role(project uuid) RETURNS text": (
            "text",
            "SELECT role FROM memberships WHERE project_id = project "
            f"AND user_id = {_ACTOR}{extra}",
        ),
    }


def _function(signature: str, returns: str | None, query: str) -> str:
    """As 0002 writes them (system on for the one query), as CREATE OR REPLACE."""
    if returns is None:
        run, result, declare = f"RETURN QUERY {query};", "RETURN;", ""
    else:
        run, result = f"{query.replace(' FROM ', ' INTO found FROM ', 1)};", "RETURN found;"
        declare = f" found {returns};"
    return (
        f"CREATE OR REPLACE FUNCTION {signature} LANGUAGE plpgsql STABLE AS $$ "
        f"DECLARE saved text := current_setting('meshkeys.system', true);{declare} "
        "BEGIN PERFORM set_config('meshkeys.system', 'on', true); "
        f"{run} "
        "PERFORM set_config('meshkeys.system', coalesce(saved, ''), true); "
        f"{result} END $$"
    )


def _keys_read_policy(scoped: bool) -> str:
    members = f"SELECT m.project_id FROM memberships m WHERE m.user_id = {_ACTOR}"
    if scoped:
        members += f" AND {_IN_SCOPE.replace('project_id', 'm.project_id')}"
    return (
        "CREATE POLICY signature_keys_members_read ON signature_keys "
        f"FOR SELECT USING ({_SYSTEM} OR project_id IN ({members}))"
    )


def _rls(scoped: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature, (returns, query) in _functions(scoped).items():
        op.execute(_function(signature, returns, query))
    op.execute("DROP POLICY signature_keys_members_read ON signature_keys")
    op.execute(_keys_read_policy(scoped))


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("project_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "permissions",
                meshkeys.models.PermissionList(length=200),
                server_default=ALL,
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("expires_at", meshkeys.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_api_tokens_project_id", "projects", ["project_id"], ["id"], ondelete="CASCADE"
        )
    _rls(scoped=True)


def downgrade() -> None:
    _rls(scoped=False)
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_tokens_project_id", type_="foreignkey")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("permissions")
        batch_op.drop_column("project_id")
