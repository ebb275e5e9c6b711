"""invites: one-time links for someone without an account to join a project

Revision ID: 0007_invites
Revises: 0006_rotation_policies

The table keeps only the SHA-256 of the link's token (like API tokens and sessions). On
PostgreSQL, row-level security (ENABLE + FORCE) lets a transaction see an invite when:

- its user is an owner of the invite's project (listing, creating, replacing invites), or
- it presents the invite's token: ``meshkeys.invite_hash`` (a transaction-local setting that
  ``services.invites`` sets to the hash of the token in the link) equals the row's hash. One
  row, found by the hash of a secret only its holder has, without the system context.

The membership insert policy gains one case: a user may insert their own membership with the
role of an invite they have just accepted in the same transaction (``accepted_by`` = the user,
and the token presented). docs/SECURITY.md ("Invites") describes the whole accept step.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import meshkeys.models
from alembic import op

revision: str = "0007_invites"
down_revision: str | None = "0006_rotation_policies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SYSTEM = "current_setting('meshkeys.system', true) = 'on'"
_ACTOR = "NULLIF(current_setting('meshkeys.user_id', true), '')::uuid"
_PRESENTED = "token_hash = NULLIF(current_setting('meshkeys.invite_hash', true), '')"
_OWNER_OF = "meshkeys_project_role(project_id) = 'owner'"
_INVITE_POLICY = (
    f"USING ({_SYSTEM} OR {_OWNER_OF} OR {_PRESENTED}) "
    f"WITH CHECK ({_SYSTEM} OR {_OWNER_OF} OR {_PRESENTED})"
)
_MEMBERSHIP_INSERT_0002 = (
    f"FOR INSERT WITH CHECK ({_SYSTEM} OR meshkeys_project_role(project_id) = 'owner' "
    f"OR (user_id = {_ACTOR} AND role = 'owner' "
    "AND NOT meshkeys_project_has_members(project_id)))"
)
_MEMBERSHIP_INSERT = (
    f"FOR INSERT WITH CHECK ({_SYSTEM} OR meshkeys_project_role(project_id) = 'owner' "
    f"OR (user_id = {_ACTOR} AND role = 'owner' "
    "AND NOT meshkeys_project_has_members(project_id)) "
    f"OR (user_id = {_ACTOR} AND EXISTS (SELECT 1 FROM invites i "
    "WHERE i.project_id = memberships.project_id AND i.role = memberships.role "
    f"AND i.accepted_by = {_ACTOR} "
    "AND i.token_hash = NULLIF(current_setting('meshkeys.invite_hash', true), ''))))"
)


def upgrade() -> None:
    op.create_table(
        "invites",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("role", meshkeys.models.EnumText(meshkeys.models.Role), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", meshkeys.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", meshkeys.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", meshkeys.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", meshkeys.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["accepted_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.create_index("ix_invites_project", ["project_id", "created_at"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE invites ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE invites FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY invites_owners_or_holder ON invites {_INVITE_POLICY}")
    op.execute("DROP POLICY memberships_owners_insert ON memberships")
    op.execute(f"CREATE POLICY memberships_owners_insert ON memberships {_MEMBERSHIP_INSERT}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY memberships_owners_insert ON memberships")
        op.execute(
            f"CREATE POLICY memberships_owners_insert ON memberships {_MEMBERSHIP_INSERT_0002}"
        )
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_index("ix_invites_project")
    op.drop_table("invites")
