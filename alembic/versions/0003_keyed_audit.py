"""keyed audit chain: HMAC under the audit key, key_version, CHECK (seq >= 1)

Revision ID: 0003_keyed_audit
Revises: 0001

Adds ``audit_events.key_version`` and ``CHECK (seq >= 1)``, then re-chains every existing
event: each hash becomes the HMAC-SHA256 of the same content under the audit key derived from
the current master key (``meshkeys.crypto.audit_keys``), and each head follows. The re-chaining
is recorded as one ``audit.rechained`` event on the account chain, whose details say how many
chains and events were re-keyed and which chains did not verify under the old unkeyed hashes
before (those were already untrustworthy; re-keying does not vouch for them).

A database without events (a fresh one, CI) needs no master key. One with events needs the
master key the app uses: ``MESHKEYS_MASTER_KEY`` (or, in development, ``.meshkeys/master.key``);
without it the migration stops and says so.
"""

import hashlib
import uuid
from collections.abc import Callable, Sequence
from types import SimpleNamespace

import sqlalchemy as sa
import sqlmodel
from sqlmodel import Session

from alembic import op
from meshkeys.crypto.encryption import Keyring

revision: str = "0003_keyed_audit"
down_revision: str | None = "0002_runtime_role_rls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
_EVENTS = sa.table(
    "audit_events",
    sa.column("id", sa.Uuid()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
    sa.column("key_version", sa.String()),
)


def _dialect() -> str:
    return op.get_bind().dialect.name


def _sqlite_triggers(create: bool) -> None:
    for verb in ("UPDATE", "DELETE"):
        if create:
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
        else:
            op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{verb.lower()}")


def _append_only(on: bool) -> None:
    """Lift (and restore) what keeps the log append-only, for the re-chain: the trigger, and on
    PostgreSQL FORCE ROW LEVEL SECURITY on the log's tables (no policy lets anyone UPDATE an
    event, the owner included while FORCE is on; revision 0002)."""
    if _dialect() == "postgresql":
        verb = "ENABLE" if on else "DISABLE"
        op.execute(f"ALTER TABLE audit_events {verb} TRIGGER audit_events_append_only")
        force = "FORCE" if on else "NO FORCE"
        for table in ("audit_events", "audit_heads"):
            op.execute(f"ALTER TABLE {table} {force} ROW LEVEL SECURITY")
    else:
        _sqlite_triggers(create=on)


def _system(on: bool) -> None:
    # audit_events has FORCE ROW LEVEL SECURITY: the owner sees every chain only as the system.
    if _dialect() == "postgresql":
        op.execute(f"SELECT set_config('meshkeys.system', '{'on' if on else 'off'}', true)")


def _keyring() -> Keyring:
    from meshkeys.config import ConfigError, get_settings
    from meshkeys.crypto.masterkey import get_keyring

    settings = get_settings()
    missing = (
        "migration 0003_keyed_audit re-chains the existing audit events under the audit key "
        "derived from the master key, and has no master key: set MESHKEYS_MASTER_KEY (base64 of "
        "32 bytes, the key the app runs with) and run `meshkeys db upgrade` again. "
        "A database without audit events needs none."
    )
    if not settings.master_key and not settings.master_key_file.exists():
        raise ConfigError(missing + f" ({settings.master_key_file} does not exist either)")
    try:
        return get_keyring()
    except ConfigError as exc:
        raise ConfigError(f"{missing} ({exc})") from None


def _rechain(hasher: Callable[[bytes, str], str], version: str) -> tuple[int, int, list[str]]:
    """Recompute every chain with ``hasher(content, version)``; return chains, events and the
    chains whose old hashes did not verify under plain SHA-256."""
    from meshkeys.models import AuditEvent
    from meshkeys.services.audit import canonical

    bind = op.get_bind()
    query = sa.select(AuditEvent).order_by(AuditEvent.chain_id, AuditEvent.seq)  # type: ignore[arg-type]
    rows = bind.execute(query).all()
    chains = events = 0
    unverified: list[str] = []
    chain: uuid.UUID | None = None
    old_prev = new_prev = GENESIS
    expected = 1
    updates: list[dict[str, str]] = []

    def close(chain_id: uuid.UUID | None) -> None:
        if chain_id is not None:
            op.execute(
                sa.text("UPDATE audit_heads SET head_hash = :h WHERE chain_id = :c").bindparams(
                    sa.bindparam("c", chain_id, type_=sa.Uuid()), h=new_prev
                )
            )

    for row in rows:
        if row.chain_id != chain:
            close(chain)
            chain, old_prev, new_prev, expected, chains = (
                row.chain_id,
                GENESIS,
                GENESIS,
                1,
                chains + 1,
            )
        event = SimpleNamespace(**row._mapping)
        intact = (
            row.seq == expected
            and row.prev_hash == old_prev
            and hashlib.sha256(canonical(event)).hexdigest() == row.hash
        )
        if not intact and (not unverified or unverified[-1] != str(chain)):
            unverified.append(str(chain))
        old_prev, expected = row.hash, expected + 1
        event.prev_hash = new_prev
        new_prev = hasher(canonical(event), version)
        updates.append({"b_id": row.id, "b_prev": event.prev_hash, "b_hash": new_prev})
        events += 1
    close(chain)
    for start in range(0, len(updates), 1000):
        bind.execute(
            _EVENTS.update()
            .where(_EVENTS.c.id == sa.bindparam("b_id"))
            .values(
                prev_hash=sa.bindparam("b_prev"),
                hash=sa.bindparam("b_hash"),
                key_version=version,
            ),
            updates[start : start + 1000],
        )
    return chains, events, unverified


def upgrade() -> None:
    if _dialect() != "postgresql":
        _sqlite_triggers(create=False)  # the batch copy below would drop them anyway
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "key_version",
                sqlmodel.sql.sqltypes.AutoString(length=8),
                nullable=False,
                server_default="",
            )
        )
        batch_op.create_check_constraint("ck_audit_events_seq", "seq >= 1")
    _system(on=True)
    if op.get_bind().execute(sa.text("SELECT count(*) FROM audit_events")).scalar():
        from meshkeys.crypto import audit_keys
        from meshkeys.services import audit
        from meshkeys.services.uow import UnitOfWork

        keyring = _keyring()
        if _dialect() == "postgresql":
            _append_only(on=False)
        chains, events, unverified = _rechain(
            lambda content, version: audit_keys.chain_mac(keyring, version, content),
            keyring.current_version,
        )
        if _dialect() == "postgresql":
            _append_only(on=True)
        # A session on the migration's own connection and transaction: never committed nor
        # closed here (that would end the migration's transaction); alembic commits it.
        uow = UnitOfWork(system=True, session=Session(bind=op.get_bind()))
        audit.record(
            uow,
            action=audit.AUDIT_RECHAINED,
            actor_email="system",
            details={
                "chains": chains,
                "events": events,
                "version": keyring.current_version,
                "unverified_chains": unverified,
                "migration": revision,
            },
        )
    if _dialect() != "postgresql":
        _sqlite_triggers(create=True)
    _system(on=False)


def downgrade() -> None:
    """Back to unkeyed SHA-256 hashes (what revision 0001's code verifies)."""
    _system(on=True)
    _append_only(on=False)
    _rechain(lambda content, _version: hashlib.sha256(content).hexdigest(), "")
    if _dialect() == "postgresql":
        _append_only(on=True)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("ck_audit_events_seq", type_="check")
        batch_op.drop_column("key_version")
    if _dialect() != "postgresql":
        _sqlite_triggers(create=True)
    _system(on=False)
