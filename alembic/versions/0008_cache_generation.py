"""cache generation: the number that tells every worker its cached keys and tokens are stale

Revision ID: 0008_cache_generation
Revises: 0007_invites

One row, ``(id 1, generation)``. Every transaction that changes a key, a token, a membership,
a user, a project or a failed-attempt record increments it before it commits
(``meshkeys.services.cache``); the API reads it once per request, outside any transaction, and
uses a cached entry only if it was made under the same number. The runtime role may read and
update it, never insert or delete (``RUNTIME_GRANTS``). It holds no tenant's data: no
row-level security (docs/SECURITY.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008_cache_generation"
down_revision: str | None = "0007_invites"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "cache_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_cache_generation_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("cache_generation")
