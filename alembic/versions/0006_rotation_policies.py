"""rotation policies: projects.rotate_every_days and projects.rotation_grace_seconds

Revision ID: 0006_rotation_policies
Revises: 0005_ed25519_keys

A project's optional rotation policy ("rotate every N days with a grace of G seconds"),
read by the app's scheduler (``meshkeys.services.rotation_policy``). ``rotate_every_days`` is
NULL when there is no policy. No new index: the scheduler's query per project,
``WHERE project_id = ? AND status = 'active' AND created_at <= ? ORDER BY created_at``, is served
by ``ix_signature_keys_project_status (project_id, status, created_at, id)``.

On SQLite the columns are added with plain ``ALTER TABLE ... ADD COLUMN`` (their CHECKs on the
column), not a batch copy: recreating ``projects`` with foreign keys on would cascade-delete
every membership and key.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006_rotation_policies"
down_revision: str | None = "0005_ed25519_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DAYS_CHECK = "rotate_every_days IS NULL OR rotate_every_days BETWEEN 1 AND 365"
_GRACE_CHECK = "rotation_grace_seconds BETWEEN 0 AND 604800"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("projects", sa.Column("rotate_every_days", sa.Integer(), nullable=True))
        op.add_column(
            "projects",
            sa.Column(
                "rotation_grace_seconds", sa.Integer(), nullable=False, server_default="86400"
            ),
        )
        op.alter_column("projects", "rotation_grace_seconds", server_default=None)
        op.create_check_constraint("ck_projects_rotate_every_days", "projects", _DAYS_CHECK)
        op.create_check_constraint("ck_projects_rotation_grace", "projects", _GRACE_CHECK)
        return
    op.execute(
        "ALTER TABLE projects ADD COLUMN rotate_every_days INTEGER "
        f"CONSTRAINT ck_projects_rotate_every_days CHECK ({_DAYS_CHECK})"
    )
    op.execute(
        "ALTER TABLE projects ADD COLUMN rotation_grace_seconds INTEGER NOT NULL DEFAULT 86400 "
        f"CONSTRAINT ck_projects_rotation_grace CHECK ({_GRACE_CHECK})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_projects_rotation_grace", "projects", type_="check")
        op.drop_constraint("ck_projects_rotate_every_days", "projects", type_="check")
        op.drop_column("projects", "rotation_grace_seconds")
        op.drop_column("projects", "rotate_every_days")
        return
    op.execute("ALTER TABLE projects DROP COLUMN rotation_grace_seconds")
    op.execute("ALTER TABLE projects DROP COLUMN rotate_every_days")
