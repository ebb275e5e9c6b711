"""Master-key rotation on the record: every batch audited with it; clean errors without the key;
events keyed before a rotation still verify while the old key is listed."""

from __future__ import annotations

import base64
import os

import pytest
from sqlmodel import select

from meshkeys.crypto import masterkey
from meshkeys.crypto.encryption import Keyring, key_version
from meshkeys.models import SignatureKey
from meshkeys.services import audit, key_commands, operations
from meshkeys.services.errors import InvalidInput
from tests.helpers import all_events, random_master_key, use_master_keys


def _keys(uow, world, n):
    return [
        key_commands.generate_key(uow(world.admin), project_id=world.project_id, name=f"k{i}")
        for i in range(n)
    ]


def _versions(session):
    return [Keyring.version_of(r) for r in session.exec(select(SignatureKey.key)).all()]


def test_a_killed_rotation_leaves_every_batch_it_committed_audited(
    uow, session, world, monkeypatch
):
    _keys(uow, world, 5)
    old, new = os.environ["MESHKEYS_MASTER_KEY"], random_master_key()
    use_master_keys(monkeypatch, new, old)
    ring = masterkey.get_keyring()
    seen = []

    def killed_after_two_batches(n):
        seen.append(n)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        operations.rotate_master_key(
            uow(system=True), keyring=ring, batch=2, progress=killed_after_two_batches
        )
    done = _versions(session).count(ring.current_version)
    batches = all_events(uow, action=audit.MASTER_KEY_ROTATED)
    assert done == 4 and [e.details["rows"] for e in batches] == [2, 2]
    assert all(e.details["version"] == ring.current_version for e in batches)
    assert batches[0].details["from_versions"] == [key_version(base64.b64decode(old))]
    assert operations.rotate_master_key(uow(system=True), keyring=ring, batch=2) == 1
    assert [e.details["rows"] for e in all_events(uow, action=audit.MASTER_KEY_ROTATED)] == [
        2,
        2,
        1,
    ]


def test_rotation_without_the_old_key_is_a_clean_error_and_changes_nothing(
    uow, session, world, monkeypatch
):
    _keys(uow, world, 3)
    before = _versions(session)
    use_master_keys(monkeypatch, random_master_key())  # the old key not in MESHKEYS_MASTER_KEYS
    with pytest.raises(InvalidInput, match="MESHKEYS_MASTER_KEYS") as info:
        operations.rotate_master_key(uow(system=True), keyring=masterkey.get_keyring())
    assert before[0] in str(info.value)
    assert _versions(session) == before
    assert all_events(uow, action=audit.MASTER_KEY_ROTATED) == []


def test_events_keyed_before_a_rotation_verify_while_the_old_key_is_listed(
    uow, session, world, monkeypatch
):
    _keys(uow, world, 2)
    old, new = os.environ["MESHKEYS_MASTER_KEY"], random_master_key()
    use_master_keys(monkeypatch, new, old)
    operations.rotate_master_key(uow(system=True), keyring=masterkey.get_keyring())
    _keys(uow, world, 1)
    versions = {e.key_version for e in all_events(uow, world.project_id)}
    assert len(versions) == 2
    verdict = operations.verify_all_chains(uow(system=True), keyring=masterkey.get_keyring())
    assert verdict.broken is None
    use_master_keys(monkeypatch, new)  # the old key dropped: its events cannot be checked
    broken = operations.verify_all_chains(uow(system=True), keyring=masterkey.get_keyring()).broken
    assert broken.seq == 1 and "not configured" in broken.problem
