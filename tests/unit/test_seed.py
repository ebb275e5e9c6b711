"""`meshkeys seed`: real encrypted keys in bulk, counted, with one summary audit event."""

from __future__ import annotations

import base64
import json
import uuid

from sqlmodel import select

from meshkeys.crypto.masterkey import get_keyring
from meshkeys.models import KeyStatus, Project, SignatureKey
from meshkeys.services import audit, operations
from meshkeys.services.keys import decrypt_secret
from meshkeys.services.uow import UnitOfWork
from tests.helpers import all_events


def test_seeded_rows_hold_real_secrets_that_decrypt_only_in_their_row(cli):
    out = json.loads(
        cli(
            "seed", "--keys", "1234", "--project", "Bench", "--owner", "b@example.com", "--json"
        ).stdout
    )
    project_id = uuid.UUID(out["project_id"])
    with UnitOfWork(system=True) as uow:
        rows = uow.session.exec(
            select(SignatureKey).where(SignatureKey.project_id == project_id)
        ).all()
        project = uow.session.get(Project, project_id)
        assert project is not None
        assert (project.key_count, project.revoked_count) == (1234, 123)
        secrets = [decrypt_secret(r) for r in rows]
        assert len(rows) == 1234 and len(set(secrets)) == 1234
        assert len({r.key for r in rows}) == 1234  # one nonce per row
        for row, secret in zip(rows, secrets, strict=True):
            assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
            assert row.key.startswith(f"mk1.{get_keyring().current_version}.")
            assert secret not in row.key and row.key_hint == secret[-4:]
            assert row.id.version == 4 and row.created_at.tzinfo is not None
        assert sum(r.status == KeyStatus.REVOKED for r in rows) == 123
        # A ciphertext moved to another row does not decrypt (the row is in the associated data).
        rows[0].key = rows[1].key
        try:
            decrypt_secret(rows[0])
        except Exception as exc:
            assert "decrypt" in str(exc)
        else:
            raise AssertionError("a ciphertext decrypted in another row")
        uow.rollback()


def test_one_seed_run_writes_one_summary_event_and_the_chain_verifies(cli):
    out = json.loads(
        cli(
            "seed", "--keys", "30", "--project", "Bench", "--owner", "b@example.com", "--json"
        ).stdout
    )
    seeded = all_events(UnitOfWork, uuid.UUID(out["project_id"]), action=audit.KEYS_SEEDED)
    assert len(seeded) == 1
    assert seeded[0].details == {"count": 30, "revoked": 3, "revoked_every": 10}
    assert seeded[0].actor_email == "b@example.com"
    cli("seed", "--keys", "5", "--project", "Bench", "--owner", "b@example.com")
    assert len(all_events(UnitOfWork, action=audit.KEYS_SEEDED)) == 2
    with UnitOfWork(system=True) as uow:
        verdict = operations.verify_all_chains(uow, keyring=get_keyring())
    assert verdict.broken is None
    assert "ok:" in cli("audit", "verify").stdout


def test_worker_processes_prepare_the_same_rows(world):
    """The pool path (worker processes encrypt and format, this one writes) on small batches."""
    with UnitOfWork(system=True) as uow:
        revoked = operations.seed_keys(
            uow,
            project_id=world.project_id,
            count=950,
            created_by=world.owner.user_id,
            keyring=get_keyring(),
            batch=100,
            workers=2,
        )
    assert revoked == 95
    with UnitOfWork(system=True) as uow:
        rows = uow.session.exec(
            select(SignatureKey).where(SignatureKey.name.startswith("seed-"))  # type: ignore[attr-defined]
        ).all()
        assert len(rows) == 950 and len({decrypt_secret(r) for r in rows}) == 950
        assert sorted(r.name for r in rows) == [f"seed-{i:07d}" for i in range(950)]
        project = uow.session.get(Project, world.project_id)
        assert project is not None and project.key_count == 950
        uow.rollback()


def test_sqlite_seeds_with_a_large_page_cache_and_gives_the_connection_back_as_it_was(world):
    """The seed's page cache (operations.SEED_CACHE_KIB) is for the seed only: the pooled
    connection it ran on answers with SQLite's default once the seed has committed."""
    seen: list[int] = []
    with UnitOfWork(system=True) as uow:
        driver = uow.session.connection().connection.driver_connection
        operations.seed_keys(
            uow,
            project_id=world.project_id,
            count=30,
            created_by=world.owner.user_id,
            keyring=get_keyring(),
            batch=10,
            workers=0,
            progress=lambda n: seen.append(driver.execute("PRAGMA cache_size").fetchone()[0]),
        )
    assert seen == [-operations.SEED_CACHE_KIB] * 3
    assert driver.execute("PRAGMA cache_size").fetchone()[0] == -operations.SQLITE_DEFAULT_CACHE_KIB
