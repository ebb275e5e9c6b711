"""row-level security on every tenant table; policies that act only as the transaction's user

Revision ID: 0002_runtime_role_rls
Revises: 0001
Create Date: 2026-12-01 23:30:00

PostgreSQL only (SQLite has no row-level security). ENABLE + FORCE on projects, memberships,
api_tokens, user_sessions and audit_heads (signature_keys and audit_events have it since 0001),
and the policies of docs/SECURITY.md ("Database roles and row-level security"):

- a project, its keys, its memberships and its chain's head are visible to its members; its
  row and its keys are written by its admins and owners;
- a membership row may be written only by an owner of its project, or inserted by the creator
  of a project that has no member yet, as its first owner;
- API tokens and browser sessions only by the user they belong to;
- an audit event may be appended only under the transaction's own user id (or none when none
  acts), so acting as A cannot write `login.succeeded` for B, nor any event in B's name; and
  only about the project of its chain (none on the account chain).

Policies on memberships cannot query memberships (PostgreSQL refuses the recursion), so three
small functions answer "which projects / which role / any member yet" with ``meshkeys.system``
switched on for their one query only: the narrow system context of docs/SECURITY.md. They are
SECURITY INVOKER: they run as the runtime role, with its grants.

The grants to the runtime role are not part of a migration: ``meshkeys db upgrade`` applies
``meshkeys.migrations.RUNTIME_GRANTS`` after every upgrade, so a later table cannot be forgotten.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_runtime_role_rls"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SYSTEM = "current_setting('meshkeys.system', true) = 'on'"
_ACTOR = "NULLIF(current_setting('meshkeys.user_id', true), '')::uuid"
_NIL = "'00000000-0000-0000-0000-000000000000'::uuid"
_MINE = "(SELECT meshkeys_member_projects())"
_OWNER_OF = "meshkeys_project_role({column}) = 'owner'"
_ADMIN_OF = "meshkeys_project_role({column}) IN ('owner', 'admin')"
# 0001's sub-select of the acting user's projects, kept where the planner likes it (key lists).
_MEMBER_PROJECTS_0001 = f"SELECT m.project_id FROM memberships m WHERE m.user_id = {_ACTOR}"

# signature -> (the local it returns, its query). Each switches meshkeys.system on for its one
# query and restores it (a function's SET clause on a custom setting needs a superuser).
_FUNCTIONS = {
    "meshkeys_member_projects() RETURNS SETOF uuid": (
        None,
        f"SELECT project_id FROM memberships WHERE user_id = {_ACTOR}",
    ),
    "meshkeys_project_role(project uuid) RETURNS text": (
        "text",
        f"SELECT role FROM memberships WHERE project_id = project AND user_id = {_ACTOR}",
    ),
    "meshkeys_project_has_members(project uuid) RETURNS boolean": (
        "boolean",
        "SELECT EXISTS (SELECT 1 FROM memberships WHERE project_id = project)",
    ),
}


def _function(signature: str, returns: str | None, query: str) -> str:
    if returns is None:  # a set: RETURN QUERY
        run, result, declare = f"RETURN QUERY {query};", "RETURN;", ""
    else:
        run, result = f"{query.replace(' FROM ', ' INTO found FROM ', 1)};", "RETURN found;"
        declare = f" found {returns};"
    return (
        f"CREATE FUNCTION {signature} LANGUAGE plpgsql STABLE AS $$ "
        f"DECLARE saved text := current_setting('meshkeys.system', true);{declare} "
        "BEGIN PERFORM set_config('meshkeys.system', 'on', true); "
        f"{run} "
        "PERFORM set_config('meshkeys.system', coalesce(saved, ''), true); "
        f"{result} END $$"
    )


_TABLES = ("projects", "memberships", "api_tokens", "user_sessions", "audit_heads")

_POLICIES = {
    "projects": {
        "projects_members_read": f"FOR SELECT USING ({_SYSTEM} OR id IN {_MINE})",
        "projects_create": f"FOR INSERT WITH CHECK ({_SYSTEM} OR {_ACTOR} IS NOT NULL)",
        # Admins and owners: generate, revoke and reactivate keep the key counters.
        "projects_admins_update": (
            f"FOR UPDATE USING ({_SYSTEM} OR {_ADMIN_OF.format(column='id')}) "
            f"WITH CHECK ({_SYSTEM} OR {_ADMIN_OF.format(column='id')})"
        ),
        "projects_owners_delete": (
            f"FOR DELETE USING ({_SYSTEM} OR {_OWNER_OF.format(column='id')})"
        ),
    },
    "memberships": {
        # CASE, not OR: inside the functions (system on) the policy must not call them again.
        "memberships_members_read": (
            f"FOR SELECT USING (CASE WHEN {_SYSTEM} THEN true "
            f"ELSE user_id = {_ACTOR} OR project_id IN {_MINE} END)"
        ),
        "memberships_owners_insert": (
            f"FOR INSERT WITH CHECK ({_SYSTEM} OR {_OWNER_OF.format(column='project_id')} "
            f"OR (user_id = {_ACTOR} AND role = 'owner' "
            "AND NOT meshkeys_project_has_members(project_id)))"
        ),
        "memberships_owners_update": (
            f"FOR UPDATE USING ({_SYSTEM} OR {_OWNER_OF.format(column='project_id')}) "
            f"WITH CHECK ({_SYSTEM} OR {_OWNER_OF.format(column='project_id')})"
        ),
        "memberships_owners_delete": (
            f"FOR DELETE USING ({_SYSTEM} OR {_OWNER_OF.format(column='project_id')})"
        ),
    },
    "signature_keys": {
        "signature_keys_members_read": (
            f"FOR SELECT USING ({_SYSTEM} OR project_id IN ({_MEMBER_PROJECTS_0001}))"
        ),
        "signature_keys_admins_insert": (
            f"FOR INSERT WITH CHECK ({_SYSTEM} OR {_ADMIN_OF.format(column='project_id')})"
        ),
        "signature_keys_admins_update": (
            f"FOR UPDATE USING ({_SYSTEM} OR {_ADMIN_OF.format(column='project_id')}) "
            f"WITH CHECK ({_SYSTEM} OR {_ADMIN_OF.format(column='project_id')})"
        ),
        "signature_keys_admins_delete": (
            f"FOR DELETE USING ({_SYSTEM} OR {_ADMIN_OF.format(column='project_id')})"
        ),
    },
    "api_tokens": {
        "api_tokens_own": (
            f"USING ({_SYSTEM} OR user_id = {_ACTOR}) WITH CHECK ({_SYSTEM} OR user_id = {_ACTOR})"
        ),
    },
    "user_sessions": {
        "user_sessions_own": (
            f"USING ({_SYSTEM} OR user_id = {_ACTOR}) WITH CHECK ({_SYSTEM} OR user_id = {_ACTOR})"
        ),
    },
    "audit_heads": {
        "audit_heads_members": (
            f"USING ({_SYSTEM} OR chain_id = {_NIL} OR chain_id IN {_MINE}) "
            f"WITH CHECK ({_SYSTEM} OR chain_id = {_NIL} OR chain_id IN {_MINE})"
        ),
    },
    "audit_events": {
        "audit_events_read": (
            f"FOR SELECT USING ({_SYSTEM} OR chain_id IN {_MINE} "
            f"OR (chain_id = {_NIL} AND actor_id = {_ACTOR}))"
        ),
        "audit_events_append": (
            f"FOR INSERT WITH CHECK ({_SYSTEM} OR (actor_id IS NOT DISTINCT FROM {_ACTOR} "
            f"AND project_id IS NOT DISTINCT FROM NULLIF(chain_id, {_NIL}) "
            f"AND (chain_id = {_NIL} OR chain_id IN {_MINE})))"
        ),
    },
}

# 0001's policies, restored by downgrade.
_SIGNATURE_KEYS_0001 = (
    "CREATE POLICY signature_keys_members ON signature_keys "
    f"USING ({_SYSTEM} OR project_id IN ({_MEMBER_PROJECTS_0001})) "
    f"WITH CHECK ({_SYSTEM} OR project_id IN ({_MEMBER_PROJECTS_0001}))"
)
_AUDIT_EVENTS_0001 = (
    "CREATE POLICY audit_events_members ON audit_events "
    f"USING ({_SYSTEM} OR chain_id IN ({_MEMBER_PROJECTS_0001}) "
    f"OR (chain_id = {_NIL} AND actor_id = {_ACTOR})) "
    f"WITH CHECK ({_SYSTEM} OR chain_id = {_NIL} OR chain_id IN ({_MEMBER_PROJECTS_0001}))"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature, (returns, query) in _FUNCTIONS.items():
        op.execute(_function(signature, returns, query))
    # ANALYZE needs the table's owner; `meshkeys seed` refreshes the statistics after a bulk load.
    op.execute(
        "CREATE FUNCTION meshkeys_analyze_signature_keys() RETURNS void LANGUAGE plpgsql "
        "SECURITY DEFINER SET search_path = pg_catalog, public AS $$ "
        "BEGIN ANALYZE public.signature_keys; END $$"
    )
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute("DROP POLICY audit_events_members ON audit_events")
    op.execute("DROP POLICY signature_keys_members ON signature_keys")
    for table, policies in _POLICIES.items():
        for name, body in policies.items():
            op.execute(f"CREATE POLICY {name} ON {table} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, policies in _POLICIES.items():
        for name in policies:
            op.execute(f"DROP POLICY {name} ON {table}")
    op.execute(_AUDIT_EVENTS_0001)
    op.execute(_SIGNATURE_KEYS_0001)
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION meshkeys_analyze_signature_keys()")
    for signature in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature.split(' RETURNS ')[0]}")
