"""what the runtime role needs the owner for

Revision ID: 0002_runtime_role_rls
Revises: 0001
Create Date: 2026-12-01 23:30:00

PostgreSQL only. The app connects as a runtime role that owns nothing (docs/SECURITY.md); the
grants it holds are not part of a migration: ``meshkeys db upgrade`` applies
``meshkeys.migrations.RUNTIME_GRANTS`` after every upgrade, so a later table cannot be forgotten.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_runtime_role_rls"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # ANALYZE needs the table's owner; `meshkeys seed` refreshes the statistics after a bulk load.
    op.execute(
        "CREATE FUNCTION meshkeys_analyze_signature_keys() RETURNS void LANGUAGE plpgsql "
        "SECURITY DEFINER SET search_path = pg_catalog, public AS $$ "
        "BEGIN ANALYZE public.signature_keys; END $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION meshkeys_analyze_signature_keys()")
