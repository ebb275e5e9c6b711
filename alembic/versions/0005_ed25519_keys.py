"""ed25519 (Standard Webhooks v1a) keys and published public keys

Revision ID: 0005_ed25519_keys
Revises: 0004_token_scopes

- ``signature_keys.key_type`` (``hmac-sha256`` or ``ed25519``, CHECK): every existing row is
  an HMAC key, so the column is added with that server default.
- ``signature_keys.public_key``: the ``whpk_`` public key of an ed25519 key (not a secret:
  stored in the clear); NULL for HMAC keys. The ``whsk_`` seed is in ``key``, encrypted like an
  HMAC secret (AES-256-GCM bound to the row).
- ``projects.publish_public_keys`` (default false): GET /projects/{id}/public-keys answers
  without a token when an owner turns it on.

No policy changes: the unauthenticated read of published public keys runs in a system step
that selects only the public columns (docs/SECURITY.md lists every system step).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0005_ed25519_keys"
down_revision: str | None = "0004_token_scopes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signature_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "key_type",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="hmac-sha256",
            )
        )
        batch_op.add_column(
            sa.Column("public_key", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True)
        )
        batch_op.create_check_constraint(
            "ck_signature_keys_key_type", "key_type IN ('hmac-sha256', 'ed25519')"
        )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "publish_public_keys", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("publish_public_keys")
    with op.batch_alter_table("signature_keys", schema=None) as batch_op:
        batch_op.drop_constraint("ck_signature_keys_key_type", type_="check")
        batch_op.drop_column("public_key")
        batch_op.drop_column("key_type")
